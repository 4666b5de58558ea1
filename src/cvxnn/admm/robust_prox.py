r"""Per-sample proximal operators and cone projections of the robust ADMM (``docs/robust_admm.md``).

Everything here is a pure, vectorized NumPy function: vectors are the **columns** of the arrays
(the layout of the ADMM, where :math:`\bar g_k` is column ``k`` of the ``d x n`` matrix
:math:`(V - W)_{1:d}D^T` and a block :math:`u_j` is column ``j`` of ``U``), and nothing loops
over columns in Python.

The common tool is a *line representation*: for a column ``t`` and :math:`r \in \{1, 2, \infty\}`,

.. math::
    \rho_r(\lambda) := \big\|\operatorname{prox}_{\lambda\|\cdot\|_r}(t)\big\|_r
    = \max_k\,(\alpha_k - \beta_k\lambda), \qquad \lambda \ge 0,

a convex, nonincreasing, piecewise-linear function (:func:`norm_prox_lines`): with
:math:`c_k` the sum of the ``k`` largest :math:`|t_i|`,

- :math:`r = 2`: :math:`(\|t\|_2 - \lambda)_+`, lines :math:`(0, 0), (\|t\|_2, 1)`;
- :math:`r = 1`: :math:`\sum_i(|t_i| - \lambda)_+ = \max_{k=0..d}(c_k - k\lambda)`;
- :math:`r = \infty`: the clipping level :math:`\tau` with :math:`\sum_i(|t_i| - \tau)_+ =
  \lambda`, :math:`\tau = \max(0, \max_{k=1..d}(c_k - \lambda)/k)`.

The scalar equations of the proxes below are monotone in one multiplier and built from such
lines, so the hinge and squared proxes and both cone projections of :func:`project_norm_cone`
are closed forms (a sort, a cumulative sum and a maximum per column); the logistic prox and the
exact robust-slack projection take a few safeguarded Newton steps on a monotone scalar function.
"""

from __future__ import annotations

import numpy as np

from ..exceptions import InvalidInputError

__all__ = [
    "DUAL_EXPONENT",
    "NORM_EXPONENTS",
    "norm_prox",
    "norm_prox_lines",
    "project_ball",
    "project_norm_cone",
    "project_robust_slack",
    "robust_loss_prox",
    "robust_loss_values",
]

#: The norm exponents the operators accept.
NORM_EXPONENTS: tuple[float, ...] = (1.0, 2.0, np.inf)
#: Dual exponent of each norm exponent (1/q + 1/p = 1).
DUAL_EXPONENT: dict[float, float] = {1.0: np.inf, 2.0: 2.0, np.inf: 1.0}
_LOSSES = ("hinge", "squared", "logistic")


def _check_exponent(q: float) -> float:
    try:
        value = float(q)
    except (TypeError, ValueError):
        value = float("nan")
    if value not in DUAL_EXPONENT:
        raise InvalidInputError(f"norm exponent must be 1, 2 or numpy.inf; got {q!r}.")
    return value


def _sorted_cumsum(t: np.ndarray) -> np.ndarray:
    """Per column, the sums :math:`c_k` of the ``k`` largest magnitudes (``k = 1..d``), (d, m)."""
    mags = -np.sort(-np.abs(t), axis=0)
    return np.cumsum(mags, axis=0)


