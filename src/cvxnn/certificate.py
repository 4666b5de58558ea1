r"""A lower bound on the optimum over *all* activation patterns, and the certificate around it.

For the convex program (CVX) over every pattern (equal to the non-convex training problem's
optimum at any large enough width), weak duality gives, for every :math:`\lambda \in
\mathbb R^n` with :math:`c(\lambda) \le \beta` (:mod:`cvxnn.pricing`),

.. math:: -L^*(\lambda) \le p^\star_{\text{all}} .

Since :math:`c` is positively homogeneous, :math:`s\lambda` is feasible for every
:math:`0 \le s \le \beta / \bar c` with :math:`\bar c \ge c(\lambda)`; :func:`dual_lower_bound`
maximizes the concave function :math:`s \mapsto -L^*(s\lambda)` over that interval (and the
conjugate's domain). The conjugates of the summed losses (labels :math:`y_k \in \{-1, +1\}`
for logistic and hinge, :math:`q_k = \lambda_k y_k`):

- squared: :math:`L^*(\lambda) = \tfrac12\|\lambda\|^2 + \lambda^T y`;
- logistic: :math:`L^*(\lambda) = \sum_k (-q_k)\log(-q_k) + (1 + q_k)\log(1 + q_k)` for
  :math:`q \in [-1, 0]^n` (:math:`0 \log 0 = 0`), :math:`+\infty` otherwise;
- hinge: :math:`L^*(\lambda) = \sum_k q_k` for :math:`q \in [-1, 0]^n`, :math:`+\infty`
  otherwise.

Derivations in ``docs/math.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["SearchCertificate", "conjugate", "dual_lower_bound"]


def conjugate(loss: str, y: np.ndarray, lam: np.ndarray) -> float:
    r"""The convex conjugate :math:`L^*(\lambda)` of the summed loss (``inf`` off its domain)."""
    if loss == "squared":
        return float(0.5 * lam @ lam + lam @ y)
    q = lam * y
    if np.any(q > 1e-15) or np.any(q < -1.0 - 1e-15):
        return float("inf")
    q = np.clip(q, -1.0, 0.0)
    if loss == "hinge":
        return float(np.sum(q))
    a, b = -q, 1.0 + q
    xlogx = np.where(a > 0, a * np.log(np.where(a > 0, a, 1.0)), 0.0)
    ylogy = np.where(b > 0, b * np.log(np.where(b > 0, b, 1.0)), 0.0)
    return float(np.sum(xlogx + ylogy))


def _domain_scale(loss: str, y: np.ndarray, lam: np.ndarray) -> float:
    """Largest ``s >= 0`` with ``s * lam`` in the conjugate's domain (0 if only ``s = 0``)."""
    if loss == "squared":
        return float("inf")
    q = lam * y
    if np.any(q > 0):
        return 0.0
    worst = float(np.max(-q)) if q.size else 0.0
    return float("inf") if worst == 0 else 1.0 / worst


def dual_lower_bound(
    loss: str, y: np.ndarray, lam: np.ndarray, c_bar: float, beta: float
) -> tuple[float, float]:
    r"""``max_s -L*(s lam)`` over :math:`0 \le s \le \min(\beta/\bar c, s_{\text{dom}})`.

    Returns ``(bound, s)``. Valid whenever ``c_bar >= c(lam)``: every ``s`` in the interval makes
    ``s * lam`` dual feasible for every pattern. The concave 1-D maximization is a golden-section
    search plus both endpoints (its accuracy affects only how tight the bound is, not whether it
    is valid, since the value returned is ``-L*`` at a feasible point).
    """
    s_hi = min(beta / c_bar if c_bar > 0 else float("inf"), _domain_scale(loss, y, lam))
    if not np.isfinite(s_hi):
        s_hi = 1e6
    if s_hi <= 0:
        return -conjugate(loss, y, 0.0 * lam), 0.0

    def value(s: float) -> float:
        return -conjugate(loss, y, s * lam)

    if loss == "squared":
        denom = float(lam @ lam)
        s_star = -float(lam @ y) / denom if denom > 0 else 0.0
        candidates = [0.0, s_hi, min(max(s_star, 0.0), s_hi)]
    else:
        lo, hi = 0.0, s_hi
        g = (np.sqrt(5.0) - 1.0) / 2.0
        a, b = hi - g * (hi - lo), lo + g * (hi - lo)
        fa, fb = value(a), value(b)
        for _ in range(80):
            if fa < fb:
                lo, a, fa = a, b, fb
                b = lo + g * (hi - lo)
                fb = value(b)
            else:
                hi, b, fb = b, a, fa
                a = hi - g * (hi - lo)
                fa = value(a)
        candidates = [0.0, s_hi, a, b]
    vals = [value(s) for s in candidates]
    k = int(np.argmax(vals))
    return float(vals[k]), float(candidates[k])


@dataclass(frozen=True)
class SearchCertificate:
    r"""How far a pattern search's network can be from the global optimum.

    Attributes
    ----------
    objective : float
        The search's objective (convex program = recovered network's training objective).
    lower_bound : float
        A valid lower bound on the optimum over *all* patterns, hence on the training objective of
        every two-layer ReLU network of any width: :math:`-L^*(s\lambda)` for the dual point
        :math:`\lambda` of the final solution scaled into dual feasibility.
    gap : float
        ``objective - lower_bound`` (>= 0 up to solver accuracy).
    relative_gap : float
        ``gap / max(|objective|, 1e-12)``.
    dual_norm : float
        The upper bound :math:`\bar c \ge c(\lambda)` the scale used.
    exact_dual_norm : bool
        True when :math:`\bar c` is :math:`c(\lambda)` computed over an enumerated arrangement;
        False for the closed-form bound of :func:`cvxnn.pricing.dual_norm_bound`.
    scale : float
        The scale :math:`s` of the dual point.
    max_violation : float
        The largest :math:`|\lambda^T (X'u)_+| / \beta` found at the final solution by pricing
        and the fresh check (<= 1 + tol means no violated pattern was found).
    n_fresh : int
        Fresh random patterns tested exactly at the end (0 when skipped).
    fresh_violation_rate : float
        Fraction of them whose dual constraint exceeds ``beta * (1 + tol)`` (NaN when skipped).
    """

    objective: float
    lower_bound: float
    gap: float
    relative_gap: float
    dual_norm: float
    exact_dual_norm: bool
    scale: float
    max_violation: float
    n_fresh: int
    fresh_violation_rate: float

    def summary(self) -> str:
        """One line: objective, lower bound, gap and the largest violation found."""
        kind = "exact c(lambda)" if self.exact_dual_norm else "bounded c(lambda)"
        return (
            f"objective {self.objective:.6g} >= optimum over all patterns >= {self.lower_bound:.6g} "
            f"(gap {self.gap:.3g}, {100 * self.relative_gap:.3g}%; {kind}); largest dual violation "
            f"found {self.max_violation:.4g} x beta"
        )
