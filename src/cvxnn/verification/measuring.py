"""Measuring a point: the convex objective, the cone violation, the network objective."""

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


def network_objective(program: ConvexProgram) -> tuple[float | None, str | None, str | None]:
    """Objective of the recovered network at the current values, its kind, and an error."""
    kind = program.model.network_kind
    try:
        net = program.network(prune_tol=0.0)
        value = net.objective(program.X, program.y, float(program.beta.value), program.loss)
    except Exception as exc:  # a point that cannot be recovered is reported, not raised
        return None, kind, f"{type(exc).__name__}: {exc}"
    return float(value), kind, None


def measure_current(program: ConvexProgram, result: SolverResult) -> None:
    """Fill objective, violations and network objective of ``result`` from current values.

    The objective is :meth:`ConvexProgram.objective_at` and the violations are
    :meth:`ConvexProgram.violation_at` (absolute, and relative in the one normalization of
    :class:`cvxnn.kinds.ConeViolation`), all ``None`` when a variable has no value.
    """
    if any(var.value is None for var in program.variables.values()):
        result.objective = result.max_violation = result.rel_violation = None
    else:
        result.objective = program.objective_at()
        violation = program.violation_at()
        result.max_violation = violation.absolute
        result.rel_violation = violation.relative
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
