"""Plots write real image files; bad series are refused; matplotlib stays optional."""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import pytest

from cvxnn.exceptions import InvalidInputError
from cvxnn.plotting import (
    MissingDependencyError,
    history_arrays,
    plot_convergence,
    plot_objective_vs_patterns,
    plot_robust_accuracy,
)

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG


@pytest.fixture(autouse=True)
def _needs_matplotlib(request):
    if request.node.name != "test_missing_matplotlib_is_a_clear_error":
        pytest.importorskip("matplotlib")


def _history(k: int = 60) -> dict[str, np.ndarray]:
    it = np.arange(1, k + 1)
    return {
        "iteration": it * 10,
        "objective": 3.0 + np.exp(-it / 8),
        "primal_residual": np.exp(-it / 5),
        "dual_residual": np.exp(-it / 7),
        "eps_primal": np.full(k, 1e-4),
        "time": it * 0.01,
    }


def test_convergence_from_a_dict(tmp_path):
    fig = plot_convergence(_history(), tmp_path / "c.png", optimum=3.0, title="t")
    assert _is_png(tmp_path / "c.png")
    assert len(fig.axes) == 2  # against iterations and against time
    ax = fig.axes[0]
    gap = next(line for line in ax.get_lines() if line.get_label() == "relative objective gap")
    assert np.allclose(gap.get_ydata(), np.exp(-np.arange(1, 61) / 8) / 3.0)
    assert np.array_equal(gap.get_xdata(), np.arange(1, 61) * 10)
    labels = {line.get_label() for line in ax.get_lines()}
    assert {"primal residual", "dual residual", "primal residual tolerance"} <= labels


def test_convergence_without_time_or_iteration(tmp_path):
    h = {"obj": [5.0, 4.0, 3.5, 3.4], "r_prim": [1.0, 0.1, 0.01, 0.001]}
    arrays = history_arrays(h)
    assert np.array_equal(arrays["iteration"], [1, 2, 3, 4])
    fig = plot_convergence(h, tmp_path / "c.svg")
    assert len(fig.axes) == 1 and (tmp_path / "c.svg").read_text().lstrip().startswith("<?xml")
    gap = fig.axes[0].get_lines()[0].get_ydata()
    assert np.isnan(gap[-1]) and gap[0] == pytest.approx((5.0 - 3.4) / 3.4)  # reference: last value


def test_convergence_of_a_real_admm_result(tmp_path, small_regression):
    import cvxnn
    from cvxnn import admm

    X, y = small_regression
    program = cvxnn.relu_program(X, y, cvxnn.sample_patterns(X, 4, random_state=0), beta=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = admm.solve_admm(program, {"max_iter": 300})
    fig = plot_convergence(result, tmp_path / "admm.png")
    assert _is_png(tmp_path / "admm.png") and len(fig.axes) == 2
    primal = next(line for line in fig.axes[0].get_lines() if line.get_label() == "primal residual")
    assert np.allclose(primal.get_ydata(), result.history["primal_residual"], equal_nan=True)


def test_bad_histories_are_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="no recognized series"):
        plot_convergence({"foo": [1, 2]})
    with pytest.raises(InvalidInputError, match="different lengths"):
        plot_convergence({"objective": [1, 2, 3], "primal_residual": [1, 2]})
    with pytest.raises(InvalidInputError, match="does not exist"):
        plot_convergence(_history(), tmp_path / "nope" / "c.png")


def test_robust_accuracy_plot(tmp_path):
    eps = [0.0, 0.1, 0.2]
    fig = plot_robust_accuracy(
        eps, {"nominal": [0.9, 0.6, 0.2], "robust": [0.85, 0.8, 0.7]}, tmp_path / "r.png", clean=0.9, norm="2"
    )
    assert _is_png(tmp_path / "r.png")
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert set(lines) == {"nominal", "robust", "clean accuracy"}
    assert np.array_equal(lines["robust"].get_ydata(), [0.85, 0.8, 0.7])
    with pytest.raises(InvalidInputError, match="3 radii"):
        plot_robust_accuracy(eps, [1.0, 0.5])


