r"""The CVXPY adapter of the structured ADMM: ``problem.solve(method=cvxnn.ADMM, **settings)``.

Importing this module registers :data:`ADMM` once with ``cvxpy.Problem.register_solve``. The
adapter looks the problem up in cvxnn's weak registry (:func:`cvxnn._registry.lookup`), runs
:func:`cvxnn.admm.solve_admm` on the recorded structure, and writes the result back through
CVXPY's own unpacking path (``Problem.unpack`` with a ``cvxpy.Solution``), so that afterwards

- every variable holds its value, ``problem.status`` is a CVXPY status string and
  ``problem.value`` is the CVXPY objective evaluated at those values;
- ``problem.solver_stats.solver_name`` is :data:`SOLVER_NAME`, with ``num_iters``,
  ``solve_time``, ``setup_time`` and ``extra_stats`` (the :class:`~cvxnn.admm.AdmmResult`);
- every constraint's dual value is ``None`` (the ADMM's scaled multipliers are not CVXPY's
  duals; stale duals from an earlier solve are cleared);
- an interrupted solve (``KeyboardInterrupt``, an exception raised by a ``callback``) leaves
  ``problem.status``, ``problem.value`` and every variable at ``None``, never the previous answer.

``problem.solve(cvxnn.ADMM)`` (positional, CVXPY's *solver* argument) is refused with an
:class:`~cvxnn.exceptions.InvalidInputError` that says to pass ``method=``.

Example::

    import cvxnn
    program = cvxnn.relu_program(X, y, cvxnn.sample_patterns(X, 50), beta=1.0)
    program.problem.solve(method=cvxnn.ADMM, max_iter=5000)
    program.problem.solve(solver="CLARABEL")      # compare on the same object

A re-solve of the same problem warm-starts from the previous ADMM state when the variables
still hold the values the ADMM wrote, and otherwise from the variables' current values
(``warm_start=False`` starts cold). ``solver=`` is refused (use ``problem.solve(solver=...)``
without ``method``), as are problems cvxnn did not build, derived problems
(``cp.Problem(p.objective, p.constraints)``, ``p + p``) and unknown settings.
"""

from __future__ import annotations

from typing import Any

import cvxpy as cp
import numpy as np
from cvxpy.problems.problem import SolverStats
from cvxpy.reductions.solution import Solution

from . import _registry
from .admm import AdmmResult, AdmmSettings, check_program, solve_admm, solver_for
from .exceptions import InvalidInputError, UnsupportedProblemError
from .solvers import ADMM_METHOD

__all__ = ["ADMM", "SOLVER_NAME", "admm_solve_method"]


class _MethodName(str):
    """A solve-method name that CVXPY cannot take for a solver name.

    ``problem.solve(ADMM)`` (positional) passes it to CVXPY as a *solver* name, which CVXPY
    upper-cases to look it up among the installed solvers; ``upper()`` here raises a clear
    :class:`~cvxnn.exceptions.InvalidInputError` instead of CVXPY's "solver not installed". String
    methods that return a new string (``strip()``, ...) return a plain ``str``.
    """

    def upper(self) -> str:
        raise InvalidInputError(
            f"{str(self)!r} is a solve method, not a CVXPY solver: call "
            "problem.solve(method=cvxnn.ADMM, **settings) (keyword method=), or program.solve('admm')."
        )


#: The method name: ``problem.solve(method=ADMM)`` (a ``str``, equal to ``"cvxnn-ADMM"``).
ADMM: str = _MethodName(ADMM_METHOD)
#: What ``problem.solver_stats.solver_name`` reports after an ADMM solve.
SOLVER_NAME = ADMM_METHOD


def _values_match(program: Any, result: AdmmResult) -> bool:
    for name, var in program.variables.items():
        value = var.value
        if value is None or name not in result.values:
            return False
        if not np.array_equal(
            np.asarray(value, dtype=float).reshape(result.values[name].shape), result.values[name]
        ):
            return False
    return True


