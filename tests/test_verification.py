"""Tests of cvxnn.verify (module cvxnn.verification): agreement, point checks, unusable solvers, CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import cvxpy as cp
import numpy as np
import pytest

import cvxnn
from cvxnn.cli import main
from cvxnn.exceptions import InvalidInputError, NotSolvedError
from cvxnn.losses import loss_value
from cvxnn.solvers import installed_solvers, mosek_status
from cvxnn.verification import (
    DEFAULT_RTOL,
    DEFAULT_SOLVERS,
    SolverResult,
    VerificationReport,
    check_point,
    implied_bound_errors,
    verify,
)

HAVE_GUROBI = "GUROBI" in installed_solvers()
TIGHT = ("CLARABEL", "ECOS", "GUROBI")


# --------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def data():
    """n=10, d=2 labels in {-1, +1}: small enough for GUROBI's size-limited license on every kind."""
    rng = np.random.default_rng(7)
    X = rng.standard_normal((10, 2))
    y = np.where(X[:, 0] - 0.5 * X[:, 1] + 0.3 * rng.standard_normal(10) >= 0, 1.0, -1.0)
    patterns = cvxnn.sample_patterns(X, 4, random_state=3)
    return X, y, patterns


def _build(kind, loss, norm, data, beta=0.1, eps=0.1):
    X, y, patterns = data
    if kind == "relu":
        return cvxnn.relu_program(X, y, patterns, beta=beta, loss=loss)
    if kind == "gated_relu":
        return cvxnn.gated_relu_program(X, y, patterns, beta=beta, loss=loss)
    if kind == "scp":
        return cvxnn.scp_program(X, y, patterns, beta=beta, loss=loss)
    from cvxnn.robust import robust_relu_program

    return robust_relu_program(X, y, patterns, beta=beta, eps=eps, norm=norm, loss=loss)


LOSSES = ("squared", "logistic", "hinge")
CASES = [(kind, loss, None) for kind in ("relu", "gated_relu", "scp") for loss in LOSSES] + [
    ("robust_relu", loss, norm) for loss in LOSSES for norm in ("inf", "2", "1")
]


def _cone_violation(program, V, W):
    """NumPy cone residual, written independently of cvxnn.verify."""
    S = 2.0 * program.patterns.D - 1.0
    Xa = program.design
    return max(float(np.max(-S * (Xa @ V))), float(np.max(-S * (Xa @ W))), 0.0)


# --------------------------------------------------------------------------- agreement
@pytest.mark.parametrize(("kind", "loss", "norm"), CASES)
def test_clarabel_ecos_gurobi_agree_on_every_kind(kind, loss, norm, data):
    program = _build(kind, loss, norm, data)
    report = verify(program, ["CLARABEL", "ECOS", "GUROBI"])

    for name in ("CLARABEL", "ECOS"):
        res = report[name]
        assert res.status == cp.OPTIMAL
        assert res.outcome in ("reference", "agrees"), res.reason
        assert res.rel_diff <= DEFAULT_RTOL[name]
        assert res.rel_violation <= 1e-6
        # the recovered network's objective: equal for ReLU/SCP/gated, never above for robust
        if kind == "robust_relu":
            assert res.network_objective <= res.objective * (1 + 1e-6)
        else:
            assert res.network_objective == pytest.approx(res.objective, rel=1e-6)

    # The measured objective is the program's objective, not the solver's word: compare with an
    # independent solve of a freshly built copy of the program.
    fresh = _build(kind, loss, norm, data)
    fresh.problem.solve(solver="CLARABEL")
    assert report["CLARABEL"].objective == pytest.approx(fresh.value, rel=1e-7)

    gurobi = report["GUROBI"]
    if not HAVE_GUROBI:
        assert gurobi.outcome == "skipped" and "not installed" in gurobi.reason
    elif loss == "logistic":
        assert gurobi.outcome == "skipped" and gurobi.reason.startswith("kind not supported")
    elif gurobi.outcome == "worked around":
        # Only when CVXPY hands GUROBI wrong implied bounds (CVXPY 1.9 defect), and the report
        # must say so: a warning, not a disagreement. program now holds the reference point.
        assert implied_bound_errors(program.problem), gurobi.reason
        assert gurobi.notes and "implied bounds" in gurobi.notes[0]
        assert report.agree and not report.strict_agree and report.worked_around == ["GUROBI"]
        assert "implied-bounds defect" in report.warnings[0] and "warning: GUROBI" in report.verdict
        # ... and GUROBI itself agrees once CVXPY's implied bounds are turned off
        retry = report["GUROBI (no implied bounds)"]
        assert retry.outcome in ("reference", "agrees"), retry.reason
        assert retry.rel_diff <= DEFAULT_RTOL["GUROBI"]
    else:
        assert gurobi.outcome in ("reference", "agrees"), gurobi.reason
        assert gurobi.rel_diff <= DEFAULT_RTOL["GUROBI"]
    assert report.agree == (report.disagreeing == [])
    assert set(report.disagreeing) <= {"GUROBI"}
    assert report.verdict.startswith("AGREE" if report.agree else "DISAGREE")


