r"""Adversarially robust counterparts of the convex ReLU program (MATH.md §6).

The adversary moves each training point :math:`x_k` within
:math:`\|\delta_k\|_p \le \epsilon` (:math:`p \in \{\infty, 2, 1\}`); :math:`q` is the dual
exponent (:math:`1/p + 1/q = 1`: :math:`p = \infty \Rightarrow q = 1`, :math:`p = 2 \Rightarrow
q = 2`, :math:`p = 1 \Rightarrow q = \infty`). With a bias the data matrix is
:math:`X' = [X, \mathbf 1]`; the bias input is never perturbed, so only the first :math:`d`
rows of a block, written :math:`\bar v = v_{1:d}`, enter a perturbation norm.

Robust cones fix every pattern on the whole ball,

.. math::
    (2D_i - I) X' v_i \ge \epsilon \|\bar v_i\|_q \mathbf 1, \qquad
    (2D_i - I) X' w_i \ge \epsilon \|\bar w_i\|_q \mathbf 1,

so the network output at a perturbed training point is
:math:`\hat y_k + \delta_k^T \bar g_k` with :math:`\hat y_k = x_k'^T g_k` and
:math:`g_k = \sum_i [D_i]_{kk} (v_i - w_i)`, and the worst case over the ball is exact:

- hinge: :math:`\sum_k (1 - y_k \hat y_k + \epsilon\|\bar g_k\|_q)_+`
- squared: :math:`\tfrac12 \sum_k (|\hat y_k - y_k| + \epsilon\|\bar g_k\|_q)^2`
- logistic: :math:`\sum_k \log(1 + \exp(-y_k \hat y_k + \epsilon\|\bar g_k\|_q))`

The norms :math:`\|\bar g_k\|_q` of all samples are one column norm of the ``d x n`` matrix
:math:`(V - W)_{1:d} D^T` (``D`` the ``n x P`` pattern matrix), so nothing loops over patterns or
samples. ``eps`` and ``beta`` are nonnegative ``cvxpy.Parameter``\ s and the program is DPP: an
eps path re-solves without recompiling::

    program = robust_relu_program(X, y, patterns, beta=1e-2, eps=0.0, loss="hinge")
    for value in (0.0, 0.05, 0.1):
        program.eps.value = value
        program.solve()               # CVXPY reuses the compiled problem
        bound = robust_loss_bound(program)   # per-point certified worst-case loss
"""

from __future__ import annotations

from typing import Any

import cvxpy as cp
import numpy as np

from ._validation import as_real_array, check_eps, check_loss, check_norm
from .exceptions import InvalidInputError, NotSolvedError
from .losses import loss_per_sample
from .patterns import ActivationPatterns
from .programs import ConvexProgram, _beta_parameter, _prepare_patterned, relu_blocks

__all__ = [
    "dual_norm_exponent",
    "robust_cone_violation",
    "robust_loss_bound",
    "robust_relu_program",
]

#: Dual exponent q of each canonical perturbation norm p (1/p + 1/q = 1).
_DUAL: dict[str, float] = {"inf": 1.0, "2": 2.0, "1": np.inf}


def dual_norm_exponent(norm: Any) -> float:
    r"""The dual exponent :math:`q` of a perturbation norm :math:`p` (``1/p + 1/q = 1``).

    Parameters
    ----------
    norm : {"inf", numpy.inf, 2, 1}
        The perturbation norm :math:`p` (validated by :func:`cvxnn._validation.check_norm`).

    Returns
    -------
    float
        ``1.0`` for :math:`p=\infty`, ``2.0`` for :math:`p=2`, ``numpy.inf`` for :math:`p=1`.
    """
    return _DUAL[check_norm(norm)]


def _worst_case_expression(
    yhat: cp.Expression, y: np.ndarray, spread: cp.Expression, loss: str
) -> cp.Expression:
    r"""Summed worst-case loss given nominal predictions and :math:`\epsilon\|\bar g_k\|_q` (n,)."""
    if loss == "squared":
        return 0.5 * cp.sum_squares(cp.abs(yhat - y) + spread)
    shifted = -cp.multiply(y, yhat) + spread
    if loss == "logistic":
        return cp.sum(cp.logistic(shifted))
    return cp.sum(cp.pos(1 + shifted))


