r"""Dual certificates: lower bounds on the optimum from dual-feasible points (weak duality).

The dual of the program is :math:`\max_{\lambda, \nu \ge 0} -\sum_k \ell_k^*(-\lambda_k)` s.t.
:math:`\|F_j^T\lambda + G_j^T\nu_j\|_2 \le \beta` per group (:math:`|F^T\lambda| \le \beta`
elementwise for ``scp``). :class:`DualCertificates` builds such points from the ADMM's iterates
and evaluates their dual objective; the certified gap ``objective - bound`` bounds the
suboptimality from above. It is a mixin of :class:`cvxnn.admm.structure.Structure` (it reads the
structure's data and operators: ``y``, ``X``, ``ES2``, ``XtE2X``, ``Ft``, ``Gt``, ``kind``,
``loss``, ``has_cones``, ``projector``).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy.special import xlogy

from ..enums import Loss
from ..kinds import regularizer_dual_norm
from .cones import ConeProjector

__all__ = ["DualCertificates", "best_multiple"]


def best_multiple(C: np.ndarray, B: np.ndarray) -> np.ndarray:
    r"""Per column ``j``, the :math:`t_j \ge 0` minimizing :math:`\|C_j + t_j B_j\|` (closed form; 0
    where :math:`B_j = 0`)."""
    bb = np.einsum("ij,ij->j", B, B)
    ab = np.einsum("ij,ij->j", C, B)
    return np.where(bb > 0, np.maximum(0.0, -ab / np.where(bb > 0, bb, 1.0)), 0.0)


class DualCertificates:
    """Dual bounds of a :class:`~cvxnn.admm.structure.Structure` (mixin; see the module docstring)."""

    def dual_objective(
        self, fv: np.ndarray, z_mult: np.ndarray | None, Gt_nu: np.ndarray | None, beta: float
    ) -> float:
        r"""A lower bound on the optimum from a dual-feasible point (weak duality).

        The dual of the program is :math:`\max_{\lambda, \nu \ge 0} -\sum_k \ell_k^*(-\lambda_k)`
        s.t. :math:`\|F_j^T\lambda + G_j^T\nu_j\|_2 \le \beta` per group (:math:`|F^T\lambda|
        \le \beta` elementwise for SCP). The candidate is :math:`\lambda = -\nabla L(Fv)`
        (squared, logistic) or the clipped loss multiplier (hinge), and
        :math:`\nu_j = -t_j\rho_s\nu_{scaled,j} \ge 0` (:math:`t_j \ge 0` minimizing that
        block's norm), both scaled by :math:`\theta = \min(1, \beta / \max_j\|\cdot\|)` to be
        feasible.
        Conjugate terms: squared :math:`\lambda^Ty - \|\lambda\|^2/2`; logistic the binary
        entropy of :math:`\sigma = y\lambda \in [0, 1]`; hinge :math:`\sum\sigma`.
        """
        lam = self.loss_multiplier(fv, z_mult)
        C = self.Ft(lam)
        if Gt_nu is not None:
            C = C + Gt_nu * best_multiple(C, Gt_nu)
        worst = self._worst_norm(C)
        if self.loss != Loss.SQUARED:  # the same scale theta = min(1, beta / worst) as dual_value
            return self.dual_value(lam, worst, beta)
        theta = min(1.0, beta / worst) if worst > 0 else 1.0
        return float(theta * (lam @ self.y) - 0.5 * theta**2 * (lam @ lam))

    def _worst_norm(self, C: np.ndarray) -> float:
        """The largest dual-constraint norm (:func:`cvxnn.kinds.regularizer_dual_norm`)."""
        return regularizer_dual_norm(self.kind, C)

    def loss_multiplier(self, fv: np.ndarray, z_mult: np.ndarray | None) -> np.ndarray:
        r"""The dual candidate :math:`\lambda` for the predictions ``fv`` (see :meth:`dual_objective`)."""
        y = self.y
        if self.loss == Loss.SQUARED:
            return y - fv
        if self.loss == Loss.LOGISTIC:
            return y * (0.5 * (1.0 + np.tanh(-0.5 * y * fv)))
        return y * np.clip(y * z_mult, 0.0, 1.0)

    def dual_value(self, lam: np.ndarray, worst: float, beta: float) -> float:
        r"""Dual objective at :math:`\theta\lambda` (cone multipliers scaled alike), :math:`\theta`
        the best scale with :math:`\theta\cdot\mathrm{worst} \le \beta` (and the loss's domain)."""
        y = self.y
        feas = beta / worst if worst > 0 else math.inf
        if self.loss == Loss.SQUARED:
            ly, ll = float(lam @ y), float(lam @ lam)
            theta = min(max(ly / ll, 0.0), feas) if ll > 0 else 0.0
            return float(theta * ly - 0.5 * theta**2 * ll)
        theta = min(1.0, feas)
        sigma = theta * y * lam
        if self.loss == Loss.LOGISTIC:
            return float(np.sum(-xlogy(sigma, sigma) - xlogy(1.0 - sigma, 1.0 - sigma)))
        return float(np.sum(sigma))

    @functools.cached_property
    def cert_projector(self) -> ConeProjector:
        """The certificate's projector: its own working sets (other inputs than the v-step's)."""
        return self.projector.twin()

    def projected_dual(
        self, fv: np.ndarray, z_mult: np.ndarray | None, beta: float, budget: int | None = None
    ) -> float:
        r"""The exact dual bound for ``cone_method="projection"``: :math:`\lambda` from the
        predictions, and per block the exact dual constraint
        :math:`\min_{\nu \ge 0}\|F_j^T\lambda + G_j^T\nu\| = \|\Pi_{K_j}(F_j^T\lambda)\|
        \le \beta` (Moreau: the distance to the polar cone is the norm of the projection onto
        the cone). Each norm is bounded from above by an active-set iterate
        :math:`\|t + B_W^Tz\| \ge \|\Pi_K(t)\|` (``z >= 0``; exact once the working sets
        settle, and below ``beta / 2`` not refined further; ``budget`` caps the steps);
        :meth:`dual_value` scales the point to feasibility with the largest bound, so the result
        is a valid lower bound."""
        lam = self.loss_multiplier(fv, z_mult)
        # only the largest norm matters: a block may stop once its norm is certified below
        # tau = beta / 2 (then tau bounds it); the others' norms are ||prox|| + tau exactly
        tau = 0.5 * beta
        shrunk = self.cert_projector.prox(self.Ft(lam), tau, budget)
        return self.dual_value(lam, float(np.max(np.linalg.norm(shrunk, axis=0))) + tau, beta)

    def cone_lipschitz(self) -> float:
        r""":math:`\|X'^TE^2X'\|_2`, the Lipschitz constant of every block's cone-multiplier map."""
        if getattr(self, "_cone_L", None) is None:
            self._cone_L = float(np.linalg.eigvalsh(self.XtE2X)[-1])
        return self._cone_L

    def refined_dual(
        self,
        fv: np.ndarray,
        z_mult: np.ndarray | None,
        Gt_nu_admm: np.ndarray | None,
        nu_admm: np.ndarray | None,
        nu_prev: np.ndarray | None,
        beta: float,
        steps: int,
        *,
        nu_scale: float = 1.0,
        out: np.ndarray | None = None,
        scratch: np.ndarray | None = None,
    ) -> tuple[float, np.ndarray | None]:
        r"""A tight lower bound on the optimum: :math:`\lambda` from the predictions, cone
        multipliers refined per block, then scaled to be dual feasible (weak duality).

        With :math:`c_j = F_j^T\lambda` and :math:`B_j = X'^T\operatorname{diag}(e\,s_j)` (``s_j``
        the block's signs), the dual constraint is :math:`\|c_j + B_j\nu_j\| \le \beta`,
        :math:`\nu_j \ge 0` (``n`` multipliers per block). Each block starts from the better of
        the ADMM's multiplier (best nonnegative multiple, closed form) and ``nu_prev`` (the
        previous certificate's multipliers), and the blocks still outside the ball run up to
        ``steps`` steps of accelerated projected gradient (FISTA, function-value restart) on
        :math:`\tfrac12\operatorname{dist}(c_j + B_j\nu_j, \beta\mathbb{B})^2` over
        :math:`\nu_j \ge 0`, all blocks at once (two ``n x d' x |blocks|`` products a step,
        step size :math:`1/\|X'^TE^2X'\|_2`). The norms are then recomputed from scratch and
        :meth:`dual_value` scales the point to feasibility, so the bound is valid whatever the
        refinement achieved. The ADMM's multiplier is ``nu_scale * nu_admm``; ``out`` receives
        the multipliers (it must not alias ``nu_prev``) and ``scratch`` (``n x J``) is working
        space: without them, ``n x J`` temporaries cost page faults at large ``n``.

        Returns
        -------
        dual : float
            The lower bound.
        nu : ndarray (n, J) or None
            The refined multipliers (warm start of the next call), ``None`` without cones.
        """
        lam = self.loss_multiplier(fv, z_mult)
        C = self.Ft(lam)
        if not self.has_cones:
            return self.dual_value(lam, self._worst_norm(C), beta), None
        # candidate 1: the best nonnegative multiple of the ADMM multiplier, per block
        t = best_multiple(C, Gt_nu_admm)
        R = C + Gt_nu_admm * t
        nu = np.multiply(nu_admm, nu_scale * t, out=out)
        norms = np.linalg.norm(R, axis=0)
        # candidate 2: the previous certificate's multipliers
        if nu_prev is not None:
            R2 = C + self.Gt(nu_prev, scratch)
            n2 = np.linalg.norm(R2, axis=0)
            better = n2 < norms
            if np.any(better):
                nu[:, better] = nu_prev[:, better]
                R[:, better] = R2[:, better]
                norms[better] = n2[better]
        active = np.flatnonzero(norms > beta)
        if active.size and steps > 0:
            X = self.X
            EA = self.ES2[:, active]
            CA = C[:, active]
            x = nu[:, active]
            Rx = R[:, active]
            yv, Ry = x, Rx
            step = 1.0 / max(self.cone_lipschitz(), 1e-300)
            tk = 1.0
            fx = float(np.sum(np.maximum(np.linalg.norm(Rx, axis=0) - beta, 0.0) ** 2))
            for _ in range(steps):
                ny = np.linalg.norm(Ry, axis=0)
                g = Ry * np.maximum(0.0, 1.0 - beta / np.where(ny > 0, ny, 1.0))
                grad = X @ g
                grad *= EA
                x_new = yv - step * grad
                np.maximum(x_new, 0.0, out=x_new)
                R_new = CA + X.T @ (EA * x_new)
                n_new = np.linalg.norm(R_new, axis=0)
                f_new = float(np.sum(np.maximum(n_new - beta, 0.0) ** 2))
                if f_new > fx:  # restart the momentum
                    tk = 1.0
                t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * tk * tk))
                mom = (tk - 1.0) / t_next
                yv = x_new + mom * (x_new - x)
                Ry = R_new + mom * (R_new - Rx)
                x, Rx, fx, tk = x_new, R_new, f_new, t_next
                if f_new == 0.0:
                    break
            nu[:, active] = x
            R[:, active] = CA + X.T @ (EA * x)  # from scratch: the bound must not trust updates
            norms[active] = np.linalg.norm(R[:, active], axis=0)
        return self.dual_value(lam, float(np.max(norms)), beta), nu
