r"""Structured ADMM for the convex ReLU programs (the paper's Algorithm 3.1 and beyond).

The solver works on the *structure* a builder recorded in a :class:`~cvxnn.programs.ConvexProgram`
(patterns ``D``, design ``X'``, labels, loss, ``beta``), never on CVXPY's canonical cone data.

Splitting
---------
Write ``U = [V, W]`` (``d' x 2P``, column ``j`` is :math:`u_j`), :math:`F u = \sum_i D_i X'(v_i - w_i)`
and :math:`G u = \big(E\,(2D_i - I) X' v_i,\ E\,(2D_i - I) X' w_i\big)_i`, where ``E`` is a
positive diagonal row scaling (``E = diag(1/||x'_k||)`` by default; the cone
:math:`\{G u \ge 0\}` does not depend on it). The ``relu`` program is

.. math::
    \min_{u, v, s, z}\; L(z, y) + \beta \sum_j \|v_j\|_2 + I_{\ge 0}(s)
    \quad\text{s.t.}\quad u = v,\ \ G u = s,\ \ F u = z,

solved by scaled ADMM with one penalty per constraint block (``rho_u``, ``rho_s``, ``rho_z``),
over-relaxation ``alpha`` and adaptive penalties. Every iteration:

1. :math:`u \leftarrow M^{-1}\big(\rho_u(v - \lambda) + \rho_s G^T(s - \nu) + r_z\big)` with
   :math:`M = w F^TF + \rho_u I + \rho_s G^TG`;
2. :math:`\hat u = \alpha u + (1-\alpha) v`, :math:`v_j \leftarrow (1 - \beta/(\rho_u\|\hat u_j
   + \lambda_j\|))_+(\hat u_j + \lambda_j)` (group soft-threshold), :math:`\lambda \mathrel{+}= \hat u - v`;
3. :math:`s \leftarrow \max(0, \widehat{Gu} + \nu)`, :math:`\nu \mathrel{+}= \widehat{Gu} - s`;
4. (logistic, hinge) :math:`z \leftarrow \operatorname{prox}_{L/\rho_z}(\widehat{Fu} + \mu)`,
   :math:`\mu \mathrel{+}= \widehat{Fu} - z`.

For the **squared loss** there is no ``z`` block: the loss stays in step 1 (Algorithm 3.1),
``w = 1`` and :math:`r_z = F^T y`. For **logistic and hinge** the extra split ``z = F u`` keeps
the linear system of step 1 *fixed* (``w = rho_z``, :math:`r_z = \rho_z F^T(z - \mu)`) and moves
the loss into a separable prox: closed form for the hinge loss, a few safeguarded Newton steps
per coordinate for the logistic loss (its curvature lies in :math:`[\rho_z, \rho_z + 1/4]`, so
Newton contracts globally). We chose this over the paper's randomized block coordinate descent
for the u-step because it reuses the one cached factorization, has exact (not inexact) steps, and
gives honest residual-based stopping with the same code path as the squared loss.

``gated_relu`` drops ``s`` (no cones) and uses ``U`` (``d' x P``); ``scp`` uses ``u = a`` with
``F = (X' g_h)_+`` and an elementwise soft-threshold (the :math:`\ell_1` prox).

**Cone projection (the default for relu, ``cone_method="projection"``).** The splitting above is
the paper's; it is kept as ``cone_method="slack"``. By default the cones are not split off at
all: with :math:`K_j = \{u : (2D_i - I)X'u \ge 0\}`,

.. math::
    \min_{u, v, z}\; L(z, y) + \sum_j \big(\beta\|v_j\|_2 + I_{K_j}(v_j)\big)
    \quad\text{s.t.}\quad u = v,\ \ F u = z,

so step 3 disappears, step 1 loses its :math:`\rho_s G^TG` term (:math:`A = \rho_u I`) and
step 2 becomes the prox of :math:`\beta\|\cdot\| + I_{K_j}`, which for any closed convex cone
is the group soft-threshold of the Euclidean projection onto :math:`K_j` (proof in
:meth:`cvxnn.admm.cones.ConeProjector.prox`). The projections (a QP with ``n`` half-spaces in
:math:`\mathbb{R}^{d'}` per block) are computed exactly by warm-started active sets, all blocks
at once: once the active rows settle, one ``n x d' x 2P`` product verifies them
(:mod:`cvxnn.admm.cones`). Why it wins: the slack splitting must drive ``2nP`` slacks into the
``2d'P``-dimensional range of ``G``, and its iterates approach the optimum from outside the
cones (infeasible, objective below the optimum); here every ``v`` is feasible, the objective
approaches from above, and the iteration counts dropped 10-20x (measurements in ``benchmarks/NOTES.md``). The
certificate uses the exact dual constraint :math:`\|\Pi_{K_j}(F_j^T\lambda)\| \le \beta`
(:meth:`~cvxnn.admm.certificates.DualCertificates.projected_dual`).

Linear algebra
--------------
Because :math:`(2D_i - I)^2 = I`, :math:`G^TG = I_{2P} \otimes X'^TE^2X'` with
:math:`A = \rho_u I + \rho_s X'^TE^2X'` a single ``d' x d'`` matrix. With ``\Delta = V - W`` and
``\Sigma = V + W`` the system decouples into :math:`A\Sigma = R_V + R_W` and
:math:`(2w F_0^TF_0 + I_P \otimes A)\Delta = R_V - R_W` where :math:`F_0 = [D_1X', \dots, D_PX']`,
halving the dimension to ``d'P``. That reduced system is solved by

- ``"woodbury"``: :math:`F_0 (I\otimes A)^{-1}F_0^T = K \odot (DD^T)` with :math:`K = X'A^{-1}X'^T`,
  so one ``n x n`` capacitance :math:`I + cK\odot DD^T` (eigenvalues >= 1), inverted once
  in place from its Cholesky factor (``potri``) and applied with ``dsymv`` (cheaper per iteration than
  two memory-bound triangular solves), plus the inverse of the ``d' x d'`` ``A``;
- ``"cholesky"``: the explicit ``d'P x d'P`` matrix, from a cached Gram :math:`F_0^TF_0` (one
  ``dsyrk`` pass over row chunks, reused across penalties and beta), factored and inverted in
  place (``potrf``, ``potri``) and applied with one ``dsymv``;
- ``"cg"``: matrix-free preconditioned CG (block-Jacobi preconditioner
  :math:`wX'^TD_iX' + A`, warm-started) when neither factor fits ``memory_limit_gb``.

``"auto"`` picks Woodbury when ``n <= d'P`` and Cholesky otherwise, within the memory limit.
Per iteration the slack splitting costs about six dense ``n x d' x P`` products plus one
``min(n, d'P)`` square matrix-vector product; the projection splitting four (two in the u-step,
one width-2P verification of the projections) once its working sets have settled.

Certified stopping (duality gap)
--------------------------------
With ``cone_method="projection"`` the certificate is
:meth:`~cvxnn.admm.certificates.DualCertificates.projected_dual` (the exact dual constraint
through cone projections, see above). With the slack splitting, every ``certificate_interval``
iterations (and at the end) :meth:`~cvxnn.admm.certificates.DualCertificates.refined_dual` builds a
dual-feasible point: :math:`\lambda = -\nabla L(Fv)` (hinge: the loss multiplier clipped to its
box), per block the better of two nonnegative cone multipliers (the best multiple of the ADMM's
and the previous certificate's), optionally refined by ``certificate_steps`` FISTA steps on
:math:`\operatorname{dist}(F_j^T\lambda + G_j^T\nu_j, \beta\mathbb{B})^2`, then the best scaling
:math:`\theta` that makes every block satisfy :math:`\|\cdot\| \le \beta`. Its dual objective is a
lower bound on the optimum (weak duality; tested against Clarabel at random points), and the
largest bound seen so far is kept. ``optimal`` means: certified relative gap ``<= gap_tol``
*and* relative cone violation of the returned point ``<= cone_tol`` (for the slack splitting at
the exact projection of ``v`` onto the cones); meeting the residual rule below only triggers a
certificate (``gap_tol=None`` keeps the residual rule alone, uncertified).

Stopping (Boyd et al. / OSQP): with ``r_p`` the stacked primal residual of all constraint blocks
and ``r_d`` the dual residual :math:`\rho_u(v - v^-) + \rho_s G^T(s - s^-) + \rho_z F^T(z - z^-)`,
stop when :math:`\|r_p\| \le \epsilon_{abs}\sqrt{m} + \epsilon_{rel}\max(\|(u, Gu, Fu)\|, \|(v, s, z)\|)`
and :math:`\|r_d\| \le \epsilon_{abs}\sqrt{p}
+ \epsilon_{rel}\|\rho_u\lambda + \rho_s G^T\nu + \rho_z F^T\mu\|`.
The returned point is ``v`` (exactly group-sparse); its objective is evaluated exactly (summed
loss, no ``1/n``, identical to the CVXPY objective) and its cone violation is reported.

Modules
-------
``settings`` (:class:`AdmmSettings`, :class:`AdmmProgress`, :class:`AdmmState`,
:class:`AdmmResult`), ``structure`` (data and operators of one program), ``linsys`` (the u-step's
linear system), ``prox`` (loss and regularizer proxes), ``cones`` (exact cone projections),
``certificates`` (dual bounds), ``penalties`` (residual balancing), ``acceleration`` (Anderson),
``printer`` (the verbose table), ``records``, ``solver`` (:class:`AdmmSolver`, the loop) and
``api`` (:func:`solve_admm`). Measurements and approaches not kept are in ``benchmarks/NOTES.md``.

The robust programs (``docs/robust_admm.md``): ``robust_prox`` (per-sample proxes of the
worst-case losses, norm-cone and robust-slack projections), ``robust_certificates`` (the robust
dual bound), ``robust_structure`` (operators and the linear system with the g-map) and
``robust_solver`` (:class:`~cvxnn.admm.robust_solver.RobustAdmmSolver`, the loop's robust steps).
"""

from __future__ import annotations

from .api import solve_admm, solver_for
from .settings import (
    CONE_METHODS,
    LINEAR_SOLVERS,
    RHO_BAND,
    SUPPORTED_KINDS,
    AdmmProgress,
    AdmmResult,
    AdmmSettings,
    AdmmState,
)
from .solver import AdmmSolver
from .structure import check_program

__all__ = [
    "CONE_METHODS",
    "LINEAR_SOLVERS",
    "RHO_BAND",
    "SUPPORTED_KINDS",
    "AdmmProgress",
    "AdmmResult",
    "AdmmSettings",
    "AdmmSolver",
    "AdmmState",
    "check_program",
    "solve_admm",
    "solver_for",
]
