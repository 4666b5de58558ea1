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

__all__ = ["loss_expression", "loss_gradient", "loss_per_sample", "loss_value"]


def loss_per_sample(yhat: np.ndarray, y: np.ndarray, loss: str) -> np.ndarray:
    """Per-sample loss values, shape (n,)."""
    loss = check_loss(loss)
    yhat = np.asarray(yhat, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if loss == "squared":
        return 0.5 * (yhat - y) ** 2
    margin = y * yhat
    if loss == "logistic":
        return np.logaddexp(0.0, -margin)
    return np.maximum(0.0, 1.0 - margin)


def loss_value(yhat: np.ndarray, y: np.ndarray, loss: str) -> float:
    """Total (summed) loss."""
    return float(np.sum(loss_per_sample(yhat, y, loss)))


def loss_gradient(yhat: np.ndarray, y: np.ndarray, loss: str) -> np.ndarray:
    r"""Derivative of each sample's loss with respect to its prediction, shape (n,).

    For the hinge loss this is the subgradient :math:`-y_k 1[y_k \hat y_k < 1]`.
    """
    loss = check_loss(loss)
    yhat = np.asarray(yhat, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if loss == "squared":
        return yhat - y
    margin = y * yhat
    if loss == "logistic":
        return -y / (1.0 + np.exp(np.clip(margin, -700.0, 700.0)))
    return np.where(margin < 1.0, -y, 0.0)


def loss_expression(yhat: cp.Expression, y: np.ndarray, loss: str) -> cp.Expression:
    """The summed loss as a convex (DCP) CVXPY expression of the predictions ``yhat``."""
    loss = check_loss(loss)
    if loss == "squared":
        return 0.5 * cp.sum_squares(yhat - y)
    margin = cp.multiply(y, yhat)
    if loss == "logistic":
        return cp.sum(cp.logistic(-margin))
    return cp.sum(cp.pos(1 - margin))
