"""The verification report: the reference, the comparison, the verdict and the formatting."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp

from cvxnn.exceptions import InvalidInputError, NotSolvedError
from cvxnn.programs import ConvexProgram

from .measuring import check_point
from .results import (
    AGREES,
    DISAGREES,
    FAILED,
    IMPLIED_BOUNDS_DEFECT,
    OBJECTIVE_FLOOR,
    OPTIMAL_STATUSES,
    REFERENCE,
    SKIPPED,
    VIOLATION_FLOOR,
    WORKED_AROUND,
    SolverResult,
)


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
    def worked_around(self) -> list[str]:
        """Names of the results that disagree only through the CVXPY implied-bounds defect."""
        return [r.name for r in self.results if r.outcome == WORKED_AROUND]

    @property
    def strict_agree(self) -> bool:
        """:attr:`agree`, and no result disagrees at all (not even through a worked-around defect)."""
        return self.agree and not self.worked_around

    @property
    def warnings(self) -> list[str]:
        """One line per worked-around disagreement, naming the defect and the workaround."""
        return [
            f"{name} disagrees as run by a plain problem.solve(solver={name!r}): {IMPLIED_BOUNDS_DEFECT}. "
            f"Re-run without implied bounds, as cvxnn's ConvexProgram.solve runs it, it agrees "
            f"('{name} (no implied bounds)')."
            for name in self.worked_around
        ]

    @property
    def skipped(self) -> dict[str, str]:
        """Solvers that did not run, with the reason."""
        return {r.name: r.reason or "" for r in self.results if r.outcome == SKIPPED}

    @property
    def failed(self) -> dict[str, str]:
        """Solvers that raised an error, with the message."""
        return {r.name: r.reason or "" for r in self.results if r.outcome == FAILED}

    # ----------------------------------------------------------------- judging
    def judge(self) -> None:
        """Pick the reference, compare every result with it and write the verdict."""
        self.reference = pick_reference(self.results)
        ref = self[self.reference] if self.reference is not None else None
        for res in self.results:
            if res.outcome == SKIPPED or (res.outcome == FAILED and not res.ran):
                continue
            res.outcome, res.reason = compare(res, ref, self.program_info.get("kind"))
        for res in self.results:  # a disagreement the solve path already works around: a warning
            retry = f"{res.name} (no implied bounds)"
            if res.outcome == DISAGREES and res.implied_bounds_defect and retry in self:
                if self[retry].outcome in (AGREES, REFERENCE):
                    res.outcome = WORKED_AROUND
        self.agree = ref is not None and not self.disagreeing
        self.verdict = self._verdict_line(ref)

    def _verdict_line(self, ref: SolverResult | None) -> str:
        extra = []
        if self.worked_around:
            verb = "disagrees" if len(self.worked_around) == 1 else "disagree"
            extra.append(
                f"warning: {', '.join(self.worked_around)} {verb} only through the CVXPY "
                "implied-bounds defect, worked around"
            )
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
        self.judge()
        return res

    # ----------------------------------------------------------------- output
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: program info, reference, agree, verdict and one dict per result."""
        return {
            "program": dict(self.program_info),
            "reference": self.reference,
            "agree": bool(self.agree),
            "verdict": self.verdict,
            "strict_agree": bool(self.strict_agree),
            "warnings": self.warnings,
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
        lines.extend(f"warning: {w}" for w in self.warnings)
        lines.append("verdict: " + self.verdict)
        return "\n".join(lines)


def _g(value: Any) -> str:
    return "-" if value is None else f"{value:g}"


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or not math.isfinite(value) else format(value, spec)


def pick_reference(results: list[SolverResult]) -> str | None:
    """The most accurate solver result: smallest violation, then smallest objective.

    Points whose relative violation is at most ``VIOLATION_FLOOR`` count as equally feasible;
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
                key=lambda r: (max(r.rel_violation or 0.0, VIOLATION_FLOOR), r.rtol, r.objective),
            )
            return best.name
    return None


def compare(res: SolverResult, ref: SolverResult | None, kind: str | None) -> tuple[str, str | None]:
    """Outcome and reason of ``res`` against the reference ``ref``."""
    if res.status not in (*OPTIMAL_STATUSES, cp.USER_LIMIT, "external"):
        return DISAGREES, f"status {res.status} (the program is feasible and bounded)"
    if res.objective is None:
        return DISAGREES, "no objective value at the returned point"
    reasons = []
    if (res.rel_violation or 0.0) > res.vtol:
        reasons.append(f"violation {res.max_violation:.1e} (rel. {res.rel_violation:.1e} > {res.vtol:.0e})")
    if ref is not None and res is not ref:
        tol = max(res.rtol, ref.rtol)
        res.rel_diff = abs(res.objective - ref.objective) / max(abs(ref.objective), OBJECTIVE_FLOOR)
        if res.rel_diff > tol:
            reasons.append(f"objective rel. diff {res.rel_diff:.1e} > {tol:.0e}")
    elif res is ref:
        res.rel_diff = 0.0
    if res.network_objective is not None:
        gap = (res.network_objective - res.objective) / max(abs(res.objective), OBJECTIVE_FLOOR)
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
