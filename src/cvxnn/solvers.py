"""Solver discovery: which CVXPY solvers are installed and usable, and clear errors otherwise.

cvxnn never relies on CVXPY's default solver choice (with an unlicensed MOSEK installed, CVXPY
picks it and every default solve fails). Programs name their solver explicitly; the default is
Clarabel.
"""

from __future__ import annotations

import functools
from typing import Any

import cvxpy as cp

from .exceptions import SolverUnavailableError

__all__ = [
    "DEFAULT_SOLVER",
    "installed_solvers",
    "mosek_status",
    "resolve_solver",
    "solve_problem",
    "usable_solvers",
]

#: The solver used when none is named.
DEFAULT_SOLVER = "CLARABEL"


def installed_solvers() -> list[str]:
    """Names of the CVXPY solvers installed here (CVXPY's own list)."""
    return list(cp.installed_solvers())


@functools.cache
def mosek_status() -> tuple[bool, str]:
    """Whether MOSEK can solve here, and why not.

    Returns
    -------
    (usable, reason) : tuple of (bool, str)
        ``reason`` is ``"ok"`` when usable, otherwise what is missing (package or license).
    """
    try:
        import mosek
    except ImportError:
        return False, "the mosek package is not installed (pip install 'cvxnn[mosek]')"
    try:
        with mosek.Env() as env:
            env.checkoutlicense(mosek.feature.pts)
    except Exception as exc:  # mosek.Error for a missing or expired license
        return False, f"no usable MOSEK license ({exc})"
    return True, "ok"


def usable_solvers() -> list[str]:
    """Installed solvers that can actually run here (MOSEK only with a license)."""
    names = installed_solvers()
    if "MOSEK" in names and not mosek_status()[0]:
        names.remove("MOSEK")
    return names


def resolve_solver(solver: Any) -> str:
    """Validate a CVXPY solver name (case-insensitive) and return CVXPY's spelling.

    Raises
    ------
    SolverUnavailableError
        For a name CVXPY does not know, a solver that is not installed, or MOSEK without a
        license; the message lists the solvers that are usable here.
    """
    if not isinstance(solver, str) or not solver.strip():
        raise SolverUnavailableError(
            f"solver must be a solver name string; got {solver!r}. Usable here: {usable_solvers()}."
        )
    name = solver.strip().upper()
    if name == "MOSEK" and name in installed_solvers():
        usable, reason = mosek_status()
        if not usable:
            raise SolverUnavailableError(
                f"MOSEK cannot run here: {reason}. Usable solvers: {usable_solvers()}."
            )
        return name
    if name not in installed_solvers():
        known = name in {s.upper() for s in cp.settings.SOLVERS}
        what = "is not installed" if known else "is not a solver CVXPY knows"
        raise SolverUnavailableError(
            f"Solver {solver!r} {what}. Usable solvers here: {usable_solvers()} "
            "(and method=cvxnn.ADMM for the structured ADMM)."
        )
    return name


def solve_problem(problem: cp.Problem, solver: str = DEFAULT_SOLVER, **kwargs: Any) -> float:
    """``problem.solve(solver=...)`` with the solver validated and MOSEK's license error made clear."""
    name = resolve_solver(solver)
    try:
        return problem.solve(solver=name, **kwargs)
    except cp.error.SolverError:
        raise
    except Exception as exc:
        if type(exc).__module__.startswith("mosek"):
            raise SolverUnavailableError(f"MOSEK failed to run: {exc}") from exc
        raise
