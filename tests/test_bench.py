"""Smoke tests of the benchmark harness (cvxnn_bench) on toy sizes; no timing assertions."""

from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

import cvxnn_bench as bench
from cvxnn.exceptions import InvalidInputError


def _sleep() -> None:
    time.sleep(30)


def _die() -> None:
    os._exit(3)


def _fail() -> None:
    raise RuntimeError("boom in the child")


def _allocate() -> float:
    block = np.ones((40, 1024, 1024 // 8))  # 40 MiB of float64
    return float(block.sum())


def test_isolated_run_returns_value_and_measures_memory():
    res = bench.run_isolated(_allocate, timeout=60)
    assert res.outcome == "ok"
    assert res.value == 40 * 1024 * 128
    # the 40 MiB array was resident at the peak of the call
    assert res.peak_delta_mb is not None and res.peak_delta_mb >= 35
    assert res.peak_rss_mb >= res.peak_delta_mb


def test_isolated_run_timeout_crash_and_error_are_reported():
    start = time.perf_counter()
    res = bench.run_isolated(_sleep, timeout=0.5)
    assert res.outcome == "timeout"
    assert time.perf_counter() - start < 20  # the child was killed, not waited for
    crashed = bench.run_isolated(_die, timeout=30)
    assert crashed.outcome == "crashed" and crashed.exitcode == 3
    failed = bench.run_isolated(_fail, timeout=30)
    assert failed.outcome == "error" and "boom in the child" in failed.error
    with pytest.raises(InvalidInputError, match="timeout"):
        bench.run_isolated(_allocate, timeout=0)


def test_objective_and_violation_match_cvxpy_on_a_solved_program():
    case = bench.make_case(40, 3, 6, lam=1e-2, seed=3)
    program = case.program
    program.solve("CLARABEL")
    V, W = program.variables["V"].value, program.variables["W"].value
    f = bench.program_objective(program, V, W)
    assert f == pytest.approx(program.value, rel=1e-9)
    _, rel = bench.cone_violation(program, V, W)
    assert rel < 1e-6
    # an infeasible point is flagged: flip the sign of a nonzero block
    i = int(np.argmax(np.linalg.norm(V, axis=0) + np.linalg.norm(W, axis=0)))
    Vbad = V.copy()
    Vbad[:, i] = -(V[:, i] + W[:, i]) - 1.0
    assert bench.cone_violation(program, Vbad, W)[1] > 1e-3
    assert bench.relative_gap(2.0, 1.0) == pytest.approx(1.0)
    assert bench.relative_gap(1.0, 1.0) == 0.0


def test_quick_suite_end_to_end(tmp_path, capsys):
    out = tmp_path / "r.json"
    md = tmp_path / "r.md"
    code = bench.main(
        [
            "--sizes",
            "50,4,6",
            "--solvers",
            "CLARABEL,ECOS,MOSEK,ADMM",
            "--timeout",
            "120",
            "ECOS=90",
            "--out",
            str(out),
            "--markdown",
            str(md),
        ]
    )
    assert code == 0
    report = json.loads(out.read_text())
    assert report["machine"]["cores"] >= 1
    assert report["versions"]["cvxpy"]
    assert report["settings"]["timeout_s"] == {"*": 120.0, "ECOS": 90.0}
    (case,) = report["cases"]
    assert case["size"] == [50, 4, 6]
    results = {r["solver"]: r for r in case["results"]}
    clarabel, ecos = results["CLARABEL"], results["ECOS"]
    assert clarabel["status"] == "optimal"
    assert case["reference_objective"] == pytest.approx(clarabel["objective"])
    assert clarabel["rel_gap"] == 0.0 and clarabel["reached_target"]
    # the harness's own objective agrees with CVXPY's reported value for each generic solver
    for r in (clarabel, ecos):
        assert r["objective"] == pytest.approx(r["reported_value"], rel=1e-6)
        assert r["compile_s"] >= 0 and r["solver_s"] >= 0
        assert r["total_s"] >= r["compile_s"]
    assert abs(ecos["rel_gap"]) < 1e-4
    # MOSEK is never a failure: it ran (licensed) or was skipped with the reason
    assert results["MOSEK"]["outcome"] in ("ok", "skipped")
    if results["MOSEK"]["outcome"] == "skipped":
        assert "MOSEK" in results["MOSEK"]["note"]
    admm = results["ADMM"]
    assert admm["outcome"] == "ok", admm
    # the harness's NumPy objective agrees with the ADMM's own report at the returned point
    assert admm["objective"] == pytest.approx(admm["reported_value"], rel=1e-9)
    assert admm["rel_gap"] > -1e-2
    # the recorded dual bound is a true lower bound on the optimum (weak duality)
    assert admm["extra"]["dual_objective"] <= results["CLARABEL"]["objective"] * (1 + 1e-7)
    table = md.read_text()
    assert "| CLARABEL | optimal |" in table
    assert "(n, d, P) = (50, 4, 6)" in capsys.readouterr().out


def test_generic_solvers_are_not_attempted_past_the_size_cap(tmp_path):
    case = bench.make_case(30, 3, 4, seed=1)
    result = bench.run_case(case, ["CLARABEL", "SCS"], timeout=60, generic_max_nnz=10, log=lambda _: None)
    assert [r["outcome"] for r in result["results"]] == ["skipped", "skipped"]
    assert "not attempted" in result["results"][0]["note"]
    assert result["reference_objective"] is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sizes", "10,2"], "a size is N,D,P"),
        (["--sizes", "0x3x4"], "sizes must be positive"),
        (["--solvers", "CLARABEL,GUROBO"], "unknown solver(s) ['GUROBO']; allowed"),
        (["--timeout", "-1"], "timeout must be positive"),
        (["--timeout", "SCSS=10"], "unknown solver 'SCSS'"),
        (["--timeout", "SCS=soon"], "a timeout is SECONDS or SOLVER=SECONDS"),
    ],
)
def test_bad_arguments_are_refused(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        bench.main(argv)
    assert info.value.code == 2
    # the usage line always names --sizes and --timeout: check the error line itself
    assert message in capsys.readouterr().err.splitlines()[-1]


@pytest.mark.skipif(
    __import__("importlib").util.find_spec("scnn") is None, reason="pyscnn (optional) not installed"
)
def test_pyscnn_runs_on_the_same_patterns():
    case = bench.make_case(40, 3, 6, lam=1e-2, seed=2)
    result = bench.run_case(
        case,
        ["CLARABEL", "PYSCNN"],
        timeout=120,
        pyscnn_options={"max_primal_iters": 200, "max_dual_iters": 20},
        log=lambda _: None,
    )
    py = result["results"][1]
    assert py["outcome"] == "ok", py
    assert py["same_patterns"]
    # a feasible-ish point of the same program cannot beat the optimum by more than its violation allows
    assert py["rel_gap"] > -1e-3


def test_admm_settings_per_size():
    settings = {"*": {"time_limit": 600}, "50000x100x100": {"eps_abs": 1e-4}}
    assert bench.settings_for_size(settings, (50000, 100, 100)) == {"time_limit": 600, "eps_abs": 1e-4}
    assert bench.settings_for_size(settings, (500, 30, 50)) == {"time_limit": 600}
    assert bench.settings_for_size({"max_iter": 5}, (1, 2, 3)) == {"max_iter": 5}
    assert bench.settings_for_size(None, (1, 2, 3)) == {}


def _record(solver, objective, violation, status="optimal", total=1.0):
    return {
        "solver": solver,
        "outcome": "ok",
        "status": status,
        "objective": objective,
        "cone_violation_rel": violation,
        "total_s": total,
    }


def _report(case):
    """A saved report around one scored case, as ``run`` writes it."""
    report = {"machine": {"cpu": "x", "cores": 2, "memory_gib": 1, "platform": "p"}, "versions": {}}
    report.update(started_utc="t", cases=[{**case, "size": [1, 1, 1], "n_patterns_effective": 1}])
    report["cases"][0].update(beta=1.0, lam_pyscnn=1.0, generic_attempted=True, generic_note="")
    return report


def test_reference_prefers_points_feasible_to_solver_precision(tmp_path):
    case = {
        "results": [
            _record("CLARABEL", 100.0, 1e-9, status="optimal_inaccurate", total=50.0),
            _record("ADMM", 99.97, 5e-5, total=5.0),  # below the reference thanks to infeasibility
            _record("PYSCNN", 100.5, 1e-5, status="returned", total=10.0),
            _record("SCS", 99.0, 3e-4),  # too infeasible to meet the target
            {"solver": "ECOS", "outcome": "timeout", "total_s": 180.0},
        ]
    }
    bench.score_case(case)
    assert case["reference_objective"] == 100.0 and "CLARABEL" in case["reference_source"]
    by = {r["solver"]: r for r in case["results"]}
    assert by["ADMM"]["rel_gap"] == pytest.approx(-3e-4) and by["ADMM"]["reached_target"]
    assert by["ADMM"]["speedup_vs_clarabel"] == pytest.approx(10.0)
    assert not by["PYSCNN"]["reached_target"] and not by["SCS"]["reached_target"]
    assert "rel_gap" not in by["ECOS"]
    # without any point feasible to 1e-6 the reference falls back to the 1e-4-feasible ones
    case["results"] = case["results"][1:3]
    bench.score_case(case)
    assert case["reference_objective"] == 99.97 and "<= 0.0001" in case["reference_source"]
    # --rescore applies the same rules to a saved report without solving
    saved = tmp_path / "saved.json"
    saved.write_text(__import__("json").dumps(_report(case)))
    assert bench.main(["--rescore", str(saved)]) == 0
    assert __import__("json").loads(saved.read_text())["cases"][0]["reference_objective"] == 99.97


def test_markdown_gives_the_admm_certificate_where_no_reference_exists():
    admm = {**_record("ADMM", 100.0, 8e-3), "extra": {"dual_objective": 99.0}}
    case = {"results": [admm]}
    bench.score_case(case)
    assert case["reference_objective"] is None  # 8e-3 violation: no trustworthy reference
    assert "certified rel. gap (objective - dual bound) 0.01" in bench.markdown_table(_report(case))


def test_per_iteration_script_measures_a_steady_state(tmp_path):
    """``benchmarks/per_iteration.py`` end to end on a toy size: the warm-started runs must run
    exactly the requested iterations (the script raises otherwise) and the record is complete."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "per_iteration.py"
    spec = importlib.util.spec_from_file_location("per_iteration", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out, md = tmp_path / "p.json", tmp_path / "p.md"
    argv = ["120,4,6", "--iterations", "20", "--repeats", "1", "--out", str(out), "--markdown", str(md)]
    assert script.main(argv) == 0
    record = json.loads(out.read_text())
    (row,) = record["rows"]
    assert row["size"] == [120, 4, 6] and row["m"] == min(120, 4 * row["patterns"])
    assert row["cold_status"] == "optimal"
    assert row["four_products_ms"] > 0 and row["symmetric_product_ms"] > 0
    assert row["ratio"] == pytest.approx(row["iteration_ms"] / row["four_products_ms"], rel=0.05, abs=0.02)
    assert record["command"].startswith("OMP_NUM_THREADS=1 python benchmarks/per_iteration.py 120,4,6")
    assert "(120, 4, 6)" in md.read_text()
