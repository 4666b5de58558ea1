r"""Dual points for the pattern search's certificate: the optimal dual of the program over a pattern set.

The lower bound of :mod:`cvxnn.certificate` holds for *every* :math:`\lambda` in the conjugate's
domain; its quality depends on :math:`\lambda`. The loss gradient at the search's fit is the
dual optimum of the program over the current patterns only when the fit is exact and the loss
is differentiable; for the hinge loss the subgradient at margin-1 samples is ambiguous and the
gradient a poor dual point (31 % certified gap at the exact optimum of an enumerable instance,
``benchmarks/NOTES.md``). :func:`restricted_dual_point` solves the dual of the program over a
set of patterns :math:`S` directly,

.. math::
    \max_{\lambda,\ \nu^\pm_j \ge 0}\ -L^*(\lambda) \quad \text{s.t.} \quad
    \|\pm X'^T D_j\lambda + X'^T S_j \nu^\pm_j\|_2 \le \beta, \quad j \in S,

with :math:`S_j = \operatorname{diag}(2 D_j - 1)` (the multipliers :math:`\nu` of the cone
constraints :math:`S_j X' u \ge 0`: :math:`\max\{a^T u : \|u\| \le 1, S_j X'u \ge 0\} =
\min_{\nu \ge 0}\|a + X'^T S_j \nu\|` by conic duality). Its optimum is the program's optimum
over :math:`S` (strong duality; :math:`\lambda = 0` is strictly feasible), so after the
scaling over *all* patterns the bound closes whenever no pattern outside :math:`S` is violated.
Whatever the solver returns, the certificate recomputes :math:`c(\lambda)` and scales, so the
bound stays valid.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.optimize import lsq_linear

from .solvers import solve_problem

__all__ = ["hinge_stationary_dual", "relevant_patterns", "restricted_dual_point"]


def relevant_patterns(
    Xa: np.ndarray, D: np.ndarray, lam: np.ndarray, *, live: np.ndarray, limit: int
) -> np.ndarray:
    r"""Indices of the patterns whose dual constraints matter most at ``lam`` (at most ``limit``).

    The patterns of the live neurons (``live``, boolean (P,)) first, then the others in
    decreasing order of :math:`\|X'^T D_j \lambda\|` (an upper bound of their constraint value).
    """
    P = D.shape[1]
    if P <= limit:
        return np.arange(P)
    score = np.linalg.norm(Xa.T @ (D * lam[:, None]), axis=0)
    score = np.where(live, np.inf, score)
    return np.sort(np.argsort(-score, kind="stable")[:limit])


def hinge_stationary_dual(
    Xa: np.ndarray,
    y: np.ndarray,
    D: np.ndarray,
    V: np.ndarray,
    W: np.ndarray,
    *,
    beta: float,
    sample_weight: np.ndarray | None = None,
    margin_tol: float = 1e-3,
    cone_tol: float = 1e-6,
    live_tol: float = 1e-4,
) -> np.ndarray:
    r"""A hinge-loss dual point read off a (near-)optimal solution by its stationarity conditions.

    The hinge loss's gradient is ambiguous at margin 1, where many samples of a solution sit, and
    the gradient there is a poor dual point (at the exact optimum of an enumerable instance its
    certificate gap is 31 %; as a pricing point it reports violations of 30x beta at points that
    are optimal). With :math:`\lambda_k = -w_k y_k\sigma_k`, the subgradient fixes
    :math:`\sigma_k = 1` below margin :math:`1 - \delta` and :math:`\sigma_k = 0` above
    :math:`1 + \delta` (``margin_tol``); the tied :math:`\sigma_T \in [0, 1]` and the cone
    multipliers :math:`\nu \ge 0` of the rows on each live neuron's hyperplane (those with
    :math:`|x_k'^Tu_j| \le` ``cone_tol`` :math:`\|x'_k\|\|u_j\|`) are fitted to the stationarity
    of every live block :math:`u_j` (``V`` columns with sign :math:`s_j = 1`, ``W`` with
    :math:`-1`),

    .. math::
        s_j X'^T D_j\lambda - X'^T S_j\nu_j = -\beta\, u_j / \|u_j\|,

    by bounded least squares (:func:`scipy.optimize.lsq_linear`). At an exact solution whose tied
    set is right the residual is 0 and :math:`\lambda` is an optimal dual point of the program
    over these patterns. Whatever the fit, the certificate scales :math:`\lambda` into dual
    feasibility, so the bounds it gives stay valid; only their quality depends on the fit.

    Parameters
    ----------
    Xa : ndarray, shape (n, d')
        The design (``X`` or ``[X, 1]``).
    y : ndarray, shape (n,)
        Labels in {-1, +1}.
    D : ndarray of bool, shape (n, P)
        The patterns of the columns of ``V`` and ``W``.
    V, W : ndarray, shape (d', P)
        The solution's blocks.
    beta : float
    sample_weight : ndarray, shape (n,), optional
    margin_tol, cone_tol : float
        The tolerances :math:`\delta` and the hyperplane test above.
    live_tol : float
        Blocks with :math:`\|u_j\|` at most this fraction of the largest count as zero (an
        interior-point solution leaves every block slightly nonzero, its direction noise).

    Returns
    -------
    ndarray, shape (n,)
        :math:`\lambda` in the gradient convention (:math:`\lambda = \nabla L(\hat y)` where
        the loss is differentiable), in the conjugate's domain.
    """
    n, dp = Xa.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    Df = np.asarray(D, dtype=np.float64)
    U = np.hstack([V, W])
    signs = np.concatenate([np.ones(V.shape[1]), -np.ones(W.shape[1])])
    norms = np.linalg.norm(U, axis=0)
    live = np.flatnonzero(norms > live_tol * max(float(np.max(norms, initial=0.0)), 1e-300))
    yhat = np.sum(Df * (Xa @ (V - W)), axis=1)
    margin = y * yhat
    sigma = np.where(margin < 1.0 - margin_tol, 1.0, 0.0) * (w > 0)
    if not live.size:
        return -w * y * sigma
    tied = np.flatnonzero((np.abs(margin - 1.0) <= margin_tol) & (w > 0))
    Dl = np.tile(Df, 2)[:, live]  # (n, L): the pattern of each live block
    Ul, sl = U[:, live] / norms[live], signs[live]
    # right-hand side per block: -beta u/|u| - s X'^T D (lambda of the fixed samples)
    lam_fixed = -w * y * sigma
    rhs = -beta * Ul - sl * (Xa.T @ (Dl * lam_fixed[:, None]))  # (d', L)
    # tied columns: d lambda_k / d sigma_k = -w_k y_k, entry s_j x'_k D_kj in block j's rows
    kt, jt = np.nonzero(Dl[tied] > 0)
    vals_t = (sl[jt] * (-w[tied[kt]] * y[tied[kt]]))[:, None] * Xa[tied[kt]]  # (m, d')
    rows_t = jt[:, None] * dp + np.arange(dp)[None, :]
    cols_t = np.broadcast_to(kt[:, None], rows_t.shape)
    # cone multipliers of the rows on each live block's hyperplane: column -S_kj x'_k
    xn = np.linalg.norm(Xa, axis=1)
    kh, jh = np.nonzero(np.abs(Xa @ Ul) <= cone_tol * xn[:, None])
    vals_h = -(2.0 * Dl[kh, jh] - 1.0)[:, None] * Xa[kh]
    rows_h = jh[:, None] * dp + np.arange(dp)[None, :]
    cols_h = np.broadcast_to(tied.size + np.arange(kh.size)[:, None], rows_h.shape)
    entries = np.concatenate([vals_t.ravel(), vals_h.ravel()])
    rows = np.concatenate([rows_t.ravel(), rows_h.ravel()])
    cols = np.concatenate([cols_t.ravel(), cols_h.ravel()])
    A = sp.csr_matrix((entries, (rows, cols)), shape=(live.size * dp, tied.size + kh.size))
    if A.shape[1]:
        upper = np.concatenate([np.ones(tied.size), np.full(kh.size, np.inf)])
        fit = lsq_linear(A, rhs.T.ravel(), bounds=(np.zeros(A.shape[1]), upper), lsmr_tol="auto")
        sigma[tied] = np.clip(fit.x[: tied.size], 0.0, 1.0)
    return -w * y * sigma


def restricted_dual_point(
    Xa: np.ndarray,
    y: np.ndarray,
    D: np.ndarray,
    *,
    loss: str,
    beta: float,
    sample_weight: np.ndarray | None = None,
    solver: str = "CLARABEL",
    time_limit: float | None = None,
) -> np.ndarray | None:
    r"""The optimal dual point :math:`\lambda` of the program over the patterns ``D`` (module docstring).

    Parameters
    ----------
    Xa : ndarray, shape (n, d')
        The design (``X`` or ``[X, 1]``).
    y : ndarray, shape (n,)
        Targets (labels in {-1, +1} for logistic and hinge).
    D : ndarray of bool, shape (n, P)
        The patterns.
    loss : {"squared", "logistic", "hinge"}
    beta : float
    sample_weight : ndarray, shape (n,), optional
        Weights of the samples' losses (the conjugate is :math:`\sum_k w_k\ell^*(\lambda_k/w_k)`).
    solver : str
        A CVXPY conic solver.
    time_limit : float or None
        Seconds the solve may take (passed as Clarabel's ``time_limit``; other solvers ignore
        it); past it the result is ``None``.

    Returns
    -------
    ndarray, shape (n,), or None
        :math:`\lambda` (the gradient convention: :math:`\lambda = \nabla L(\hat y)` at an
        optimum), or ``None`` when the solve fails. Costs one SOCP with :math:`2nP` multipliers.
    """
    import cvxpy as cp

    n, P = D.shape
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    pos = w > 0
    Df = np.asarray(D, dtype=np.float64)
    S = 2.0 * Df - 1.0
    lam = cp.Variable(n)
    nu_p = cp.Variable((n, P), nonneg=True)
    nu_m = cp.Variable((n, P), nonneg=True)
    # X'^T D_j lam for every j at once: (d', P)
    C = Xa.T @ cp.multiply(Df, cp.reshape(lam, (n, 1), order="F") @ np.ones((1, P)))
    cons = [
        cp.norm(C + Xa.T @ cp.multiply(S, nu_p), 2, axis=0) <= beta,
        cp.norm(-C + Xa.T @ cp.multiply(S, nu_m), 2, axis=0) <= beta,
    ]
    if not np.all(pos):
        cons.append(lam[~pos] == 0)
    wp, yp, lp = w[pos], y[pos], lam[pos]
    if loss == "squared":
        objective = -0.5 * cp.sum(cp.multiply(1.0 / wp, cp.square(lp))) - yp @ lp
    else:
        q = cp.multiply(yp / wp, lp)  # in [-1, 0]
        cons += [q >= -1.0, q <= 0.0]
        if loss == "hinge":
            objective = -(wp @ q)
        else:
            objective = wp @ (cp.entr(-q) + cp.entr(1.0 + q))
    problem = cp.Problem(cp.Maximize(objective), cons)
    try:
        options = {"time_limit": time_limit} if time_limit is not None and solver == "CLARABEL" else {}
        solve_problem(problem, solver, **options)
    except cp.error.SolverError:
        return None
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) or lam.value is None:
        return None
    value = np.asarray(lam.value, dtype=np.float64)
    value[~pos] = 0.0
    if loss != "squared":  # back into the conjugate's domain (solver tolerance)
        q = np.clip(value * y / np.where(pos, w, 1.0), -1.0, 0.0)
        value = np.where(pos, q * w * y, 0.0)
    return value
