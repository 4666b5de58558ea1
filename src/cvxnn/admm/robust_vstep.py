r"""The robust ADMM's v-step projection onto the robust cones (``docs/robust_admm.md``, §5):
which projector a program gets, and how many steps one v-step may take.

The v-step is the group soft-threshold of :math:`\Pi_{K^\epsilon_j}(\hat u_j + \lambda_j)`, the
prox of :math:`\beta\|\cdot\| + I_{K^\epsilon_j}`. For l_inf and l_1 perturbations the cones are
polyhedral and :class:`~cvxnn.admm.robust_active_set.ActiveSetConeProjector` projects by
Lawson-Hanson with column generation; for l_2,
:class:`~cvxnn.admm.robust_newton.NewtonConeProjector` by a dual Newton method. Both are
warm-started from the previous v-step.
"""

from __future__ import annotations

import math
from typing import TypeAlias

import numpy as np

from .robust_active_set import ActiveSetConeProjector
from .robust_newton import NewtonConeProjector
from .robust_structure import RobustStructure

__all__ = [
    "V_STEP_CUTS",
    "V_STEP_CUT_GROWTH",
    "V_STEP_NEWTON",
    "ConeVStep",
    "RobustConeProjectorKind",
    "new_cone_projector",
]

#: The two exact projectors onto the robust cones.
RobustConeProjectorKind: TypeAlias = NewtonConeProjector | ActiveSetConeProjector

#: Newton steps per v-step projection for l_2 perturbations
#: (:class:`~cvxnn.admm.robust_newton.NewtonConeProjector`); blocks that have not settled by then
#: go to its conic fallback.
V_STEP_NEWTON = 30

#: Column-generation rounds of an l_inf / l_1 v-step
#: (:class:`~cvxnn.admm.robust_active_set.ActiveSetConeProjector`): ``V_STEP_CUTS`` rounds, plus
#: one for every ``V_STEP_CUT_GROWTH`` consecutive inexact v-steps. A v-step cut short is the
#: exact prox over the cones of its working rows only (an outer approximation: the next steps add
#: the rows it violates); once the cap reaches the projector's own limit (``4d'``) the v-step is
#: exact again (conic fallback included). A cut-short v-step never reaches the result: the solver
#: stops at its polish's exact projection (or, with ``gap_tol=None``, after an exact v-step).
V_STEP_CUTS, V_STEP_CUT_GROWTH = 1, 30


def new_cone_projector(structure: RobustStructure) -> RobustConeProjectorKind:
    """A projector onto the program's robust cones (the V and W blocks share their signs):
    Lawson-Hanson with column generation for the polyhedral cones (l_inf and l_1
    perturbations), the dual Newton method for l_2."""
    st = structure
    signs = np.hstack([st.S_sign, st.S_sign])
    if st.q in (1.0, math.inf):
        return ActiveSetConeProjector(st.X, signs, st.e, st.dbar, st.q)
    return NewtonConeProjector(st.X, signs, st.e, st.dbar, st.q)


class ConeVStep:
    """The v-step projections of one solver: a warm-started projector and its step caps.

    Parameters
    ----------
    structure : RobustStructure
        The program (data, signs, perturbation norm).

    Attributes
    ----------
    projector : RobustConeProjectorKind
        From :func:`new_cone_projector`; its ``multipliers`` are those of the last v-step.
    inexact_steps : int
        v-steps since :meth:`reset` cut short by the column-generation cap (0 for l_2).
    """

    def __init__(self, structure: RobustStructure) -> None:
        self.projector = new_cone_projector(structure)
        self.inexact_steps = 0
        self._streak = 0

    def reset(self) -> None:
        """Start a new solve: the step caps and the count start over (the warm start is kept)."""
        self.inexact_steps = self._streak = 0

    def project(self, C: np.ndarray, eps: float, zero_radius: float) -> np.ndarray:
        r""":math:`\Pi_{K^\epsilon_j}(c_j)` for every column of ``C`` (``(d', 2P)``), within this
        v-step's cap; blocks whose projection is within ``zero_radius`` come back as 0.

        Raises
        ------
        numpy.linalg.LinAlgError
            When the conic fallback fails.
        """
        projector = self.projector
        if isinstance(projector, NewtonConeProjector):
            steps, fallback = V_STEP_NEWTON, True
        else:  # the working-set rows grow by a few cuts per v-step
            steps = V_STEP_CUTS + self._streak // V_STEP_CUT_GROWTH
            fallback = steps >= projector.max_iter
        p = projector.project(C, eps, zero_radius=zero_radius, max_iter=steps, fallback=fallback)
        self._streak = 0 if projector.exact else self._streak + 1
        self.inexact_steps += not projector.exact
        if p is None:
            raise np.linalg.LinAlgError("the conic solver failed on the projection onto the robust cones")
        return p
