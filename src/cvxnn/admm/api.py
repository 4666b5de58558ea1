r"""The functional entry point :func:`solve_admm` and the solver each program keeps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import _registry
from ..enums import ProgramKind
from .robust_solver import RobustAdmmSolver
from .settings import AdmmResult, AdmmSettings
from .solver import AdmmSolver
from .structure import check_program, program_fingerprint

if TYPE_CHECKING:
    from ..programs import ConvexProgram

__all__ = ["solve_admm", "solver_for"]


def solver_for(program: ConvexProgram, settings: AdmmSettings) -> AdmmSolver:
    """The solver attached to ``program`` (built, and attached, when none fits ``settings``).

    The solver lives in the program's registry record (:func:`cvxnn._registry.attach_solver`),
    so every solve of the same program (or of its ``problem``) reuses its factor, penalties and
    projector working sets, and a new program starts afresh.
    """
    solver = _registry.solver_of(program)
    if not isinstance(solver, AdmmSolver) or solver.fingerprint != program_fingerprint(program, settings):
        build = RobustAdmmSolver if program.kind == ProgramKind.ROBUST_RELU else AdmmSolver
        solver = build(program, settings)
        _registry.attach_solver(program, solver)
    return solver


def solve_admm(
    program: ConvexProgram,
    settings: AdmmSettings | Mapping[str, Any] | None = None,
    *,
    warm_start: AdmmResult | Mapping[str, Any] | bool | None = None,
) -> AdmmResult:
    r"""Solve a ``relu``, ``gated_relu``, ``scp`` or ``robust_relu`` program with the structured ADMM.

    A ``robust_relu`` program gets a :class:`~cvxnn.admm.robust_solver.RobustAdmmSolver`
    (``docs/robust_admm.md``), which reads ``program.eps.value`` at every call, so an eps path
    re-solves the same program with the same factorization.

    Parameters
    ----------
    program : ConvexProgram
        From :func:`~cvxnn.relu_program`, :func:`~cvxnn.gated_relu_program` or
        :func:`~cvxnn.scp_program`; ``program.beta.value`` is read now, so a beta path re-solves
        the same program. The program's :class:`AdmmSolver` (:func:`solver_for`) is reused
        while the structural settings are unchanged: its factorization (the system matrix does
        not depend on beta), its last penalties and the cone projections' working sets start
        the next solve, which may therefore take a different number of iterations than the
        first; each stops by the same rules.
    settings : AdmmSettings, dict or None
        See :class:`AdmmSettings`; unknown keys are rejected by name.
    warm_start : AdmmResult, dict, bool or None
        A previous result of the same program (all primal and dual state and its penalties), a
        mapping of variable values by name (``"V"``, ``"W"`` / ``"U"`` / ``"a"``), or ``True``
        to start from the CVXPY variables' current values (a cold start if any is unset).

    Returns
    -------
    AdmmResult

    Raises
    ------
    UnsupportedProblemError
        For anything not in :data:`SUPPORTED_KINDS`.
    """
    settings = AdmmSettings.coerce(settings)
    beta = check_program(program)
    solver = solver_for(program, settings)
    solver.settings = settings
    if isinstance(solver, RobustAdmmSolver):
        solver.update(beta=beta, eps=program.eps.value)
    else:
        solver.update(beta=beta)
    if warm_start is True:
        start: Any = {k: v.value for k, v in program.variables.items()}
    elif warm_start is None or warm_start is False:
        start = None
    else:
        start = warm_start
    solver.warm_start(start)
    return solver.solve()
