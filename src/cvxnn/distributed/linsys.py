r"""The u-step's linear system on the driver, from sums over the shards.

With :math:`A = \rho_u I + \rho_s X'^TE^2X'` (``d' x d'``), :math:`\Delta = V - W` and
:math:`\Sigma = V + W`, the system :math:`(wF^TF + \rho_uI + \rho_sG^TG)u = r` splits into
:math:`A\Sigma = R_V + R_W` and :math:`(c\,F_0^TF_0 + I_P \otimes A)\Delta = R_V - R_W`
(``c = 2w``, :math:`F_0 = [D_1X', \dots, D_PX']`), a ``d'P``-dimensional system. Strategies:

- ``"cholesky"``: the Gram :math:`F_0^TF_0 = \sum_s F_{0,s}^TF_{0,s}` (its lower triangle) is
  summed over the shards once (a tree reduction, :func:`tree_reduce`) and kept on the driver;
  each factorization (a new penalty) is a ``d'P x d'P`` Cholesky there and its explicit inverse
  (LAPACK ``potri``, in place), so each solve is one symmetric product (``dsymv``; two
  memory-bound triangular solves were several times slower at ``d'P`` = 5000, as in
  :mod:`cvxnn.admm.linsys`);
- ``"cg"``: preconditioned CG whose product :math:`F_0^TF_0x` is one reduction over the shards
  per CG step (``d'P`` numbers each way); the block-Jacobi preconditioner
  :math:`c\,X'^TD_iX' + A` needs only the ``P`` diagonal blocks (``P d'^2`` numbers).

Vectors ``x`` of shape ``(d', P)`` are flattened as ``x.T.ravel()`` (index ``i d' + a``), the
Gram's index order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.linalg.blas import dsymv
from scipy.linalg.lapack import dpotri

from ..exceptions import CvxnnError

#: Strategies of :class:`ReducedSystem` (``"auto"``: Cholesky when its two ``(d'P)^2`` arrays
#: fit ``memory_limit_gb``, CG otherwise).
SOLVERS = ("auto", "cholesky", "cg")


class LinearSystemError(CvxnnError, ArithmeticError):
    """The u-step's system could not be factored (not positive definite: non-finite data)."""


def tree_reduce(client: Any, futures: Sequence[Any], combine: Callable[..., Any]) -> Any:
    """Combine ``futures`` pairwise on the workers (``log2(len)`` levels) and return the result.

    Each level submits ``combine(a, b)`` for neighbouring pairs, so partial sums travel between
    workers and only the root comes to the driver.
    """
    level = list(futures)
    while len(level) > 1:
        nxt = [
            client.submit(combine, level[k], level[k + 1], pure=False) for k in range(0, len(level) - 1, 2)
        ]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0].result()


def choose_solver(name: str, dP: int, memory_limit_gb: float) -> str:
    """The strategy for ``"auto"``: Cholesky when the Gram and its factor fit the budget."""
    if name != "auto":
        return name
    return "cholesky" if 2 * 8 * dP**2 <= memory_limit_gb * 2**30 else "cg"


