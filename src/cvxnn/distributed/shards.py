r"""Row shards of the training set and the row-local ADMM work done on each worker.

A shard holds rows ``k`` in one chunk of ``X`` and ``y``. On its worker it computes the design
rows :math:`X'_s` (``[X_s, 1]`` with a bias), the patterns
:math:`D_s = 1[X'_s G \ge 0]` (``n_s x P``, from the ``d' x P`` gates: patterns never travel),
the signs :math:`S_s = 2D_s - 1` and the cone row scaling :math:`e_k = 1/\|x'_k\|`. The ADMM's
row state (slacks ``s``, their scaled duals ``nu``, and for a split loss ``z``, ``mu``) lives in a
:class:`ShardWorker` (a Dask actor) and never leaves the worker; per iteration a shard receives
``U`` (``d' x 2P``) and returns its ``d' x 2P`` share of the next right-hand side.

Operators (per shard, ``U = [V, W]``): :math:`Gu = E\,[S, S] \odot X'U`,
:math:`Fu = \sum_i D_i \odot X'(v_i - w_i)`, :math:`G^TQ = X'^T(E[S, S] \odot Q)` and
:math:`F^Tf = [T, -T]`, :math:`T = X'^T(D \odot f)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.linalg.blas import dsyrk
from scipy.special import xlogy

from ..admm.prox import prox_loss
from ..losses import loss_value

#: Row keys are ``shard index * ROW_KEY + local row`` (unique over the training set).
ROW_KEY = 2**40

#: Rows per block when forming a shard's ``n_s x d'P`` pattern-design product for its Gram.
GRAM_ROWS = 2048


@dataclass(frozen=True)
class ShardData:
    """One row shard, built on its worker (see :func:`make_shard`).

    Attributes
    ----------
    index : int
        Position of the shard (its row chunk) in ``X``.
    Xa : ndarray, shape (n_s, d')
        Design rows (with the bias column when ``bias``).
    y : ndarray, shape (n_s,)
        Targets.
    Df : ndarray, shape (n_s, P)
        Patterns as 0/1 floats, :math:`1[X'_s G \\ge 0]`.
    ES2 : ndarray, shape (n_s, 2P)
        :math:`e_k [S, S]`, the scaled cone signs.
    """

    index: int
    Xa: np.ndarray
    y: np.ndarray
    Df: np.ndarray
    ES2: np.ndarray


def check_chunk(X: np.ndarray, y: np.ndarray, labelled: bool) -> tuple[int, int, str]:
    """``(rows, columns, problem)`` of one chunk; ``problem`` names the first non-finite entry
    (``""`` when there is none). Runs on a worker, before any shard is built."""
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    problem = ""
    for name, arr in (("X", X), ("y", y)):
        bad = ~np.isfinite(arr)
        if np.any(bad):
            where = np.argwhere(bad)[0]
            problem = (
                f"{name} has a non-finite value ({arr[tuple(where)]}) at local index {tuple(where.tolist())}"
            )
            break
    if not problem and labelled and not np.all(np.isin(y, (-1.0, 1.0))):
        problem = f"y has labels {np.unique(y[~np.isin(y, (-1.0, 1.0))])[:5].tolist()} (allowed: -1, +1)"
    return int(X.shape[0]), int(X.shape[1]) if X.ndim == 2 else -1, problem


def make_shard(
    X: np.ndarray, y: np.ndarray, gates: np.ndarray, bias: bool, scale_rows: bool, index: int
) -> ShardData:
    """Build a :class:`ShardData` from one chunk (patterns from the gates, on the worker)."""
    X = np.asarray(X, dtype=np.float64)
    Xa = np.hstack([X, np.ones((X.shape[0], 1))]) if bias else np.ascontiguousarray(X)
    Df = (Xa @ gates >= 0).astype(np.float64)
    S = 2.0 * Df - 1.0
    e = np.ones(Xa.shape[0])
    if scale_rows:
        norms = np.linalg.norm(Xa, axis=1)
        e = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 1.0)
    ES2 = np.ascontiguousarray(np.hstack([S, S]) * e[:, None])
    return ShardData(index, Xa, np.asarray(y, dtype=np.float64).reshape(-1), Df, ES2)


def shard_statistics(shard: ShardData, with_gram: bool) -> dict[str, Any]:
    r"""One shard's share of every sum the setup needs (summed over shards by a tree reduction).

    ``gram`` (``d'P x d'P``, Fortran order) is the lower triangle of :math:`F_{0,s}^TF_{0,s}`
    (the upper one is zero) with :math:`F_0 = [D_1X', \dots, D_PX']` (index ``i d' + a``);
    ``blocks`` (``P x d' x d'``) its diagonal blocks :math:`X'^TD_iX'`;
    ``xte2x`` :math:`X'^TE^2X'`; ``dx2`` :math:`D^T(X'^2)`; ``x2`` the sum of squares; ``fty``
    :math:`X'^T(D \odot y)`; ``n`` the rows.
    """
    Xa, Df = shard.Xa, shard.Df
    n, d = Xa.shape
    P = Df.shape[1]
    if with_gram:
        gram = np.zeros((d * P, d * P), order="F")
        for start in range(0, n, GRAM_ROWS):
            rows = slice(start, start + GRAM_ROWS)
            F0 = (Df[rows, :, None] * Xa[rows, None, :]).reshape(-1, d * P)
            # lower triangle += F0^T F0 (BLAS syrk: half the flops of a product); F0.T is
            # Fortran-contiguous
            gram = dsyrk(1.0, F0.T, beta=1.0, c=gram, trans=0, lower=1, overwrite_c=1)
        lower = np.stack([gram[i * d : (i + 1) * d, i * d : (i + 1) * d] for i in range(P)])
        blocks = np.tril(lower) + np.swapaxes(np.tril(lower, -1), 1, 2)
    else:
        gram = np.zeros(0)
        blocks = np.einsum("ki,ka,kb->iab", Df, Xa, Xa, optimize=True)
    e2 = np.max(np.abs(shard.ES2), axis=1) ** 2 if P else np.ones(n)
    return {
        "gram": gram,
        "blocks": blocks,
        "xte2x": Xa.T @ (Xa * e2[:, None]),
        "dx2": Df.T @ (Xa**2),
        "x2": float(np.sum(Xa**2)),
        "fty": Xa.T @ (Df * shard.y[:, None]),
        "n": n,
    }


def add_statistics(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Sum two shards' :func:`shard_statistics` (one node of the tree reduction)."""
    return {key: a[key] + b[key] for key in a}


def expand_compact(T: np.ndarray) -> np.ndarray:
    r""":math:`[T, -T]` (``d' x 2P``) from a compact share ``T`` (``d' x P``) of an
    :math:`F^T` product (:meth:`ShardWorker.rhs`, :meth:`ShardWorker.loss_step`)."""
    return np.hstack([T, -T])


def add_arrays(*parts: Any) -> Any:
    """Sum partial results (arrays or tuples of arrays and floats) elementwise."""
    first = parts[0]
    if isinstance(first, tuple):
        return tuple(add_arrays(*items) for items in zip(*parts, strict=True))
    total = first
    for part in parts[1:]:
        total = total + part
    return total


class ShardWorker:
    """The ADMM's row state of one shard, held on its worker (a Dask actor).

    Parameters
    ----------
    shard : ShardData
        The rows.
    loss : str
        ``"squared"`` (no loss split: the loss stays in the linear system) or ``"logistic"`` /
        ``"hinge"`` (split ``z = Fu`` with its scaled dual ``mu``).
    alpha : float
        Over-relaxation.
    slack : bool
        Keep the cone slacks ``s``, ``nu`` (``cone_method="slack"``); without them the cones are
        the driver's (``"rowgen"``) and a step only updates the loss split.
    """

    def __init__(self, shard: ShardData, loss: str, alpha: float, slack: bool = True) -> None:
        self.d = shard
        self.loss = loss
        self.split = loss != "squared"
        self.alpha = alpha
        self.slack = slack
        n, P2 = shard.ES2.shape
        self.P = P2 // 2
        self.s = np.zeros((n, P2) if slack else (n, 0))
        self.nu = np.zeros_like(self.s)
        self.z = np.zeros(n)
        self.mu = np.zeros(n)
        self.lam = np.zeros(n)
        norms = np.linalg.norm(shard.Xa, axis=1)
        self.inv_norms = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 0.0)
        # work arrays of the compact loss step (n x P each): one allocation per solve, not one per
        # iteration (a worker's malloc returns large blocks to the OS: fresh ones page-fault)
        compact = self.split and not slack
        self._XD = np.empty((n, self.P) if compact else (0, 0))
        self._M = np.empty_like(self._XD)

    # operators --------------------------------------------------------------------------------
    def _fu(self, XU: np.ndarray) -> np.ndarray:
        P = self.P
        return np.einsum("ij,ij->i", self.d.Df, XU[:, :P]) - np.einsum("ij,ij->i", self.d.Df, XU[:, P:])

    def _gt(self, Q: np.ndarray) -> np.ndarray:
        return self.d.Xa.T @ (self.d.ES2 * Q)

    def _ft(self, f: np.ndarray) -> np.ndarray:
        return expand_compact(self._ft_compact(f))

    def _ft_compact(self, f: np.ndarray) -> np.ndarray:
        r"""``T`` of :math:`F^Tf = [T, -T]`, :math:`T = X'^T(D \odot f)` (``d' x P``)."""
        if self._M.shape[0] != f.shape[0]:  # not a compact-step worker: no work array
            return self.d.Xa.T @ (self.d.Df * f[:, None])
        np.multiply(self.d.Df, f[:, None], out=self._M)
        return self.d.Xa.T @ self._M

    def rhs(self, rho_s: float, rho_z: float) -> np.ndarray:
        r"""This shard's share of the u-step's right-hand side,
        :math:`\rho_s G^T(s - \nu) + \rho_z F^T(z - \mu)` (the second term only with a split loss).

        Without slacks (``cone_method="rowgen"``) the share is :math:`F^T(\cdot) = [T, -T]` and only
        ``T`` (``d' x P``) is returned (zeros for the squared loss): expand it with
        :func:`expand_compact`."""
        if not self.slack:
            if self.split:
                return self._ft_compact(rho_z * (self.z - self.mu))
            return np.zeros((self.d.Xa.shape[1], self.P))
        Q = rho_s * self.d.ES2 * (self.s - self.nu)
        if not self.split:
            return self.d.Xa.T @ Q
        T = rho_z * (self.z - self.mu)
        M = np.hstack([Q[:, : self.P] + self.d.Df * T[:, None], Q[:, self.P :] - self.d.Df * T[:, None]])
        return self.d.Xa.T @ M

    def reset(self, V: np.ndarray, rho_s: float, rho_z: float) -> np.ndarray:
        """Restart the row state from the point ``V`` (``d' x 2P``): ``s = (GV)_+``, ``z = FV``,
        zero duals (a cold start, or the recovery after a lost worker); returns :meth:`rhs`."""
        XV = self.d.Xa @ V
        if self.slack:
            self.s = np.maximum(0.0, self.d.ES2 * XV)
            self.nu = np.zeros_like(self.s)
        self.z = self._fu(XV)
        self.mu = np.zeros_like(self.z)
        return self.rhs(rho_s, rho_z)

    def rescale(self, nu_factor: float, mu_factor: float, rho_s: float, rho_z: float) -> np.ndarray:
        """Rescale the scaled duals after a penalty change; returns the new :meth:`rhs`."""
        self.nu *= nu_factor
        self.mu *= mu_factor
        return self.rhs(rho_s, rho_z)

    # the iteration ----------------------------------------------------------------------------
    def step(self, U: np.ndarray, rho_s: float, rho_z: float, check: bool) -> tuple[Any, ...]:
        r"""One ADMM iteration's row work for the new ``U`` (``d' x 2P``).

        Updates :math:`s \leftarrow (\widehat{Gu} + \nu)_+`, :math:`\nu \mathrel{+}=
        \widehat{Gu} - s` and (split loss) :math:`z \leftarrow \operatorname{prox}_{L/\rho_z}
        (\widehat{Fu} + \mu)`, :math:`\mu \mathrel{+}= \widehat{Fu} - z`. Returns ``(rhs,)``, or
        with ``check`` ``(rhs, dual_s, dual_z, Gt_nu, Ft_mu, sq)``: the dual-residual shares
        :math:`\rho_sG^T(s - s_{old})` and :math:`\rho_zF^T(z - z_{old})`, :math:`G^T\nu`,
        :math:`F^T\mu` and ``sq`` = squared norms of ``Gu - s``, ``Fu - z``, ``Gu``, ``s``, ``Fu``,
        ``z``.
        """
        a = self.alpha
        XU = self.d.Xa @ U
        s_old = self.s
        if self.slack:
            GU = self.d.ES2 * XU
            Ghat = a * GU + (1.0 - a) * s_old
            self.s = np.maximum(0.0, Ghat + self.nu)
            self.nu = self.nu + Ghat - self.s
        if self.split:
            Fu = self._fu(XU)
            z_old = self.z
            Fhat = a * Fu + (1.0 - a) * z_old
            self.z = prox_loss(self.loss, Fhat + self.mu, self.d.y, 1.0 / rho_z, z_old)
            self.mu = self.mu + Fhat - self.z
        rhs = self.rhs(rho_s, rho_z)
        if not check:
            return (rhs,)
        sq = np.zeros(6)
        if self.slack:
            dual_s = rho_s * self._gt(self.s - s_old)
            sq[0] = np.sum((GU - self.s) ** 2)
            sq[2] = np.sum(GU**2)
            sq[3] = np.sum(self.s**2)
        else:
            dual_s = np.zeros_like(U)
        dual_z = np.zeros_like(dual_s)
        if self.split:
            dual_z = rho_z * self._ft(self.z - z_old)
            sq[1] = np.sum((Fu - self.z) ** 2)
            sq[4] = np.sum(Fu**2)
            sq[5] = np.sum(self.z**2)
            ft_mu = self._ft(self.mu)
        else:
            ft_mu = np.zeros_like(dual_s)
        gt_nu = self._gt(self.nu) if self.slack else np.zeros_like(U)
        return rhs, dual_s, dual_z, gt_nu, ft_mu, sq

    def loss_step(
        self,
        delta: np.ndarray,
        rho_z: float,
        check: bool,
        V: np.ndarray | None = None,
        rows: int = 0,
        tol: float = 0.0,
    ) -> tuple[Any, ...]:
        r"""One iteration's row work without slacks (``cone_method="rowgen"``, a split loss).

        ``delta`` (``d' x P``) is :math:`U_V - U_W` of the new ``U``: the predictions
        :math:`Fu = \sum_i D_i \odot X'\delta_i` need nothing else, so half of ``U`` travels and
        the product is ``n_s x d' x P``. Updates :math:`z \leftarrow \operatorname{prox}_{L/\rho_z}
        (\widehat{Fu} + \mu)`, :math:`\mu \mathrel{+}= \widehat{Fu} - z` in place of the
        previous row state and returns ``(T,)`` with :math:`\rho_zF^T(z - \mu) = [T, -T]`. With
        ``check``: ``(T, T_dual, T_mu, sq)`` with :math:`\rho_zF^T(z - z_{old}) = [T_{dual},
        -T_{dual}]`, :math:`F^T\mu = [T_\mu, -T_\mu]` and ``sq`` as in :meth:`step`; and with ``V``
        (``d' x 2P``) also :meth:`violated_rows` ``(V, rows, tol)`` as a fifth item (one call per
        shard at a residual check, not two).
        """
        a = self.alpha
        np.matmul(self.d.Xa, delta, out=self._XD)
        Fu = np.einsum("ij,ij->i", self.d.Df, self._XD)
        z_old = self.z
        Fhat = a * Fu + (1.0 - a) * z_old
        self.z = prox_loss(self.loss, Fhat + self.mu, self.d.y, 1.0 / rho_z, z_old)
        self.mu = self.mu + Fhat - self.z
        T = self._ft_compact(rho_z * (self.z - self.mu))
        if not check:
            return (T,)
        sq = np.zeros(6)
        sq[1] = np.sum((Fu - self.z) ** 2)
        sq[4] = np.sum(Fu**2)
        sq[5] = np.sum(self.z**2)
        out: tuple[Any, ...] = (T, self._ft_compact(rho_z * (self.z - z_old)), self._ft_compact(self.mu), sq)
        if V is not None:
            out += (self.violated_rows(V, rows, tol),)
        return out

    # the driver's core rows (cone_method="rowgen") ------------------------------------------
    def _rows(self, local: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        keys = self.d.index * ROW_KEY + local.astype(np.int64)
        return keys, self.d.Xa[local], self.d.Df[local]

    def boundary_rows(self, gates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""The ``k`` rows per gate nearest its hyperplane (smallest :math:`|x_k'^Tg_j|/\|x'_k\|`):
        the likely active cone rows, to seed the core set. Returns ``(keys, rows, patterns)``."""
        norms = np.linalg.norm(self.d.Xa, axis=1)
        dist = np.abs(self.d.Xa @ gates) / np.where(norms > 0, norms, 1.0)[:, None]
        dist[norms == 0] = np.inf
        k = min(k, dist.shape[0])
        near = np.argpartition(dist, k - 1, axis=0)[:k] if k else np.zeros((0, 1), dtype=np.intp)
        return self._rows(np.unique(near))

    def violated_rows(
        self, V: np.ndarray, k: int, tol: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        r"""Up to ``k`` rows per column of ``V`` (``d' x 2P``) with the largest normalized cone
        violation :math:`(-s_{kj}x_k'^Tv_j)_+/\|x'_k\| > \mathrm{tol}\,\|v_j\|`. Returns
        ``(keys, rows, patterns, worst)``: row keys (``index * ROW_KEY + local row``), their
        ``X'`` rows and 0/1 patterns, and the largest such relative violation."""
        vn = np.linalg.norm(V, axis=0)
        rel = self.d.Xa @ (V / np.where(vn > 0, vn, 1.0))
        rel *= self.inv_norms[:, None]
        P = self.P
        for half in (rel[:, :P], rel[:, P:]):  # -(2D - 1) * half, in place
            np.multiply(half, 1.0 - 2.0 * self.d.Df, out=half)
        worst = float(np.max(rel)) if rel.size else 0.0
        k = min(k, rel.shape[0])
        if k == 0 or worst <= tol:
            return (*self._rows(np.zeros(0, dtype=np.intp)), max(worst, 0.0))
        top = np.argpartition(-rel, k - 1, axis=0)[:k]
        picked = top[np.take_along_axis(rel, top, axis=0) > tol]
        return (*self._rows(np.unique(picked)), worst)

    # certificates and the returned point ------------------------------------------------------
    def violation_ratios(self, V: np.ndarray, gates2: np.ndarray) -> np.ndarray:
        r"""Per column ``j`` of ``V`` (``d' x 2P``), the smallest :math:`t_j \ge 0` with
        :math:`S_j X'(v_j + t_j g_j) \ge 0` on this shard (``inf`` when a violated row has
        :math:`x'_k g_j = 0`); ``gates2`` is ``[G, G]``."""
        sign = np.hstack([2.0 * self.d.Df - 1.0] * 2)
        SXV = sign * (self.d.Xa @ V)
        SXG = sign * (self.d.Xa @ gates2)  # >= 0: the gate generates its pattern
        viol = np.maximum(0.0, -SXV)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(viol > 0, viol / SXG, 0.0)
        ratio[(viol > 0) & (SXG <= 0)] = np.inf
        return np.max(ratio, axis=0) if ratio.shape[0] else np.zeros(V.shape[1])

    def certify(self, V: np.ndarray, rho_s: float, rho_z: float) -> tuple[Any, ...]:
        r"""Sums at the point ``V`` for the objective and the dual bound.

        Returns ``(C, Gt_nu, sums)``: :math:`F^T\lambda` and :math:`-\rho_sG^T\nu` (``d' x 2P``)
        with the loss multiplier :math:`\lambda` of :math:`Fv` (kept for :meth:`entropy`), and
        ``sums`` = loss, :math:`\lambda^Ty`, :math:`\lambda^T\lambda`, :math:`\sum y\lambda`, the
        largest cone violation :math:`\max(-S X'V)_+` and :math:`\max|X'V|` (the last two are
        maxima, combined by ``max``).
        """
        XV = self.d.Xa @ V
        fv = self._fu(XV)
        y = self.d.y
        if self.loss == "squared":
            lam = y - fv
        elif self.loss == "logistic":
            lam = y * (0.5 * (1.0 + np.tanh(-0.5 * y * fv)))
        else:
            lam = y * np.clip(-rho_z * y * self.mu, 0.0, 1.0)
        self.lam = lam
        sign = np.hstack([2.0 * self.d.Df - 1.0] * 2)
        viol = float(np.max(np.maximum(0.0, -sign * XV))) if XV.size else 0.0
        scale = float(np.max(np.abs(XV))) if XV.size else 0.0
        sums = np.array([loss_value(fv, y, self.loss), lam @ y, lam @ lam, np.sum(y * lam), viol, scale])
        gnu = -rho_s * self._gt(self.nu) if self.slack else np.zeros_like(V)
        return self._ft(lam), gnu, sums

    def entropy(self, theta: float) -> float:
        r""":math:`\sum_k H(\theta y_k\lambda_k)` (binary entropy; the logistic conjugate) for the
        multiplier kept by the last :meth:`certify`."""
        sigma = theta * self.d.y * self.lam
        return float(np.sum(-xlogy(sigma, sigma) - xlogy(1.0 - sigma, 1.0 - sigma)))

    def gram_matvec(self, X: np.ndarray) -> np.ndarray:
        r""":math:`F_{0,s}^TF_{0,s}x` for ``x`` (``d' x P``): the distributed CG's product."""
        q = np.einsum("ij,ij->i", self.d.Df, self.d.Xa @ X)
        return self.d.Xa.T @ (self.d.Df * q[:, None])
