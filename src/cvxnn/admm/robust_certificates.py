r"""A certified lower bound on the robust program's optimum (``docs/robust_admm.md``, section 6).

Weak duality with multipliers :math:`\lambda \in \mathbb R^n` (predictions), :math:`\Gamma \in
\mathbb R^{d \times n}` (the columns :math:`\bar g_k`) and :math:`\nu_j \ge 0` (the rows of the
robust cones, scaled by ``e``): if every block satisfies

.. math::
    \operatorname{dist}_2\big(c_j,\ \epsilon m_j \bar{\mathbb B}_p\big) \le \beta,\qquad
    c_j = F_j^T\lambda + \bar G_j^T\Gamma + X'^TS_jE\nu_j,\quad m_j = \textstyle\sum_k e_k\nu_{kj},

(:math:`\bar{\mathbb B}_p` the p-ball on the perturbable rows, 0 on the bias row), the optimum is at
least :math:`\sum_k -h_k^*(-\lambda_k, -\Gamma_k)`:

- hinge: :math:`\sigma_k = y_k\lambda_k \in [0, 1]`, :math:`\|\Gamma_k\|_p \le \epsilon\sigma_k`,
  value :math:`\sum_k \sigma_k`;
- logistic: the same domain, value :math:`\sum_k H(\sigma_k)` (binary entropy, nats);
- squared: value :math:`\lambda^Ty - \tfrac12\sum_k\max(|\lambda_k|, \|\Gamma_k\|_p/\epsilon)^2`.

All multipliers scaled by one :math:`\theta \ge 0` keep the loss domains (hinge, logistic: for
:math:`\theta \le 1`) and scale every block distance by :math:`\theta`, so
:func:`robust_dual_value` picks the best feasible :math:`\theta`. Everything is vectorized over
samples and blocks.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import xlogy

from .robust_prox import DUAL_EXPONENT, project_ball

__all__ = [
    "best_cone_scale",
    "block_distances",
    "loss_dual_candidate",
    "robust_dual_value",
]


def _subgradient(g: np.ndarray, q: float) -> np.ndarray:
    r"""Columns :math:`\xi_k \in \partial\|g_k\|_q` with :math:`\|\xi_k\|_{q^*} \le 1`."""
    if q == 2.0:
        ng = np.linalg.norm(g, axis=0)
        return g / np.where(ng > 0, ng, 1.0)[None, :]
    if q == 1.0:
        return np.sign(g)
    xi = np.zeros_like(g)
    if g.shape[0]:
        idx = np.argmax(np.abs(g), axis=0)
        cols = np.arange(g.shape[1])
        xi[idx, cols] = np.sign(g[idx, cols])
    return xi


def loss_dual_candidate(
    loss: str,
    y: np.ndarray,
    a: np.ndarray,
    g: np.ndarray,
    eps: float,
    q: float,
    lam_admm: np.ndarray | None = None,
    gam_admm: np.ndarray | None = None,
    kink: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    r"""Loss multipliers :math:`(\lambda, \Gamma)` in the conjugate's domain, from a primal point.

    :math:`\lambda = -\nabla_a h(a, g)` (squared :math:`\operatorname{sign}(y - a)(|y - a| +
    \epsilon\|g\|_q)`, logistic :math:`y\,\sigma(-ya + \epsilon\|g\|_q)`; hinge: ``lam_admm``
    clipped to :math:`y\lambda \in [0, 1]`, or the subgradient with :math:`\sigma = 1[1 - ya +
    \epsilon\|g\|_q > 0]` without it); :math:`\Gamma_k` the ADMM's ``gam_admm`` projected onto
    :math:`\epsilon s_k\mathbb B_p` (:math:`s_k = y_k\lambda_k`, squared :math:`|\lambda_k|`), or
    :math:`-\epsilon s_k\xi_k` with :math:`\xi_k \in \partial\|g_k\|_q` without it.

    Parameters
    ----------
    loss : {"hinge", "squared", "logistic"}
    y, a : ndarray, shape (n,)
        Targets and predictions.
    g : ndarray, shape (d, n)
        The columns :math:`\bar g_k`.
    eps : float
    q : {1, 2, numpy.inf}
        Dual exponent of the perturbation norm.
    lam_admm : ndarray, shape (n,), optional
        The ADMM's multiplier of the predictions (unscaled, sign as :math:`\lambda`).
    gam_admm : ndarray, shape (d, n), optional
        The ADMM's multiplier of the g-block (unscaled, sign as :math:`\Gamma`).
    kink : ndarray of bool, shape (n,), optional
        Squared loss: the samples at the kink :math:`a = y` of :math:`|a - y| + \epsilon\|g\|_q`
        (the ADMM's prox puts :math:`a_k = y_k` exactly), where :math:`-\partial_ah` is the interval
        :math:`\pm\phi`, :math:`\phi = |y - a| + \epsilon\|g\|_q`: there :math:`\lambda` is
        ``lam_admm`` clipped to it instead of the gradient and :math:`\Gamma_k` is projected onto
        :math:`\epsilon\phi\,\mathbb B_p` (``-∂h = φ([-1, 1] x ε∂‖g‖_q)`` there; any pair is valid,
        this one is tight at the optimum).

    Returns
    -------
    lam : ndarray, shape (n,)
    gam : ndarray, shape (d, n)
    """
    spread = eps * np.linalg.norm(g, ord=q, axis=0) if g.shape[0] else np.zeros_like(a)
    if loss == "squared":
        width = np.abs(y - a) + spread
        lam = np.sign(y - a) * width
        size = np.abs(lam)
        if kink is not None and lam_admm is not None:
            # -dh = phi * ([-1, 1] x eps d||g||_q), phi = |a - y| + eps ||g||_q: at the kink
            # lambda is any point of [-phi, phi] while Gamma keeps the size eps * phi
            lam = np.where(kink, np.clip(lam_admm, -width, width), lam)
            size = np.where(kink, width, size)
    else:
        if loss == "logistic":
            sigma = 0.5 * (1.0 + np.tanh(0.5 * (-y * a + spread)))
        elif lam_admm is not None:
            sigma = np.clip(y * lam_admm, 0.0, 1.0)
        else:
            sigma = (1.0 - y * a + spread > 0).astype(np.float64)
        lam = y * sigma
        size = sigma
    if eps == 0 or g.shape[0] == 0:
        return lam, np.zeros_like(g)
    if gam_admm is not None:
        gam = project_ball(gam_admm, eps * size, DUAL_EXPONENT[q])
    else:
        gam = -(eps * size)[None, :] * _subgradient(g, q)
    return lam, gam


def block_distances(C: np.ndarray, m: np.ndarray, eps: float, q: float, d: int) -> np.ndarray:
    r"""Per column, :math:`\operatorname{dist}_2(c_j, \epsilon m_j\bar{\mathbb B}_p)`: the p-ball
    (``p`` dual to ``q``) acts on the first ``d`` rows, the remaining (bias) row is kept.

    Parameters
    ----------
    C : ndarray, shape (d', J)
    m : ndarray, shape (J,)
        Nonnegative ball sizes :math:`m_j`.
    eps : float
    q : {1, 2, numpy.inf}
    d : int
        Number of perturbable rows.

    Returns
    -------
    ndarray, shape (J,)
    """
    if eps == 0 or d == 0:
        return np.linalg.norm(C, axis=0)
    bar = C[:d] - project_ball(C[:d], eps * np.maximum(m, 0.0), DUAL_EXPONENT[q])
    return np.sqrt(np.sum(bar * bar, axis=0) + np.sum(C[d:] * C[d:], axis=0))


def best_cone_scale(
    C: np.ndarray, B: np.ndarray, m: np.ndarray, eps: float, q: float, d: int, *, steps: int = 40
) -> np.ndarray:
    r"""Per block, a :math:`t_j \ge 0` (approximately) minimizing the convex
    :math:`\operatorname{dist}_2(C_j + t B_j, t\epsilon m_j\bar{\mathbb B}_p)` (golden section on
    :math:`[0, 4\max(1, t^0_j)]`, :math:`t^0_j` the minimizer of :math:`\|C_j + tB_j\|`, all
    blocks at once; the better of that, ``t = 1`` and :math:`t^0_j` is returned). Any
    :math:`t \ge 0` keeps the bound valid; a good one makes it tight.

    Parameters
    ----------
    C : ndarray, shape (d', J)
        :math:`F_j^T\lambda + \bar G_j^T\Gamma`.
    B : ndarray, shape (d', J)
        The ADMM's cone term :math:`X'^TS_jE\nu_j` (:math:`\nu_j \ge 0`).
    m : ndarray, shape (J,)
        :math:`\sum_k e_k\nu_{kj}`.
    eps, q, d
        As in :func:`block_distances`.
    steps : int
        Golden-section steps.

    Returns
    -------
    ndarray, shape (J,)
    """
    bb = np.einsum("ij,ij->j", B, B)
    cb = np.einsum("ij,ij->j", C, B)
    t0 = np.where(bb > 0, np.maximum(0.0, -cb / np.where(bb > 0, bb, 1.0)), 0.0)

    def f(t: np.ndarray) -> np.ndarray:
        return block_distances(C + B * t[None, :], t * m, eps, q, d)

    lo, hi = np.zeros_like(t0), 4.0 * np.maximum(1.0, t0)
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    x1, x2 = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    f1, f2 = f(x1), f(x2)
    for _ in range(steps):
        left = f1 <= f2
        hi = np.where(left, x2, hi)
        lo = np.where(left, lo, x1)
        x1n = np.where(left, hi - ratio * (hi - lo), x2)
        x2n = np.where(left, x1, lo + ratio * (hi - lo))
        x1, x2 = x1n, x2n
        f1, f2 = f(x1), f(x2)
    candidates = np.vstack([0.5 * (lo + hi), np.ones_like(t0), t0])
    values = np.vstack([f(c) for c in candidates])
    return candidates[np.argmin(values, axis=0), np.arange(t0.size)]


def robust_dual_value(
    loss: str,
    y: np.ndarray,
    lam: np.ndarray,
    gam: np.ndarray,
    eps: float,
    q: float,
    worst: float,
    beta: float,
) -> float:
    r"""The dual objective at :math:`\theta(\lambda, \Gamma, \nu)`, :math:`\theta` the best scale
    with :math:`\theta\cdot\mathrm{worst} \le \beta` (``worst`` the largest block distance of
    :func:`block_distances` at :math:`\theta = 1`); a lower bound on the robust optimum when
    :math:`(\lambda, \Gamma)` lie in the loss's conjugate domain (:func:`loss_dual_candidate`).

    Parameters
    ----------
    loss : {"hinge", "squared", "logistic"}
    y, lam : ndarray, shape (n,)
    gam : ndarray, shape (d, n)
    eps : float
    q : {1, 2, numpy.inf}
        Dual exponent of the perturbation norm.
    worst : float
        :math:`\max_j \operatorname{dist}_2(c_j, \epsilon m_j\bar{\mathbb B}_p)`.
    beta : float

    Returns
    -------
    float
    """
    feas = beta / worst if worst > 0 else math.inf
    if loss == "squared":
        size = np.abs(lam)
        if eps > 0 and gam.shape[0]:
            size = np.maximum(size, np.linalg.norm(gam, ord=DUAL_EXPONENT[q], axis=0) / eps)
        ly, ll = float(lam @ y), float(size @ size)
        theta = min(max(ly / ll, 0.0), feas) if ll > 0 else 0.0
        return float(theta * ly - 0.5 * theta**2 * ll)
    theta = min(1.0, feas)
    sigma = theta * np.clip(y * lam, 0.0, 1.0)
    if loss == "logistic":
        return float(np.sum(-xlogy(sigma, sigma) - xlogy(1.0 - sigma, 1.0 - sigma)))
    return float(np.sum(sigma))
