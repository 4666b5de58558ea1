"""The robust ADMM's zero screen: the zero network certified optimal before any iteration."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest

from cvxnn import ADMM, robust_relu_program, sample_patterns, solve_admm
from cvxnn.admm import AdmmProgress
from cvxnn.admm.robust_solver import RobustAdmmSolver
from cvxnn.exceptions import ConvergenceWarning

LOSSES = ("hinge", "squared", "logistic")
NORMS = ("inf", "2", "1")


def _program(loss: str, norm: str, eps: float, bias: bool = True, beta: float = 0.2):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(24, 2))
    if loss == "squared":
        y = X[:, 0] + 0.3 * rng.normal(size=24)
    else:
        y = np.sign(X[:, 0] + 0.5 * rng.normal(size=24))
    patterns = sample_patterns(X, 4, random_state=3, bias=bias)
    return robust_relu_program(X, y, patterns, beta=beta, eps=eps, norm=norm, loss=loss)


def _zero_objective(program) -> float:
    """The objective of the zero network: the loss at predictions 0."""
    y = np.asarray(program.y, dtype=float)
    loss = program.loss
    if loss == "hinge":
        return float(y.size)
    if loss == "squared":
        return 0.5 * float(y @ y)
    return float(y.size * np.log(2.0))


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("loss", LOSSES)
def test_a_large_radius_returns_the_certified_zero_network_at_iteration_zero(loss: str, norm: str) -> None:
    reference = _program(loss, norm, eps=0.3).problem.solve(solver="CLARABEL")
    program = _program(loss, norm, eps=0.3)
    result = solve_admm(program)
    assert result.status == cp.OPTIMAL and result.iterations == 0
    assert "zero screen" in result.message
    assert not result.values["V"].any() and not result.values["W"].any()
    assert result.objective == pytest.approx(_zero_objective(program), rel=1e-12)
    # the zero network is the optimum (Clarabel agrees) and the certificate is tight
    assert abs(result.objective - reference) <= 1e-6 * abs(reference)
    assert abs(result.duality_gap) <= 1e-4 * abs(result.objective)
    assert result.dual_objective <= reference + 1e-7 * abs(reference)
    assert result.cone_violation == 0.0


@pytest.mark.parametrize(("loss", "norm"), [("hinge", "inf"), ("squared", "2"), ("logistic", "1")])
def test_the_screen_is_a_valid_bound_and_does_not_fire_at_a_nonzero_optimum(loss: str, norm: str) -> None:
    reference = _program(loss, norm, eps=0.03).problem.solve(solver="CLARABEL")
    program = _program(loss, norm, eps=0.03)
    assert reference < 0.95 * _zero_objective(program)  # the zero network is far from optimal here
    solver = RobustAdmmSolver(program)
    solver.structure.eps = solver.eps
    assert solver.zero_network_bound() <= reference + 1e-7 * abs(reference)
    result = solver.solve()
    assert result.status == cp.OPTIMAL and result.iterations > 0
    assert abs(result.objective - reference) <= 1e-4 * abs(reference)


def test_without_bias_the_screen_certifies_the_zero_network() -> None:
    program = _program("logistic", "2", eps=0.5, bias=False)
    reference = _program("logistic", "2", eps=0.5, bias=False).problem.solve(solver="CLARABEL")
    result = solve_admm(program)
    assert result.status == cp.OPTIMAL and result.iterations == 0
    assert abs(result.objective - reference) <= 1e-6 * abs(reference)


def test_an_eps_path_through_the_zero_network_warm_starts_both_ways() -> None:
    program = _program("hinge", "2", eps=0.03)
    objectives = []
    for eps in (0.03, 0.3, 0.01):
        program.eps.value = eps
        program.solve("ADMM")
        result = program.problem.solver_stats.extra_stats
        assert result.status == cp.OPTIMAL
        objectives.append(result.objective)
        assert (result.iterations == 0) == (eps == 0.3)
    assert objectives[2] < objectives[0] < objectives[1] == 24.0
    program.eps.value = 0.01
    assert objectives[2] == pytest.approx(program.problem.solve(solver="CLARABEL"), rel=1e-4)


def test_the_screened_result_reports_progress_history_and_prints(capsys) -> None:
    program = _program("squared", "inf", eps=0.3)
    seen: list[AdmmProgress] = []
    program.problem.solve(method=ADMM, callback=seen.append, verbose=True)
    result = program.problem.solver_stats.extra_stats
    assert [p.iteration for p in seen] == [0] and seen[0].gap_bound == pytest.approx(result.duality_gap)
    assert list(result.history["iteration"]) == [0]
    assert result.primal_residual == 0.0 and result.dual_residual == 0.0
    assert "optimal" in capsys.readouterr().out


def test_no_screen_without_certificates() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = solve_admm(_program("hinge", "inf", eps=0.3), {"gap_tol": None})
    assert result.iterations > 0


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_the_screen_with_the_slack_splitting(norm: str) -> None:
    result = solve_admm(_program("hinge", norm, eps=0.3), {"cone_method": "slack"})
    assert result.status == cp.OPTIMAL and result.iterations == 0
    assert result.primal_residual == 0.0 and result.dual_residual == 0.0 and "s" in result.rho
    assert result.objective == 24.0 and not result.values["V"].any()
