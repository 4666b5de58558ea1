r"""Exact Euclidean projections onto the activation cones of the convex ReLU program.

Block ``j`` of the ``relu`` program constrains :math:`u_j \in K_j = \{u : s_{kj}\,x_k^Tu \ge 0,\
k = 1..n\}` (``s_{kj} = 2D_{kj} - 1 = \pm 1``): a polyhedral cone in :math:`\mathbb{R}^{d'}`
cut by ``n`` half-spaces through the origin. :class:`ConeProjector` computes
:math:`\Pi_{K_j}(t_j)` for all ``J`` blocks at once.

Method
------
The projection is the QP :math:`\min \tfrac12\|u - t\|^2` s.t. :math:`Bu \ge 0`
(:math:`B = \operatorname{diag}(s_j)\hat X`, rows :math:`\hat x_k = x_k/\|x_k\|`). Its KKT
conditions are :math:`u = t + B^T\mu`, :math:`\mu \ge 0`, :math:`Bu \ge 0`, :math:`\mu^TBu = 0`.
Given a working set ``W`` of active rows (at most ``d'``: rows in general position), the
equality-constrained solution is the projection of ``t`` onto the null space of
:math:`\hat X_W`:

.. math::
    \eta = -(\hat X_W\hat X_W^T)^{-1}\hat X_W t,\qquad u = t + \hat X_W^T\eta,
    \qquad \mu_W = s_W \odot \eta,

independent of the signs except through :math:`\mu`. The working sets are kept between calls
(the ADMM's inputs move little once it converges) and updated by **Lawson-Hanson** active-set
steps on the dual NNLS :math:`\min_{\mu \ge 0}\|t + B^T\mu\|`: starting from the previous
multipliers (still dual feasible for a new ``t``), move toward the working set's least-squares
multipliers and drop the row that reaches zero first, until they are positive; then add the most
violated row (it is independent of ``W``) and repeat. The dual iterate stays feasible
(:math:`z \ge 0`), so :math:`\|t + B_W^Tz\| \ge \|\Pi_K(t)\|` at every step, which gives
early exits (:meth:`ConeProjector.prox`) and valid bounds from truncated calls.

Cost. The inverse Gram (:math:`|W| \times |W|`) is cached per block and changed by rank-one
bordering / downdating (recomputed from the rows after an ill-conditioned pivot and every
``2 d'`` updates), so a settled projection costs three batched ``d' x d'`` matrix-vector products
per block plus the verification, one ``n x d' x J`` product :math:`\hat XU` and a sign check.
A block that has not settled after ``max_steps`` steps, or whose rows are numerically
dependent, is solved by Lawson-Hanson NNLS (:func:`scipy.optimize.nnls`) on a growing candidate
subset of the rows (:meth:`ConeProjector._nnls`). Every returned projection is verified against
all ``n`` rows to the relative tolerance ``tol``; the multipliers are nonnegative by construction.
"""

from __future__ import annotations

import copy

import numpy as np
from scipy.optimize import nnls

__all__ = ["ConeProjector"]


