"""``cvxnn bench``: the benchmark harness (:mod:`cvxnn_bench`), its options forwarded verbatim."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

__all__ = ["add_parser", "run", "run_argv"]


def run_argv(argv: Sequence[str]) -> int:
    """Run the benchmark's own command line on ``argv``; returns its exit code."""
    from cvxnn_bench import main as bench_main  # an application: imported only when asked for

    return int(bench_main(list(argv)) or 0)


def run(args: argparse.Namespace) -> int:
    """Run ``cvxnn bench`` from a parsed namespace (the rest of the command line in ``args.rest``)."""
    return run_argv(args.rest)


def add_parser(sub: Any) -> None:
    """Add ``cvxnn bench`` to the subparsers ``sub`` (its options are the harness's own)."""
    bench = sub.add_parser("bench", help="run the benchmark suite (cvxnn bench --help)", add_help=False)
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(func=run)
