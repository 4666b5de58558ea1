"""The benchmark's command line (``python -m cvxnn_bench``, ``cvxnn bench``, ``benchmarks/run.py``)."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .cases import (
    ALL_SOLVERS,
    DEFAULT_GENERIC_MAX_NNZ,
    DEFAULT_SIZES,
    DEFAULT_TIMEOUT,
    QUICK_SIZES,
    parse_size,
)
from .report import markdown_report, markdown_table
from .scoring import score_case
from .suite import run_suite, settings_for_size


# --------------------------------------------------------------------------- command line
def _parse_solvers(text: str) -> list[str]:
    names = [s.strip().upper() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in ALL_SOLVERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown solver(s) {unknown or text!r}; allowed: {','.join(ALL_SOLVERS)}"
        )
    return names


def _parse_json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object, e.g. '{\"max_iter\": 5000}'")
    return value


def _parse_timeout(text: str) -> tuple[str, float | None]:
    solver, _, seconds = text.rpartition("=")
    solver = solver.strip().upper() or "*"
    if solver != "*" and solver not in ALL_SOLVERS:
        raise argparse.ArgumentTypeError(
            f"unknown solver {solver!r} in --timeout {text!r}; allowed: {','.join(ALL_SOLVERS)}"
        )
    if seconds.strip().lower() in ("none", "inf"):
        return solver, None
    try:
        value = float(seconds)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a timeout is SECONDS or SOLVER=SECONDS (or 'none'); got {text!r}"
        ) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"timeout must be positive; got {text!r}")
    return solver, value


def build_parser() -> argparse.ArgumentParser:
    """The ``cvxnn bench`` / ``benchmarks/run.py`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="cvxnn bench",
        description="Time to 1e-4 relative objective gap and peak memory of CVXPY solvers, the cvxnn "
        "ADMM and pyscnn on the same convex ReLU program.",
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=parse_size,
        default=None,
        metavar="N,D,P",
        help="sizes (n, d, P) to run, e.g. --sizes 500,30,50 2000x50x100 (default: the issue's three)",
    )
    parser.add_argument(
        "--solvers",
        type=_parse_solvers,
        default=list(ALL_SOLVERS),
        help=f"comma-separated subset of {','.join(ALL_SOLVERS)} (default: all)",
    )
    parser.add_argument(
        "--timeout",
        nargs="+",
        type=_parse_timeout,
        default=None,
        metavar="[SOLVER=]SECONDS",
        help="wall-clock limit per solver run; the run is killed past it. A number applies to every "
        "solver, SOLVER=SECONDS overrides one, e.g. --timeout 600 SCS=180 (default 600; 'none': no limit)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the raw results as JSON to this file")
    parser.add_argument(
        "--rescore",
        type=Path,
        default=None,
        metavar="JSON",
        help="re-apply the reference/gap rules to a saved run (no solving) and print its tables; "
        "writes --out (default: the same file) and --markdown",
    )
    parser.add_argument("--markdown", type=Path, default=None, help="also write the Markdown tables here")
    parser.add_argument("--quick", action="store_true", help=f"toy run: sizes {QUICK_SIZES}, timeout 120 s")
    parser.add_argument(
        "--lam", type=float, default=1e-3, help="beta = lam * n (pyscnn's lambda); default 1e-3"
    )
    parser.add_argument("--seed", type=int, default=0, help="data and pattern seed (default 0)")
    parser.add_argument(
        "--generic-max-nnz",
        type=int,
        default=DEFAULT_GENERIC_MAX_NNZ,
        help="skip CVXPY solvers above this many cone nonzeros 2ndP (default %(default)s)",
    )
    parser.add_argument(
        "--admm-settings",
        type=_parse_json_object,
        default=None,
        help="JSON object of cvxnn.admm.solve_admm settings, or per size: "
        '\'{"*": {"time_limit": 600}, "50000,100,100": {"eps_abs": 1e-4, "eps_rel": 1e-4}}\'',
    )
    parser.add_argument(
        "--pyscnn-options",
        type=_parse_json_object,
        default=None,
        help="JSON object of keyword arguments for scnn.solvers.AL (e.g. '{\"tol\": 1e-8}')",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``cvxnn bench`` and ``benchmarks/run.py``; returns the exit code.

    Prints progress and the Markdown tables; writes ``--out`` (JSON) and ``--markdown``.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.lam > 0:
        parser.error(f"--lam must be positive; got {args.lam}")
    sizes = args.sizes or (list(QUICK_SIZES) if args.quick else list(DEFAULT_SIZES))
    if args.admm_settings:  # refuse unknown keys now (exit 2), not as a failed row of the table
        from cvxnn.admm import AdmmSettings
        from cvxnn.exceptions import CvxnnError

        for size in sizes:
            try:
                AdmmSettings.coerce(settings_for_size(args.admm_settings, size))
            except (CvxnnError, TypeError, ValueError) as exc:
                parser.error(f"--admm-settings: {exc}")
    timeout: dict[str, float | None] = {"*": 120.0 if args.quick else DEFAULT_TIMEOUT}
    timeout.update(args.timeout or [])
    if args.rescore is not None:
        try:
            saved = json.loads(args.rescore.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            parser.error(f"cannot read --rescore {args.rescore}: {exc}")
        for case in saved.get("cases", []):
            score_case(case)
        saved["rescored_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        out = args.out or args.rescore
        out.write_text(json.dumps(jsonable_report(saved), indent=1) + "\n")
        if args.markdown is not None:
            args.markdown.write_text(markdown_report(saved) + "\n")
        print(markdown_table(saved))
        return 0
    argv_list = list(sys.argv[1:] if argv is None else argv)
    command = "python benchmarks/run.py " + " ".join(shlex.quote(a) for a in argv_list)

    def save(report: dict[str, Any]) -> None:
        report["command"] = command
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(jsonable_report(report), indent=1) + "\n")
        if args.markdown is not None:
            args.markdown.parent.mkdir(parents=True, exist_ok=True)
            args.markdown.write_text(markdown_report(report) + "\n")

    report = run_suite(
        sizes,
        args.solvers,
        timeout=timeout,
        lam=args.lam,
        seed=args.seed,
        generic_max_nnz=args.generic_max_nnz,
        admm_settings=args.admm_settings,
        pyscnn_options=args.pyscnn_options,
        on_case=save,
    )
    save(report)
    print()
    print(markdown_table(report))
    if args.out is not None:
        print(f"raw results written to {args.out}")
    return 0


def jsonable_report(report: dict[str, Any]) -> Any:
    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): convert(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        if isinstance(value, np.generic):
            return convert(value.item())
        if isinstance(value, float) and not np.isfinite(value):
            return str(value)
        if isinstance(value, np.ndarray):
            return value.tolist()
        return value

    return convert(report)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
