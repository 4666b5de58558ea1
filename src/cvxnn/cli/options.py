"""Exit codes, option types and the option groups every command shares.

One data group (``DATA``, ``--task``, ``--test-size``, ``--seed``, ``--no-standardize``) and one
program group (``--formulation``, ``--loss``, ``--patterns``, ``--beta``, ``--eps``, ``--norm``,
``--bias``) serve ``fit``, ``inspect`` and ``verify``, so the three commands build the same
program from the same command line.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

__all__ = [
    "EXIT_FAILURE",
    "EXIT_OK",
    "EXIT_USAGE",
    "add_data_options",
    "add_pattern_source_options",
    "add_program_options",
    "fraction",
    "nonneg_float",
    "nonneg_int",
    "positive_float",
    "positive_int",
    "seed",
    "solver_option",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


def number_type(kind: type, allowed: str, ok: Any) -> Any:
    """An argparse ``type`` converting to ``kind`` and keeping values where ``ok(value)`` holds.

    Parameters
    ----------
    kind : type
        ``int`` or ``float``.
    allowed : str
        What is allowed, for the error message (``"an integer >= 1"``).
    ok : callable
        ``ok(value) -> bool``.
    """

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}")
        return value

    return convert


positive_int = number_type(int, "an integer >= 1", lambda v: v >= 1)
nonneg_int = number_type(int, "an integer >= 0", lambda v: v >= 0)
seed = number_type(int, "an integer in [0, 2**32 - 1]", lambda v: 0 <= v < 2**32)
positive_float = number_type(float, "a finite number > 0", lambda v: 0 < v < np.inf)
nonneg_float = number_type(float, "a finite number >= 0", lambda v: 0 <= v < np.inf)
fraction = number_type(float, "a number in [0, 1)", lambda v: 0 <= v < 1)


def solver_option(text: str) -> tuple[str, Any]:
    """Parse ``KEY=VALUE`` (VALUE as JSON when it parses, else the string)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


def add_data_options(p: argparse.ArgumentParser) -> None:
    """``DATA``, ``--task``, ``--test-size``, ``--seed``, ``--no-standardize``."""
    p.add_argument(
        "data", metavar="DATA", help="a .csv (last column the label), an .npz (X, y) or sklearn:NAME"
    )
    p.add_argument(
        "--task",
        choices=("auto", "classification", "regression"),
        default="auto",
        help="auto: classification when the labels look like classes (default)",
    )
    p.add_argument("--test-size", type=fraction, default=0.25, help="held-out fraction, 0 for none (0.25)")
    p.add_argument("--seed", type=seed, default=0, help="seed of the split and the patterns (0)")
    p.add_argument(
        "--no-standardize", action="store_true", help="use the features as they are (default: standardize)"
    )


def add_program_options(p: argparse.ArgumentParser) -> None:
    """``--formulation``, ``--loss``, ``--patterns``, ``--beta``, ``--eps``, ``--norm``, ``--bias``."""
    p.add_argument(
        "--formulation",
        choices=("relu", "gated", "scp"),
        default="relu",
        help="relu (CVX, robust with --eps > 0), gated relaxation, or SCP (default relu)",
    )
    p.add_argument("--loss", choices=("squared", "logistic", "hinge"), default="squared", help="(squared)")
    p.add_argument("--patterns", type=positive_int, default=16, metavar="N", help="patterns to sample (16)")
    p.add_argument("--beta", type=positive_float, default=1.0, help="weight decay > 0 (1.0)")
    p.add_argument("--eps", type=nonneg_float, default=0.0, help="adversarial radius, 0 = nominal (0)")
    p.add_argument("--norm", choices=("inf", "2", "1"), default="inf", help="perturbation norm (inf)")
    p.add_argument(
        "--bias", action=argparse.BooleanOptionalAction, default=True, help="hidden biases (default on)"
    )


def add_pattern_source_options(p: argparse.ArgumentParser) -> None:
    """``--exact`` and ``--max-patterns`` (enumerate every pattern instead of sampling)."""
    p.add_argument("--exact", action="store_true", help="enumerate every pattern instead of sampling")
    p.add_argument("--max-patterns", type=positive_int, default=5000, help="cap for --exact (5000)")
