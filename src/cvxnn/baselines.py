r"""Non-convex baselines: the two-layer ReLU network trained by Adam, plainly or adversarially.

These are the comparison points of the convex programs (docs/math.md), in plain NumPy with
closed-form gradients. Every trainer minimizes the *same objective family as cvxnn*, summed over
samples (no ``1/n``):

- :func:`train_adam` (standard back-propagation) minimizes (NC)

  .. math::
      \sum_k \ell\big(f(x_k), y_k\big) + \tfrac\beta2\big(\|U\|_F^2 + \|b\|^2 + \|\alpha\|^2\big),

  :math:`f(x) = \operatorname{relu}(x^T U + b)\,\alpha`, the objective of
  :meth:`cvxnn.recovery.ReLUNetwork.objective`;
- :func:`train_pgd_at` (Madry et al. 2018) and :func:`train_fgsm_at` (Goodfellow et al. 2015)
  minimize the adversarial objective

  .. math::
      \sum_k \max_{\|\delta_k\|_p \le \varepsilon} \ell\big(f(x_k + \delta_k), y_k\big)
      + \tfrac\beta2\big(\|U\|_F^2 + \|b\|^2 + \|\alpha\|^2\big),

  the non-convex problem whose convex counterpart is :func:`cvxnn.robust.robust_relu_program`;
  the inner maximum is approximated at each step by :func:`cvxnn.attacks.pgd` (PGD-AT) or
  :func:`cvxnn.attacks.fgsm` (FGSM-AT) on the current network, and the outer step is Adam on
  the loss at the attacked points (Danskin's theorem), as in the usual adversarial training.

A minibatch :math:`B` uses the unbiased estimate :math:`\tfrac{n}{|B|}\sum_{k \in B}` of the
summed loss. Since Adam normalizes its steps, the summed and the mean loss give the same
iterates up to the relative weight of ``beta``, which is the one of the objective above.

Each trainer returns a :class:`~cvxnn.recovery.ReLUNetwork`, so the attacks and evaluations of
:mod:`cvxnn.attacks` apply unchanged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ._validation import (
    check_beta,
    check_eps,
    check_loss,
    check_norm,
    check_positive_int,
    check_positive_real,
    check_rng,
    check_X,
    check_y,
)
from .attacks import fgsm, pgd
from .enums import Loss, PerturbationNorm
from .exceptions import InvalidInputError
from .losses import loss_gradient
from .recovery import ReLUNetwork
from .sample_weight import check_sample_weight

__all__ = ["train_adam", "train_fgsm_at", "train_pgd_at"]

Params = dict[str, np.ndarray]
Adversary = Callable[[ReLUNetwork, np.ndarray, np.ndarray], np.ndarray]


# --------------------------------------------------------------------------- validation
# --------------------------------------------------------------------------- model pieces
def _init(d: int, m: int, bias: bool, rng: np.random.Generator) -> Params:
    """He initialization of the hidden layer, 1/sqrt(m) scale for the output layer."""
    return {
        "U": rng.standard_normal((d, m)) * np.sqrt(2.0 / d),
        "b": np.zeros(m) if not bias else 0.1 * rng.standard_normal(m),
        "alpha": rng.standard_normal(m) / np.sqrt(m),
    }


def _network(params: Params) -> ReLUNetwork:
    return ReLUNetwork(U=params["U"], b=params["b"], alpha=params["alpha"])


def _gradient(
    params: Params,
    X: np.ndarray,
    y: np.ndarray,
    beta: float,
    loss: str,
    bias: bool,
    scale: float = 1.0,
    weight: np.ndarray | None = None,
) -> Params:
    r"""The gradient of ``scale * sum_k w_k loss(f(x_k), y_k) + (beta/2)||theta||^2``.

    ``weight`` (n,) holds the :math:`w_k` (``None``: all 1).
    With :math:`H = XU + b`, :math:`A = 1[H > 0]`, :math:`g = w \odot \ell'(f)`:
    :math:`\partial\alpha = \operatorname{relu}(H)^T g + \beta\alpha`,
    :math:`\Delta = (g \alpha^T) \odot A`, :math:`\partial U = X^T \Delta + \beta U`,
    :math:`\partial b = \Delta^T 1 + \beta b` (zero without bias: ``b`` stays 0).
    """
    U, b, alpha = params["U"], params["b"], params["alpha"]
    H = X @ U + b
    Z = np.maximum(H, 0.0)
    f = Z @ alpha
    g = (scale * loss_gradient(f, y, loss)).astype(H.dtype, copy=False)  # the training precision
    if weight is not None:
        g = g * weight
    delta = np.outer(g, alpha) * (H > 0)
    return {
        "U": X.T @ delta + beta * U,
        "b": delta.sum(axis=0) + beta * b if bias else np.zeros_like(b),
        "alpha": Z.T @ g + beta * alpha,
    }


#: Floating-point types :func:`train_adam` can train in.
TRAINING_DTYPES: tuple[str, ...] = ("float64", "float32")
#: Learning-rate schedules of :func:`train_adam`.
LR_SCHEDULES: tuple[str, ...] = ("constant", "cosine")
#: Steps at which a ``time_limit`` re-sets the number of steps from the pace so far (and every 500).
_PACE_STEPS = (10, 50, 200)
#: The cosine schedule decays the step size to this fraction of ``learning_rate``.
_COSINE_FLOOR = 0.01


def _cosine(lr: float, t: int, total: int) -> float:
    """Cosine decay from ``lr`` at step 0 to ``_COSINE_FLOOR * lr`` at step ``total``."""
    frac = min(t / max(total, 1), 1.0)
    return float(lr * (_COSINE_FLOOR + (1.0 - _COSINE_FLOOR) * 0.5 * (1.0 + np.cos(np.pi * frac))))


def _initial_params(network: ReLUNetwork, d: int, bias: bool) -> Params:
    """Start from ``network``'s weights (copied); its input dimension must be ``d``."""
    if not isinstance(network, ReLUNetwork):
        raise InvalidInputError(f"initial must be a ReLUNetwork or None; got {type(network).__name__}.")
    U = np.array(network.U, dtype=np.float64)
    if U.shape[0] != d or U.shape[1] == 0:
        raise InvalidInputError(
            f"initial network has input dimension {U.shape[0]} and {U.shape[1]} neurons; the data "
            f"has {d} features and the network needs at least one neuron."
        )
    b = np.array(network.b, dtype=np.float64) if bias else np.zeros(U.shape[1])
    return {"U": U, "b": b, "alpha": np.array(network.alpha, dtype=np.float64)}


