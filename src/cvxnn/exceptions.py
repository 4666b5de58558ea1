"""Exceptions and warnings raised by cvxnn.

Every error cvxnn raises on purpose derives from :class:`CvxnnError`. The subclasses also derive
from the built-in exception that fits (``ValueError`` or ``TypeError``), so code that catches the
built-ins keeps working. Failures *inside* a CVXPY solve surface as
``cvxpy.error.SolverError``, exactly as CVXPY raises them.
"""

from __future__ import annotations

__all__ = [
    "ConvergenceWarning",
    "CvxnnError",
    "InvalidInputError",
    "ModelFileError",
    "NotSolvedError",
    "PatternLimitError",
    "SolverUnavailableError",
    "UnsupportedProblemError",
]


class CvxnnError(Exception):
    """Base class of every error cvxnn raises on purpose."""


class InvalidInputError(CvxnnError, ValueError):
    """User input is malformed: non-finite values, wrong shapes or labels, bad parameters."""


class PatternLimitError(InvalidInputError):
    """Exact pattern enumeration would exceed the requested cap."""


class SolverUnavailableError(CvxnnError, ValueError):
    """The requested solver is unknown, not installed, or not licensed on this machine."""


class UnsupportedProblemError(CvxnnError, ValueError):
    """A solver or routine was asked to handle a program kind (or problem) it does not support."""


class NotSolvedError(CvxnnError, ValueError):
    """A result was requested from a program whose variables hold no solution yet."""


class ModelFileError(CvxnnError, ValueError):
    """A saved model file is missing, truncated, corrupted, or of an unsupported version."""


class ConvergenceWarning(UserWarning):
    """An iterative solver stopped before meeting its tolerances (the message quotes them)."""
