r"""A sharp, provably valid upper bound on the dual norm :math:`c(\lambda)` for any data size.

The pattern search's lower bound (:mod:`cvxnn.certificate`) needs :math:`\bar c \ge c(\lambda)`,

.. math:: c(\lambda) = \max_{\|u\|_2 \le 1} |\lambda^T (X'u)_+| = \max_{\sigma = \pm 1} c_\sigma,
   \qquad c_\sigma = \max_{\|u\| \le 1} \sigma\lambda^T (X'u)_+ ,

and the bound is worth :math:`\beta / \bar c` of the dual point, so a loose :math:`\bar c` costs
the bound directly. For a sign :math:`\sigma` write :math:`P = \{k : \sigma\lambda_k > 0\}`,
:math:`N = \{k : \sigma\lambda_k < 0\}` and :math:`a_k = |\lambda_k|`. For any
:math:`\theta \in [0, 1]^N` (since :math:`t_+ \ge \theta t`) and any weights :math:`w > 0`,

.. math::
    c_\sigma \le \max_{s \in \{0,1\}^P} \Big\|\sum_{k \in P} s_k a_k x_k - \sum_{k \in N}
    \theta_k a_k x_k\Big\| = \max_{t \in \{\pm 1\}^P} \Big\|\sum_{k \in P} t_k b_k + g\Big\|
    \le \sqrt{\Big(\sum_{k \in P \cup \{0\}} w_k\Big)\,
    \lambda_{\max}\Big(\sum_{k \in P \cup \{0\}} \frac{b_k b_k^T}{w_k}\Big)},

with :math:`b_k = \tfrac12 a_k x_k` and :math:`b_0 = g = \tfrac12\sum_P a_k x_k - \sum_N
\theta_k a_k x_k` (the last step is Cauchy-Schwarz, the weighted form of the semidefinite
relaxation of :math:`\max_t \|B^T t\|`). Every choice of :math:`(\theta, w)` is valid; this
module picks them by a few cheap fixed-point rounds (each costs one :math:`d' \times d'`
eigen-decomposition and two :math:`n \times d'` products).

The relaxation treats the rows one by one, so it misses the cancellation between nearby rows of
opposite signs, which is what a near-optimal :math:`\lambda` is full of. A *transport*
step first moves mass :math:`\pi_{ij} \ge 0` from each positive row :math:`i` to nearby
negative rows :math:`j` (:math:`\sum_j \pi_{ij} \le a_i`, :math:`\sum_i \pi_{ij} \le a_j`):
since :math:`s_+ - t_+ \le (s - t)_+`,

.. math::
    \sigma\lambda^T (X'u)_+ \le \sum_{ij} \pi_{ij} ((x_i - x_j)^T u)_+
    + \sum_{i \in P} r_i (x_i^T u)_+ - \sum_{j \in N} e_j (x_j^T u)_+

(:math:`r, e \ge 0` the untransported masses), a sum of the same form over the rows
:math:`x_i - x_j` (short when the rows are close) to which the bound above applies again
(:func:`transport_rows`). A positive row may also absorb a convex combination of negative rows
(:func:`barycentric_rows`): for :math:`\mu \ge 0`, :math:`\sum_j \mu_j = 1`, convexity gives
:math:`\sum_j \mu_j (x_j^T u)_+ \ge (\sum_j \mu_j x_j^T u)_+`, hence
:math:`m (x_i^T u)_+ - \sum_j m\mu_j (x_j^T u)_+ \le m ((x_i - \sum_j \mu_j x_j)^T u)_+`, and
the barycenter of a few neighbours is usually much closer to :math:`x_i` than any one of them.
Proofs in ``docs/math.md``.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import nnls

__all__ = ["barycentric_rows", "dual_norm_upper_bound", "sign_bound", "transport_rows"]

#: Relative margin added to every bound so that rounding cannot make it an underestimate.
MARGIN = 1e-9


def _split_signs(Xa: np.ndarray, slam: np.ndarray) -> tuple[np.ndarray, ...]:
    """The positive masses ``a``, the negative ones as ``b = -slam`` (> 0), and their rows."""
    P = np.flatnonzero(slam > 0)
    N = np.flatnonzero(slam < 0)
    return slam[P].copy(), -slam[N].copy(), Xa[P], Xa[N]


def _weighted_bound(B: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """``((sum w) lambda_max(B^T W^-1 B), top eigenvector)`` for rows ``B`` (m, d) and weights ``w > 0``."""
    M = (B / w[:, None]).T @ B
    vals, vecs = np.linalg.eigh(0.5 * (M + M.T))
    return float(np.sum(w)) * max(float(vals[-1]), 0.0), vecs[:, -1]


def _optimal_weights(B: np.ndarray, n_iter: int) -> tuple[float, np.ndarray]:
    r"""Minimize :math:`(\sum w)\lambda_{\max}(B^T W^{-1} B)` over :math:`w > 0` approximately.

    At a minimizer :math:`w_k \propto |b_k^T v|` (``v`` the top eigenvector), so the iteration
    sets ``w`` to the geometric mean of itself and :math:`|B v|` (floored). Returns the smallest
    value met (squared bound) and the top eigenvector there.
    """
    norms = np.linalg.norm(B, axis=1)
    keep = norms > 0
    B = B[keep]
    if B.shape[0] == 0:
        return 0.0, np.zeros(B.shape[1])
    w = norms[keep].copy()
    best, v_best = _weighted_bound(B, w)
    v = v_best
    for _ in range(n_iter):
        target = np.abs(B @ v)
        target = np.maximum(target, 1e-9 * float(np.max(target)) + 1e-300)
        w = np.sqrt(w * target / np.sum(target) * np.sum(w))
        val, v = _weighted_bound(B, w)
        if val < best * (1.0 - 1e-7):
            best, v_best = val, v
        elif val >= best:
            break
    return best, v_best


def sign_bound(
    Xa: np.ndarray, slam: np.ndarray, *, u_hint: np.ndarray | None = None, n_iter: int = 20, rounds: int = 3
) -> float:
    r"""A valid upper bound on :math:`c_\sigma = \max_{\|u\| \le 1} \sigma\lambda^T (X'u)_+`.

    Parameters
    ----------
    Xa : ndarray, shape (n, d')
        The design.
    slam : ndarray, shape (n,)
        :math:`\sigma\lambda`.
    u_hint : ndarray, shape (d',), optional
        A good direction (the pricing's best for this sign): :math:`\theta` is first set to its
        pattern, :math:`\theta_k = 1[x_k^T u > 0]`.
    n_iter : int
        Weight fixed-point iterations per :math:`\theta`.
    rounds : int
        :math:`\theta` updates after the first (each sets :math:`\theta` to the pattern of the
        current top eigenvector, signed toward :math:`g`).

    Returns
    -------
    float
        The smallest of the bounds met, raised by the relative :data:`MARGIN`.
    """
    pos = slam > 0
    if not np.any(pos):
        return 0.0
    neg = slam < 0
    A = slam[pos, None] * Xa[pos]  # a_k x_k, k in P
    Bn = -slam[neg, None] * Xa[neg]  # a_k x_k, k in N
    half = 0.5 * A.sum(axis=0)

    def bound(theta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
        g = half - theta @ Bn
        val, v = _optimal_weights(np.vstack([0.5 * A, g[None, :]]), n_iter)
        return val, v, g

    thetas = [np.full(int(np.sum(neg)), 0.5)]
    if u_hint is not None:
        thetas.append((Xa[neg] @ u_hint > 0).astype(np.float64))
    best = np.inf
    v, g = None, None
    for theta in thetas:
        val, v_t, g_t = bound(theta)
        if val < best:
            best, v, g = val, v_t, g_t
    for _ in range(rounds):
        assert v is not None and g is not None
        u = v if float(g @ v) >= 0 else -v
        val, v_t, g_t = bound((Xa[neg] @ u > 0).astype(np.float64))
        if val >= best * (1.0 - 1e-6):
            break
        best, v, g = val, v_t, g_t
    return float(np.sqrt(best)) * (1.0 + MARGIN)


def transport_rows(
    Xa: np.ndarray, slam: np.ndarray, *, neighbours: int = 10, reach: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    r"""Rows and signed weights :math:`(Z, \omega)` with :math:`\sigma\lambda^T(X'u)_+ \le
    \omega^T (Z u)_+` for every :math:`u` (module docstring), by greedy transport.

    Each positive row is paired with its ``neighbours`` nearest negative rows closer than
    ``reach`` times the smaller of the two norms; pairs are served shortest first, each moving
    the smaller of the two remaining masses.

    Returns
    -------
    Z : ndarray, shape (m + n_+ + n_-, d')
        The pair differences :math:`x_i - x_j`, then the positive rows, then the negative rows.
    omega : ndarray, shape (m + n_+ + n_-,)
        :math:`\pi_{ij}` for the pairs, the remaining masses :math:`r_i`, then :math:`-e_j`.
    """
    a, b, XP, XN = _split_signs(Xa, slam)
    if a.size == 0 or b.size == 0:
        return np.vstack([XP, XN]), np.concatenate([a, -b])
    k = min(neighbours, b.size)
    nP, nN = np.linalg.norm(XP, axis=1), np.linalg.norm(XN, axis=1)
    sqN = nN**2
    ii, jj, dd = [], [], []
    chunk = max(1, 2_000_000 // b.size)
    for start in range(0, a.size, chunk):  # k nearest negatives of each positive row, by chunks
        rows = slice(start, min(start + chunk, a.size))
        dist = np.sqrt(np.maximum(nP[rows, None] ** 2 + sqN[None, :] - 2.0 * XP[rows] @ XN.T, 0.0))
        nn = np.argpartition(dist, k - 1, axis=1)[:, :k]
        i_loc = np.repeat(np.arange(dist.shape[0]), k)
        ii.append(i_loc + start)
        jj.append(nn.ravel())
        dd.append(dist[i_loc, nn.ravel()])
    i_all, j_all, d_all = np.concatenate(ii), np.concatenate(jj), np.concatenate(dd)
    close = d_all < reach * np.minimum(nP[i_all], nN[j_all])
    i_all, j_all, d_all = i_all[close], j_all[close], d_all[close]
    pairs_i, pairs_j, mass = [], [], []
    for t in np.argsort(d_all, kind="stable"):
        i, j = i_all[t], j_all[t]
        m = min(a[i], b[j])
        if m > 0:
            a[i] -= m
            b[j] -= m
            pairs_i.append(i)
            pairs_j.append(j)
            mass.append(m)
    diffs = XP[np.asarray(pairs_i, dtype=int)] - XN[np.asarray(pairs_j, dtype=int)]
    return np.vstack([diffs, XP, XN]), np.concatenate([np.asarray(mass, dtype=np.float64), a, -b])


def _nearest(XP: np.ndarray, XN: np.ndarray, k: int) -> np.ndarray:
    """Indices (n_+, k) of the ``k`` nearest rows of ``XN`` to each row of ``XP`` (by chunks)."""
    sqP, sqN = np.sum(XP * XP, axis=1), np.sum(XN * XN, axis=1)
    out = np.empty((XP.shape[0], k), dtype=int)
    chunk = max(1, 2_000_000 // max(XN.shape[0], 1))
    for start in range(0, XP.shape[0], chunk):
        rows = slice(start, min(start + chunk, XP.shape[0]))
        d2 = sqP[rows, None] + sqN[None, :] - 2.0 * XP[rows] @ XN.T
        out[rows] = np.argpartition(d2, k - 1, axis=1)[:, :k]
    return out


def barycentric_rows(
    Xa: np.ndarray, slam: np.ndarray, *, neighbours: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    r"""Rows and signed weights :math:`(Z, \omega)` with :math:`\sigma\lambda^T(X'u)_+ \le
    \omega^T (Z u)_+` for every :math:`u`, each positive row absorbing a convex combination of
    its ``neighbours`` nearest negative rows (module docstring).

    Positive rows are served by decreasing mass. Row :math:`i` takes
    :math:`\mu \approx \arg\min\{\|x_i - \sum_j \mu_j x_j\| : \mu \ge 0, \sum\mu = 1\}`
    (NNLS with the sum as a heavily weighted extra equation, then normalized: feasible whatever
    the accuracy), skips it when the barycenter is no closer than the origin, and moves the
    largest mass :math:`m \le a_i` the negative rows still hold (:math:`m\mu_j \le e_j`).

    Returns
    -------
    Z : ndarray, shape (m + n_+ + n_-, d')
        The differences :math:`x_i - \sum_j \mu_j x_j`, the positive rows, the negative rows.
    omega : ndarray
        The moved masses, the remaining positive masses, minus the remaining negative masses.
    """
    a, b, XP, XN = _split_signs(Xa, slam)
    if a.size == 0 or b.size == 0:
        return np.vstack([XP, XN]), np.concatenate([a, -b])
    k = min(neighbours, b.size)
    nn = _nearest(XP, XN, k)
    heavy = 10.0
    rows, mass = [], []
    for i in np.argsort(-a, kind="stable"):
        J = nn[i][b[nn[i]] > 0]
        if J.size == 0:
            continue
        M = np.vstack([XN[J].T, np.full(J.size, heavy)])
        mu, _ = nnls(M, np.concatenate([XP[i], [heavy]]))
        if mu.sum() <= 0:
            continue
        mu /= mu.sum()
        r = XP[i] - mu @ XN[J]
        if np.linalg.norm(r) >= np.linalg.norm(XP[i]):
            continue
        use = mu > 0
        m = a[i] * min(1.0, float(np.min(b[J[use]] / (a[i] * mu[use]))))
        a[i] -= m
        b[J] = np.maximum(b[J] - m * mu, 0.0)
        rows.append(r)
        mass.append(m)
    diffs = np.asarray(rows, dtype=np.float64).reshape(-1, Xa.shape[1])
    return np.vstack([diffs, XP, XN]), np.concatenate([np.asarray(mass, dtype=np.float64), a, -b])


def dual_norm_upper_bound(
    Xa: np.ndarray, lam: np.ndarray, *, u_hints: tuple[np.ndarray | None, np.ndarray | None] = (None, None)
) -> float:
    r"""A valid upper bound :math:`\bar c \ge c(\lambda) = \max(c_{+}, c_{-})` (:func:`sign_bound`).

    For each sign the smallest of :func:`sign_bound` on the rows themselves, on the transported
    rows of :func:`transport_rows`, on those of :func:`barycentric_rows`, and on the latter
    transported again, all valid. ``u_hints`` are
    good directions for :math:`+\lambda` and :math:`-\lambda` (optional). Costs
    :math:`O(n d'^2)` per fixed-point step and :math:`O(n_+ n_- d')` for the pairing: about a
    second at (2000, 51) on one core.
    """
    Xa = np.asarray(Xa, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64)
    best = 0.0
    for slam, hint in ((lam, u_hints[0]), (-lam, u_hints[1])):
        value = sign_bound(Xa, slam, u_hint=hint)
        Zb, wb = barycentric_rows(Xa, slam)
        for Z, omega in (transport_rows(Xa, slam), (Zb, wb), transport_rows(Zb, wb)):
            value = min(value, sign_bound(Z, omega, u_hint=hint))
        best = max(best, value)
    return best
