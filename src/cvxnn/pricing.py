r"""Pricing: which activation patterns would lower the optimum of a sampled ReLU program.

At a solution of the convex program (CVX) over a pattern set, with predictions :math:`\hat y`
and dual point :math:`\lambda = \nabla L(\hat y)` (``docs/math.md``), a pattern not yet in the set
can lower the optimum only if it carries a unit vector :math:`u` with

.. math:: |\lambda^T (X' u)_+| > \beta ,

and the largest such value over all unit vectors is the *dual norm*

.. math:: c(\lambda) = \max_{\|u\|_2 \le 1} |\lambda^T (X' u)_+| .

This module searches for such :math:`u` (:func:`price`), keeps a set of distinct, most violated
new patterns (:func:`select_new_patterns`), and bounds :math:`c(\lambda)` from above, either
exactly over an enumerated arrangement (:func:`dual_norm_exact`) or by a proven closed form
(:func:`dual_norm_bound`; the sharper :func:`cvxnn.dual_norm.dual_norm_upper_bound` is what the
certificate uses as well).
"""

from __future__ import annotations

import numpy as np

from .patterns import ActivationPatterns, pattern_dual_values

__all__ = [
    "dual_norm_bound",
    "dual_norm_exact",
    "pattern_keys",
    "price",
    "select_new_patterns",
]


