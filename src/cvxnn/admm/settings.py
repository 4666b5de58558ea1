r"""Settings, progress records and results of the structured ADMM (:mod:`cvxnn.admm`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import cvxpy as cp
import numpy as np

from .._validation import check_positive_int, check_positive_real
from ..enums import ProgramKind
from ..exceptions import InvalidInputError
from ..kinds import admm_kinds

__all__ = [
    "CONE_METHODS",
    "LINEAR_SOLVERS",
    "RHO_BAND",
    "SUPPORTED_KINDS",
    "AdmmProgress",
    "AdmmResult",
    "AdmmSettings",
    "AdmmState",
]

#: Program kinds the ADMM solves (those whose :class:`~cvxnn.kinds.KindModel` says ``admm``).
SUPPORTED_KINDS: tuple[ProgramKind, ...] = admm_kinds()
#: Linear-system strategies for the u-update.
LINEAR_SOLVERS: tuple[str, ...] = ("auto", "woodbury", "cholesky", "cg")
#: How the ``relu`` program's cone constraints are handled.
CONE_METHODS: tuple[str, ...] = ("projection", "slack")
#: Residual balancing keeps each penalty within this factor of its data-derived default.
RHO_BAND = 1e4


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class AdmmSettings:
    r"""Settings of :func:`solve_admm` (frozen; unknown keys are rejected by name).

    Attributes
    ----------
    max_iter : int
        Iteration limit (status ``OPTIMAL_INACCURATE`` or ``USER_LIMIT`` when reached).
    eps_abs, eps_rel : float
        Absolute and relative residual tolerances (see :mod:`cvxnn.admm`).
    gap_tol : float or None
        Status ``OPTIMAL`` requires a certificate: the certified duality gap
        ``objective - dual_objective`` at most ``gap_tol * |objective|`` and the returned
        point's relative cone violation at most ``cone_tol``, for every loss and cone method
        (``cone_method="slack"`` stops at the exact cone projection of ``v`` when the gap holds
        there). Meeting the residual rule only triggers a certificate (alone, it stopped up to
        6.5% above the optimum on squared-loss programs with small optima). ``None``: the
        residual rule alone stops, uncertified. The dual point is built
        from the iterates, its cone multipliers refined, and scaled to be feasible (see
        :meth:`~cvxnn.admm.certificates.DualCertificates.refined_dual`), so ``dual_objective``
        is a true lower bound on the
        optimum and the gap an upper bound on the suboptimality.
    cone_tol : float
        Relative cone violation (``cone_violation_rel``) allowed by the certified stop.
    certificate_interval : int
        The refined certificate is evaluated every this many iterations (at a residual check)
        and once at the end.
    certificate_steps : int
        Accelerated projected-gradient steps on the cone multipliers per certificate
        (``cone_method="slack"``).
    rho : float or None
        Initial penalty of every block; ``None`` picks one from the data (and, on a re-solve of
        the same program, the penalties the previous solve ended with). Adapted unless
        ``adaptive_rho=False``.
    rho_cone, rho_loss : float or None
        With ``rho`` set, the initial penalty of the cone block (``s``, ``cone_method="slack"``
        only) and of the loss split (``z``) instead of ``rho``; not read when ``rho`` is None.
    adaptive_rho : bool
        Residual balancing per constraint block, refactoring only when it pays. Each penalty
        stays within a factor :data:`RHO_BAND` (1e4) of its data-derived default: on a small
        logistic program with beta = 3e-3, unbounded balancing lowered both penalties 10x per
        update down to 1e-8 and the iterates blew up (objective 3e8 against 7.24 after 20 000
        iterations); inside the band it reached the optimum (gap 1e-6).
    adaptive_rho_interval : int
        Minimum iterations between penalty updates.
    adaptive_rho_tolerance : float
        Update only when some block's primal/dual balance is off by more than this factor; an
        update moves each penalty by at most this factor (an uncapped 38x step at
        (50 000, 100, 100) stalled the dual residual: 600 s limit hit, against 400 iterations
        and 245 s with the cap).
    adaptive_rho_fraction : float
        Refactor only if a factorization costs at most this fraction of the iterations run
        since the last one (so expensive factors are not redone early). Costs come from a flop
        model (:attr:`~cvxnn.admm.structure.Structure.factor_cost_in_iterations`), not from timings, so the
        iterates do not depend on the machine's load.
    alpha : float
        Over-relaxation in (0, 2).
    anderson : int
        Memory of type-II Anderson acceleration of the ADMM fixed-point map (0 = off). Each
        extrapolated point is kept only if its fixed-point residual is at most
        ``anderson_safeguard`` times that of the last plain iterate (otherwise the plain
        iterate is restored and the memory cleared), so acceleration never breaks convergence.
    anderson_safeguard : float
        See ``anderson``.
    check_interval : int
        Residuals are computed every ``check_interval`` iterations (they cost two extra
        products).
    linear_solver : {"auto", "woodbury", "cholesky", "cg"}
        Strategy for the u-update (see :mod:`cvxnn.admm`).
    memory_limit_gb : float
        Memory budget of a factorization for ``"auto"``.
    cg_tol, cg_max_iter : float, int
        Relative tolerance and iteration cap of the CG path.
    scale_rows : bool
        Scale each cone row by ``1/||x'_k||`` (``relu`` only, ``cone_method="slack"``).
    cone_method : {"projection", "slack"}
        How ``relu`` handles the cones :math:`(2D_i - I)X'u_j \ge 0`. ``"projection"``
        (default): the v-step is the prox of :math:`\beta\|\cdot\| + I_{K_j}`, the group
        soft-threshold of the exact projection onto each cone (:class:`cvxnn.admm.cones.ConeProjector`,
        warm-started active sets), so every iterate ``v`` is feasible. ``"slack"``: the cones
        are split off as ``G u = s >= 0`` with their own penalty (the paper's Algorithm 3.1).
    projection_steps : int or None
        Active-set steps per cone projection in the first iterations (``cone_method=
        "projection"``). Early iterations move the inputs far and a projection may need ~``d'``
        steps, each a product over the unsettled blocks; past the budget the v-step keeps the
        active-set iterate (an inexact prox) and the next iteration continues from its working
        sets. The budget grows by one every 10 iterations, so the errors stop and the ADMM
        converges (a fixed budget of 1 or 2 stalled at (2000, 50, 100)); the stopping rules only
        fire after an exact projection. ``None``: always exact.
    threads : int or None
        BLAS threads inside the iteration loop (threadpoolctl); ``None`` leaves the library
        default. Without a ``time_limit`` the first factorization (BLAS-3 work) runs with the
        default threads; with one, under this limit too (see ``time_limit``).
        On a 2-core machine one thread was measured fastest for the loop's small products.
    time_limit : float or None
        Wall-clock limit in seconds (status ``USER_LIMIT`` or ``OPTIMAL_INACCURATE``), counted
        from the start of the solve: setup and factorizations count. The clock is read every
        iteration; past the limit the run ends that iteration with a residual check and no new
        certificate (the gap quoted is the run's best bound): 0.50 to 0.62 s under 0.5 s at
        (400, 20, 40) on a loaded 2-core machine (tests/test_admm_guarantees.py). The first
        factorization cannot
        be interrupted: a limit shorter than it is overrun by it. It runs with ``threads``
        BLAS threads under a limit, because oversubscribed BLAS threads on a busy machine
        made it 6 to 30 times slower (0.4 to 1.9 s instead of 0.06 s at (400, 20, 40), 2
        threads on a loaded 2-core machine).
    verbose : bool
        Print a table (iteration, objective, residuals, penalties, time).
    verbose_interval : int
        Print every this many iterations.
    callback : callable or None
        Called as ``callback(info)`` at every residual check (every ``check_interval``
        iterations and at the last one) with an :class:`AdmmProgress`; its return value is
        ignored and an exception it raises ends the solve.
    """

    max_iter: int = 20000
    eps_abs: float = 1e-6
    eps_rel: float = 1e-5
    gap_tol: float | None = 1e-4
    cone_tol: float = 1e-4
    certificate_interval: int = 50
    certificate_steps: int = 0
    rho: float | None = None
    rho_cone: float | None = None
    rho_loss: float | None = None
    adaptive_rho: bool = True
    adaptive_rho_interval: int = 50
    adaptive_rho_tolerance: float = 10.0
    adaptive_rho_fraction: float = 0.4
    alpha: float = 1.8
    anderson: int = 0
    anderson_safeguard: float = 1.0
    check_interval: int = 20
    linear_solver: str = "auto"
    memory_limit_gb: float = 2.0
    cg_tol: float = 1e-9
    cg_max_iter: int = 200
    scale_rows: bool = True
    cone_method: str = "projection"
    projection_steps: int | None = 5
    threads: int | None = 1
    time_limit: float | None = None
    verbose: bool = False
    verbose_interval: int = 100
    callback: Callable[[AdmmProgress], Any] | None = None

    def __post_init__(self) -> None:
        def positive_int(name: str) -> None:
            object.__setattr__(self, name, check_positive_int(getattr(self, name), f"AdmmSettings.{name}"))

        def nonnegative_int(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise InvalidInputError(f"AdmmSettings.{name} must be an integer >= 0; got {value!r}.")
            object.__setattr__(self, name, int(value))

        def positive_float(name: str, allow_none: bool = False) -> None:
            value = getattr(self, name)
            if value is None and allow_none:
                return
            label = f"AdmmSettings.{name}" + (" (or None)" if allow_none else "")
            object.__setattr__(self, name, check_positive_real(value, label))

        for name in (
            "max_iter",
            "adaptive_rho_interval",
            "check_interval",
            "cg_max_iter",
            "verbose_interval",
            "certificate_interval",
        ):
            positive_int(name)
        for name in ("eps_abs", "eps_rel", "adaptive_rho_fraction", "memory_limit_gb", "cg_tol", "cone_tol"):
            positive_float(name)
        positive_float("rho", allow_none=True)
        positive_float("gap_tol", allow_none=True)
        positive_float("rho_cone", allow_none=True)
        positive_float("rho_loss", allow_none=True)
        positive_float("time_limit", allow_none=True)
        positive_float("adaptive_rho_tolerance")
        if self.adaptive_rho_tolerance <= 1.0:
            raise InvalidInputError(
                f"AdmmSettings.adaptive_rho_tolerance must be > 1; got {self.adaptive_rho_tolerance}."
            )
        positive_float("alpha")
        positive_float("anderson_safeguard")
        nonnegative_int("anderson")
        nonnegative_int("certificate_steps")
        if not 0.0 < self.alpha < 2.0:
            raise InvalidInputError(
                f"AdmmSettings.alpha (over-relaxation) must be in (0, 2); got {self.alpha}."
            )
        if self.linear_solver not in LINEAR_SOLVERS:
            raise InvalidInputError(
                f"AdmmSettings.linear_solver must be one of {list(LINEAR_SOLVERS)}; "
                f"got {self.linear_solver!r}."
            )
        if self.cone_method not in CONE_METHODS:
            raise InvalidInputError(
                f"AdmmSettings.cone_method must be one of {list(CONE_METHODS)}; got {self.cone_method!r}."
            )
        if self.projection_steps is not None:
            positive_int("projection_steps")
        if self.threads is not None:
            positive_int("threads")
        if self.callback is not None and not callable(self.callback):
            raise InvalidInputError(
                "AdmmSettings.callback must be a callable taking one AdmmProgress argument, or None; "
                f"got {type(self.callback).__name__}."
            )
        for name in ("adaptive_rho", "scale_rows", "verbose"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise InvalidInputError(
                    f"AdmmSettings.{name} must be True or False; got {getattr(self, name)!r}."
                )

    @classmethod
    def names(cls) -> list[str]:
        """The accepted setting names."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def coerce(
        cls, settings: AdmmSettings | Mapping[str, Any] | None = None, **overrides: Any
    ) -> AdmmSettings:
        """An :class:`AdmmSettings` from ``None``, an instance or a mapping, plus keyword overrides.

        Raises :class:`~cvxnn.exceptions.InvalidInputError` naming any unknown key and listing the
        allowed ones.
        """
        if settings is None:
            base: dict[str, Any] = {}
        elif isinstance(settings, AdmmSettings):
            base = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
        elif isinstance(settings, Mapping):
            base = dict(settings)
        else:
            raise InvalidInputError(
                f"settings must be an AdmmSettings, a dict or None; got {type(settings).__name__}."
            )
        base.update(overrides)
        unknown = sorted(set(base) - set(cls.names()))
        if unknown:
            raise InvalidInputError(
                f"Unknown ADMM setting(s) {unknown}; allowed settings are {sorted(cls.names())}."
            )
        return cls(**base)


# --------------------------------------------------------------------------- progress
@dataclass(frozen=True)
class AdmmProgress:
    """What :attr:`AdmmSettings.callback` receives at each residual check.

    Attributes
    ----------
    iteration : int
        Iterations run so far.
    objective : float
        The program's objective at the current ``v`` (the point that would be returned).
    primal_residual, dual_residual : float
        Residual norms; ``eps_primal``, ``eps_dual`` are their current thresholds.
    eps_primal, eps_dual : float
        See above.
    gap_bound : float
        Certified bound on ``objective - optimum`` (objective minus the best dual bound so far;
        ``inf`` before the first certificate).
    relative_gap : float
        ``gap_bound / max(|objective|, 1e-300)``.
    elapsed : float
        Seconds since the solve started (setup and factorizations included).
    rho : Mapping[str, float]
        The current penalties (``"u"``, ``"s"``, ``"z"``).
    """

    iteration: int
    objective: float
    primal_residual: float
    dual_residual: float
    eps_primal: float
    eps_dual: float
    gap_bound: float
    relative_gap: float
    elapsed: float
    rho: Mapping[str, float]


# --------------------------------------------------------------------------- state
@dataclass
class AdmmState:
    r"""The ADMM's iterates in scaled form (a record the solver owns and a result carries).

    Attributes
    ----------
    u : ndarray (d', J)
        The u-step's solution (the variable of the linear system).
    v : ndarray (d', J)
        Its copy through the regularizer's prox (the returned point; exactly group-sparse).
    lam : ndarray (d', J)
        Scaled multiplier of ``u = v``.
    s, nu : ndarray (n, J), or (0, 0) without the slack splitting
        The cone slack ``G u = s >= 0`` and its scaled multiplier.
    z, mu : ndarray (n,), or (0,) for the squared loss
        The loss split ``F u = z`` and its scaled multiplier.
    rho : dict[str, float]
        The penalties the multipliers are scaled by.
    """

    u: np.ndarray
    v: np.ndarray
    lam: np.ndarray
    s: np.ndarray
    nu: np.ndarray
    z: np.ndarray
    mu: np.ndarray
    rho: dict[str, float]

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(d', J, n)`` of the program the state belongs to (``n`` from ``s`` or ``z``)."""
        return self.v.shape[0], self.v.shape[1], self.n

    n: int = 0

    def copy(self) -> AdmmState:
        """A deep copy (the solver updates some arrays in place)."""
        return AdmmState(
            *(a.copy() for a in (self.u, self.v, self.lam, self.s, self.nu, self.z, self.mu)),
            rho=dict(self.rho),
            n=self.n,
        )


# --------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class AdmmResult:
    """What :func:`solve_admm` returns.

    Attributes
    ----------
    status : str
        CVXPY status string: ``cp.OPTIMAL``, ``cp.OPTIMAL_INACCURATE`` (limit hit, residuals within
        10x the tolerances), ``cp.USER_LIMIT`` (limit hit farther away) or ``cp.SOLVER_ERROR``
        (NaN or divergence; never returned as optimal).
    objective : float
        The program's objective (the CVXPY objective exactly) at the returned point.
    values : Mapping[str, ndarray]
        Variable values by name: ``"V"``, ``"W"`` (relu), ``"U"`` (gated_relu), ``"a"`` (scp).
    primal_residual, dual_residual : float
        Final residual norms; ``eps_primal``, ``eps_dual`` are the thresholds they were held to.
    iterations : int
        Iterations run.
    cone_violation : float
        ``max((-(2D - 1) * X'V)_+, (-(2D - 1) * X'W)_+)`` at the returned point (0 when no cones).
    cone_violation_rel : float
        ``cone_violation`` divided by ``max(|X'V|, |X'W|)`` (0 when that is 0).
    rho : Mapping[str, float]
        Final penalties (``"u"``, ``"s"``, ``"z"``).
    history : Mapping[str, ndarray]
        At each residual check: ``iteration``, ``objective`` (at ``v``, the point that would be
        returned), ``primal_residual``,
        ``dual_residual``, ``eps_primal``, ``eps_dual``, ``rho_u``, ``rho_s``, ``rho_z``, ``time``.
    timings : Mapping[str, float]
        Seconds spent in ``setup`` (data preparation), ``factor`` (all factorizations), ``iterate``
        (the loop, without factorizations) and ``total``.
    linear_solver : str
        The strategy used for the u-update.
    n_factorizations : int
        Factorizations done in this call (0 when a cached factor was reused).
    message : str
        Why the solver stopped.
    dual_objective : float
        A lower bound on the optimal value: the dual objective at a feasible dual point built
        from the final iterates (see :meth:`~cvxnn.admm.certificates.DualCertificates.dual_objective`).
    duality_gap : float
        ``objective - dual_objective`` (an upper bound on ``objective - optimum``).
    state : AdmmState or None
        The final iterates and penalties (a full warm start of the same program).
    """

    status: str
    objective: float
    values: Mapping[str, np.ndarray]
    primal_residual: float
    dual_residual: float
    eps_primal: float
    eps_dual: float
    iterations: int
    cone_violation: float
    cone_violation_rel: float
    rho: Mapping[str, float]
    history: Mapping[str, np.ndarray]
    timings: Mapping[str, float]
    linear_solver: str
    n_factorizations: int
    message: str
    kind: str = ""
    loss: str = ""
    beta: float = float("nan")
    dual_objective: float = float("nan")
    duality_gap: float = float("nan")
    state: AdmmState | None = field(default=None, repr=False)

    @property
    def optimal(self) -> bool:
        """True when the status is ``OPTIMAL`` (residual tolerances met, or the certified stop)."""
        return self.status == cp.OPTIMAL

    def __repr__(self) -> str:
        return (
            f"AdmmResult(status={self.status!r}, objective={self.objective:.10g}, "
            f"iterations={self.iterations}, primal_residual={self.primal_residual:.3g}, "
            f"dual_residual={self.dual_residual:.3g}, cone_violation={self.cone_violation:.3g}, "
            f"linear_solver={self.linear_solver!r}, total={self.timings.get('total', float('nan')):.3g}s)"
        )