def norm_prox_lines(t: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Lines :math:`(\alpha_k, \beta_k)` with :math:`\|\operatorname{prox}_{\lambda\|\cdot\|_r}(t)\|_r
    = \max_k(\alpha_k - \beta_k\lambda)` for every :math:`\lambda \ge 0`, per column of ``t``.

    Parameters
    ----------
    t : ndarray, shape (d, m)
        Columns to shrink.
    r : {1, 2, numpy.inf}
        Norm exponent.

    Returns
    -------
    alpha : ndarray, shape (K, m)
        Intercepts (row 0 is the zero line, so the maximum is >= 0).
    beta : ndarray, shape (K, 1)
        Slopes (>= 0), shared by all columns: ``K = 2`` for ``r = 2`` and ``d + 1`` otherwise.
    """
    r = _check_exponent(r)
    m = t.shape[1]
    if r == 2.0:
        alpha = np.vstack([np.zeros((1, m)), np.linalg.norm(t, axis=0)[None, :]])
        return alpha, np.array([[0.0], [1.0]])
    cs = _sorted_cumsum(t)
    k = np.arange(1, t.shape[0] + 1, dtype=np.float64)[:, None]
    zero = np.zeros((1, m))
    if r == 1.0:
        return np.vstack([zero, cs]), np.vstack([[0.0], k])
    return np.vstack([zero, cs / k]), np.vstack([[0.0], 1.0 / k])


def _linf_level(t: np.ndarray, lam: np.ndarray) -> np.ndarray:
    r"""Clipping level :math:`\tau \ge 0` with :math:`\sum_i(|t_i| - \tau)_+ = \lambda` (0 when
    :math:`\lambda \ge \|t\|_1`), per column."""
    cs = _sorted_cumsum(t)
    k = np.arange(1, t.shape[0] + 1, dtype=np.float64)[:, None]
    return np.maximum(0.0, np.max((cs - lam[None, :]) / k, axis=0))


def norm_prox(t: np.ndarray, lam: np.ndarray | float, r: float) -> np.ndarray:
    r"""Column-wise :math:`\operatorname{prox}_{\lambda\|\cdot\|_r}(t) = \operatorname{argmin}_g
    \lambda\|g\|_r + \tfrac12\|g - t\|_2^2 = t - \Pi_{\lambda\mathbb B_{r^*}}(t)` (Moreau).

    - :math:`r = 2`: :math:`(1 - \lambda/\|t\|_2)_+\,t`;
    - :math:`r = 1`: soft-threshold :math:`\operatorname{sign}(t)(|t| - \lambda)_+`;
    - :math:`r = \infty`: clip to :math:`[-\tau, \tau]`, :math:`\tau` the level of
      :func:`norm_prox_lines` (a sort per column).

    Parameters
    ----------
    t : ndarray, shape (d, m)
    lam : float or ndarray, shape (m,)
        Thresholds, >= 0.
    r : {1, 2, numpy.inf}

    Returns
    -------
    ndarray, shape (d, m)
    """
    r = _check_exponent(r)
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), (t.shape[1],))
    if r == 2.0:
        nt = np.linalg.norm(t, axis=0)
        scale = np.maximum(0.0, 1.0 - lam / np.where(nt > 0, nt, 1.0))
        return t * np.where(nt > 0, scale, 0.0)[None, :]
    if r == 1.0:
        return np.sign(t) * np.maximum(np.abs(t) - lam[None, :], 0.0)
    tau = _linf_level(t, lam)
    return np.clip(t, -tau[None, :], tau[None, :])


def project_ball(b: np.ndarray, radius: np.ndarray | float, p: float) -> np.ndarray:
    r"""Column-wise Euclidean projection onto the ball :math:`\{c : \|c\|_p \le \text{radius}\}`,
    :math:`\Pi_{\rho\mathbb B_p}(b) = b - \operatorname{prox}_{\rho\|\cdot\|_{p^*}}(b)`.

    Parameters
    ----------
    b : ndarray, shape (d, m)
    radius : float or ndarray, shape (m,)
        Radii, >= 0.
    p : {1, 2, numpy.inf}

    Returns
    -------
    ndarray, shape (d, m)
    """
    p = _check_exponent(p)
    return b - norm_prox(b, radius, DUAL_EXPONENT[p])


def project_norm_cone(c: np.ndarray, tau: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray]:
    r"""Euclidean projection of each pair :math:`(c_j, \tau_j)` onto the norm cone
    :math:`\{(c, \tau) : \|c\|_q \le \tau\}` (closed forms; the epigraph split of the robust cones).

    - :math:`q = 2` (second-order cone): identity inside, 0 in the polar cone, else
      :math:`\tfrac{\|c\| + \tau}{2}(c/\|c\|, 1)`.
    - :math:`q = 1`: :math:`(\operatorname{soft}(c, \mu), \tau + \mu)` with
      :math:`\mu = \max(0, \max_{k=0..d}(c_k - \tau)/(k + 1))` (the root of
      :math:`\sum_i(|c_i| - \mu)_+ = \tau + \mu`, written with the lines of :func:`norm_prox_lines`).
    - :math:`q = \infty`: :math:`(\operatorname{clip}(c, \pm\tau'), \tau')` with
      :math:`\tau' = \max(0, \max_{k=0..d}(c_k + \tau)/(k + 1))` (the root of
      :math:`\tau' - \tau = \sum_i(|c_i| - \tau')_+`).

    Here :math:`c_k` is the sum of the ``k`` largest :math:`|c_i|` (:math:`c_0 = 0`).

    Parameters
    ----------
    c : ndarray, shape (d, m)
    tau : ndarray, shape (m,)
    q : {1, 2, numpy.inf}

    Returns
    -------
    c_proj : ndarray, shape (d, m)
    tau_proj : ndarray, shape (m,)
    """
    q = _check_exponent(q)
    tau = np.asarray(tau, dtype=np.float64)
    if q == 2.0:
        nc = np.linalg.norm(c, axis=0)
        coef = 0.5 * (nc + tau)
        inside = nc <= tau
        polar = nc <= -tau
        t_out = np.where(inside, tau, np.where(polar, 0.0, coef))
        scale = np.where(inside, 1.0, np.where(polar, 0.0, coef / np.where(nc > 0, nc, 1.0)))
        return c * scale[None, :], t_out
    cs = np.vstack([np.zeros((1, c.shape[1])), _sorted_cumsum(c)])
    k1 = np.arange(1, c.shape[0] + 2, dtype=np.float64)[:, None]  # k + 1 for k = 0..d
    if q == 1.0:
        mu = np.maximum(0.0, np.max((cs - tau[None, :]) / k1, axis=0))
        return np.sign(c) * np.maximum(np.abs(c) - mu[None, :], 0.0), tau + mu
    level = np.maximum(0.0, np.max((cs + tau[None, :]) / k1, axis=0))
    return np.clip(c, -level[None, :], level[None, :]), level


def robust_loss_values(
    loss: str, a: np.ndarray, g: np.ndarray, y: np.ndarray, eps: float, q: float
) -> np.ndarray:
    r"""Per-sample worst-case loss :math:`h_k(a_k, g_k)` of the robust program.

    hinge :math:`(1 - y_ka_k + \epsilon\|g_k\|_q)_+`; squared
    :math:`\tfrac12(|a_k - y_k| + \epsilon\|g_k\|_q)^2`; logistic
    :math:`\log(1 + e^{-y_ka_k + \epsilon\|g_k\|_q})`.

    Parameters
    ----------
    loss : {"hinge", "squared", "logistic"}
    a : ndarray, shape (n,)
        Nominal predictions.
    g : ndarray, shape (d, n)
        Columns :math:`\bar g_k` (the perturbable features only).
    y : ndarray, shape (n,)
    eps : float
    q : {1, 2, numpy.inf}
        Dual exponent of the perturbation norm.

    Returns
    -------
    ndarray, shape (n,)
    """
    q = _check_exponent(q)
    spread = eps * np.linalg.norm(g, ord=q, axis=0) if g.shape[0] else np.zeros_like(a)
    if loss == "squared":
        return 0.5 * (np.abs(a - y) + spread) ** 2
    u = -y * a + spread
    if loss == "logistic":
        return np.logaddexp(0.0, u)
    if loss == "hinge":
        return np.maximum(0.0, 1.0 + u)
    raise InvalidInputError(f"loss must be one of {list(_LOSSES)}; got {loss!r}.")


def _sigmoid(u: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * u))


def robust_loss_prox(
    loss: str,
    s: np.ndarray,
    t: np.ndarray,
    y: np.ndarray,
    eps: float,
    q: float,
    rho_a: float,
    rho_g: float,
    *,
    max_iter: int = 60,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""The prox of the worst-case loss in the pair :math:`z_k = (a_k, g_k)`, per sample:

    .. math::
        (a_k, g_k) = \operatorname*{argmin}_{a \in \mathbb R,\, g \in \mathbb R^d}\;
        h_k(a, g) + \tfrac{\rho_a}2(a - s_k)^2 + \tfrac{\rho_g}2\|g - t_k\|_2^2,

    with :math:`h_k` of :func:`robust_loss_values`. With :math:`\theta_k` the loss's derivative
    in its scalar argument (hinge, logistic: :math:`u = -y a + \epsilon\|g\|_q`; squared:
    :math:`w = |a - y| + \epsilon\|g\|_q`), optimality decouples the pair,

    - hinge, logistic: :math:`a = s + \theta y/\rho_a`,
    - squared: :math:`a = y + \operatorname{sign}(s - y)(|s - y| - \theta/\rho_a)_+`,
    - all: :math:`g = \operatorname{prox}_{(\theta\epsilon/\rho_g)\|\cdot\|_q}(t)`
      (:func:`norm_prox`),

    and :math:`\theta` solves one monotone scalar equation. Writing
    :math:`\|\operatorname{prox}_{\lambda\|\cdot\|_q}(t)\|_q = \max_k(\alpha_k - \beta_k\lambda)`
    (:func:`norm_prox_lines`):

    - hinge: :math:`u(\theta) = \max_k(A_k - B_k\theta)` with :math:`A_k = -ys + \epsilon\alpha_k`,
      :math:`B_k = 1/\rho_a + \epsilon^2\beta_k/\rho_g > 0`, and :math:`\theta \in \partial(1 + u)_+`
      gives :math:`\theta = \operatorname{clip}(\max_k (A_k + 1)/B_k, 0, 1)` (closed form);
    - squared: :math:`\theta = w(\theta) = \max_{j \in \{0,1\},k}(j|s - y| + \epsilon\alpha_k
      - (j/\rho_a + \epsilon^2\beta_k/\rho_g)\theta)`, so
      :math:`\theta = \max_{j,k}(j|s - y| + \epsilon\alpha_k)/(1 + j/\rho_a + \epsilon^2\beta_k/\rho_g)`
      (closed form);
    - logistic: :math:`\theta = \sigma(u(\theta))` on :math:`[0, 1]`, whose residual
      :math:`\theta - \sigma(u(\theta))` has slope >= 1: bracketed Newton, quadratic near the root.

    At ``eps = 0`` this is the nominal loss prox in ``a`` and the identity in ``g``.

    Parameters
    ----------
    loss : {"hinge", "squared", "logistic"}
    s : ndarray, shape (n,)
        Prox centres of the predictions.
    t : ndarray, shape (d, n)
        Prox centres of the :math:`\bar g_k` (columns).
    y : ndarray, shape (n,)
        Targets (labels in {-1, +1} for hinge and logistic).
    eps : float
        Radius, >= 0.
    q : {1, 2, numpy.inf}
        Dual exponent of the perturbation norm.
    rho_a, rho_g : float
        Prox weights, > 0.
    max_iter : int
        Newton steps of the logistic prox (it stops once every root is within ``1e-14``).

    Returns
    -------
    a : ndarray, shape (n,)
    g : ndarray, shape (d, n)
    theta : ndarray, shape (n,)
        The loss multipliers :math:`\theta_k` (hinge, logistic: in [0, 1]; squared: the
        worst-case residual :math:`|a_k - y_k| + \epsilon\|g_k\|_q`).
    """
    q = _check_exponent(q)
    if loss not in _LOSSES:
        raise InvalidInputError(f"loss must be one of {list(_LOSSES)}; got {loss!r}.")
    if not (rho_a > 0 and rho_g > 0):
        raise InvalidInputError(f"rho_a and rho_g must be > 0; got {rho_a!r}, {rho_g!r}.")
    if not eps >= 0:
        raise InvalidInputError(f"eps must be >= 0; got {eps!r}.")
    if t.shape[0] == 0:  # no perturbable feature
        eps = 0.0
    alpha, beta = norm_prox_lines(t, q) if eps > 0 else (np.zeros((1, s.shape[0])), np.zeros((1, 1)))
    slope = eps * eps * beta / rho_g  # (K, 1)
    if loss == "squared":
        e = s - y
        lines0 = eps * alpha / (1.0 + slope)
        lines1 = (np.abs(e)[None, :] + eps * alpha) / (1.0 + 1.0 / rho_a + slope)
        theta = np.maximum(0.0, np.maximum(lines0.max(axis=0), lines1.max(axis=0)))
        a = y + np.sign(e) * np.maximum(np.abs(e) - theta / rho_a, 0.0)
    else:
        A = -(y * s)[None, :] + eps * alpha  # (K, n)
        B = 1.0 / rho_a + slope  # (K, 1)
        if loss == "hinge":
            theta = np.clip(np.max((A + 1.0) / B, axis=0), 0.0, 1.0)
        else:
            theta = _logistic_root(A, B, max_iter)
        a = s + theta * y / rho_a
    g = norm_prox(t, theta * (eps / rho_g), q) if eps > 0 else t.copy()
    return a, g, theta


def _logistic_root(A: np.ndarray, B: np.ndarray, max_iter: int) -> np.ndarray:
    r"""Per column, the root in [0, 1] of :math:`f(\theta) = \theta - \sigma(\max_k(A_k - B_k\theta))`.

    ``f`` is increasing with slope >= 1, so ``|theta - root| <= |f(theta)|``: the loop stops once
    every ``|f|`` is below ``1e-13``. Newton steps that leave the bracket, or follow a step that did
    not halve ``|f|``, are replaced by bisection (with a steep sigmoid, ``B`` large for a small
    penalty, plain Newton can bounce inside the bracket), so the bracket at least halves every
    second step.
    """
    n = A.shape[1]
    cols = np.arange(n)
    lo, hi = np.zeros(n), np.ones(n)
    theta = _sigmoid(A.max(axis=0))  # sigma(u(0)) >= sigma(u(theta)): the residual is >= 0 there
    f_prev = np.full(n, np.inf)
    for _ in range(max_iter):
        lines = A - B * theta[None, :]
        k = np.argmax(lines, axis=0)
        sig = _sigmoid(lines[k, cols])
        f = theta - sig
        if float(np.max(np.abs(f))) <= 1e-13:
            break
        fp = 1.0 + sig * (1.0 - sig) * B[k, 0]
        lo = np.where(f < 0, theta, lo)
        hi = np.where(f > 0, theta, hi)
        step = theta - f / fp
        newton = (step > lo) & (step < hi) & (np.abs(f) <= 0.5 * f_prev)
        f_prev = np.where(newton, np.abs(f), np.inf)  # after a bisection, Newton is tried again
        theta = np.where(newton, step, 0.5 * (lo + hi))
    return theta


def project_robust_slack(
    a: np.ndarray,
    b: np.ndarray,
    eps: float,
    q: float,
    e: np.ndarray | None = None,
    *,
    radius0: np.ndarray | None = None,
    max_iter: int = 100,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Exact Euclidean projection of each column pair :math:`(a_j, b_j)` onto the robust slack cone

    .. math::
        \mathcal C = \{(s, c) \in \mathbb R^n \times \mathbb R^d :
        s_k \ge \epsilon e_k \|c\|_q,\ k = 1..n\}

    (``e > 0`` a fixed row scaling; ``e = 1`` is the robust cone itself with
    :math:`s = (2D_i - I)X'u`, :math:`c = \bar u`). For a radius :math:`\rho = \|c\|_q` the best
    pair is :math:`s = \max(a, \epsilon e\rho)`, :math:`c = \Pi_{\rho\mathbb B_q}(b)`, so
    :math:`\rho` minimizes the convex

    .. math::
        \varphi(\rho) = \tfrac12\sum_k(\epsilon e_k\rho - a_k)_+^2
        + \tfrac12\operatorname{dist}^2(b, \rho\mathbb B_q),\qquad
        \varphi'(\rho) = \sum_k \epsilon e_k(\epsilon e_k\rho - a_k)_+
        - \|\operatorname{prox}_{\rho\|\cdot\|_p}(b)\|_p,

    nondecreasing and piecewise linear on :math:`[0, \|b\|_q]` (the second term by
    :func:`norm_prox_lines` with the dual exponent ``p``). Its root is found by bracketed Newton
    (exact once inside the right piece; bisection when a step leaves the bracket), all columns
    at once. At ``eps = 0`` the projection is :math:`(\max(a, 0), b)`.

    Parameters
    ----------
    a : ndarray, shape (n, m)
        The row parts (one column per block).
    b : ndarray, shape (d, m)
        The perturbable-feature parts.
    eps : float
        Radius, >= 0.
    q : {1, 2, numpy.inf}
        Dual exponent of the perturbation norm.
    e : ndarray, shape (n,), optional
        Positive row scaling (default ones).
    radius0 : ndarray, shape (m,), optional
        Warm start of :math:`\rho` (e.g. the previous iteration's).
    max_iter : int
        Newton steps (it stops once every bracket is within ``1e-13`` relative).

    Returns
    -------
    s : ndarray, shape (n, m)
    c : ndarray, shape (d, m)
    radius : ndarray, shape (m,)
        :math:`\rho_j = \|c_j\|_q`.
    """
    q = _check_exponent(q)
    if not eps >= 0:
        raise InvalidInputError(f"eps must be >= 0; got {eps!r}.")
    m = a.shape[1]
    if eps == 0 or b.shape[0] == 0:
        return np.maximum(a, 0.0), b.copy(), np.linalg.norm(b, ord=q, axis=0) if b.shape[0] else np.zeros(m)
    p = DUAL_EXPONENT[q]
    ee = eps * (np.ones(a.shape[0]) if e is None else np.asarray(e, dtype=np.float64))[:, None]
    alpha, beta = norm_prox_lines(b, p)  # ||prox_{rho ||.||_p}(b)||_p = max_k(alpha_k - beta_k rho)
    hi = np.linalg.norm(b, ord=q, axis=0)
    lo = np.zeros(m)
    scale = 1.0 + np.max(np.abs(a), axis=0) + hi
    rho = np.clip(radius0, lo, hi) if radius0 is not None else 0.5 * hi
    idx = np.arange(m)  # the columns whose root is not found yet (the loop works on those only)
    for _ in range(max_iter):
        if idx.size == 0:
            break
        r, A, al = rho[idx], a[:, idx], alpha[:, idx]
        over = np.maximum(ee * r[None, :] - A, 0.0)
        lines = al - beta * r[None, :]
        k = np.argmax(lines, axis=0)
        kappa = lines[k, np.arange(idx.size)]
        pull = np.sum(ee * over, axis=0)
        fval = pull - kappa
        fp = np.sum(np.where(over > 0, ee * ee, 0.0), axis=0) + beta[k, 0]
        lo_i = np.where(fval <= 0, r, lo[idx])
        hi_i = np.where(fval >= 0, r, hi[idx])
        step = r - fval / np.where(fp > 0, fp, 1.0)
        inside = (fp > 0) & (step >= lo_i) & (step <= hi_i)
        new = np.where(inside, step, 0.5 * (lo_i + hi_i))
        done = (np.abs(fval) <= 1e-14 * (1.0 + pull + kappa)) | (hi_i - lo_i <= 1e-14 * scale[idx])
        new = np.where(done, r, new)
        done |= np.abs(new - r) <= 1e-15 * scale[idx]
        lo[idx], hi[idx], rho[idx] = lo_i, hi_i, new
        idx = idx[~done]
    s = np.maximum(a, ee * rho[None, :])
    c = project_ball(b, rho, q)
    return s, c, rho