def price(
    Xa: np.ndarray, lam: np.ndarray, starts: np.ndarray, *, n_steps: int = 40, step: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    r"""Ascend :math:`\pm\lambda^T (X' u)_+` over the unit sphere from many starts at once.

    Normalized (sub)gradient ascent on the sphere: with
    :math:`g = \pm X'^T (\lambda \odot 1[X' u > 0])`, each step sets
    :math:`u \leftarrow (u + \eta\, g/\|g\|) / \|u + \eta\, g/\|g\|\|`. Both signs are run
    from every start and the best point met along each path is kept. The damping matters: the
    undamped step :math:`u \leftarrow g/\|g\|` (the maximizer of the linearization) jumps
    between patterns; on a planted (2000, 50) regression it found violations of at most
    :math:`1.0001\beta` where :math:`\eta = 0.3` found :math:`2.03\beta` from the same starts.
    Every returned value is attained (:math:`u` is a unit vector in its own pattern's cone), so
    it is a valid lower bound on :math:`c(\lambda)` and on that pattern's dual constraint value.

    Parameters
    ----------
    Xa : ndarray, shape (n, d')
        The design the program uses (``X`` or ``[X, 1]``).
    lam : ndarray, shape (n,)
        The dual point.
    starts : ndarray, shape (d', K)
        Starting directions (need not be normalized; zero columns are replaced by ``e_1``).
    n_steps : int
        Number of ascent steps.
    step : float
        The step :math:`\eta` on the unit sphere.

    Returns
    -------
    U : ndarray, shape (d', 2K)
        Unit vectors, the first ``K`` from ascending :math:`+\lambda^T(X'u)_+`, the last ``K``
        from :math:`-\lambda^T(X'u)_+`.
    values : ndarray, shape (2K,)
        :math:`\pm\lambda^T (X' u)_+` at each returned column, clipped at 0.
    """
    K = starts.shape[1]
    U = np.hstack([starts, starts]).astype(np.float64)
    dead = np.linalg.norm(U, axis=0) == 0
    U[:, dead] = 0.0
    U[0, dead] = 1.0
    U /= np.linalg.norm(U, axis=0)
    sign = np.concatenate([np.ones(K), -np.ones(K)])
    slam = lam[:, None] * sign[None, :]  # (n, 2K)

    Z = Xa @ U
    best_val = np.sum(slam * np.maximum(Z, 0.0), axis=0)
    best_U = U.copy()
    for _ in range(n_steps):
        G = Xa.T @ (slam * (Z > 0))
        gn = np.linalg.norm(G, axis=0)
        U = U + step * G / np.where(gn > 0, gn, 1.0)
        U /= np.linalg.norm(U, axis=0)
        Z = Xa @ U
        val = np.sum(slam * np.maximum(Z, 0.0), axis=0)
        better = val > best_val
        best_val = np.where(better, val, best_val)
        best_U[:, better] = U[:, better]
    return best_U, np.maximum(best_val, 0.0)


def pattern_keys(D: np.ndarray) -> list[bytes]:
    """A hashable key per column of a boolean ``(n, K)`` pattern matrix."""
    return [col.tobytes() for col in np.packbits(np.asarray(D, dtype=bool), axis=0).T]


def select_new_patterns(
    Xa: np.ndarray,
    U: np.ndarray,
    values: np.ndarray,
    *,
    threshold: float,
    known: set[bytes],
    max_new: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The most violated distinct patterns among priced directions.

    Keeps the columns of ``U`` whose value exceeds ``threshold``, drops those whose pattern
    :math:`1[X'u \ge 0]` is in ``known`` or repeats a better one, and returns at most ``max_new``
    of them in decreasing order of value (distinct patterns: a diverse set by construction).

    Returns
    -------
    D : ndarray of bool, shape (n, k)
    gates : ndarray, shape (d', k)
        The unit directions generating them.
    values : ndarray, shape (k,)
    """
    order = np.argsort(-values, kind="stable")
    order = order[values[order] > threshold]
    D_all = Xa @ U[:, order] >= 0
    chosen: list[int] = []
    seen = set(known)
    for j, key in enumerate(pattern_keys(D_all)):
        if len(chosen) >= max_new:
            break
        if key in seen:
            continue
        seen.add(key)
        chosen.append(j)
    idx = np.asarray(chosen, dtype=int)
    return D_all[:, idx], U[:, order[idx]], values[order[idx]]


def dual_norm_bound(Xa: np.ndarray, lam: np.ndarray) -> float:
    r"""A proven upper bound on :math:`c(\lambda) = \max_{\|u\| \le 1} |\lambda^T (X' u)_+|`.

    With :math:`t_+ = (t + |t|)/2`, for either sign :math:`\sigma = \pm 1` and the rows
    :math:`S_\sigma = \{k : \sigma\lambda_k > 0\}`,

    .. math::
        \sigma\lambda^T (X'u)_+ = \tfrac12 \sigma\lambda^T X' u
        + \tfrac12 \sum_k \sigma\lambda_k |x_k^T u|
        \le \tfrac12 \|X'^T \lambda\|_2 + \tfrac12 \sum_{k \in S_\sigma} |\lambda_k|\,|x_k^T u|,

    and the last sum, an :math:`\ell_1` norm of :math:`M_\sigma u` with
    :math:`M_\sigma = \operatorname{diag}(|\lambda_{S_\sigma}|) X'_{S_\sigma}`, is at most each
    of :math:`\|\lambda_{S_\sigma}\|_2 \|X'_{S_\sigma}\|_2` (Cauchy-Schwarz),
    :math:`\sqrt{|S_\sigma|}\,\|M_\sigma\|_2` and :math:`\sum_{k \in S_\sigma} |\lambda_k|
    \|x_k\|_2`. Independently, :math:`\sigma\lambda^T (X'u)_+ \le \|\lambda_{S_\sigma}\|_2
    \|X'_{S_\sigma}\|_2` (drop the negative terms, then Cauchy-Schwarz). The bound returned is the
    larger over :math:`\sigma` of the smaller of the two. Proof in ``docs/math.md``.
    """
    half_lin = 0.5 * float(np.linalg.norm(Xa.T @ lam))
    best = 0.0
    for sigma in (1.0, -1.0):
        rows = sigma * lam > 0
        if not np.any(rows):
            continue
        a = np.abs(lam[rows])
        M = Xa[rows]
        spec = float(np.linalg.norm(M, 2))
        cs = float(np.linalg.norm(a)) * spec
        l1 = min(
            cs,
            float(np.sqrt(a.size) * np.linalg.norm(a[:, None] * M, 2)),
            float(np.sum(a * np.linalg.norm(M, axis=1))),
        )
        best = max(best, min(cs, half_lin + 0.5 * l1))
    return best


def dual_norm_exact(
    Xa: np.ndarray, lam: np.ndarray, patterns: ActivationPatterns, *, solver: str = "CLARABEL"
) -> float:
    r""":math:`c(\lambda)` over every pattern of an enumerated arrangement (one vectorized SOCP).

    .. math::
        c(\lambda) = \max_i \max_\pm \max\{\pm\lambda^T D_i X' u : \|u\|_2 \le 1,
        (2D_i - I) X' u \ge 0\},

    exact when ``patterns`` holds every pattern of the arrangement (on the unit ball,
    :math:`(X'u)_+ = D_i X' u` for the pattern :math:`D_i` of :math:`u`). The returned value is
    the solver's optimum raised by a relative ``1e-6`` and absolute ``1e-9`` margin, so that
    solver inaccuracy cannot make it an underestimate.
    """
    vals = pattern_dual_values(Xa, patterns.D, lam, solver=solver)
    return max(float(np.max(vals)), 0.0) * (1.0 + 1e-6) + 1e-9