class ConeProjector:
    r"""Warm-started exact projections onto :math:`K_j = \{u : s_j \odot (Xu) \ge 0\}`, all blocks.

    Parameters
    ----------
    X : ndarray of shape (n, d)
        The design; rows with zero norm constrain nothing and are ignored.
    signs : ndarray of shape (n, J)
        :math:`\pm 1` per row and block (``2D - 1`` for each of the ``V`` and ``W`` blocks).
    tol : float
        Feasibility and multiplier tolerance, relative (rows are normalized).
    max_steps : int or None
        Active-set steps per call before a block falls back to NNLS (``None``: ``4 d``; a cold
        start adds up to ``d`` rows one at a time).
    """

    def __init__(
        self, X: np.ndarray, signs: np.ndarray, *, tol: float = 1e-10, max_steps: int | None = None
    ) -> None:
        norms = np.linalg.norm(X, axis=1)
        self.Xn = np.ascontiguousarray(X / np.where(norms > 0, norms, 1.0)[:, None])
        self.n, self.d = X.shape
        self.J = signs.shape[1]
        self.tol = tol
        self.max_steps = 4 * self.d if max_steps is None else max_steps
        # block-major copies for the verification: the rows of a subset of blocks are contiguous
        self.XnT = np.ascontiguousarray(self.Xn.T)  # (d, n)
        # (J', n): the distinct sign rows; block j uses row j % J' (the relu program's V and W
        # blocks share their signs, so J' = J / 2 there: half the memory traffic of the checks)
        half = self.J // 2
        if self.J % 2 == 0 and np.array_equal(signs[:, :half], signs[:, half:]):
            signs = signs[:, :half]
        self.signsT = np.ascontiguousarray(signs.T, dtype=np.float64)
        self.period = self.signsT.shape[0]
        self._G = np.empty((self.J, self.n))
        self._g = np.empty((self.J, self.n))
        self._reset()

    def twin(self) -> ConeProjector:
        """A projector onto the same cones with its own working sets, sharing the data and the
        ``(J, n)`` work buffers (no extra ``O(nJ)`` memory); calls must not interleave."""
        other = copy.copy(self)
        other._reset()
        return other

    def _reset(self) -> None:
        """Empty working sets (a cold start)."""
        d, J = self.d, self.J
        self.exact = True
        self.W = np.full((J, d), -1, dtype=np.intp)  # working sets, padded with -1
        self.Xw = np.zeros((J, d, d))  # their rows of X-hat (zero rows for padding)
        self.Ginv = np.zeros((J, d, d))  # inverse Gram, zero on the padding
        self.Sw = np.zeros((J, d))  # their signs (0 on the padding)
        self.Z = np.zeros((J, d))  # the multipliers (>= 0) on the working sets
        self.age = np.zeros(J, dtype=np.intp)  # rank-one updates since the last fresh inverse
        self.refresh_every = 2 * d
        self.max_inverse = 1e15
        self.ill_conditioned = 1e-6  # a bordering pivot below this marks the block
        self.ill = np.zeros(J, dtype=bool)
        self._eye = np.eye(d, dtype=bool)[None]
        self.n_fallbacks = 0
        self.n_steps = 0

    # ------------------------------------------------------------------ working sets
    def _fresh(self, blocks: np.ndarray) -> np.ndarray:
        """Recompute the inverse Grams of ``blocks`` from their rows; returns the blocks whose
        Gram is singular or too ill-conditioned to trust (they go to the NNLS fallback)."""
        mask = self.W[blocks] >= 0
        Xw = self.Xw[blocks]
        G = Xw @ Xw.transpose(0, 2, 1)
        G[~mask[:, :, None] & self._eye] = 1.0  # identity on the empty slots
        bad = np.zeros(blocks.size, dtype=bool)
        try:
            Ginv = np.linalg.inv(G)
        except np.linalg.LinAlgError:
            Ginv = np.zeros_like(G)
            for i in range(blocks.size):  # rare: one singular Gram among the blocks
                try:
                    Ginv[i] = np.linalg.inv(G[i])
                except np.linalg.LinAlgError:
                    bad[i] = True
        bad |= ~np.all(np.isfinite(Ginv), axis=(1, 2)) | (np.abs(Ginv).max(axis=(1, 2)) > self.max_inverse)
        Ginv *= mask[:, :, None] & mask[:, None, :]
        self.Ginv[blocks] = Ginv
        self.age[blocks] = 0
        return blocks[bad]

    def _add(self, blocks: np.ndarray, rows: np.ndarray) -> np.ndarray:
        r"""Add row ``rows[i]`` to the working set of ``blocks[i]`` (multiplier 0), updating the
        inverse Gram by bordering: with :math:`b = \hat X_W\hat x_r`, :math:`q = G^{-1}b`,
        :math:`\sigma = 1 - b^Tq`, the new inverse is
        :math:`\begin{pmatrix} G^{-1} + qq^T/\sigma & -q/\sigma \\ -q^T/\sigma & 1/\sigma \end{pmatrix}`.
        A pivot below ``ill_conditioned`` (a nearly dependent row) makes the block's inverse be
        recomputed from its rows; returns the blocks whose recomputed Gram is not trusted."""
        slot = np.argmax(self.W[blocks] < 0, axis=1)
        x = self.Xn[rows]
        b = np.einsum("bmd,bd->bm", self.Xw[blocks], x)
        Ginv = self.Ginv[blocks]
        q = np.einsum("bmk,bk->bm", Ginv, b)
        sigma = 1.0 - np.einsum("bm,bm->b", b, q)
        ill = ~(sigma > self.ill_conditioned)
        sig = np.where(ill, 1.0, sigma)
        Ginv += q[:, :, None] * (q[:, None, :] / sig[:, None, None])
        ar = np.arange(blocks.size)
        Ginv[ar, :, slot] = -q / sig[:, None]
        Ginv[ar, slot, :] = -q / sig[:, None]
        Ginv[ar, slot, slot] = 1.0 / sig
        self.Ginv[blocks] = Ginv
        self.W[blocks, slot] = rows
        self.Xw[blocks, slot] = x
        self.Sw[blocks, slot] = self.signsT[blocks % self.period, rows]
        self.Z[blocks, slot] = 0.0
        self.age[blocks] += 1
        # a small pivot (a nearly dependent row): recompute those inverses from the rows, since
        # bordering and the later downdates lose accuracy like 1 / sigma
        self.ill[blocks[ill]] = True
        return self._fresh(blocks[ill])

    def _remove(self, blocks: np.ndarray, slots: np.ndarray) -> np.ndarray:
        r"""Remove slot ``slots[i]`` of ``blocks[i]``:
        :math:`G^{-1} \leftarrow G^{-1} - G^{-1}e_ie_i^TG^{-1}/(G^{-1})_{ii}` on the rest.

        After an ill-conditioned addition this downdate cancels large entries, so such blocks
        are recomputed from their rows instead; returns the blocks whose recomputed Gram is not
        trusted."""
        ar = np.arange(blocks.size)
        Ginv = self.Ginv[blocks]
        col = Ginv[ar, :, slots]
        piv = col[ar, slots]  # > 0, except on an inverse zeroed after an untrusted Gram (_nnls)
        Ginv -= col[:, :, None] * (col[:, None, :] / np.where(piv > 0, piv, 1.0)[:, None, None])
        Ginv[ar, :, slots] = 0.0
        Ginv[ar, slots, :] = 0.0
        self.Ginv[blocks] = Ginv
        self.W[blocks, slots] = -1
        self.Xw[blocks, slots] = 0.0
        self.Sw[blocks, slots] = 0.0
        self.Z[blocks, slots] = 0.0
        self.age[blocks] += 1
        ill = blocks[self.ill[blocks]]
        if not ill.size:
            return ill
        self.ill[ill] = False
        return self._fresh(ill)

    def _least_squares(self, T: np.ndarray, blocks: np.ndarray) -> np.ndarray:
        """Unconstrained multipliers on the working sets: ``(b, d)``, zero on the empty slots."""
        every = blocks.size == self.J  # whole arrays: no gathers of (J, d, d) arrays
        b = slice(None) if every else blocks
        t = T.T[b, :, None]
        eta = np.matmul(self.Ginv[b], np.matmul(self.Xw[b], t))[:, :, 0]
        return self.Sw[b] * -eta

    def _point(self, T: np.ndarray, blocks: np.ndarray) -> np.ndarray:
        r""":math:`u = t + B_W^Tz` for ``blocks`` (``(d, b)``)."""
        b = slice(None) if blocks.size == self.J else blocks
        coef = (self.Sw[b] * self.Z[b])[:, None, :]
        return T[:, b] + np.matmul(coef, self.Xw[b])[:, 0, :].T

    def _nnls(self, T: np.ndarray, j: int) -> None:
        r"""Exact projection of block ``j`` by Lawson-Hanson NNLS (:func:`scipy.optimize.nnls`,
        QR-based, so accurate where the inverse Gram is not); sets its working set.

        The NNLS runs on a candidate subset ``C`` of the rows, not on all ``n``: the projection
        onto :math:`K_C = \{u : B_Cu \ge 0\} \supseteq K_j` lies in :math:`K_j` exactly when it
        is :math:`\Pi_{K_j}(t)`, so the rows violated by it are added to ``C`` and it is solved
        again until none is. ``C`` starts from the working set and the rows that the current
        active-set iterate violates or nearly meets (at most ``4 d'`` of the smallest), and
        grows by up to ``d'`` of the most violated rows per round (at least one new row per
        round, so this ends, after at most ``n`` rounds)."""
        self.n_fallbacks += 1
        t, s = T[:, j], self.signsT[j % self.period]
        width = 4 * self.d
        u = self._point(T, np.array([j]))[:, 0]
        g = s * (self.Xn @ u)
        near = np.flatnonzero(g <= 1e-6 * max(np.linalg.norm(t), np.finfo(float).tiny))
        if near.size > width:
            near = near[np.argpartition(g[near], width)[:width]]
        cand = np.union1d(self.W[j][self.W[j] >= 0], near)
        thr = self.tol * max(np.linalg.norm(t), np.finfo(float).tiny)
        while True:
            B = self.Xn[cand] * s[cand, None]
            mu_c, _ = nnls(B.T, -t, maxiter=50 * max(cand.size, self.d))
            g = s * (self.Xn @ (t + B.T @ mu_c))
            violated = np.flatnonzero(g < -thr)
            violated = violated[~np.isin(violated, cand)]  # rows of C are met to NNLS accuracy
            if not violated.size:
                break
            if violated.size > self.d:
                violated = violated[np.argpartition(g[violated], self.d)[: self.d]]
            cand = np.union1d(cand, violated)
        mu = np.zeros(self.n)
        mu[cand] = mu_c
        support = np.flatnonzero(mu > 0)
        support = support[np.argsort(-mu[support])][: self.d]
        self.W[j] = -1
        self.Z[j] = 0.0
        self.W[j, : support.size] = support
        self.Z[j, : support.size] = mu[support]
        self.Xw[j] = 0.0
        self.Xw[j, : support.size] = self.Xn[support]
        self.Sw[j] = 0.0
        self.Sw[j, : support.size] = self.signsT[j % self.period, support]
        if self._fresh(np.array([j])).size:  # dependent rows: no trusted inverse, so the next
            self.Ginv[j] = 0.0  # least-squares step drops rows (the full check still verifies)

    def _settle(self, T: np.ndarray, blocks: np.ndarray) -> None:
        """Lawson-Hanson inner loop: make the working-set solution nonnegative by moving from the
        current multipliers ``z >= 0`` toward the least-squares ones and dropping the row that hits
        zero first, until the least-squares multipliers are positive."""
        old = blocks[self.age[blocks] >= self.refresh_every]
        if old.size:  # bound the drift of the rank-one updates
            for j in self._fresh(old):
                self._nnls(T, int(j))
        while blocks.size:
            s = self._least_squares(T, blocks)
            neg = (self.W[blocks] >= 0) & (s <= 0.0)
            ok = ~neg.any(axis=1)
            self.Z[blocks[ok]] = s[ok]
            blocks, s, neg = blocks[~ok], s[~ok], neg[~ok]
            if not blocks.size:
                return
            z = self.Z[blocks]
            den = z - s  # > 0 on neg rows unless z = s = 0 (then the step is 0)
            ratio = np.where(neg, z / np.where(neg & (den > 0), den, 1.0), np.inf)
            first = np.argmin(ratio, axis=1)
            step = ratio[np.arange(blocks.size), first][:, None]
            z = z + step * (s - z)
            z[np.arange(blocks.size), first] = 0.0
            self.Z[blocks] = z
            # drop every row whose multiplier reached zero (the first one exactly, ties rounded)
            drop = (self.W[blocks] >= 0) & (z <= 0.0)
            while np.any(drop):
                has = drop.any(axis=1)
                slot = np.argmax(drop[has], axis=1)
                for j in self._remove(blocks[has], slot):
                    self._nnls(T, int(j))
                drop[np.flatnonzero(has), slot] = False

    # ------------------------------------------------------------------ the projection
    def prox(self, T: np.ndarray, tau: np.ndarray | float = 0.0, budget: int | None = None) -> np.ndarray:
        r"""The prox of :math:`\tau\|\cdot\|_2 + I_{K_j}` for every column of ``T``:
        :math:`(1 - \tau/\|p_j\|)_+\,p_j` with :math:`p_j = \Pi_{K_j}(t_j)` (``(d, J)`` in and out).

        That the prox of the sum is the group soft-threshold of the projection holds for any
        closed convex cone: for :math:`u \in K`, :math:`\|u - t\|^2 = \|u - p\|^2 + \|p - t\|^2
        - 2\langle u, t - p\rangle` with :math:`\langle u, t - p\rangle \le 0` and
        :math:`\langle p, t - p\rangle = 0`, and the soft-threshold of ``p`` is a multiple of ``p``.
        A block stops as soon as the active-set iterate, :math:`u = t + B_W^Tz` with
        :math:`z \ge 0` (so :math:`\|p\| \le \|u\|`), has norm at most :math:`\tau_j`: its
        result is 0 whatever the exact projection. ``tau = 0`` gives the projection.

        ``budget`` caps the active-set steps of this call: the blocks still unsettled then keep
        their active-set iterate (an inexact prox, a valid upper bound on the norm) and
        :attr:`exact` is False; the next call continues from their working sets.
        """
        J = self.J
        self.exact = True
        tau = np.broadcast_to(np.asarray(tau, dtype=np.float64), (J,))
        blocks = np.arange(J)
        self._settle(T, blocks)
        U = np.ascontiguousarray(self._point(T, blocks))
        UX = np.matmul(U.T, self.XnT, out=self._G)  # (J, n): row j is X-hat u_j
        scale = np.linalg.norm(T, axis=0)
        thr = self.tol * np.where(scale > 0, scale, 1.0)
        zero = np.zeros(J, dtype=bool)
        pending = blocks
        steps = 0
        while pending.size:
            norms = np.linalg.norm(U[:, pending], axis=0)
            small = norms <= tau[pending]
            zero[pending[small]] = True
            pending = pending[~small]
            if steps == 0:  # the first check on whole arrays (no row gathers)
                g = UX.reshape(-1, self.period, self.n)  # signed in place (no second (J, n) array)
                g = np.multiply(g, self.signsT, out=g).reshape(J, self.n)
                failed = g.min(axis=1)[pending] < -thr[pending]
                rows = pending[failed]
            else:  # the pending blocks' rows, compact, in the fixed buffers (no page faults)
                g = np.matmul(U[:, pending].T, self.XnT, out=self._g[: pending.size])
                g *= np.take(self.signsT, pending % self.period, axis=0, out=self._G[: pending.size])
                failed = g.min(axis=1) < -thr[pending]
                rows = np.flatnonzero(failed)
            # row minima first (a contiguous reduction); the argmin only where one fails
            if not np.any(failed):
                break
            worst = np.argmin(g[rows], axis=1)
            pending = pending[failed]
            steps += 1
            self.n_steps += 1
            if budget is not None and steps > budget:
                self.exact = False  # leave these blocks at their active-set iterate for now
                break
            if steps > self.max_steps:
                for j in pending:
                    self._nnls(T, int(j))
            else:
                # a working-set row that looks violated means the updated inverse drifted:
                # recompute it from the rows instead of adding the row twice
                drift = np.any(self.W[pending] == worst[:, None], axis=1)
                for j in self._fresh(pending[drift]):
                    self._nnls(T, int(j))
                size = np.count_nonzero(self.W[pending] >= 0, axis=1)
                full = (size >= self.d) & ~drift
                for j in pending[full]:
                    self._nnls(T, int(j))
                grow = ~full & ~drift
                for j in self._add(pending[grow], worst[grow]):  # a dependent row: exact NNLS
                    self._nnls(T, int(j))
                self._settle(T, pending[~full])
            U[:, pending] = self._point(T, pending)
            if steps > self.max_steps:
                break
        norms = np.linalg.norm(U, axis=0)
        shrink = np.where(zero, 0.0, np.maximum(0.0, 1.0 - tau / np.where(norms > 0, norms, 1.0)))
        return U * shrink

    def project(self, T: np.ndarray) -> np.ndarray:
        r""":math:`\Pi_{K_j}(t_j)` for every column of ``T`` (``(d, J)``); see :meth:`prox`."""
        return self.prox(T, 0.0)
