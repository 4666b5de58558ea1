r"""Adversarial attacks on two-layer ReLU networks, with closed-form input gradients.

The networks are :class:`~cvxnn.recovery.ReLUNetwork`,
:math:`f(x) = \sum_j (x^T u_j + b_j)_+ \alpha_j`, and (optionally)
:class:`~cvxnn.recovery.GatedReLUNetwork`. Both are piecewise linear in :math:`x`, so the input
gradient is available in closed form (no autograd):

.. math::
    \nabla_x f(x) = U \operatorname{diag}\big(1[x^T U + b > 0]\big)\, \alpha,
    \qquad
    \nabla_x \ell(f(x), y) = \ell'(f(x), y)\, \nabla_x f(x),

with :math:`\ell'` from :func:`cvxnn.losses.loss_gradient` (the hinge loss uses the subgradient
:math:`-y\,1[y f < 1]`; a ReLU at exactly zero counts as inactive). For a gated network
:math:`\nabla_x f(x) = \sum_i 1[x'^T g_i \ge 0]\, u_i` (the first ``d`` entries of ``u_i``).

Threat model: each point :math:`x_k` may move to any :math:`x_k + \delta_k` with
:math:`\|\delta_k\|_p \le \varepsilon`, ``norm`` :math:`p \in \{\infty, 2, 1\}`, as in the
robust programs (docs/math.md). No box constraint (e.g. pixels in [0, 1]) is imposed, matching
the robust programs' certificate.

Ascent direction. Every loss is a nondecreasing function of a scalar *attack objective*
:math:`\phi_k(x)`: :math:`\phi_k = -y_k f(x)` for ``"hinge"`` and ``"logistic"`` and
:math:`\phi_k = |f(x) - y_k|` for ``"squared"``. The attacks ascend :math:`\phi_k` (the same
steepest-ascent direction as the loss wherever the loss gradient is nonzero, and still
informative where the hinge loss is flat at zero) and keep, per point, the iterate with the
largest :math:`\phi_k`, hence the largest loss.

Steepest-ascent steps (maximizers of :math:`g^T\delta` over the unit ball of the norm):
:math:`\operatorname{sign}(g)` for :math:`\ell_\infty`, :math:`g / \|g\|_2` for :math:`\ell_2`,
and :math:`\operatorname{sign}(g_j) e_j` with :math:`j = \arg\max_i |g_i|` for :math:`\ell_1`.
Projections onto the ball around the clean point are exact: clipping, radial scaling, and the
sort-based :math:`\ell_1` projection (Duchi et al. 2008).

FGSM (Goodfellow et al. 2015) takes one step of length :math:`\varepsilon`. PGD (Madry et al.
2018) takes ``steps`` projected steps; its first restart starts at the FGSM point and further
restarts start uniformly at random in the ball. The clean point and every iterate are
candidates, so PGD's loss is, per point, at least the clean loss and at least FGSM's loss.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validation import (
    check_eps,
    check_loss,
    check_matrix,
    check_norm,
    check_positive_int,
    check_positive_real,
    check_rng,
    check_y,
)
from .enums import Loss, PerturbationNorm
from .exceptions import InvalidInputError
from .losses import loss_gradient, loss_per_sample
from .recovery import GatedReLUNetwork, ReLUNetwork

__all__ = [
    "ATTACKS",
    "fgsm",
    "input_gradient",
    "pgd",
    "robust_accuracy",
    "worst_case_loss",
]

#: Attack names accepted by :func:`robust_accuracy` and :func:`worst_case_loss`.
ATTACKS: tuple[str, ...] = ("pgd", "fgsm")

Network = ReLUNetwork | GatedReLUNetwork


# --------------------------------------------------------------------------- validation
def _check_network(network: Any) -> Network:
    if not isinstance(network, ReLUNetwork | GatedReLUNetwork):
        raise InvalidInputError(
            "network must be a cvxnn ReLUNetwork or GatedReLUNetwork (e.g. program.network()); "
            f"got {type(network).__name__}."
        )
    return network


def _check_data(network: Network, X: Any, y: Any, loss: Any) -> tuple[np.ndarray, np.ndarray, str]:
    loss = check_loss(loss)
    X = check_matrix(X, "X")
    if X.shape[1] != network.n_features:
        raise InvalidInputError(
            f"X has {X.shape[1]} features but the network takes {network.n_features} inputs."
        )
    y = check_y(y, X.shape[0], loss)
    return X, y, loss


def _check_attack(
    network: Any, X: Any, y: Any, loss: Any, eps: Any, norm: Any
) -> tuple[Network, np.ndarray, np.ndarray, str, float, str]:
    """Validate the arguments :func:`fgsm` and :func:`pgd` share."""
    network = _check_network(network)
    X, y, loss = _check_data(network, X, y, loss)
    return network, X, y, loss, check_eps(eps), check_norm(norm)


# --------------------------------------------------------------------------- forward / gradients
def _forward(network: Network, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Outputs :math:`f(X)` (n,) and input gradients :math:`\nabla_x f` (n, d), in closed form."""
    if isinstance(network, ReLUNetwork):
        H = X @ network.U + network.b
        active = H > 0
        f = np.where(active, H, 0.0) @ network.alpha
        J = (active * network.alpha) @ network.U.T
        return f, J
    d = network.n_features
    Xa = np.hstack([X, np.ones((X.shape[0], 1))]) if network.bias else X
    gate = (Xa @ network.gates >= 0).astype(np.float64)
    f = np.sum(gate * (Xa @ network.U), axis=1)
    J = gate @ network.U[:d].T
    return f, J


