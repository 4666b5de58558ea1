"""The ``cvxnn`` command line: end to end in a subprocess, plus fast in-process error paths."""

from __future__ import annotations

import io
import itertools
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cvxnn.admm import AdmmProgress
from cvxnn.cli import Progress, main
from cvxnn.cli.progress import FitProgress
from cvxnn.io import load_estimator, load_model
from cvxnn.search import SearchRound

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cvxnn", *map(str, args)],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=cwd,
        timeout=300,
    )


def _binary(n: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3)) * [1.0, 10.0, 0.1] + [0.0, 5.0, -1.0]
    y = np.where(X[:, 0] * (X[:, 1] - 5.0) / 10 + 3 * (X[:, 2] + 1.0) >= 0, 1, 0)
    return X, y


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli")
    X, y = _binary()
    np.savetxt(d / "bin.csv", np.column_stack([X, y]), delimiter=",", header="a,b,c,label", comments="")
    rng = np.random.default_rng(1)
    Xr = rng.standard_normal((30, 2))
    np.savez(d / "reg.npz", X=Xr, y=np.tanh(Xr @ [1.0, -2.0]))
    np.savez(d / "noy.npz", X=Xr)
    X3 = rng.standard_normal((30, 2))
    np.savetxt(d / "three.csv", np.column_stack([X3, np.repeat([0, 1, 2], 10)]), delimiter=",")
    (d / "bad.csv").write_text("1,2,3\n4,oops,6\n")
    (d / "corrupt.npz").write_bytes(b"PK\x03\x04" + bytes(100))
    return d


@pytest.fixture(scope="module")
def fitted(files):
    """One subprocess fit with a JSON report (shared by several tests)."""
    proc = run_cli(
        "fit",
        files / "bin.csv",
        "--out",
        files / "model.npz",
        "--report",
        files / "report.json",
        "--patterns",
        "8",
        "--seed",
        "3",
    )
    return proc


# --------------------------------------------------------------------------- subprocess
def test_fit_writes_model_and_report(fitted, files):
    assert fitted.returncode == 0, fitted.stderr
    assert "Traceback" not in fitted.stderr
    assert "test        accuracy" in fitted.stdout
    report = json.loads((files / "report.json").read_text())
    assert report["status"] == "optimal" and report["iterations"] > 0
    assert report["data"]["n_train"] + report["data"]["n_test"] == 40
    assert report["data"]["task"] == "classification" and report["data"]["classes"] == [0.0, 1.0]
    assert report["model"]["patterns"] <= 8 and report["model"]["networks"] == 1
    assert 0.0 <= report["test"]["accuracy"] <= 1.0 and report["train"]["accuracy"] >= 0.8
    assert set(report["timings_s"]) >= {"load", "fit", "evaluate", "save", "total"}
    # the model file is a fitted Pipeline (scaler, estimator) that predicts on raw data; its
    # objective and predictions match the report
    pipe = load_estimator(files / "model.npz")
    assert [name for name, _ in pipe.steps] == ["scale", "model"]
    est = pipe[-1]
    assert est.objective_ == report["objective"] and est.status_ == report["status"]
    saved = load_model(files / "model.npz")
    X, y = _binary()
    assert json.loads(saved.metadata["report"])["objective"] == report["objective"]
    # standardization used training statistics only: the scaler is not the full-data one
    assert not np.allclose(pipe[0].mean_, X.mean(axis=0))
    assert report["data"]["scaler"]["mean"] == pipe[0].mean_.tolist()
    # train + test accuracy recombine into the accuracy on all the (raw) data
    acc_all = float(np.mean(pipe.predict(X) == y))
    n_tr, n_te = report["train"]["n"], report["test"]["n"]
    combined = (report["train"]["accuracy"] * n_tr + report["test"]["accuracy"] * n_te) / (n_tr + n_te)
    assert acc_all == pytest.approx(combined)


