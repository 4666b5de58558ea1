r"""The ADMM solver object: owns the structure, the factorization, the penalties and the iterates.

:class:`AdmmSolver` is modelled on OSQP's: built once per program (the structure, its linear
system and the cone projectors' working sets are reused by every solve), updated in place
(:meth:`AdmmSolver.update` for ``beta`` and the non-structural settings), warm-started
(:meth:`AdmmSolver.warm_start`) and run by :meth:`AdmmSolver.solve`, whose loop is a sequence of
named steps (u-step, v-step, s-step, z-step, residuals, certificate, stopping tests, residual
balancing). :func:`solve_admm` is the functional entry point: it keeps one solver per program
(attached to the program's registry record), so a re-solve reuses the factor and the last
penalties.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import cvxpy as cp
import numpy as np
from threadpoolctl import threadpool_limits

from ..enums import Loss
from ..exceptions import ConvergenceWarning, InvalidInputError
from .acceleration import Anderson, unpack
from .penalties import balanced_penalties
from .printer import Printer
from .prox import prox_loss
from .records import CheckRecord, RunRecord, failed_result
from .settings import AdmmProgress, AdmmResult, AdmmSettings, AdmmState
from .start import initial_state
from .structure import STRUCTURAL_SETTINGS, Structure, check_program, program_fingerprint

if TYPE_CHECKING:
    from ..programs import ConvexProgram

__all__ = ["AdmmSolver"]


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """``sum(a * b)`` without an elementwise temporary (contiguous input is not copied)."""
    return float(np.dot(a.ravel(), b.ravel()))


def squared_norms(ax: np.ndarray, bz: np.ndarray) -> tuple[float, float, float]:
    """``(||ax - bz||^2, ||ax||^2, ||bz||^2)``."""
    diff = ax - bz
    return _dot(diff, diff), _dot(ax, ax), _dot(bz, bz)


class AdmmSolver:
    r"""The structured ADMM of one program (``relu``, ``gated_relu`` or ``scp``).

    Parameters
    ----------
    program : ConvexProgram
        The program; its data is read now (a solver holds no reference to the program).
    settings : AdmmSettings, dict or None
        See :class:`AdmmSettings`.

    Attributes
    ----------
    structure : Structure
        Data, operators, the linear system (its factor is reused while the penalties are
        unchanged) and the cone projectors (their working sets start the next projections).
    settings : AdmmSettings
        The current settings.
    beta : float
        The regularization weight the next solve uses (``program.beta.value`` at construction).
    rho : dict[str, float] or None
        The penalties the last solve ended with (the next cold solve starts from them).
    state : AdmmState or None
        The iterates of the last solve.
    last_result : AdmmResult or None
        The last solve's result.

    Examples
    --------
    >>> solver = AdmmSolver(program)                      # doctest: +SKIP
    >>> first = solver.solve()                            # doctest: +SKIP
    >>> solver.update(beta=0.5 * solver.beta)             # doctest: +SKIP
    >>> solver.warm_start(first)                          # doctest: +SKIP
    >>> second = solver.solve()                           # doctest: +SKIP
    """

    def __init__(
        self, program: ConvexProgram, settings: AdmmSettings | Mapping[str, Any] | None = None
    ) -> None:
        self.beta = check_program(program)
        self.settings = AdmmSettings.coerce(settings)
        self.structure = Structure(program, self.settings)
        self.fingerprint = program_fingerprint(program, self.settings)
        self.rho: dict[str, float] | None = None
        self.state: AdmmState | None = None
        self.last_result: AdmmResult | None = None
        self._start: AdmmState | np.ndarray | None = None

    # ------------------------------------------------------------------ configuration
    def update(self, *, beta: float | None = None, **settings: Any) -> None:
        """Change ``beta`` and/or settings for the next solve (the factor is kept).

        Settings that shape the structure (:data:`STRUCTURAL_SETTINGS`) cannot change: build a
        new solver for those.
        """
        if beta is not None:
            if isinstance(beta, bool) or not np.isscalar(beta) or not np.isfinite(float(beta)) or beta < 0:
                raise InvalidInputError(f"beta must be a finite number >= 0; got {beta!r}.")
            self.beta = float(beta)
        if settings:
            new = AdmmSettings.coerce(self.settings, **settings)
            changed = [n for n in STRUCTURAL_SETTINGS if getattr(new, n) != getattr(self.settings, n)]
            if changed:
                raise InvalidInputError(
                    f"AdmmSolver.update cannot change {changed} (they shape the solver's structure); "
                    "build a new AdmmSolver (or call solve_admm) with them."
                )
            self.settings = new

    def warm_start(self, start: AdmmResult | AdmmState | Mapping[str, Any] | None) -> None:
        """Start the next solve from ``start`` (``None``: a cold start).

        An :class:`AdmmResult` or :class:`AdmmState` of this program restores all iterates and
        penalties (only the point when it was solved with the other ``cone_method``); a mapping
        of variable values by name (``"V"``, ``"W"`` / ``"U"`` / ``"a"``) sets the point.
        """
        st = self.structure
        if start is None:
            self._start = None
            return
        if isinstance(start, AdmmResult):
            if start.kind != st.kind or start.state is None or start.state.shape != (st.d, st.J, st.n):
                raise InvalidInputError(
                    "warm_start is an AdmmResult of a different program "
                    f"(kind {start.kind!r}, state shape "
                    f"{None if start.state is None else start.state.shape}); "
                    f"expected kind {st.kind!r} with shape {(st.d, st.J, st.n)}."
                )
            start = start.state
        if isinstance(start, AdmmState):
            if start.shape != (st.d, st.J, st.n):
                raise InvalidInputError(
                    f"warm_start state has shape {start.shape}; expected {(st.d, st.J, st.n)}."
                )
            if start.s.shape != ((st.n, st.J) if st.slack else (0, 0)):
                # a state of the other cone_method: its multipliers and penalties mean other
                # things, so start from its point only, as from variable values
                self._start = start.v.copy()
            else:
                self._start = start
            return
        if isinstance(start, Mapping):
            self._start = st.from_values(start)
            return
        raise InvalidInputError(
            "warm_start must be an AdmmResult, a dict of variable values, True (use the CVXPY "
            f"variables' values) or None; got {type(start).__name__}."
        )

    def _initial_state(self) -> AdmmState:
        """The iterates the solve starts from (consumes the pending warm start)."""
        start, self._start = self._start, None
        return initial_state(self.structure, self.settings, start, self.rho)

    # ------------------------------------------------------------------ solve
    def solve(self) -> AdmmResult:
        """Run the ADMM from the warm start (if any) or a cold start; returns the result.

        A status other than ``optimal`` also issues a :class:`~cvxnn.exceptions.ConvergenceWarning`.
        """
        t_start = time.perf_counter()
        st, settings = self.structure, self.settings
        self.state = self._initial_state()
        rho = self.state.rho
        t_setup = time.perf_counter() - t_start
        limits = None
        try:
            try:
                # the first factorization runs before the BLAS thread limit (BLAS-3 work profits),
                # except under a time limit: it cannot be interrupted, and oversubscribed threads
                # on a busy machine made it 6-30x slower (AdmmSettings.time_limit)
                timed = settings.time_limit is not None
                if settings.threads is not None and timed:
                    limits = threadpool_limits(settings.threads)
                t0 = time.perf_counter()
                n_fact = int(st.factor(rho))
                run = RunRecord(t_start=t_start, n_fact=n_fact, t_factor=0.0, first_factor_time=0.0)
                run.t_factor = run.first_factor_time = time.perf_counter() - t0
                if settings.threads is not None and not timed:
                    limits = threadpool_limits(settings.threads)
                result = self._iterate(run, t_setup)
            except np.linalg.LinAlgError as exc:
                st.system.key = None
                result = failed_result(st, rho, self.beta, t_start, t_setup, str(exc))
        finally:
            if limits is not None:
                limits.restore_original_limits()
        self.rho = dict(result.rho)
        self.last_result = result
        if result.status != cp.OPTIMAL:
            warnings.warn(result.message, ConvergenceWarning, stacklevel=3)
        return result

    # ------------------------------------------------------------------ the loop
    def _iterate(self, run: RunRecord, t_setup: float) -> AdmmResult:
        settings, st = self.settings, self.structure
        self._setup_workspace()
        run.t_loop0 = time.perf_counter()
        printer = Printer(st) if settings.verbose else None
        if printer is not None:
            printer.header(self.state.rho)
        self._anderson = (
            Anderson(settings.anderson, settings.anderson_safeguard) if settings.anderson else None
        )
        self._x_in: np.ndarray | None = None
        check = CheckRecord()
        k = 0
        limit = settings.time_limit
        for k in range(1, settings.max_iter + 1):
            # the clock is read every iteration (setup and factorizations count): past the limit,
            # this iteration ends with a residual check and the run stops
            over_time = limit is not None and time.perf_counter() - run.t_start >= limit
            at_check = k % settings.check_interval == 0 or k == settings.max_iter or over_time
            self._accelerate()
            self._u_step()
            if at_check:
                self._remember_previous()
            self._v_step(k)
            self._s_step()
            self._z_step()
            if not at_check:
                continue
            check = self._residuals()
            self._certificate_step(run, check, k)
            now = time.perf_counter()
            self._record(run, check, k, now)
            if printer is not None and (k % settings.verbose_interval == 0):
                rho = self.state.rho
                printer.row(
                    k,
                    check.obj,
                    check.gap,
                    check.r_p,
                    check.eps_p,
                    check.r_d,
                    check.eps_d,
                    rho,
                    now - run.t_start,
                )
            if self._stop(run, check, k):
                break
            if over_time or (limit is not None and now - run.t_start >= limit):
                run.status = "time"
                break
            # truncated cone projections inflate the primal residual: no balancing on those
            if settings.adaptive_rho and self._exact and k - run.last_adapt >= settings.adaptive_rho_interval:
                if self._balance(run, check, k) and printer is not None:
                    printer.note(k, self.state.rho)
        return self._finish(run, check, k, t_setup, printer)

    def _setup_workspace(self) -> None:
        """Fixed buffers of the loop (no ``(n, J)`` allocations per iteration: page faults)."""
        st, state = self.structure, self.state
        self._XU = st.X @ state.u
        S = state.s
        self._buf = np.empty_like(S)
        self._T = np.empty_like(S)
        self._S_prev = np.empty_like(S)
        certified = st.slack and self.settings.gap_tol is not None  # the slack certificate's buffers
        self._cert_bufs = [np.empty_like(S), np.empty_like(S)] if certified else [None, None]
        self._XV_buf = np.empty_like(self._XU)
        self._aES2 = self.settings.alpha * st.ES2 if st.slack else None
        if st.slack:  # private copies: s and nu are updated in place
            state.s, state.nu = state.s.copy(), state.nu.copy()
        self._v_prev = state.v
        self._z_prev = state.z

    @property
    def _exact(self) -> bool:
        """Whether the last v-step's cone projections were exact (only then may the run stop)."""
        return not self.structure.project or self.structure.projector.exact

    def _accelerate(self) -> None:
        """Anderson extrapolation of the fixed-point map (when ``anderson > 0``)."""
        aa, x = self._anderson, self.state
        if aa is None:
            return
        parts = (x.v, x.lam, x.s, x.nu, x.z, x.mu)
        fx = np.concatenate([a.ravel() for a in parts])
        if self._x_in is not None:
            x_next = aa.step(self._x_in, fx)
            if x_next is not fx:
                # copies: s and nu are updated in place, x_next may be the accelerator's memory
                shapes = [a.shape for a in parts]
                x.v, x.lam, x.s, x.nu, x.z, x.mu = (a.copy() for a in unpack(x_next, shapes))
        self._x_in = np.concatenate([a.ravel() for a in (x.v, x.lam, x.s, x.nu, x.z, x.mu)])

    def _u_step(self) -> None:
        r""":math:`u \leftarrow M^{-1}(\rho_u(v - \lambda) + \rho_sG^T(s - \nu) + r_z)`."""
        st, x = self.structure, self.state
        rho = x.rho
        R = rho["u"] * (x.v - x.lam)
        if st.slack:
            buf = self._buf
            np.subtract(x.s, x.nu, out=buf)  # in place: fewer passes over (n, 2P) arrays
            buf *= st.ES2
            R += rho["s"] * (st.X.T @ buf)
        if st.split_loss:
            R += rho["z"] * st.Ft(x.z - x.mu)
        else:
            R += st.Fty
        x.u = st.solve(R)
        if st.slack or st.split_loss:  # X'u feeds the s- and z-steps
            np.matmul(st.X, x.u, out=self._XU)

    def _remember_previous(self) -> None:
        """Keep ``v``, ``s``, ``z`` before this iteration's updates (for the dual residual)."""
        x = self.state
        self._v_prev, self._z_prev = x.v, x.z  # rebound, not updated in place, by the steps
        if self.structure.slack:
            np.copyto(self._S_prev, x.s)

    def _v_step(self, k: int) -> None:
        r"""Relaxed prox of the regularizer (and, by projection, of the cones); :math:`\lambda` update."""
        st, x, alpha = self.structure, self.state, self.settings.alpha
        Uh = alpha * x.u + (1.0 - alpha) * x.v
        if st.project:  # soft-threshold of the exact cone projection, within a growing step budget
            budget = self.settings.projection_steps
            x.v = st.projector.prox(
                Uh + x.lam, self.beta / x.rho["u"], None if budget is None else budget + k // 10
            )
        else:
            x.v = st.prox_reg(Uh + x.lam, self.beta / x.rho["u"])
        x.lam = x.lam + (Uh - x.v)

    def _s_step(self) -> None:
        r"""Cone slack (in place): :math:`T = \alpha Gu + (1-\alpha)s + \nu`, :math:`s = T_+`,
        :math:`\nu = T_-`."""
        if not self.structure.slack:
            return
        x, alpha, T, buf = self.state, self.settings.alpha, self._T, self._buf
        np.multiply(self._aES2, self._XU, out=T)
        if alpha != 1.0:
            np.multiply(x.s, 1.0 - alpha, out=buf)
            T += buf
        T += x.nu
        np.maximum(T, 0.0, out=x.s)
        np.minimum(T, 0.0, out=x.nu)

    def _z_step(self) -> None:
        r"""Loss split: :math:`z = \operatorname{prox}_{L/\rho_z}(\widehat{Fu} + \mu)`, :math:`\mu` update."""
        st = self.structure
        if not st.split_loss:
            return
        x, alpha = self.state, self.settings.alpha
        self._FU = st.Fu_from_XU(self._XU)
        FUh = alpha * self._FU + (1.0 - alpha) * x.z
        x.z = prox_loss(st.loss, FUh + x.mu, st.y, 1.0 / x.rho["z"], x.z)
        x.mu = x.mu + (FUh - x.z)

    def _residuals(self) -> CheckRecord:
        """Primal and dual residuals per constraint block, their thresholds and the objective."""
        st, x = self.structure, self.state
        rho = x.rho
        check = CheckRecord()
        # per block A x - B z: squared norms of A x - B z, A x and B z, the dual change, the multiplier
        parts = {"u": (*squared_norms(x.u, x.v), rho["u"] * (x.v - self._v_prev), rho["u"] * x.lam)}
        if st.slack:
            # in the scratch buffers (rewritten at the next iteration): no (n, 2P) temporaries
            buf, T = self._buf, self._T
            np.subtract(x.s, self._S_prev, out=buf)
            buf *= st.ES2
            ds = rho["s"] * (st.X.T @ buf)
            np.multiply(st.ES2, x.nu, out=buf)
            check.ys = rho["s"] * (st.X.T @ buf)
            np.multiply(st.ES2, self._XU, out=T)  # G u
            ab, zb = _dot(T, T), _dot(x.s, x.s)
            T -= x.s
            parts["s"] = (_dot(T, T), ab, zb, ds, check.ys)
        if st.split_loss:
            parts["z"] = (
                *squared_norms(self._FU, x.z),
                rho["z"] * st.Ft(x.z - self._z_prev),
                rho["z"] * st.Ft(x.mu),
            )
        return self._combine_residuals(check, parts)

    def _combine_residuals(self, check: CheckRecord, parts: dict[str, tuple]) -> CheckRecord:
        """Sum the per-block residual parts ``(||Ax - Bz||^2, ||Ax||^2, ||Bz||^2, dual change,
        multiplier)`` into ``check``: residuals, thresholds (absolute + relative) and the objective."""
        st, x, settings = self.structure, self.state, self.settings
        sq_p = sq_ax = sq_bz = 0.0
        dual = ytil = 0.0
        for b, (rb, ab, zb, db, yb) in parts.items():
            sq_p += rb
            sq_ax += ab
            sq_bz += zb
            dual = dual + db
            ytil = ytil + yb
            check.blocks[b] = (
                math.sqrt(rb),
                math.sqrt(max(ab, zb)),
                float(np.linalg.norm(db)),
                float(np.linalg.norm(yb)),
            )
        m_primal = x.u.size + x.s.size + x.z.size
        check.r_p = math.sqrt(sq_p)
        check.r_d = float(np.linalg.norm(dual))
        check.eps_p = settings.eps_abs * math.sqrt(m_primal) + settings.eps_rel * math.sqrt(max(sq_ax, sq_bz))
        check.eps_d = settings.eps_abs * math.sqrt(x.u.size) + settings.eps_rel * float(np.linalg.norm(ytil))
        check.XV = np.matmul(st.X, x.v, out=self._XV_buf)
        check.obj = st.objective_from(x.v, check.XV, self.beta)
        return check

    def _loss_multiplier(self) -> np.ndarray | None:
        return -self.state.rho["z"] * self.state.mu if self.structure.split_loss else None

    def _certificate_step(self, run: RunRecord, check: CheckRecord, k: int) -> bool:
        """A dual bound at this check (refined every ``certificate_interval``); returns whether refined."""
        st, x, settings = self.structure, self.state, self.settings
        fv = st.Fu_from_XU(check.XV)
        # refined every certificate_interval iterations, and whenever the residual rule is met (a
        # stop needs the certified gap: the residuals alone stopped up to 6.5% above the optimum)
        due = k - run.last_cert >= settings.certificate_interval or self._residuals_met(check)
        certify = settings.gap_tol is not None and due
        if certify and st.project:
            run.last_cert = k
            dual_obj = st.projected_dual(fv, self._loss_multiplier(), self.beta, settings.projection_steps)
        elif certify:
            run.last_cert = k
            bufs = self._cert_bufs
            dual_obj, run.nu_cert = st.refined_dual(
                fv,
                self._loss_multiplier(),
                -check.ys if st.slack else None,
                x.nu if st.slack else None,
                run.nu_cert,
                self.beta,
                settings.certificate_steps,
                nu_scale=-x.rho["s"],
                # the buffer nu_cert does not hold, and buf (free here): no (n, 2P) temporaries
                out=bufs[1] if run.nu_cert is bufs[0] else bufs[0],
                scratch=self._buf,
            )
        elif st.project:  # the bound without cone multipliers (nu = 0) is far too weak: no product
            dual_obj = -math.inf
        else:
            dual_obj = st.dual_objective(
                fv, self._loss_multiplier(), -check.ys if st.slack else None, self.beta
            )
        run.best_dual = max(run.best_dual, dual_obj)  # every dual-feasible point bounds the optimum
        check.gap = check.obj - run.best_dual
        return certify

    def _record(self, run: RunRecord, check: CheckRecord, k: int, now: float) -> None:
        """Append the check to the history and call the user's callback."""
        st, rho, h = self.structure, self.state.rho, run.history
        h["duality_gap"].append(check.gap)
        h["iteration"].append(k)
        h["objective"].append(check.obj)
        h["primal_residual"].append(check.r_p)
        h["dual_residual"].append(check.r_d)
        h["eps_primal"].append(check.eps_p)
        h["eps_dual"].append(check.eps_d)
        h["rho_u"].append(rho["u"])
        h["rho_s"].append(rho["s"] if st.slack else float("nan"))
        h["rho_z"].append(rho["z"] if st.split_loss else float("nan"))
        h["time"].append(now - run.t_start)
        if self.settings.callback is not None:
            self.settings.callback(
                AdmmProgress(
                    iteration=k,
                    objective=check.obj,
                    primal_residual=check.r_p,
                    dual_residual=check.r_d,
                    eps_primal=check.eps_p,
                    eps_dual=check.eps_d,
                    gap_bound=check.gap,
                    relative_gap=check.gap / max(abs(check.obj), 1e-300),
                    elapsed=now - run.t_start,
                    rho=dict(rho),
                )
            )

    def _gap_within(self, gap: float, obj: float, factor: float = 1.0) -> bool:
        """Whether the certified ``gap`` is within ``factor * gap_tol`` relative to ``obj``."""
        tol = self.settings.gap_tol
        return tol is not None and gap <= factor * tol * max(abs(obj), 1e-300)

    @staticmethod
    def _residuals_met(check: CheckRecord, factor: float = 1.0) -> bool:
        return check.r_p <= factor * check.eps_p and check.r_d <= factor * check.eps_d

    def _stop(self, run: RunRecord, check: CheckRecord, k: int) -> bool:
        """The stopping tests of one check: divergence, then the certified gap (``optimal``).

        With ``gap_tol`` set, ``optimal`` needs the certified gap ``objective - best dual bound
        <= gap_tol * |objective|`` *and* the point's relative cone violation ``<= cone_tol``;
        the residual rule only triggers an extra certificate. With ``gap_tol=None`` the residual
        rule alone stops.
        """
        st, settings = self.structure, self.settings
        r_p, r_d, eps_p, eps_d, obj, gap = (
            check.r_p,
            check.r_d,
            check.eps_p,
            check.eps_d,
            check.obj,
            check.gap,
        )
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
        if not self._exact:  # truncated cone projections early in the run: no stop
            return False
        if settings.gap_tol is None:  # the residual rule alone (the user opted out of certificates)
            if self._residuals_met(check):
                run.status = cp.OPTIMAL
                run.message = (
                    f"Converged in {k} iterations: primal residual {r_p:.3g} <= {eps_p:.3g}, dual "
                    f"residual {r_d:.3g} <= {eps_d:.3g} (gap_tol=None: uncertified)."
                )
                return True
            return False
        # optimal only with a certified gap and a point that meets the cones
        if self._gap_within(gap, obj) and st.slack:
            # the slack iterates approach the cones from outside: stop at the exact projection of
            # v, when the certificate (a lower bound, independent of the point) still holds there
            v = st.polish_projector.project(self.state.v)
            XV = np.matmul(st.X, v, out=check.XV)
            obj = st.objective_from(v, XV, self.beta)
            gap = obj - run.best_dual
            if not self._gap_within(gap, obj):
                np.matmul(st.X, self.state.v, out=check.XV)
                return False
            self.state.v = v
        if self._gap_within(gap, obj):
            viol_rel = st.cone_violation(check.XV, scratch=self._buf if st.slack else None)[1]
            if viol_rel <= settings.cone_tol:
                run.status = cp.OPTIMAL
                run.message = (
                    f"Converged in {k} iterations with a duality-gap certificate: objective - dual bound "
                    f"= {gap:.3g} <= gap_tol * |objective| = {settings.gap_tol * abs(obj):.3g}, relative "
                    f"cone violation {viol_rel:.3g} <= cone_tol = {settings.cone_tol:g} (primal "
                    f"residual {r_p:.3g}, dual residual {r_d:.3g})."
                )
                return True
        return False

    def _balance(self, run: RunRecord, check: CheckRecord, k: int) -> bool:
        """Residual balancing per block, refactoring only when it pays; returns whether it did."""
        st, settings, x = self.structure, self.settings, self.state
        rho = x.rho
        new_rho, off = balanced_penalties(rho, check.blocks, st.default_rho, settings.adaptive_rho_tolerance)
        pays = st.factor_cost_in_iterations <= settings.adaptive_rho_fraction * (k - run.last_factor_k)
        if not (off and pays):
            return False
        x.lam *= rho["u"] / new_rho["u"]
        if st.slack:
            x.nu *= rho["s"] / new_rho["s"]
        if st.split_loss:
            x.mu *= rho["z"] / new_rho["z"]
        x.rho = new_rho
        if self._anderson is not None:
            self._anderson.reset()
            self._x_in = None
        tf = time.perf_counter()
        if st.factor(new_rho):
            run.n_fact += 1
        run.t_factor += time.perf_counter() - tf
        run.last_factor_k = run.last_adapt = k
        return True

    def _limit_status(
        self, run: RunRecord, check: CheckRecord, k: int, objective: float, viol_rel: float, elapsed: float
    ) -> None:
        """Status and message at the iteration or time limit, quoting the certified gap bound.

        ``optimal_inaccurate`` when the residuals are within 10x their tolerances (with the hinge
        loss, whose objective error is first order in the residuals, also the certified gap within
        10x ``gap_tol``), ``user_limit`` otherwise.
        """
        settings = self.settings
        why = "time limit" if run.status == "time" else "iteration limit"
        gap = objective - run.best_dual
        close = self._residuals_met(check, 10.0)
        if self.structure.loss == Loss.HINGE and settings.gap_tol is not None:
            close = close and self._gap_within(gap, objective, 10.0)
        run.status = cp.OPTIMAL_INACCURATE if close else cp.USER_LIMIT
        rel = gap / max(abs(objective), 1e-300)
        bound = (
            f"the certified gap bound is {rel:.3g} relative (gap_tol {settings.gap_tol:g}): the objective "
            f"may be up to that far above the optimum"
            if settings.gap_tol is not None and math.isfinite(rel)
            else "no certified gap bound"
        )
        run.message = (
            f"ADMM stopped at the {why} after {k} iterations and {elapsed:.3g} s elapsed without a "
            f"certified optimum: {bound}; relative cone violation {viol_rel:.3g}; primal residual "
            f"{check.r_p:.3g} (tolerance {check.eps_p:.3g}), dual residual {check.r_d:.3g} (tolerance "
            f"{check.eps_d:.3g}) with eps_abs={settings.eps_abs:g}, eps_rel={settings.eps_rel:g}; status "
            f"{run.status}. Raise max_iter/time_limit, or warm-start from this result."
        )

    def _finish(
        self, run: RunRecord, check: CheckRecord, k: int, t_setup: float, printer: Printer | None
    ) -> AdmmResult:
        """Status at a limit, the final certificate at the returned point ``v``, and the result."""
        st, settings, x = self.structure, self.settings, self.state
        rho, beta = x.rho, self.beta
        t_end = time.perf_counter()
        r_p, r_d, eps_p, eps_d = check.r_p, check.r_d, check.eps_p, check.eps_d
        limit_hit = run.status is None or run.status == "time"
        # returned point: v (exactly sparse); objective and cone violation evaluated exactly there
        XV = st.X @ x.v
        if run.status == cp.SOLVER_ERROR:
            objective = float("nan")
            viol = viol_rel = float("nan")
        else:
            objective = st.objective_from(x.v, XV, beta)
            viol, viol_rel = st.cone_violation(XV)
            # past the time limit no new certificate (it costs about an iteration): the bound
            # quoted is the best one of the run, still valid at this point
            final = settings.gap_tol is not None and run.last_cert != k and run.status != "time"
            final = final and bool(np.all(np.isfinite(XV)))
            if final and st.project:
                # with the same step budget: exact projections here cost ~20 % of a solve at
                # (2000, 50, 100) and still leave a first-order (loose) bound
                final_dual = st.projected_dual(
                    st.Fu_from_XU(XV), self._loss_multiplier(), beta, settings.projection_steps
                )
                run.best_dual = max(run.best_dual, final_dual)
            elif final:
                # the reported gap comes from a refined certificate at the returned point
                final_dual, _ = st.refined_dual(
                    st.Fu_from_XU(XV),
                    self._loss_multiplier(),
                    -rho["s"] * st.Gt(x.nu, self._buf) if st.slack else None,
                    x.nu if st.slack else None,
                    run.nu_cert,
                    beta,
                    settings.certificate_steps,
                    nu_scale=-rho["s"],
                    scratch=self._buf,
                )
                run.best_dual = max(run.best_dual, final_dual)
        if limit_hit:
            self._limit_status(run, check, k, objective, viol_rel, time.perf_counter() - run.t_start)
        t_total = time.perf_counter() - run.t_start
        if printer is not None:
            printer.footer(run.status, k, objective, t_total)
        return AdmmResult(
            status=run.status,
            objective=objective,
            values=st.values(x.v),
            primal_residual=r_p,
            dual_residual=r_d,
            eps_primal=eps_p,
            eps_dual=eps_d,
            iterations=k,
            cone_violation=viol,
            cone_violation_rel=viol_rel,
            rho={
                "u": rho["u"],
                **({"s": rho["s"]} if st.slack else {}),
                **({"z": rho["z"]} if st.split_loss else {}),
            },
            history={key: np.asarray(v, dtype=float) for key, v in run.history.items()},
            timings={
                "setup": t_setup,
                "factor": run.t_factor,
                "iterate": max(0.0, (t_end - run.t_loop0) - (run.t_factor - run.first_factor_time)),
                "total": t_total,
            },
            linear_solver=st.method,
            n_factorizations=run.n_fact,
            message=run.message,
            kind=st.kind,
            loss=st.loss,
            beta=beta,
            dual_objective=run.best_dual,
            duality_gap=objective - run.best_dual,
            state=AdmmState(u=x.u, v=x.v, lam=x.lam, s=x.s, nu=x.nu, z=x.z, mu=x.mu, rho=dict(rho), n=x.n),
        )