def _objective_sign(f: np.ndarray, y: np.ndarray, loss: str) -> tuple[np.ndarray, np.ndarray]:
    """Attack objective phi (n,) and the sign s with grad phi = s * grad f."""
    if loss == Loss.SQUARED:
        r = f - y
        return np.abs(r), np.where(r >= 0, 1.0, -1.0)
    return -y * f, -y


def input_gradient(network: Network, X: Any, y: Any, loss: str = Loss.SQUARED) -> np.ndarray:
    r"""Gradient of each sample's loss with respect to its input, in closed form.

    .. math::
        \nabla_{x_k} \ell(f(x_k), y_k) = \ell'(f(x_k), y_k)\; U \operatorname{diag}
        \big(1[x_k^T U + b > 0]\big)\, \alpha

    (a gated network uses its fixed gates instead of the ReLU's activation). Exact wherever no
    pre-activation (gate) is zero and, for the hinge loss, :math:`y_k f(x_k) \ne 1`.

    Parameters
    ----------
    network : ReLUNetwork or GatedReLUNetwork
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
        Targets; labels in {-1, +1} for ``"logistic"`` and ``"hinge"``.
    loss : {"squared", "logistic", "hinge"}

    Returns
    -------
    ndarray, shape (n, d)
        Row ``k`` is the gradient of sample ``k``'s loss.
    """
    network = _check_network(network)
    X, y, loss = _check_data(network, X, y, loss)
    f, J = _forward(network, X)
    return loss_gradient(f, y, loss)[:, None] * J


# --------------------------------------------------------------------------- norm geometry
def _steepest(G: np.ndarray, norm: str) -> np.ndarray:
    """Row-wise maximizer of g^T delta over the unit ball of ``norm`` (0 where g = 0)."""
    if norm == PerturbationNorm.INF:
        return np.sign(G)
    if norm == "2":
        nrm = np.linalg.norm(G, axis=1, keepdims=True)
        return np.divide(G, nrm, out=np.zeros_like(G), where=nrm > 0)
    out = np.zeros_like(G)
    rows = np.arange(G.shape[0])
    j = np.argmax(np.abs(G), axis=1)
    out[rows, j] = np.sign(G[rows, j])
    return out


def _project_l1(delta: np.ndarray, eps: float) -> np.ndarray:
    """Row-wise Euclidean projection onto the l1 ball of radius eps (Duchi et al. 2008)."""
    a = np.abs(delta)
    outside = a.sum(axis=1) > eps
    if not np.any(outside):
        return delta
    A = a[outside]
    u = -np.sort(-A, axis=1)
    css = np.cumsum(u, axis=1) - eps
    idx = np.arange(1, A.shape[1] + 1)
    rho = np.sum(u - css / idx > 0, axis=1)  # u - css/idx is positive exactly on a prefix
    theta = css[np.arange(A.shape[0]), rho - 1] / rho
    out = delta.copy()
    out[outside] = np.sign(delta[outside]) * np.maximum(A - theta[:, None], 0.0)
    return out


def _project(delta: np.ndarray, eps: float, norm: str) -> np.ndarray:
    """Row-wise projection of perturbations onto the ``norm`` ball of radius ``eps``."""
    if norm == PerturbationNorm.INF:
        return np.clip(delta, -eps, eps)
    if norm == "2":
        nrm = np.linalg.norm(delta, axis=1, keepdims=True)
        return delta * np.minimum(1.0, eps / np.maximum(nrm, np.finfo(float).tiny))
    return _project_l1(delta, eps)