def _clear(problem: cp.Problem) -> None:
    """Reset ``problem``'s status, value, variables and duals (no stale answer)."""
    for var in problem.variables():
        var.save_value(None)
    for constraint in problem.constraints:
        for dual in constraint.dual_variables:
            dual.save_value(None)
    problem._value = None
    problem._status = None
    problem._solution = None


def admm_solve_method(problem: cp.Problem, *args: Any, warm_start: bool = True, **kwargs: Any) -> float:
    """Solve ``problem`` (built by cvxnn) with the structured ADMM; registered as :data:`ADMM`.

    Parameters
    ----------
    problem : cvxpy.Problem
        A problem from a cvxnn builder (``relu``, ``gated_relu``, ``scp`` or ``robust_relu``).
    warm_start : bool
        Start from the previous ADMM state or the variables' current values (default True).
    **kwargs
        :class:`~cvxnn.admm.AdmmSettings` fields (e.g. ``max_iter``, ``eps_abs``, ``rho``,
        ``verbose``); anything else is refused by name.

    Returns
    -------
    float
        ``problem.value``.
    """
    if args:
        raise UnsupportedProblemError(
            f"problem.solve(method=cvxnn.ADMM) takes keyword settings only; got positional {args!r}."
        )
    if "solver" in kwargs:
        raise UnsupportedProblemError(
            f"solver={kwargs['solver']!r} cannot be combined with method=cvxnn.ADMM: the ADMM is the "
            "solver. Call problem.solve(solver=...) without method= to use a CVXPY solver."
        )
    program = _registry.lookup(problem)
    if program is None:
        raise UnsupportedProblemError(
            "method=cvxnn.ADMM only solves problems built by cvxnn (relu_program, gated_relu_program, "
            "scp_program, robust_relu_program): this cvxpy.Problem was not, or was derived from one (e.g. "
            "cp.Problem(p.objective, p.constraints) or p + p), which drops the structure the ADMM "
            "needs. Solve the original program.problem, or use a CVXPY solver (solver='CLARABEL')."
        )
    check_program(program)  # the kinds the ADMM supports, before settings and warm start are read
    settings = AdmmSettings.coerce(kwargs)

    start: Any = None
    if warm_start:
        last = solver_for(program, settings).last_result
        if last is not None and _values_match(program, last):
            start = last
        elif all(v.value is not None for v in program.variables.values()):
            start = {name: v.value for name, v in program.variables.items()}

    try:
        result = solve_admm(program, settings, warm_start=start)
    except BaseException:
        # interrupted (KeyboardInterrupt, an exception in a callback, ...): nobody may read the
        # previous solve's status, value or variables as this one's answer
        _clear(problem)
        raise

    # clear stale duals (the ADMM does not produce CVXPY duals)
    for constraint in problem.constraints:
        for dual in constraint.dual_variables:
            dual.save_value(None)
    if result.status == cp.SOLVER_ERROR:
        for var in problem.variables():
            var.save_value(None)
        problem._value = None
        problem._status = cp.SOLVER_ERROR
        raise cp.error.SolverError(f"Solver '{SOLVER_NAME}' failed: {result.message}")

    primal = {}
    for name, var in program.variables.items():
        primal[var.id] = np.asarray(result.values[name], dtype=float).reshape(var.shape)
    attr = {
        cp.settings.SOLVE_TIME: result.timings["factor"] + result.timings["iterate"],
        cp.settings.SETUP_TIME: result.timings["setup"],
        cp.settings.NUM_ITERS: result.iterations,
        cp.settings.EXTRA_STATS: result,
    }
    solution = Solution(result.status, result.objective, primal, {}, attr)
    problem.unpack(solution)
    problem._solver_stats = SolverStats.from_dict(attr, SOLVER_NAME)
    return problem.value


cp.Problem.register_solve(ADMM, admm_solve_method)
