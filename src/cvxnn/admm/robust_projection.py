r"""Exact Euclidean projection onto the robust cones, every block at once (``docs/robust_admm.md``, §5).

Block ``j`` of a robust program must lie in

.. math::
    K^\epsilon_j = \{u \in \mathbb R^{d'} :\ e_k s_{kj}\,x_k'^Tu \ge \epsilon e_k\|\bar u\|_q,\ k = 1..n\}

(``s = 2D - 1``, ``e > 0`` a row scaling, :math:`\bar u` the perturbable rows). :class:`RobustConeProjector`
computes :math:`\Pi_{K^\epsilon_j}(c_j)` for all ``J`` blocks as one block-diagonal conic QP,

.. math::
    \min \tfrac12\sum_j\|u_j - c_j\|^2 \quad\text{s.t.}\quad
    e_k s_{kj}x_k'^Tu_j - \epsilon e_k\tau_j \ge 0\ (k \in C_j),\qquad \|\bar u_j\|_q \le \tau_j,

solved by Clarabel (called directly, the sparse data built without Python loops over blocks):
``q = 2`` is a second-order cone per block, ``q = inf`` the ``2d`` rows :math:`\tau \pm \bar u_i \ge 0`,
``q = 1`` the epigraph :math:`w_i \ge |\bar u_i|`, :math:`\tau \ge \sum_i w_i`.

**Row generation.** Only a candidate subset :math:`C_j` of the ``n`` rows enters the QP: the
projection onto the relaxed cone (fewer rows) is the projection onto :math:`K^\epsilon_j` exactly when
it meets every row. ``C_j`` starts from the rows active at the previous call and the ``width``
rows of smallest margin at :math:`c_j`; the rows the solution violates are added (at most ``d'``
per block and round) and the QP is solved again until none is, at most ``max_rounds`` times.
"""

from __future__ import annotations

import math
import time

import clarabel
import numpy as np
import scipy.sparse as sp

__all__ = ["RobustConeProjector", "project_blocks_conic", "robust_margins"]


def robust_margins(
    XU: np.ndarray, U: np.ndarray, signs: np.ndarray, e: np.ndarray, eps: float, q: float, dbar: int
) -> np.ndarray:
    r"""Scaled margins :math:`e_k(s_{kj}x_k'^Tu_j - \epsilon\|\bar u_j\|_q)` (``(n, J)``; ``< 0``: violated).

    Parameters
    ----------
    XU : ndarray, shape (n, J)
        :math:`X'U`.
    U : ndarray, shape (d', J)
    signs : ndarray, shape (n, J)
        :math:`\pm 1`.
    e : ndarray, shape (n,)
        Positive row scaling.
    eps : float
    q : {1, 2, numpy.inf}
        The norm of the perturbable rows (dual of the perturbation norm).
    dbar : int
        Number of perturbable rows.
    """
    margins = signs * XU
    if eps > 0 and dbar:
        margins = margins - eps * np.linalg.norm(U[:dbar], ord=q, axis=0)[None, :]
    return margins * e[:, None]


