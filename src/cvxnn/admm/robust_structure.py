r"""Data, operators and the linear system of the ADMM for the robust programs (``robust_relu``).

The splitting (derived in ``docs/robust_admm.md``): with ``U = [V, W]`` (``d' x 2P``),
:math:`\Delta = V - W` and ``d`` the perturbable features (the bias row, if any, is never
perturbed),

.. math::
    u = v,\qquad
    \big(E S_j X'u_j,\ \bar u_j\big) = (s_j, c_j) \in \mathcal C_\epsilon,\qquad
    \big(Fu,\ \bar Gu\big) = (a, g),

where :math:`Fu = \sum_i D_iX'\Delta_i` (``n``), :math:`\bar Gu = \bar\Delta D^T` (``d x n``,
column ``k`` is :math:`\bar g_k`) and :math:`\mathcal C_\epsilon = \{(s, c) : s_k \ge \epsilon e_k
\|c\|_q\}` the robust slack cone. The stacked slack block is ``s = [rows; c]`` of shape
``(n + d, 2P)`` (penalty ``rho_s``); the stacked loss block is ``z = [a; g]`` of shape
``(1 + d, n)`` (penalty ``rho_z``).

The u-step matrix is :math:`\rho_uI + \rho_sG^TG + \rho_z(F^TF + \bar G^T\bar G)` with
:math:`G^TG = I_{2P}\otimes(X'^TE^2X' + \bar I)` and :math:`\bar G^T\bar G` acting on
:math:`\Delta` as :math:`D^TD\otimes\bar I` (:math:`\bar I` the identity on the perturbable
rows). With :math:`\Sigma = V + W` it splits into :math:`A\Sigma = R_V + R_W`,
:math:`A = \rho_uI + \rho_s(X'^TE^2X' + \bar I)`, and

.. math::
    \big(2\rho_zF_0^TF_0 + 2\rho_z(D^TD\otimes\bar I) + I_P\otimes A\big)\Delta = R_V - R_W,

which depends on neither ``eps`` nor ``beta``: an eps path reuses the factorization.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import scipy.linalg as sla
from scipy.linalg.lapack import dpotri

from ..exceptions import InvalidInputError
from .linsys import ReducedSystem
from .robust_prox import DUAL_EXPONENT, robust_loss_values
from .structure import Structure, default_penalties

#: The range of ``beta`` that scales the default penalties (:attr:`RobustStructure.default_rho`).
BETA_SCALE_RANGE = (1e-3, 1e3)
#: The loss split's default penalty per unit of ``beta``, by loss (measured, ``benchmarks/NOTES.md``).
LOSS_PENALTY: Mapping[str, float] = types.MappingProxyType({"hinge": 0.3, "squared": 0.3, "logistic": 1.0})

if TYPE_CHECKING:
    from ..programs import ConvexProgram
    from .settings import AdmmSettings

__all__ = ["RobustStructure", "RobustSystem"]


class RobustSystem(ReducedSystem):
    r"""Solves :math:`(cF_0^TF_0 + c_g(D^TD\otimes\bar I) + I_P\otimes A)\,x = r`, ``x`` (d', P).

    ``"cholesky"``: the explicit ``d'P x d'P`` matrix from the cached Gram, inverted in place
    (``potrf`` + ``potri``) and applied with one ``dsymv``; ``"cg"``: matrix-free
    preconditioned CG with the block-Jacobi preconditioner
    :math:`cX'^TD_iX' + c_g(D^TD)_{ii}\bar I + A`. (The Woodbury route of the nominal
    system does not carry over cheaply, see ``docs/robust_admm.md``.)
    """

    def __init__(
        self, X: np.ndarray, Df: np.ndarray, n_perturbed: int, method: str, settings: AdmmSettings
    ) -> None:
        super().__init__(X, Df, method, settings)
        self.DtD = Df.T @ Df
        self.bar = np.zeros(self.d)
        self.bar[:n_perturbed] = 1.0

    def factor(self, c: float, A: np.ndarray, c_g: float = 0.0) -> None:  # type: ignore[override]
        """Factor for the weights ``c`` (of :math:`F_0^TF_0`), ``c_g`` (of the g-map) and ``A``."""
        self._static()
        self.c, self.c_g = c, c_g
        self.A = A
        self.A_cho = sla.cho_factor(A, lower=True, check_finite=False)
        self.A_inv = sla.cho_solve(self.A_cho, np.eye(self.d), check_finite=False)
        if self.method == "cholesky":
            # lower triangle of the cached Gram plus two Kronecker terms (read lower only)
            M = self._gram * c + np.kron(c_g * self.DtD, np.diag(self.bar)) + np.kron(np.eye(self.P), A)
            M_cho = sla.cho_factor(M, lower=True, overwrite_a=True, check_finite=False)
            if not np.all(np.isfinite(M_cho[0])):
                raise np.linalg.LinAlgError("the u-step factorization is not finite")
            M_inv, info = dpotri(M_cho[0], lower=1, overwrite_c=1)
            if info != 0:
                raise np.linalg.LinAlgError(f"potri failed (info {info})")
            self.M_inv = M_inv
        else:
            diag = np.diagonal(self.DtD)[:, None, None] * np.diag(self.bar)[None, :, :]
            self.B_inv = np.linalg.inv(c * self._blocks + c_g * diag + A[None, :, :])

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        out = self.c * self.F0t(self.F0(x)) + self.A @ x
        out += self.c_g * (self.bar[:, None] * (x @ self.DtD))
        return out


class RobustStructure(Structure):
    """Everything static about one robust program: data, operators, the linear system.

    ``eps`` and ``beta`` are not static: the solver sets :attr:`eps` and :attr:`beta` before
    every solve (``eps`` enters only the proxes, the projections, the objective and the cone
    violation; ``beta`` only the default penalties, :attr:`default_rho`).
    """

    def __init__(self, program: ConvexProgram, settings: AdmmSettings) -> None:
        if settings.linear_solver == "woodbury":
            raise InvalidInputError(
                "linear_solver='woodbury' is not available for robust programs (the g-map's normal "
                "matrix (D^T D) kron I breaks the cheap n x n capacitance); use 'auto', 'cholesky' "
                "or 'cg'."
            )
        self.kind = program.kind
        self.loss = program.loss
        self.norm = program.norm
        self.q = {"inf": 1.0, "2": 2.0, "1": np.inf}[program.norm]
        self.eps = float(program.eps.value)
        self.beta = float(program.beta.value)
        self.y = np.array(program.y, dtype=np.float64)
        self.n = self.y.shape[0]
        self.X = np.ascontiguousarray(np.asarray(program.design, dtype=np.float64))
        self.Df = np.ascontiguousarray(program.patterns.D, dtype=np.float64)
        self.P = self.Df.shape[1]
        self.d = self.X.shape[1]
        self.dbar = int(program.n_features)  # the perturbable rows
        self.J = 2 * self.P
        self.has_cones, self.project, self.slack, self.split_loss = True, False, True, True
        S = 2.0 * self.Df - 1.0
        self.S_sign = S
        e = np.ones(self.n)
        if settings.scale_rows:
            norms = np.linalg.norm(self.X, axis=1)
            e = np.where(norms > 0, 1.0 / np.where(norms > 0, norms, 1.0), 1.0)
        self.e = e
        self.ES2 = np.ascontiguousarray(np.hstack([S, S]) * e[:, None])
        self.XtE2X = self.X.T @ (self.X * (e**2)[:, None])
        self.method = self._choose_method(settings)
        self.system = RobustSystem(self.X, self.Df, self.dbar, self.method, settings)
        self._bar_norms: np.ndarray | None = None

    def _choose_method(self, settings: AdmmSettings) -> str:
        if settings.linear_solver != "auto":
            return settings.linear_solver
        m = self.d * self.P
        return "cholesky" if 2 * 8 * m * m <= settings.memory_limit_gb * 2**30 else "cg"

    # operators on U (d', 2P)
    def Fu_from_XU(self, XU: np.ndarray) -> np.ndarray:
        P = self.P
        return np.einsum("ij,ij->i", self.Df, XU[:, :P]) - np.einsum("ij,ij->i", self.Df, XU[:, P:])

    def Ft(self, z: np.ndarray) -> np.ndarray:
        T = self.system.F0t(z)
        return np.hstack([T, -T])

    def Gbar(self, U: np.ndarray) -> np.ndarray:
        r""":math:`\bar Gu = \bar\Delta D^T` (``d x n``): column ``k`` is :math:`\bar g_k`."""
        P, d = self.P, self.dbar
        return (U[:d, :P] - U[:d, P:]) @ self.Df.T

    def Gbar_t(self, Gam: np.ndarray) -> np.ndarray:
        r""":math:`\bar G^T\Gamma` (``d' x 2P``): :math:`\pm[\Gamma D; 0]`."""
        T = np.zeros((self.d, self.P))
        T[: self.dbar] = Gam @ self.Df
        return np.hstack([T, -T])

    def slack_t(self, Q: np.ndarray) -> np.ndarray:
        r""":math:`G^TQ` for a stacked slack ``Q = [rows; c]`` of shape ``(n + d, 2P)``."""
        out = self.X.T @ (self.ES2 * Q[: self.n])
        out[: self.dbar] += Q[self.n :]
        return out

    def loss_t(self, Z: np.ndarray) -> np.ndarray:
        r""":math:`F^Ta + \bar G^Tg` for a stacked loss block ``Z = [a; g]`` of shape ``(1 + d, n)``."""
        return self.Ft(Z[0]) + self.Gbar_t(Z[1:])

    # the linear system
    def A_matrix(self, rho_u: float, rho_s: float) -> np.ndarray:
        A = rho_s * self.XtE2X
        A[np.arange(self.dbar), np.arange(self.dbar)] += rho_s
        A.flat[:: self.d + 1] += rho_u
        return A

    @functools.cached_property
    def _data_rho(self) -> Mapping[str, float]:
        return types.MappingProxyType(default_penalties(self))

    @property
    def default_rho(self) -> Mapping[str, float]:
        r"""The data-derived penalties at the current :attr:`beta`: with :math:`b =
        \operatorname{clip}(\beta, 10^{-3}, 10^3)`, ``rho_u = rho_s = b * 2 c / mean
        diag(X'^TE^2X')`` (the nominal slack splitting's rule, :func:`default_penalties`) and
        ``rho_z = b * LOSS_PENALTY[loss]`` (0.3 for hinge and squared, 1 for logistic).

        The factor :math:`\beta` follows the multipliers: at a solution the consensus multiplier
        of a nonzero block is :math:`\beta u_j/\|u_j\|` (size :math:`\beta`) and the loss
        multipliers balance it. Measured against the unscaled rule with ``rho_z = 1``
        (``benchmarks/NOTES.md``): at (2000, 50, 100) hinge / l_inf, beta = 0.1, eps = 0.005, the
        certified gap after 6000 iterations is 0.025 instead of 0.27; on breast cancer (beta = 0.01
        ... 1) the iterations to a 1e-4 gap fell on most robust programs.
        """
        b = min(max(self.beta, BETA_SCALE_RANGE[0]), BETA_SCALE_RANGE[1])
        rho = self._data_rho
        z = b * LOSS_PENALTY[self.loss]
        return types.MappingProxyType({"u": b * rho["u"], "s": b * rho["s"], "z": z})

    def iteration_flops(self) -> float:
        r"""Flops of one robust iteration: the nominal count (:meth:`Structure.iteration_flops`)
        plus the g-block's products (:math:`2nd'J`) and, with the projection v-step
        (:attr:`slack` False), the projector's: about three evaluations of the margins
        (:math:`2nd'J` each) and two least-squares steps per block on at most :math:`3d'` columns
        (:math:`3d'^3` each). At (398, 31) x 100 blocks a Cholesky refactorization then counts 39
        iterations (measured: 0.24 s against 5 ms, 48); the nominal count's 203 held the first
        residual balancing back for 500 iterations.
        """
        n, d, J = self.n, self.d, self.J
        flops = super().iteration_flops() + 2.0 * n * d * J
        if not self.slack:
            flops += 6.0 * n * d * J + 6.0 * J * d**3
        return flops

    def factor(self, rho: dict[str, float]) -> bool:
        key = (self.method, rho["u"], rho["s"], rho["z"])
        if self.system.key == key:
            return False
        self.system.key = None
        self.system.factor(2.0 * rho["z"], self.A_matrix(rho["u"], rho["s"]), 2.0 * rho["z"])
        self.system.check_finite()
        self.system.key = key
        return True

    def solve(self, R: np.ndarray) -> np.ndarray:
        P = self.P
        RV, RW = R[:, :P], R[:, P:]
        delta = self.system.solve(RV - RW)
        sigma = self.system.A_solve(RV + RW)
        return np.hstack([0.5 * (sigma + delta), 0.5 * (sigma - delta)])

    # objective pieces
    def objective_from(self, U: np.ndarray, XU: np.ndarray, beta: float) -> float:
        r"""The robust objective at ``U`` (``XU = X'U``): summed worst-case loss plus the group
        norms. Also records the blocks' :math:`\|\bar u_j\|_q`, which :meth:`cone_violation`
        reads (every caller evaluates the objective at a point before its cone violation)."""
        self._bar_norms = np.linalg.norm(U[: self.dbar], ord=self.q, axis=0) if self.dbar else None
        loss = robust_loss_values(self.loss, self.Fu_from_XU(XU), self.Gbar(U), self.y, self.eps, self.q)
        return float(loss.sum()) + beta * self.regularizer(U)

    def cone_violation(self, XU: np.ndarray, scratch: np.ndarray | None = None) -> tuple[float, float]:
        r"""Largest violation of the robust cones :math:`(2D_i - I)X'u_j \ge \epsilon\|\bar u_j\|_q`
        at the point of the last :meth:`objective_from`, absolute and relative to ``max|X'U|``."""
        P = self.P
        margins = np.hstack([self.S_sign * XU[:, :P], self.S_sign * XU[:, P:]])
        if self._bar_norms is not None and self.eps > 0:
            margins -= self.eps * self._bar_norms[None, :]
        viol = max(0.0, -float(margins.min()))
        scale = float(np.max(np.abs(XU)))
        return viol, (viol / scale if scale > 0 else 0.0)

    def values(self, U: np.ndarray) -> dict[str, np.ndarray]:
        return {"V": U[:, : self.P].copy(), "W": U[:, self.P :].copy()}

    def from_values(self, values: Mapping[str, object]) -> np.ndarray | None:
        try:
            V, W = values["V"], values["W"]
        except KeyError as exc:
            raise InvalidInputError(
                f"warm_start values miss variable {exc.args[0]!r}; a robust_relu program needs ['V', 'W']."
            ) from None
        if V is None or W is None:
            return None
        U = np.hstack([np.asarray(V, dtype=float), np.asarray(W, dtype=float)])
        if U.shape != (self.d, self.J):
            raise InvalidInputError(
                f"warm_start values have shape {U.shape} (stacked); expected {(self.d, self.J)}."
            )
        if not np.all(np.isfinite(U)):
            raise InvalidInputError("warm_start values contain non-finite numbers.")
        return U

    @property
    def dual_exponent(self) -> float:
        """The perturbation norm ``p`` (dual of :attr:`q`)."""
        return DUAL_EXPONENT[self.q]