class ReducedSystem:
    r"""Solves the u-step for ``R`` (``d' x 2P``) on the driver.

    Parameters
    ----------
    method : {"cholesky", "cg"}
        See the module docstring.
    xte2x : ndarray, shape (d', d')
        :math:`X'^TE^2X'`.
    gram : ndarray, shape (d'P, d'P) or None
        :math:`F_0^TF_0`, its lower triangle read (``"cholesky"``).
    blocks : ndarray, shape (P, d', d')
        Its diagonal blocks (``"cg"`` preconditioner).
    matvec : callable or None
        ``x (d', P) -> F_0^TF_0 x`` summed over the shards (``"cg"``).
    cg_tol, cg_max_iter : float, int
        Relative residual tolerance and step cap of CG (warm-started from the previous solve).
    """

    def __init__(
        self,
        method: str,
        xte2x: np.ndarray,
        gram: np.ndarray | None,
        blocks: np.ndarray,
        matvec: Callable[[np.ndarray], np.ndarray] | None,
        cg_tol: float = 1e-10,
        cg_max_iter: int = 500,
    ) -> None:
        self.method = method
        self.xte2x = xte2x
        self.gram = gram
        self.blocks = blocks
        self.matvec = matvec
        self.cg_tol = cg_tol
        self.cg_max_iter = cg_max_iter
        self.d = xte2x.shape[0]
        self.P = blocks.shape[0]
        self.cg_steps = 0
        self._x0: np.ndarray | None = None

    def factor(self, c: float, rho_u: float, rho_s: float) -> None:
        """Factor for the weight ``c`` and the penalties (the Gram is reused)."""
        d, P = self.d, self.P
        A = rho_s * self.xte2x
        A.flat[:: d + 1] += rho_u
        self.c, self.A = c, A
        try:
            self.A_fac = cho_factor(A)
            if self.method == "cholesky":
                assert self.gram is not None  # set by the caller for this method
                M = c * self.gram  # the lower triangle is read
                for i in range(P):
                    M[i * d : (i + 1) * d, i * d : (i + 1) * d] += A
                fac, _ = cho_factor(M, lower=True, overwrite_a=True, check_finite=False)
                if not np.all(np.isfinite(np.diagonal(fac))):  # potri maps an infinite pivot to 0
                    raise np.linalg.LinAlgError("the factor is not finite")
                self.M_inv, info = dpotri(fac, lower=1, overwrite_c=1)
                if info != 0:
                    raise np.linalg.LinAlgError(f"potri failed (info {info})")
            else:
                self.pre = [cho_factor(c * self.blocks[i] + A) for i in range(P)]
        except np.linalg.LinAlgError as err:
            raise LinearSystemError(
                f"The u-step system (d'P = {d * P}) is not positive definite ({err}); check the data "
                "for huge or non-finite values."
            ) from err

    def _solve_delta(self, R: np.ndarray) -> np.ndarray:
        d, P = self.d, self.P
        if self.method == "cholesky":
            return dsymv(1.0, self.M_inv, R.T.ravel(), lower=1).reshape(P, d).T
        return self._pcg(R)

    def _apply(self, X: np.ndarray) -> np.ndarray:
        assert self.matvec is not None
        return self.c * self.matvec(X) + self.A @ X

    def _precond(self, R: np.ndarray) -> np.ndarray:
        return np.column_stack([cho_solve(self.pre[i], R[:, i]) for i in range(self.P)])

    def _pcg(self, R: np.ndarray) -> np.ndarray:
        X = np.zeros_like(R) if self._x0 is None else self._x0.copy()
        r = R - self._apply(X)
        rn = float(np.linalg.norm(R))
        if rn == 0:
            return np.zeros_like(R)
        z = self._precond(r)
        p = z.copy()
        rz = float(np.vdot(r, z))
        for _ in range(self.cg_max_iter):
            if float(np.linalg.norm(r)) <= self.cg_tol * rn:
                break
            Ap = self._apply(p)
            step = rz / float(np.vdot(p, Ap))
            X += step * p
            r -= step * Ap
            z = self._precond(r)
            rz_new = float(np.vdot(r, z))
            p = z + (rz_new / rz) * p
            rz = rz_new
            self.cg_steps += 1
        self._x0 = X
        return X

    def solve(self, R: np.ndarray) -> np.ndarray:
        r"""``U`` (``d' x 2P``) with :math:`(wF^TF + \rho_uI + \rho_sG^TG)U = R`."""
        P = self.P
        RV, RW = R[:, :P], R[:, P:]
        delta = self._solve_delta(RV - RW)
        sigma = cho_solve(self.A_fac, RV + RW)
        return np.hstack([0.5 * (sigma + delta), 0.5 * (sigma - delta)])