# --------------------------------------------------------------------------- the trainer
def _train(
    X: Any,
    y: Any,
    *,
    n_neurons: Any,
    beta: Any,
    loss: Any,
    bias: bool,
    epochs: Any,
    learning_rate: Any,
    batch_size: Any,
    random_state: Any,
    return_history: bool,
    adversary: Adversary | None,
    lr_schedule: str = "constant",
    initial: ReLUNetwork | None = None,
    time_limit: float | None = None,
    sample_weight: Any = None,
    dtype: str = "float64",
) -> ReLUNetwork | tuple[ReLUNetwork, dict[str, list[float]]]:
    t_start = time.perf_counter()
    X = check_X(X)
    loss = check_loss(loss)
    y = check_y(y, X.shape[0], loss)
    beta = check_beta(beta)
    m = check_positive_int(n_neurons, "n_neurons")
    epochs = check_positive_int(epochs, "epochs")
    lr = check_positive_real(learning_rate, "learning_rate")
    n, d = X.shape
    batch = n if batch_size is None else min(check_positive_int(batch_size, "batch_size"), n)
    rng = check_rng(random_state)
    if lr_schedule not in LR_SCHEDULES:
        raise InvalidInputError(f"lr_schedule must be one of {LR_SCHEDULES}; got {lr_schedule!r}.")
    if time_limit is not None:
        time_limit = check_positive_real(time_limit, "time_limit", "seconds")
    weight = check_sample_weight(sample_weight, n)
    if dtype not in TRAINING_DTYPES:
        raise InvalidInputError(f"dtype must be one of {TRAINING_DTYPES}; got {dtype!r}.")
    work = np.dtype(dtype)
    Xw, yw = X.astype(work, copy=False), y.astype(work, copy=False)
    ww = None if weight is None else weight.astype(work, copy=False)

    params = _init(d, m, bool(bias), rng) if initial is None else _initial_params(initial, d, bool(bias))
    params = {k: v.astype(work, copy=False) for k, v in params.items()}
    n_batches = -(-n // batch)
    total = epochs * n_batches  # steps; shortened once the time limit's pace is known
    moment1 = {k: np.zeros_like(v) for k, v in params.items()}
    moment2 = {k: np.zeros_like(v) for k, v in params.items()}
    beta1, beta2, tiny = 0.9, 0.999, 1e-8
    history: dict[str, list[float]] = {"objective": []}

    def record() -> None:
        net = _network(params)
        X_eval = X if adversary is None else adversary(net, X, y)
        history["objective"].append(net.objective(X_eval, y, beta, loss, sample_weight=weight))

    if return_history:
        record()
    t = 0
    t_loop = time.perf_counter()
    for _ in range(epochs):
        if t >= total:
            break
        order = rng.permutation(n) if batch < n else np.arange(n)
        for start in range(0, n, batch):
            if t >= total:
                break
            idx = order[start : start + batch]
            Xb, yb = Xw[idx], yw[idx]
            if adversary is not None:
                Xb = adversary(_network(params), Xb, yb)
            wb = None if ww is None else ww[idx]
            grads = _gradient(params, Xb, yb, beta, loss, bool(bias), scale=n / idx.size, weight=wb)
            t += 1
            if time_limit is not None and (t in _PACE_STEPS or t % 500 == 0):
                now = time.perf_counter()
                left = int((time_limit - (now - t_start)) / ((now - t_loop) / t))
                total = max(t, min(total, t + left))
            lr_t = lr if lr_schedule == "constant" else _cosine(lr, t, total)
            for k in params:
                moment1[k] = beta1 * moment1[k] + (1 - beta1) * grads[k]
                moment2[k] = beta2 * moment2[k] + (1 - beta2) * grads[k] ** 2
                m_hat = moment1[k] / (1 - beta1**t)
                v_hat = moment2[k] / (1 - beta2**t)
                params[k] = params[k] - lr_t * m_hat / (np.sqrt(v_hat) + tiny)
        if return_history:
            record()
    net = _network(params)
    return (net, history) if return_history else net


_COMMON_DOC = """
    X : array_like, shape (n, d)
        Training inputs.
    y : array_like, shape (n,)
        Targets; labels in {-1, +1} for ``"hinge"`` and ``"logistic"``.
    n_neurons : int
        Width ``m`` (use the convex network's width for a like-for-like comparison).
    beta : float
        Weight decay, > 0, on ``(beta/2)(||U||^2 + ||b||^2 + ||alpha||^2)``.
    loss : {"hinge", "logistic", "squared"}
    bias : bool
        Train hidden biases ``b`` (otherwise ``b = 0``).
    epochs : int
        Passes over the data.
    learning_rate : float
        Adam step size (moment decays 0.9 and 0.999).
    batch_size : int or None
        Minibatch size; ``None`` is full batch.
    random_state : None, int or numpy Generator
        Seeds the initialization, the minibatch order and the attacks' random starts.
    return_history : bool
        Also return ``{"objective": [...]}``, the training objective at the initialization and
        after every epoch (for adversarial training, measured at the training attack's points).

    Returns
    -------
    ReLUNetwork, or (ReLUNetwork, dict) with ``return_history=True``
"""


def train_adam(
    X: Any,
    y: Any,
    *,
    n_neurons: int,
    beta: float,
    loss: str = Loss.HINGE,
    bias: bool = True,
    epochs: int = 300,
    learning_rate: float = 0.01,
    batch_size: int | None = None,
    random_state: Any = None,
    return_history: bool = False,
    lr_schedule: str = "constant",
    initial: ReLUNetwork | None = None,
    time_limit: float | None = None,
    sample_weight: Any = None,
    dtype: str = "float64",
) -> ReLUNetwork | tuple[ReLUNetwork, dict[str, list[float]]]:
    r"""Train the non-convex two-layer ReLU network (NC) with Adam (standard back-propagation).

    ``sample_weight`` (n,), optional, finite and >= 0, scales each sample's loss
    (:math:`\sum_k w_k \ell(f(x_k), y_k)`): full batch, an integer weight gives the iterates of
    the repeated row up to rounding.

    Parameters
    ----------
    lr_schedule : {"constant", "cosine"}
        ``"cosine"`` decays the step size from ``learning_rate`` to 1% of it over the run
        (:math:`\eta_t = \eta(0.01 + 0.99 \cdot \tfrac12(1 + \cos(\pi t / T)))`); on the
        planted (2000, 50) regression 2000 cosine steps reached a lower objective than 3000
        constant ones.
    initial : ReLUNetwork or None
        Start from this network (its width replaces ``n_neurons``) instead of a random one.
    time_limit : float or None
        Wall-clock budget in seconds: the first steps are timed and the run is shortened to fit
        (the cosine schedule is fitted to the shortened run).
    dtype : {"float64", "float32"}
        Precision of the training arithmetic; ``"float32"`` about halves the cost of a step
        (the returned network is float64, its objective evaluated in float64)."""
    return _train(
        X,
        y,
        n_neurons=n_neurons,
        beta=beta,
        loss=loss,
        bias=bias,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        random_state=random_state,
        return_history=return_history,
        adversary=None,
        lr_schedule=lr_schedule,
        initial=initial,
        time_limit=time_limit,
        sample_weight=sample_weight,
        dtype=dtype,
    )


def train_pgd_at(
    X: Any,
    y: Any,
    *,
    n_neurons: int,
    beta: float,
    eps: float,
    norm: Any = PerturbationNorm.INF,
    loss: str = Loss.HINGE,
    attack_steps: int = 10,
    attack_step_size: float | None = None,
    bias: bool = True,
    epochs: int = 300,
    learning_rate: float = 0.01,
    batch_size: int | None = None,
    random_state: Any = None,
    return_history: bool = False,
) -> ReLUNetwork | tuple[ReLUNetwork, dict[str, list[float]]]:
    """PGD adversarial training (Madry et al. 2018) of the two-layer ReLU network.

    Every Adam step replaces its batch by :func:`cvxnn.attacks.pgd` points (``attack_steps``
    steps of size ``attack_step_size``, default ``2.5 eps / attack_steps``; the first start is
    the FGSM point) against the current network, with the training loss as the attack loss.

    Parameters
    ----------
    eps : float
        Training radius, >= 0.
    norm : {"inf", numpy.inf, 2, 1}
        Perturbation norm.
    attack_steps : int
    attack_step_size : float or None"""
    eps = check_eps(eps)
    norm = check_norm(norm)
    steps = check_positive_int(attack_steps, "attack_steps")
    rng = check_rng(random_state)

    def adversary(net: ReLUNetwork, Xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
        return pgd(
            net,
            Xb,
            yb,
            eps=eps,
            norm=norm,
            loss=loss,
            steps=steps,
            step_size=attack_step_size,
            random_state=rng,
        )

    return _train(
        X,
        y,
        n_neurons=n_neurons,
        beta=beta,
        loss=loss,
        bias=bias,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        random_state=rng,
        return_history=return_history,
        adversary=adversary,
    )


def train_fgsm_at(
    X: Any,
    y: Any,
    *,
    n_neurons: int,
    beta: float,
    eps: float,
    norm: Any = PerturbationNorm.INF,
    loss: str = Loss.HINGE,
    bias: bool = True,
    epochs: int = 300,
    learning_rate: float = 0.01,
    batch_size: int | None = None,
    random_state: Any = None,
    return_history: bool = False,
) -> ReLUNetwork | tuple[ReLUNetwork, dict[str, list[float]]]:
    """FGSM adversarial training (Goodfellow et al. 2015) of the two-layer ReLU network.

    Every Adam step replaces its batch by :func:`cvxnn.attacks.fgsm` points against the current
    network (one step of length ``eps``; no random start, so it may suffer the known
    "catastrophic overfitting" of FGSM training at large eps).

    Parameters
    ----------
    eps : float
        Training radius, >= 0.
    norm : {"inf", numpy.inf, 2, 1}
        Perturbation norm."""
    eps = check_eps(eps)
    norm = check_norm(norm)

    def adversary(net: ReLUNetwork, Xb: np.ndarray, yb: np.ndarray) -> np.ndarray:
        return fgsm(net, Xb, yb, eps=eps, norm=norm, loss=loss)

    return _train(
        X,
        y,
        n_neurons=n_neurons,
        beta=beta,
        loss=loss,
        bias=bias,
        epochs=epochs,
        learning_rate=learning_rate,
        batch_size=batch_size,
        random_state=random_state,
        return_history=return_history,
        adversary=adversary,
    )


for _fn in (train_adam, train_pgd_at, train_fgsm_at):
    _fn.__doc__ = (_fn.__doc__ or "") + _COMMON_DOC
del _fn
