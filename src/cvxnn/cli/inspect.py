"""``cvxnn inspect``: build the program ``fit`` would solve and describe it."""

from __future__ import annotations

import argparse
from typing import Any

from .data import first_program, prepare
from .options import EXIT_OK, add_data_options, add_pattern_source_options, add_program_options

__all__ = ["add_parser", "run"]


def admm_support(kind: str) -> str:
    """``"yes"``, or ``"no (it supports ...)"`` for a program kind the ADMM does not take."""
    from cvxnn.admm import SUPPORTED_KINDS

    return "yes" if kind in SUPPORTED_KINDS else f"no (it supports {', '.join(SUPPORTED_KINDS)})"


def run(args: argparse.Namespace) -> int:
    """Run ``cvxnn inspect``: print the program's summary, its solvers and the ADMM's support."""
    prep = prepare(args)
    program, n_programs = first_program(
        args,
        prep.X_train,
        prep.y_train,
        prep.classification,
        exact=args.exact,
        max_patterns=args.max_patterns,
        quiet=args.quiet,
    )
    print(program.summary())
    if n_programs > 1:
        print(f"  one-vs-rest  {n_programs} programs like this one (one per class), sharing the patterns")
    print(f"  compatible   {', '.join(program.compatible_solvers()) or 'none of the installed solvers'}")
    print(f"  ADMM         {admm_support(program.kind)}")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """Add ``cvxnn inspect`` to the subparsers ``sub``."""
    ins = sub.add_parser(
        "inspect",
        help="print the convex program and the solvers that can take it",
        description="Build the program `fit` would solve (first one-vs-rest problem) and describe it.",
    )
    add_data_options(ins)
    add_program_options(ins)
    add_pattern_source_options(ins)
    ins.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    ins.set_defaults(func=run)
