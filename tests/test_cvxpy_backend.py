"""Contract tests of the CVXPY adapter: ``problem.solve(method=cvxnn.cvxpy_backend.ADMM)``."""

from __future__ import annotations

import dataclasses
import importlib
import warnings

import cvxpy as cp
import numpy as np
import pytest

from cvxnn import cvxpy_backend
from cvxnn.admm import AdmmResult, AdmmSettings
from cvxnn.cvxpy_backend import ADMM, SOLVER_NAME
from cvxnn.exceptions import ConvergenceWarning, InvalidInputError, UnsupportedProblemError
from cvxnn.patterns import sample_patterns
from cvxnn.programs import gated_relu_program, relu_program, scp_program


@pytest.fixture
def program(rng):
    X = rng.standard_normal((40, 4))
    y = np.tanh(X @ rng.standard_normal(4)) + 0.1 * rng.standard_normal(40)
    return relu_program(X, y, sample_patterns(X, 8, random_state=0, bias=True), beta=0.3)


def test_registered_once():
    assert cp.Problem.REGISTERED_SOLVE_METHODS[ADMM] is cvxpy_backend.admm_solve_method
    before = dict(cp.Problem.REGISTERED_SOLVE_METHODS)
    importlib.import_module("cvxnn.cvxpy_backend")
    assert cp.Problem.REGISTERED_SOLVE_METHODS == before


def test_status_value_stats_and_variables(program):
    problem = program.problem
    ref = problem.solve(solver="CLARABEL")
    value = problem.solve(method=ADMM)
    assert problem.status == cp.OPTIMAL
    assert value == problem.value
    assert abs(value - ref) <= 1e-4 * abs(ref)
    # value is the CVXPY objective at the filled variables
    for var in problem.variables():
        assert var.value is not None and np.all(np.isfinite(var.value))
    assert problem.objective.value == pytest.approx(value, rel=1e-12)
    stats = problem.solver_stats
    assert stats.solver_name == SOLVER_NAME
    assert stats.num_iters >= 1
    assert stats.solve_time >= 0 and stats.setup_time >= 0
    assert isinstance(stats.extra_stats, AdmmResult)
    assert stats.extra_stats.objective == pytest.approx(value, rel=1e-12)


def test_stale_duals_cleared(program):
    problem = program.problem
    problem.solve(solver="CLARABEL")
    assert all(c.dual_value is not None for c in problem.constraints)
    problem.solve(method=ADMM)
    assert all(c.dual_value is None for c in problem.constraints)
    # and back: Clarabel on the same object still works after the ADMM
    problem.solve(solver="CLARABEL")
    assert problem.solver_stats.solver_name == "CLARABEL"


def test_program_solve_admm_name(program):
    value = program.solve("ADMM")
    assert program.status == cp.OPTIMAL
    assert value == program.value
    # recovery identity, up to the small cone violation the ADMM point has (exact only when
    # feasible): within the 1e-4 accuracy the ADMM promises
    net_obj = program.network().objective(program.X, program.y, program.beta.value)
    assert net_obj == pytest.approx(value, rel=1e-4)


@pytest.mark.parametrize("builder", [gated_relu_program, scp_program])
def test_other_kinds(builder, rng):
    X = rng.standard_normal((30, 3))
    y = np.where(X[:, 0] * X[:, 1] >= 0, 1.0, -1.0)
    prog = builder(X, y, sample_patterns(X, 6, random_state=2), beta=0.2, loss="logistic")
    ref = prog.problem.solve(solver="CLARABEL")
    value = prog.problem.solve(method=ADMM)
    assert prog.problem.status == cp.OPTIMAL
    assert abs(value - ref) <= 1e-4 * abs(ref)


def test_resolve_warm_starts(program):
    problem = program.problem
    problem.solve(method=ADMM, rho=3.0)
    first = problem.solver_stats.num_iters
    assert first >= 3 * AdmmSettings().check_interval  # else the comparison below means nothing
    problem.solve(method=ADMM, rho=3.0)
    # warm from the converged state: stops at the first residual check
    assert problem.solver_stats.num_iters == AdmmSettings().check_interval
    problem.solve(method=ADMM, rho=3.0, warm_start=False)
    assert problem.solver_stats.num_iters == first


def test_beta_path_through_problem(program):
    problem = program.problem
    problem.solve(method=ADMM)
    program.beta.value = 0.05
    value = problem.solve(method=ADMM, adaptive_rho=False)
    assert problem.solver_stats.extra_stats.n_factorizations == 0
    ref = problem.solve(solver="CLARABEL")
    assert abs(value - ref) <= 1e-4 * abs(ref)


def test_iteration_limit(program):
    problem = program.problem
    with pytest.warns(ConvergenceWarning, match="dual residual"):
        problem.solve(method=ADMM, max_iter=4, warm_start=False)
    assert problem.status in (cp.USER_LIMIT, cp.OPTIMAL_INACCURATE)
    assert all(v.value is not None for v in problem.variables())
    assert problem.solver_stats.num_iters == 4


def test_derived_problems_refused(program):
    p = program.problem
    with pytest.raises(UnsupportedProblemError, match="derived"):
        cp.Problem(p.objective, p.constraints).solve(method=ADMM)
    with pytest.raises(UnsupportedProblemError, match="derived"):
        (p + p).solve(method=ADMM)


def test_foreign_problem_refused():
    x = cp.Variable(2)
    with pytest.raises(UnsupportedProblemError, match="built by cvxnn"):
        cp.Problem(cp.Minimize(cp.sum_squares(x - 1))).solve(method=ADMM)


def test_unknown_setting_refused(program):
    with pytest.raises(InvalidInputError, match=r"\['maxiter'\].*allowed settings.*max_iter"):
        program.problem.solve(method=ADMM, maxiter=10)


def test_solver_kwarg_refused(program):
    with pytest.raises(UnsupportedProblemError, match=r"solver='CLARABEL'.*method=cvxnn\.ADMM"):
        program.problem.solve(method=ADMM, solver="CLARABEL")


def test_unknown_kind_refused(program):
    # kinds are an enumeration (cvxnn.kinds): no program, hence no registered problem, of another kind
    with pytest.raises(InvalidInputError, match=r"Unknown program kind 'mystery'"):
        dataclasses.replace(program, kind="mystery")


def test_solver_error_raises_cvxpy_error():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((20, 3)) * 1e200
    y = rng.standard_normal(20)
    prog = gated_relu_program(X, y, sample_patterns(X, 4, random_state=0), beta=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(cp.error.SolverError, match=SOLVER_NAME):
            prog.problem.solve(method=ADMM)
    assert prog.problem.status == cp.SOLVER_ERROR
    assert all(v.value is None for v in prog.problem.variables())
