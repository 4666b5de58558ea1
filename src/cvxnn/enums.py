r"""The names cvxnn's programs are made of: program kinds, losses and perturbation norms.

Each is a :class:`enum.StrEnum` (through :class:`Name`), so a member *is* its string
(``Loss.SQUARED == "squared"``) and every public function keeps accepting the plain strings.
What each kind *does* (builder, variables, objective and violation at a point, recovery, ADMM
support) is declared in :mod:`cvxnn.kinds`.
"""

from __future__ import annotations

import math
from enum import StrEnum
from types import MappingProxyType

__all__ = ["DUAL_EXPONENT", "LABELLED_LOSSES", "Loss", "Name", "PerturbationNorm", "ProgramKind"]


class Name(StrEnum):
    """A string enum whose ``repr`` is its string's (``'relu'``), so messages that quote a kind,
    loss or norm read the same whether they got the member or the plain string."""

    def __repr__(self) -> str:
        return repr(self.value)


class ProgramKind(Name):
    """The convex programs cvxnn builds (see ``docs/math.md``, "The programs")."""

    RELU = "relu"
    GATED_RELU = "gated_relu"
    SCP = "scp"
    ROBUST_RELU = "robust_relu"


class Loss(Name):
    r"""The summed training losses on predictions :math:`\hat y \in \mathbb R^n`.

    ``squared`` :math:`\tfrac12\|\hat y - y\|_2^2`; ``logistic``
    :math:`\sum_k \log(1 + e^{-y_k\hat y_k})`; ``hinge`` :math:`\sum_k (1 - y_k\hat y_k)_+`.
    """

    SQUARED = "squared"
    LOGISTIC = "logistic"
    HINGE = "hinge"


#: Losses whose targets are labels in {-1, +1}.
LABELLED_LOSSES: frozenset[Loss] = frozenset({Loss.LOGISTIC, Loss.HINGE})


class PerturbationNorm(Name):
    r"""The norm :math:`p` of a robust program's perturbation ball :math:`\|\delta\|_p \le \epsilon`."""

    INF = "inf"
    L2 = "2"
    L1 = "1"


#: The dual exponent :math:`q` of each perturbation norm :math:`p` (:math:`1/p + 1/q = 1`).
DUAL_EXPONENT: MappingProxyType[PerturbationNorm, float] = MappingProxyType(
    {PerturbationNorm.INF: 1.0, PerturbationNorm.L2: 2.0, PerturbationNorm.L1: math.inf}
)
