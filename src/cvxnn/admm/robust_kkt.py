r"""Second-order finish of the robust hinge programs: Newton on the reduced KKT system
(``docs/robust_admm.md``, section 8).

The ADMM converges linearly, and its loss multipliers lag its point: on breast cancer, hinge /
l_2, P = 50, the objective is within 7.7e-5 (relative) of the optimum at iteration 600, where
the certified gap is still 2.8e-3; it reaches 1e-4 only after 1360. Multipliers fitted to the
point alone inherit the point's error at first order; solving for the point and the
multipliers *together* does not. Once the ADMM has identified

- the active blocks :math:`\mathcal A = \{j : u_j \ne 0\}`,
- the samples at the hinge's kink :math:`K` (:math:`1 - y_ka_k + \epsilon\|\bar g_k\| = 0`,
  multiplier :math:`\sigma_k \in [0, 1]`); the others have :math:`\sigma_k \in \{0, 1\}` fixed,
- the active rows :math:`R_j` of the robust cones of each active block,

the optimality conditions restricted to these sets are a square system of smooth equations (l_2
perturbations, ``q = 2``; :math:`\delta_{kj} = \pm D_{kj}` the sign of block ``j`` in sample
``k``'s prediction, :math:`\hat g_k = \bar g_k/\|\bar g_k\|`, :math:`\breve u_j = \bar u_j /
\|\bar u_j\|`, :math:`\hat u_j = u_j/\|u_j\|`, :math:`m_j = \sum_k e_k\nu_{kj}`):

.. math::
    \sum_k \sigma_k\delta_{kj}\big(y_kx_k - \epsilon[\hat g_k; 0]\big)
    + \sum_{k \in R_j}\nu_{kj}\big(e_ks_{kj}x_k - \epsilon e_k[\breve u_j; 0]\big)
    - \beta\hat u_j = 0 \quad (j \in \mathcal A),

.. math::
    -(1 - y_ka_k + \epsilon\|\bar g_k\|) = 0\quad (k \in K),\qquad
    e_ks_{kj}x_k^Tu_j - \epsilon e_k\|\bar u_j\| = 0\quad (k \in R_j),

the first being block stationarity :math:`c_j = \beta\hat u_j + \epsilon m_j[\breve u_j; 0]` of
the robust certificate. Its Jacobian is the symmetric saddle matrix :math:`\begin{bmatrix}H &
B\\ B^T & 0\end{bmatrix}`, ``H`` the (negative semidefinite) Hessian of the Lagrangian in ``u``
and ``B`` the constraint gradients, so :func:`hinge_kkt_newton` takes full Newton steps with a
backtracking on the residual norm. Nothing it returns is trusted: the caller projects the point
onto the robust cones and builds the weak-duality bound from the multipliers
(:math:`\lambda = y\sigma`, :math:`\Gamma_k = -\epsilon\sigma_k\hat g_k`, cone multipliers of every
block by exact projection), so wrong sets only cost the attempt.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .robust_structure import RobustStructure

__all__ = ["DROP_BLOCK_RATIO", "KktSolution", "hinge_kkt_newton", "kkt_system_size"]

#: When Newton fails, the smallest active block is dropped (and the round retried) if its norm is
#: below this fraction of the largest: the ADMM's point still carries blocks that vanish at the
#: optimum, whose stationarity has no solution.
DROP_BLOCK_RATIO = 0.05


def kkt_system_size(active: int, d: int, kink: int, rows: int) -> int:
    """Unknowns (and equations) of the reduced KKT system: ``d'`` per active block, one per kink
    sample and one per active cone row."""
    return active * d + kink + rows


@dataclasses.dataclass
class KktSolution:
    """The reduced KKT solution: the point, the multipliers it certifies and its sets.

    Attributes
    ----------
    U : ndarray, shape (d', 2P)
        The point (0 outside the active blocks).
    sigma : ndarray, shape (n,)
        :math:`\\sigma = y\\lambda \\in [0, 1]`.
    gam : ndarray, shape (d, n)
        :math:`\\Gamma_k = -\\epsilon\\sigma_k\\hat g_k` (``fallback_gam`` where
        :math:`\\bar g_k = 0`).
    kink : ndarray of bool, shape (n,)
        The final kink samples.
    rows : ndarray of bool, shape (n, 2P)
        The final active cone rows.
    nu : ndarray, shape (n, 2P)
        The cone multipliers on ``rows`` (0 elsewhere).
    residual : float
        Largest absolute entry of the final KKT residual.
    steps : int
        Newton steps taken.
    """

    U: np.ndarray
    sigma: np.ndarray
    gam: np.ndarray
    kink: np.ndarray
    rows: np.ndarray
    nu: np.ndarray
    residual: float
    steps: int


class _ReducedKkt:
    """The reduced system of one identification (module docstring): residual and Jacobian."""

    def __init__(
        self,
        st: RobustStructure,
        active: np.ndarray,
        kink: np.ndarray,
        sigma: np.ndarray,
        rows: np.ndarray,
        beta: float,
    ) -> None:
        self.st, self.beta = st, beta
        P = st.P
        self.active, self.K = active, np.flatnonzero(kink)
        self.sigma_fixed = np.where(kink, 0.0, sigma)
        self.delta = st.Df[:, active % P] * np.where(active < P, 1.0, -1.0)[None, :]  # (n, a)
        self.ES = st.ES2[:, active]
        self.row_k, self.row_j = np.nonzero(rows)  # the active rows (k, j), j indexing `active`
        self.a, self.d, self.db = active.size, st.d, st.dbar
        self.nk, self.nr = self.K.size, self.row_k.size

    def split(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        a, d = self.a, self.d
        U = z[: a * d].reshape(a, d).T
        return U, z[a * d : a * d + self.nk], z[a * d + self.nk :]

    def residual(self, z: np.ndarray) -> tuple[np.ndarray, dict]:
        """The KKT residual at ``z = [vec(u_A), sigma_K, nu_R]`` and the quantities the Jacobian
        reuses."""
        st, eps, db, y = self.st, self.st.eps, self.db, self.st.y
        U, sK, nu = self.split(z)
        sigma = self.sigma_fixed.copy()
        sigma[self.K] = sK
        XU = st.X @ U  # (n, a)
        pred = np.einsum("ka,ka->k", self.delta, XU)
        g = U[:db] @ self.delta.T  # (db, n)
        gn = np.linalg.norm(g, axis=0)
        ghat = g / np.where(gn > 0, gn, 1.0)[None, :]
        Nu = np.zeros((st.n, self.a))
        Nu[self.row_k, self.row_j] = nu
        m = st.e @ Nu
        ubar = U[:db]
        r = np.linalg.norm(ubar, axis=0)
        ubrev = ubar / np.where(r > 0, r, 1.0)[None, :]
        N = np.linalg.norm(U, axis=0)
        E1 = st.X.T @ (self.delta * (y * sigma)[:, None] + self.ES * Nu)
        E1[:db] -= eps * (ghat @ (self.delta * sigma[:, None]) + ubrev * m[None, :])
        E1 -= self.beta * U / N[None, :]
        phi = 1.0 - y * pred + eps * gn  # the hinge's argument
        margins = self.ES * XU - eps * st.e[:, None] * r[None, :]  # the robust cones' rows
        F = np.concatenate([E1.T.ravel(), -phi[self.K], margins[self.row_k, self.row_j]])
        cache = dict(U=U, sigma=sigma, gn=gn, ghat=ghat, m=m, r=r, ubrev=ubrev, N=N, phi=phi, margins=margins)
        cache["scale"] = np.max(np.abs(XU), axis=0)
        return F, cache

    def jacobian(self, c: dict) -> np.ndarray:
        st, eps, db, y = self.st, self.st.eps, self.db, self.st.y
        a, d, X = self.a, self.d, st.X
        size = kkt_system_size(a, d, self.nk, self.nr)
        Jm = np.zeros((size, size))
        H = np.zeros((a, d, a, d))
        U, sigma, gn, ghat, N = c["U"], c["sigma"], c["gn"], c["ghat"], c["N"]
        # the group norms: -beta (I - uu^T / N^2) / N
        for j in range(a):
            uh = U[:, j] / N[j]
            H[j, :, j, :] -= self.beta * (np.eye(d) - np.outer(uh, uh)) / N[j]
        if eps > 0 and db:
            w = np.where(gn > 0, sigma / np.where(gn > 0, gn, 1.0), 0.0)  # sigma_k / ||g_k||
            pair = np.einsum("k,kj,kl->jl", w, self.delta, self.delta)
            outer = np.einsum("k,kj,kl,pk,qk->jplq", w, self.delta, self.delta, ghat, ghat, optimize=True)
            H[:, :db, :, :db] -= eps * (pair[:, None, :, None] * np.eye(db)[None, :, None, :] - outer)
            m, r, ub = c["m"], c["r"], c["ubrev"]
            for j in range(a):
                if r[j] > 0:
                    H[j, :db, j, :db] -= eps * m[j] * (np.eye(db) - np.outer(ub[:, j], ub[:, j])) / r[j]
        Jm[: a * d, : a * d] = H.reshape(a * d, a * d)
        # sigma_K columns: delta_kj (y_k x_k - eps [ghat_k; 0])
        base = a * d
        if self.nk:
            K = self.K
            col = X[K].T * y[K][None, :]  # (d, |K|)
            col[:db] -= eps * ghat[:, K]
            B = (self.delta[K].T[:, None, :] * col[None, :, :]).reshape(a * d, self.nk)
            Jm[: a * d, base : base + self.nk] = B
            Jm[base : base + self.nk, : a * d] = B.T
        # nu_R columns: e_k s_kj x_k - eps e_k [ubrev_j; 0], in block j only
        if self.nr:
            k, j = self.row_k, self.row_j
            col = self.ES[k, j][:, None] * X[k]  # (|R|, d)
            col[:, :db] -= (eps * st.e[k])[:, None] * c["ubrev"][:, j].T
            B = np.zeros((a, d, self.nr))
            B[j, :, np.arange(self.nr)] = col
            B = B.reshape(a * d, self.nr)
            base2 = base + self.nk
            Jm[: a * d, base2:] = B
            Jm[base2:, : a * d] = B.T
        return Jm


def hinge_kkt_newton(
    st: RobustStructure,
    U: np.ndarray,
    kink: np.ndarray,
    sigma: np.ndarray,
    rows: np.ndarray,
    nu: np.ndarray,
    beta: float,
    *,
    tol: float = 1e-11,
    max_steps: int = 6,
    rounds: int = 3,
    fallback_gam: np.ndarray | None = None,
) -> KktSolution | None:
    r"""Newton's method on the reduced KKT system of a robust hinge program (module docstring).

    Parameters
    ----------
    st : RobustStructure
        A hinge program with ``q = 2`` (l_2 perturbations) or ``eps = 0``.
    U : ndarray, shape (d', 2P)
        The start: its nonzero blocks are the active set.
    kink : ndarray of bool, shape (n,)
        The samples at the kink.
    sigma : ndarray, shape (n,)
        Start of :math:`\sigma` on ``kink``, its fixed value (0 or 1) elsewhere.
    rows : ndarray of bool, shape (n, 2P)
        The active cone rows (read on the active blocks only).
    nu : ndarray, shape (n, 2P)
        Start of the cone multipliers on ``rows``.
    beta : float
    tol : float
        Stop when the largest residual entry is within ``tol * max(1, beta)``.
    max_steps : int
        Newton steps per round.
    rounds : int
        Active-set rounds: after a solve whose multipliers leave their bounds, the kink samples
        outside ``[0, 1]`` are fixed at the bound and the rows with a negative multiplier
        dropped; violated rows and samples whose margin crossed the kink are added. A failed
        Newton solve drops the smallest block instead (:data:`DROP_BLOCK_RATIO`).
    fallback_gam : ndarray, shape (d, n), optional
        :math:`\Gamma_k` for the samples with :math:`\bar g_k = 0` (in their ball; 0 without it).

    Returns
    -------
    KktSolution or None
        None when there is no active block, Newton does not converge, or the multipliers still
        leave their bounds :math:`0 \le \sigma_K \le 1`, :math:`\nu \ge 0` after ``rounds``
        rounds (the sets were wrong).
    """
    active = np.flatnonzero(np.linalg.norm(U, axis=0) > 0)
    if active.size == 0 or (st.q != 2.0 and st.eps > 0):
        return None
    kink, sigma, rows = kink.copy(), sigma.copy(), rows.copy()
    steps = 0
    for _ in range(rounds):
        system = _ReducedKkt(st, active, kink, sigma, rows[:, active], beta)
        z = np.concatenate(
            [U[:, active].T.ravel(), sigma[system.K], nu[:, active][system.row_k, system.row_j]]
        )
        solved = _newton(system, z, tol * max(1.0, beta), max_steps)
        if solved is None:
            # a block on its way to 0 has no stationary point: drop the smallest block, if small
            norms = np.linalg.norm(U[:, active], axis=0)
            smallest = int(np.argmin(norms))
            if active.size < 2 or norms[smallest] > DROP_BLOCK_RATIO * norms.max():
                return None
            active = np.delete(active, smallest)
            continue
        z, F, cache, taken = solved
        steps += taken
        # the active-set corrections: a kink multiplier outside [0, 1] is fixed at the bound, a
        # row with a negative multiplier dropped; a violated row is added, and so is a sample
        # whose margin crossed the kink; then the next round re-solves from here
        U_A, sK, nuR = system.split(z)
        slack = 1e-8
        low, high = sK < -slack, sK > 1.0 + slack
        negative = nuR < -slack * max(1.0, float(nuR.max(initial=0.0)))
        rows_A = rows[:, active]
        violated = ~rows_A & (cache["margins"] < -slack * cache["scale"][None, :])
        phi, fixed = cache["phi"], cache["sigma"]
        crossed = ~kink & (((fixed == 0) & (phi > slack)) | ((fixed == 1) & (phi < -slack)))
        if not (low.any() or high.any() or negative.any() or violated.any() or crossed.any()):
            break
        sigma[system.K] = np.clip(sK, 0.0, 1.0)
        kink[system.K[low | high]] = False
        kink |= crossed
        U = U.copy()
        U[:, active] = U_A
        nu = nu.copy()
        nu[system.row_k, active[system.row_j]] = np.maximum(nuR, 0.0)
        rows_A[system.row_k[negative], system.row_j[negative]] = False
        rows_A |= violated
        rows[:, active] = rows_A
    else:
        return None
    sigma_out = cache["sigma"].copy()
    sigma_out[system.K] = np.clip(sK, 0.0, 1.0)
    out = np.zeros_like(U)
    out[:, active] = cache["U"]
    gn, ghat = cache["gn"], cache["ghat"]
    gam = -st.eps * sigma_out[None, :] * ghat
    if fallback_gam is not None and st.eps > 0:  # kept in the ball eps * sigma_k
        free = gn == 0
        size = np.linalg.norm(fallback_gam[:, free], axis=0)
        cap = st.eps * sigma_out[free]
        gam[:, free] = fallback_gam[:, free] * np.minimum(1.0, cap / np.where(size > 0, size, 1.0))[None, :]
    nu_out = np.zeros_like(nu)
    nu_out[system.row_k, active[system.row_j]] = nuR
    rows_out = np.zeros_like(rows)
    rows_out[:, active] = rows[:, active]
    return KktSolution(out, sigma_out, gam, kink, rows_out, nu_out, float(np.max(np.abs(F))), steps)


def _newton(
    system: _ReducedKkt, z: np.ndarray, goal: float, max_steps: int
) -> tuple[np.ndarray, np.ndarray, dict, int] | None:
    """Newton's method with backtracking on the residual norm: ``(z, F, cache, steps)`` once the
    largest residual entry is within ``goal``, None when it does not get there."""
    F, cache = system.residual(z)
    steps = 0
    while np.max(np.abs(F)) > goal:
        if steps == max_steps:
            return None
        try:
            dz = np.linalg.solve(system.jacobian(cache), -F)
        except np.linalg.LinAlgError:
            return None
        norm0, t = np.linalg.norm(F), 1.0
        while True:
            F_new, cache_new = system.residual(z + t * dz)
            if np.all(np.isfinite(F_new)) and np.linalg.norm(F_new) <= (1.0 - 1e-4 * t) * norm0:
                break
            t *= 0.5
            if t < 1e-6:
                return None
        z, F, cache = z + t * dz, F_new, cache_new
        steps += 1
    return z, F, cache, steps
