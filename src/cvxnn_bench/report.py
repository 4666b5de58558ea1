"""Markdown tables and the report of a benchmark run."""

from __future__ import annotations

from typing import Any

import numpy as np


# --------------------------------------------------------------------------- table
def fmt_number(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return format(value, spec)


def markdown_table(report: dict[str, Any]) -> str:
    """The report as Markdown: one table per size, every solver a row."""
    lines: list[str] = []
    for case in report["cases"]:
        n, d, P = case["size"]
        lines.append(
            f"**(n, d, P) = ({n}, {d}, {P})**, effective P = {case['n_patterns_effective']}, "
            f"beta = {case['beta']:g} (pyscnn lambda = {case['lam_pyscnn']:g}); reference objective "
            f"{fmt_number(case['reference_objective'], '.8g')} from {case['reference_source'] or '–'}."
        )
        if not case["generic_attempted"]:
            lines.append(f"Generic solvers {case['generic_note']}.")
        lines.append("")
        lines.append(
            "| solver | status | total s | setup s | solve s | iters | rel. gap | target | "
            "cone viol. (rel) | peak +RSS MB | x Clarabel | note |"
        )
        lines.append("|---|---|--:|--:|--:|--:|--:|:-:|--:|--:|--:|---|")
        for r in case["results"]:
            status = r.get("status") or r["outcome"]
            if r["outcome"] != "ok":
                status = r["outcome"]
            reached = {True: "yes", False: "no"}.get(r.get("reached_target"), "–")
            note = r.get("note", "")
            if r["solver"] == "PYSCNN" and "same_patterns" in r:
                note = (note + "; " if note else "") + (
                    "same patterns" if r["same_patterns"] else "PATTERN SET DIFFERS"
                )
            if r.get("history_time_to_target_s") is not None:
                note = (note + "; " if note else "") + (
                    f"iterate within 1e-4 at {r['history_time_to_target_s']:.3g} s (history)"
                )
            if r["solver"] == "ADMM" and case.get("reference_objective") is None:
                dual, obj = (r.get("extra") or {}).get("dual_objective"), r.get("objective")
                if dual is not None and obj is not None and np.isfinite(dual) and abs(obj) > 0:
                    note = (note + "; " if note else "") + (
                        f"certified rel. gap (objective - dual bound) {(obj - dual) / abs(obj):.2g}"
                    )
            if r["solver"] == "ADMM" and r.get("status") not in (None, "optimal"):
                note = (note + "; " if note else "") + str((r.get("extra") or {}).get("message", ""))[:200]
            elif r["solver"] == "ADMM" and r.get("warnings"):
                note = (note + "; " if note else "") + "warning: " + r["warnings"][0][:120]
            lines.append(
                "| "
                + " | ".join(
                    [
                        r["solver"],
                        str(status),
                        fmt_number(r.get("total_s"), ".3g"),
                        fmt_number(r.get("compile_s"), ".3g"),
                        fmt_number(r.get("solver_s"), ".3g"),
                        fmt_number(r.get("iterations"), "d"),
                        fmt_number(r.get("rel_gap"), ".1e"),
                        reached,
                        fmt_number(r.get("cone_violation_rel"), ".1e"),
                        fmt_number(r.get("peak_delta_mb"), ".0f"),
                        fmt_number(r.get("speedup_vs_clarabel"), ".3g")
                        if r.get("reached_target") or r.get("speedup_vs_clarabel") is None
                        else f"({r['speedup_vs_clarabel']:.3g})",
                        note.replace("|", "/"),
                    ]
                )
                + " |"
            )
        lines.append("")
        lines.extend(_ratio_lines(case))
    return "\n".join(lines)


def _ratio_lines(case: dict[str, Any]) -> list[str]:
    """One sentence per comparison the issue's targets name: ADMM against Clarabel and pyscnn."""
    by = {r["solver"]: r for r in case["results"]}
    admm = by.get("ADMM")
    if admm is None or "objective" not in admm:
        return []
    out = []
    for other in ("CLARABEL", "PYSCNN"):
        r = by.get(other)
        if r is None or r["outcome"] == "skipped":
            continue
        if r["outcome"] == "timeout":
            out.append(
                f"- {other} was killed at its {r['total_s']:.0f} s limit; ADMM took {admm['total_s']:.3g} s "
                f"(ratio > {r['total_s'] / admm['total_s']:.3g})."
            )
        elif "objective" in r and r.get("total_s"):
            out.append(
                f"- {other} / ADMM time ratio: {r['total_s'] / admm['total_s']:.3g} "
                f"({r['total_s']:.3g} s vs {admm['total_s']:.3g} s; target met: {other} "
                f"{'yes' if r.get('reached_target') else 'no'}, ADMM "
                f"{'yes' if admm.get('reached_target') else 'no'})."
            )
    if out:
        out.append("")
    return out


def markdown_report(report: dict[str, Any]) -> str:
    """Machine, versions, command and the tables: the section pasted into benchmarks/README.md."""
    m, v = report["machine"], report["versions"]
    git = report.get("git") or {}
    blas = ", ".join(
        f"{t.get('internal_api')} {t.get('version')} ({t.get('num_threads')} threads)"
        for t in m.get("threadpools", [])
    )
    load0 = report.get("loadavg_start") or []
    load1 = report.get("loadavg_end") or []
    start_load = fmt_number(load0[0] if load0 else None, ".1f")
    end_load = fmt_number(load1[0] if load1 else None, ".1f")
    lines = [
        f"Run {report['started_utc']} to {report.get('finished_utc', '?')} on {m['cpu']}, "
        f"{m['cores']} cores, {m['memory_gib']} GiB RAM ({m['platform']}); BLAS: {blas or '?'}; "
        f"OMP_NUM_THREADS={m.get('OMP_NUM_THREADS')}. Load average (1 min) {start_load} at the start and "
        f"{end_load} at the end (the machine was shared).",
        "",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val) + ".",
        "",
        f"cvxnn commit {git.get('commit', '?')[:10]}"
        + (
            f" with local changes in {', '.join(x[3:] for x in git['modified_src'])}"
            if git.get("modified_src")
            else ""
        )
        + ".",
        "",
        "Command:",
        "",
        "```bash",
        f"OMP_NUM_THREADS={m.get('OMP_NUM_THREADS')} {report.get('command', 'python benchmarks/run.py')}",
        "```",
        "",
        markdown_table(report),
    ]
    return "\n".join(lines)
