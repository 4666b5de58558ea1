"""Weak registry from a ``cvxpy.Problem`` built by cvxnn to its program (and the program's solver).

The ADMM adapter receives only the ``cvxpy.Problem`` (``problem.solve(method=cvxnn.ADMM)``)
and looks the program up here. Keys are weak, and records hold a weak reference to the program
plus everything *except* the problem, so a registered problem is freed as soon as the user drops
it; when only the problem is still held, the program is rebuilt from its fields.

A record also holds the program's solver (:func:`attach_solver`, :func:`solver_of`): the
solver state (structure, factorization, penalties, last result) lives with the program, shared
by the program and any rebuild of it, and is freed with the problem. A solver must not refer to
the program or its problem.
"""

from __future__ import annotations

import dataclasses
import weakref
from typing import TYPE_CHECKING, Any

import cvxpy as cp

if TYPE_CHECKING:
    from .programs import ConvexProgram

__all__ = ["attach_solver", "lookup", "register", "solver_of"]


@dataclasses.dataclass
class _Record:
    program: weakref.ref
    cls: type
    fields: dict[str, Any]
    solver: Any = None


_RECORDS: weakref.WeakKeyDictionary[cp.Problem, _Record] = weakref.WeakKeyDictionary()


def register(program: ConvexProgram) -> None:
    """Remember ``program``'s structure under its problem (called by ``ConvexProgram``)."""
    fields = {f.name: getattr(program, f.name) for f in dataclasses.fields(program) if f.name != "problem"}
    _RECORDS[program.problem] = _Record(weakref.ref(program), type(program), fields)


def lookup(problem: cp.Problem) -> ConvexProgram | None:
    """The :class:`~cvxnn.programs.ConvexProgram` that built ``problem``, or ``None``."""
    record = _RECORDS.get(problem)
    if record is None:
        return None
    program = record.program()
    if program is not None:  # the user still holds the program: no rebuild, no copies
        return program
    return record.cls(problem=problem, **record.fields)  # the class recorded at registration


def solver_of(program: ConvexProgram) -> Any:
    """The solver attached to ``program`` (``None`` when none is, or the program is unregistered)."""
    record = _RECORDS.get(program.problem)
    return None if record is None else record.solver


def attach_solver(program: ConvexProgram, solver: Any) -> None:
    """Attach ``solver`` to ``program`` (replacing any earlier one); ``None`` detaches."""
    record = _RECORDS.get(program.problem)
    if record is None:
        register(program)
        record = _RECORDS[program.problem]
    record.solver = solver