def _random_in_ball(rng: np.random.Generator, shape: tuple[int, int], eps: float, norm: str) -> np.ndarray:
    """Points drawn uniformly from the ``norm`` ball of radius ``eps`` (one per row)."""
    n, d = shape
    if norm == PerturbationNorm.INF:
        return rng.uniform(-eps, eps, size=shape)
    if norm == "2":
        z = rng.standard_normal(shape)
        z /= np.maximum(np.linalg.norm(z, axis=1, keepdims=True), np.finfo(float).tiny)
        return z * (eps * rng.uniform(size=(n, 1)) ** (1.0 / d))
    # uniform in the l1 ball: the first d coordinates of a Dirichlet(1, ..., 1) in d + 1 dims, signed
    e = rng.exponential(size=(n, d + 1))
    w = e[:, :d] / e.sum(axis=1, keepdims=True)
    return eps * w * rng.choice([-1.0, 1.0], size=shape)


# --------------------------------------------------------------------------- attacks
def fgsm(
    network: Network,
    X: Any,
    y: Any,
    *,
    eps: float,
    norm: Any = PerturbationNorm.INF,
    loss: str = Loss.SQUARED,
) -> np.ndarray:
    r"""Fast gradient (sign) method: one steepest-ascent step of length ``eps``.

    .. math::
        x_k^{adv} = x_k + \varepsilon\, \arg\max_{\|s\|_p \le 1} s^T \nabla_x \phi_k(x_k)

    i.e. :math:`x_k + \varepsilon\operatorname{sign}(g_k)` for :math:`\ell_\infty` (Goodfellow et
    al. 2015), :math:`x_k + \varepsilon g_k/\|g_k\|_2` for :math:`\ell_2`, and a single
    coordinate step for :math:`\ell_1`, with :math:`g_k` the gradient of the attack objective
    (see the module docstring). Points with a zero gradient do not move.

    Parameters
    ----------
    network : ReLUNetwork or GatedReLUNetwork
    X : array_like, shape (n, d)
        Clean inputs.
    y : array_like, shape (n,)
        Targets (labels in {-1, +1} for ``"logistic"`` and ``"hinge"``).
    eps : float
        Radius, >= 0.
    norm : {"inf", numpy.inf, 2, 1}
    loss : {"squared", "logistic", "hinge"}

    Returns
    -------
    ndarray, shape (n, d)
        Adversarial inputs, each within ``eps`` of its clean point in ``norm``.
    """
    network, X, y, loss, eps, norm = _check_attack(network, X, y, loss, eps, norm)
    if eps == 0:
        return X.copy()
    f, J = _forward(network, X)
    _, s = _objective_sign(f, y, loss)
    return X + eps * _steepest(s[:, None] * J, norm)


def pgd(
    network: Network,
    X: Any,
    y: Any,
    *,
    eps: float,
    norm: Any = PerturbationNorm.INF,
    loss: str = Loss.SQUARED,
    steps: int = 50,
    step_size: float | None = None,
    restarts: int = 1,
    random_state: Any = None,
) -> np.ndarray:
    r"""Projected gradient ascent on the loss over the ``eps`` ball (Madry et al. 2018).

    Each restart iterates

    .. math::
        \delta \leftarrow \Pi_{\|\delta\|_p \le \varepsilon}\Big(\delta + \eta\,
        \arg\max_{\|s\|_p \le 1} s^T \nabla_x \phi_k(x_k + \delta)\Big)

    for ``steps`` steps. Restart 0 starts at the FGSM point (:func:`fgsm`); restarts 1, 2, ...
    start uniformly at random inside the ball (seeded by ``random_state``). Per point, the
    returned input is the candidate with the largest loss among the clean point, every start and
    every iterate of every restart, so its loss is never below the clean loss or FGSM's loss.

    Parameters
    ----------
    network : ReLUNetwork or GatedReLUNetwork
    X : array_like, shape (n, d)
        Clean inputs.
    y : array_like, shape (n,)
        Targets (labels in {-1, +1} for ``"logistic"`` and ``"hinge"``).
    eps : float
        Radius, >= 0 (``eps = 0`` returns a copy of ``X``).
    norm : {"inf", numpy.inf, 2, 1}
    loss : {"squared", "logistic", "hinge"}
    steps : int
        Projected steps per restart, >= 1.
    step_size : float or None
        Step length :math:`\eta` in the norm's own units; default ``2.5 * eps / steps``.
    restarts : int
        Number of starts, >= 1 (the first at the FGSM point, the rest random).
    random_state : None, int, numpy Generator or RandomState
        Seed of the random starts.

    Returns
    -------
    ndarray, shape (n, d)
        Adversarial inputs, each within ``eps`` of its clean point in ``norm``.
    """
    network, X, y, loss, eps, norm = _check_attack(network, X, y, loss, eps, norm)
    steps = check_positive_int(steps, "steps")
    restarts = check_positive_int(restarts, "restarts")
    eta = None if step_size is None else check_positive_real(step_size, "step_size")
    rng = check_rng(random_state)
    if eps == 0:
        return X.copy()
    if eta is None:
        eta = 2.5 * eps / steps

    f, J = _forward(network, X)
    best_phi, s = _objective_sign(f, y, loss)
    best = X.copy()

    def consider(X_try: np.ndarray) -> np.ndarray:
        """Keep ``X_try`` where it beats the best so far; return the ascent gradient there."""
        nonlocal best_phi
        f_try, J_try = _forward(network, X_try)
        phi, s_try = _objective_sign(f_try, y, loss)
        better = phi > best_phi
        best[better] = X_try[better]
        best_phi = np.where(better, phi, best_phi)
        return s_try[:, None] * J_try

    fgsm_delta = eps * _steepest(s[:, None] * J, norm)
    for r in range(restarts):
        delta = fgsm_delta if r == 0 else _random_in_ball(rng, X.shape, eps, norm)
        G = consider(X + delta)
        for _ in range(steps):
            delta = _project(delta + eta * _steepest(G, norm), eps, norm)
            G = consider(X + delta)
    return best


