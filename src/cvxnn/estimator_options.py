"""Validation of the estimators' solver hyperparameters: ``solver``, ``tol``, ``max_iter``,
``solver_options`` and boolean flags, and how ``tol``/``max_iter`` map onto each solver's own
option names."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._validation import check_positive_int, check_positive_real
from .exceptions import InvalidInputError
from .solvers import resolve_solver

__all__ = [
    "RESERVED_OPTIONS",
    "TOL_OPTIONS",
    "check_bool",
    "check_max_iter",
    "check_solver",
    "check_tol",
    "solver_options",
]

#: How ``tol`` and ``max_iter`` map onto each solver's own option names.
TOL_OPTIONS: dict[str, tuple[tuple[str, ...], str]] = {
    "ADMM": (("eps_abs", "eps_rel"), "max_iter"),
    "CLARABEL": (("tol_gap_abs", "tol_gap_rel", "tol_feas"), "max_iter"),
    "ECOS": (("abstol", "reltol", "feastol"), "max_iters"),
    "SCS": (("eps_abs", "eps_rel"), "max_iters"),
    "OSQP": (("eps_abs", "eps_rel"), "max_iter"),
    "GUROBI": (("BarConvTol", "BarQCPConvTol"), "BarIterLimit"),
}

#: Option names ``solver_options`` may not carry (the estimator sets them itself).
RESERVED_OPTIONS = frozenset({"solver", "method", "warm_start"})


def check_bool(value: Any, name: str) -> bool:
    """``value`` as a bool; only ``True``/``False`` (NumPy booleans too) are accepted."""
    if isinstance(value, bool | np.bool_):
        return bool(value)
    raise InvalidInputError(f"{name} must be True or False; got {type(value).__name__} {value!r}.")


def check_tol(tol: Any) -> float | None:
    """A positive solver tolerance, or ``None`` (the solver's default)."""
    if tol is None:
        return None
    return check_positive_real(tol, "tol", "the solver tolerance; None keeps the solver's default")


def check_max_iter(max_iter: Any) -> int | None:
    """A positive iteration limit, or ``None`` (the solver's default)."""
    return None if max_iter is None else check_positive_int(max_iter, "max_iter")


def check_solver(solver: Any) -> str:
    """``"ADMM"`` (any case) or a usable CVXPY solver name (:func:`~cvxnn.solvers.resolve_solver`)."""
    if isinstance(solver, str) and solver.strip().upper() == "ADMM":
        return "ADMM"
    return resolve_solver(solver)


def solver_options(solver: str, tol: float | None, max_iter: int | None, extra: Any) -> dict[str, Any]:
    """The keyword arguments handed to ``ConvexProgram.solve`` for ``solver``."""
    if extra is None:
        extra = {}
    if not isinstance(extra, Mapping) or not all(isinstance(k, str) for k in extra):
        raise InvalidInputError(
            "solver_options must be None or a dict of solver option names (str) to values; "
            f"got {type(extra).__name__}."
        )
    reserved = sorted(RESERVED_OPTIONS.intersection(extra))
    if reserved:
        raise InvalidInputError(
            f"solver_options may not set {reserved}: use the estimator's solver= and warm_start= "
            "hyperparameters instead."
        )
    options: dict[str, Any] = {}
    if tol is not None or max_iter is not None:
        if solver not in TOL_OPTIONS:
            raise InvalidInputError(
                f"tol/max_iter have no mapping for solver {solver!r} (mapped: {sorted(TOL_OPTIONS)}); "
                "leave them None and pass that solver's own options through solver_options."
            )
        tol_names, iter_name = TOL_OPTIONS[solver]
        if tol is not None:
            options.update(dict.fromkeys(tol_names, tol))
        if max_iter is not None:
            options[iter_name] = max_iter
    options.update(extra)
    return options
