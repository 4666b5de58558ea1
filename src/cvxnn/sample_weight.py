r"""Per-sample loss weights: validation, and the rows a weighted fit keeps.

A weight :math:`s_k \ge 0` scales sample :math:`k`'s loss in the training program,
:math:`\sum_k s_k \ell(\hat y_k, y_k)` (:func:`cvxnn.losses.loss_expression`). An integer weight
is the same as repeating the row; a weight 0 is the same as removing the row, which
:func:`weighted_rows` does (a row kept with weight 0 would still constrain the ReLU program
through its activation pattern).
"""

from __future__ import annotations

import numpy as np

from .exceptions import InvalidInputError, UnsupportedProblemError

__all__ = ["check_sample_weight", "same_weights", "weighted_rows"]


def check_sample_weight(sample_weight: object, n: int) -> np.ndarray | None:
    """Validate per-sample loss weights: ``None``, or finite values >= 0 of shape (n,), not all 0.

    Returns a read-only float64 copy, or ``None`` for ``None``.
    """
    if sample_weight is None:
        return None
    try:
        w = np.array(sample_weight, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"sample_weight must be numbers, one per sample; got {type(sample_weight).__name__}."
        ) from None
    if w.ndim == 0:
        w = np.full(n, float(w))
    if w.shape != (n,):
        raise InvalidInputError(
            f"sample_weight must have shape ({n},), one weight per sample; got {w.shape}."
        )
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise InvalidInputError("sample_weight must be finite and >= 0.")
    if not np.any(w > 0):
        raise InvalidInputError("sample_weight is zero for every sample; at least one must be > 0.")
    w.flags.writeable = False
    return w


def weighted_rows(
    X: np.ndarray, y: np.ndarray, sample_weight: object, *, admm: bool = False, robust: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """The rows of positive weight and their weights, as an estimator's ``fit`` uses them.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    y : ndarray of shape (n,)
    sample_weight : array_like of shape (n,) or None
    admm, robust : bool
        The fit uses the ADMM / the robust program, which take no weights: refused unless every
        positive weight is 1.

    Returns
    -------
    X, y : ndarray
        The rows of positive weight.
    w : ndarray of shape (n_kept,) or None
        Their weights, ``None`` when all are 1 (or ``sample_weight`` is ``None``).
    """
    w = check_sample_weight(sample_weight, X.shape[0])
    if w is None:
        return X, y, None
    keep = w > 0
    w = w[keep]
    if np.all(w == 1):
        return X[keep], y[keep], None
    if admm:
        raise UnsupportedProblemError(
            "The ADMM does not take sample weights; use solver='clarabel' (or another CVXPY solver), "
            "or integer weights as repeated rows."
        )
    if robust:
        raise UnsupportedProblemError(
            "sample_weight is not supported with eps > 0 (the robust program); use eps=0, or integer "
            "weights as repeated rows."
        )
    return X[keep], y[keep], w


def same_weights(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    """True when two weight vectors (or ``None``, all ones) are equal."""
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(np.array_equal(a, b))
