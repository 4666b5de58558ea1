"""Boundary checks for every public entry point.

Each function takes raw user input, returns a clean NumPy value, and raises an
:class:`~cvxnn.exceptions.InvalidInputError` whose message names the argument, says what was
wrong and what is allowed. Nothing here uses ``assert``.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .exceptions import InvalidInputError

__all__ = [
    "LABELLED_LOSSES",
    "LOSSES",
    "MAX_SAMPLED_PATTERNS",
    "add_bias_column",
    "as_real_array",
    "check_X",
    "check_beta",
    "check_eps",
    "check_loss",
    "check_matrix",
    "check_n_patterns",
    "check_norm",
    "check_positive_int",
    "check_positive_real",
    "check_rng",
    "check_y",
]

#: Losses every program builder accepts.
LOSSES: tuple[str, ...] = ("squared", "logistic", "hinge")
#: Losses that need labels in {-1, +1}.
LABELLED_LOSSES: tuple[str, ...] = ("logistic", "hinge")


def as_real_array(value: Any, name: str) -> np.ndarray:
    """``value`` as a float64 array; :class:`InvalidInputError` for None, non-numeric or complex
    input (NumPy would silently drop imaginary parts). Shape and finiteness are not checked."""
    return _as_float_array(value, name)


def _as_float_array(value: Any, name: str) -> np.ndarray:
    if value is None:
        raise InvalidInputError(f"{name} is None; expected a numeric array.")
    try:
        raw = value if isinstance(value, np.ndarray) else np.asarray(value)
        if raw.dtype.kind == "c" or (raw.dtype == object and any(isinstance(v, complex) for v in raw.flat)):
            raise InvalidInputError(
                f"{name} holds complex numbers (dtype {raw.dtype}); only real numbers are allowed "
                f"(pass {name}.real if the imaginary parts are meant to be dropped)."
            )
        arr = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError(
            f"{name} must be a numeric array (got {type(value).__name__}: {exc})."
        ) from None
    return arr


def _check_finite(arr: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(arr)):
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(np.isinf(arr).sum())
        raise InvalidInputError(
            f"{name} contains non-finite values ({n_nan} NaN, {n_inf} inf); only finite numbers are allowed."
        )


def check_matrix(value: Any, name: str) -> np.ndarray:
    """Return ``value`` as a finite float64 matrix with at least one row and one column."""
    arr = _as_float_array(value, name)
    if arr.ndim != 2:
        raise InvalidInputError(
            f"{name} must be a 2-D array of shape (n_samples, n_features); got {arr.ndim}-D "
            f"shape {arr.shape}."
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise InvalidInputError(f"{name} must have at least one row and one column; got {arr.shape}.")
    _check_finite(arr, name)
    return arr


def check_X(X: Any) -> np.ndarray:
    """Validate a data matrix ``X`` of shape (n, d): finite, float64, 2-D, non-empty."""
    return check_matrix(X, "X")


def check_loss(loss: Any) -> str:
    """Validate a loss name against :data:`LOSSES`."""
    if not isinstance(loss, str) or loss not in LOSSES:
        raise InvalidInputError(f"Unknown loss {loss!r}; allowed losses are {list(LOSSES)}.")
    return loss


def check_y(y: Any, n_samples: int, loss: str = "squared") -> np.ndarray:
    """Validate targets ``y`` for ``n_samples`` rows and the given loss.

    Accepts shape (n,) or (n, 1); returns shape (n,). For the losses in
    :data:`LABELLED_LOSSES` every label must be exactly -1 or +1.
    """
    loss = check_loss(loss)
    arr = _as_float_array(y, "y")
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InvalidInputError(f"y must be 1-D of length n_samples={n_samples}; got shape {arr.shape}.")
    if arr.shape[0] != n_samples:
        raise InvalidInputError(
            f"X and y disagree on the number of samples: X has {n_samples} rows, y has {arr.shape[0]}."
        )
    _check_finite(arr, "y")
    if loss in LABELLED_LOSSES:
        bad = ~np.isin(arr, (-1.0, 1.0))
        if np.any(bad):
            found = np.unique(arr[bad])[:5]
            raise InvalidInputError(
                f"The {loss} loss needs labels in {{-1, +1}}; y contains {found.tolist()}"
                f"{' and more' if np.unique(arr[bad]).size > 5 else ''}. Map your classes to -1/+1 "
                "(the estimators do this for you)."
            )
    return arr


def _check_real_scalar(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        if isinstance(value, np.ndarray) and value.ndim == 0 and np.issubdtype(value.dtype, np.number):
            value = value.item()
        else:
            raise InvalidInputError(f"{name} must be a real number; got {type(value).__name__} {value!r}.")
    value = float(value)
    if not np.isfinite(value):
        raise InvalidInputError(f"{name} must be finite; got {value}.")
    return value


def check_positive_real(value: Any, name: str, what: str = "") -> float:
    """Validate a finite real number > 0 (``bool`` is refused); ``what`` explains the argument."""
    value = _check_real_scalar(value, name)
    if value <= 0:
        raise InvalidInputError(f"{name} must be > 0{f' ({what})' if what else ''}; got {value}.")
    return value


def check_beta(beta: Any) -> float:
    """Validate the weight-decay parameter: a finite real number > 0."""
    return check_positive_real(beta, "beta", "the weight-decay strength")


def check_eps(eps: Any) -> float:
    """Validate the perturbation radius: a finite real number >= 0."""
    value = _check_real_scalar(eps, "eps")
    if value < 0:
        raise InvalidInputError(f"eps must be >= 0 (the perturbation radius); got {value}.")
    return value


def check_positive_int(value: Any, name: str) -> int:
    """Validate an integer >= 1 (``bool`` is refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidInputError(f"{name} must be an integer >= 1; got {type(value).__name__} {value!r}.")
    if value < 1:
        raise InvalidInputError(f"{name} must be an integer >= 1; got {value}.")
    return int(value)


#: Largest number of gates :func:`cvxnn.sample_patterns` draws (memory stays bounded by the
#: chunked sampling; this caps the time).
MAX_SAMPLED_PATTERNS = 10**8


def check_n_patterns(n_patterns: Any) -> int:
    """Validate a requested number of sampled patterns: an integer in [1, MAX_SAMPLED_PATTERNS]."""
    value = check_positive_int(n_patterns, "n_patterns")
    if value > MAX_SAMPLED_PATTERNS:
        raise InvalidInputError(
            f"n_patterns must be at most {MAX_SAMPLED_PATTERNS:.0e} gates to draw; got {value}. A sampled "
            "program rarely needs more than a few thousand; use enumerate_patterns for every pattern "
            "of a small data set."
        )
    return value


#: Perturbation norms accepted by the robust programs and attacks, with their canonical names.
_NORMS = {"inf": "inf", np.inf: "inf", "2": "2", 2: "2", "1": "1", 1: "1"}


def check_norm(norm: Any) -> str:
    """Validate a perturbation norm; return its canonical name ``"inf"``, ``"2"`` or ``"1"``."""
    key = norm
    if isinstance(norm, float) and np.isfinite(norm) and float(norm).is_integer():
        key = int(norm)
    if isinstance(norm, bool):
        key = None
    try:
        return _NORMS[key]
    except (KeyError, TypeError):
        raise InvalidInputError(
            f"Unknown perturbation norm {norm!r}; allowed are 'inf' (or numpy.inf), 2 and 1."
        ) from None


def check_rng(random_state: Any) -> np.random.Generator:
    """Turn ``None``, an int, a ``Generator`` or a ``RandomState`` into a ``Generator``."""
    if random_state is None or isinstance(random_state, numbers.Integral | np.random.SeedSequence):
        if isinstance(random_state, bool):
            raise InvalidInputError("random_state must be None, an int or a numpy Generator; got a bool.")
        if isinstance(random_state, numbers.Integral) and random_state < 0:
            raise InvalidInputError(f"random_state must be a non-negative int; got {random_state}.")
        return np.random.default_rng(random_state)
    if isinstance(random_state, np.random.Generator):
        return random_state
    if isinstance(random_state, np.random.RandomState):
        return np.random.default_rng(random_state.randint(0, 2**31 - 1))
    raise InvalidInputError(
        "random_state must be None, an int, a numpy.random.Generator or RandomState; "
        f"got {type(random_state).__name__}."
    )


def add_bias_column(X: np.ndarray, bias: bool) -> np.ndarray:
    """Append a column of ones to ``X`` when ``bias`` is true (the never-perturbed bias input)."""
    if not bias:
        return X
    return np.hstack([X, np.ones((X.shape[0], 1))])