# --------------------------------------------------------------------------- evaluation helpers
def _attack(
    network: Network,
    X: np.ndarray,
    y: np.ndarray,
    eps: float,
    norm: Any,
    loss: str,
    attack: Any,
    kwargs: dict,
) -> np.ndarray:
    if attack == "pgd":
        return pgd(network, X, y, eps=eps, norm=norm, loss=loss, **kwargs)
    if attack == "fgsm":
        if kwargs:
            raise InvalidInputError(f"fgsm takes no extra settings; got {sorted(kwargs)}.")
        return fgsm(network, X, y, eps=eps, norm=norm, loss=loss)
    raise InvalidInputError(f"Unknown attack {attack!r}; allowed are {list(ATTACKS)}.")


def robust_accuracy(
    network: Network,
    X: Any,
    y: Any,
    *,
    eps: float,
    norm: Any = PerturbationNorm.INF,
    attack: str = "pgd",
    loss: str = Loss.HINGE,
    **attack_kwargs: Any,
) -> float:
    r"""Fraction of points classified correctly at the clean point *and* at the attacked point.

    A point counts as correct when :math:`y_k f(x) > 0` (labels in {-1, +1}; a zero output is
    an error). Since the clean point lies in the ball, the result is never above the clean
    accuracy. It is an empirical (attack-based) upper bound on the true robust accuracy.

    Parameters
    ----------
    network : ReLUNetwork or GatedReLUNetwork
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
        Labels in {-1, +1}.
    eps : float
        Radius, >= 0.
    norm : {"inf", numpy.inf, 2, 1}
    attack : {"pgd", "fgsm"}
    loss : {"hinge", "logistic", "squared"}
        Loss the attack ascends; the default (hinge) ascends the negative margin
        :math:`-y_k f(x)`, the natural objective for misclassification.
    **attack_kwargs
        Passed to :func:`pgd` (``steps``, ``step_size``, ``restarts``, ``random_state``).

    Returns
    -------
    float
        Robust accuracy in [0, 1].
    """
    network = _check_network(network)
    X, y, _ = _check_data(network, X, y, Loss.HINGE)
    X_adv = _attack(network, X, y, eps, norm, loss, attack, attack_kwargs)
    ok = (y * network.predict(X) > 0) & (y * network.predict(X_adv) > 0)
    return float(np.mean(ok))


def worst_case_loss(
    network: Network,
    X: Any,
    y: Any,
    *,
    eps: float,
    norm: Any = PerturbationNorm.INF,
    loss: str = Loss.SQUARED,
    attack: str = "pgd",
    **attack_kwargs: Any,
) -> np.ndarray:
    r"""Per-sample loss at the attacked points, :math:`\ell(f(x_k^{adv}), y_k)`, shape (n,).

    A lower bound on the true worst case :math:`\max_{\|\delta_k\|_p \le \varepsilon}
    \ell(f(x_k + \delta_k), y_k)` (attacks are heuristics); with ``attack="pgd"`` it is never
    below the clean loss or FGSM's loss. Sum it for the total adversarial loss, to compare with
    a robust program's certified loss term (``docs/math.md``, "Robust programs").

    Parameters
    ----------
    network : ReLUNetwork or GatedReLUNetwork
    X : array_like, shape (n, d)
    y : array_like, shape (n,)
    eps : float
    norm : {"inf", numpy.inf, 2, 1}
    loss : {"squared", "logistic", "hinge"}
    attack : {"pgd", "fgsm"}
    **attack_kwargs
        Passed to :func:`pgd`.
    """
    network = _check_network(network)
    X, y, loss = _check_data(network, X, y, loss)
    X_adv = _attack(network, X, y, eps, norm, loss, attack, attack_kwargs)
    return loss_per_sample(network.predict(X_adv), y, loss)
