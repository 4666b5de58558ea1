r"""Networks recovered from solved convex programs.

Recovery (docs/math.md). Every nonzero block :math:`v_i` of a ReLU program gives a neuron
:math:`u = v_i / \sqrt{\|v_i\|}`, :math:`\alpha = +\sqrt{\|v_i\|}`; every nonzero :math:`w_i`
gives :math:`u = w_i / \sqrt{\|w_i\|}`, :math:`\alpha = -\sqrt{\|w_i\|}`. For *any* feasible
point the recovered network's non-convex objective equals the convex objective: the cone
constraints make :math:`(X u)_+ = D_i X u` and :math:`\|u\|^2 + \alpha^2 = 2\|v_i\|`.
An SCP coefficient :math:`a_h` on the unit gate :math:`g_h` gives
:math:`u = \sqrt{|a_h|}\, g_h`, :math:`\alpha = \operatorname{sign}(a_h)\sqrt{|a_h|}`.

With a bias the blocks live on ``[X, 1]``: the last entry of ``u`` becomes the hidden bias ``b``
(so the weight decay covers ``b`` too, consistently with the convex regularizer).

Pruning: a block is a candidate for dropping when its norm is at most ``prune_tol`` times the
largest block norm (default ``1e-6``, the level of an interior-point solver's zeros). When the
training data is given (:class:`ObjectiveData`; ``ConvexProgram.network`` always gives it), the
candidates are dropped smallest first only as far as the training objective
:math:`L(f(X), y) + \beta R` of the network changes by at most ``objective_rtol`` (default
:data:`PRUNE_OBJECTIVE_RTOL` ``= 1e-9``) relative: the change of dropping the ``k`` smallest
blocks is computed exactly from their contributions :math:`\operatorname{relu}(X' u_i)\alpha_i`
to the predictions and their regularizer :math:`\tfrac12(\|u_i\|^2 + \alpha_i^2)`. Small but
genuine blocks (e.g. of hinge programs at small beta) are therefore kept, and the recovery
identity holds to 1e-9. Pass ``prune_tol=0`` to keep every nonzero block.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import as_real_array, check_beta, check_loss, check_matrix, check_y
from .enums import Loss
from .exceptions import InvalidInputError
from .losses import loss_per_sample, loss_value
from .sample_weight import check_sample_weight

__all__ = [
    "DEFAULT_PRUNE_TOL",
    "PRUNE_OBJECTIVE_RTOL",
    "GatedReLUNetwork",
    "ObjectiveData",
    "ReLUNetwork",
    "gated_network_from_blocks",
    "register_saver",
    "relu_network_from_blocks",
    "relu_network_from_scp",
]

#: Blocks with norm <= DEFAULT_PRUNE_TOL * (largest block norm) are candidates for pruning.
DEFAULT_PRUNE_TOL = 1e-6
#: Largest relative change of the training objective that pruning may cause.
PRUNE_OBJECTIVE_RTOL = 1e-9


@dataclass(frozen=True)
class ObjectiveData:
    """The training objective pruning must preserve.

    Attributes
    ----------
    design : ndarray, shape (n, d')
        The program's design :math:`X'` (``[X, 1]`` with a bias).
    y : ndarray, shape (n,)
        Targets or labels.
    loss : str
        ``"squared"``, ``"logistic"`` or ``"hinge"``.
    beta : float
        Weight-decay strength.
    """

    design: np.ndarray
    y: np.ndarray
    loss: str
    beta: float


def _frozen(arr: Any, ndim: int, name: str) -> np.ndarray:
    arr = np.array(as_real_array(arr, name), dtype=np.float64, copy=True)
    if arr.ndim != ndim:
        raise InvalidInputError(f"{name} must be {ndim}-D; got shape {arr.shape}.")
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError(f"{name} contains non-finite values.")
    arr.flags.writeable = False
    return arr


def _check_inputs(X: Any, n_features: int) -> np.ndarray:
    X = check_matrix(X, "X")
    if X.shape[1] != n_features:
        raise InvalidInputError(f"X has {X.shape[1]} features but the network was trained on {n_features}.")
    return X


_SAVER: list[Callable[[Any, Any], Any]] = []


def register_saver(saver: Callable[[Any, Any], Any]) -> None:
    """Install the function ``net.save(path)`` calls (``cvxnn.io`` registers ``save_network``;
    recovery does not import io, which imports recovery)."""
    _SAVER[:] = [saver]


class _SaveMixin:
    def save(self, path: Any) -> Any:
        """Write the network to ``path`` in cvxnn's portable model format (see :mod:`cvxnn.io`).

        Returns the path written; read it back with :func:`cvxnn.load_network`. Same as
        ``cvxnn.save_network(net, path)``.
        """
        if not _SAVER:  # pragma: no cover - cvxnn/__init__ imports cvxnn.io
            raise RuntimeError("cvxnn.io is not imported; call cvxnn.save_network(net, path).")
        return _SAVER[0](self, path)


@dataclass(frozen=True, eq=False)
class ReLUNetwork(_SaveMixin):
    r"""A two-layer ReLU network :math:`f(x) = \sum_j (x^T u_j + b_j)_+ \alpha_j`.

    Attributes
    ----------
    U : ndarray, shape (d, m)
        Hidden weights, one column per neuron.
    b : ndarray, shape (m,)
        Hidden biases (zeros for a network trained without bias).
    alpha : ndarray, shape (m,)
        Output weights.
    """

    U: np.ndarray
    b: np.ndarray
    alpha: np.ndarray

    def __post_init__(self) -> None:
        U = _frozen(self.U, 2, "U")
        b = _frozen(self.b, 1, "b")
        alpha = _frozen(self.alpha, 1, "alpha")
        if b.shape[0] != U.shape[1] or alpha.shape[0] != U.shape[1]:
            raise InvalidInputError(
                f"U has {U.shape[1]} neurons but b has {b.shape[0]} and alpha {alpha.shape[0]}."
            )
        object.__setattr__(self, "U", U)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "alpha", alpha)

    @property
    def n_features(self) -> int:
        """Input dimension ``d``."""
        return int(self.U.shape[0])

    @property
    def n_neurons(self) -> int:
        """Number of hidden neurons ``m``."""
        return int(self.U.shape[1])

    def hidden(self, X: Any) -> np.ndarray:
        """Pre-activations :math:`X U + b`, shape (n, m)."""
        X = _check_inputs(X, self.n_features)
        return X @ self.U + self.b

    def predict(self, X: Any) -> np.ndarray:
        r"""Network output :math:`\operatorname{relu}(X U + b)\,\alpha`, shape (n,)."""
        return np.maximum(self.hidden(X), 0.0) @ self.alpha

    def regularizer(self) -> float:
        r""":math:`\tfrac12(\|U\|_F^2 + \|b\|^2 + \|\alpha\|^2)` (multiply by beta)."""
        return 0.5 * float(np.sum(self.U**2) + np.sum(self.b**2) + np.sum(self.alpha**2))

    def objective(
        self, X: Any, y: Any, beta: float, loss: str = Loss.SQUARED, sample_weight: Any = None
    ) -> float:
        r"""Non-convex training objective (NC):
        :math:`L(f(X), y) + \tfrac\beta2(\|U\|_F^2 + \|b\|^2 + \|\alpha\|^2)`, each
        sample's loss weighted by ``sample_weight`` (n,) when given."""
        loss = check_loss(loss)
        X = _check_inputs(X, self.n_features)
        y = check_y(y, X.shape[0], loss)
        weight = check_sample_weight(sample_weight, X.shape[0])
        return float(loss_value(self.predict(X), y, loss, weight) + check_beta(beta) * self.regularizer())

    def __repr__(self) -> str:
        return f"ReLUNetwork(d={self.n_features}, neurons={self.n_neurons})"


@dataclass(frozen=True, eq=False)
class GatedReLUNetwork(_SaveMixin):
    r"""A gated ReLU network :math:`f(x) = \sum_i 1[x'^T g_i \ge 0]\, x'^T u_i`.

    ``x'`` is ``x`` with a trailing 1 when ``bias``. Its predictor uses fixed gates, so it is
    not a ReLU network (``docs/math.md``, "The programs"; Mishkin et al. 2022).

    Attributes
    ----------
    gates : ndarray, shape (d', m)
        Gate directions.
    U : ndarray, shape (d', m)
        Linear weights of each gated unit.
    bias : bool
        Whether inputs are augmented with a constant 1.
    """

    gates: np.ndarray
    U: np.ndarray
    bias: bool = False

    def __post_init__(self) -> None:
        gates = _frozen(self.gates, 2, "gates")
        U = _frozen(self.U, 2, "U")
        if gates.shape != U.shape:
            raise InvalidInputError(f"gates {gates.shape} and U {U.shape} must have the same shape.")
        object.__setattr__(self, "gates", gates)
        object.__setattr__(self, "U", U)

    @property
    def n_features(self) -> int:
        """Input dimension ``d`` (without the bias entry)."""
        return int(self.U.shape[0]) - int(self.bias)

    @property
    def n_neurons(self) -> int:
        """Number of gated units."""
        return int(self.U.shape[1])

    def predict(self, X: Any) -> np.ndarray:
        """Gated network output, shape (n,)."""
        X = _check_inputs(X, self.n_features)
        if self.bias:
            X = np.hstack([X, np.ones((X.shape[0], 1))])
        return np.sum((X @ self.gates >= 0) * (X @ self.U), axis=1)

    def objective(self, X: Any, y: Any, beta: float, loss: str = Loss.SQUARED) -> float:
        r""":math:`L(f(X), y) + \beta \sum_i \|u_i\|_2` (the gated program's objective)."""
        loss = check_loss(loss)
        X = _check_inputs(X, self.n_features)
        y = check_y(y, X.shape[0], loss)
        reg = float(np.sum(np.linalg.norm(self.U, axis=0)))
        return loss_value(self.predict(X), y, loss) + check_beta(beta) * reg

    def __repr__(self) -> str:
        return f"GatedReLUNetwork(d={self.n_features}, units={self.n_neurons}, bias={self.bias})"


def _keep_mask(norms: np.ndarray, prune_tol: float) -> np.ndarray:
    if prune_tol < 0:
        raise InvalidInputError(f"prune_tol must be >= 0; got {prune_tol}.")
    top = float(norms.max()) if norms.size else 0.0
    return (norms > prune_tol * top) & (norms > 0)


def _certified_keep(
    keep: np.ndarray,
    sizes: np.ndarray,
    contributions: np.ndarray,
    reg: np.ndarray,
    data: ObjectiveData | None,
    rtol: float,
) -> np.ndarray:
    """Refine ``keep``: drop the pruning candidates (smallest ``sizes`` first) only as far as the
    objective ``loss(sum of contributions) + beta * sum(reg)`` changes by <= ``rtol`` relative.

    ``contributions`` is (n, m): each unit's share of the predictions; ``reg`` is (m,).
    """
    if data is None or np.all(keep):
        return keep
    if not (isinstance(rtol, int | float) and np.isfinite(rtol) and rtol >= 0):
        raise InvalidInputError(f"objective_rtol must be a finite number >= 0; got {rtol!r}.")
    candidates = np.flatnonzero(~keep)
    candidates = candidates[np.argsort(sizes[candidates], kind="stable")]
    yhat = contributions.sum(axis=1)
    full = float(np.sum(loss_per_sample(yhat, data.y, data.loss))) + data.beta * float(np.sum(reg))
    dropped_pred = np.cumsum(contributions[:, candidates], axis=1)  # (n, k)
    losses = np.sum(loss_per_sample(yhat[:, None] - dropped_pred, data.y[:, None], data.loss), axis=0)
    regs = float(np.sum(reg)) - np.cumsum(reg[candidates])
    change = np.abs(losses + data.beta * regs - full)
    ok = np.flatnonzero(change <= rtol * abs(full))
    n_drop = int(ok[-1]) + 1 if ok.size else 0
    refined = np.ones_like(keep)
    refined[candidates[:n_drop]] = False
    return refined


def _split_bias(U_aug: np.ndarray, bias: bool) -> tuple[np.ndarray, np.ndarray]:
    if bias:
        return U_aug[:-1], U_aug[-1]
    return U_aug, np.zeros(U_aug.shape[1])


def _relu_units(
    U_aug: np.ndarray, alpha: np.ndarray, data: ObjectiveData | None
) -> tuple[np.ndarray, np.ndarray]:
    """Each neuron's contribution ``relu(X' u) alpha`` (n, m) and regularizer (m,)."""
    reg = 0.5 * (np.sum(U_aug**2, axis=0) + alpha**2)
    if data is None:
        return np.zeros((0, U_aug.shape[1])), reg
    return np.maximum(data.design @ U_aug, 0.0) * alpha, reg


def relu_network_from_blocks(
    V: np.ndarray,
    W: np.ndarray,
    *,
    bias: bool = False,
    prune_tol: float = DEFAULT_PRUNE_TOL,
    data: ObjectiveData | None = None,
    objective_rtol: float = PRUNE_OBJECTIVE_RTOL,
) -> ReLUNetwork:
    """Recover the ReLU network from the blocks ``V``, ``W`` (each (d', P)) of a ReLU program.

    With ``data``, pruning keeps the training objective within ``objective_rtol`` (module doc).
    """
    V = np.asarray(V, dtype=np.float64)
    W = np.asarray(W, dtype=np.float64)
    blocks = np.hstack([V, W])
    signs = np.concatenate([np.ones(V.shape[1]), -np.ones(W.shape[1])])
    norms = np.linalg.norm(blocks, axis=0)
    nonzero = norms > 0
    scale = np.sqrt(norms[nonzero])
    U_all, alpha_all = blocks[:, nonzero] / scale, signs[nonzero] * scale
    keep = _keep_mask(norms[nonzero], prune_tol)
    keep = _certified_keep(keep, norms[nonzero], *_relu_units(U_all, alpha_all, data), data, objective_rtol)
    U, b = _split_bias(U_all[:, keep], bias)
    return ReLUNetwork(U=U, b=b, alpha=alpha_all[keep])


def relu_network_from_scp(
    a: np.ndarray,
    gates: np.ndarray,
    *,
    bias: bool = False,
    prune_tol: float = DEFAULT_PRUNE_TOL,
    data: ObjectiveData | None = None,
    objective_rtol: float = PRUNE_OBJECTIVE_RTOL,
) -> ReLUNetwork:
    """Recover the ReLU network from SCP coefficients ``a`` (N,) on unit ``gates`` (d', N).

    With ``data``, pruning keeps the training objective within ``objective_rtol`` (module doc).
    """
    a = np.asarray(a, dtype=np.float64).ravel()
    nonzero = a != 0
    root = np.sqrt(np.abs(a[nonzero]))
    U_all, alpha_all = gates[:, nonzero] * root, np.sign(a[nonzero]) * root
    sizes = np.abs(a[nonzero])
    keep = _keep_mask(sizes, prune_tol)
    keep = _certified_keep(keep, sizes, *_relu_units(U_all, alpha_all, data), data, objective_rtol)
    U, b = _split_bias(U_all[:, keep], bias)
    return ReLUNetwork(U=U, b=b, alpha=alpha_all[keep])


def gated_network_from_blocks(
    U: np.ndarray,
    gates: np.ndarray,
    *,
    bias: bool = False,
    prune_tol: float = DEFAULT_PRUNE_TOL,
    data: ObjectiveData | None = None,
    objective_rtol: float = PRUNE_OBJECTIVE_RTOL,
) -> GatedReLUNetwork:
    """Recover the gated network from the blocks ``U`` (d', P) of a gated program.

    With ``data``, pruning keeps the training objective within ``objective_rtol`` (module doc).
    """
    U = np.asarray(U, dtype=np.float64)
    norms = np.linalg.norm(U, axis=0)
    nonzero = norms > 0
    U_nz, G_nz = U[:, nonzero], np.asarray(gates, dtype=np.float64)[:, nonzero]
    keep = _keep_mask(norms[nonzero], prune_tol)
    if data is not None:
        H = (data.design @ G_nz >= 0) * (data.design @ U_nz)
        keep = _certified_keep(keep, norms[nonzero], H, norms[nonzero], data, objective_rtol)
    return GatedReLUNetwork(gates=G_nz[:, keep], U=U_nz[:, keep], bias=bias)