def test_fit_searches_patterns_by_default_and_reports_the_certificate(files):
    report_path = files / "search.json"
    proc = run_cli(
        "fit", files / "bin.csv", "-o", files / "search.npz", "--report", report_path, "--solver", "admm"
    )
    assert proc.returncode == 0, proc.stderr
    assert "found by the pattern search (from 16 Gaussian)" in proc.stdout
    assert "certificate objective" in proc.stdout and "optimum over all patterns >=" in proc.stdout
    assert "search      rounds P=" in proc.stdout
    report = json.loads(report_path.read_text())
    assert report["model"]["patterns_source"] == "search" and report["model"]["patterns_requested"] == 16
    (problem,) = report["search"]["problems"]
    cert, history = problem["certificate"], problem["history"]
    assert cert["lower_bound"] <= cert["objective"] + 1e-9 and cert["gap"] >= 0
    assert cert["max_violation_over_beta"] >= 0 and report["search"]["lower_bound"] == cert["lower_bound"]
    assert [h["round"] for h in history] == list(range(len(history))) and history
    objectives = [h["objective"] for h in history]
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(objectives))  # never rises
    assert history[-1]["n_patterns"] == report["model"]["patterns"]
    # the final solve over the searched patterns is no worse than the search's best point
    assert report["objective"] <= objectives[-1] * (1 + 1e-3)
    assert report["certified"] == (report["status"] == "optimal")


def test_fit_robust_admm_end_to_end_says_when_uncertified(files):
    report_path = files / "robust.json"
    argv = ["fit", files / "bin.csv", "-o", files / "robust.npz", "--report", report_path, "--solver", "admm"]
    proc = run_cli(*argv, "--eps", "0.1", "--norm", "2", "--loss", "hinge", "--max-iter", "20")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(report_path.read_text())
    assert report["model"]["kind"] == "robust_relu" and report["model"]["patterns_source"] == "sample"
    assert report["status"] != "optimal" and report["certified"] is False and report["search"] is None
    assert "uncertified the ADMM stopped with status" in proc.stdout
    assert "cvxnn: warning:" in proc.stderr and "Traceback" not in proc.stderr
    assert report["test_robust_accuracy"] is not None


def test_fit_robust_admm_certifies_a_small_program(capsys, files):
    report_path = files / "robust_ok.json"
    argv = ["fit", files / "bin.csv", "-o", files / "robust_ok.npz", "--report", report_path, "--solver"]
    code, out, err = _main(capsys, *argv, "admm", "--eps", "0.05", "--norm", "2", "--patterns", "4")
    assert code == 0, err
    report = json.loads(report_path.read_text())
    assert report["model"]["kind"] == "robust_relu" and report["model"]["solver"] == "admm"
    assert report["status"] == "optimal" and report["certified"] is True
    assert "uncertified" not in out and report["warnings"] == []


def test_fit_says_when_the_robust_program_leaves_the_zero_network(capsys, files):
    report_path = files / "robust_zero.json"
    argv = ["fit", files / "bin.csv", "-o", files / "robust_zero.npz", "--report", report_path, "--solver"]
    code, out, err = _main(capsys, *argv, "admm", "--eps", "3", "--patterns", "4")
    assert code == 0, err
    report = json.loads(report_path.read_text())
    assert report["status"] == "optimal" and report["iterations"] == 0  # the zero screen certified it
    assert report["model"]["neurons"] == [0]
    assert "every network is the zero network" in out and "lower --beta or --eps" in out
    assert "zero network" not in _main(capsys, *argv[:-1], "--report", report_path)[1]  # a nominal fit


def test_attack_subprocess(fitted, files):
    assert fitted.returncode == 0
    proc = run_cli(
        "attack", files / "model.npz", files / "bin.csv", "--eps", "0.5", "--report", files / "a.json"
    )
    assert proc.returncode == 0, proc.stderr
    assert "clean accuracy" in proc.stdout and "robust accuracy" in proc.stdout
    result = json.loads((files / "a.json").read_text())
    assert result["n"] == 40 and result["standardized"] is True
    assert 0.0 <= result["robust_accuracy"] <= result["clean_accuracy"] <= 1.0
    X, y = _binary()
    assert result["clean_accuracy"] == pytest.approx(
        np.mean(load_estimator(files / "model.npz").predict(X) == y)
    )


def test_user_errors_exit_2_without_traceback(files):
    proc = run_cli("fit", files / "missing.csv", "--out", files / "m.npz")
    assert (
        proc.returncode == 2 and proc.stderr.startswith("cvxnn: error:") and "does not exist" in proc.stderr
    )
    proc = run_cli("attack", files / "corrupt.npz", files / "bin.csv", "--eps", "0.1")
    assert proc.returncode == 2 and "cvxnn: error:" in proc.stderr and "Traceback" not in proc.stderr
    proc = run_cli("fit", files / "bin.csv", "--out", files / "m.npz", "--beta", "-1")
    assert proc.returncode == 2 and "--beta" in proc.stderr and "Traceback" not in proc.stderr
    assert not (files / "m.npz").exists()


