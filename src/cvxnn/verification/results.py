"""Verification results: the tolerances, the outcomes and one solver's measured result."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

import cvxpy as cp
import numpy as np

from cvxnn.exceptions import InvalidInputError

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
VIOLATION_FLOOR = 1e-9
#: Floor of the denominator of the relative objective difference.
OBJECTIVE_FLOOR = 1e-12

OPTIMAL_STATUSES = (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)

# Outcomes of one result.
REFERENCE = "reference"
AGREES = "agrees"
DISAGREES = "disagrees"
FAILED = "failed"
SKIPPED = "skipped"
UNCHECKED = "unchecked"
#: A disagreement caused by the known CVXPY implied-bounds defect that cvxnn's own solve path
#: avoids: the same solver re-run without the implied bounds agrees. A warning, not a
#: disagreement (``VerificationReport.agree`` stays True; ``strict_agree`` is False).
WORKED_AROUND = "worked around"

#: The name of the CVXPY defect, as reports and warnings quote it.
IMPLIED_BOUNDS_DEFECT = (
    "CVXPY implied-bounds defect: CVXPY gives auxiliary variables of pos/maximum/abs wrong interval "
    "bounds (0 * inf taken as 0) when the solver accepts bounded variables (GUROBI, HIGHS, SCIPY)"
)


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
    implied_bounds_defect : bool
        True when the wrong CVXPY-implied bounds were found behind this result's disagreement.
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
    implied_bounds_defect: bool = False
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
            out[f.name] = json_number(value) if isinstance(value, float) else value
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


def json_number(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(value)
