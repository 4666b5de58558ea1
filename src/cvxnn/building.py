r"""The one builder dispatch: a program of any :class:`~cvxnn.enums.ProgramKind` from its data.

:data:`BUILDERS` maps each kind to the public builder its :class:`~cvxnn.kinds.KindModel`
names; :func:`build_program` is what the estimator, the command line and the benchmarks call
instead of branching on the kind themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

from .enums import Loss, PerturbationNorm, ProgramKind
from .exceptions import InvalidInputError
from .kinds import kind_model
from .programs import ConvexProgram, gated_relu_program, relu_program, scp_program
from .robust import robust_relu_program

__all__ = ["BUILDERS", "build_program"]

#: The builder of each kind (``KIND_MODELS[kind].builder`` is its name).
BUILDERS: Mapping[ProgramKind, Callable[..., ConvexProgram]] = MappingProxyType(
    {
        ProgramKind.RELU: relu_program,
        ProgramKind.GATED_RELU: gated_relu_program,
        ProgramKind.SCP: scp_program,
        ProgramKind.ROBUST_RELU: robust_relu_program,
    }
)


def build_program(
    kind: Any,
    X: Any,
    y: Any,
    patterns: Any,
    *,
    beta: float,
    loss: str = Loss.SQUARED,
    sample_weight: Any = None,
    eps: float = 0.0,
    norm: Any = PerturbationNorm.INF,
) -> ConvexProgram:
    """Build the ``kind`` program on ``(X, y)`` with ``patterns`` (the gates, for ``scp``).

    Parameters
    ----------
    kind : ProgramKind or str
    X, y, patterns, beta, loss, sample_weight
        As in :func:`~cvxnn.programs.relu_program`; ``patterns`` are the SCP's gates for ``scp``.
    eps, norm
        The perturbation radius and norm; only a ``robust_relu`` program takes them.

    Raises
    ------
    InvalidInputError
        For an unknown kind, or ``sample_weight`` with a robust program (it has no weights).
    """
    model = kind_model(kind)
    builder = BUILDERS[model.kind]
    if model.kind == ProgramKind.ROBUST_RELU:
        if sample_weight is not None:
            raise InvalidInputError(
                "robust_relu programs take no sample_weight; repeat or drop rows instead."
            )
        return builder(X, y, patterns, beta=beta, eps=eps, norm=norm, loss=loss)
    return builder(X, y, patterns, beta=beta, loss=loss, sample_weight=sample_weight)
