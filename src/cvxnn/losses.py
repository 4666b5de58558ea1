r"""The three training losses, as NumPy functions and as CVXPY expressions.

All losses are *summed* over samples (no ``1/n``), on predictions :math:`\hat y \in \mathbb R^n`:

- ``"squared"``: :math:`\tfrac12\|\hat y - y\|_2^2`;
- ``"logistic"``: :math:`\sum_k \log(1 + e^{-y_k \hat y_k})`, labels in {-1, +1};
- ``"hinge"``: :math:`\sum_k (1 - y_k \hat y_k)_+`, labels in {-1, +1}.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np

from ._validation import check_loss
from .enums import Loss

__all__ = ["loss_expression", "loss_gradient", "loss_per_sample", "loss_value"]


def loss_per_sample(yhat: np.ndarray, y: np.ndarray, loss: str) -> np.ndarray:
    """Per-sample loss values, shape (n,)."""
    loss = check_loss(loss)
    yhat = np.asarray(yhat, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if loss == Loss.SQUARED:
        return 0.5 * (yhat - y) ** 2
    margin = y * yhat
    if loss == Loss.LOGISTIC:
        return np.logaddexp(0.0, -margin)
    return np.maximum(0.0, 1.0 - margin)


def loss_value(yhat: np.ndarray, y: np.ndarray, loss: str, sample_weight: np.ndarray | None = None) -> float:
    r"""Total (summed) loss, :math:`\sum_k s_k \ell(\hat y_k, y_k)` with ``sample_weight`` :math:`s`
    (shape (n,), default all ones)."""
    per_sample = loss_per_sample(yhat, y, loss)
    if sample_weight is not None:
        per_sample = np.asarray(sample_weight, dtype=np.float64) * per_sample
    return float(np.sum(per_sample))


def loss_gradient(
    yhat: np.ndarray, y: np.ndarray, loss: str, sample_weight: np.ndarray | None = None
) -> np.ndarray:
    r"""Derivative of each sample's (weighted) loss with respect to its prediction, shape (n,).

    For the hinge loss this is the subgradient :math:`-y_k 1[y_k \hat y_k < 1]`. With
    ``sample_weight`` :math:`w` (n,) it is :math:`w_k \ell'(\hat y_k)`, the gradient of the
    weighted summed loss (the dual point of the weighted program).
    """
    loss = check_loss(loss)
    yhat = np.asarray(yhat, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if loss == Loss.SQUARED:
        grad = yhat - y
    elif loss == Loss.LOGISTIC:
        grad = -y / (1.0 + np.exp(np.clip(y * yhat, -700.0, 700.0)))
    else:
        grad = np.where(y * yhat < 1.0, -y, 0.0)
    return grad if sample_weight is None else sample_weight * grad


def loss_expression(
    yhat: cp.Expression, y: np.ndarray, loss: str, sample_weight: np.ndarray | None = None
) -> cp.Expression:
    r"""The summed loss as a convex (DCP) CVXPY expression of the predictions ``yhat``.

    With ``sample_weight`` :math:`s \ge 0` (shape (n,)) each sample's loss is scaled by
    :math:`s_k`; the squared loss is written :math:`\tfrac12\|\sqrt{s}\circ(\hat y - y)\|_2^2`
    so that it stays a quadratic program.
    """
    loss = check_loss(loss)
    w = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if loss == Loss.SQUARED:
        residual = yhat - y if w is None else cp.multiply(np.sqrt(w), yhat - y)
        return 0.5 * cp.sum_squares(residual)
    margin = cp.multiply(y, yhat)
    per_sample = cp.logistic(-margin) if loss == Loss.LOGISTIC else cp.pos(1 - margin)
    return cp.sum(per_sample) if w is None else cp.sum(cp.multiply(w, per_sample))
