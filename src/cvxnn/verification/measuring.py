"""Measuring a point: the convex objective, the constraint and cone violations, the network objective."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import cvxpy as cp
import numpy as np

from cvxnn.exceptions import InvalidInputError
from cvxnn.programs import ConvexProgram

from .results import DEFAULT_RTOL, DEFAULT_VTOL, UNCHECKED, SolverResult


# =========================================================================== evaluation
def problem_variables(program: ConvexProgram) -> list[cp.Variable]:
    return list(program.problem.variables())


def snapshot(program: ConvexProgram) -> dict[int, Any]:
    return {v.id: None if v.value is None else np.array(v.value) for v in problem_variables(program)}


def restore_snapshot(program: ConvexProgram, snap: Mapping[int, Any]) -> None:
    for v in problem_variables(program):
        v.value = snap.get(v.id)


def dual_norm_exponent(norm: str | None) -> float:
    """q with 1/p + 1/q = 1 for the perturbation norm p."""
    return {"inf": 1.0, "2": 2.0, "1": np.inf}.get(str(norm), 1.0)


def cone_residuals(program: ConvexProgram) -> tuple[float, float]:
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
    q = dual_norm_exponent(program.norm)
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


def constraint_residuals(program: ConvexProgram) -> tuple[float, float]:
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


def network_objective(program: ConvexProgram) -> tuple[float | None, str | None, str | None]:
    """Objective of the recovered network at the current values, its kind, and an error."""
    kind = {"robust_relu": "nominal nonconvex", "gated_relu": "gated"}.get(program.kind, "nonconvex")
    try:
        net = program.network(prune_tol=0.0)
        value = net.objective(program.X, program.y, float(program.beta.value), program.loss)
    except Exception as exc:  # a point that cannot be recovered is reported, not raised
        return None, kind, f"{type(exc).__name__}: {exc}"
    return float(value), kind, None


def measure_current(program: ConvexProgram, result: SolverResult) -> None:
    """Fill objective, violations and network objective of ``result`` from current values."""
    obj = program.problem.objective.value
    result.objective = None if obj is None else float(obj)
    v1, s1 = constraint_residuals(program)
    v2, s2 = cone_residuals(program)
    result.max_violation = max(v1, v2)
    result.rel_violation = result.max_violation / max(1.0, s1, s2)
    result.network_objective, result.network_objective_kind, err = network_objective(program)
    if err is not None:
        result.warnings.append(f"network recovery failed: {err}")
    result.values = {v.name(): np.array(v.value) for v in problem_variables(program)}
    result._ids = {v.name(): v.id for v in problem_variables(program)}


def tolerance(table: Mapping[str, float], override: Any, name: str) -> float:
    if override is None:
        return float(table.get(name, table["default"]))
    if isinstance(override, Mapping):
        if name in override:
            return check_tol(override[name], name)
        return float(table.get(name, table["default"]))
    return check_tol(override, name)


def check_tol(value: Any, name: str) -> float:
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
    check_program(program)
    if not isinstance(values, Mapping):
        raise InvalidInputError(
            f"values must be a mapping of variable name to array; got {type(values).__name__}."
        )
    variables = {v.name(): v for v in problem_variables(program)}
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
        rtol=check_tol(rtol, name) if rtol is not None else DEFAULT_RTOL["default"],
        vtol=check_tol(vtol, name) if vtol is not None else DEFAULT_VTOL["default"],
    )
    snap = snapshot(program)
    try:
        for key, var in variables.items():
            var.value = arrays[key]
        measure_current(program, result)
    finally:
        restore_snapshot(program, snap)
    return result


def check_program(program: Any) -> None:
    if not isinstance(program, ConvexProgram):
        raise InvalidInputError(
            f"verify needs a cvxnn ConvexProgram (from relu_program, gated_relu_program, scp_program or "
            f"robust_relu_program); got {type(program).__name__}."
        )
