"""The suite: per-size settings, one case through every solver, and the whole run."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .cases import (
    DEFAULT_GENERIC_MAX_NNZ,
    DEFAULT_TIMEOUT,
    TARGET_GAP,
    TARGET_VIOLATION,
    BenchCase,
    cone_violation,
    make_case,
    parse_size,
    program_objective,
)
from .isolation import run_isolated
from .machine import git_state, loadavg, machine_info, package_versions
from .runners import admm_runner, availability, cvxpy_runner, pyscnn_prepare, pyscnn_runner
from .scoring import score_case


# --------------------------------------------------------------------------- the suite
def settings_for_size(settings: Mapping[str, Any] | None, size: tuple[int, int, int]) -> dict[str, Any]:
    """ADMM settings for one size.

    ``settings`` is either plain settings (every size) or a mapping from ``"N,D,P"`` / ``"*"`` to
    settings, e.g. ``{"*": {"time_limit": 600}, "50000,100,100": {"eps_abs": 1e-4, ...}}``; the
    size's entry is laid over the ``"*"`` entry.
    """
    if not settings:
        return {}
    keys = list(settings)
    per_size = all(k == "*" or _is_size_key(k) for k in keys)
    if not per_size:
        return dict(settings)
    merged = dict(settings.get("*", {}))
    for key in keys:
        if key != "*" and parse_size(key) == tuple(size):
            merged.update(settings[key])
    return merged


def _is_size_key(key: str) -> bool:
    try:
        parse_size(key)
    except argparse.ArgumentTypeError:
        return False
    return True


def _timeout_for(timeout: float | Mapping[str, float | None] | None, solver: str) -> float | None:
    """The limit for ``solver``: a number for all, or a mapping with per-solver entries and ``"*"``."""
    if isinstance(timeout, Mapping):
        return timeout.get(solver, timeout.get("*", DEFAULT_TIMEOUT))
    return timeout


def run_case(
    case: BenchCase,
    solvers: Sequence[str],
    *,
    timeout: float | Mapping[str, float | None] | None,
    generic_max_nnz: int = DEFAULT_GENERIC_MAX_NNZ,
    admm_settings: dict[str, Any] | None = None,
    pyscnn_options: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Solve one case with every solver (each isolated, see :func:`run_isolated`) and score them.

    Returns a JSON-ready dict: the size, ``beta``, the reference objective and where it came from,
    and one record per solver (status, times, memory, objective, gap, cone violation, notes).
    """
    program = case.program
    n, d_eff, P_eff = program.n_samples, program.design.shape[1], program.n_patterns
    nnz = 2 * n * d_eff * P_eff
    generic_ok = nnz <= generic_max_nnz
    generic_reason = (
        ""
        if generic_ok
        else f"not attempted: {nnz:.2g} cone nonzeros (2ndP) > {generic_max_nnz:.2g}; CVXPY could not "
        "even build (5000,100,200) in 19 GB, and (2000,50,100) already needs ~5 GB in Clarabel"
    )
    records: list[dict[str, Any]] = []
    for solver in solvers:
        ok, why = availability(solver, generic_ok, generic_reason)
        record: dict[str, Any] = {"solver": solver}
        if not ok:
            record.update(outcome="skipped", note=why)
            log(f"  {solver:9s} skipped: {why}")
            records.append(record)
            continue
        if solver == "ADMM":
            settings = settings_for_size(admm_settings, (case.n, case.d, case.P))
            record["settings"] = settings
            fn = admm_runner(program, settings)
        elif solver == "PYSCNN":
            fn = pyscnn_runner(program, dict(pyscnn_options or {}))
        else:
            fn = cvxpy_runner(program, solver)
        limit = _timeout_for(timeout, solver)
        log(f"  {solver:9s} running (timeout {limit} s) ...")
        res = run_isolated(fn, timeout=limit, prepare=pyscnn_prepare if solver == "PYSCNN" else None)
        record.update(
            outcome=res.outcome,
            peak_rss_mb=res.peak_rss_mb,
            peak_delta_mb=res.peak_delta_mb,
        )
        if res.outcome == "ok":
            value = dict(res.value)
            V, W, D = value.pop("V"), value.pop("W"), value.pop("D", None)
            record.update(value)
            if V is None:
                record["note"] = f"no solution returned (status {value.get('status')})"
            else:
                record["objective"] = program_objective(program, V, W, D)
                viol_abs, viol_rel = cone_violation(program, V, W, D)
                record.update(cone_violation_abs=viol_abs, cone_violation_rel=viol_rel)
        elif res.outcome == "timeout":
            record.update(total_s=res.wall_s, note=f"killed at the {limit:g} s timeout")
        else:
            record.update(total_s=res.wall_s, note=(res.error or "").strip().splitlines()[0][:300])
            record["error"] = res.error
        log(
            f"  {solver:9s} {record['outcome']}: {record.get('status', '')} "
            f"t={record.get('total_s', float('nan')):.3g}s obj={record.get('objective', float('nan')):.10g}"
            f" peak+{(record.get('peak_delta_mb') or 0):.0f}MB"
        )
        records.append(record)

    scored = {
        "size": [case.n, case.d, case.P],
        "n_patterns_effective": P_eff,
        "beta": case.beta,
        "lam_pyscnn": case.beta / case.n,
        "build_s": case.build_s,
        "generic_attempted": generic_ok,
        "generic_note": generic_reason,
        "results": records,
    }
    return score_case(scored)


def run_suite(
    sizes: Sequence[tuple[int, int, int]],
    solvers: Sequence[str],
    *,
    timeout: float | Mapping[str, float | None] | None = 600.0,
    lam: float = 1e-3,
    seed: int = 0,
    generic_max_nnz: int = DEFAULT_GENERIC_MAX_NNZ,
    admm_settings: dict[str, Any] | None = None,
    pyscnn_options: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
    on_case: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run every size with every solver; return the full JSON-ready report (see :func:`run_case`).

    ``on_case(report)`` is called after each size with the report so far (``main`` saves it, so a
    long run that is interrupted keeps its finished sizes).
    """
    report: dict[str, Any] = {
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "versions": package_versions(),
        "git": git_state(),
        "settings": {
            "solvers": list(solvers),
            "timeout_s": dict(timeout) if isinstance(timeout, Mapping) else timeout,
            "lam": lam,
            "beta": "lam * n",
            "seed": seed,
            "generic_max_nnz": generic_max_nnz,
            "admm_settings": admm_settings or {},
            "pyscnn_options": pyscnn_options or {},
            "target_rel_gap": TARGET_GAP,
            "target_rel_cone_violation": TARGET_VIOLATION,
        },
        "loadavg_start": loadavg(),
        "cases": [],
    }
    for n, d, P in sizes:
        log(f"size (n, d, P) = ({n}, {d}, {P})")
        case = make_case(n, d, P, lam=lam, seed=seed)
        log(f"  built in {case.build_s:.2f} s, effective P = {case.program.n_patterns}, beta = {case.beta:g}")
        report["cases"].append(
            run_case(
                case,
                solvers,
                timeout=timeout,
                generic_max_nnz=generic_max_nnz,
                admm_settings=admm_settings,
                pyscnn_options=pyscnn_options,
                log=log,
            )
        )
        if on_case is not None:
            report["loadavg_end"] = loadavg()
            report["finished_utc"] = "(in progress)"
            on_case(report)
    report["loadavg_end"] = loadavg()
    report["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return report
