r"""Cross-solver verification of a convex training program (``cvxnn.verify``, ``cvxnn verify``).

The module is ``cvxnn.verification``; its main function is exported as ``cvxnn.verify``.

:func:`verify` solves the *same* :class:`~cvxnn.programs.ConvexProgram` with every requested
solver (by default every installed, usable CVXPY solver among Clarabel, ECOS, SCS, OSQP, GUROBI
and MOSEK that accepts the program's cones, plus cvxnn's ADMM when it supports the kind) and
checks each returned point *itself*, without trusting what the solver says:

- the convex objective :math:`f(z)` re-evaluated from the variable values;
- the maximum constraint violation :math:`\nu(z)`: the largest ``constraint.violation()`` of
  every CVXPY constraint, and, recomputed in NumPy from the data, the cone residuals
  :math:`\max(0, -(2D_i - I)X' v_i)` (ReLU kinds) or
  :math:`\max(0, \varepsilon\|v_i\|_q\mathbf 1 - (2D_i - I)X' v_i)` (robust kinds), same for
  :math:`w_i`. The verdict uses the *relative* violation
  :math:`\nu(z) / \max(1, \max_k |(X' V)_{k}|, \max_k |(X' W)_k|)`;
- the recovered network's non-convex objective (MATH.md (NC); for a robust program the
  *nominal* one, which can never exceed the robust objective; for the gated program the gated
  network's objective, which equals the convex one);
- the relative difference :math:`|f(z) - f(z_\mathrm{ref})| / \max(|f(z_\mathrm{ref})|, 10^{-12})`
  to the most accurate result: among results with status ``optimal``, the one with the smallest
  relative violation (violations below ``1e-9`` count as equal), ties broken by the solver's
  accuracy class (smaller ``rtol``: interior-point before first-order), then by the smaller
  objective.

A result *agrees* when its status is optimal (or optimal_inaccurate), its relative violation is
at most its ``vtol``, its relative objective difference to the reference is at most
``max(rtol_solver, rtol_reference)``, and its network objective is consistent with its convex
objective (equal, or for robust programs not larger, within the same tolerance). A solver that
claims the program is infeasible or unbounded disagrees (every program here is feasible at
zero and bounded below). A solver that cannot run is reported, not crashed on: not installed,
MOSEK without a license, GUROBI over its size-limited license (2000 variables and linear
constraints, only 200 variables once a second-order cone appears), kind not supported (OSQP on
cone programs, GUROBI on exponential cones). A solver that raises
an error, or stops at its iteration limit (``user_limit``) outside tolerance, is reported as
*failed*; failures do not count as disagreement but are listed in the verdict.

Wrong implied bounds: CVXPY 1.9 gives auxiliary variables of ``maximum``/``abs``/... interval
bounds when the solver accepts bounded variables (GUROBI, HIGHS, SCIPY), and for the hinge and
robust programs those bounds are wrong (``0 * inf`` in its interval arithmetic becomes ``0``), so
those solvers return "optimal" points of a different problem. :func:`implied_bound_errors`
detects this at the reference point; the disagreeing solver gets a note and is re-run once with
the implied bounds turned off (``"GUROBI (no implied bounds)"``), which shows whether the solver
itself agrees. The plain run still counts as a disagreement: it is what a plain
``problem.solve(solver="GUROBI")`` returns (cvxnn's own ``ConvexProgram.solve`` always uses the
interface without implied bounds, :func:`cvxnn.solvers.solver_interface`).

After :func:`verify` the program holds the reference solution (variables, constraint duals,
``problem.status`` and ``problem.value``, set through ``cvxpy.Problem.unpack``), so it is usable
as if solved by the reference solver; ``problem.solver_stats`` is that of the *last* solver run.
When no solver returns an optimal point, the variables get back the values they had before.
With ``restore=False`` the variables keep the last solver's values instead. Each solver starts
from cleared variable values (no warm start from the previous solver).

Example::

    import cvxnn
    from cvxnn import verify

    patterns = cvxnn.sample_patterns(X, 8, random_state=0)
    program = cvxnn.relu_program(X, y, patterns, beta=0.1)
    report = verify(program)
    print(report)                 # a table and a verdict line
    report.agree                  # True when every solver that ran agrees
    report.to_json()              # the same as JSON
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import cvxpy as cp
import numpy as np
from cvxpy.reductions.solution import Solution

from .exceptions import InvalidInputError, NotSolvedError, UnsupportedProblemError
from .programs import ConvexProgram
from .solvers import (
    _without_implied_bounds,
    bounded_variable_solvers,
    gurobi_size_error,
    installed_solvers,
    mosek_status,
)

__all__ = [
    "DEFAULT_RTOL",
    "DEFAULT_SOLVERS",
    "DEFAULT_VTOL",
    "SolverResult",
    "VerificationReport",
    "add_verify_subcommand",
    "check_point",
    "implied_bound_errors",
    "run",
    "verify",
]

#: Solvers :func:`verify` tries when none are named (plus ``"ADMM"`` with ``include_admm``).
DEFAULT_SOLVERS: tuple[str, ...] = ("CLARABEL", "ECOS", "SCS", "OSQP", "GUROBI", "MOSEK")

#: Default relative objective tolerance per solver (interior-point solvers are tight; the
#: first-order solvers SCS, OSQP and ADMM stop at looser residuals). Others use ``"default"``.
DEFAULT_RTOL: Mapping[str, float] = {
    "CLARABEL": 1e-5,
    "ECOS": 1e-5,
    "GUROBI": 1e-5,
    "MOSEK": 1e-5,
    "HIGHS": 1e-5,
    "SCIPY": 1e-5,
    "SCS": 2e-3,
    "OSQP": 1e-3,
    "ADMM": 1e-3,
    "default": 1e-4,
}

#: Default tolerance on the relative constraint violation per solver.
DEFAULT_VTOL: Mapping[str, float] = {
    "CLARABEL": 1e-6,
    "ECOS": 1e-6,
    "GUROBI": 1e-6,
    "MOSEK": 1e-6,
    "HIGHS": 1e-6,
    "SCIPY": 1e-6,
    "SCS": 1e-3,
    "OSQP": 1e-3,
    "ADMM": 1e-3,
    "default": 1e-6,
}

#: Relative violations below this count as equal when picking the reference.
_VIOLATION_FLOOR = 1e-9
#: Floor of the denominator of the relative objective difference.
_OBJECTIVE_FLOOR = 1e-12

_OPTIMAL = (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)

# Outcomes of one result.
REFERENCE = "reference"
AGREES = "agrees"
DISAGREES = "disagrees"
FAILED = "failed"
SKIPPED = "skipped"
UNCHECKED = "unchecked"


# =========================================================================== results
@dataclass
class SolverResult:
    """What one solver (or one externally given point) produced, measured by cvxnn.

    Attributes
    ----------
    name : str
        Solver name (CVXPY spelling, ``"ADMM"``) or the name of an external point.
    outcome : str
        ``"reference"``, ``"agrees"``, ``"disagrees"``, ``"failed"``, ``"skipped"`` or
        ``"unchecked"`` (a point not yet compared, e.g. from :func:`check_point`).
    status : str or None
        CVXPY status string (``"optimal"``, ...), ``"external"`` for a given point, ``None``
        when the solver did not run.
    reason : str or None
        Why it was skipped, failed or disagrees (``None`` when it agrees).
    objective : float or None
        Convex objective re-evaluated by cvxnn at the returned point.
    solver_objective : float or None
        The optimal value the solver reported (``problem.solution.opt_val``).
    network_objective : float or None
        Non-convex objective of the network recovered from the point with ``prune_tol=0``
        (``program.network(prune_tol=0).objective(X, y, beta, loss)``; see
        ``network_objective_kind``).
    network_objective_kind : str or None
        ``"nonconvex"`` (ReLU, SCP), ``"nominal nonconvex"`` (robust: the nominal objective of
        the recovered network, a lower bound of the robust objective) or ``"gated"``.
    max_violation : float or None
        Largest absolute constraint violation of the point (0 for unconstrained kinds).
    rel_violation : float or None
        ``max_violation`` divided by ``max(1, scale of the constrained expressions)``.
    rel_diff : float or None
        Relative objective difference to the reference result.
    wall_time, compile_time, solve_time : float or None
        Seconds: the whole ``solve`` call, CVXPY's compilation (``problem.compilation_time``)
        and the solver's own time (``solver_stats.solve_time``).
    iterations : int or None
        ``solver_stats.num_iters``.
    rtol, vtol : float
        The tolerances this result is judged with.
    warnings : list of str
        Warnings raised during the solve.
    notes : list of str
        Diagnoses cvxnn adds (e.g. wrong CVXPY-implied bounds behind a disagreement).
    values : dict of str to ndarray
        The point (every problem variable by name); not part of :meth:`to_dict`.
    """

    name: str
    outcome: str
    status: str | None = None
    reason: str | None = None
    objective: float | None = None
    solver_objective: float | None = None
    network_objective: float | None = None
    network_objective_kind: str | None = None
    max_violation: float | None = None
    rel_violation: float | None = None
    rel_diff: float | None = None
    wall_time: float | None = None
    compile_time: float | None = None
    solve_time: float | None = None
    iterations: int | None = None
    rtol: float = DEFAULT_RTOL["default"]
    vtol: float = DEFAULT_VTOL["default"]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    values: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _duals: dict[int, Any] = field(default_factory=dict, repr=False)
    _ids: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def ran(self) -> bool:
        """True when the result holds a point (a solver returned one, or it was given)."""
        return bool(self.values)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every public field except ``values``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("values", "_duals", "_ids"):
                continue
            value = getattr(self, f.name)
            out[f.name] = _json_number(value) if isinstance(value, float) else value
        out["warnings"] = list(self.warnings)
        out["notes"] = list(self.notes)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SolverResult:
        """Rebuild a result from :meth:`to_dict` output (without ``values``)."""
        known = {f.name for f in fields(cls)} - {"values", "_duals", "_ids"}
        unknown = set(data) - known
        if unknown:
            raise InvalidInputError(
                f"Unknown SolverResult field(s) {sorted(unknown)}; known: {sorted(known)}."
            )
        kwargs = dict(data)
        for name in ("rtol", "vtol"):
            if kwargs.get(name) is None:
                kwargs.pop(name, None)
        kwargs["warnings"] = list(kwargs.get("warnings") or [])
        kwargs["notes"] = list(kwargs.get("notes") or [])
        return cls(**kwargs)


def _json_number(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)


# =========================================================================== evaluation
def _problem_variables(program: ConvexProgram) -> list[cp.Variable]:
    return list(program.problem.variables())


def _snapshot(program: ConvexProgram) -> dict[int, Any]:
    return {v.id: None if v.value is None else np.array(v.value) for v in _problem_variables(program)}


def _restore_snapshot(program: ConvexProgram, snap: Mapping[int, Any]) -> None:
    for v in _problem_variables(program):
        v.value = snap.get(v.id)


def _dual_norm_exponent(norm: str | None) -> float:
    """q with 1/p + 1/q = 1 for the perturbation norm p."""
    return {"inf": 1.0, "2": 2.0, "1": np.inf}.get(str(norm), 1.0)


def _cone_residuals(program: ConvexProgram) -> tuple[float, float]:
    """NumPy cone residuals of the ReLU / robust kinds at the current values.

    Returns ``(max violation, scale)``; ``(0, 1)`` for unconstrained kinds.
    """
    if program.kind not in ("relu", "robust_relu") or program.patterns is None:
        return 0.0, 1.0
    Xa = program.design
    S = program.patterns.signs
    eps = 0.0
    if program.kind == "robust_relu" and program.eps is not None and program.eps.value is not None:
        eps = float(program.eps.value)
    q = _dual_norm_exponent(program.norm)
    worst, scale = 0.0, 1.0
    for name in ("V", "W"):
        B = np.asarray(program.variables[name].value, dtype=np.float64)
        XB = Xa @ B
        scale = max(scale, float(np.max(np.abs(XB), initial=0.0)))
        rhs = 0.0
        if eps > 0:
            # The bias row is never perturbed, so it does not enter the norm.
            core = B[:-1] if program.bias else B
            rhs = eps * np.linalg.norm(core, ord=q, axis=0)[None, :]
        worst = max(worst, float(np.max(np.maximum(0.0, rhs - S * XB), initial=0.0)))
    return worst, scale


def _constraint_residuals(program: ConvexProgram) -> tuple[float, float]:
    """Largest ``constraint.violation()`` over the CVXPY constraints, and their scale."""
    worst, scale = 0.0, 1.0
    for con in program.problem.constraints:
        viol = np.asarray(con.violation(), dtype=np.float64)
        worst = max(worst, float(np.max(viol, initial=0.0)))
        for arg in con.args:
            val = arg.value
            if val is not None:
                scale = max(scale, float(np.max(np.abs(np.asarray(val, dtype=np.float64)), initial=0.0)))
    return worst, scale


def _network_objective(program: ConvexProgram) -> tuple[float | None, str | None, str | None]:
    """Objective of the recovered network at the current values, its kind, and an error."""
    kind = {"robust_relu": "nominal nonconvex", "gated_relu": "gated"}.get(program.kind, "nonconvex")
    try:
        net = program.network(prune_tol=0.0)
        value = net.objective(program.X, program.y, float(program.beta.value), program.loss)
    except Exception as exc:  # a point that cannot be recovered is reported, not raised
        return None, kind, f"{type(exc).__name__}: {exc}"
    return float(value), kind, None


def _measure_current(program: ConvexProgram, result: SolverResult) -> None:
    """Fill objective, violations and network objective of ``result`` from current values."""
    obj = program.problem.objective.value
    result.objective = None if obj is None else float(obj)
    v1, s1 = _constraint_residuals(program)
    v2, s2 = _cone_residuals(program)
    result.max_violation = max(v1, v2)
    result.rel_violation = result.max_violation / max(1.0, s1, s2)
    result.network_objective, result.network_objective_kind, err = _network_objective(program)
    if err is not None:
        result.warnings.append(f"network recovery failed: {err}")
    result.values = {v.name(): np.array(v.value) for v in _problem_variables(program)}
    result._ids = {v.name(): v.id for v in _problem_variables(program)}


def _tolerance(table: Mapping[str, float], override: Any, name: str) -> float:
    if override is None:
        return float(table.get(name, table["default"]))
    if isinstance(override, Mapping):
        if name in override:
            return _check_tol(override[name], name)
        return float(table.get(name, table["default"]))
    return _check_tol(override, name)


def _check_tol(value: Any, name: str) -> float:
    try:
        tol = float(value)
    except (TypeError, ValueError):
        raise InvalidInputError(f"Tolerance for {name} must be a positive number; got {value!r}.") from None
    if not math.isfinite(tol) or tol <= 0:
        raise InvalidInputError(f"Tolerance for {name} must be a positive finite number; got {value!r}.")
    return tol


def check_point(
    program: ConvexProgram,
    values: Mapping[str, Any],
    *,
    name: str = "external",
    rtol: float | None = None,
    vtol: float | None = None,
) -> SolverResult:
    """Measure an externally given point of ``program`` as :func:`verify` measures solver output.

    The program's variables are left as they were.

    Parameters
    ----------
    program : ConvexProgram
    values : mapping of str to array_like
        A value for each variable of the program by name (``"V"``, ``"W"`` for ReLU kinds,
        ``"U"`` gated, ``"a"`` SCP, plus any auxiliary variable of the problem).
    name : str
        Label of the point in reports.
    rtol, vtol : float, optional
        Tolerances to judge it with later (default ``DEFAULT_RTOL["default"]`` and
        ``DEFAULT_VTOL["default"]``, the interior-point level).

    Returns
    -------
    SolverResult
        ``status="external"``, ``outcome="unchecked"`` with objective, violations and network
        objective filled in. Compare it with :meth:`VerificationReport.add_external`.
    """
    _check_program(program)
    if not isinstance(values, Mapping):
        raise InvalidInputError(
            f"values must be a mapping of variable name to array; got {type(values).__name__}."
        )
    variables = {v.name(): v for v in _problem_variables(program)}
    missing = sorted(set(variables) - set(values))
    unknown = sorted(set(values) - set(variables))
    if missing or unknown:
        raise InvalidInputError(
            f"values must give exactly the program's variables {sorted(variables)}; "
            f"missing {missing}, unknown {unknown}."
        )
    arrays = {}
    for key, var in variables.items():
        arr = np.asarray(values[key], dtype=np.float64)
        if arr.shape != var.shape:
            raise InvalidInputError(
                f"values[{key!r}] has shape {arr.shape}; the variable has shape {var.shape}."
            )
        if not np.all(np.isfinite(arr)):
            raise InvalidInputError(f"values[{key!r}] contains non-finite entries.")
        arrays[key] = arr
    result = SolverResult(
        name=str(name),
        outcome=UNCHECKED,
        status="external",
        rtol=_check_tol(rtol, name) if rtol is not None else DEFAULT_RTOL["default"],
        vtol=_check_tol(vtol, name) if vtol is not None else DEFAULT_VTOL["default"],
    )
    snap = _snapshot(program)
    try:
        for key, var in variables.items():
            var.value = arrays[key]
        _measure_current(program, result)
    finally:
        _restore_snapshot(program, snap)
    return result


# =========================================================================== the report
@dataclass
class VerificationReport:
    """Per-solver results on one program, the reference, and the verdict.

    Attributes
    ----------
    program_info : dict
        Kind, loss, sizes, beta (and eps, norm) of the program.
    results : list of SolverResult
        One per solver asked for (including skipped ones), then external points.
    reference : str or None
        Name of the reference result (``None`` when no solver returned an optimal point).
    agree : bool
        True when at least one solver returned an optimal point and no result disagrees.
    verdict : str
        One line: agreement within tolerance, or who disagrees and why.
    program : ConvexProgram or None
        The verified program (``None`` for a report rebuilt from JSON).
    """

    program_info: dict[str, Any]
    results: list[SolverResult]
    reference: str | None = None
    agree: bool = False
    verdict: str = ""
    program: ConvexProgram | None = field(default=None, repr=False, compare=False)

    # ----------------------------------------------------------------- access
    def __getitem__(self, name: str) -> SolverResult:
        for res in self.results:
            if res.name == name:
                return res
        raise KeyError(f"No result named {name!r}; have {[r.name for r in self.results]}.")

    def __contains__(self, name: object) -> bool:
        return any(r.name == name for r in self.results)

    @property
    def disagreeing(self) -> list[str]:
        """Names of the results that disagree."""
        return [r.name for r in self.results if r.outcome == DISAGREES]

    @property
    def skipped(self) -> dict[str, str]:
        """Solvers that did not run, with the reason."""
        return {r.name: r.reason or "" for r in self.results if r.outcome == SKIPPED}

    @property
    def failed(self) -> dict[str, str]:
        """Solvers that raised an error, with the message."""
        return {r.name: r.reason or "" for r in self.results if r.outcome == FAILED}

    # ----------------------------------------------------------------- judging
    def _judge(self) -> None:
        """Pick the reference, compare every result with it and write the verdict."""
        self.reference = _pick_reference(self.results)
        ref = self[self.reference] if self.reference is not None else None
        for res in self.results:
            if res.outcome == SKIPPED or (res.outcome == FAILED and not res.ran):
                continue
            res.outcome, res.reason = _compare(res, ref, self.program_info.get("kind"))
        self.agree = ref is not None and not self.disagreeing
        self.verdict = self._verdict_line(ref)

    def _verdict_line(self, ref: SolverResult | None) -> str:
        extra = []
        if self.failed:
            extra.append("failed: " + ", ".join(self.failed))
        if self.skipped:
            extra.append("skipped: " + ", ".join(self.skipped))
        tail = f" ({'; '.join(extra)})" if extra else ""
        if ref is None:
            return "NO VERDICT: no solver returned an optimal point" + tail
        if self.disagreeing:
            why = "; ".join(
                f"{r.name}: {r.reason}" + (" (see note)" if r.notes else "")
                for r in self.results
                if r.outcome == DISAGREES
            )
            return f"DISAGREE with reference {ref.name}: {why}" + tail
        compared = [r for r in self.results if r.outcome == AGREES]
        if not compared:
            return f"AGREE (trivially): only {ref.name} returned a point; nothing to compare" + tail
        worst = max(compared, key=lambda r: r.rel_diff or 0.0)
        return (
            f"AGREE: {len(compared) + 1} results agree with reference {ref.name} within tolerance "
            f"(largest rel. diff {worst.rel_diff:.1e} by {worst.name}, tol "
            f"{max(worst.rtol, ref.rtol):.0e})" + tail
        )

    def add_external(
        self,
        name: str,
        values: Mapping[str, Any],
        *,
        rtol: float | None = None,
        vtol: float | None = None,
    ) -> SolverResult:
        """Check an externally given point (e.g. another library's solution) against the report.

        The point is measured with :func:`check_point`, compared with the reference and the
        verdict is recomputed. External points are never the reference.
        """
        if self.program is None:
            raise NotSolvedError("This report holds no program (rebuilt from JSON); add_external needs it.")
        if name in self:
            raise InvalidInputError(f"A result named {name!r} is already in the report; pick another name.")
        res = check_point(self.program, values, name=name, rtol=rtol, vtol=vtol)
        self.results.append(res)
        self._judge()
        return res

    # ----------------------------------------------------------------- output
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: program info, reference, agree, verdict and one dict per result."""
        return {
            "program": dict(self.program_info),
            "reference": self.reference,
            "agree": bool(self.agree),
            "verdict": self.verdict,
            "results": [r.to_dict() for r in self.results],
        }

    def to_json(self, **kwargs: Any) -> str:
        """:meth:`to_dict` as a JSON string (keyword arguments go to ``json.dumps``)."""
        kwargs.setdefault("indent", 2)
        return json.dumps(self.to_dict(), allow_nan=False, **kwargs)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VerificationReport:
        """Rebuild a report from :meth:`to_dict` output (without the program and the points)."""
        try:
            return cls(
                program_info=dict(data["program"]),
                results=[SolverResult.from_dict(r) for r in data["results"]],
                reference=data.get("reference"),
                agree=bool(data["agree"]),
                verdict=str(data.get("verdict", "")),
            )
        except (KeyError, TypeError) as exc:
            raise InvalidInputError(
                f"Not a verification report dict (needs 'program', 'results', 'agree'): {exc}"
            ) from None

    @classmethod
    def from_json(cls, text: str) -> VerificationReport:
        """Rebuild a report from :meth:`to_json` output."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"Not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def __str__(self) -> str:
        info = self.program_info
        head = (
            f"cvxnn verify: {info.get('kind')} program, {info.get('loss')} loss, "
            f"n={info.get('n_samples')} d={info.get('n_features')} P={info.get('n_patterns')}"
            f"{' +bias' if info.get('bias') else ''}, beta={_g(info.get('beta'))}"
        )
        if info.get("eps") is not None:
            head += f", eps={_g(info.get('eps'))} (l_{info.get('norm')})"
        nc_kinds = {r.network_objective_kind for r in self.results if r.network_objective_kind}
        nc_label = "NC obj" if nc_kinds <= {"nonconvex"} else "NC obj*"
        cols = [
            "solver",
            "status",
            "objective",
            "rel diff",
            "max viol",
            nc_label,
            "compile s",
            "solve s",
            "wall s",
            "iters",
            "outcome",
        ]
        rows = []
        for r in self.results:
            rows.append(
                [
                    r.name,
                    r.status or "-",
                    _fmt(r.objective, ".9e"),
                    "ref" if r.outcome == REFERENCE else _fmt(r.rel_diff, ".1e"),
                    _fmt(r.max_violation, ".1e"),
                    _fmt(r.network_objective, ".9e"),
                    _fmt(r.compile_time, ".3f"),
                    _fmt(r.solve_time, ".3f"),
                    _fmt(r.wall_time, ".3f"),
                    "-" if r.iterations is None else str(r.iterations),
                    r.outcome + (f": {r.reason}" if r.reason and r.outcome != AGREES else ""),
                ]
            )
        widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(cols[:-1])]
        lines = [head]

        def fmt_row(row: list[str]) -> str:
            cells = "  ".join(x.ljust(w) for x, w in zip(row[:-1], widths, strict=True))
            return cells + "  " + row[-1]

        lines.append(fmt_row(cols))
        lines.extend(fmt_row(row) for row in rows)
        if nc_label.endswith("*"):
            lines.append(
                "* NC obj: "
                + ", ".join(sorted(nc_kinds))
                + " objective of the recovered network"
                + (
                    " (robust program: the nominal objective, a lower bound of the robust one)"
                    if "nominal nonconvex" in nc_kinds
                    else ""
                )
            )
        for r in self.results:
            lines.extend(f"note ({r.name}): {note}" for note in r.notes)
        lines.append("verdict: " + self.verdict)
        return "\n".join(lines)


def _g(value: Any) -> str:
    return "-" if value is None else f"{value:g}"


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


def _pick_reference(results: list[SolverResult]) -> str | None:
    """The most accurate solver result: smallest violation, then smallest objective.

    Points whose relative violation is at most ``_VIOLATION_FLOOR`` count as equally feasible;
    among them an accurate solver (smaller ``rtol``: interior-point before first-order) is
    preferred, then the smallest objective wins (in a minimization a feasible point with a
    lower objective proves the others suboptimal). Only ``optimal`` results qualify, or
    ``optimal_inaccurate`` ones when there is none; external points never do.
    """
    for statuses in ((cp.OPTIMAL,), (cp.OPTIMAL_INACCURATE,)):
        candidates = [r for r in results if r.status in statuses and r.ran and r.objective is not None]
        if candidates:
            best = min(
                candidates,
                key=lambda r: (max(r.rel_violation or 0.0, _VIOLATION_FLOOR), r.rtol, r.objective),
            )
            return best.name
    return None


def _compare(res: SolverResult, ref: SolverResult | None, kind: str | None) -> tuple[str, str | None]:
    """Outcome and reason of ``res`` against the reference ``ref``."""
    if res.status not in (*_OPTIMAL, cp.USER_LIMIT, "external"):
        return DISAGREES, f"status {res.status} (the program is feasible and bounded)"
    if res.objective is None:
        return DISAGREES, "no objective value at the returned point"
    reasons = []
    if (res.rel_violation or 0.0) > res.vtol:
        reasons.append(f"violation {res.max_violation:.1e} (rel. {res.rel_violation:.1e} > {res.vtol:.0e})")
    if ref is not None and res is not ref:
        tol = max(res.rtol, ref.rtol)
        res.rel_diff = abs(res.objective - ref.objective) / max(abs(ref.objective), _OBJECTIVE_FLOOR)
        if res.rel_diff > tol:
            reasons.append(f"objective rel. diff {res.rel_diff:.1e} > {tol:.0e}")
    elif res is ref:
        res.rel_diff = 0.0
    if res.network_objective is not None:
        gap = (res.network_objective - res.objective) / max(abs(res.objective), _OBJECTIVE_FLOOR)
        tol = max(res.rtol, res.vtol)
        if kind == "robust_relu":
            if gap > tol:
                reasons.append(f"nominal network objective exceeds the robust objective by {gap:.1e}")
        elif abs(gap) > tol:
            reasons.append(f"recovered network objective differs from the convex one by {abs(gap):.1e}")
    if reasons:
        if res.status == cp.USER_LIMIT:
            return FAILED, "stopped at its iteration limit (user_limit): " + "; ".join(reasons)
        return DISAGREES, "; ".join(reasons)
    return (REFERENCE, None) if res is ref else (AGREES, None)


# =========================================================================== running solvers
def _check_program(program: Any) -> None:
    if not isinstance(program, ConvexProgram):
        raise InvalidInputError(
            f"verify needs a cvxnn ConvexProgram (from relu_program, gated_relu_program, scp_program or "
            f"robust_relu_program); got {type(program).__name__}."
        )


def _program_info(program: ConvexProgram) -> dict[str, Any]:
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
        from .cvxpy_backend import ADMM

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
        _measure_current(program, result)
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
    snap = _snapshot(program)
    try:
        for var in _problem_variables(program):
            var.value = ref.values[var.name()]
        errors = implied_bound_errors(program.problem)
    finally:
        _restore_snapshot(program, snap)
    if not errors:
        return
    note = (
        f"CVXPY {cp.__version__} passes wrong implied bounds to solvers with bounded variables "
        f"for this program ({errors[0]} at the reference point), so they solve a different problem"
    )
    for res in suspects:
        res.notes.append(note)
        instance = _without_implied_bounds(res.name) if retry else None
        if instance is None:
            continue
        label = f"{res.name} (no implied bounds)"
        extra = _run_solver(program, res.name, options.get(res.name, {}), solver=instance, label=label)
        extra.rtol, extra.vtol = res.rtol, res.vtol
        extra.notes.append(f"{res.name} re-run with CVXPY's implied variable bounds turned off")
        report.results.append(extra)
    report._judge()


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
    _check_program(program)
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
    tolerances = {n: (_tolerance(DEFAULT_RTOL, rtol, n), _tolerance(DEFAULT_VTOL, vtol, n)) for n in names}

    compatible = program.compatible_solvers()
    original = _snapshot(program)
    results: list[SolverResult] = []
    for name in names:
        reason = None if name == "ADMM" else _skip_reason(name, program, compatible)
        if reason is not None:
            res = SolverResult(name=name, outcome=SKIPPED, reason=reason)
        else:
            res = _run_solver(program, name, options.get(name, {}))
        res.rtol, res.vtol = tolerances[name]
        results.append(res)

    report = VerificationReport(program_info=_program_info(program), results=results, program=program)
    report._judge()
    _diagnose_bounds(program, report, options, bool(retry_without_implied_bounds))
    if restore and report.reference is not None:
        _restore(program, report[report.reference])
    elif restore:
        _restore_snapshot(program, original)
    return report


# =========================================================================== command line
_FORMULATIONS = {
    "relu": "relu",
    "gated": "gated_relu",
    "gated_relu": "gated_relu",
    "scp": "scp",
    "robust": "robust_relu",
    "robust_relu": "robust_relu",
}


def add_verify_subcommand(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``verify`` subcommand to an ``argparse`` subparsers object.

    ``cvxnn verify DATA [--loss L] [--formulation F] [--eps E] [--norm N] [--patterns P]
    [--beta B] [--bias] [--exact] [--solvers A,B,...] [--no-admm] [--seed S] [--max-samples M]
    [--rtol R] [--json PATH]``; sets ``func=run``.
    """
    p = subparsers.add_parser(
        "verify",
        help="solve one small program with several solvers and check that they agree",
        description=(
            "Build a convex training program on DATA (sklearn:NAME, a .csv or a .npz), solve it with "
            "every usable solver (or those named) and print a cross-check table. Exits 1 when the "
            "solvers disagree, 2 on bad input."
        ),
    )
    p.add_argument("data", metavar="DATA", help="sklearn:NAME, PATH.csv or PATH.npz")
    p.add_argument("--loss", choices=("squared", "logistic", "hinge"), default="squared")
    p.add_argument(
        "--formulation",
        choices=sorted(_FORMULATIONS),
        default=None,
        help="program kind (default relu, or robust_relu when --eps is given)",
    )
    p.add_argument("--eps", type=float, default=None, help="perturbation radius (robust program)")
    p.add_argument("--norm", choices=("inf", "2", "1"), default="inf", help="perturbation norm (robust)")
    p.add_argument("--patterns", type=int, default=8, help="number of sampled patterns / gates (default 8)")
    p.add_argument("--exact", action="store_true", help="enumerate all patterns instead of sampling")
    p.add_argument("--beta", type=float, default=0.1, help="weight decay (default 0.1)")
    p.add_argument("--bias", action="store_true", help="add a bias (constant input column)")
    p.add_argument(
        "--solvers", default=None, help="comma-separated solver names, e.g. CLARABEL,ECOS,GUROBI,ADMM"
    )
    p.add_argument("--no-admm", action="store_true", help="do not run the ADMM with the default solver set")
    p.add_argument("--seed", type=int, default=0, help="seed for the subset and the patterns (default 0)")
    p.add_argument(
        "--max-samples",
        type=int,
        default=40,
        help="use a random subset of at most this many samples (default 40; 0 = all)",
    )
    p.add_argument(
        "--rtol", type=float, default=None, help="one relative objective tolerance for all solvers"
    )
    p.add_argument("--json", default=None, metavar="PATH", help="also write the report as JSON here")
    p.set_defaults(func=run)
    return p


def _cli_data(args: argparse.Namespace) -> tuple[np.ndarray, np.ndarray, str]:
    from ._validation import check_positive_int
    from .datasets import load_dataset

    data = load_dataset(args.data)
    X, y = np.asarray(data.X, dtype=np.float64), np.asarray(data.y, dtype=np.float64)
    rng = np.random.default_rng(args.seed)
    if args.max_samples is not None and args.max_samples != 0:
        m = check_positive_int(args.max_samples, "--max-samples")
        if X.shape[0] > m:
            idx = np.sort(rng.choice(X.shape[0], size=m, replace=False))
            X, y = X[idx], y[idx]
    std = X.std(axis=0)
    std[std == 0] = 1.0
    X = (X - X.mean(axis=0)) / std
    if args.loss in ("logistic", "hinge"):
        classes = np.unique(y)
        if classes.size != 2:
            raise InvalidInputError(
                f"The {args.loss} loss needs two classes; {data.name} has {classes.size} in this subset. "
                "Use a binary data set (e.g. sklearn:digits-2v8 or sklearn:breast_cancer) or --loss squared."
            )
        y = np.where(y == classes[1], 1.0, -1.0)
    return X, y, data.name


def _cli_program(args: argparse.Namespace, X: np.ndarray, y: np.ndarray) -> ConvexProgram:
    from . import programs
    from ._validation import check_n_patterns
    from .patterns import enumerate_patterns, sample_patterns

    kind = (
        _FORMULATIONS[args.formulation]
        if args.formulation
        else ("robust_relu" if args.eps is not None else "relu")
    )
    if args.eps is not None and kind != "robust_relu":
        raise InvalidInputError(
            f"--eps applies to the robust formulation only; got --formulation {args.formulation}."
        )
    if args.exact:
        patterns = enumerate_patterns(X, bias=args.bias)
    else:
        patterns = sample_patterns(X, check_n_patterns(args.patterns), random_state=args.seed, bias=args.bias)
    if kind == "relu":
        return programs.relu_program(X, y, patterns, beta=args.beta, loss=args.loss)
    if kind == "gated_relu":
        return programs.gated_relu_program(X, y, patterns, beta=args.beta, loss=args.loss)
    if kind == "scp":
        return programs.scp_program(X, y, patterns, beta=args.beta, loss=args.loss)
    from .robust import robust_relu_program

    eps = 0.0 if args.eps is None else args.eps
    return robust_relu_program(X, y, patterns, beta=args.beta, eps=eps, norm=args.norm, loss=args.loss)


def run(args: argparse.Namespace) -> int:
    """Run ``cvxnn verify``: print the report; return 0 on agreement, 1 otherwise, 2 on bad input."""
    from .exceptions import CvxnnError

    try:
        X, y, name = _cli_data(args)
        program = _cli_program(args, X, y)
        report = verify(
            program,
            solvers=args.solvers,
            include_admm=not args.no_admm,
            rtol=args.rtol,
        )
    except CvxnnError as exc:
        print(f"cvxnn verify: error: {exc}", file=sys.stderr)
        return 2
    print(f"data: {name}, {X.shape[0]} samples (standardized)")
    print(report)
    if args.json:
        try:
            with open(args.json, "w") as fh:
                fh.write(report.to_json())
                fh.write("\n")
        except OSError as exc:
            print(f"cvxnn verify: error: cannot write {args.json!r}: {exc}", file=sys.stderr)
            return 2
    return 0 if report.agree else 1