# --------------------------------------------------------------------------- in process
def _main(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    ("data", "extra", "message"),
    [
        ("bad.csv", (), "Cannot read CSV"),
        ("noy.npz", (), "lacks array(s) ['y']"),
        ("missing.npz", (), "does not exist"),
        ("bin.csv", ("--solver", "nosuchsolver"), "nosuchsolver"),
        ("reg.npz", ("--loss", "hinge"), "regression takes --loss squared"),
        ("bin.csv", ("--formulation", "gated", "--eps", "0.1"), "formulation='relu'"),
        ("bin.csv", ("--test-size", "0.99"), "--test-size"),
        ("sklearn:nope", (), "Unknown scikit-learn data set"),
    ],
)
def test_fit_refuses_bad_input(capsys, files, data, extra, message):
    spec = data if data.startswith("sklearn:") else files / data
    code, _, err = _main(capsys, "fit", spec, "--out", files / "never.npz", *extra)
    assert code == 2
    assert err.startswith("cvxnn: error:") and message in err
    assert not (files / "never.npz").exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--search-opt", "foo=1"), "--search-opt foo: not a pattern-search setting"),
        (("--search-opt", "beta=2"), "--search-opt beta: not a pattern-search setting"),
        (("--search-opt", "max_rounds=2", "--patterns", "4"), "which --patterns N replaces"),
    ],
)
def test_fit_refuses_bad_search_options(capsys, files, extra, message):
    code, _, err = _main(capsys, "fit", files / "bin.csv", "-o", files / "never.npz", *extra)
    assert code == 2 and message in err and "Traceback" not in err
    assert not (files / "never.npz").exists()


def test_bad_options_exit_2(capsys, files):
    for args in (
        ["fit", files / "bin.csv"],  # --out missing
        ["fit", files / "bin.csv", "--out", files / "x.npz", "--patterns", "0"],
        ["fit", files / "bin.csv", "--out", files / "x.npz", "--norm", "3"],
        ["attack", files / "model.npz", files / "bin.csv"],  # --eps missing
        ["fit", files / "bin.csv", "--out", files / "x.npz", "--bogus"],
    ):
        with pytest.raises(SystemExit) as exc:
            main([str(a) for a in args])
        assert exc.value.code == 2
    assert main([]) == 2
    capsys.readouterr()


def test_fit_regression_npz_and_inspect(capsys, files):
    code, out, err = _main(
        capsys,
        "fit",
        files / "reg.npz",
        "--out",
        files / "reg_model.npz",
        "--test-size",
        "0",
        "--patterns",
        "6",
    )
    assert code == 0, err
    assert "R^2" in out and "test        -" in out
    saved = load_model(files / "reg_model.npz")
    assert saved.kind == "estimator" and saved.metadata["task"] == "regression"
    report = json.loads(saved.metadata["report"])
    assert report["test"] is None and report["train"]["r2"] > 0.5
    # attack refuses a regressor
    code, _, err = _main(capsys, "attack", files / "reg_model.npz", files / "reg.npz", "--eps", "0.1")
    assert code == 2 and "needs a classifier" in err

    code, out, err = _main(capsys, "inspect", files / "bin.csv", "--patterns", "5", "--loss", "hinge")
    assert code == 0, err
    assert "cvxnn ConvexProgram: relu" in out and "DCP True, DPP True" in out
    assert "CLARABEL" in out and "ADMM" in out
    code, out, _ = _main(capsys, "inspect", files / "bin.csv", "--formulation", "scp", "--loss", "squared")
    assert code == 0 and "QP/LP True" in out and "OSQP" in out
    code, _, err = _main(capsys, "inspect", files / "bin.csv", "--exact", "--max-patterns", "3")
    assert code == 2 and "max_patterns=3" in err


def test_inspect_shows_the_program_fit_solves(capsys, files, fitted):
    """Same data, split and seed: inspect's program has the patterns fit used."""
    assert fitted.returncode == 0
    code, out, _ = _main(capsys, "inspect", files / "bin.csv", "--patterns", "8", "--seed", "3")
    assert code == 0
    report = json.loads((files / "report.json").read_text())
    assert f"P={report['model']['patterns']}, sampled" in out
    assert f"n={report['data']['n_train']}, d=3" in out


