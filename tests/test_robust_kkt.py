"""Newton on the reduced KKT system of the robust hinge programs (``cvxnn.admm.robust_kkt``)."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from cvxnn import relu_program, sample_patterns, solve_admm
from cvxnn.admm.robust_kkt import hinge_kkt_newton
from cvxnn.admm.robust_solver import RobustAdmmSolver
from cvxnn.robust import robust_relu_program


def _program(eps: float = 0.05, seed: int = 0, beta: float = 0.2, n: int = 80):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 3))
    y = np.sign(X[:, 0] - 0.5 * X[:, 1] ** 2 + 0.3 + 0.3 * rng.normal(size=n))
    patterns = sample_patterns(X, 8, random_state=seed, bias=True)
    return robust_relu_program(X, y, patterns, beta=beta, eps=eps, norm="2", loss="hinge")


def _reference(eps: float = 0.05, seed: int = 0) -> tuple[float, np.ndarray]:
    program = _program(eps, seed)
    value = program.problem.solve(solver="CLARABEL")
    return value, np.hstack([program.variables["V"].value, program.variables["W"].value])


def _bound(solver: RobustAdmmSolver, sigma: np.ndarray, gam: np.ndarray) -> float:
    """The weak-duality bound of the loss multipliers ``(y sigma, gam)`` with the exact cone
    multipliers of every block (as the solver builds it)."""
    return solver.dual_bound(solver.structure.y * sigma, gam)


@pytest.mark.parametrize("eps", [0.0, 0.05])
def test_the_admm_finishes_by_newton_at_the_exact_optimum(eps: float) -> None:
    reference, _ = _reference(eps)
    program = _program(eps)
    result = solve_admm(program)
    assert result.status == cp.OPTIMAL
    assert "reduced KKT" in result.message
    # exact to Clarabel's accuracy, not merely to gap_tol = 1e-4
    assert abs(result.objective - reference) <= 1e-7 * abs(reference)
    assert 0.0 <= result.duality_gap <= 1e-9 * abs(result.objective)
    assert result.dual_objective <= reference + 1e-7 * abs(reference)


def test_eps_zero_newton_finish_equals_the_nominal_program() -> None:
    program = _program(0.0)
    nominal = relu_program(program.X, program.y, program.patterns, beta=0.2, loss="hinge")
    reference = nominal.problem.solve(solver="CLARABEL")
    assert solve_admm(program).objective == pytest.approx(reference, rel=1e-7)


def test_newton_from_the_identified_sets_of_the_optimum_is_exact() -> None:
    """Started from Clarabel's solution with the sets read off it (and no multipliers), Newton
    returns the optimum and multipliers whose bound equals it: the system is the right one."""
    reference, U = _reference()
    solver = RobustAdmmSolver(_program())
    st = solver.structure
    U = np.where(np.linalg.norm(U, axis=0) > 1e-6 * np.abs(U).max(), U, 0.0)
    XU = st.X @ U
    st.objective_from(U, XU, solver.beta)
    phi = 1.0 - st.y * st.Fu_from_XU(XU) + st.eps * np.linalg.norm(st.Gbar(U), axis=0)
    kink = np.abs(phi) <= 1e-6
    margins = st.ES2 * XU - st.eps * st.e[:, None] * np.linalg.norm(U[: st.dbar], axis=0)[None, :]
    rows = margins <= 1e-6 * np.abs(XU).max()
    assert kink.any() and rows.any()
    sigma = np.where(kink, 0.5, (phi > 0).astype(float))
    solution = hinge_kkt_newton(st, U, kink, sigma, rows, np.zeros_like(rows, dtype=float), solver.beta)
    assert solution is not None and solution.residual <= 1e-10
    XS = st.X @ solution.U
    value = st.objective_from(solution.U, XS, solver.beta)
    assert value == pytest.approx(reference, rel=1e-7)
    assert st.cone_violation(XS)[1] <= 1e-10
    bound = _bound(solver, solution.sigma, solution.gam)
    assert bound == pytest.approx(value, rel=1e-9)
    assert np.all((solution.sigma >= 0) & (solution.sigma <= 1))
    assert np.all(np.linalg.norm(solution.gam, axis=0) <= st.eps * solution.sigma * (1 + 1e-12) + 1e-15)


@pytest.mark.parametrize("corrupt", ["no_kink", "no_rows", "one_block", "shifted"])
def test_wrong_sets_never_give_a_bound_above_the_optimum(corrupt: str) -> None:
    """Whatever Newton returns from wrong sets, the bound built from it is a lower bound (the
    solver never trusts the system, only the weak-duality bound)."""
    reference, U = _reference()
    solver = RobustAdmmSolver(_program())
    st = solver.structure
    rng = np.random.default_rng(1)
    XU = st.X @ U
    phi = 1.0 - st.y * st.Fu_from_XU(XU) + st.eps * np.linalg.norm(st.Gbar(U), axis=0)
    kink = np.abs(phi) <= 1e-6
    rows = st.ES2 * XU <= 1e-3 * np.abs(XU).max()
    sigma = (phi > 0).astype(float)
    if corrupt == "no_kink":
        kink[:] = False
    elif corrupt == "no_rows":
        rows[:] = False
    elif corrupt == "one_block":
        U = U * (np.arange(U.shape[1]) == np.argmax(np.linalg.norm(U, axis=0)))[None, :]
    else:
        U = U + 0.3 * rng.normal(size=U.shape) * (np.linalg.norm(U, axis=0) > 0)[None, :]
        sigma = rng.random(sigma.size)
    solution = hinge_kkt_newton(st, U, kink, sigma, rows, np.zeros(rows.shape), solver.beta)
    if solution is not None:
        assert _bound(solver, solution.sigma, solution.gam) <= reference + 1e-9 * abs(reference)


@pytest.mark.parametrize(("loss", "norm"), [("squared", "2"), ("logistic", "2"), ("hinge", "inf")])
def test_other_kinds_do_not_try_the_hinge_system(loss: str, norm: str) -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = X[:, 0] if loss == "squared" else np.sign(X[:, 0] + 0.3 * rng.normal(size=40))
    patterns = sample_patterns(X, 4, random_state=0, bias=True)
    program = robust_relu_program(X, y, patterns, beta=0.2, eps=0.03, norm=norm, loss=loss)
    result = solve_admm(program)
    assert result.status == cp.OPTIMAL and "reduced KKT" not in result.message
