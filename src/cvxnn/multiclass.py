r"""Attacks on classifiers of one or several networks (binary, or one-vs-rest).

A binary classifier is one network :math:`f`, class ``classes[1]`` where :math:`f(x) > 0`. A
one-vs-rest classifier of :math:`K > 2` classes is :math:`K` networks :math:`f_1, \dots, f_K`
and predicts :math:`\arg\max_k f_k(x)`. For a point of class :math:`c` its *margin* is

.. math::
    m_c(x) = f_c(x) - \max_{j \ne c} f_j(x),

and the point is misclassified exactly when :math:`m_c(x) \le 0`, i.e. when some competitor
:math:`j` has :math:`f_c(x) - f_j(x) \le 0`. Each difference :math:`f_c - f_j` is itself a
two-layer network (:func:`difference_network`: the hidden units of both, the output weights of
:math:`f_j` negated), so the existing attacks of :mod:`cvxnn.attacks` apply to it with label
:math:`+1`: :func:`classifier_robust_accuracy` runs one such attack per competitor and counts a
point as robust when it is classified correctly at the clean point and at every attacked point.
This is an attack-based (empirical) upper bound on the true robust accuracy, like
:func:`cvxnn.attacks.robust_accuracy`, which it equals for a binary classifier.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .attacks import fgsm, pgd, robust_accuracy
from .exceptions import InvalidInputError
from .recovery import GatedReLUNetwork, ReLUNetwork

__all__ = ["class_indices", "classifier_robust_accuracy", "difference_network", "ovr_predict"]

Network = ReLUNetwork | GatedReLUNetwork


def difference_network(a: Network, b: Network) -> Network:
    r"""The network :math:`x \mapsto a(x) - b(x)`, of the same type as ``a`` and ``b``.

    ReLU: :math:`U = [U_a, U_b]`, :math:`b = [b_a, b_b]`, :math:`\alpha = [\alpha_a, -\alpha_b]`.
    Gated: gates :math:`[G_a, G_b]`, weights :math:`[U_a, -U_b]` (same ``bias``).
    """
    if isinstance(a, ReLUNetwork) and isinstance(b, ReLUNetwork):
        return ReLUNetwork(
            U=np.hstack([a.U, b.U]), b=np.concatenate([a.b, b.b]), alpha=np.concatenate([a.alpha, -b.alpha])
        )
    if isinstance(a, GatedReLUNetwork) and isinstance(b, GatedReLUNetwork) and a.bias == b.bias:
        return GatedReLUNetwork(gates=np.hstack([a.gates, b.gates]), U=np.hstack([a.U, -b.U]), bias=a.bias)
    raise InvalidInputError(
        f"difference_network needs two networks of one type (and bias); got {type(a).__name__} and "
        f"{type(b).__name__}."
    )


def ovr_predict(networks: list[Network], X: np.ndarray) -> np.ndarray:
    """Index of the predicted class, :math:`\\arg\\max_k f_k(x)`, shape (n,)."""
    return np.argmax(np.column_stack([net.predict(X) for net in networks]), axis=1)


def class_indices(y: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Position of each label of ``y`` in ``classes``; labels the model was not trained on are refused."""
    classes = np.asarray(classes)
    present = np.unique(y)
    unknown = present[~np.isin(present, classes)]
    if unknown.size:
        raise InvalidInputError(
            f"The data has labels {unknown[:5].tolist()} the model was not trained on (its classes: "
            f"{classes.tolist()})."
        )
    lookup = {value: k for k, value in enumerate(classes.tolist())}
    return np.array([lookup[value] for value in np.asarray(y).tolist()], dtype=int)


def classifier_robust_accuracy(
    networks: list[Network],
    classes: np.ndarray,
    X: np.ndarray,
    y: np.ndarray,
    *,
    eps: float,
    norm: Any = "inf",
    attack: str = "pgd",
    **attack_kwargs: Any,
) -> float:
    """Fraction of points classified correctly at the clean point and under attack.

    Parameters
    ----------
    networks : list of ReLUNetwork or GatedReLUNetwork
        One network (binary: positive output means ``classes[1]``) or one per class (one-vs-rest).
    classes : ndarray of shape (2,) or (K,)
        The class labels.
    X : ndarray of shape (n, d)
    y : ndarray of shape (n,)
        Labels, values of ``classes``.
    eps : float
        Radius, >= 0.
    norm : {"inf", 2, 1}
    attack : {"pgd", "fgsm"}
    **attack_kwargs
        Passed to :func:`cvxnn.attacks.pgd` (``steps``, ``restarts``, ``random_state``, ...).

    Returns
    -------
    float
        Robust accuracy in [0, 1]; for one network it is :func:`cvxnn.attacks.robust_accuracy` on
        labels :math:`\\pm 1`.
    """
    classes = np.asarray(classes)
    index = class_indices(np.asarray(y), classes)
    if len(networks) == 1:
        y_pm = np.where(index == 1, 1.0, -1.0)
        return robust_accuracy(networks[0], X, y_pm, eps=eps, norm=norm, attack=attack, **attack_kwargs)
    if attack not in ("pgd", "fgsm"):
        raise InvalidInputError(f"attack must be 'pgd' or 'fgsm'; got {attack!r}.")
    ok = ovr_predict(networks, X) == index
    for c in range(len(networks)):
        rows = np.flatnonzero(ok & (index == c))
        for j in range(len(networks)):
            if j == c or rows.size == 0:
                continue
            margin = difference_network(networks[c], networks[j])
            ones = np.ones(rows.size)
            if attack == "pgd":
                X_adv = pgd(margin, X[rows], ones, eps=eps, norm=norm, loss="hinge", **attack_kwargs)
            else:
                X_adv = fgsm(margin, X[rows], ones, eps=eps, norm=norm, loss="hinge")
            held = ovr_predict(networks, X_adv) == c
            ok[rows[~held]] = False
            rows = rows[held]
    return float(np.mean(ok))