def test_default_solver_set_reports_every_solver(data):
    program = _build("scp", "squared", None, data)
    report = verify(program)
    names = [r.name for r in report.results]
    assert names == [*DEFAULT_SOLVERS, "ADMM"]
    for res in report.results:
        assert res.outcome in ("reference", "agrees", "skipped"), (res.name, res.reason)
        if res.outcome == "skipped":
            assert res.reason
    # an SCP program with the squared loss is a QP: OSQP accepts it
    assert report["OSQP"].ran
    assert report.agree
    assert report.verdict.startswith("AGREE")


def test_program_holds_the_reference_solution_after_verify(data):
    program = _build("relu", "squared", None, data)
    report = verify(program, ["ECOS", "SCS", "CLARABEL"])
    ref = report[report.reference]
    assert program.status == ref.status
    assert program.value == pytest.approx(ref.objective, rel=1e-12)
    for name, var in program.variables.items():
        np.testing.assert_allclose(var.value, ref.values[name])
    # the program stays usable: recovery works and a re-solve runs
    assert program.network().objective(program.X, program.y, 0.1, "squared") == pytest.approx(
        ref.objective, rel=1e-5
    )
    assert program.solve("CLARABEL") == pytest.approx(ref.objective, rel=1e-6)


def test_restore_false_keeps_last_solver_values(data):
    program = _build("relu", "squared", None, data)
    report = verify(program, ["CLARABEL", "SCS"], restore=False)
    for name, var in program.variables.items():
        np.testing.assert_array_equal(var.value, report["SCS"].values[name])


# --------------------------------------------------------------------------- wrong points flagged
def test_scaled_solution_is_flagged_by_objective(data):
    program = _build("relu", "squared", None, data)
    report = verify(program, ["CLARABEL", "ECOS"])
    assert report.agree
    ref = report[report.reference]
    # scaling keeps every cone constraint satisfied, so only the objective can catch it
    scaled = {k: 1.02 * v for k, v in ref.values.items()}
    res = report.add_external("scaled", scaled)
    assert res.status == "external"
    assert res.outcome == "disagrees"
    assert "objective rel. diff" in res.reason and "violation" not in res.reason
    assert res.rel_violation <= 1e-6
    assert not report.agree
    assert "scaled" in report.disagreeing and "scaled" in report.verdict
    assert report.reference != "scaled"


def test_infeasible_point_is_flagged_by_violation(data):
    program = _build("relu", "hinge", None, data)
    report = verify(program, ["CLARABEL"])
    ref = report["CLARABEL"]
    V = ref.values["V"].copy()
    W = ref.values["W"].copy()
    rng = np.random.default_rng(0)
    V_bad = V + 0.05 * rng.standard_normal(V.shape)
    point = {"V": V_bad, "W": W}
    res = check_point(program, point, name="noisy")
    # violation measured by cvxnn equals an independent NumPy computation
    assert res.max_violation == pytest.approx(_cone_violation(program, V_bad, W), rel=1e-9)
    assert res.max_violation > 1e-3
    # objective is the program's objective at that point
    X, y, patterns = data
    yhat = np.sum(patterns.D * (X @ (V_bad - W)), axis=1)
    reg = np.linalg.norm(V_bad, axis=0).sum() + np.linalg.norm(W, axis=0).sum()
    assert res.objective == pytest.approx(loss_value(yhat, y, "hinge") + 0.1 * reg, rel=1e-10)
    assert res.outcome == "unchecked"
    # checking did not disturb the program
    np.testing.assert_array_equal(program.variables["V"].value, V)

    res = report.add_external("noisy", point)
    assert res.outcome == "disagrees" and "violation" in res.reason
    assert not report.agree


def test_external_copy_of_reference_agrees(data):
    program = _build("gated_relu", "squared", None, data)
    report = verify(program, ["CLARABEL", "ECOS"])
    ref = report[report.reference]
    res = report.add_external("copy", ref.values)
    assert res.outcome == "agrees" and res.rel_diff == pytest.approx(0.0, abs=1e-14)
    assert report.agree


