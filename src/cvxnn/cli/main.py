"""The ``cvxnn`` parser and entry point: one subcommand per module, errors turned into exit codes."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cvxnn._version import __version__
from cvxnn.exceptions import CvxnnError

from . import attack, bench, fit, inspect, predict, verify
from .options import EXIT_FAILURE, EXIT_USAGE
from .output import OutputWriteError

__all__ = ["build_parser", "main"]

COMMANDS = (fit, predict, inspect, verify, attack, bench)


def build_parser() -> argparse.ArgumentParser:
    """The ``cvxnn`` argument parser (every subcommand sets ``func``)."""
    parser = argparse.ArgumentParser(
        prog="cvxnn",
        description="Globally optimal (convex) training of two-layer ReLU networks.",
        epilog="DATA: a .csv (last column the label), an .npz with X and y, or sklearn:NAME.",
    )
    parser.add_argument("--version", action="version", version=f"cvxnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 solver failure, 2 bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "bench":  # forwarded verbatim, options included
            return bench.run_argv(argv[1:])
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if getattr(args, "func", None) is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("cvxnn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `cvxnn inspect ... | head`: stop quietly, as Unix tools do
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except OutputWriteError as exc:  # the work is done but its result could not be written
        print(f"cvxnn: error: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    except CvxnnError as exc:
        print(f"cvxnn: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        import cvxpy as cp

        if isinstance(exc, cp.error.SolverError):
            print(f"cvxnn: solver failed: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        raise