def test_multiclass_fit_and_attack(capsys, files):
    code, out, err = _main(
        capsys, "fit", files / "three.csv", "--out", files / "mc.npz", "--patterns", "4", "-q"
    )
    assert code == 0, err
    assert out == ""  # --quiet
    pipe = load_estimator(files / "mc.npz")
    est = pipe[-1]
    assert len(est.networks_) == 3 and est.classes_.tolist() == [0.0, 1.0, 2.0]
    report = files / "mc_attack.json"
    code, out, err = _main(
        capsys, "attack", files / "mc.npz", files / "three.csv", "--eps", "0.3", "--report", report
    )
    assert code == 0, err
    assert "predicted class margin (3 classes, one-vs-rest)" in out
    result = json.loads(report.read_text())
    data = np.loadtxt(files / "three.csv", delimiter=",")
    assert result["clean_accuracy"] == pytest.approx(np.mean(pipe.predict(data[:, :-1]) == data[:, -1]))
    assert 0.0 <= result["robust_accuracy"] <= result["clean_accuracy"]


def test_attack_split_and_label_checks(capsys, files, fitted):
    assert fitted.returncode == 0
    code, out, err = _main(
        capsys, "attack", files / "model.npz", files / "bin.csv", "--eps", "0", "--split", "test"
    )
    assert code == 0, err
    report = json.loads((files / "report.json").read_text())
    n_test = report["data"]["n_test"]
    assert f"(test, n={n_test})" in out
    # eps = 0: robust accuracy is the clean accuracy, which is the fit's test accuracy
    assert f"clean accuracy   {report['test']['accuracy']:.4f}" in out
    assert f"robust accuracy  {report['test']['accuracy']:.4f}" in out
    # labels the model never saw
    X, y = _binary()
    np.savez(files / "other.npz", X=X, y=y + 5)
    code, _, err = _main(capsys, "attack", files / "model.npz", files / "other.npz", "--eps", "0.1")
    assert code == 2 and "not trained on" in err
    # wrong feature count
    np.savez(files / "wide.npz", X=np.hstack([X, X]), y=y)
    code, _, err = _main(capsys, "attack", files / "model.npz", files / "wide.npz", "--eps", "0.1")
    assert code == 2 and "features" in err


def test_attack_on_plain_network_file(capsys, files, rng):
    from cvxnn.io import save_network
    from cvxnn.recovery import ReLUNetwork

    net = ReLUNetwork(U=np.eye(3)[:, :2], b=np.zeros(2), alpha=np.array([1.0, -1.0]))
    save_network(net, files / "net.npz")
    X = rng.standard_normal((20, 3))
    y = np.sign(net.predict(X))
    X, y = X[y != 0], y[y != 0]  # both neurons off: output 0, no class
    assert y.size >= 5
    np.savez(files / "pm.npz", X=X, y=y)
    code, out, err = _main(
        capsys, "attack", files / "net.npz", files / "pm.npz", "--eps", "0.0", "--attack", "fgsm"
    )
    assert code == 0, err
    assert "clean accuracy   1.0000" in out and "robust accuracy  1.0000" in out
    code, out, _ = _main(capsys, "attack", files / "net.npz", files / "pm.npz", "--eps", "10")
    assert code == 0 and "robust accuracy  0.0000" in out  # a huge ball flips every sign


def test_bench_and_verify_are_forwarded(capsys, monkeypatch):
    import types

    seen = {}

    def fake_main(argv):
        seen["argv"] = argv
        return 0

    fake = types.ModuleType("cvxnn_bench")
    fake.main = fake_main
    monkeypatch.setitem(sys.modules, "cvxnn_bench", fake)
    assert main(["bench", "--quick", "x"]) == 0
    assert seen["argv"] == ["--quick", "x"]


# --------------------------------------------------------------------------- progress
def test_progress_is_silent_off_a_terminal():
    stream = io.StringIO()
    bar = Progress(5, "work", stream=stream)
    assert bar.enabled is False  # StringIO is not a terminal
    for _ in range(5):
        bar.update()
    bar.close()
    assert stream.getvalue() == ""