def test_external_point_validation(data):
    program = _build("relu", "squared", None, data)
    d, P = program.variables["V"].shape
    with pytest.raises(InvalidInputError, match="missing"):
        check_point(program, {"V": np.zeros((d, P))})
    with pytest.raises(InvalidInputError, match="shape"):
        check_point(program, {"V": np.zeros((d + 1, P)), "W": np.zeros((d, P))})
    with pytest.raises(InvalidInputError, match="non-finite"):
        check_point(program, {"V": np.full((d, P), np.nan), "W": np.zeros((d, P))})
    report = verify(program, ["CLARABEL"])
    with pytest.raises(InvalidInputError, match="already"):
        report.add_external("CLARABEL", report["CLARABEL"].values)


def test_strict_tolerance_makes_solvers_disagree(data):
    program = _build("relu", "squared", None, data)
    report = verify(program, ["CLARABEL", "ECOS"], rtol=1e-15)
    assert [r.rtol for r in report.results] == [1e-15, 1e-15]
    assert not report.agree
    assert len(report.disagreeing) == 1
    report = verify(program, ["CLARABEL", "ECOS"], rtol={"ECOS": 1e-3})
    assert report["ECOS"].rtol == 1e-3 and report["CLARABEL"].rtol == DEFAULT_RTOL["CLARABEL"]


# --------------------------------------------------------------------------- unusable solvers
def test_mosek_reported_whether_or_not_usable(data):
    program = _build("relu", "squared", None, data)
    report = verify(program, ["CLARABEL", "MOSEK"])
    usable, reason = mosek_status()
    if usable:
        assert report["MOSEK"].outcome in ("reference", "agrees")
    else:
        assert report["MOSEK"].outcome == "skipped"
        assert report["MOSEK"].reason == reason
        assert "not installed" in reason or "license" in reason
        assert report.agree  # a solver that cannot run is not a disagreement


@pytest.mark.skipif(not HAVE_GUROBI, reason="gurobipy is not installed")
def test_gurobi_over_size_limited_license():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((120, 8))
    y = rng.standard_normal(120)
    program = cvxnn.relu_program(X, y, cvxnn.sample_patterns(X, 12, random_state=0), beta=0.1)
    program.solve("CLARABEL")
    before = np.array(program.variables["V"].value)
    report = verify(program, ["GUROBI"])
    res = report["GUROBI"]
    if res.outcome == "skipped":
        assert res.reason.startswith("over the size-limited license")
        assert report.reference is None and not report.agree
        assert report.verdict.startswith("NO VERDICT")
        # no solver returned a point: the program keeps the values it had
        np.testing.assert_array_equal(program.variables["V"].value, before)
    else:  # a full GUROBI license is installed
        assert res.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)


def test_kind_not_supported_is_reported(data):
    program = _build("relu", "squared", None, data)
    report = verify(program, ["CLARABEL", "OSQP"])
    assert report["OSQP"].outcome == "skipped"
    assert "kind not supported" in report["OSQP"].reason and "second-order-cone" in report["OSQP"].reason
    assert report.agree


def test_admm_on_robust_kind_is_reported(data):
    program = _build("robust_relu", "hinge", "inf", data)
    report = verify(program, ["CLARABEL", "ADMM"])
    res = report["ADMM"]
    assert res.outcome == "skipped" and res.reason.startswith("kind not supported")


def test_admm_on_relu(data):
    program = _build("relu", "squared", None, data)
    report = verify(program, ["CLARABEL", "ADMM"])
    res = report["ADMM"]
    assert res.outcome in ("agrees", "reference"), res.reason
    assert res.rel_diff <= DEFAULT_RTOL["ADMM"]


def test_implied_bound_errors_clean_problem():
    x = cp.Variable(3)
    problem = cp.Problem(cp.Minimize(cp.sum(cp.abs(x - 1.0))))
    problem.solve(solver="CLARABEL")
    assert implied_bound_errors(problem) == []


# --------------------------------------------------------------------------- bad input
def test_bad_input(data):
    program = _build("relu", "squared", None, data)
    with pytest.raises(InvalidInputError, match="ConvexProgram"):
        verify(program.problem)
    with pytest.raises(InvalidInputError, match="Unknown solver"):
        verify(program, ["CLARABEL", "NOT_A_SOLVER"])
    with pytest.raises(InvalidInputError, match="empty"):
        verify(program, [])
    with pytest.raises(InvalidInputError, match="positive"):
        verify(program, ["CLARABEL"], rtol=-1.0)
    with pytest.raises(InvalidInputError, match="not among"):
        verify(program, ["CLARABEL"], solver_options={"SCS": {"eps": 1e-6}})


