"""The exact projection onto the robust cones (``cvxnn.admm.robust_projection``) against Clarabel
through CVXPY."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from cvxnn.admm.robust_projection import RobustConeProjector, robust_margins


def _cones(seed: int = 0, n: int = 60, d: int = 4, J: int = 6):
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.normal(size=(n, d)), np.ones((n, 1))])
    H = rng.normal(size=(d + 1, J))
    signs = np.sign(X @ H)
    return X, signs, 1.0 / np.linalg.norm(X, axis=1), H + 0.5 * rng.normal(size=H.shape)


def _reference(X, signs, C, eps, q, d) -> np.ndarray:
    n, J = signs.shape
    U = cp.Variable(C.shape)
    rhs = np.ones((n, 1)) @ cp.reshape(eps * cp.norm(U[:d], q, axis=0), (1, J), order="C")
    problem = cp.Problem(cp.Minimize(cp.sum_squares(U - C)), [cp.multiply(signs, X @ U) >= rhs])
    problem.solve(solver="CLARABEL")
    return U.value


@pytest.mark.parametrize("eps", [0.0, 0.05, 0.3])
@pytest.mark.parametrize("q", [1.0, 2.0, np.inf])
def test_projection_matches_clarabel_and_is_feasible(q: float, eps: float) -> None:
    X, signs, e, C = _cones()
    d = X.shape[1] - 1
    projector = RobustConeProjector(X, signs, e, d, q, width=5)  # few rows: row generation runs
    U = projector.project(C, eps)
    assert projector.exact and projector.rounds >= 2
    assert np.abs(U - _reference(X, signs, C, eps, q, d)).max() <= 1e-5
    margins = robust_margins(X @ U, U, signs, e, eps, q, d)
    assert margins.min() >= -1e-9
    # a point already in every cone is returned unchanged, without a solve
    inside = RobustConeProjector(X, signs, e, d, q)
    assert np.array_equal(inside.project(np.zeros_like(C), eps), np.zeros_like(C)) and inside.rounds == 0


def test_margins_are_scaled_and_signed() -> None:
    X, signs, e, C = _cones(n=8, d=2, J=3)
    m = robust_margins(X @ C, C, signs, e, 0.1, 1.0, 2)
    expected = e[:, None] * (signs * (X @ C) - 0.1 * np.abs(C[:2]).sum(axis=0)[None, :])
    np.testing.assert_allclose(m, expected)