def robust_relu_program(
    X: Any,
    y: Any,
    patterns: ActivationPatterns,
    *,
    beta: float,
    eps: float,
    norm: Any = "inf",
    loss: str = "hinge",
) -> ConvexProgram:
    r"""The adversarially robust convex ReLU program of MATH.md §6.

    .. math::
        \min_{V, W}\; \sum_{k=1}^n \ell^{\mathrm{wc}}_k(V, W)
        + \beta \sum_{i=1}^P \big(\|v_i\|_2 + \|w_i\|_2\big)
        \quad\text{s.t.}\quad
        (2D_i - I) X' v_i \ge \epsilon\|\bar v_i\|_q \mathbf 1,\
        (2D_i - I) X' w_i \ge \epsilon\|\bar w_i\|_q \mathbf 1,

    with :math:`\hat y_k = \sum_i [D_i]_{kk}\, x_k'^T (v_i - w_i)`,
    :math:`\bar g_k = \sum_i [D_i]_{kk} (\bar v_i - \bar w_i)` (bars drop the bias row) and the
    worst-case losses

    - hinge: :math:`\ell^{\mathrm{wc}}_k = (1 - y_k \hat y_k + \epsilon\|\bar g_k\|_q)_+`,
    - squared: :math:`\ell^{\mathrm{wc}}_k = \tfrac12(|\hat y_k - y_k| + \epsilon\|\bar g_k\|_q)^2`,
    - logistic: :math:`\ell^{\mathrm{wc}}_k = \log(1 + e^{-y_k \hat y_k + \epsilon\|\bar g_k\|_q})`,

    where :math:`q` is the dual exponent of the perturbation norm :math:`p`.

    What it certifies: at any point feasible for the robust cones, the ReLU network recovered by
    :meth:`ConvexProgram.network` keeps every training point's activation pattern on the whole
    ball :math:`\|\delta\|_p \le \epsilon` (the bias input unperturbed), so its loss at
    :math:`x_k + \delta` is at most :math:`\ell^{\mathrm{wc}}_k` (with equality for the
    worst :math:`\delta`). Hence ``program.loss_term`` is an upper bound on the recovered
    network's adversarial training loss :math:`\sum_k \max_{\|\delta_k\|_p \le \epsilon}
    \ell(f(x_k + \delta_k), y_k)`, per point (:func:`robust_loss_bound`) and in total. The
    bound is exact up to the solver's feasibility tolerance (see
    :func:`robust_cone_violation`) and says nothing about points outside the training set.
    At ``eps = 0`` the program is the nominal :func:`~cvxnn.relu_program`.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Training inputs.
    y : array_like, shape (n,)
        Targets; labels in {-1, +1} for ``loss="logistic"`` and ``"hinge"``.
    patterns : ActivationPatterns
        Patterns on this ``X``; their ``bias`` flag decides whether ``X' = [X, 1]``.
    beta : float
        Weight decay, > 0 (stored as ``program.beta``, a ``cvxpy.Parameter``).
    eps : float
        Perturbation radius, >= 0 (stored as ``program.eps``, a nonnegative
        ``cvxpy.Parameter``; change its ``value`` and re-solve without recompiling).
    norm : {"inf", numpy.inf, 2, 1}
        Perturbation norm :math:`p`; stored canonically as ``"inf"``, ``"2"`` or ``"1"``.
    loss : {"hinge", "squared", "logistic"}

    Returns
    -------
    ConvexProgram
        ``kind="robust_relu"``, variables ``V`` and ``W`` of shape (d', P);
        ``loss_term`` is the summed worst-case loss (the certified bound), ``regularizer`` the
        group norms, ``yhat`` the nominal predictions on the training points.

    Raises
    ------
    InvalidInputError
        For bad data, labels, ``beta``, ``eps`` (negative, non-finite, not a number) or
        ``norm`` (anything but ``"inf"``/``numpy.inf``, 2, 1).
    """
    eps_value = check_eps(eps)
    norm = check_norm(norm)
    q = _DUAL[norm]
    X, Xa, y, beta, loss, patterns = _prepare_patterned(X, y, patterns, beta, loss)
    d = X.shape[1]
    V, W, yhat, reg = relu_blocks(Xa, patterns)
    S = patterns.signs
    Dt = patterns.D.T.astype(np.float64)  # (P, n)
    beta_p = _beta_parameter(beta)
    eps_p = cp.Parameter(nonneg=True, name="eps", value=eps_value)

    g_norms = cp.norm((V - W)[:d] @ Dt, q, axis=0)  # ||g_k[:d]||_q for every k, shape (n,)
    loss_term = _worst_case_expression(yhat, y, eps_p * g_norms, loss)
    # Right-hand sides 1 * eps ||v_i[:d]||_q as an explicit (n, P) outer product: implicit
    # broadcasting would push CVXPY off its fast C++ canonicalization backend.
    ones = np.ones((Xa.shape[0], 1))

    def rows(B: cp.Variable) -> cp.Expression:
        return ones @ cp.reshape(cp.norm(B[:d], q, axis=0), (1, patterns.n_patterns), order="C")

    constraints = [
        cp.multiply(S, Xa @ V) >= eps_p * rows(V),
        cp.multiply(S, Xa @ W) >= eps_p * rows(W),
    ]
    problem = cp.Problem(cp.Minimize(loss_term + beta_p * reg), constraints)
    return ConvexProgram(
        problem=problem,
        variables={"V": V, "W": W},
        beta=beta_p,
        kind="robust_relu",
        loss=loss,
        X=X,
        y=y,
        bias=patterns.bias,
        yhat=yhat,
        loss_term=loss_term,
        regularizer=reg,
        patterns=patterns,
        eps=eps_p,
        norm=norm,
    )


