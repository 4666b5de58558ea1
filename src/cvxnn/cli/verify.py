"""``cvxnn verify``: solve a program of ``fit``'s kind with several solvers and cross-check them.

The data path and the program options are those of ``fit`` and ``inspect`` (same defaults).
The program is built on the standardized training split, on a random subset of at most
``--max-samples`` rows of it (solvers must fit small licenses), over patterns sampled as
``fit --patterns N`` samples them (``--patterns``, default 16) or enumerated: the pattern search
that ``fit`` runs by default is not repeated, since verification is about the solvers.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

from cvxnn.verification import verify

from .data import first_program, prepare
from .options import (
    EXIT_FAILURE,
    EXIT_OK,
    add_data_options,
    add_pattern_source_options,
    add_program_options,
    nonneg_int,
    positive_float,
)
from .output import check_outputs, write_text

__all__ = ["add_parser", "run"]


def run(args: argparse.Namespace) -> int:
    """Run ``cvxnn verify``: print the report; 0 on agreement, 1 otherwise (2 on bad input)."""
    check_outputs({"--report": args.report}, {"DATA": args.data})
    prep = prepare(args)
    X, y = prep.X_train, prep.y_train
    if args.max_samples and X.shape[0] > args.max_samples:
        rng = np.random.default_rng(args.seed)
        idx = np.sort(rng.choice(X.shape[0], size=args.max_samples, replace=False))
        X, y = X[idx], y[idx]
    program, _ = first_program(
        args,
        X,
        y,
        prep.classification,
        exact=args.exact,
        max_patterns=args.max_patterns,
        quiet=True,
    )
    report = verify(program, solvers=args.solvers, include_admm=not args.no_admm, rtol=args.rtol)
    scaled = "standardized" if prep.scaler is not None else "as given"
    print(f"data: {prep.data.name}, {X.shape[0]} training samples ({scaled})")
    print(report)
    if args.report:
        write_text(args.report, report.to_json() + "\n")
    if args.strict and report.agree and not report.strict_agree:
        print(f"cvxnn: --strict: {', '.join(report.worked_around)} disagree (worked around)", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK if report.agree else EXIT_FAILURE


def add_parser(sub: Any) -> None:
    """Add ``cvxnn verify`` to the subparsers ``sub``."""
    p = sub.add_parser(
        "verify",
        help="solve the program fit --patterns N would solve with several solvers; check they agree",
        description=(
            "Build the program `fit --patterns N` would solve on DATA (first one-vs-rest problem, on at most "
            "--max-samples training rows), solve it with every usable solver (or those named) and "
            "print a cross-check table. Exits 1 when the solvers disagree, 2 on bad input. A "
            "disagreement caused by the known CVXPY implied-bounds defect, which cvxnn's own solve "
            "path avoids, is a warning (exit 0; exit 1 with --strict)."
        ),
    )
    add_data_options(p)
    add_program_options(p)
    add_pattern_source_options(p)
    p.add_argument(
        "--solvers", default=None, help="comma-separated solver names, e.g. CLARABEL,ECOS,GUROBI,ADMM"
    )
    p.add_argument("--no-admm", action="store_true", help="do not run the ADMM with the default solver set")
    p.add_argument(
        "--max-samples",
        type=nonneg_int,
        default=40,
        help="a random subset of at most this many training rows (40; 0 = all)",
    )
    p.add_argument(
        "--rtol", type=positive_float, default=None, help="one relative objective tolerance for all solvers"
    )
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 1 on any disagreement, also one cvxnn works around (the CVXPY implied-bounds defect)",
    )
    p.add_argument("--report", "--json", metavar="PATH", help="also write the report as JSON here")
    p.set_defaults(func=run)
