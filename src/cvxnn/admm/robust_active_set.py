r"""Exact projection onto polyhedral robust cones by Lawson-Hanson with column generation
(``docs/robust_admm.md``, §5).

For ``q = 1`` (l_inf perturbations) and ``q = inf`` (l_1 perturbations) the robust cone of block
``j``,

.. math::
    K_j = \{u :\ e_ks_{kj}x_k'^Tu \ge \epsilon e_k\|\bar u\|_q,\ k = 1..n\},

is polyhedral: :math:`\|\bar u\|_q = \max_{\sigma \in \Sigma_q}\sigma^T\bar u` with :math:`\Sigma_1 =
\{-1, 1\}^d` and :math:`\Sigma_\infty = \{\pm e_i\}`, so :math:`K_j = \{u : g^Tu \ge 0,\ g \in
\mathcal G_j\}` with the generators :math:`g_{k\sigma} = e_k(s_{kj}x'_k - \epsilon[\sigma; 0])`. Its polar
cone is :math:`-\operatorname{cone}\mathcal G_j`, and by Moreau's decomposition

.. math::
    \Pi_{K_j}(c) = c + G\lambda^*,\qquad \lambda^* \in \arg\min_{\lambda \ge 0}\|c + G\lambda\|,

an NNLS over the columns :math:`g_{k\sigma}` (exponentially many for ``q = 1``). Lawson-Hanson needs
only the most negative gradient entry :math:`\min_{k,\sigma}g_{k\sigma}^Tu`, at :math:`u = c + G\lambda`:
for each row the best :math:`\sigma` attains :math:`\|\bar u\|_q` (``sign(u_bar)``, or
:math:`\operatorname{sign}(\bar u_i)e_i` at the largest :math:`|\bar u_i|`), so the entry is the scaled
margin :math:`r_k = e_k(s_{kj}x_k'^Tu - \epsilon\|\bar u\|_q)` and the column to add is the most
violated row's. The method stops when no margin is below ``-tol``: then :math:`u \in K_j`,
:math:`G_A^Tu = 0` on the passive columns (the least-squares solution) and :math:`\lambda \ge 0`,
the KKT conditions of the projection. A basic solution has at most ``d'`` passive columns.

Every iterate bounds the projection: :math:`-G\lambda \in K_j^\circ`, so :math:`\|\Pi_{K_j}(c)\| =
\operatorname{dist}(c, K_j^\circ) \le \|c + G\lambda\|`, which certifies the zero blocks of the
ADMM's v-step (``zero_radius``) as soon as the residual is within it. The row multipliers are
:math:`\mu_k = \sum_\sigma\lambda_{k\sigma}`, with :math:`c - \Pi(c) = -B^T\mu + \epsilon
m[\xi; 0]`, :math:`m = e^T\mu`, :math:`\xi = \sum_{k,\sigma}e_k\lambda_{k\sigma}\sigma/m` (a
subgradient of the norm at the projection), as for :class:`~cvxnn.admm.robust_newton.NewtonConeProjector`.
All blocks iterate together (one batched least-squares solve per step); the passive columns of
a call warm-start the next. Once the ADMM settles, most calls keep every block's passive set, so
each block's columns and the inverse of their Gram matrix are kept between calls and recomputed
only for the blocks whose set (or ``eps``) changed: the first least-squares solve of such a call
is two batched matrix-vector products (with one step of iterative refinement).
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..exceptions import InvalidInputError
from .robust_projection import project_blocks_conic

__all__ = ["ActiveSetConeProjector"]

#: Relative size below which a passive coefficient counts as zero (dropped).
DROP_TOL = 1e-12
#: The inverse of a block's passive Gram matrix is cached only when its 1-norm condition number is
#: at most this (a batch of added columns may be nearly dependent; those blocks are solved anew).
CACHE_COND = 1e10
#: Columns added per block and step (the most violated rows).
ADD_COLUMNS = 4
# cache states of a block's passive set: columns to rebuild, built, used once, inverse cached,
# ill-conditioned (solved anew at each use)
_STALE, _NEW, _SEEN, _CACHED, _SOLVE = range(5)


class ActiveSetConeProjector:
    r"""Exact projections onto the polyhedral robust cones (``q`` = 1 or inf) of all blocks.

    Same interface as :class:`~cvxnn.admm.robust_newton.NewtonConeProjector` (the module
    docstring gives the method).

    Parameters
    ----------
    X : ndarray, shape (n, d')
        The design (bias column last, if any).
    signs : ndarray, shape (n, J)
        :math:`\pm 1` per row and block.
    e : ndarray, shape (n,)
        Positive row scaling.
    dbar : int
        Number of perturbable rows (the first ``dbar`` of ``u``).
    q : {1, numpy.inf}
        Dual exponent of the perturbation norm.
    tol : float
        Every margin :math:`r_k \ge -\text{tol}\max(1, \|c_j\|)` at the returned projection.
    apex_tol : float
        A block whose residual :math:`\|c_j + G\lambda\|` is within ``apex_tol * max(1, ||c_j||)``
        is returned as 0.
    max_iter : int or None
        Column additions per call before the unsettled blocks fall back to the conic solve
        (default ``4 d'``).

    Attributes
    ----------
    exact : bool
        Whether every block of the last call met the tolerance (or its fallback verified every row).
    iterations : int
        Lawson-Hanson outer steps (column additions) of the last call.
    rounds, rows, fallbacks : int
        Outer steps, passive columns of the last call, blocks sent to the conic solver.
    reused : int
        Least-squares solves of the last call that used a cached inverse, summed over its outer
        steps (each step's first solve, per block whose passive set was already inverted).
    multipliers : ndarray, shape (n, J)
        Row multipliers :math:`\mu \ge 0` (see the module docstring).
    """

    def __init__(
        self,
        X: np.ndarray,
        signs: np.ndarray,
        e: np.ndarray,
        dbar: int,
        q: float,
        *,
        tol: float = 1e-9,
        apex_tol: float = 1e-7,
        max_iter: int | None = None,
    ) -> None:
        if float(q) not in (1.0, math.inf):
            raise InvalidInputError(
                f"ActiveSetConeProjector needs q = 1 or inf (polyhedral cones); got q = {q}. Use "
                "NewtonConeProjector for q = 2."
            )
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.n, self.d = self.X.shape
        self.signs = np.asarray(signs, dtype=np.float64)
        self.J = self.signs.shape[1]
        self.e = np.asarray(e, dtype=np.float64)
        self.ES = self.signs * self.e[:, None]
        self.dbar, self.q = int(dbar), float(q)
        self.tol, self.apex_tol = tol, apex_tol
        self.max_iter = 4 * self.d if max_iter is None else max_iter
        self.slots = self.d + ADD_COLUMNS + 1  # passive columns (a basic solution has at most d')
        self.col_row = np.full((self.J, self.slots), -1)  # row k of each passive column, -1: free
        self.col_sig = np.zeros((self.J, self.slots, self.dbar))  # its sigma
        self.lam = np.zeros((self.J, self.slots))
        self.multipliers = np.zeros((self.n, self.J))
        self.exact, self.iterations, self.rounds, self.rows, self.fallbacks = True, 0, 0, 0, 0
        self.reused = 0
        # per block: its passive columns, their (regularized) Gram matrix and its inverse, for
        # ``_cached_eps``, in the state ``_cache`` (one of the ``_STALE`` ... ``_SOLVE`` codes)
        self._G = np.zeros((self.J, self.slots, self.d))
        self._N = np.zeros((self.J, self.slots, self.slots))
        self._Ninv = np.zeros((self.J, self.slots, self.slots))
        self._cache = np.full(self.J, _STALE, dtype=np.int8)
        self._cached_eps = math.nan

    # ------------------------------------------------------------------ pieces
    def _columns(self, blocks: np.ndarray, eps: float) -> np.ndarray:
        r"""The passive columns :math:`g_{k\sigma}` of ``blocks`` (``(m, slots, d')``; free slots 0),
        from the cache where a block's set is unchanged; rebuilds the others."""
        if eps != self._cached_eps:
            self._cache[:] = _STALE
            self._cached_eps = eps
        stale = blocks[self._cache[blocks] == _STALE]
        if stale.size:
            self._G[stale] = self._build_columns(stale, eps)
            self._cache[stale] = _NEW
        return self._G[blocks]

    def _build_columns(self, blocks: np.ndarray, eps: float) -> np.ndarray:
        rows = self.col_row[blocks]
        used = rows >= 0
        k = np.where(used, rows, 0)
        G = self.ES[k, blocks[:, None]][:, :, None] * self.X[k]
        if eps > 0 and self.dbar:
            G[:, :, : self.dbar] -= eps * self.e[k][:, :, None] * self.col_sig[blocks]
        return G * used[:, :, None]

    @staticmethod
    def _gram(G: np.ndarray, active: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The active columns ``Ga`` and their Gram matrix, regularized (identity on free slots)."""
        Ga = G * active[:, :, None]
        N = Ga @ Ga.transpose(0, 2, 1)
        scale = np.maximum(np.einsum("jkk->j", N) / max(N.shape[1], 1), 1e-300)
        idx = np.arange(N.shape[1])
        N[:, idx, idx] += np.where(active, 1e-14 * scale[:, None], 1.0)
        return Ga, N

    def _cache_inverses(self, blocks: np.ndarray) -> None:
        """Invert the regularized passive Gram matrices of ``blocks``; a block is ``_CACHED`` when
        its 1-norm condition number is within :data:`CACHE_COND`, ``_SOLVE`` otherwise."""
        _, N = self._gram(self._G[blocks], self.col_row[blocks] >= 0)
        try:
            Ninv = np.linalg.inv(N)
        except np.linalg.LinAlgError:  # a singular block: this batch is solved anew each time
            self._cache[blocks] = _SOLVE
            return
        cond = np.abs(N).sum(axis=1).max(axis=1) * np.abs(Ninv).sum(axis=1).max(axis=1)
        ok = cond <= CACHE_COND
        Ninv[~ok] = 0.0  # kept finite and small: the all-block product skips no block
        self._N[blocks], self._Ninv[blocks] = N, Ninv
        self._cache[blocks] = np.where(ok, _CACHED, _SOLVE)

    @staticmethod
    def _refined_solve(Ninv: np.ndarray, N: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        """``N^{-1} rhs`` per block from the inverse, with one step of iterative refinement."""
        z = (Ninv @ rhs[:, :, None])[:, :, 0]
        return z + (Ninv @ (rhs - (N @ z[:, :, None])[:, :, 0])[:, :, None])[:, :, 0]

    def _first_least_squares(self, G: np.ndarray, blocks: np.ndarray, C: np.ndarray) -> np.ndarray:
        r""":meth:`_least_squares` on every block's full passive set: by the cached inverses (one
        step of iterative refinement against the cached Gram matrices) where the block is cached,
        by a solve elsewhere. A set is inverted on its second use (sets that change every step
        are never inverted)."""
        state = self._cache[blocks]
        second = blocks[state == _SEEN]
        if second.size:
            self._cache_inverses(second)
        self._cache[blocks[state == _NEW]] = _SEEN
        active = self.col_row[blocks] >= 0
        fast = self._cache[blocks] == _CACHED
        self.reused += int(fast.sum())
        z = np.zeros(active.shape)
        if blocks.size == self.J and fast.any():  # all blocks: no gathered copies of the caches
            z = self._refined_solve(self._Ninv, self._N, -np.einsum("jkd,dj->jk", G, C)) * active
        elif fast.any():
            fb = blocks[fast]
            rhs = -np.einsum("jkd,dj->jk", G[fast], C[:, fast])
            z[fast] = self._refined_solve(self._Ninv[fb], self._N[fb], rhs) * active[fast]
        if not fast.all():
            z[~fast] = self._least_squares(G[~fast], C[:, ~fast], active[~fast])
        return z

    @staticmethod
    def _least_squares(G: np.ndarray, C: np.ndarray, active: np.ndarray) -> np.ndarray:
        r""":math:`\arg\min_z\|c + G_A^Tz\|` per block on the active slots (0 elsewhere)."""
        Ga, N = ActiveSetConeProjector._gram(G, active)
        rhs = -np.einsum("jkd,dj->jk", Ga, C)
        try:
            z = np.linalg.solve(N, rhs[:, :, None])[:, :, 0]
        except np.linalg.LinAlgError:  # a numerically singular block (e.g. zero columns)
            z = np.stack([np.linalg.lstsq(N[j], rhs[j], rcond=None)[0] for j in range(N.shape[0])])
        return z * active

    def _margins(self, U: np.ndarray, blocks: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
        """Scaled margins ``(n, m)`` of ``U`` (``(d', m)``) and the best sigma per block (``(dbar, m)``)."""
        r = self.ES[:, blocks] * (self.X @ U)
        Ub = U[: self.dbar]
        if self.q == 1.0:
            sig = np.sign(Ub)
        else:
            sig = np.zeros_like(Ub)
            if self.dbar:
                top = np.argmax(np.abs(Ub), axis=0)
                cols = np.arange(U.shape[1])
                sig[top, cols] = np.sign(Ub[top, cols])
        if eps > 0 and self.dbar:
            r -= (eps * self.e)[:, None] * np.einsum("ij,ij->j", sig, Ub)[None, :]
        return r, sig

    # ------------------------------------------------------------------ the projection
    def project(
        self,
        C: np.ndarray,
        eps: float,
        time_limit: float | None = None,
        zero_radius: np.ndarray | None = None,
        max_iter: int | None = None,
        fallback: bool = True,
    ) -> np.ndarray | None:
        r""":math:`\Pi_{K^\epsilon_j}(c_j)` for every column of ``C`` (``(d', J)``), warm-started from
        the last call's passive columns; as :meth:`NewtonConeProjector.project
        <cvxnn.admm.robust_newton.NewtonConeProjector.project>` (``zero_radius``: a block whose
        residual :math:`\|c_j + G\lambda\| \ge \|\Pi(c_j)\|` is within it is returned as 0;
        ``fallback=False``: unsettled blocks return their last iterate :math:`c_j + G\lambda`)."""
        limit = self.max_iter if max_iter is None else max_iter
        deadline = math.inf if time_limit is None else time.perf_counter() + time_limit
        C = np.asarray(C, dtype=np.float64)
        J = self.J
        out = np.zeros_like(C)
        cnorm = np.sqrt(np.einsum("ij,ij->j", C, C))
        thr = self.tol * np.maximum(1.0, cnorm)
        small = self.apex_tol * np.maximum(1.0, cnorm)
        if zero_radius is not None:
            small = np.maximum(small, np.broadcast_to(np.asarray(zero_radius, dtype=np.float64), (J,)))
        todo = np.arange(J)
        self.iterations, self.reused = 0, 0
        for it in range(limit + 1):
            blocks = todo
            G = self._columns(blocks, eps)
            active = self.col_row[blocks] >= 0
            lam = self.lam[blocks] * active
            Cb = C[:, blocks]
            # Lawson-Hanson inner loop: least squares on the passive set, stepping back to keep
            # lambda >= 0 and dropping the columns that reach 0
            z = self._first_least_squares(G, blocks, Cb)
            sub = np.arange(blocks.size)  # blocks whose least-squares solution is not yet >= 0
            for _ in range(self.slots + 1):
                zs, ls, act = z[sub], lam[sub], active[sub]
                neg = act & (zs <= DROP_TOL * np.maximum(np.abs(zs).max(axis=1, keepdims=True), 1e-300))
                bad = neg.any(axis=1)
                lam[sub[~bad]] = zs[~bad]
                if not bad.any():
                    break
                sub, zs, ls, act, neg = sub[bad], zs[bad], ls[bad], act[bad], neg[bad]
                gap = ls - zs  # >= 0 where neg; 0 only at a column already at 0 (ratio 0)
                ratio = np.where(neg, ls / np.where(gap > 0, gap, 1.0), np.inf)
                alpha = np.clip(ratio.min(axis=1), 0.0, 1.0)
                ls = ls + alpha[:, None] * (zs - ls)
                drop = neg & (ratio <= alpha[:, None])
                drop |= neg & (ls <= DROP_TOL * np.maximum(ls.max(axis=1, keepdims=True), 1e-300))
                act &= ~drop
                active[sub] = act
                lam[sub] = np.where(act, ls, 0.0)
                z[sub] = self._least_squares(G[sub], Cb[:, sub], act)
            else:
                lam[sub] = np.where(active[sub], np.maximum(z[sub], 0.0), 0.0)
            dropped = ((self.col_row[blocks] >= 0) & ~active).any(axis=1)
            self._cache[blocks[dropped]] = _STALE
            self.col_row[blocks] = np.where(active, self.col_row[blocks], -1)
            self.lam[blocks] = lam
            G *= active[:, :, None]
            U = Cb + np.einsum("jkd,jk->dj", G, lam)
            resid = np.sqrt(np.einsum("ij,ij->j", U, U))
            zero = resid <= small[blocks]  # certified (the margins of these are not needed)
            out[:, blocks[zero]] = 0.0
            live = np.flatnonzero(~zero)
            r, sig = self._margins(U[:, live], blocks[live], eps)
            feasible = r.min(axis=0, initial=np.inf) >= -thr[blocks[live]]
            out[:, blocks[live[feasible]]] = U[:, live[feasible]]
            keep = np.zeros(blocks.size, dtype=bool)
            keep[live[~feasible]] = True
            if not keep.any() or it == limit or time.perf_counter() > deadline:
                break
            # add the most violated rows' columns (their best sigma) to free slots
            todo = blocks[keep]
            rk, sig = r[:, ~feasible], sig[:, ~feasible]
            k_add = min(ADD_COLUMNS, self.n)
            top = np.argpartition(rk, k_add - 1, axis=0)[:k_add] if k_add < self.n else np.argsort(rk, axis=0)
            for t in range(k_add):
                rows = top[t]
                viol = rk[rows, np.arange(todo.size)] < -thr[todo]
                free = self.col_row[todo] < 0
                ok = viol & free.any(axis=1)
                slot = np.argmax(free, axis=1)
                self.col_row[todo[ok], slot[ok]] = rows[ok]
                self.col_sig[todo[ok], slot[ok]] = sig[:, ok].T
                self.lam[todo[ok], slot[ok]] = 0.0
                self._cache[todo[ok]] = _STALE
            self.iterations = it + 1
        self.rounds = self.iterations
        left = blocks[keep] if keep.any() else np.zeros(0, dtype=int)
        self._store_multipliers()
        self.rows = int((self.col_row >= 0).sum())
        self.fallbacks = int(left.size)
        self.exact = not self.fallbacks
        if self.fallbacks and not fallback:
            out[:, left] = U[:, keep]
        elif self.fallbacks:
            solved = project_blocks_conic(
                self.X, self.signs[:, left], self.e, self.dbar, self.q, C[:, left], eps, deadline
            )
            if solved is None:
                return None
            out[:, left], self.multipliers[:, left], self.exact = solved
        return out

    def _store_multipliers(self) -> None:
        r""":math:`\mu_k = \sum_\sigma\lambda_{k\sigma}` per block (``(n, J)``)."""
        used = self.col_row >= 0
        blocks = np.broadcast_to(np.arange(self.J)[:, None], used.shape)
        flat = self.col_row[used] * self.J + blocks[used]
        mu = np.bincount(flat, weights=self.lam[used], minlength=self.n * self.J)
        self.multipliers = mu.reshape(self.n, self.J)
