r"""Polish a solved program: re-solve it on its support by Newton's method, to rounding precision.

Interior-point and first-order solvers stop at a tolerance; near a degenerate optimum (blocks
that are zero, cone rows that are tight) their point is accurate to about the square root of
that tolerance, :math:`10^{-6}` on the predictions with Clarabel's defaults. Once the solver's
point shows the optimum's *support*, the program restricted to it is smooth and is solved by
Newton's method to rounding precision; the result is kept only when it is certified optimal.

The programs, written over blocks :math:`c_j \in \mathbb R^k` with design matrices
:math:`B_j \in \mathbb R^{n \times k}` (``docs/math.md``, "The programs"):

.. math::
    \min_c\ L\Big(\sum_j B_j c_j,\ y\Big) + \beta \sum_j \|c_j\|_2
    \quad\text{s.t.}\quad (2D_j - I) X' c_j \ge 0 \ \text{(relu only)},

- ``relu``: :math:`2P` blocks :math:`v_i, w_i` of size :math:`d'`, :math:`B = \pm D_i X'`;
- ``gated_relu``: :math:`P` blocks :math:`u_i`, :math:`B = D_i X'`, no cone constraints;
- ``scp``: :math:`N` blocks of size 1, :math:`B = (X' g_h)_+` (the group norm is then
  :math:`\|a\|_1`).

**Polish.** With the support :math:`J` (blocks of norm above ``block_tol`` times the largest)
and, per block of :math:`J`, its tight cone rows :math:`A_j` (relative slack below
``row_tol``), the restricted program
:math:`\min L(\sum_{j \in J} B_j N_j \xi_j) + \beta\sum_{j\in J}\|\xi_j\|` over
:math:`c_j = N_j\xi_j`, :math:`N_j` an orthonormal basis of :math:`\ker A_j`, is smooth near the
solver's point (:math:`\|N_j \xi_j\| = \|\xi_j\|`). Damped Newton steps on :math:`\xi` stop at a
Newton decrement of rounding size.

**Certificate** (the KKT conditions of the full program, checked at the Newton point):

1. primal: every cone row of every block is :math:`\ge 0` (relative slack :math:`\ge -10^{-12}`);
2. stationarity on the support: :math:`\nabla_{c_j} F = A_j^T \mu_j` (least squares; residual
   :math:`\le 10^{-7}\beta`) with :math:`\mu_j \ge 0` (:math:`\nabla_{c_j} F = 0` without cones);
3. zero blocks: :math:`\max\{-a_j^T u : \|u\| \le 1,\ (2D_j - I)X'u \ge 0\} \le \beta(1 +
   10^{-9})` for :math:`a_j = B_j^T \nabla L(\hat y)` (closed form :math:`\|a_j\|` without cones;
   an NNLS, exact to rounding, for the relu blocks where :math:`\|a_j\| > \beta`);
4. the objective is not above the solver's (relative :math:`10^{-9}`).

A failed condition updates the support (a violated row joins :math:`A_j`, a row of negative
multiplier leaves it, a collapsing block leaves :math:`J`, a violating zero block joins it along
the maximizer of its dual value, with that maximizer's tight rows) and
Newton runs again, at most ``max_passes`` times. Otherwise the solver's point is kept.

Because the restricted program of a weighted fit (integer weights) and of the fit on repeated
rows is the same function, both polish to the same point up to rounding: the polished
predictions agree to about :math:`10^{-12}` where the solvers' agreed to :math:`10^{-6}`.

Supported: the ``relu``, ``gated_relu`` and ``scp`` kinds with the squared and logistic losses
(the hinge loss is not smooth and the robust programs' worst-case loss couples the blocks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import scipy.optimize
from threadpoolctl import threadpool_limits

from .enums import Loss, ProgramKind
from .losses import loss_gradient, loss_value

__all__ = ["PolishResult", "polish_program"]

#: Largest ``n * (m k)^2`` (m support blocks of size k) the dense Newton system is formed for.
MAX_WORK = 4e9
#: Largest number of unknowns ``m k`` of the Newton system.
MAX_UNKNOWNS = 3000
#: Relative tolerance of the zero blocks' dual condition (condition 3).
DUAL_RTOL = 1e-9


@dataclass(frozen=True)
class PolishResult:
    """What :func:`polish_program` did.

    Attributes
    ----------
    polished : bool
        True when the program's variables now hold the certified Newton point.
    reason : str
        Why not, when ``polished`` is False (``""`` otherwise).
    objective : float
        The objective at the point the program now holds.
    n_blocks : int
        Blocks in the support.
    n_tight_rows : int
        Tight cone rows, over the support's blocks.
    iterations : int
        Newton steps, over every pass.
    """

    polished: bool
    reason: str
    objective: float
    n_blocks: int = 0
    n_tight_rows: int = 0
    iterations: int = 0


# --------------------------------------------------------------------------- the block view
class _Blocks:
    """The program as blocks :math:`c_j` with designs :math:`B_j` (see the module docstring)."""

    def __init__(self, program: Any) -> None:
        kind = program.kind
        self.kind = kind
        self.Xa = np.asarray(program.design, dtype=np.float64)
        n = self.Xa.shape[0]
        if kind == ProgramKind.SCP:
            self.H = np.maximum(self.Xa @ program.gates, 0.0)  # (n, N)
            self.C0 = np.asarray(program.variables["a"].value, dtype=np.float64).reshape(-1, 1)
            self.sign = np.ones(self.C0.shape[0])
            self.D = np.ones((n, 0), dtype=bool)
        else:
            self.D = np.asarray(program.patterns.D, dtype=bool)
            if kind == ProgramKind.RELU:
                V = np.asarray(program.variables["V"].value, dtype=np.float64)
                W = np.asarray(program.variables["W"].value, dtype=np.float64)
                self.C0 = np.vstack([V.T, W.T])
                self.sign = np.concatenate([np.ones(V.shape[1]), -np.ones(W.shape[1])])
            else:
                self.C0 = np.asarray(program.variables["U"].value, dtype=np.float64).T
                self.sign = np.ones(self.C0.shape[0])
        self.coned = kind == ProgramKind.RELU

    @property
    def n_blocks(self) -> int:
        return int(self.C0.shape[0])

    def pattern(self, idx: np.ndarray) -> np.ndarray:
        """Pattern column of each block, shape (len(idx),)."""
        P = self.D.shape[1]
        return idx % P if self.kind == ProgramKind.RELU else idx

    def design(self, idx: np.ndarray) -> np.ndarray:
        """:math:`B_j` for the blocks ``idx``, shape (m, n, k)."""
        if self.kind == ProgramKind.SCP:
            return self.H[:, idx].T[:, :, None]
        mask = self.D[:, self.pattern(idx)].T * self.sign[idx][:, None]  # (m, n)
        return mask[:, :, None] * self.Xa[None, :, :]

    def cone_rows(self, idx: np.ndarray) -> np.ndarray:
        """Row-normalized cone rows :math:`(2D_j - I)X'` of the blocks ``idx``, shape (m, n, k)."""
        S = 2.0 * self.D[:, self.pattern(idx)].T - 1.0
        Xn = self.Xa / np.maximum(np.linalg.norm(self.Xa, axis=1, keepdims=True), 1e-300)
        return S[:, :, None] * Xn[None, :, :]

    def relative_slacks(self, idx: np.ndarray, Z: np.ndarray) -> np.ndarray:
        """:math:`(2D_j - I)X'c_j / (\\|x_k\\| \\|c_j\\|)`, shape (m, n)."""
        rows = self.cone_rows(idx)
        norms = np.maximum(np.linalg.norm(Z, axis=1), 1e-300)
        return np.einsum("mnk,mk->mn", rows, Z) / norms[:, None]

    def loss_gradients(self, lam: np.ndarray) -> np.ndarray:
        """:math:`a_j = B_j^T \\lambda` for every block, shape (n_blocks, k)."""
        if self.kind == ProgramKind.SCP:
            return (self.H.T @ lam)[:, None]
        A = self.Xa.T @ (self.D * lam[:, None])  # (k, P)
        return (A[:, self.pattern(np.arange(self.n_blocks))] * self.sign).T

    def zero_block_duals(self, lam: np.ndarray, idx: np.ndarray, bound: float) -> tuple[np.ndarray, ...]:
        r"""The zero blocks' dual values :math:`\max\{-a_j^T u : \|u\| \le 1,\ (2D_j - I)X'u \ge 0\}`
        (no cone for the gated and SCP kinds), their maximizers and the maximizers' tight rows.

        The value is :math:`\|a_j\|` without cones, and at most that with them: only the relu
        blocks with :math:`\|a_j\| >` ``bound`` need the exact value, :math:`\min_{\mu \ge 0}
        \|A_j^T\mu - a_j\|` by NNLS (one small problem per such block, exact to rounding),
        maximized at :math:`u = (A_j^T\mu - a_j)/\text{value}`, tight where :math:`\mu > 0`.
        Returns values (m,), maximizers (m, k) and tight rows (m, n).
        """
        a = self.loss_gradients(lam)[idx]
        values = np.linalg.norm(a, axis=1)
        U = -a / np.maximum(values, 1e-300)[:, None]
        tight = np.zeros((idx.size, self.Xa.shape[0]), dtype=bool)
        if self.coned:
            need = np.flatnonzero(values > bound)
            rows = self.cone_rows(idx[need])
            for r, j in enumerate(need):  # few blocks, each its own small NNLS
                mu, value = scipy.optimize.nnls(rows[r].T, a[j])
                values[j] = value
                U[j] = (rows[r].T @ mu - a[j]) / max(value, 1e-300)
                tight[j] = mu > 0
        return values, U, tight

    def values(self, Z: np.ndarray) -> dict[str, np.ndarray]:
        """The program's variable values from all blocks ``Z`` (n_blocks, k)."""
        if self.kind == ProgramKind.SCP:
            return {"a": Z[:, 0].copy()}
        if self.kind == ProgramKind.RELU:
            P = self.D.shape[1]
            return {"V": Z[:P].T.copy(), "W": Z[P:].T.copy()}
        return {"U": Z.T.copy()}


# --------------------------------------------------------------------------- Newton
def _curvature(yhat: np.ndarray, y: np.ndarray, loss: str) -> np.ndarray:
    """Second derivative of each sample's loss in its prediction, shape (n,)."""
    if loss == Loss.SQUARED:
        return np.ones_like(yhat)
    m = y * yhat
    return 1.0 / ((1.0 + np.exp(np.clip(m, -700, 700))) * (1.0 + np.exp(np.clip(-m, -700, 700))))


def _null_bases(rows: np.ndarray, tight: np.ndarray) -> np.ndarray:
    """Orthonormal bases of :math:`\\ker A_j` (``rows`` (m, n, k) masked by ``tight`` (m, n)), as
    (m, k, k) with zero columns past each kernel's dimension."""
    m, _, k = rows.shape
    if not tight.any():
        return np.broadcast_to(np.eye(k), (m, k, k)).copy()
    # Vh is (k, k) either way; full U only when n < k (no (n, n) factor for tall blocks)
    _, s, Vh = np.linalg.svd(rows * tight[:, :, None], full_matrices=rows.shape[1] < k)
    rank = np.sum(s > 1e-10 * np.maximum(s[:, :1], 1e-300), axis=1)  # (m,)
    keep = np.arange(k)[None, :] >= rank[:, None]  # kernel directions: the last k - rank
    return np.transpose(Vh, (0, 2, 1)) * keep[:, None, :]


def _newton(
    B: np.ndarray,
    N: np.ndarray,
    Z0: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray | None,
    loss: str,
    beta: float,
    max_iter: int = 50,
) -> tuple[np.ndarray, int]:
    """Minimize :math:`L(\\sum_j B_j N_j\\xi_j) + \\beta\\sum_j\\|\\xi_j\\|` from
    :math:`\\xi_j = N_j^T c_j^0`; returns the blocks :math:`c_j = N_j \\xi_j` (m, k) and the steps."""
    m, n, k = B.shape
    J = np.einsum("mnk,mkr->nmr", B, N).reshape(n, m * k)
    w = np.ones(n) if weight is None else weight
    xi = np.einsum("mkr,mk->mr", N, Z0)
    live = np.any(N != 0, axis=1)  # (m, k): coordinates that are kernel directions

    def objective(x: np.ndarray) -> float:
        return loss_value(J @ x.ravel(), y, loss, weight) + beta * float(np.sum(np.linalg.norm(x, axis=1)))

    value = objective(xi)
    steps = 0
    while steps < max_iter:
        steps += 1
        yhat = J @ xi.ravel()
        norms = np.linalg.norm(xi, axis=1)
        if np.any(norms <= 0):
            break
        unit = xi / norms[:, None]
        grad = (J.T @ (w * loss_gradient(yhat, y, loss))).reshape(m, k) + beta * unit
        grad *= live
        H = J.T @ ((w * _curvature(yhat, y, loss))[:, None] * J)
        H4 = H.reshape(m, k, m, k)
        ar = np.arange(m)
        eye = np.eye(k)
        H4[ar, :, ar, :] += beta * (eye[None] - unit[:, :, None] * unit[:, None, :]) / norms[:, None, None]
        # a small ridge: two blocks along one direction can trade mass at no cost (same network)
        H += np.diag(np.where(live.ravel(), 0.0, 1.0) + 1e-10 * (1.0 + np.max(np.abs(np.diag(H)))))
        try:
            step = -scipy.linalg.cho_solve(scipy.linalg.cho_factor(H), grad.ravel())
        except (np.linalg.LinAlgError, ValueError):
            step = -np.linalg.lstsq(H, grad.ravel(), rcond=None)[0]
        step = step.reshape(m, k) * live
        decrement = -float(np.sum(grad * step))
        if not np.isfinite(decrement) or decrement <= 1e-28 * max(1.0, abs(value)):
            break
        reversed_ = np.sum(xi * (xi + step), axis=1) <= 0
        if reversed_.any():  # the model sends these blocks through zero: they leave the support
            xi = xi * ~reversed_[:, None]
            break
        t = 1.0
        while t > 1e-12:
            trial = xi + t * step
            trial_value = objective(trial)
            if trial_value <= value - 0.25 * t * decrement + 1e-15 * abs(value):
                break
            t *= 0.5
        else:
            break
        xi, value = trial, trial_value
        if decrement <= 1e-24 * max(1.0, abs(value)) and t == 1.0:
            break
    return np.einsum("mkr,mr->mk", N, xi), steps


# --------------------------------------------------------------------------- polish
def _too_large(m: int, n: int, k: int) -> bool:
    """Whether ``m`` blocks of size ``k`` on ``n`` samples exceed :data:`MAX_UNKNOWNS` or
    :data:`MAX_WORK` (the (m, n, k) design stacks are then at most ~``MAX_WORK / (m k)`` floats)."""
    return m * k > MAX_UNKNOWNS or n * float(m * k) ** 2 > MAX_WORK


def polish_program(
    program: Any,
    *,
    block_tol: float = 1e-5,
    row_tol: float = 1e-5,
    max_passes: int = 20,
) -> PolishResult:
    r"""Polish a solved program's point to rounding precision, when it is certified optimal.

    Parameters
    ----------
    program : ConvexProgram
        A solved ``relu``, ``gated_relu`` or ``scp`` program with the squared or logistic loss
        (its variables hold the solver's point).
    block_tol : float
        Blocks whose norm exceeds ``block_tol`` times the largest start in the support.
    row_tol : float
        Cone rows whose relative slack :math:`(2D_j - I)X'c_j / (\|x_k\| \|c_j\|)` is below it
        start tight.
    max_passes : int
        Support updates at most (see the module docstring).

    Returns
    -------
    PolishResult
        ``polished`` is True when the program's variables were replaced by the Newton point;
        otherwise they are untouched and ``reason`` says why.
    """
    with threadpool_limits(1):  # small dense systems: threads only contend (250x slower under load)
        return _polish(program, block_tol, row_tol, max_passes)


def _polish(program: Any, block_tol: float, row_tol: float, max_passes: int) -> PolishResult:
    if program.kind not in (ProgramKind.RELU, ProgramKind.GATED_RELU, ProgramKind.SCP):
        return PolishResult(False, f"kind {program.kind} is not polished", float("nan"))
    if program.loss not in (Loss.SQUARED, Loss.LOGISTIC):
        return PolishResult(False, f"the {program.loss} loss is not smooth", float("nan"))
    if any(var.value is None for var in program.variables.values()):
        return PolishResult(False, "the program has no point to polish", float("nan"))
    blocks = _Blocks(program)
    start_value = program.objective_at()
    beta = float(program.beta.value)
    y, weight, loss = np.asarray(program.y), program.sample_weight, str(program.loss)
    n, k = blocks.Xa.shape[0], blocks.C0.shape[1]
    norms0 = np.linalg.norm(blocks.C0, axis=1)
    if not np.isfinite(start_value) or norms0.max() <= 0 or beta <= 0:
        return PolishResult(False, "no nonzero block", start_value)
    support = np.flatnonzero(norms0 > block_tol * norms0.max())
    if _too_large(support.size, n, k):
        return PolishResult(False, f"too large to polish ({support.size} blocks of {k})", start_value)
    Z = blocks.C0[support]
    tight = (
        blocks.relative_slacks(support, Z) < row_tol if blocks.coned else np.zeros((support.size, n), bool)
    )
    iterations = 0
    for _ in range(max_passes):
        m = support.size
        if _too_large(m, n, k):
            return PolishResult(False, f"too large to polish ({m} blocks of {k})", start_value)
        rows = blocks.cone_rows(support) if blocks.coned else np.zeros((m, n, k))
        N = _null_bases(rows, tight) if blocks.coned else np.broadcast_to(np.eye(k), (m, k, k)).copy()
        Z, steps = _newton(blocks.design(support), N, Z, y, weight, loss, beta)
        iterations += steps
        norms = np.linalg.norm(Z, axis=1)
        if not np.all(np.isfinite(Z)):
            return PolishResult(False, "Newton diverged", start_value, iterations=iterations)
        collapsed = norms <= 1e-10 * max(norms.max(), 1e-300)
        if collapsed.any():  # a block that leaves the support
            keep = ~collapsed
            support, Z, tight = support[keep], Z[keep], tight[keep]
            if support.size == 0:
                return PolishResult(False, "every block collapsed", start_value, iterations=iterations)
            continue
        full = np.zeros_like(blocks.C0)
        full[support] = Z
        yhat = np.einsum("mnk,mk->n", blocks.design(support), Z)
        lam = loss_gradient(yhat, y, loss, weight)
        grad = blocks.loss_gradients(lam)[support] + beta * Z / norms[:, None]  # (m, k)
        mu = np.zeros((support.size, n))
        if blocks.coned:
            slack = blocks.relative_slacks(support, Z)
            violated = (slack < -1e-12) & ~tight
            if violated.any():  # a row the point crosses: tight from now on
                tight |= violated
                continue
            tight_rows_t = np.transpose(rows * tight[:, :, None], (0, 2, 1))  # (m, k, n)
            mu = np.einsum("mnk,mk->mn", np.linalg.pinv(tight_rows_t), grad)
            grad = grad - np.einsum("mkn,mn->mk", tight_rows_t, mu)
        if np.max(np.linalg.norm(grad, axis=1)) > 1e-7 * beta:  # stationarity on the support
            return PolishResult(False, "Newton did not converge", start_value, iterations=iterations)
        if blocks.coned:
            negative = tight & (mu < -1e-8 * beta)
            if negative.any():  # the most negative multiplier of each such block: no longer tight
                worst = np.where(negative, mu, np.inf).argmin(axis=1)
                has = negative.any(axis=1)
                tight[np.flatnonzero(has), worst[has]] = False
                continue
        zero = np.setdiff1d(np.arange(blocks.n_blocks), support)
        limit = beta * (1.0 + DUAL_RTOL)
        dual, U, U_tight = blocks.zero_block_duals(lam, zero, limit)
        joining = dual > limit
        if joining.any():  # a zero block that should not be: it joins along its best direction
            scale = 1e-3 * float(norms.max())
            support = np.concatenate([support, zero[joining]])
            Z = np.vstack([Z, scale * U[joining]])
            tight = np.vstack([tight, U_tight[joining]])
            continue
        values = blocks.values(full)
        polished_value = program.objective_at(values)
        if polished_value > start_value + 1e-9 * max(1.0, abs(start_value)):
            return PolishResult(
                False,
                f"the Newton point is above the solver's ({polished_value:.12g} > {start_value:.12g})",
                start_value,
                iterations=iterations,
            )
        for name, value in values.items():
            program.variables[name].value = value
        return PolishResult(True, "", polished_value, int(support.size), int(tight.sum()), iterations)
    reason = f"no certified support in {max_passes} passes"
    return PolishResult(False, reason, start_value, iterations=iterations)
