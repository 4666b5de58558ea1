"""Solver discovery: which CVXPY solvers are installed and usable, and clear errors otherwise.

cvxnn never relies on CVXPY's default solver choice (with an unlicensed MOSEK installed, CVXPY
picks it and every default solve fails). Programs name their solver explicitly; the default is
Clarabel.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import cvxpy as cp

from .exceptions import SolverUnavailableError

__all__ = [
    "DEFAULT_SOLVER",
    "FALLBACK_SOLVERS",
    "bounded_variable_solvers",
    "gurobi_size_error",
    "installed_solvers",
    "mosek_status",
    "resolve_solver",
    "solve_problem",
    "solve_with_fallback",
    "solver_interface",
    "usable_solvers",
]

#: The solver used when none is named.
DEFAULT_SOLVER = "CLARABEL"
#: Solvers :func:`solve_with_fallback` tries, in this order, when the first one fails.
FALLBACK_SOLVERS = ("CLARABEL", "ECOS", "SCS")
#: The offline gurobipy license's documented size limit (variables and constraints).
GUROBI_SIZE_LIMIT = 2000
#: ... and the number of variables it allows once a quadratic (second-order cone) constraint appears.
GUROBI_QUADRATIC_SIZE_LIMIT = 200


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


@functools.cache
def bounded_variable_solvers() -> frozenset[str]:
    """CVXPY solvers that receive implied bounds on auxiliary variables (``BOUNDED_VARIABLES``)."""
    from cvxpy.reductions.solvers import defines

    return frozenset(
        name
        for table in (defines.SOLVER_MAP_CONIC, defines.SOLVER_MAP_QP)
        for name, solver in table.items()
        if getattr(solver, "BOUNDED_VARIABLES", False)
    )


@functools.cache
def without_implied_bounds(name: str) -> Any:
    """A CVXPY solver interface for ``name`` that receives no implied variable bounds.

    The same solver class with ``BOUNDED_VARIABLES = False`` (named ``NAME_NO_IMPLIED_BOUNDS``),
    so CVXPY passes no interval bounds of auxiliary variables; see :func:`solver_interface`.
    Cached: one instance per solver name.
    """
    from cvxpy.reductions.solvers import defines

    base = defines.SOLVER_MAP_CONIC.get(name) or defines.SOLVER_MAP_QP.get(name)
    if base is None:  # pragma: no cover - every bounded solver is in one of the maps
        return name
    label = f"{name}_NO_IMPLIED_BOUNDS"
    cls = type(label, (type(base),), {"BOUNDED_VARIABLES": False, "name": lambda self: label})
    return cls()


def solver_interface(name: str) -> Any:
    """What to pass as ``problem.solve(solver=...)`` for a validated solver name.

    For solvers that accept bounded variables (GUROBI, HIGHS, SCIPY, ...) this is a variant of
    CVXPY's interface that receives no implied bounds on auxiliary variables: CVXPY 1.9 derives
    wrong bounds for cvxnn's hinge and robust programs (``0 * inf`` becomes 0 in its interval
    arithmetic, fixing the predictions at 0), and those solvers then return "optimal" points of
    a different problem. :func:`cvxnn.verification.implied_bound_errors` detects it. Other solvers are
    passed by name.
    """
    if name in bounded_variable_solvers():
        return without_implied_bounds(name)
    return name


def gurobi_size_error(problem: cp.Problem) -> str | None:
    """If GUROBI refuses ``problem`` for its size-limited license, say why; otherwise None.

    CVXPY swallows gurobipy's error and reports a generic failure, so the model CVXPY builds is
    rebuilt here (``get_problem_data`` + the solver's ``solve_via_data``) and optimized once
    more to read gurobipy's own message ("Model too large for size-limited license").
    """
    try:
        data, chain, _ = problem.get_problem_data("GUROBI")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sol = chain.solver.solve_via_data(data, False, False, {})
        model = sol.get("model")
        sizes = (
            f"{model.NumVars} variables, {model.NumConstrs} linear and "
            f"{model.NumQConstrs} quadratic constraints"
        )
        model.optimize()
    except Exception as exc:
        if "size-limited" in str(exc):
            return (
                f"over the size-limited license: the GUROBI model has {sizes}; the gurobipy license allows "
                f"{GUROBI_SIZE_LIMIT} variables and linear constraints, and only "
                f"{GUROBI_QUADRATIC_SIZE_LIMIT} variables with quadratic (second-order-cone) constraints"
            )
    return None


def solve_problem(problem: cp.Problem, solver: str = DEFAULT_SOLVER, **kwargs: Any) -> float:
    """``problem.solve(solver=...)`` with the solver validated and license errors made clear.

    Bounded-variable solvers go through :func:`solver_interface` (no implied bounds). A MOSEK
    license error, or a GUROBI failure because the problem is over its size-limited license,
    raises :class:`~cvxnn.exceptions.SolverUnavailableError` saying so (CVXPY's own error for
    the latter is a bare "Solver 'GUROBI' failed").
    """
    name = resolve_solver(solver)
    try:
        return problem.solve(solver=solver_interface(name), **kwargs)
    except cp.error.SolverError as exc:
        size = gurobi_size_error(problem) if name == "GUROBI" else None
        if size is not None:
            raise SolverUnavailableError(
                f"GUROBI cannot solve this problem here: {size}. Use another solver (CLARABEL, "
                "the default, takes every cvxnn program) or method=cvxnn.ADMM."
            ) from exc
        raise
    except Exception as exc:
        if type(exc).__module__.startswith("mosek"):
            raise SolverUnavailableError(f"MOSEK failed to run: {exc}") from exc
        raise


def _attempt(problem: cp.Problem, name: str, quiet: bool, **kwargs: Any) -> str:
    """Solve once; the status, or ``"error: ..."`` for a SolverError."""
    try:
        with warnings.catch_warnings():
            if quiet:
                warnings.simplefilter("ignore")  # CVXPY's "may be inaccurate" of a discarded try
            solve_problem(problem, name, **kwargs)
    except cp.error.SolverError as exc:
        if "cannot solve this problem" in str(exc):
            raise
        return f"error: {exc}"
    return str(problem.status)


def solve_with_fallback(problem: cp.Problem, solver: str | None = None, **kwargs: Any) -> float:
    """Solve with ``solver`` (default :data:`DEFAULT_SOLVER`); if it fails, try the other usable
    :data:`FALLBACK_SOLVERS` in order, with a warning, before giving up.

    A failure is a ``cvxpy.error.SolverError`` (e.g. Clarabel's InsufficientProgress) or a
    status other than optimal and user_limit (a limit passed in ``kwargs``). An
    ``optimal_inaccurate`` end is kept only when no other solver reaches ``optimal`` (the first
    solver is then run again to restore its point). ``kwargs`` go to the first solver only (they
    are usually solver-specific). A solver that cannot take the problem's cones at all is an
    error, not a reason to switch.

    Returns
    -------
    float
        The optimal value.

    Raises
    ------
    cvxpy.error.SolverError
        When every solver failed; the message lists what each did.
    SolverUnavailableError
        For an unknown, missing or unlicensed ``solver``.
    """
    first = resolve_solver(DEFAULT_SOLVER if solver is None else solver)
    status = _attempt(problem, first, False, **kwargs)
    if status in ("optimal", "user_limit"):
        return problem.value
    tried = [f"{first}: {status}"]
    inaccurate = first if status == "optimal_inaccurate" else None
    for other in (s for s in FALLBACK_SOLVERS if s != first and s in usable_solvers()):
        status = _attempt(problem, other, True)
        if status == "optimal":
            warnings.warn(
                f"{first} did not solve this program ({tried[0].split(': ', 1)[1]}); solved with "
                f"{other} instead.",
                UserWarning,
                stacklevel=3,
            )
            return problem.value
        tried.append(f"{other}: {status}")
        if status == "optimal_inaccurate" and inaccurate is None:
            inaccurate = other
    if inaccurate is not None:
        _attempt(problem, inaccurate, False, **(kwargs if inaccurate == first else {}))
        if problem.status == "optimal_inaccurate":
            return problem.value
    raise cp.error.SolverError(
        "No solver solved this program: " + "; ".join(tried) + ". Try method=cvxnn.ADMM, another "
        "beta, or rescaled data."
    )
