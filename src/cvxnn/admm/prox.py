r"""Proximal operators of the losses (the z-step) and of the regularizers (the v-step).

Cone projections (the v-step of ``cone_method="projection"``) are in :mod:`cvxnn.admm.cones`.
"""

from __future__ import annotations

import numpy as np

from ..enums import Loss

__all__ = ["prox_group_l2", "prox_hinge", "prox_l1", "prox_logistic", "prox_loss"]


def prox_hinge(t: np.ndarray, y: np.ndarray, step: float) -> np.ndarray:
    r"""``argmin_z sum (1 - y z)_+ + ||z - t||^2 / (2 step)`` for labels ``y`` in {-1, +1}."""
    m = y * t
    q = np.where(m >= 1.0, m, np.where(m + step <= 1.0, m + step, 1.0))
    return y * q


def prox_logistic(t: np.ndarray, y: np.ndarray, step: float, z0: np.ndarray | None = None) -> np.ndarray:
    r"""``argmin_z sum log(1 + exp(-y z)) + ||z - t||^2 / (2 step)`` by safeguarded Newton.

    In the margin ``q = y z`` the optimality condition is ``(q - m)/step - sigmoid(-q) = 0``
    (``m = y t``), a function with derivative in ``[1/step, 1/step + 1/4]``: Newton contracts
    by at least ``(1/4) / (1/step + 1/4)`` per step from anywhere and converges quadratically
    near the root. The root lies in ``[m, m + step]``; iterates are clipped to it.
    """
    m = y * t
    q = np.clip(y * z0, m, m + step) if z0 is not None else m + 0.5 * step
    inv = 1.0 / step
    for _ in range(50):
        sig = 0.5 * (1.0 + np.tanh(-0.5 * q))  # sigmoid(-q), stable
        g = (q - m) * inv - sig
        h = inv + sig * (1.0 - sig)
        dq = g / h
        q = np.clip(q - dq, m, m + step)
        if float(np.max(np.abs(dq))) <= 1e-13 * (1.0 + float(np.max(np.abs(q)))):
            break
    return y * q


def prox_loss(loss: str, t: np.ndarray, y: np.ndarray, step: float, z0: np.ndarray | None) -> np.ndarray:
    if loss == Loss.HINGE:
        return prox_hinge(t, y, step)
    return prox_logistic(t, y, step, z0)


def prox_l1(T: np.ndarray, thresh: float) -> np.ndarray:
    r"""Elementwise soft-threshold :math:`\operatorname{sign}(t)(|t| - \tau)_+`
    (prox of :math:`\tau\|\cdot\|_1`).
    """
    return np.sign(T) * np.maximum(np.abs(T) - thresh, 0.0)


def prox_group_l2(T: np.ndarray, thresh: float) -> np.ndarray:
    r"""Column-wise group soft-threshold :math:`(1 - \tau/\|t_j\|)_+ t_j`
    (prox of :math:`\tau\sum_j\|t_j\|_2`).
    """
    norms = np.linalg.norm(T, axis=0)
    scale = np.maximum(0.0, 1.0 - thresh / np.where(norms > 0, norms, 1.0))
    scale[norms == 0] = 0.0
    return T * scale
