r"""The ADMM for the robust programs: :class:`RobustAdmmSolver` (``docs/robust_admm.md``).

It is :class:`~cvxnn.admm.solver.AdmmSolver` with the robust blocks of
:mod:`cvxnn.admm.robust_structure`: the same loop, settings, statuses, residual balancing,
Anderson acceleration, callback and result, with

- the u-step's right-hand side :math:`\rho_u(v - \lambda) + \rho_sG^T(s - \nu) +
  \rho_z(F^T(a - \mu_a) + \bar G^T(g - \mu_g))`;
- the s-step: the exact projection onto the robust slack cone
  (:func:`~cvxnn.admm.robust_prox.project_robust_slack`, warm-started by the last radii);
- the z-step: the per-sample prox of the worst-case loss in the pair :math:`(a_k, \bar g_k)`
  (:func:`~cvxnn.admm.robust_prox.robust_loss_prox`);
- the certificate: the robust weak-duality bound of :mod:`cvxnn.admm.robust_certificates`
  (every ``certificate_interval`` iterations, whenever the residual rule is met, and at the end);
- the polish: the exact projection of ``v`` onto the robust cones (the v-step's projector
  class, its own warm start), tried when the certified gap at
  ``v`` is within ``POLISH_GAP_FACTOR * gap_tol`` in absolute value; ``optimal`` needs the gap at
  the projected (feasible) point within ``gap_tol`` and its relative cone violation within
  ``cone_tol``. A run that ends at a limit returns the projected point, so its objective is never
  below the optimum and the reported gap bound is a valid one (nonnegative).

The cones: with ``cone_method="projection"`` (the default) the v-step is the group
soft-threshold of the exact projection onto the robust cones (no slack block; ``v`` is feasible
after every exact v-step), warm-started from the last call: for l_inf and l_1 perturbations
(polyhedral cones) by Lawson-Hanson with column generation
(:class:`~cvxnn.admm.robust_active_set.ActiveSetConeProjector`, a few cut rows per v-step until
its working rows cover the active ones), for l_2 by the dual Newton method of
:class:`~cvxnn.admm.robust_newton.NewtonConeProjector` (one or two Newton steps); see
:mod:`cvxnn.admm.robust_vstep`.
``cone_method="slack"`` uses the slack splitting above (``docs/robust_admm.md``, §5 and §7).
``eps`` is read from ``program.eps`` by :func:`~cvxnn.admm.solve_admm` (or set with
:meth:`RobustAdmmSolver.update`); it enters no factorization, so an eps path re-solves with the
same factor and warm-starts from the previous iterates.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import cvxpy as cp
import numpy as np

from .._validation import check_eps
from ..exceptions import InvalidInputError
from .printer import Printer
from .records import CheckRecord, RunRecord
from .robust_certificates import best_cone_scale, block_distances, loss_dual_candidate, robust_dual_value
from .robust_kkt import hinge_kkt_newton, kkt_system_size
from .robust_prox import project_robust_slack, robust_loss_prox
from .robust_structure import RobustStructure
from .robust_vstep import ConeVStep, RobustConeProjectorKind, new_cone_projector
from .settings import AdmmResult, AdmmSettings, AdmmState
from .solver import AdmmSolver, squared_norms
from .start import initial_penalties
from .structure import check_program, program_fingerprint

if TYPE_CHECKING:
    from ..programs import ConvexProgram

__all__ = [
    "KKT_ENTRY_SCALE",
    "KKT_GAP_FACTOR",
    "KKT_MEMORY_FRACTION",
    "KKT_PRICING_ROUNDS",
    "KKT_TIME_SHARE",
    "POLISH_GAP_FACTOR",
    "RobustAdmmSolver",
]

#: At a certificate check, the ADMM's point ``v`` (outside the robust cones by the residual) is
#: projected onto them when ``|objective(v) - dual bound| <= POLISH_GAP_FACTOR * gap_tol *
#: |objective(v)|``; the certified stop is decided at the projected point.
POLISH_GAP_FACTOR = 10.0

#: Hinge programs under l_2 perturbations: at a certificate check with ``|gap| <=
#: KKT_GAP_FACTOR * gap_tol * |objective|`` whose identified sets (active blocks, kink samples,
#: active cone rows) are those of the previous check, Newton's method on the reduced KKT system
#: (:func:`~cvxnn.admm.robust_kkt.hinge_kkt_newton`) is tried; attempts are spaced as the polish's
#: (:meth:`RobustAdmmSolver._next_attempt`).
KKT_GAP_FACTOR = 1000.0

#: Blocks priced into the reduced KKT system per attempt (:meth:`RobustAdmmSolver._kkt_polish`),
#: and the norm of an entering block's start relative to the median active block.
KKT_PRICING_ROUNDS, KKT_ENTRY_SCALE = 2, 1e-2

#: KKT attempts are spaced to take at most this share of the run's time (a success ends the run;
#: the polish takes a tenth).
KKT_TIME_SHARE = 0.25

#: The reduced KKT system is solved densely; it is tried only when its matrix takes at most this
#: fraction of ``memory_limit_gb``.
KKT_MEMORY_FRACTION = 0.1


class RobustAdmmSolver(AdmmSolver):
    r"""The structured ADMM of one ``robust_relu`` program.

    Parameters
    ----------
    program : ConvexProgram
        From :func:`~cvxnn.robust_relu_program`; its data, ``beta`` and ``eps`` are read now.
    settings : AdmmSettings, dict or None
        As for :class:`~cvxnn.admm.AdmmSolver` (``linear_solver="woodbury"`` is refused).

    Attributes
    ----------
    eps : float
        The radius the next solve uses.
    v_step : ConeVStep or None
        The projection v-step (None with ``cone_method="slack"``); its ``inexact_steps`` counts
        the last solve's v-steps cut short by the column-generation cap (l_inf / l_1).

    Notes
    -----
    The state's ``s, nu`` stack the slack rows and the copies of the perturbable rows
    (``(n + d, 2P)``); ``z, mu`` stack the predictions and the columns :math:`\bar g_k`
    (``(1 + d, n)``).
    """

    structure: RobustStructure

    def __init__(
        self, program: ConvexProgram, settings: AdmmSettings | Mapping[str, Any] | None = None
    ) -> None:
        self.beta = check_program(program)
        self.settings = AdmmSettings.coerce(settings)
        self.structure = RobustStructure(program, self.settings)
        self.eps = self.structure.eps
        self.fingerprint = program_fingerprint(program, self.settings)
        self.rho: dict[str, float] | None = None
        self.state: AdmmState | None = None
        self.last_result: AdmmResult | None = None
        self._start: AdmmState | np.ndarray | None = None
        self._radius: np.ndarray | None = None
        self._certified = False
        self._polish_next, self._near = 0, False
        self._kkt_next, self._kkt_sets = 0, None
        self._theta: np.ndarray | None = None
        self._unprojected = False
        st = self.structure
        #: whether the v-step projects exactly onto the robust cones (no slack block)
        self.projection = self.settings.cone_method == "projection"
        self.v_step = ConeVStep(st) if self.projection else None
        st.slack = not self.projection

    # ------------------------------------------------------------------ configuration
    def update(self, *, beta: float | None = None, eps: float | None = None, **settings: Any) -> None:
        """Change ``beta``, ``eps`` and/or settings for the next solve (the factor is kept)."""
        if eps is not None:
            self.eps = check_eps(eps)
        if settings.get("linear_solver") == "woodbury":
            raise InvalidInputError("linear_solver='woodbury' is not available for robust programs.")
        super().update(beta=beta, **settings)

    def _shapes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        st = self.structure
        return (st.n + st.dbar, st.J), (1 + st.dbar, st.n)

    def warm_start(self, start: AdmmResult | AdmmState | Mapping[str, Any] | None) -> None:
        """As :meth:`AdmmSolver.warm_start`; a state of another program kind is refused."""
        st = self.structure
        if isinstance(start, AdmmResult):
            if start.kind != st.kind or start.state is None:
                raise InvalidInputError(
                    f"warm_start is an AdmmResult of a {start.kind!r} program; expected {st.kind!r}."
                )
            start = start.state
        if isinstance(start, AdmmState):
            s_shape, z_shape = self._shapes()
            if start.shape != (st.d, st.J, st.n) or start.s.shape != s_shape or start.z.shape != z_shape:
                raise InvalidInputError(
                    f"warm_start state has shape {start.shape} (slack {start.s.shape}); expected "
                    f"{(st.d, st.J, st.n)} with slack {s_shape}."
                )
            self._start = start
            return
        super().warm_start(start)

    def _initial_state(self) -> AdmmState:
        if isinstance(self._start, AdmmState):
            if self.projection:  # no slack block (its penalty is 0): nothing to rescale
                self._start = dataclasses.replace(self._start, rho={**self._start.rho, "s": 1.0})
            elif self._start.rho.get("s", 0.0) <= 0.0:  # a state of the projection v-step
                rho = {**self._start.rho, "s": self.structure.default_rho["s"]}
                self._start = dataclasses.replace(self._start, rho=rho, nu=np.zeros_like(self._start.nu))
            state = super()._initial_state()
            if self.projection:
                state.rho["s"] = 0.0
            return state
        U0, self._start = self._start, None
        return self._cold_state(U0)

    def _cold_state(self, U0: np.ndarray | None) -> AdmmState:
        """The state with ``u = v = U0`` (0 when None), its exact slack and loss blocks and zero
        multipliers."""
        st = self.structure
        rho = initial_penalties(st, self.settings, None, self.rho)
        if self.projection:
            rho["s"] = 0.0  # no slack block: A = rho_u I
        U = np.zeros((st.d, st.J)) if U0 is None else U0
        XU = st.X @ U
        s = np.vstack([np.maximum(st.ES2 * XU, 0.0), U[: st.dbar]])
        z = np.vstack([st.Fu_from_XU(XU)[None, :], st.Gbar(U)])
        zeros = np.zeros((st.d, st.J))
        return AdmmState(
            u=U, v=U.copy(), lam=zeros, s=s, nu=np.zeros_like(s), z=z, mu=np.zeros_like(z), rho=rho, n=st.n
        )

    def solve(self) -> AdmmResult:
        """Run the ADMM at the current ``eps`` and ``beta`` (see :meth:`AdmmSolver.solve`)."""
        self.structure.eps, self.structure.beta = self.eps, self.beta
        self._polish_next, self._near = 0, False
        self._kkt_next, self._kkt_sets = 0, None
        if self.v_step is not None:
            self.v_step.reset()
        return super().solve()

    def _stop(self, run: RunRecord, check: CheckRecord, k: int) -> bool:
        """The stopping tests of one check: divergence, then the certified gap (``optimal``).

        As :meth:`AdmmSolver._stop`, with the robust finishes, both at checks that refreshed the
        certificate. Hinge programs under l_2 perturbations first try Newton on the reduced KKT
        system (:meth:`_kkt_due`, :meth:`_kkt_polish`). Then, with ``|gap| <= POLISH_GAP_FACTOR *
        gap_tol * |objective|`` at ``v``, the polish projects ``v`` exactly onto the robust cones
        (:meth:`_polish`). The run stops ``optimal`` when the gap at such a point is within
        ``gap_tol`` and its relative cone violation within ``cone_tol`` (:meth:`_accept`), and then
        returns that point. The next attempts wait as :meth:`_next_attempt` says; near the end
        every check refreshes the certificate (:meth:`_certificate_step`).
        """
        settings = self.settings
        r_p, r_d, obj, gap = check.r_p, check.r_d, check.obj, check.gap
        if not (math.isfinite(r_p) and math.isfinite(r_d) and math.isfinite(obj)) or not np.all(
            np.isfinite(self.state.u)
        ):
            run.status = cp.SOLVER_ERROR
            run.message = (
                f"ADMM diverged at iteration {k}: non-finite iterates (primal residual {r_p}, dual "
                f"residual {r_d}). Try a different rho, linear_solver, or a CVXPY solver."
            )
            return True
        if r_p > 1e20 or r_d > 1e20:
            run.status = cp.SOLVER_ERROR
            run.message = f"ADMM diverged at iteration {k}: residuals {r_p:.3g} / {r_d:.3g} exceed 1e20."
            return True
        if settings.gap_tol is None:  # the residual rule alone (the user opted out of certificates)
            exact = self.v_step is None or self.v_step.projector.exact  # v is returned unpolished
            if self._residuals_met(check) and exact:
                run.status = cp.OPTIMAL
                run.message = (
                    f"Converged in {k} iterations: primal residual {r_p:.3g} <= {check.eps_p:.3g}, dual "
                    f"residual {r_d:.3g} <= {check.eps_d:.3g} (gap_tol=None: no certificate)."
                )
                return True
            return False
        if not self._certified:
            return False
        if self._kkt_due(gap, obj, k):
            t_kkt = time.perf_counter()
            solved = self._kkt_polish(run)
            self._kkt_next = self._next_attempt(run, k, time.perf_counter() - t_kkt, KKT_TIME_SHARE)
            if solved is not None and self._accept(
                run, check, k, solved, "a Newton step on the reduced KKT system"
            ):
                return True
        if not (k >= self._polish_next and self._gap_within(gap, obj, POLISH_GAP_FACTOR)):
            return False
        t_polish = time.perf_counter()
        polished = self._polish(run)
        self._polish_next = self._next_attempt(run, k, time.perf_counter() - t_polish)
        return polished is not None and self._accept(
            run, check, k, polished, "the projection onto the robust cones"
        )

    def _accept(
        self,
        run: RunRecord,
        check: CheckRecord,
        k: int,
        point: tuple[np.ndarray, np.ndarray, float],
        how: str,
    ) -> bool:
        """Stop ``optimal`` at ``point = (v, X'v, objective)`` (in the robust cones) when its gap to
        the best bound is within ``gap_tol`` and its relative cone violation within ``cone_tol``."""
        settings = self.settings
        v, XV, obj = point
        gap = obj - run.best_dual
        viol_rel = self.structure.cone_violation(XV)[1]
        if not (AdmmSolver._gap_within(self, gap, obj) and viol_rel <= settings.cone_tol):
            return False
        self.state.v = v
        np.copyto(check.XV, XV)
        check.obj, check.gap = obj, gap
        run.status = cp.OPTIMAL
        run.message = (
            f"Converged in {k} iterations with a duality-gap certificate at the point of {how}: "
            f"objective - dual bound = {gap:.3g} <= gap_tol * |objective| = "
            f"{settings.gap_tol * abs(obj):.3g}, relative robust-cone violation {viol_rel:.3g} <= "
            f"cone_tol = {settings.cone_tol:g} (primal residual {check.r_p:.3g}, dual residual "
            f"{check.r_d:.3g})."
        )
        return True

    def _next_attempt(self, run: RunRecord, k: int, seconds: float, share: float = 0.1) -> int:
        """After a polish (or KKT) attempt at iteration ``k`` that took ``seconds``: the iteration
        of the next, after as many iterations as keep the attempts within ``share`` of the run's
        time (at least ``check_interval``, at most 16 certificate intervals). With the fast projectors
        a polish costs about one iteration, so it follows at the next check; a conic fallback
        (seconds) spaces them out. Fixed doubling waits had stopped runs up to 400 iterations
        after the first point certifiable."""
        settings = self.settings
        per_iteration = (time.perf_counter() - run.t_loop0) / max(k, 1)
        wait = math.ceil(seconds / share / max(per_iteration, 1e-12))
        return k + min(max(wait, settings.check_interval), 16 * settings.certificate_interval)

    def _kkt_due(self, gap: float, obj: float, k: int) -> bool:
        """Whether to try the reduced KKT system now (:data:`KKT_GAP_FACTOR`): a hinge program
        under l_2 perturbations (or eps = 0) with the projection v-step, the gap within the
        factor, the identified sets unchanged since the last certificate, the system small enough
        (:data:`KKT_MEMORY_FRACTION`) and the last attempt's wait over."""
        st = self.structure
        if not (
            st.loss == "hinge"
            and (st.q == 2.0 or st.eps == 0)
            and self.projection
            and self._theta is not None
        ):
            return False
        if not self._gap_within(gap, obj, KKT_GAP_FACTOR):
            self._kkt_sets = None
            return False
        sets = self._identified_sets()
        stable = self._kkt_sets is not None and all(
            np.array_equal(a, b) for a, b in zip(sets, self._kkt_sets, strict=True)
        )
        self._kkt_sets = sets
        size = kkt_system_size(sets[0].size, st.d, int(sets[1].sum()), int(sets[2][:, sets[0]].sum()))
        small = 8.0 * size**2 <= KKT_MEMORY_FRACTION * self.settings.memory_limit_gb * 2**30
        return stable and small and k >= self._kkt_next

    def _identified_sets(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The active blocks of ``v``, the samples at the hinge's kink (the z-step's multiplier
        strictly inside ``(0, 1)``) and the active cone rows (the v-step projection's positive
        multipliers)."""
        active = np.flatnonzero(np.linalg.norm(self.state.v, axis=0) > 0)
        kink = (self._theta > 0.0) & (self._theta < 1.0)
        return active, kink, self._cone_multipliers() > 0

    def _kkt_polish(self, run: RunRecord) -> tuple[np.ndarray, np.ndarray, float] | None:
        r"""Newton on the reduced KKT system from the ADMM's point and multipliers
        (:func:`~cvxnn.admm.robust_kkt.hinge_kkt_newton`), then, as for :meth:`_polish`, the exact
        projection of its point onto the robust cones, ``X'p`` and the objective there.

        The bound is refreshed from the solution's multipliers (:math:`\lambda = y\sigma`, its
        :math:`\Gamma`, the cone multipliers of every block by exact projection, as in
        :meth:`zero_network_bound`). A block outside the active set whose projection is longer
        than ``beta`` prices in (its stationarity fails): it joins the active set, started along
        its projection, and the system is solved again (at most :data:`KKT_PRICING_ROUNDS`
        times). None when Newton fails or a projection does not finish exactly."""
        st, x = self.structure, self.state
        rho = x.rho
        _, kink, rows = self._identified_sets()
        lam, gam = loss_dual_candidate(
            st.loss,
            st.y,
            st.Fu_from_XU(st.X @ x.v),
            st.Gbar(x.v),
            st.eps,
            st.q,
            -rho["z"] * x.mu[0],
            -rho["z"] * x.mu[1:],
        )
        sigma = np.where(kink, st.y * lam, self._theta)
        nu = rho["u"] * self._cone_multipliers()
        U = x.v
        for _ in range(KKT_PRICING_ROUNDS + 1):
            solution = hinge_kkt_newton(st, U, kink, sigma, rows, nu, self.beta, fallback_gam=gam)
            if solution is None:
                return None
            lam = st.y * solution.sigma
            prices = self._pricer.project(st.Ft(lam) + st.Gbar_t(solution.gam), st.eps)
            # any multipliers >= 0 give a valid bound
            run.best_dual = max(run.best_dual, self._dual_bound(lam, solution.gam, self._pricer.multipliers))
            if prices is None:
                break
            norms = np.linalg.norm(solution.U, axis=0)
            length = np.linalg.norm(prices, axis=0)
            entering = (norms == 0) & (length > self.beta * (1.0 + self.settings.gap_tol))
            if not entering.any():
                break
            # an entering block starts along its projection, with that projection's active rows
            U, kink, sigma = solution.U.copy(), solution.kink, solution.sigma
            rows, nu = solution.rows.copy(), solution.nu.copy()
            start = KKT_ENTRY_SCALE * float(np.median(norms[norms > 0]))
            U[:, entering] = start * prices[:, entering] / length[entering][None, :]
            rows[:, entering] = self._pricer.multipliers[:, entering] > 0
            nu[:, entering] = self._pricer.multipliers[:, entering]
        p = self._polisher.project(solution.U, st.eps)
        if p is None or not self._polisher.exact:
            return None
        XP = st.X @ p
        return p, XP, st.objective_from(p, XP, self.beta)

    @functools.cached_property
    def _polisher(self) -> RobustConeProjectorKind:
        """The exact projector of the finishes (its own multipliers: the v-step's are the
        certificate's)."""
        return new_cone_projector(self.structure)

    @functools.cached_property
    def _pricer(self) -> RobustConeProjectorKind:
        """The exact projector that prices the blocks outside the reduced KKT system."""
        return new_cone_projector(self.structure)

    def _polish(self, run: RunRecord) -> tuple[np.ndarray, np.ndarray, float] | None:
        r"""The exact projection ``p`` of ``v`` onto the robust cones, ``X'p`` and the objective
        at ``p``; the certified bound is refreshed at ``p`` (its loss multipliers follow the
        point). None when the conic solver fails, a row stays unverified, or the projection would
        run past ``time_limit`` (it gets what is left of it, at least a tenth)."""
        st, limit = self.structure, self.settings.time_limit
        if limit is not None:
            limit = max(0.1 * limit, limit - (time.perf_counter() - run.t_start))
        projector = self._polisher
        v = projector.project(self.state.v, st.eps, limit)
        if v is None or not projector.exact:
            return None
        XV = st.X @ v
        run.best_dual = max(run.best_dual, self.robust_bound(v, XV))
        return v, XV, st.objective_from(v, XV, self.beta)

    # ------------------------------------------------------------------ the steps
    def _u_step(self) -> None:
        st, x = self.structure, self.state
        rho = x.rho
        R = rho["u"] * (x.v - x.lam)
        if not self.projection:
            R += rho["s"] * st.slack_t(x.s - x.nu)
        R += rho["z"] * st.loss_t(x.z - x.mu)
        x.u = st.solve(R)
        np.matmul(st.X, x.u, out=self._XU)

    def _slack_of_u(self) -> np.ndarray:
        r""":math:`Gu = [E S X'u;\ \bar u]` (``(n + d, 2P)``)."""
        st = self.structure
        return np.vstack([st.ES2 * self._XU, self.state.u[: st.dbar]])

    def _cone_multipliers(self) -> np.ndarray:
        """The last v-step's cone multipliers (``(n, 2P)``; the certificate's)."""
        if self.v_step is None:  # callers run only with the projection v-step
            raise RuntimeError("the slack splitting has no v-step projector")
        return self.v_step.projector.multipliers

    def _v_step(self, k: int) -> None:
        r"""Slack splitting: the group soft-threshold. Projection: the group soft-threshold of the
        exact projection onto the robust cones, the prox of :math:`\beta\|\cdot\| + I_{K^\epsilon_j}`
        (as for any closed convex cone, ``docs/robust_admm.md``, §5)."""
        if not self.projection:
            super()._v_step(k)
            return
        st, x, alpha = self.structure, self.state, self.settings.alpha
        Uh = alpha * x.u + (1.0 - alpha) * x.v
        p = self.v_step.project(Uh + x.lam, st.eps, zero_radius=self.beta / x.rho["u"])
        x.v = st.prox_reg(p, self.beta / x.rho["u"])
        x.lam = x.lam + (Uh - x.v)

    def _s_step(self) -> None:
        if self.projection:
            return
        st, x, alpha = self.structure, self.state, self.settings.alpha
        T = alpha * self._slack_of_u() + (1.0 - alpha) * x.s + x.nu
        rows, c, self._radius = project_robust_slack(
            T[: st.n], T[st.n :], st.eps, st.q, st.e, radius0=self._radius
        )
        x.s = np.vstack([rows, c])
        x.nu = T - x.s

    def _loss_of_u(self) -> np.ndarray:
        r"""``[F u; \bar G u]`` (``(1 + d, n)``)."""
        st = self.structure
        return np.vstack([st.Fu_from_XU(self._XU)[None, :], st.Gbar(self.state.u)])

    def _z_step(self) -> None:
        st, x, alpha = self.structure, self.state, self.settings.alpha
        self._ZU = self._loss_of_u()
        Zh = alpha * self._ZU + (1.0 - alpha) * x.z
        T = Zh + x.mu
        rho_z = x.rho["z"]
        a, g, self._theta = robust_loss_prox(st.loss, T[0], T[1:], st.y, st.eps, st.q, rho_z, rho_z)
        x.z = np.vstack([a[None, :], g])
        x.mu = T - x.z

    def _residuals(self) -> CheckRecord:
        st, x = self.structure, self.state
        rho = x.rho
        check = CheckRecord()
        parts = {"u": (*squared_norms(x.u, x.v), rho["u"] * (x.v - self._v_prev), rho["u"] * x.lam)}
        if not self.projection:
            check.ys = rho["s"] * st.slack_t(x.nu)
            parts["s"] = (
                *squared_norms(self._slack_of_u(), x.s),
                rho["s"] * st.slack_t(x.s - self._S_prev),
                check.ys,
            )
        parts |= {
            "z": (
                *squared_norms(self._ZU, x.z),
                rho["z"] * st.loss_t(x.z - self._z_prev),
                rho["z"] * st.loss_t(x.mu),
            ),
        }
        return self._combine_residuals(check, parts)

    def robust_bound(self, V: np.ndarray, XV: np.ndarray) -> float:
        r"""A certified lower bound on the optimum from the point ``V`` (``XV = X'V``) and the
        current multipliers (``docs/robust_admm.md``, section 6)."""
        st, x = self.structure, self.state
        rho, eps, q = x.rho, st.eps, st.q
        lam, gam = loss_dual_candidate(
            st.loss,
            st.y,
            st.Fu_from_XU(XV),
            st.Gbar(V),
            eps,
            q,
            -rho["z"] * x.mu[0],
            -rho["z"] * x.mu[1:],
            kink=x.z[0] == st.y,
        )
        if self.projection:  # the v-step projection's multipliers (any nu >= 0 is valid)
            nu = rho["u"] * self._cone_multipliers()
        else:
            nu = np.maximum(-rho["s"] * x.nu[: st.n], 0.0)
        return self._dual_bound(lam, gam, nu)

    def _dual_bound(self, lam: np.ndarray, gam: np.ndarray, nu: np.ndarray) -> float:
        r"""The robust weak-duality bound at the loss multipliers ``(lam, gam)`` (in the loss
        conjugate's domain) and the cone multipliers ``nu >= 0`` (``(n, 2P)``), each block's
        ``nu`` rescaled by :func:`~cvxnn.admm.robust_certificates.best_cone_scale`."""
        st = self.structure
        eps, q, d = st.eps, st.q, st.dbar
        C = st.Ft(lam) + st.Gbar_t(gam)
        B = st.X.T @ (st.ES2 * nu)
        m = st.e @ nu
        t = best_cone_scale(C, B, m, eps, q, d)
        worst = float(np.max(block_distances(C + B * t[None, :], t * m, eps, q, d)))
        return robust_dual_value(st.loss, st.y, lam, gam, eps, q, worst, self.beta)

    def zero_network_bound(self) -> float:
        r"""A certified lower bound on the optimum built at the zero network (the zero screen).

        The loss multipliers are the zero network's (:math:`a = 0`, :math:`\bar g = 0`; hinge
        :math:`\lambda = y`, squared :math:`\lambda = y`, logistic :math:`\lambda = y/2`,
        :math:`\Gamma = 0`), and the cone multipliers those of the exact projections of
        :math:`c_j = F_j^T\lambda + \bar G_j^T\Gamma` onto the robust cones (a fresh projector of
        the v-step's kind, its default step limit, no conic fallback: blocks certified within
        ``beta`` stop early). By Moreau's decomposition the smallest block distance over
        :math:`\nu \ge 0` is :math:`\|\Pi_{K^\epsilon_j}(c_j)\|`, so the bound equals the zero
        network's objective exactly when every projection is within ``beta``: the zero network is
        then optimal, and this certifies it without an ADMM iteration. Any multipliers give a
        valid bound; an unconverged projection only weakens it.

        Returns
        -------
        float
        """
        st = self.structure
        zeros = np.zeros((st.dbar, st.n))
        lam, gam = loss_dual_candidate(st.loss, st.y, np.zeros(st.n), zeros, st.eps, st.q)
        return self.dual_bound(lam, gam, exact=False)

    def dual_bound(self, lam: np.ndarray, gam: np.ndarray, *, exact: bool = True) -> float:
        r"""The certified lower bound of the loss multipliers ``(lam, gam)``, with the cone
        multipliers of the projections of :math:`c_j = F_j^T\lambda + \bar G_j^T\Gamma` onto the
        robust cones (a fresh projector of the v-step's kind), at the current ``eps``.

        Parameters
        ----------
        lam : ndarray, shape (n,)
            Multipliers of the predictions, in the loss conjugate's domain (hinge: ``y sigma``
            with ``sigma`` in [0, 1]).
        gam : ndarray, shape (d, n)
            Multipliers of the columns :math:`\bar g_k` (within the dual-norm balls the loss
            conjugate allows).
        exact : bool
            Project every block exactly (conic fallback included); ``False`` stops each block at
            the projector's step limit or once it is certified within ``beta`` (a valid, possibly
            weaker bound: any cone multipliers give one).

        Returns
        -------
        float
            A lower bound on the program's optimum (weak duality, ``docs/robust_admm.md``, §6).
        """
        st = self.structure
        C = st.Ft(lam) + st.Gbar_t(gam)
        projector = new_cone_projector(self.structure)
        if exact:
            projector.project(C, st.eps)
        else:
            projector.project(C, st.eps, zero_radius=self.beta, fallback=False)
        return self._dual_bound(lam, gam, projector.multipliers)

    def _iterate(self, run: RunRecord, t_setup: float) -> AdmmResult:
        """The zero screen, then (unless it certified the zero network) the ADMM loop."""
        if self.settings.gap_tol is None:
            return super()._iterate(run, t_setup)
        st = self.structure
        zero = np.zeros((st.d, st.J))
        obj0 = st.objective_from(zero, np.zeros((st.n, st.J)), self.beta)
        bound = self.zero_network_bound()
        run.best_dual = max(run.best_dual, bound)  # a valid lower bound either way
        if not AdmmSolver._gap_within(self, obj0 - bound, obj0):
            return super()._iterate(run, t_setup)
        # the zero network is certified optimal: return it as the ADMM's state at iteration 0
        self.state = self._cold_state(None)
        self._setup_workspace()
        self._ZU = self._loss_of_u()
        self._remember_previous()
        run.t_loop0 = time.perf_counter()
        check = self._residuals()
        run.last_cert = 0
        check.gap = check.obj - run.best_dual
        self._record(run, check, 0, time.perf_counter())
        run.status = cp.OPTIMAL
        run.message = (
            f"The zero network is certified optimal before any iteration (zero screen): objective "
            f"- dual bound = {check.gap:.3g} <= gap_tol * |objective| = "
            f"{self.settings.gap_tol * abs(check.obj):.3g}. At eps = {st.eps:g} no nonzero network "
            f"lowers the worst-case loss plus the penalty beta = {self.beta:g}."
        )
        printer = Printer(st) if self.settings.verbose else None
        if printer is not None:
            printer.header(self.state.rho)
        return self._finish(run, check, 0, t_setup, printer)

    def _certificate_step(self, run: RunRecord, check: CheckRecord, k: int) -> bool:
        settings = self.settings
        # near the end (the last certified gap at v within POLISH_GAP_FACTOR * gap_tol) every
        # check certifies: a bound costs about one iteration, and a stop waits for a certificate
        due = k - run.last_cert >= settings.certificate_interval or self._residuals_met(check) or self._near
        certify = settings.gap_tol is not None and due
        check.gap = check.obj - run.best_dual
        if certify:
            run.last_cert = k
            run.best_dual = max(run.best_dual, self.robust_bound(self.state.v, check.XV))
            check.gap = check.obj - run.best_dual
            self._near = self._gap_within(check.gap, check.obj, POLISH_GAP_FACTOR)
        self._certified = certify
        return certify

    def _gap_within(self, gap: float, obj: float, factor: float = 1.0) -> bool:
        """Whether the certified ``gap`` is within ``factor * gap_tol`` relative to ``obj``, *in
        absolute value*: the iterates approach the cones from outside, and an objective below a
        certified lower bound (a negative gap) means the point is still too infeasible."""
        tol = self.settings.gap_tol
        return tol is not None and abs(gap) <= factor * tol * max(abs(obj), 1e-300)

    def _finish(
        self, run: RunRecord, check: CheckRecord, k: int, t_setup: float, printer: Printer | None
    ) -> AdmmResult:
        st, x = self.structure, self.state
        certified = self.settings.gap_tol is not None
        usable = run.status != cp.SOLVER_ERROR and np.all(np.isfinite(x.v))
        if certified and run.last_cert != k and usable:
            run.best_dual = max(run.best_dual, self.robust_bound(x.v, st.X @ x.v))
        if certified and run.status != cp.OPTIMAL and usable:
            # a run ending at a limit returns the projection onto the robust cones: a feasible
            # point, whose objective is at least the optimum, so the reported gap is a valid bound
            polished = self._polish(run)
            if polished is not None:
                x.v = polished[0]
            self._unprojected = polished is None
        else:
            self._unprojected = False
        run.last_cert = k  # the base's final certificate is the nominal one: skip it
        return super()._finish(run, check, k, t_setup, printer)

    def _limit_status(
        self, run: RunRecord, check: CheckRecord, k: int, objective: float, viol_rel: float, elapsed: float
    ) -> None:
        """As :meth:`AdmmSolver._limit_status`; says when the returned point is not projected."""
        super()._limit_status(run, check, k, objective, viol_rel, elapsed)
        if self._unprojected:
            run.message += (
                " The returned point is not projected onto the robust cones (the projection failed "
                "or did not finish in the time left): its objective may lie below the optimum, so "
                "the gap bound does not bound it."
            )