def test_objective_vs_patterns_plot(tmp_path):
    fig = plot_objective_vs_patterns([2, 4, 8], [3.0, 2.0, 1.5], tmp_path / "p.png", optimum=1.2)
    assert _is_png(tmp_path / "p.png")
    assert np.array_equal(fig.axes[0].get_lines()[0].get_xdata(), [2, 4, 8])
    with pytest.raises(InvalidInputError, match="pattern counts"):
        plot_objective_vs_patterns([2, 4], [1.0])


def test_missing_matplotlib_is_a_clear_error(monkeypatch):
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'cvxnn\[plot\]'"):
        plot_objective_vs_patterns([1], [1.0])


def test_plots_do_not_touch_pyplot_state(tmp_path):
    import matplotlib

    backend = matplotlib.get_backend()
    had_pyplot = "matplotlib.pyplot" in sys.modules
    plot_robust_accuracy([0.0, 1.0], [1.0, 0.5], tmp_path / "r.png")
    assert matplotlib.get_backend() == backend
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot


# --------------------------------------------------------------------------- CLI --plot
def test_cli_fit_and_attack_plots(tmp_path, capsys, small_classification):
    from cvxnn.cli import main

    X, y = small_classification
    data = tmp_path / "d.npz"
    np.savez(data, X=np.vstack([X, X + 0.05]), y=np.concatenate([y, y]))
    code = main(
        [
            "fit",
            str(data),
            "-o",
            str(tmp_path / "m.npz"),
            "--patterns",
            "8",
            "--plot",
            str(tmp_path / "fit.png"),
            "--report",
            str(tmp_path / "r.json"),
            "-q",
        ]
    )
    assert code == 0, capsys.readouterr().err
    assert _is_png(tmp_path / "fit.png")
    report = json.loads((tmp_path / "r.json").read_text())
    plot = report["plot"]
    assert plot["n_patterns"][-1] == report["model"]["patterns"]
    # with every pattern the curve ends at the fitted (single binary) program's optimum
    assert plot["objective"][-1] == report["objective"]
    from cvxnn.io import load_estimator

    assert load_estimator(tmp_path / "m.npz")[-1].warm_start is False  # hyperparameters saved as given
    # nested pattern subsets: the optimum can only go down as patterns are added
    obj = np.array(plot["objective"])
    assert np.all(np.diff(obj) <= 1e-6 * (1 + np.abs(obj[:-1])))
    code = main(
        [
            "attack",
            str(tmp_path / "m.npz"),
            str(data),
            "--eps",
            "0.5",
            "--plot",
            str(tmp_path / "att.png"),
            "--plot-points",
            "4",
            "--report",
            str(tmp_path / "a.json"),
        ]
    )
    assert code == 0
    assert _is_png(tmp_path / "att.png")
    curve = json.loads((tmp_path / "a.json").read_text())["curve"]
    assert curve["eps"] == pytest.approx([0.0, 0.5 / 3, 1.0 / 3, 0.5])
    acc = np.array(curve["robust_accuracy"])
    assert acc[-1] == json.loads((tmp_path / "a.json").read_text())["robust_accuracy"]
    assert acc[0] == json.loads((tmp_path / "a.json").read_text())["clean_accuracy"]


def test_cli_admm_fit_writes_a_convergence_plot(tmp_path, capsys, small_classification):
    from cvxnn.cli import main

    X, y = small_classification
    data = tmp_path / "d.npz"
    np.savez(data, X=X, y=y)
    args = ["fit", str(data), "-o", str(tmp_path / "m.npz"), "--solver", "admm", "--patterns", "6"]
    args += [
        "--max-iter",
        "400",
        "--plot",
        str(tmp_path / "conv.png"),
        "--report",
        str(tmp_path / "r.json"),
        "-q",
    ]
    assert main(args) == 0, capsys.readouterr().err
    assert _is_png(tmp_path / "conv.png")
    report = json.loads((tmp_path / "r.json").read_text())
    plot = report["plot"]
    assert plot["kind"].startswith("ADMM convergence") and 0 < plot["iterations"] <= 400
    # the plot shows the fit's own solve (one binary program), not another run
    assert plot["iterations"] == report["iterations"] and plot["status"] == report["status"]