def _admm_info(iteration: int, objective: float, gap: float = float("inf")) -> AdmmProgress:
    return AdmmProgress(iteration, objective, 1e-3, 1e-3, 1e-4, 1e-4, gap * objective, gap, 0.1, {"u": 1.0})


def test_fit_progress_draws_search_rounds_and_admm_checks():
    stream = io.StringIO()
    bar = Progress(100, "fit", enabled=True, stream=stream)
    tracker = FitProgress(bar)
    tracker.admm(_admm_info(10, 5.0))
    tracker.admm(_admm_info(100, 4.0, 1e-5))
    assert bar.count == 100 and tracker.solves == 1 and "gap 1.0e-05" in stream.getvalue()
    tracker.search_round(SearchRound(0, 20, 4.0, 0.5, 3.0, 10, "optimal"))
    tracker.admm(_admm_info(10, 3.5))  # the next round's solve restarts the count
    assert tracker.solves == 2 and bar.count == 10
    assert "round 1: P=20, objective 4, violation 3x beta; solve 2: objective 3.5" in stream.getvalue()
    tracker.search_round(SearchRound(1, 30, 3.5, 0.9, 1.0, 0, "optimal"))
    tracker.search_round(SearchRound(0, 10, 7.0, 0.2, 2.0, 5, "optimal"))  # a second problem's search
    bar.close()
    assert [[r.n_patterns for r in h] for h in tracker.history] == [[20, 30], [10]]
    assert "search 2, round 1: P=10" in stream.getvalue() and stream.getvalue().endswith("\n")


def test_fit_progress_records_rounds_without_a_bar():
    stream = io.StringIO()
    tracker = FitProgress(Progress(10, "fit", stream=stream))  # off a terminal: nothing drawn
    tracker.search_round(SearchRound(0, 20, 4.0, 0.5, 3.0, 10, "optimal"))
    assert len(tracker.history) == 1 and stream.getvalue() == ""


def test_outputs_are_checked_before_the_work(capsys, files, fitted):
    code, _, err = _main(
        capsys, "fit", files / "bin.csv", "-o", files / "m9.npz", "--report", files / "no" / "r.json"
    )
    assert code == 2 and "--report" in err and "does not exist" in err
    assert not (files / "m9.npz").exists()
    code, _, err = _main(capsys, "fit", files / "bin.csv", "-o", files)
    assert code == 2 and "is a directory" in err
    # --split must see the same data the model was fitted on
    X, y = _binary(n=30)
    np.savez(files / "fewer.npz", X=X, y=y)
    code, _, err = _main(
        capsys, "attack", files / "model.npz", files / "fewer.npz", "--eps", "0.1", "--split", "test"
    )
    assert code == 2 and "pass the same DATA" in err


def test_admm_fit_shows_iteration_progress_on_a_terminal(capsys, files, monkeypatch):
    import cvxnn.cli.progress as progress

    monkeypatch.setattr(progress, "isatty", lambda stream: True)  # pretend stdout/stderr are terminals
    out_path = files / "admm_model.npz"
    code, out, err = _main(
        capsys,
        "fit",
        files / "bin.csv",
        "-o",
        out_path,
        "--solver",
        "admm",
        "--patterns",
        "6",
        "--max-iter",
        "3000",
    )
    assert code == 0, err
    assert "  fit [" in err and "solve 1: objective" in err and "\r" in err
    assert "round" not in err  # --patterns N: no search
    assert "solver      admm" in out
    est = load_estimator(out_path)[-1]
    assert est.solver == "admm" and est.solver_options is None  # the bar's callback is not saved


def test_admm_search_fit_shows_rounds_on_a_terminal(capsys, files, monkeypatch):
    import cvxnn.cli.progress as progress

    monkeypatch.setattr(progress, "isatty", lambda stream: True)
    out_path = files / "admm_search.npz"
    argv = ["fit", files / "bin.csv", "-o", out_path, "--solver", "admm", "--search-opt", "max_rounds=2"]
    code, out, err = _main(capsys, *argv)
    assert code == 0, err
    assert "round 1: P=" in err and "violation" in err and "solve 2: objective" in err
    assert "found by the pattern search" in out and "certificate objective" in out
    est = load_estimator(out_path)[-1]
    assert est.patterns == "search" and est.search_options == {"max_rounds": 2}  # no callables saved
    assert est.solver_options is None
