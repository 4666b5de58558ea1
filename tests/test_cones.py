"""Exact cone projections (:mod:`cvxnn.admm.cones`): against NNLS and Clarabel, warm and cold."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from scipy.optimize import nnls

from cvxnn.admm.cones import ConeProjector


def _cones(rng, n=120, d=8, P=6, binary=False, shared=True):
    """Data and the signs of ``2P`` cones: as in the relu program (the V and W blocks share their
    sign rows) or, with ``shared=False``, ``2P`` different patterns."""
    X = rng.standard_normal((n, d))
    if binary:  # many equal and dependent rows: the degenerate case
        X = (rng.random((n, d)) < 0.3).astype(float)
    S = 2.0 * (X @ rng.standard_normal((d, P)) >= 0) - 1.0
    other = 2.0 * (X @ rng.standard_normal((d, P)) >= 0) - 1.0 if not shared else S
    return X, np.hstack([S, other])


def _reference(X, signs, T):
    """Projections by Lawson-Hanson NNLS on the dual, one block at a time."""
    norms = np.linalg.norm(X, axis=1)
    Xn = X / np.where(norms > 0, norms, 1.0)[:, None]
    out = np.empty_like(T)
    for j in range(T.shape[1]):
        B = Xn * signs[:, j, None]
        mu, _ = nnls(B.T, -T[:, j], maxiter=100 * X.shape[0])
        out[:, j] = T[:, j] + B.T @ mu
    return out


def _assert_projection(X, signs, T, U, atol):
    """KKT of the projection, checked directly: U in the cone, T - U in its polar and orthogonal."""
    G = signs * (X @ U)
    scale = np.linalg.norm(X, axis=1)[:, None] * np.linalg.norm(T, axis=0)[None, :]
    assert np.all(G >= -atol * np.maximum(scale, 1e-300))
    np.testing.assert_allclose(U, _reference(X, signs, T), atol=atol * max(1.0, np.abs(T).max()))


@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("binary", [False, True])
def test_projection_is_exact_cold_and_warm(rng, binary, shared):
    X, signs = _cones(rng, binary=binary, shared=shared)
    proj = ConeProjector(X, signs)
    assert proj.period == (signs.shape[1] // 2 if shared else signs.shape[1])  # sign rows stored once
    T = rng.standard_normal((X.shape[1], signs.shape[1]))
    for step in range(6):  # a cold start, then warm starts from nearby inputs (as in the ADMM)
        U = proj.project(T)
        _assert_projection(X, signs, T, U, atol=1e-7)
        T = T + 0.05 * rng.standard_normal(T.shape) if step % 2 else 3.0 * rng.standard_normal(T.shape)


def test_warm_start_uses_the_active_sets_not_the_fallback(rng):
    X, signs = _cones(rng, n=300, d=12, P=10)
    proj = ConeProjector(X, signs)
    T = rng.standard_normal((12, 20))
    proj.project(T)
    fallbacks, steps = proj.n_fallbacks, proj.n_steps
    for _ in range(5):
        T = T + 1e-3 * rng.standard_normal(T.shape)
        proj.project(T)
    assert proj.n_fallbacks == fallbacks  # small moves are absorbed by active-set steps
    assert proj.n_steps - steps <= 5 * T.shape[1]


@pytest.mark.parametrize("binary", [False, True])
def test_fallback_on_candidate_rows_is_exact(rng, binary):
    """With no active-set steps allowed every unsettled block goes to the NNLS fallback, which
    solves on a growing candidate subset of the rows; its answer must be the exact projection."""
    X, signs = _cones(rng, n=2000, d=10, P=8, binary=binary)
    proj = ConeProjector(X, signs, max_steps=0)
    T = 3.0 * rng.standard_normal((10, 16))
    for _ in range(3):
        U = proj.project(T)
        _assert_projection(X, signs, T, U, atol=1e-7)
        T = T + 0.3 * rng.standard_normal(T.shape)
    assert proj.n_fallbacks > 0


def test_an_untrusted_gram_after_the_fallback_is_dropped_not_divided(rng):
    """When the fallback's support has a Gram it cannot trust, the block keeps a zero inverse and
    the next call drops its rows one by one. Those downdates have a zero pivot; they must leave a
    zero (not NaN) inverse, and the projections must stay exact, warm and cold."""
    X, signs = _cones(rng)
    proj = ConeProjector(X, signs, max_steps=0)
    proj.max_inverse = 0.5  # no Gram is trusted (every inverse Gram has a diagonal >= 1)
    T = rng.standard_normal((X.shape[1], signs.shape[1]))
    with np.errstate(all="raise"):
        for _ in range(4):
            U = proj.project(T)
            _assert_projection(X, signs, T, U, atol=1e-7)
            T = T + 0.05 * rng.standard_normal(T.shape)
    assert proj.n_fallbacks > 0
    assert np.all(np.isfinite(proj.Ginv))


def test_points_inside_and_in_the_polar(rng):
    X, signs = _cones(rng)
    proj = ConeProjector(X, signs)
    norms = np.linalg.norm(X, axis=1)
    Xn = X / norms[:, None]
    inside = np.empty((X.shape[1], signs.shape[1]))
    polar = np.empty_like(inside)
    for j in range(signs.shape[1]):
        B = Xn * signs[:, j, None]
        inside[:, j] = _reference(X, signs[:, [j]], rng.standard_normal((X.shape[1], 1)))[:, 0]
        polar[:, j] = -B.T @ rng.exponential(size=X.shape[0])  # -B^T mu, mu >= 0: projects to 0
    np.testing.assert_allclose(proj.project(inside), inside, atol=1e-9)
    np.testing.assert_allclose(proj.project(polar), 0.0, atol=1e-9)


def test_zero_rows_are_ignored(rng):
    X, signs = _cones(rng, n=60, d=5, P=4)
    X[::7] = 0.0
    proj = ConeProjector(X, signs)
    T = rng.standard_normal((5, 8))
    _assert_projection(X, signs, T, proj.project(T), atol=1e-8)


def test_prox_is_soft_threshold_of_projection_and_matches_clarabel(rng):
    """prox of tau ||.|| + I_K equals the shrunk projection; checked against the QP solved by
    Clarabel, including blocks that the early exit sets to zero."""
    X, signs = _cones(rng, n=80, d=6, P=4)
    proj = ConeProjector(X, signs)
    T = 2.0 * rng.standard_normal((6, 8))
    tau = np.linspace(0.1, 3.0, 8)
    V = proj.prox(T, tau)
    assert np.any(np.linalg.norm(V, axis=0) == 0) and np.any(np.linalg.norm(V, axis=0) > 0)
    for j in range(8):
        u = cp.Variable(6)
        obj = 0.5 * cp.sum_squares(u - T[:, j]) + tau[j] * cp.norm(u, 2)
        problem = cp.Problem(cp.Minimize(obj), [cp.multiply(signs[:, j], X @ u) >= 0])
        problem.solve(solver="CLARABEL")
        ours = 0.5 * np.sum((V[:, j] - T[:, j]) ** 2) + tau[j] * np.linalg.norm(V[:, j])
        assert np.all(signs[:, j] * (X @ V[:, j]) >= -1e-9)  # feasible
        assert ours <= problem.value * (1 + 1e-8)  # as good as the interior-point solution
        np.testing.assert_allclose(V[:, j], u.value, atol=1e-4)  # (Clarabel's accuracy)
