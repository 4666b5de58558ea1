"""Weak registry from a ``cvxpy.Problem`` built by cvxnn to the structure behind it.

The ADMM adapter receives only the ``cvxpy.Problem`` (``problem.solve(method=cvxnn.ADMM)``)
and looks the structure up here. Keys are weak, and values hold a weak reference to the
program plus everything *except* the problem, so a registered problem is freed as soon as the
user drops it; when only the problem is still held, the program is rebuilt from its fields.
"""

from __future__ import annotations

import dataclasses
import weakref
from typing import TYPE_CHECKING, Any

import cvxpy as cp

if TYPE_CHECKING:
    from .programs import ConvexProgram

__all__ = ["lookup", "register"]

_STRUCTURES: weakref.WeakKeyDictionary[cp.Problem, tuple[weakref.ref, type, dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)


def register(program: ConvexProgram) -> None:
    """Remember ``program``'s structure under its problem (called by ``ConvexProgram``)."""
    fields = {f.name: getattr(program, f.name) for f in dataclasses.fields(program) if f.name != "problem"}
    _STRUCTURES[program.problem] = (weakref.ref(program), type(program), fields)


def lookup(problem: cp.Problem) -> ConvexProgram | None:
    """The :class:`~cvxnn.programs.ConvexProgram` that built ``problem``, or ``None``."""
    entry = _STRUCTURES.get(problem)
    if entry is None:
        return None
    ref, cls, fields = entry
    program = ref()
    if program is not None:  # the user still holds the program: no rebuild, no copies
        return program
    return cls(problem=problem, **fields)  # the class recorded at registration: no import cycle