# --------------------------------------------------------------------------- output
def test_json_round_trip_and_table(data):
    program = _build("relu", "hinge", None, data)
    report = verify(program, "clarabel,ecos,mosek,osqp")
    report.add_external("scaled", {k: 1.1 * v for k, v in report["CLARABEL"].values.items()})
    text = report.to_json()
    assert json.loads(text) == report.to_dict()
    again = VerificationReport.from_json(text)
    assert again.to_dict() == report.to_dict()
    assert again.agree == report.agree and again.reference == report.reference
    assert isinstance(again["ECOS"], SolverResult)
    with pytest.raises(NotSolvedError):
        again.add_external("x", {})
    with pytest.raises(InvalidInputError):
        VerificationReport.from_json("{not json")

    table = str(report)
    lines = table.splitlines()
    assert lines[0].startswith("cvxnn verify: relu program, hinge loss, n=10 d=2")
    for name in ("CLARABEL", "ECOS", "MOSEK", "OSQP", "scaled"):
        assert any(line.startswith(name) for line in lines)
    assert lines[-1] == "verdict: " + report.verdict
    assert "DISAGREE" in report.verdict and "scaled" in report.verdict


# --------------------------------------------------------------------------- CLI
def test_cli_agreement_and_json(tmp_path, capsys):
    out = tmp_path / "report.json"
    argv = "verify sklearn:breast_cancer --loss logistic --max-samples 12 --patterns 3"
    assert main([*argv.split(), "--solvers", "CLARABEL,ECOS", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "verdict: AGREE" in printed and "logistic loss, n=12" in printed
    saved = json.loads(out.read_text())
    assert saved["agree"] is True and saved["program"]["kind"] == "relu"


def test_cli_uses_the_fit_defaults(capsys):
    """verify, inspect and fit share one option set: same beta, patterns and bias by default."""
    assert main("verify sklearn:breast_cancer --max-samples 12 --solvers CLARABEL".split()) == 0
    printed = capsys.readouterr().out
    assert "+bias, beta=1" in printed and "training samples (standardized)" in printed


def test_cli_disagreement_and_bad_input_exit_codes(capsys):
    argv = "verify sklearn:iris --max-samples 12 --patterns 3 --rtol 1e-15 --formulation gated"
    assert main([*argv.split(), "--solvers", "CLARABEL,ECOS"]) == 1
    assert "verdict: DISAGREE" in capsys.readouterr().out
    assert main(["verify", "sklearn:diabetes", "--loss", "hinge", "--max-samples", "12"]) == 2
    assert "needs class labels" in capsys.readouterr().err


def test_cli_robust(capsys):
    argv = "verify sklearn:digits-2v8 --loss hinge --eps 0.05 --norm 2 --max-samples 10 --patterns 3"
    assert main([*argv.split(), "--solvers", "CLARABEL,ECOS", "--bias"]) == 0
    printed = capsys.readouterr().out
    assert "robust_relu program" in printed and "eps=0.05 (l_2)" in printed


def test_cli_subprocess():
    cmd = [sys.executable, "-m", "cvxnn", "verify", "sklearn:iris", "--max-samples", "10"]
    cmd += ["--patterns", "3", "--solvers", "CLARABEL,ECOS"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "verdict: AGREE" in proc.stdout


def test_iteration_limit_is_a_failure_not_a_disagreement(data):
    program = _build("scp", "squared", None, data)
    report = verify(program, ["CLARABEL", "OSQP"], solver_options={"osqp": {"max_iter": 3, "polish": False}})
    osqp = report["OSQP"]
    assert osqp.status == cp.USER_LIMIT and osqp.iterations == 3
    assert osqp.outcome == "failed" and "iteration limit" in osqp.reason
    assert report.agree and "failed: OSQP" in report.verdict
    assert report.failed == {"OSQP": osqp.reason}


@pytest.mark.skipif(not HAVE_GUROBI, reason="gurobipy not installed")
def test_cli_verify_warns_on_the_worked_around_cvxpy_defect(tmp_path):
    """A 25-row hinge program: plain GUROBI disagrees through CVXPY's implied bounds, the re-run
    without them agrees; a warning and exit 0, exit 1 with --strict."""
    report = tmp_path / "verify.json"
    argv = "verify sklearn:iris --loss hinge --max-samples 25 --patterns 4 --solvers CLARABEL,GUROBI"
    cmd = [sys.executable, "-m", "cvxnn", *argv.split(), "--report", str(report)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "worked around" in proc.stdout and "warning: GUROBI disagrees" in proc.stdout
    assert "CVXPY implied-bounds defect" in proc.stdout
    saved = json.loads(report.read_text())
    assert saved["agree"] is True and saved["strict_agree"] is False
    assert saved["warnings"] and "implied-bounds defect" in saved["warnings"][0]
    strict = subprocess.run([*cmd[:-2], "--strict"], capture_output=True, text=True, timeout=120)
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "--strict" in strict.stderr
