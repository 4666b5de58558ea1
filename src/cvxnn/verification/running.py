"""Running the solvers: the runner, the CVXPY implied-bounds check and workaround, and :func:`verify`."""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import cvxpy as cp
import numpy as np
from cvxpy.reductions.solution import Solution

from cvxnn.exceptions import InvalidInputError, UnsupportedProblemError
from cvxnn.programs import ConvexProgram
from cvxnn.solvers import (
    bounded_variable_solvers,
    gurobi_size_error,
    installed_solvers,
    mosek_status,
    without_implied_bounds,
)

from .measuring import (
    check_program,
    measure_current,
    problem_variables,
    restore_snapshot,
    snapshot,
    tolerance,
)
from .reporting import VerificationReport
from .results import (
    DEFAULT_RTOL,
    DEFAULT_SOLVERS,
    DEFAULT_VTOL,
    DISAGREES,
    FAILED,
    SKIPPED,
    UNCHECKED,
    SolverResult,
)


# =========================================================================== running solvers
def program_info(program: ConvexProgram) -> dict[str, Any]:
    info: dict[str, Any] = {
        "kind": program.kind,
        "loss": program.loss,
        "n_samples": program.n_samples,
        "n_features": program.n_features,
        "n_patterns": program.n_patterns,
        "bias": bool(program.bias),
        "exact_patterns": program.exact,
        "beta": float(program.beta.value),
        "eps": None,
        "norm": None,
        "n_variables": int(sum(v.size for v in program.problem.variables())),
        "n_constraint_rows": int(sum(c.size for c in program.problem.constraints)),
    }
    if program.eps is not None:
        info["eps"] = None if program.eps.value is None else float(program.eps.value)
        info["norm"] = program.norm
    return info


def _requested(solvers: Any, include_admm: bool) -> list[str]:
    if solvers is None:
        names = list(DEFAULT_SOLVERS)
        if include_admm:
            names.append("ADMM")
        return names
    if isinstance(solvers, str):
        solvers = [s for s in solvers.split(",") if s.strip()]
    if not isinstance(solvers, Iterable):
        raise InvalidInputError(
            f"solvers must be None, a list of names or a comma-separated string; got {solvers!r}."
        )
    names = []
    known = {s.upper() for s in cp.settings.SOLVERS} | {"ADMM"}
    for s in solvers:
        if not isinstance(s, str) or s.strip().upper() not in known:
            raise InvalidInputError(f"Unknown solver {s!r}; allowed: {sorted(known)}.")
        name = s.strip().upper()
        if name not in names:
            names.append(name)
    if not names:
        raise InvalidInputError(
            "solvers is empty; name at least one solver (or pass None for the default set)."
        )
    return names


def _cone_description(program: ConvexProgram) -> str:
    atoms = program.problem.atoms()
    if cp.logistic in atoms:
        return "an exponential-cone program (logistic loss)"
    problem = program.problem
    if problem.objective.expr.is_pwl() and all(c.expr.is_pwl() for c in problem.constraints):
        return "an LP"
    if problem.is_qp():
        return "a QP"
    return "a second-order-cone program"


def _skip_reason(name: str, program: ConvexProgram, compatible: list[str]) -> str | None:
    if name not in installed_solvers():
        if name == "MOSEK":
            return mosek_status()[1]
        extra = " (pip install 'cvxnn[commercial]')" if name == "GUROBI" else ""
        return f"not installed{extra}"
    if name == "MOSEK":
        usable, reason = mosek_status()
        if not usable:
            return reason
    if name not in compatible:
        return f"kind not supported: {name} does not accept {_cone_description(program)}"
    return None