# --------------------------------------------------------------------------- NumPy evaluation
def _blocks(program: ConvexProgram, V: Any, W: Any) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(program, ConvexProgram) or program.kind not in ("relu", "robust_relu"):
        raise InvalidInputError(
            "expected a ConvexProgram of kind 'relu' or 'robust_relu'; got "
            f"{getattr(program, 'kind', type(program).__name__)!r}."
        )
    shape = program.variables["V"].shape
    out = []
    for name, given in (("V", V), ("W", W)):
        if given is None:
            value = program.variables[name].value
            if value is None:
                raise NotSolvedError(
                    f"Variable {name!r} has no value: solve the program first or pass {name}=."
                )
            given = value
        arr = as_real_array(given, name)
        if arr.shape != shape:
            raise InvalidInputError(f"{name} must have shape {shape}; got {arr.shape}.")
        if not np.all(np.isfinite(arr)):
            raise InvalidInputError(f"{name} contains non-finite values.")
        out.append(arr)
    return out[0], out[1]


def _radius_and_norm(program: ConvexProgram, eps: Any, norm: Any) -> tuple[float, str]:
    if eps is None:
        if program.eps is None:
            raise InvalidInputError("a nominal 'relu' program has no eps: pass eps= explicitly.")
        eps = program.eps.value
    if norm is None:
        if program.norm is None:
            raise InvalidInputError("a nominal 'relu' program has no norm: pass norm= explicitly.")
        norm = program.norm
    return check_eps(eps), check_norm(norm)


def robust_loss_bound(
    program: ConvexProgram,
    V: Any = None,
    W: Any = None,
    *,
    eps: Any = None,
    norm: Any = None,
    loss: str | None = None,
) -> np.ndarray:
    r"""Per-point worst-case loss :math:`\ell^{\mathrm{wc}}_k` of MATH.md §6, in NumPy.

    .. math::
        \ell^{\mathrm{wc}}_k = \max_{\|\delta\|_p \le \epsilon}
        \ell\big(\hat y_k + \delta^T \bar g_k,\ y_k\big), \qquad
        \hat y_k = x_k'^T g_k,\ g_k = \sum_i [D_i]_{kk}(v_i - w_i),

    i.e. hinge :math:`(1 - y_k\hat y_k + \epsilon\|\bar g_k\|_q)_+`, squared
    :math:`\tfrac12(|\hat y_k - y_k| + \epsilon\|\bar g_k\|_q)^2`, logistic
    :math:`\log(1 + e^{-y_k\hat y_k + \epsilon\|\bar g_k\|_q})`. Its sum is
    ``program.loss_term.value`` at the same point. It bounds the recovered network's
    adversarial loss at :math:`x_k` whenever the robust cones hold at ``eps``
    (:func:`robust_cone_violation` is 0).

    Parameters
    ----------
    program : ConvexProgram
        A ``"robust_relu"`` program (or a nominal ``"relu"`` one with ``eps`` and ``norm``
        given; the bound then certifies only where the robust cones happen to hold).
    V, W : array_like of shape (d', P), optional
        The blocks to evaluate; default the variables' current (solved) values.
    eps : float, optional
        Radius; default ``program.eps.value``.
    norm : {"inf", numpy.inf, 2, 1}, optional
        Perturbation norm; default ``program.norm``.
    loss : {"hinge", "squared", "logistic"}, optional
        Default ``program.loss``.

    Returns
    -------
    ndarray, shape (n,)
        The worst-case loss of every training point.
    """
    V, W = _blocks(program, V, W)
    eps, norm = _radius_and_norm(program, eps, norm)
    loss = check_loss(program.loss if loss is None else loss)
    D = program.patterns.D.astype(np.float64)  # (n, P)
    Xa, y, d = program.design, program.y, program.n_features
    delta = V - W
    yhat = np.sum(D * (Xa @ delta), axis=1)
    spread = eps * np.linalg.norm(delta[:d] @ D.T, ord=_DUAL[norm], axis=0)
    if loss == "squared":
        return 0.5 * (np.abs(yhat - y) + spread) ** 2
    margin = y * yhat - spread
    return loss_per_sample(margin, np.ones_like(y), loss)


def robust_cone_violation(
    program: ConvexProgram, V: Any = None, W: Any = None, *, eps: Any = None, norm: Any = None
) -> float:
    r"""Largest violation of the robust cones, :math:`\max_{i,k}(\epsilon\|\bar v_i\|_q -
    [(2D_i - I)X' v_i]_k)_+` over all blocks of ``V`` and ``W``.

    Zero means every training point keeps its pattern on the whole :math:`\epsilon`-ball, so
    :func:`robust_loss_bound` certifies the recovered network; an interior-point solution is
    feasible up to about its tolerance (``1e-8`` relative).

    Parameters are as in :func:`robust_loss_bound`.

    Returns
    -------
    float
        The violation (>= 0), in the units of :math:`X' v`.
    """
    V, W = _blocks(program, V, W)
    eps, norm = _radius_and_norm(program, eps, norm)
    S, Xa, d = program.patterns.signs, program.design, program.n_features
    B = np.hstack([V, W])
    margins = np.hstack([S, S]) * (Xa @ B) - eps * np.linalg.norm(B[:d], ord=_DUAL[norm], axis=0)
    return float(max(0.0, -margins.min()))
