"""program.solve() falls back to another installed solver when the first one fails."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest

import cvxnn


def _logistic_program(seed: int) -> cvxnn.ConvexProgram:
    """benchmarks/logistic_forms.py's program: Clarabel fails on seed 24 (and is 5e-4 off, with
    optimal_inaccurate, on seed 1)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((60, 6))
    y = np.where(X @ rng.standard_normal(6) + 0.5 * rng.standard_normal(60) >= 0, 1.0, -1.0)
    beta = float(10 ** rng.uniform(np.log10(0.005), np.log10(0.02)))
    pats = cvxnn.sample_patterns(X, 40, random_state=seed, bias=True)
    return cvxnn.relu_program(X, y, pats, beta=beta, loss="logistic")


@pytest.mark.skipif("SCS" not in cvxnn.usable_solvers(), reason="needs SCS as the fallback")
@pytest.mark.parametrize("named", [False, pytest.param(True, marks=pytest.mark.slow)])
def test_failed_clarabel_solve_falls_back_with_a_warning(named):
    prog = _logistic_program(24)
    with pytest.raises(cp.error.SolverError):
        cvxnn.solvers.solve_problem(prog.problem, "CLARABEL")  # the failure is real
    prog = _logistic_program(24)
    with pytest.warns(UserWarning, match="CLARABEL did not solve this program .*; solved with"):
        value = prog.solve("clarabel") if named else prog.solve()
    assert prog.status == "optimal"
    X, y, beta = prog.X, prog.y, float(prog.beta.value)
    assert prog.network().objective(X, y, beta, "logistic") == pytest.approx(value, rel=1e-6)


def test_a_solved_program_gives_no_warning_and_a_user_limit_is_kept(rng):
    X = rng.standard_normal((20, 3))
    y = np.where(X[:, 0] >= 0, 1.0, -1.0)
    prog = cvxnn.relu_program(X, y, cvxnn.sample_patterns(X, 8, random_state=0), beta=0.1, loss="logistic")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        prog.solve()
    assert prog.status == "optimal"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        prog.solve("CLARABEL", max_iter=1)
    assert prog.status == "user_limit" and not any("did not solve" in str(w.message) for w in caught)


def test_a_solver_that_cannot_take_the_cones_is_not_replaced(rng):
    X = rng.standard_normal((10, 2))
    prog = cvxnn.relu_program(X, X[:, 0], cvxnn.sample_patterns(X, 4, random_state=0), beta=0.1)
    if "OSQP" not in cvxnn.usable_solvers():
        pytest.skip("needs OSQP")
    with pytest.raises(cp.error.SolverError, match="cannot solve"):
        prog.solve("OSQP")
