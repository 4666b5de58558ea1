r"""One model of the program kinds: what each kind of :class:`~cvxnn.programs.ConvexProgram` is.

Every kind (:class:`~cvxnn.enums.ProgramKind`) declares, in one :class:`KindModel` of
:data:`KIND_MODELS`:

- its builder (the public function that makes it; :data:`cvxnn.building.BUILDERS` holds the
  callables, :func:`cvxnn.building.build_program` dispatches on the kind);
- its variables, in the order they stack into one matrix :math:`U` (``V, W`` side by side for
  the ReLU kinds, ``U`` gated, the column ``a`` for SCP);
- its objective at a point, in NumPy (:meth:`KindModel.objective`), identical to the CVXPY
  objective ``program.problem.objective.value`` at the same values;
- its constraint violation at a point (:meth:`KindModel.violation`, one normalization,
  :class:`ConeViolation`);
- its network recovery (:meth:`KindModel.network`) and whether the structured ADMM solves it.

The formulas are in ``docs/math.md`` ("The programs", "Constraint violation"). The ADMM, the
verification and the benchmarks measure points through :meth:`ConvexProgram.objective_at
<cvxnn.programs.ConvexProgram.objective_at>` and :meth:`~cvxnn.programs.ConvexProgram.violation_at`,
or, inside the ADMM's loop where the products :math:`X'U` already exist, through the array-level
functions here (:func:`cone_violation`, :func:`stacked_predictions`, :func:`regularizer`,
:func:`regularizer_dual_norm`), so that every number is computed by one implementation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

from ._validation import as_real_array
from .enums import DUAL_EXPONENT, LABELLED_LOSSES, Loss, PerturbationNorm, ProgramKind
from .exceptions import InvalidInputError, UnsupportedProblemError
from .losses import loss_per_sample, loss_value
from .recovery import (
    GatedReLUNetwork,
    ObjectiveData,
    ReLUNetwork,
    gated_network_from_blocks,
    relu_network_from_blocks,
    relu_network_from_scp,
)

__all__ = [
    "DUAL_EXPONENT",
    "KIND_MODELS",
    "LABELLED_LOSSES",
    "ConeViolation",
    "KindModel",
    "Loss",
    "PerturbationNorm",
    "ProgramKind",
    "admm_kinds",
    "cone_violation",
    "kind_model",
    "perturbation_spread",
    "regularizer",
    "regularizer_dual_norm",
    "robust_cone_rhs",
    "stacked_predictions",
    "worst_case_loss",
]


# =========================================================================== array level
@dataclass(frozen=True)
class ConeViolation:
    r"""How far a point is from the cones :math:`(2D_i - I)X'b_i \ge r_i \mathbf 1`.

    ``b_i`` runs over every constrained block (the columns of ``V`` and ``W``); the right-hand
    side :math:`r_i` is 0 for ``relu`` and :math:`\epsilon\|\bar b_i\|_q` for ``robust_relu``.

    Attributes
    ----------
    absolute : float
        :math:`\max_{i,k}\,\big(r_i - [(2D_i - I)X'b_i]_k\big)_+`, in the units of :math:`X'b`.
    scale : float
        :math:`\max\big(\max_{i,k}|[X'b_i]_k|,\ \max_i r_i\big)`, the size of both sides.

    The one normalization cvxnn uses everywhere (ADMM stop rule, verification, benchmarks) is
    :attr:`relative` ``= absolute / scale`` (0 when ``scale`` is 0: both sides vanish, the
    point is feasible). Unconstrained kinds report ``ConeViolation(0.0, 0.0)``.
    """

    absolute: float
    scale: float

    @property
    def relative(self) -> float:
        """``absolute / scale``, 0 when ``scale`` is 0."""
        return self.absolute / self.scale if self.scale > 0 else 0.0


#: The violation of an unconstrained program.
NO_CONES = ConeViolation(0.0, 0.0)


def cone_violation(
    signs: np.ndarray,
    XB: np.ndarray,
    rhs: np.ndarray | None = None,
    scratch: np.ndarray | None = None,
) -> ConeViolation:
    r"""The :class:`ConeViolation` of blocks whose products :math:`X'B` are given.

    Parameters
    ----------
    signs : ndarray, shape (n, P)
        :math:`S = 2D - 1` (entries :math:`\pm 1`).
    XB : ndarray, shape (n, m P)
        The products :math:`X'b_i` of ``m`` block matrices side by side (``m = 2``: ``[X'V, X'W]``).
    rhs : ndarray of shape (m P,), optional
        Right-hand sides :math:`r_i` per column (robust cones); ``None`` means 0.
    scratch : ndarray of the shape of ``XB``, optional
        Work array (avoids a temporary in the ADMM's loop).
    """
    P = signs.shape[1]
    margins = np.empty_like(XB) if scratch is None else scratch
    for start in range(0, XB.shape[1], P):  # one product per block matrix (V, W), not per pattern
        np.multiply(signs, XB[:, start : start + P], out=margins[:, start : start + P])
    if rhs is not None:
        margins -= rhs[None, :]
    absolute = max(0.0, -float(margins.min()))
    scale = max(float(XB.max()), -float(XB.min()))
    if rhs is not None and rhs.size:
        scale = max(scale, float(rhs.max()))
    return ConeViolation(absolute, scale)


def stacked_predictions(kind: ProgramKind, D: np.ndarray, XU: np.ndarray) -> np.ndarray:
    r"""The convex model's predictions :math:`\hat y` (n,) from the products :math:`X'U`.

    ``relu``/``robust_relu``: :math:`\sum_i D_i X'(v_i - w_i)` from ``XU = [X'V, X'W]`` (n, 2P),
    in two passes (no (n, P) temporary); ``gated_relu``: :math:`\sum_i D_i X'u_i`; ``scp``: the
    single column of ``XU = H a`` with :math:`H = (X'G)_+`.
    """
    if kind == ProgramKind.SCP:
        return XU[:, 0].copy()
    if kind in (ProgramKind.RELU, ProgramKind.ROBUST_RELU):
        P = D.shape[1]
        return np.einsum("ij,ij->i", D, XU[:, :P]) - np.einsum("ij,ij->i", D, XU[:, P:])
    return np.einsum("ij,ij->i", D, XU)


def regularizer(kind: ProgramKind, U: np.ndarray) -> float:
    r"""The regularizer at the stacked variable ``U``: :math:`\sum_j \|u_j\|_2` over its columns
    (group norm of the ReLU and gated kinds), :math:`\|a\|_1` for ``scp``."""
    if kind == ProgramKind.SCP:
        return float(np.abs(U).sum())
    return float(np.linalg.norm(U, axis=0).sum())


def regularizer_dual_norm(kind: ProgramKind, C: np.ndarray) -> float:
    r"""The dual norm of the regularizer, largest over the blocks of ``C`` (the dual constraint
    :math:`\le \beta` of ``docs/math.md``, "Certificates"): :math:`\max_j\|c_j\|_2` over the
    columns (group norm), :math:`\|c\|_\infty` for ``scp`` (:math:`\ell_1`)."""
    if kind == ProgramKind.SCP:
        return float(np.max(np.abs(C)))
    return float(np.max(np.linalg.norm(C, axis=0)))


def perturbation_spread(delta_bar: np.ndarray, D: np.ndarray, eps: float, norm: str) -> np.ndarray:
    r""":math:`\epsilon\|\bar g_k\|_q` for every sample, shape (n,): the column norms of
    :math:`\bar\Delta D^T` with :math:`\bar\Delta = (V - W)_{1:d}` (``delta_bar``, d x P; the bias
    row is never perturbed), ``D`` (n x P) and :math:`q` the dual exponent of ``norm``."""
    return eps * np.linalg.norm(delta_bar @ D.T, ord=DUAL_EXPONENT[PerturbationNorm(norm)], axis=0)


def robust_cone_rhs(blocks_bar: np.ndarray, eps: float, norm: str) -> np.ndarray:
    r"""Right-hand sides :math:`\epsilon\|\bar b_i\|_q` of the robust cones, one per column of
    ``blocks_bar`` (the blocks without their bias row)."""
    return eps * np.linalg.norm(blocks_bar, ord=DUAL_EXPONENT[PerturbationNorm(norm)], axis=0)


def worst_case_loss(yhat: np.ndarray, y: np.ndarray, spread: np.ndarray, loss: Loss) -> np.ndarray:
    r"""Per-sample worst-case loss over a perturbation ball, shape (n,).

    With :math:`s_k = \epsilon\|\bar g_k\|_q` (``spread``): squared
    :math:`\tfrac12(|\hat y_k - y_k| + s_k)^2`, hinge :math:`(1 - y_k\hat y_k + s_k)_+`, logistic
    :math:`\log(1 + e^{-y_k\hat y_k + s_k})`.
    """
    if loss == Loss.SQUARED:
        return 0.5 * (np.abs(yhat - y) + spread) ** 2
    return loss_per_sample(y * yhat - spread, np.ones_like(y), loss)


# =========================================================================== the kind model
@dataclass(frozen=True)
class KindModel:
    """What one program kind is: builder, variables, numbers at a point, recovery, solvers.

    Attributes
    ----------
    kind : ProgramKind
    builder : str
        Name of the public builder in :mod:`cvxnn` (callable in :data:`cvxnn.building.BUILDERS`).
    variables : tuple of str
        The variables' names, in the order they stack into ``U`` along the columns.
    constrained : bool
        Whether the program has cone constraints.
    admm : bool
        Whether the structured ADMM (``method=cvxnn.ADMM``) solves this kind.
    network_kind : str
        What :meth:`network` recovers and verification reports: ``"nonconvex"`` (the ReLU
        network whose objective equals the program's), ``"nominal nonconvex"`` (robust: the
        network's *nominal* objective) or ``"gated"``.
    """

    kind: ProgramKind
    builder: str
    variables: tuple[str, ...]
    constrained: bool
    admm: bool
    network_kind: str

    # ------------------------------------------------------------------ values
    def check_values(
        self, values: Mapping[str, Any], shapes: Mapping[str, tuple[int, ...]]
    ) -> dict[str, np.ndarray]:
        """``values`` as float arrays of the variables' ``shapes``; clear errors otherwise."""
        if not isinstance(values, Mapping):
            raise InvalidInputError(
                f"values must be a mapping of variable name to array; got {type(values).__name__}."
            )
        missing = [name for name in self.variables if name not in values or values[name] is None]
        if missing:
            raise InvalidInputError(
                f"a {self.kind} program's point needs the variables {list(self.variables)}; "
                f"missing {missing}."
            )
        out = {}
        for name in self.variables:
            # real numbers only (complex refused); non-finite entries are measured, not refused
            arr = as_real_array(values[name], f"values[{name!r}]")
            if arr.shape != tuple(shapes[name]):
                raise InvalidInputError(
                    f"values[{name!r}] has shape {arr.shape}; the variable has shape {tuple(shapes[name])}."
                )
            out[name] = arr
        return out

    def stack(self, values: Mapping[str, np.ndarray]) -> np.ndarray:
        """The variables side by side as one matrix ``U`` (``a`` becomes one column)."""
        blocks = [np.asarray(values[name], dtype=np.float64) for name in self.variables]
        return np.hstack([b.reshape(b.shape[0], -1) for b in blocks])

    # ------------------------------------------------------------------ numbers at a point
    def features(self, program: Any) -> np.ndarray:
        r"""The matrix the stacked variable multiplies: :math:`X'` (n, d'), or :math:`(X'G)_+`
        (n, N) for ``scp``."""
        if self.kind == ProgramKind.SCP:
            return np.maximum(program.design @ program.gates, 0.0)
        return program.design

    def patterns_matrix(self, program: Any) -> np.ndarray:
        """The 0/1 pattern matrix ``D`` (n, P) as floats (a column of ones for ``scp``)."""
        if self.kind == ProgramKind.SCP:
            return np.ones((program.n_samples, 1))
        return np.asarray(program.patterns.D, dtype=np.float64)

    def spread(self, program: Any, U: np.ndarray, D: np.ndarray) -> np.ndarray:
        r""":math:`\epsilon\|\bar g_k\|_q` per sample (robust kinds), :math:`\bar g_k` the first
        :math:`d` rows of :math:`g_k = \sum_i [D_i]_{kk}(v_i - w_i)`; zeros otherwise."""
        eps = program_eps(program)
        if self.kind != ProgramKind.ROBUST_RELU or eps == 0.0:
            return np.zeros(program.n_samples)
        P, d = D.shape[1], program.n_features
        return perturbation_spread(U[:d, :P] - U[:d, P:], D, eps, program.norm)

    def loss_term(self, program: Any, U: np.ndarray, XU: np.ndarray, D: np.ndarray) -> float:
        """The (weighted, summed) loss part of the objective at ``U`` with products ``XU``."""
        yhat = stacked_predictions(self.kind, D, XU)
        if self.kind == ProgramKind.ROBUST_RELU:
            return float(np.sum(worst_case_loss(yhat, program.y, self.spread(program, U, D), program.loss)))
        return loss_value(yhat, program.y, program.loss, program.sample_weight)

    def objective(self, program: Any, values: Mapping[str, Any]) -> float:
        r"""The program's objective ``loss_term + beta * regularizer`` at ``values``, in NumPy."""
        U = self.stack(self.check_values(values, shapes_of(program)))
        D = self.patterns_matrix(program)
        XU = self.features(program) @ U
        return self.loss_term(program, U, XU, D) + float(program.beta.value) * regularizer(self.kind, U)

    def violation(self, program: Any, values: Mapping[str, Any]) -> ConeViolation:
        """The :class:`ConeViolation` of ``values`` (``NO_CONES`` for unconstrained kinds)."""
        U = self.stack(self.check_values(values, shapes_of(program)))
        if not self.constrained:
            return NO_CONES
        rhs = None
        eps = program_eps(program)
        if self.kind == ProgramKind.ROBUST_RELU and eps > 0:
            # the bias row is never perturbed, so it does not enter the norm
            rhs = robust_cone_rhs(U[: program.n_features], eps, program.norm)
        return cone_violation(program.patterns.signs, program.design @ U, rhs)

    # ------------------------------------------------------------------ recovery
    def network(
        self, program: Any, values: Mapping[str, Any], *, prune_tol: float, objective_rtol: float
    ) -> ReLUNetwork | GatedReLUNetwork:
        """The network recovered from ``values`` (see :mod:`cvxnn.recovery`)."""
        arrays = self.check_values(values, shapes_of(program))
        data = ObjectiveData(program.design, program.y, program.loss, float(program.beta.value))
        opts = {"bias": program.bias, "prune_tol": prune_tol, "data": data, "objective_rtol": objective_rtol}
        if self.kind in (ProgramKind.RELU, ProgramKind.ROBUST_RELU):
            return relu_network_from_blocks(arrays["V"], arrays["W"], **opts)
        if self.kind == ProgramKind.SCP:
            return relu_network_from_scp(arrays["a"], program.gates, **opts)
        if program.patterns is None or program.patterns.gates is None:
            raise UnsupportedProblemError(
                "The gated network needs the patterns' gates to predict on new data; build the "
                "program from sample_patterns/enumerate_patterns output."
            )
        return gated_network_from_blocks(arrays["U"], program.patterns.gates, **opts)


def shapes_of(program: Any) -> dict[str, tuple[int, ...]]:
    """The shapes of a program's variables by name."""
    return {name: tuple(var.shape) for name, var in program.variables.items()}


def program_eps(program: Any) -> float:
    """The perturbation radius of a robust program (0 when it has none or it is unset)."""
    eps = getattr(program, "eps", None)
    if eps is None or eps.value is None:
        return 0.0
    return float(eps.value)


#: The model of every kind.
KIND_MODELS: Mapping[ProgramKind, KindModel] = MappingProxyType(
    {
        ProgramKind.RELU: KindModel(
            ProgramKind.RELU,
            "relu_program",
            ("V", "W"),
            constrained=True,
            admm=True,
            network_kind="nonconvex",
        ),
        ProgramKind.GATED_RELU: KindModel(
            ProgramKind.GATED_RELU,
            "gated_relu_program",
            ("U",),
            constrained=False,
            admm=True,
            network_kind="gated",
        ),
        ProgramKind.SCP: KindModel(
            ProgramKind.SCP, "scp_program", ("a",), constrained=False, admm=True, network_kind="nonconvex"
        ),
        ProgramKind.ROBUST_RELU: KindModel(
            ProgramKind.ROBUST_RELU,
            "robust_relu_program",
            ("V", "W"),
            constrained=True,
            admm=True,
            network_kind="nominal nonconvex",
        ),
    }
)


def kind_model(kind: Any) -> KindModel:
    """The :class:`KindModel` of ``kind`` (a :class:`ProgramKind` or its string)."""
    try:
        return KIND_MODELS[ProgramKind(kind)]
    except ValueError:
        raise InvalidInputError(
            f"Unknown program kind {kind!r}; the kinds are {[str(k) for k in ProgramKind]}."
        ) from None


def admm_kinds() -> tuple[ProgramKind, ...]:
    """The kinds the structured ADMM solves, in declaration order."""
    return tuple(k for k, model in KIND_MODELS.items() if model.admm)
