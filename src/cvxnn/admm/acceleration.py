r"""Safeguarded type-II Anderson acceleration of the ADMM's fixed-point map."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Anderson", "unpack"]


def unpack(x: np.ndarray, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(x[start : start + size].reshape(shape))
        start += size
    return out


class Anderson:
    r"""Safeguarded type-II Anderson acceleration of a fixed-point map ``x -> T(x)``.

    With residuals :math:`g_k = x_k - T(x_k)` and the last ``m`` differences
    :math:`\Delta x, \Delta g`, the extrapolation is
    :math:`x_{k+1} = T(x_k) - (\Delta X - \Delta G)\gamma`,
    :math:`\gamma = \arg\min \|g_k - \Delta G\gamma\|` (Tikhonov-regularized normal equations
    with an incrementally updated Gram matrix, so a step costs ``O(m N)``). A step whose own
    residual exceeds ``safeguard`` times the last accepted plain residual is rejected: the plain
    iterate :math:`T(x_k)` is restored and the memory cleared (Zhang, O'Donoghue & Boyd 2020).
    """

    def __init__(self, memory: int, safeguard: float) -> None:
        self.m = memory
        self.safeguard = safeguard
        self.rejected = 0
        self.accepted = 0
        self.reset()

    def reset(self) -> None:
        self.dX: list[np.ndarray] = []
        self.dG: list[np.ndarray] = []
        self.gram = np.zeros((0, 0))
        self.prev_x: np.ndarray | None = None
        self.prev_g: np.ndarray | None = None
        self.pending = False
        self.safe_fx: np.ndarray | None = None
        self.safe_norm = math.inf

    def step(self, x: np.ndarray, fx: np.ndarray) -> np.ndarray:
        g = x - fx
        ng = float(np.linalg.norm(g))
        if self.pending and ng > self.safeguard * self.safe_norm:
            self.rejected += 1
            safe = self.safe_fx
            self.reset()
            return safe if safe is not None else fx
        if self.pending:
            self.accepted += 1
        if self.prev_x is not None:
            dx, dg = x - self.prev_x, g - self.prev_g
            if len(self.dG) == self.m:
                self.dX.pop(0)
                self.dG.pop(0)
                self.gram = self.gram[1:, 1:]
            dots = np.array([float(np.dot(col, dg)) for col in self.dG] + [float(np.dot(dg, dg))])
            k = len(self.dG) + 1
            gram = np.empty((k, k))
            gram[:-1, :-1] = self.gram
            gram[-1, :] = dots
            gram[:, -1] = dots
            self.gram = gram
            self.dX.append(dx)
            self.dG.append(dg)
        self.prev_x, self.prev_g = x, g
        self.safe_fx, self.safe_norm = fx, ng
        if not self.dG:
            self.pending = False
            return fx
        rhs = np.array([float(np.dot(col, g)) for col in self.dG])
        reg = 1e-10 * max(float(np.trace(self.gram)), 1e-300)
        try:
            gamma = np.linalg.solve(self.gram + reg * np.eye(len(rhs)), rhs)
        except np.linalg.LinAlgError:
            self.pending = False
            return fx
        x_new = fx.copy()
        for c, dx_col, dg_col in zip(gamma, self.dX, self.dG, strict=True):
            x_new -= c * (dx_col - dg_col)
        if not np.all(np.isfinite(x_new)):
            self.reset()
            return fx
        self.pending = True
        return x_new
