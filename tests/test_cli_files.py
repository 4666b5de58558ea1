"""The command line on real files: models that predict on raw data, ``cvxnn predict``, refusals
that leave every file byte-identical, and user errors without tracebacks (issue 18 items 1-4)."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from cvxnn import ConvexReLUClassifier, ConvexReLURegressor
from cvxnn.cli import main
from cvxnn.datasets import load_dataset, split_indices
from cvxnn.io import load_estimator, save_estimator

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cvxnn", *map(str, args)], capture_output=True, text=True, env=ENV, timeout=300
    )


def run_main(capsys, *args: object) -> tuple[int, str, str]:
    """``cvxnn ARGS`` in process (argparse's own exits caught): (exit code, stdout, stderr)."""
    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:
        code = int(exc.code)
    out, err = capsys.readouterr()
    return code, out, err


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli_files")
    rng = np.random.default_rng(2)
    X = rng.standard_normal((48, 3)) * [1.0, 20.0, 0.1] + [3.0, -40.0, 1.0]  # far from standardized
    y = np.where((X[:, 0] - 3.0) + (X[:, 1] + 40.0) / 20.0 > 0, 1, 0)
    np.savetxt(d / "bin.csv", np.column_stack([X, y]), delimiter=",", header="a,b,c,label", comments="")
    np.savetxt(d / "bin_nolabel.csv", X, delimiter=",")
    np.savez(d / "bin_X.npz", X=X)
    y3 = np.digitize(X[:, 0] - 3.0, [-0.5, 0.5])
    np.savetxt(d / "three.csv", np.column_stack([X, y3]), delimiter=",")
    np.savez(d / "strings.npz", X=X, y=np.array(["a", "b"] * 24))
    return d


@pytest.fixture(scope="module")
def logistic_model(files):
    out = files / "logit.npz"
    proc = cli(
        "fit", files / "bin.csv", "--out", out, "--loss", "logistic", "--patterns", "6", "--seed", "4", "-q"
    )
    assert proc.returncode == 0, proc.stderr
    return out


def _in_process_pipeline(spec: str, estimator, *, seed: int, test_size: float = 0.25) -> tuple:
    data = load_dataset(spec)
    train, _ = split_indices(data, test_size, seed)
    pipe = Pipeline([("scale", StandardScaler()), ("model", estimator)])
    return pipe.fit(data.X[train], data.y[train]), data


def _read_predictions(text: str) -> tuple[list[str], np.ndarray]:
    lines = text.strip().splitlines()
    return lines[0].split(","), np.array([[float(v) for v in row.split(",")] for row in lines[1:]])


# --------------------------------------------------------------------------- item 1 and 2
def test_fit_then_predict_on_raw_data_equals_the_in_process_pipeline(files, logistic_model):
    pipe, data = _in_process_pipeline(
        str(files / "bin.csv"), ConvexReLUClassifier(n_patterns=6, loss="logistic", random_state=4), seed=4
    )
    loaded = load_estimator(logistic_model)
    assert isinstance(loaded, Pipeline)
    np.testing.assert_array_equal(loaded.predict(data.X), pipe.predict(data.X))
    np.testing.assert_array_equal(loaded.predict_proba(data.X), pipe.predict_proba(data.X))
    # the scaler matters: the bare estimator on raw data predicts something else
    assert np.mean(loaded[-1].predict(data.X) == loaded.predict(data.X)) < 0.9

    proc = cli("predict", logistic_model, files / "bin.csv", "--proba")
    assert proc.returncode == 0, proc.stderr
    header, table = _read_predictions(proc.stdout)
    assert header == ["prediction", "p(0)", "p(1)"]
    np.testing.assert_array_equal(table[:, 0], pipe.predict(data.X))
    np.testing.assert_array_equal(table[:, 1:], pipe.predict_proba(data.X))  # shortest round-trip text


def test_predict_without_labels_to_a_file(files, logistic_model, capsys):
    expected = load_estimator(logistic_model).predict(np.loadtxt(files / "bin_nolabel.csv", delimiter=","))
    for data in ("bin_nolabel.csv", "bin_X.npz"):
        dest = files / f"pred_{data}.csv"
        code, out, err = run_main(capsys, "predict", logistic_model, files / data, "--out", dest)
        assert code == 0, err
        assert out == ""
        header, table = _read_predictions(dest.read_text())
        assert header == ["prediction"]
        np.testing.assert_array_equal(table[:, 0], expected)


def test_predict_regression_and_multiclass(files, tmp_path, capsys):
    X = np.loadtxt(files / "bin_nolabel.csv", delimiter=",")
    targets = np.sin(X[:, 0])
    np.savetxt(tmp_path / "reg.csv", np.column_stack([X, targets]), delimiter=",")
    code, out, err = run_main(
        capsys, "fit", tmp_path / "reg.csv", "--out", tmp_path / "reg.npz", "--task", "regression", "-q"
    )
    assert code == 0, err
    pipe, _ = _in_process_pipeline(str(tmp_path / "reg.csv"), ConvexReLURegressor(random_state=0), seed=0)
    code, out, err = run_main(capsys, "predict", tmp_path / "reg.npz", tmp_path / "reg.csv")
    assert code == 0, err
    np.testing.assert_array_equal(_read_predictions(out)[1][:, 0], pipe.predict(X))

    code, out, err = run_main(
        capsys, "fit", files / "three.csv", "--out", tmp_path / "three.npz", "--patterns", "4", "-q"
    )
    assert code == 0, err
    code, out, err = run_main(capsys, "predict", tmp_path / "three.npz", files / "three.csv")
    labels = _read_predictions(out)[1][:, 0]
    np.testing.assert_array_equal(labels, load_estimator(tmp_path / "three.npz").predict(X))


def test_predict_refusals(files, logistic_model, tmp_path, capsys):
    proc = cli("predict", logistic_model, "sklearn:iris")  # 4 features, the model takes 3
    assert proc.returncode == 2 and "takes 3" in proc.stderr and "Traceback" not in proc.stderr
    squared = tmp_path / "sq.npz"
    assert run_main(capsys, "fit", files / "bin.csv", "--out", squared, "--patterns", "4", "-q")[0] == 0
    code, _, err = run_main(capsys, "predict", squared, files / "bin.csv", "--proba")
    assert code == 2 and "logistic loss" in err


def test_a_legacy_model_predicts_with_its_stored_scaler(files, tmp_path, capsys):
    """A file from before models carried their preprocessing: bare estimator + scaler metadata."""
    data = load_dataset(str(files / "bin.csv"))
    mean, scale = data.X.mean(axis=0), data.X.std(axis=0)
    est = ConvexReLUClassifier(n_patterns=4, random_state=0).fit((data.X - mean) / scale, data.y)
    legacy = tmp_path / "legacy.npz"
    meta = {"created_by": "cvxnn fit", "preprocessing": {"mean": mean, "scale": scale}}
    save_estimator(est, legacy, metadata=meta)
    code, out, err = run_main(capsys, "predict", legacy, files / "bin.csv")
    assert code == 0, err
    np.testing.assert_array_equal(_read_predictions(out)[1][:, 0], est.predict((data.X - mean) / scale))


# --------------------------------------------------------------------------- item 3
@pytest.mark.parametrize(
    "case",
    ["out_onto_data", "report_onto_out", "plot_onto_report", "predict_onto_model", "attack_report_onto_data"],
)
def test_outputs_never_overwrite_inputs_or_each_other(case, files, logistic_model, tmp_path, capsys):
    data = tmp_path / "data.csv"
    data.write_bytes((files / "bin.csv").read_bytes())
    model = tmp_path / "model.npz"
    model.write_bytes(logistic_model.read_bytes())
    report = tmp_path / "report.json"
    report.write_text("{}\n")
    before = {p: digest(p) for p in (data, model, report)}
    argv = {
        "out_onto_data": ("fit", data, "--out", data),
        "report_onto_out": ("fit", data, "--out", model, "--report", tmp_path / "." / "model.npz"),
        "plot_onto_report": (
            "fit",
            data,
            "--out",
            tmp_path / "new.npz",
            "--report",
            report,
            "--plot",
            report,
        ),
        "predict_onto_model": ("predict", model, data, "--out", model),
        "attack_report_onto_data": ("attack", model, data, "--eps", "0.1", "--report", data),
    }[case]
    if case == "out_onto_data":  # one of them end to end, in a subprocess
        proc = cli(*argv)
        code, err = proc.returncode, proc.stderr
        assert "Traceback" not in err
    else:
        code, _, err = run_main(capsys, *argv)
    assert code == 2, err
    assert err.startswith("cvxnn: error:")
    assert {p: digest(p) for p in before} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv", "model.npz", "report.json"]


def test_unwritable_outputs_are_refused_before_the_fit(files, tmp_path, capsys):
    for out in ("/proc/cvxnn-test.npz", tmp_path / "missing" / "m.npz", files / "bin.csv" / "m.npz"):
        code, out, err = run_main(capsys, "fit", files / "bin.csv", "--out", out)
        assert code == 2 and "cvxnn: error: --out" in err, err
        assert "Traceback" not in err
    code, out, err = run_main(
        capsys, "fit", files / "bin.csv", "--out", tmp_path / "m.npz", "--report", tmp_path
    )
    assert code == 2 and "is a directory" in err
    assert not (tmp_path / "m.npz").exists()


def test_a_late_write_error_is_exit_1_without_traceback(files, tmp_path, monkeypatch, capsys):
    """Disk full after the fit: the model save and the report write both say so, exit 1."""
    import cvxnn.cli.output as output
    import cvxnn.io as cvxnn_io

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(cvxnn_io, "save_model", full)
    code = main(["fit", str(files / "bin.csv"), "--out", str(tmp_path / "m.npz"), "--patterns", "4", "-q"])
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("cvxnn: error: could not write") and "No space left" in err
    monkeypatch.undo()
    write = output.atomic_write

    def full_for_the_report(path, *args, **kwargs):
        if Path(path).name == "r.json":
            full()
        return write(path, *args, **kwargs)

    monkeypatch.setattr(output, "atomic_write", full_for_the_report)
    argv = [
        "fit",
        str(files / "bin.csv"),
        "--out",
        str(tmp_path / "m.npz"),
        "--report",
        str(tmp_path / "r.json"),
    ]
    code = main([*argv, "--patterns", "4", "-q"])
    err = capsys.readouterr().err
    assert code == 1 and "could not write" in err and "r.json" in err
    assert not (tmp_path / "r.json").exists()


# --------------------------------------------------------------------------- item 4
def test_user_errors_are_messages_not_tracebacks(files, logistic_model, tmp_path, capsys):
    cases = [
        (("fit", files / "strings.npz", "--out", tmp_path / "m.npz"), "numeric"),
        (("fit", files / "bin.csv", "--out", tmp_path / "m.npz", "--seed", str(2**32)), "--seed"),
        (("fit", files / "bin.csv", "--out", tmp_path / "m.npz", "--seed", "-1"), "--seed"),
        (("attack", logistic_model, files / "bin.csv", "--eps", "0.1", "--seed", str(2**40)), "--seed"),
        (("fit", files / "bin.csv", "--out", tmp_path / "m.npz", "--plot", tmp_path / "p.xyz"), ".xyz"),
        (("bench", "--quick", "--admm-settings", '{"max_iters": 5}'), "max_iters"),
    ]
    proc = cli(*cases[0][0])  # one end to end, in a subprocess
    assert proc.returncode == 2 and cases[0][1] in proc.stderr and "Traceback" not in proc.stderr
    for argv, needle in cases[1:]:
        code, _, err = run_main(capsys, *argv)
        assert code == 2 and needle in err, (argv, err)
    assert not (tmp_path / "m.npz").exists()  # the bad --plot was refused before the fit


def test_attack_on_a_model_without_the_metadata_it_needs(files, tmp_path, capsys):
    est = ConvexReLUClassifier(n_patterns=4, random_state=0)
    data = load_dataset(str(files / "bin.csv"))
    save_estimator(est.fit(data.X, data.y), tmp_path / "plain.npz")
    code, out, err = run_main(
        capsys, "attack", tmp_path / "plain.npz", files / "bin.csv", "--eps", "0.1", "--split", "test"
    )
    assert code == 2 and "lacks" in err and "Traceback" not in err
    save_estimator(est, tmp_path / "badmeta.npz", metadata={"preprocessing": {"mean": [1.0]}})
    code, out, err = run_main(capsys, "attack", tmp_path / "badmeta.npz", files / "bin.csv", "--eps", "0.1")
    assert code == 2 and "preprocessing" in err and "Traceback" not in err
    code, out, err = run_main(capsys, "attack", tmp_path / "plain.npz", files / "bin.csv", "--eps", "0.1")
    assert code == 0, err
    assert "robust accuracy" in out
