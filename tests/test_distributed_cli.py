"""``cvxnn fit --workers N`` / ``--cluster ADDRESS`` end to end in subprocesses, and its refusals."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("distributed")

from cvxnn.io import load_estimator

ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
#: Tight enough that the sharded and the single-process fits agree to ~1e-7 in their predictions.
TIGHT = ["--solver", "admm", "--patterns", "6", "--solver-opt", "gap_tol=1e-8"]


def run_cli(*args: object, python: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "cvxnn"] if python is None else [sys.executable, "-c", python]
    return subprocess.run([*command, *map(str, args)], capture_output=True, text=True, env=ENV, timeout=300)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("cluster")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 3))
    np.savez(d / "reg.npz", X=X, y=np.sin(X[:, 0]) + 0.5 * X[:, 1] * X[:, 2])
    np.savez(d / "bin.npz", X=X, y=(X[:, 0] * X[:, 1] > 0).astype(int))
    return d


def predictions(path, X):
    return load_estimator(path).predict(X)


@pytest.mark.parametrize("name", ["reg", pytest.param("bin", marks=pytest.mark.slow)])
def test_workers_fit_predicts_like_the_single_process_fit(data, name):
    X = np.load(data / f"{name}.npz")["X"]
    out, single = data / f"{name}_sharded.npz", data / f"{name}_single.npz"
    report = data / f"{name}_report.json"
    proc = run_cli("fit", data / f"{name}.npz", "--workers", 2, *TIGHT, "-o", out, "--report", report)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "cluster     2 worker(s) on a local cluster" in proc.stdout
    ref = run_cli("fit", data / f"{name}.npz", *TIGHT, "-o", single, "-q")
    assert ref.returncode == 0, ref.stderr

    r = json.loads(report.read_text())
    assert r["status"] == "optimal" and r["certified"] is True
    assert r["distributed"]["workers"] == 2 and r["distributed"]["scheduler"] == "local"
    assert [p["shards"] for p in r["distributed"]["programs"]] == [2]
    assert r["model"]["patterns_source"] == "sample"

    sharded, reference = load_estimator(out), load_estimator(single)
    model, ref_model = sharded.steps[-1][1], reference.steps[-1][1]
    assert np.array_equal(model.patterns_.gates, ref_model.patterns_.gates)  # same sampled program
    assert abs(model.objective_ - ref_model.objective_) <= 1e-6 * abs(ref_model.objective_)
    if name == "reg":
        scale = np.max(np.abs(reference.predict(X)))
        assert np.max(np.abs(sharded.predict(X) - reference.predict(X))) <= 1e-5 * scale
    else:
        assert np.array_equal(model.classes_, [0, 1])
        scores, ref_scores = sharded.decision_function(X), reference.decision_function(X)
        assert np.max(np.abs(scores - ref_scores)) <= 1e-5 * np.max(np.abs(ref_scores))


@pytest.mark.slow
def test_cluster_fit_on_a_running_scheduler(data):
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None) as cluster:
        with Client(cluster):
            out, report = data / "cluster.npz", data / "cluster.json"
            proc = run_cli(
                "fit", data / "reg.npz", "--cluster", cluster.scheduler_address, *TIGHT, "-o", out,
                "--report", report, "-q",
            )  # fmt: skip
            # the command leaves the scheduler it did not start running
            assert len(cluster.scheduler_info["workers"]) == 2
    assert proc.returncode == 0, proc.stderr
    r = json.loads(report.read_text())
    assert r["distributed"]["scheduler"] == cluster.scheduler_address
    assert r["status"] == "optimal"


REFUSALS = {
    "formulation": (["--formulation", "gated", *TIGHT], "--formulation gated has no sharded solver"),
    "eps": (["--eps", "0.1", *TIGHT], "--eps 0.1 (adversarial training)"),
    "solver": (["--solver", "clarabel", "--patterns", "6"], "Pass --solver admm"),
    "default solver": (["--patterns", "6"], "--solver clarabel cannot run on a cluster"),
    "search": (["--solver", "admm"], "give --patterns N"),
    "search-opt": (["--solver", "admm", "--patterns", "6", "--search-opt", "max_rounds=2"], "--search-opt"),
    "plot": ([*TIGHT, "--plot", "fit.png"], "--plot is not available"),
    "setting": ([*TIGHT, "--solver-opt", "rho_bogus=1"], "Unknown solve_sharded setting(s) ['rho_bogus']"),
}


#: Runs ``main`` on each command line in one interpreter (a subprocess per case costs seconds):
#: prints one JSON line per case with the exit code and what went to stderr.
REFUSAL_SCRIPT = """
import contextlib, io, json, sys
from cvxnn.cli import main
for argv in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main(argv)
    print(json.dumps({"code": code, "stderr": err.getvalue()}))
"""


def test_refusals(data):
    cases = sorted(REFUSALS)
    outs = [data / f"refused_{k}.npz" for k in range(len(cases))]
    argvs = [
        ["fit", str(data / "reg.npz"), "--workers", "2", *REFUSALS[case][0], "-o", str(out)]
        for case, out in zip(cases, outs, strict=True)
    ]
    proc = run_cli(json.dumps(argvs), python=REFUSAL_SCRIPT)
    assert proc.returncode == 0, proc.stderr
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(results) == len(cases)
    for case, out, result in zip(cases, outs, results, strict=True):
        assert result["code"] == 2, (case, result)
        assert REFUSALS[case][1] in result["stderr"], (case, result)
        assert not out.exists(), case


def test_both_options_refused(data):
    proc = run_cli(
        "fit", data / "reg.npz", "--workers", "2", "--cluster", "tcp://127.0.0.1:8786", *TIGHT, "-o", "x"
    )
    assert proc.returncode == 2
    assert "not allowed with argument" in proc.stderr and "Traceback" not in proc.stderr


def test_without_dask_says_what_to_install(data):
    # the interpreter cannot import distributed, as where the extra is not installed
    script = (
        "import sys; sys.modules['distributed'] = None; from cvxnn.cli import main; "
        "sys.exit(main(sys.argv[1:]))"
    )
    out = data / "nodask.npz"
    proc = run_cli("fit", data / "reg.npz", "--workers", "2", *TIGHT, "-o", out, python=script)
    assert proc.returncode == 2, proc.stderr
    assert 'pip install "cvxnn[distributed]"' in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()