class RobustConeProjector:
    r"""Exact projections onto :math:`K^\epsilon_j` for all blocks (see the module docstring).

    Parameters
    ----------
    X : ndarray, shape (n, d')
        The design (bias column last, if any).
    signs : ndarray, shape (n, J)
        :math:`\pm 1` per row and block.
    e : ndarray, shape (n,)
        Positive row scaling (``1 / ||x'_k||`` conditions the QP).
    dbar : int
        Number of perturbable rows (the first ``dbar`` of ``u``).
    q : {1, 2, numpy.inf}
        Dual exponent of the perturbation norm.
    tol : float
        A row counts as violated below ``-tol * max(1, ||c_j||)`` (scaled margins).
    width : int or None
        Rows of smallest margin per block in the first candidate set (``None``: ``4 d'``).
    max_rounds : int
        Row-generation rounds before giving up (:attr:`exact` is then False).

    Attributes
    ----------
    exact : bool
        Whether the last call verified every row of every block.
    rounds, rows : int
        QP solves and candidate rows (all blocks) of the last call.
    multipliers : ndarray, shape (n, J)
        The last projection's multipliers :math:`\mu_{kj} \ge 0` of the scaled rows
        (zero off the candidate rows): :math:`c_j - \Pi(c_j) = -\sum_k \mu_{kj}e_ks_{kj}x'_k +
        \epsilon(\sum_k\mu_{kj}e_k)\,\xi_j` with :math:`\xi_j \in \partial\|\bar u_j\|_q`.
    """

    def __init__(
        self,
        X: np.ndarray,
        signs: np.ndarray,
        e: np.ndarray,
        dbar: int,
        q: float,
        *,
        tol: float = 1e-7,
        width: int | None = None,
        max_rounds: int = 30,
    ) -> None:
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.n, self.d = self.X.shape
        self.signs = np.asarray(signs, dtype=np.float64)
        self.J = self.signs.shape[1]
        self.e = np.asarray(e, dtype=np.float64)
        self.Xs = self.X * self.e[:, None]  # scaled rows
        self.dbar, self.q = int(dbar), float(q)
        self.tol = tol
        self.width = min(self.n, 4 * self.d if width is None else width)
        self.max_rounds = max_rounds
        self.active = np.zeros((self.n, self.J), dtype=bool)
        self.multipliers = np.zeros((self.n, self.J))
        self.exact, self.rounds, self.rows = True, 0, 0
        self.settings = clarabel.DefaultSettings()
        self.settings.verbose = False
        self.settings.tol_feas = self.settings.tol_gap_abs = self.settings.tol_gap_rel = 1e-10

    # ------------------------------------------------------------------ the QP
    def _layout(self, eps: float) -> tuple[int, int]:
        """Variables per block (``u``, then ``tau`` and the l1 epigraph ``w`` when ``eps > 0``)
        and the number of norm rows per block."""
        if eps <= 0 or self.dbar == 0:
            return self.d, 0
        extra = 1 + (self.dbar if self.q == 1.0 else 0)
        norm_rows = {1.0: 2 * self.dbar + 1, np.inf: 2 * self.dbar, 2.0: self.dbar + 1}[self.q]
        return self.d + extra, norm_rows

    def _norm_block(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """COO ``(row, col, value)`` of one block's norm rows ``-A`` (slack ``s = -Ax >= 0`` or in
        the second-order cone), in that block's local numbering."""
        d, t = self.dbar, self.d  # tau's column
        i = np.arange(d)
        if self.q == np.inf:  # tau - u_i >= 0, tau + u_i >= 0
            rows = np.concatenate([i, i, d + i, d + i])
            cols = np.concatenate([i, np.full(d, t), i, np.full(d, t)])
            vals = np.concatenate([np.ones(d), -np.ones(d), -np.ones(d), -np.ones(d)])
        elif self.q == 1.0:  # w_i - u_i >= 0, w_i + u_i >= 0, tau - sum w >= 0
            w = t + 1 + i
            rows = np.concatenate([i, i, d + i, d + i, np.full(d, 2 * d), [2 * d]])
            cols = np.concatenate([i, w, i, w, w, [t]])
            vals = np.concatenate([np.ones(d), -np.ones(d), -np.ones(d), -np.ones(d), np.ones(d), [-1.0]])
        else:  # (tau, u_bar) in the second-order cone
            rows = np.concatenate([[0], 1 + i])
            cols = np.concatenate([[t], i])
            vals = -np.ones(d + 1)
        return rows, cols, vals

    def _solve(self, C: np.ndarray, cand: np.ndarray, eps: float) -> np.ndarray | None:
        """One QP on the candidate rows ``cand`` (``(n, J)`` bool); ``U`` or None on failure."""
        J, d = self.J, self.d
        nv, nr = self._layout(eps)
        blocks, rows = np.nonzero(cand.T)  # block-major
        m = rows.size
        # linear rows: -(e s x'^T u - eps e tau) with slack >= 0
        coef = -(self.signs[rows, blocks][:, None] * self.Xs[rows])  # (m, d)
        r_lin = np.repeat(np.arange(m), d)
        c_lin = (blocks[:, None] * nv + np.arange(d)[None, :]).ravel()
        v_lin = coef.ravel()
        parts_r, parts_c, parts_v = [r_lin], [c_lin], [v_lin]
        if nr:
            parts_r.append(np.arange(m))
            parts_c.append(blocks * nv + d)
            parts_v.append(eps * self.e[rows])
            nr_, nc_, nv_ = self._norm_block()
            offs = np.arange(J)[:, None]  # block j's norm rows follow every linear row
            parts_r.append((m + offs * nr + nr_[None, :]).ravel())
            parts_c.append((offs * nv + nc_[None, :]).ravel())
            parts_v.append(np.tile(nv_, J))
        n_rows = m + J * nr
        entries = (np.concatenate(parts_r), np.concatenate(parts_c))
        A = sp.csc_matrix((np.concatenate(parts_v), entries), shape=(n_rows, J * nv))
        diag = np.zeros(J * nv)
        diag.reshape(J, nv)[:, :d] = 1.0
        P = sp.csc_matrix(sp.diags(diag))
        qv = np.zeros(J * nv)
        qv.reshape(J, nv)[:, :d] = -C.T
        b = np.zeros(n_rows)
        if self.q == 2.0 and nr:
            cones = [clarabel.NonnegativeConeT(m)] + [clarabel.SecondOrderConeT(nr)] * J
        else:
            cones = [clarabel.NonnegativeConeT(n_rows)]
        self.settings.time_limit = max(self.deadline - time.perf_counter(), 1e-3)
        sol = clarabel.DefaultSolver(P, qv, A, b, cones, self.settings).solve()
        if str(sol.status) not in ("Solved", "AlmostSolved"):
            return None
        x = np.asarray(sol.x).reshape(J, nv)
        self.active = np.zeros((self.n, J), dtype=bool)
        z = np.maximum(np.asarray(sol.z)[:m], 0.0)
        keep = z > 1e-9 * max(1.0, float(np.max(z, initial=0.0)))
        self.active[rows[keep], blocks[keep]] = True
        self.multipliers = np.zeros((self.n, J))
        self.multipliers[rows, blocks] = z
        return np.ascontiguousarray(x[:, :d].T)

    # ------------------------------------------------------------------ the projection
    def project(self, C: np.ndarray, eps: float, time_limit: float | None = None) -> np.ndarray | None:
        r""":math:`\Pi_{K^\epsilon_j}(c_j)` for every column of ``C`` (``(d', J)``), or None when the
        conic solver fails or runs past ``time_limit`` seconds (all rounds together).
        :attr:`exact` says whether every row was verified."""
        self.deadline = math.inf if time_limit is None else time.perf_counter() + time_limit
        C = np.asarray(C, dtype=np.float64)
        margins = robust_margins(self.X @ C, C, self.signs, self.e, eps, self.q, self.dbar)
        thr = self.tol * np.maximum(1.0, np.linalg.norm(C, axis=0))
        if not np.any(margins < -thr[None, :]):  # already in every cone
            self.exact, self.rounds, self.rows = True, 0, 0
            self.multipliers = np.zeros((self.n, self.J))
            return C.copy()
        cand = self.active.copy()
        w = self.width
        if w >= self.n:
            cand[:] = True
        else:
            near = np.argpartition(margins, w - 1, axis=0)[:w]
            cand[near, np.arange(self.J)[None, :]] = True
        self.exact = False
        for rounds in range(1, self.max_rounds + 1):
            self.rounds = rounds
            U = self._solve(C, cand, eps)
            if U is None:
                return None
            margins = robust_margins(self.X @ U, U, self.signs, self.e, eps, self.q, self.dbar)
            bad = (margins < -thr[None, :]) & ~cand
            self.rows = int(cand.sum())
            if not bad.any():
                self.exact = True
                return U
            k = min(self.d, self.n)
            worst = np.argpartition(np.where(bad, margins, np.inf), k - 1, axis=0)[:k]
            add = np.take_along_axis(bad, worst, axis=0)
            cols = np.broadcast_to(np.arange(self.J)[None, :], worst.shape)
            cand[worst[add], cols[add]] = True
        return U


def project_blocks_conic(
    X: np.ndarray,
    signs: np.ndarray,
    e: np.ndarray,
    dbar: int,
    q: float,
    C: np.ndarray,
    eps: float,
    deadline: float,
) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """The conic-QP fallback of the fast projectors: :meth:`RobustConeProjector.project` of the
    columns ``C`` (``(d', m)``) onto the robust cones of the sign columns ``signs`` (``(n, m)``).

    Parameters
    ----------
    X, e, dbar, q
        As for :class:`RobustConeProjector`.
    signs : ndarray, shape (n, m)
    C : ndarray, shape (d', m)
    eps : float
    deadline : float
        A :func:`time.perf_counter` time to finish by (``inf``: none).

    Returns
    -------
    tuple (projections ``(d', m)``, row multipliers ``(n, m)``, exact) or None
        None when the deadline has passed or the conic solver fails or runs out of time.
    """
    if time.perf_counter() > deadline:
        return None
    sub = RobustConeProjector(X, signs, e, dbar, q)
    rest = None if math.isinf(deadline) else max(deadline - time.perf_counter(), 1e-3)
    projections = sub.project(C, eps, rest)
    if projections is None:
        return None
    return projections, sub.multipliers, sub.exact