def _run_solver(
    program: ConvexProgram,
    name: str,
    options: Mapping[str, Any],
    *,
    solver: Any = None,
    label: str | None = None,
) -> SolverResult:
    """Solve ``program`` with one solver and measure the point; never raises for solver trouble.

    ``solver`` overrides the name passed to CVXPY (a solver instance); ``label`` names the result.
    """
    result = SolverResult(
        name=label or name,
        outcome=UNCHECKED,
        rtol=DEFAULT_RTOL.get(name, DEFAULT_RTOL["default"]),
        vtol=DEFAULT_VTOL.get(name, DEFAULT_VTOL["default"]),
    )
    problem = program.problem
    kwargs = dict(options)
    kwargs.setdefault("warm_start", False)  # each solver on its own, unless the caller says otherwise
    if name == "ADMM":
        from cvxnn.cvxpy_backend import ADMM

        kwargs["method"] = ADMM
    else:
        kwargs["solver"] = name if solver is None else solver
    # Every solver starts from a clean slate: no warm start from the previous solver's point
    # (CVXPY also copies variable values into auxiliary variables while compiling).
    for var in problem.variables():
        var.value = None
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            problem.solve(**kwargs)
        except UnsupportedProblemError as exc:
            result.outcome, result.reason = SKIPPED, f"kind not supported: {exc}"
            return result
        except cp.error.SolverError as exc:
            wall = time.perf_counter() - start
            if name == "GUROBI":
                size = gurobi_size_error(program.problem)
                if size is not None:
                    result.outcome, result.reason = SKIPPED, size
                    return result
            result.outcome, result.reason, result.wall_time = FAILED, f"SolverError: {exc}", wall
            return result
        except Exception as exc:
            if type(exc).__module__.startswith("mosek"):
                result.outcome, result.reason = SKIPPED, f"no usable MOSEK license ({exc})"
                return result
            result.outcome = FAILED
            result.reason = f"{type(exc).__name__}: {exc}"
            result.wall_time = time.perf_counter() - start
            return result
    result.wall_time = time.perf_counter() - start
    result.warnings = [str(w.message) for w in caught]
    result.status = problem.status
    stats = problem.solver_stats
    result.solve_time = _float_or_none(getattr(stats, "solve_time", None))
    result.iterations = None if getattr(stats, "num_iters", None) is None else int(stats.num_iters)
    result.compile_time = (
        _float_or_none(getattr(problem, "compilation_time", None)) if name != "ADMM" else None
    )
    solution = getattr(problem, "solution", None)
    result.solver_objective = _float_or_none(getattr(solution, "opt_val", None))
    if result.status in cp.settings.SOLUTION_PRESENT and all(
        v.value is not None for v in problem.variables()
    ):
        measure_current(program, result)
        result._duals = {
            c.id: None if c.dual_value is None else _copy_dual(c.dual_value) for c in problem.constraints
        }
    return result


def _copy_dual(value: Any) -> Any:
    if isinstance(value, list):
        return [np.array(v) for v in value]
    return np.array(value)


