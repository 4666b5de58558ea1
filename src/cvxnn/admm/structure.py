r"""Everything static about one program for the ADMM: data, operators, the linear system.

Shapes: ``X`` is the design ``X'`` (``n x d'``; for ``scp`` the features :math:`(X'g_h)_+`,
``n x N``), ``Df`` the patterns (``n x P``, 0/1), ``U`` the stacked variable (``d' x J``,
``J = 2P`` for ``relu``: ``[V, W]``; ``P`` for ``gated_relu``; ``1`` for ``scp``).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..enums import Loss, ProgramKind
from ..exceptions import InvalidInputError, UnsupportedProblemError
from ..kinds import cone_violation, kind_model, regularizer, stacked_predictions
from ..losses import loss_value
from ..programs import ConvexProgram
from .certificates import DualCertificates
from .cones import ConeProjector
from .linsys import ReducedSystem
from .prox import prox_group_l2, prox_l1
from .settings import SUPPORTED_KINDS, AdmmSettings

__all__ = ["STRUCTURAL_SETTINGS", "Structure", "check_program", "default_penalties", "program_fingerprint"]

#: Settings that shape the structure (a change builds a new solver).
STRUCTURAL_SETTINGS: tuple[str, ...] = (
    "scale_rows",
    "cone_method",
    "linear_solver",
    "memory_limit_gb",
    "cg_tol",
    "cg_max_iter",
)


class Structure(DualCertificates):
    """Everything static about one program for the ADMM: data, operators, the linear system."""

    def __init__(self, program: ConvexProgram, settings: AdmmSettings) -> None:
        self.kind = program.kind
        self.loss = program.loss
        self.y = np.array(program.y, dtype=np.float64)
        self.n = self.y.shape[0]
        design = np.asarray(program.design, dtype=np.float64)
        if self.kind == ProgramKind.SCP:
            self.X = np.ascontiguousarray(np.maximum(design @ program.gates, 0.0))
            self.Df = np.ones((self.n, 1))
            self.P = 1
            self.d = self.X.shape[1]
            self.J = 1
        else:
            self.X = np.ascontiguousarray(design)
            self.Df = np.ascontiguousarray(program.patterns.D, dtype=np.float64)
            self.P = self.Df.shape[1]
            self.d = self.X.shape[1]
            self.J = 2 * self.P if self.kind == ProgramKind.RELU else self.P
        self.has_cones = kind_model(self.kind).constrained
        self.project = self.has_cones and settings.cone_method == "projection"
        self.slack = self.has_cones and not self.project
        self.split_loss = self.loss != Loss.SQUARED
        if self.has_cones:
            S = 2.0 * self.Df - 1.0
            self.S_sign = S  # (n, P), for the cone violation
        if self.slack:  # the scaled cone rows G (the projection splitting never forms them)
            row_norms = np.linalg.norm(self.X, axis=1)
            e = np.ones(self.n)
            if settings.scale_rows:
                e = np.where(row_norms > 0, 1.0 / np.where(row_norms > 0, row_norms, 1.0), 1.0)
            self.ES2 = np.ascontiguousarray(np.hstack([S, S]) * e[:, None])  # (n, 2P)
            self.XtE2X = self.X.T @ (self.X * (e**2)[:, None])
        if self.project:
            self.projector = ConeProjector(self.X, np.hstack([S, S]))  # the v-step's
        self.method = self._choose_method(settings)
        self.system = ReducedSystem(self.X, self.Df, self.method, settings)
        self.Fty = self.Ft(self.y)

    def _choose_method(self, settings: AdmmSettings) -> str:
        if settings.linear_solver != "auto":
            return settings.linear_solver
        m = self.d * self.P
        budget = settings.memory_limit_gb * 2**30
        wood_bytes = 3 * 8 * self.n**2
        chol_bytes = 2 * 8 * m**2
        candidates = []
        if wood_bytes <= budget:
            candidates.append(("woodbury", self.n))
        if chol_bytes <= budget:
            candidates.append(("cholesky", m))
        if not candidates:
            return "cg"
        return min(candidates, key=lambda t: t[1])[0]

    # operators on U (d, J)
    def Fu_from_XU(self, XU: np.ndarray) -> np.ndarray:
        """The predictions :math:`Fu` from :math:`X'U` (:func:`cvxnn.kinds.stacked_predictions`)."""
        return stacked_predictions(self.kind, self.Df, XU)

    def Ft(self, z: np.ndarray) -> np.ndarray:
        T = self.system.F0t(z)
        if self.kind == ProgramKind.RELU:
            return np.hstack([T, -T])
        return T

    def G_from_XU(self, XU: np.ndarray) -> np.ndarray:
        return self.ES2 * XU

    def Gt(self, Q: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
        """:math:`G^TQ` (``d' x J``); ``scratch`` (the shape of ``Q``) avoids a temporary."""
        return self.X.T @ np.multiply(self.ES2, Q, out=scratch)

    # the linear system
    def weight(self, rho_z: float) -> float:
        return rho_z if self.split_loss else 1.0

    def A_matrix(self, rho_u: float, rho_s: float) -> np.ndarray:
        if self.slack:
            A = rho_s * self.XtE2X
            A.flat[:: self.d + 1] += rho_u
            return A
        return rho_u * np.eye(self.d)

    @functools.cached_property
    def default_rho(self) -> Mapping[str, float]:
        """The data-derived initial penalties (:func:`_default_rho`), computed once per program
        (an ``n x d' x P`` product): the start of a cold solve and the centre of the band that
        residual balancing keeps each penalty in."""
        return types.MappingProxyType(default_penalties(self))

    @functools.cached_property
    def polish_projector(self) -> ConeProjector:
        """Exact cone projections of the returned point (``cone_method="slack"``, whose iterates
        approach the cones from outside): built on first use."""
        return ConeProjector(self.X, np.hstack([self.S_sign, self.S_sign]))

    @functools.cached_property
    def factor_cost_in_iterations(self) -> float:
        r"""A refactorization's cost in iterations, from flop counts (machine independent).

        Factor: Woodbury :math:`n^2 d' + \tfrac43 n^3` (``K``, its Cholesky and inverse),
        Cholesky :math:`m^3` with ``m = d'P`` (``potrf`` + ``potri``; the Gram is cached), CG
        :math:`P d'^3`, counted at a third (BLAS-3 runs ~3x more flops per second than the
        loop); an iteration costs :meth:`iteration_flops`. Measured ratios were 70 at
        (2000, 50, 100) (model 57) and ~100 at (50 000, 100, 100) (model 107).
        """
        n, d, P = self.n, self.d, self.P
        m = d * P
        factor = {"woodbury": n * n * d + 4.0 * n**3 / 3.0, "cholesky": float(m) ** 3, "cg": P * d**3}
        return factor[self.method] / 3.0 / self.iteration_flops()

    def iteration_flops(self) -> float:
        r"""Flops of one iteration: :math:`2nd'J + 2nd'P` for the products plus the u-step solve's
        :math:`n^2` / :math:`m^2` / ``10 n d' P`` (Woodbury / Cholesky / CG, ``m = d'P``)."""
        n, d, P, J = self.n, self.d, self.P, self.J
        m = d * P
        solve = {"woodbury": n * n, "cholesky": m * m, "cg": 10 * n * d * P}
        return 2.0 * n * d * J + 2.0 * n * d * P + solve[self.method]

    def factor(self, rho: dict[str, float]) -> bool:
        """Factor for the penalties ``rho``; returns False when the cached factor already fits."""
        w = self.weight(rho["z"])
        key = (self.method, rho["u"], rho["s"] if self.slack else 0.0, w)
        if self.system.key == key:
            return False
        c = 2.0 * w if self.kind == ProgramKind.RELU else w
        self.system.key = None
        self.system.factor(c, self.A_matrix(rho["u"], rho["s"]))
        self.system.check_finite()
        self.system.key = key
        return True

    def solve(self, R: np.ndarray) -> np.ndarray:
        if self.kind != ProgramKind.RELU:
            return self.system.solve(R)
        P = self.P
        RV, RW = R[:, :P], R[:, P:]
        delta = self.system.solve(RV - RW)
        sigma = self.system.A_solve(RV + RW)
        return np.hstack([0.5 * (sigma + delta), 0.5 * (sigma - delta)])

    # objective pieces
    def regularizer(self, U: np.ndarray) -> float:
        """The kind's regularizer at ``U`` (:func:`cvxnn.kinds.regularizer`)."""
        return regularizer(self.kind, U)

    def prox_reg(self, T: np.ndarray, thresh: float) -> np.ndarray:
        if self.kind == ProgramKind.SCP:
            return prox_l1(T, thresh)
        return prox_group_l2(T, thresh)

    def objective_from(self, U: np.ndarray, XU: np.ndarray, beta: float) -> float:
        return loss_value(self.Fu_from_XU(XU), self.y, self.loss) + beta * self.regularizer(U)

    def cone_violation(self, XU: np.ndarray, scratch: np.ndarray | None = None) -> tuple[float, float]:
        r"""Largest violation of :math:`(2D - 1) \odot X'U \ge 0`, absolute and relative to
        ``max|X'U|``; ``scratch`` (the shape of ``XU``) avoids a temporary."""
        if not self.has_cones:
            return 0.0, 0.0
        violation = cone_violation(self.S_sign, XU, scratch=scratch)  # the one normalization
        return violation.absolute, violation.relative

    def values(self, U: np.ndarray) -> dict[str, np.ndarray]:
        if self.kind == ProgramKind.RELU:
            return {"V": U[:, : self.P].copy(), "W": U[:, self.P :].copy()}
        if self.kind == ProgramKind.GATED_RELU:
            return {"U": U.copy()}
        return {"a": U[:, 0].copy()}

    def from_values(self, values: Mapping[str, Any]) -> np.ndarray | None:
        try:
            if self.kind == ProgramKind.RELU:
                V, W = values["V"], values["W"]
                if V is None or W is None:
                    return None
                U = np.hstack([np.asarray(V, dtype=float), np.asarray(W, dtype=float)])
            elif self.kind == ProgramKind.GATED_RELU:
                if values["U"] is None:
                    return None
                U = np.asarray(values["U"], dtype=float)
            else:
                if values["a"] is None:
                    return None
                U = np.asarray(values["a"], dtype=float).reshape(-1, 1)
        except KeyError as exc:
            raise InvalidInputError(
                f"warm_start values miss variable {exc.args[0]!r}; a {self.kind} program needs "
                f"{sorted(self.values(np.zeros((self.d, self.J))))}."
            ) from None
        if U.shape != (self.d, self.J):
            raise InvalidInputError(
                f"warm_start values have shape {U.shape} (stacked); expected {(self.d, self.J)}."
            )
        if not np.all(np.isfinite(U)):
            raise InvalidInputError("warm_start values contain non-finite numbers.")
        return U


def default_penalties(structure: Structure) -> dict[str, float]:
    """Initial penalties from the data scale (measured on Gaussian and scikit-learn data).

    ``c`` is the mean diagonal of :math:`F^TF` (the squared loss's curvature per coordinate),
    used for ``rho_u`` of the cone-free kinds and, times 0.1, for ``cone_method="projection"``.
    With slack cones and the squared loss, ``rho_s = 30 mean(X'^2)`` (it scales like the loss
    curvature under ``X -> aX``); with the loss split, ``rho_s = 2 c / mean diag(X'^TE^2X')``;
    the u = v block is insensitive and gets ``rho_s`` too; the loss split gets ``1`` (the
    squared loss's curvature per prediction).
    """
    st = structure
    if st.kind == ProgramKind.SCP:
        c = float(np.mean(st.X**2)) * st.n
    else:
        c = float(np.mean(st.Df.T @ (st.X**2)))
    c = max(c, 1e-8)
    rho = {"u": c, "s": c, "z": 1.0}
    if st.project:
        # measured (bench data, squared loss): rho_u = 0.1 c reached a 1e-4 gap after ~100
        # iterations at (500, 30, 50) and ~230 at (2000, 50, 100); 0.3 c and c needed 3x and 10x more
        rho["u"] = rho["s"] = 0.1 * c
    elif st.has_cones:
        # Measured on Gaussian data (d = 30 and 50): the best fixed cone penalty was ~30 times
        # the mean squared entry of X' in both cases, while 2 c / diag(G^TG) (= the mean squared
        # row norm, ~d) was best only at d = 30 and needed 1.7x more iterations at d = 50.
        # With the loss split (logistic, hinge) the older rule 2 c / diag(G^TG) stayed better
        # (2700 vs 6900 iterations on a small logistic instance).
        if st.split_loss:
            g = max(float(np.mean(np.diag(st.XtE2X))), 1e-12)
            rho["s"] = rho["u"] = 2.0 * c / g
        else:
            rho["s"] = rho["u"] = 30.0 * max(float(np.mean(st.X**2)), 1e-12)
    return rho


def check_program(program: Any) -> float:
    """Check that ``program`` is a cvxnn program of a kind the ADMM solves; returns its ``beta``.

    Raises :class:`~cvxnn.exceptions.UnsupportedProblemError` for other objects and kinds and
    :class:`~cvxnn.exceptions.InvalidInputError` for an unset or invalid ``beta``.
    """
    if not isinstance(program, ConvexProgram):
        raise UnsupportedProblemError(
            f"solve_admm needs a cvxnn ConvexProgram (from relu_program, gated_relu_program, "
            f"scp_program or robust_relu_program); got {type(program).__name__}."
        )
    if program.kind not in SUPPORTED_KINDS:
        raise UnsupportedProblemError(
            f"The ADMM backend does not support {program.kind!r} programs; it supports "
            f"{list(SUPPORTED_KINDS)}. Solve this one with a CVXPY solver, e.g. "
            "program.solve(solver='CLARABEL') or program.problem.solve(solver='CLARABEL')."
        )
    weights = getattr(program, "sample_weight", None)
    if weights is not None and not np.all(weights == 1.0):
        raise UnsupportedProblemError(
            "The ADMM backend does not support sample weights (this program weighs its samples' "
            "losses); solve it with a CVXPY solver, e.g. program.solve(solver='CLARABEL'), or "
            "build it without sample_weight."
        )
    beta = program.beta.value
    if beta is None or not np.isfinite(float(beta)) or float(beta) < 0:
        raise InvalidInputError(f"program.beta must hold a finite value >= 0; got {beta!r}.")
    return float(beta)


def program_fingerprint(program: ConvexProgram, settings: AdmmSettings) -> tuple:
    """What a solver's structure depends on: the program's shape and the structural settings."""
    shape = (program.kind, program.loss, program.norm, program.n_samples, program.design.shape[1])
    shape += (program.n_patterns,)
    return shape + tuple(getattr(settings, name) for name in STRUCTURAL_SETTINGS)