def _float_or_none(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _restore(program: ConvexProgram, ref: SolverResult) -> None:
    """Put the reference point back into the program through ``cvxpy.Problem.unpack``."""
    problem = program.problem
    primal = {v.id: np.array(ref.values[v.name()]) for v in problem.variables()}
    duals = {cid: d for cid, d in ref._duals.items() if d is not None}
    for con in problem.constraints:
        if con.id not in duals:
            for dv in con.dual_variables:
                dv.save_value(None)
    problem.unpack(Solution(ref.status, ref.solver_objective, primal, duals, {}))


def _bound_using_atoms() -> tuple[type, ...]:
    """Atoms whose CVXPY canonicalization bounds the auxiliary variable by the atom's bounds."""
    names = ("maximum", "max", "norm_inf", "abs", "power", "exp", "log")
    classes = [getattr(cp, n) for n in names if isinstance(getattr(cp, n, None), type)]
    try:
        from cvxpy.atoms.pnorm import Pnorm

        classes.append(Pnorm)
    except ImportError:  # pragma: no cover
        pass
    return tuple(classes)


def implied_bound_errors(problem: cp.Problem, *, rtol: float = 1e-6) -> list[str]:
    """Atoms whose CVXPY-implied bounds exclude their value at the current point.

    CVXPY (1.9) passes interval bounds of some atoms (``maximum``, ``abs``, ``norm_inf``, ...)
    to solvers that accept bounded variables (GUROBI, HIGHS, SCIPY). When such bounds exclude
    the value an atom takes at a (reference) solution, those solvers solve a different problem
    and can return a wrong "optimal" point. Evaluated at the current variable values.

    Returns
    -------
    list of str
        One description per offending atom, e.g. ``"maximum: value 1.23 outside [1, 1]"``.
    """
    atoms = _bound_using_atoms()
    found: list[str] = []
    seen: set[int] = set()
    stack = [problem.objective.expr, *problem.constraints]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        while stack:
            expr = stack.pop()
            if id(expr) in seen:
                continue
            seen.add(id(expr))
            stack.extend(expr.args)
            if not isinstance(expr, atoms) or not hasattr(expr, "get_bounds"):
                continue
            try:
                lb, ub = (
                    np.asarray(b.toarray() if hasattr(b, "toarray") else b, dtype=float)
                    for b in expr.get_bounds()
                )
                value = expr.value
            except Exception:
                continue
            if value is None:
                continue
            value = np.asarray(value, dtype=float)
            slack = rtol * (1.0 + np.abs(value))
            off = np.maximum(lb - value, value - ub)
            bad = np.nan_to_num(off, nan=-1.0) > slack
            if np.any(bad):
                k = int(np.argmax(np.where(bad, off, -np.inf)))
                found.append(
                    f"{type(expr).__name__}: value {value.ravel()[k]:.4g} outside CVXPY's implied "
                    f"bounds [{np.broadcast_to(lb, value.shape).ravel()[k]:.4g}, "
                    f"{np.broadcast_to(ub, value.shape).ravel()[k]:.4g}]"
                )
    return found


def _diagnose_bounds(
    program: ConvexProgram, report: VerificationReport, options: Mapping[str, Mapping[str, Any]], retry: bool
) -> None:
    """Explain disagreements of bounded-variable solvers caused by wrong CVXPY-implied bounds.

    When the implied bounds exclude the reference point, each such solver is run once more
    through a variant of its CVXPY interface that receives no implied bounds (reported as
    ``"NAME (no implied bounds)"``), which shows whether the solver itself agrees.
    """
    bounded = bounded_variable_solvers()
    suspects = [r for r in report.results if r.outcome == DISAGREES and r.name in bounded]
    if not suspects or report.reference is None:
        return
    ref = report[report.reference]
    snap = snapshot(program)
    try:
        for var in problem_variables(program):
            var.value = ref.values[var.name()]
        errors = implied_bound_errors(program.problem)
    finally:
        restore_snapshot(program, snap)
    if not errors:
        return
    note = (
        f"CVXPY {cp.__version__} passes wrong implied bounds to solvers with bounded variables "
        f"for this program ({errors[0]} at the reference point), so they solve a different problem"
    )
    for res in suspects:
        res.notes.append(note)
        res.implied_bounds_defect = True
        instance = without_implied_bounds(res.name) if retry else None
        if instance is None:
            continue
        label = f"{res.name} (no implied bounds)"
        extra = _run_solver(program, res.name, options.get(res.name, {}), solver=instance, label=label)
        extra.rtol, extra.vtol = res.rtol, res.vtol
        extra.notes.append(f"{res.name} re-run with CVXPY's implied variable bounds turned off")
        report.results.append(extra)
    report.judge()


def verify(
    program: ConvexProgram,
    solvers: Iterable[str] | str | None = None,
    *,
    include_admm: bool = True,
    rtol: float | Mapping[str, float] | None = None,
    vtol: float | Mapping[str, float] | None = None,
    solver_options: Mapping[str, Mapping[str, Any]] | None = None,
    restore: bool = True,
    retry_without_implied_bounds: bool = True,
) -> VerificationReport:
    r"""Solve one program with several solvers and check that they agree (see the module doc).

    Parameters
    ----------
    program : ConvexProgram
        Any kind (``relu``, ``gated_relu``, ``scp``, ``robust_relu``).
    solvers : list of str, comma-separated str, or None
        CVXPY solver names (any case) and/or ``"ADMM"``. ``None``: every solver of
        :data:`DEFAULT_SOLVERS` (Clarabel, ECOS, SCS, OSQP, GUROBI, MOSEK), each either run or
        reported as skipped with the reason, plus ``"ADMM"`` when ``include_admm``. A name
        CVXPY does not know raises; a known solver that cannot run is reported.
    include_admm : bool
        With ``solvers=None``, also run cvxnn's ADMM (``problem.solve(method=cvxnn.ADMM)``);
        it is reported as skipped when the ADMM refuses the kind. With an
        explicit ``solvers`` list the ADMM runs only when named.
    rtol : float or mapping, optional
        Relative objective tolerance: one number for every solver, or a mapping solver name ->
        tolerance overriding :data:`DEFAULT_RTOL` for those named.
    vtol : float or mapping, optional
        Tolerance on the relative constraint violation, like ``rtol``
        (defaults :data:`DEFAULT_VTOL`).
    solver_options : mapping, optional
        Per-solver keyword arguments for ``problem.solve``, e.g. ``{"SCS": {"eps": 1e-6}}``.
    restore : bool
        Put the reference solution back into the program at the end (default; when no solver
        returned an optimal point, the variable values it had before). Otherwise the
        variables keep the last solver's values.
    retry_without_implied_bounds : bool
        When a solver that accepts bounded variables (GUROBI, HIGHS, SCIPY) disagrees and
        CVXPY's implied bounds on auxiliary variables exclude the reference point (see
        :func:`implied_bound_errors`; CVXPY 1.9 does this for hinge and robust programs), run
        that solver once more with the implied bounds turned off, reported as
        ``"NAME (no implied bounds)"``. The plain run still counts as a disagreement: it is
        what a plain ``problem.solve(solver="GUROBI")`` returns.

    Returns
    -------
    VerificationReport
        ``print(report)`` shows the table and the verdict; ``report.agree``,
        ``report.to_dict()``, ``report.to_json()``.

    Raises
    ------
    InvalidInputError
        For something that is not a ConvexProgram, an unknown solver name, a bad tolerance or
        options for a solver that is not requested.
    """
    check_program(program)
    names = _requested(solvers, bool(include_admm))
    options = {str(k).upper(): v for k, v in dict(solver_options or {}).items()}
    stray = sorted(set(options) - set(names))
    if stray:
        raise InvalidInputError(f"solver_options given for {stray}, which are not among the solvers {names}.")
    for key, opts in options.items():
        if not isinstance(opts, Mapping):
            raise InvalidInputError(
                f"solver_options[{key!r}] must be a mapping of keyword arguments; got {opts!r}."
            )
    tolerances = {n: (tolerance(DEFAULT_RTOL, rtol, n), tolerance(DEFAULT_VTOL, vtol, n)) for n in names}

    compatible = program.compatible_solvers()
    original = snapshot(program)
    results: list[SolverResult] = []
    for name in names:
        reason = None if name == "ADMM" else _skip_reason(name, program, compatible)
        if reason is not None:
            res = SolverResult(name=name, outcome=SKIPPED, reason=reason)
        else:
            res = _run_solver(program, name, options.get(name, {}))
        res.rtol, res.vtol = tolerances[name]
        results.append(res)

    report = VerificationReport(program_info=program_info(program), results=results, program=program)
    report.judge()
    _diagnose_bounds(program, report, options, bool(retry_without_implied_bounds))
    if restore and report.reference is not None:
        _restore(program, report[report.reference])
    elif restore:
        restore_snapshot(program, original)
    return report
