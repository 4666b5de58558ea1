"""Settings and result of :func:`cvxnn.distributed.solve_sharded`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validation import check_positive_int, check_positive_real
from ..admm.settings import AdmmSettings
from ..exceptions import CvxnnError, InvalidInputError
from ..recovery import ReLUNetwork
from .linsys import SOLVERS

#: Settings with the name, meaning and validity of :class:`cvxnn.AdmmSettings`'s (checked there).
SHARED_WITH_ADMM = (
    "max_iter",
    "eps_abs",
    "eps_rel",
    "cone_tol",
    "certificate_interval",
    "check_interval",
    "rho",
    "rho_cone",
    "rho_loss",
    "adaptive_rho",
    "adaptive_rho_interval",
    "adaptive_rho_tolerance",
    "alpha",
    "anderson",
    "anderson_safeguard",
    "scale_rows",
    "memory_limit_gb",
    "cg_tol",
    "cg_max_iter",
    "time_limit",
)

#: Cone handlings of :func:`~cvxnn.distributed.solve_sharded` (see ``ShardedSettings.cone_method``).
CONE_METHODS = ("rowgen", "slack")


class WorkerLostError(CvxnnError, RuntimeError):
    """Workers were lost more often than :attr:`ShardedSettings.max_recoveries` allows."""


@dataclass(frozen=True)
class ShardedSettings:
    r"""Settings of :func:`~cvxnn.distributed.solve_sharded` (unknown keys are rejected by name).

    The names and meanings follow :class:`cvxnn.AdmmSettings` where they exist there.

    Attributes
    ----------
    max_iter : int
        Iteration limit.
    eps_abs, eps_rel : float
        Residual tolerances (OSQP-style, over the blocks ``u = v``, ``Gu = s``, ``Fu = z``).
    gap_tol : float
        Stop, status ``optimal``, when the certified gap at the returned (feasible) point is at
        most ``gap_tol * |objective|``. The residual rule alone never gives ``optimal``.
    cone_tol : float
        Relative cone violation allowed at the returned point (after the feasibility step it is
        0 unless a violated row lies on its gate's hyperplane).
    certificate_interval : int
        Certificate every this many iterations (rounded to a multiple of ``check_interval``).
    check_interval : int
        Residuals every this many iterations (one wider reduction).
    rho, rho_cone, rho_loss : float or None
        Penalties of the ``u = v``, cone and loss blocks; ``None``: the data-derived defaults of
        the single-process slack splitting.
    adaptive_rho : bool
        Residual balancing (OSQP-style) per block (``u = v``, cones, loss split): every
        ``adaptive_rho_interval`` iterations, a block whose normalized primal/dual residual
        ratio is off by more than ``adaptive_rho_tolerance`` moves its penalty by the ratio's
        square root (at most 10x, within 1e4 of its default); the driver refactors (the Gram
        is reused) and the shards rescale their scaled duals.
    adaptive_rho_interval : int
        Iterations between penalty updates (rounded to residual checks).
    adaptive_rho_tolerance : float
        See ``adaptive_rho`` (> 1).
    alpha : float
        Over-relaxation in (0, 2).
    anderson : int
        Memory of the safeguarded type-II Anderson acceleration of the driver's fixed-point map
        :math:`(V, \Lambda) \mapsto (V^+, \Lambda^+)` (:class:`cvxnn.admm.acceleration.Anderson`;
        0 = off). Used only when the driver iterates alone (squared loss, ``cone_method=
        "rowgen"``); restarted when the core set grows or a penalty changes.
    anderson_safeguard : float
        An extrapolated step is kept only when its fixed-point residual is at most this times
        that of the last plain step (> 0).
    cone_method : {"rowgen", "slack"}
        ``"rowgen"``: the cones are projected onto exactly on the driver over a growing core set
        of rows (:mod:`cvxnn.distributed.coreset`; the single-process default's projection
        splitting), and the shards report the rows the point violates most at each residual
        check. With the squared loss the driver then iterates alone (the loss lives in the
        Gram), with a split loss one ``d' x 2P`` exchange per iteration. ``"slack"``: per-row
        slacks on the shards (row-separable, but slow to converge when ``n >> d'``).
    rowgen_rows : int
        Rows per block and shard reported per check (and nearest each gate's hyperplane, to seed).
    rowgen_tol : float
        A row joins the core set when :math:`(-s_{kj}x_k'^Tv_j)_+ > \mathrm{tol}\,\|x'_k\|\,
        \|v_j\|`.
    scale_rows : bool
        Scale each cone row by ``1/||x'_k||`` (``"slack"``).
    linear_solver : {"auto", "cholesky", "cg"}
        See :mod:`cvxnn.distributed.linsys`.
    memory_limit_gb : float
        Budget of the driver's Gram and factor for ``"auto"``.
    cg_tol, cg_max_iter : float, int
        CG tolerance (relative) and step cap per u-step.
    max_recoveries : int
        Worker losses survived (each restarts the shards' row state from the driver's point);
        one more raises :class:`WorkerLostError`.
    time_limit : float or None
        Wall-clock limit in seconds (status ``user_limit``).
    """

    max_iter: int = 20000
    eps_abs: float = 1e-7
    eps_rel: float = 1e-6
    gap_tol: float = 1e-4
    cone_tol: float = 1e-4
    certificate_interval: int = 100
    check_interval: int = 20
    rho: float | None = None
    rho_cone: float | None = None
    rho_loss: float | None = None
    adaptive_rho: bool = True
    adaptive_rho_interval: int = 100
    adaptive_rho_tolerance: float = 5.0
    alpha: float = 1.8
    anderson: int = 10
    anderson_safeguard: float = 1.0
    cone_method: str = "rowgen"
    rowgen_rows: int = 4
    rowgen_tol: float = 1e-9
    scale_rows: bool = True
    linear_solver: str = "auto"
    memory_limit_gb: float = 2.0
    cg_tol: float = 1e-10
    cg_max_iter: int = 500
    max_recoveries: int = 3
    time_limit: float | None = None

    def __post_init__(self) -> None:
        # the settings named as in AdmmSettings are checked (and normalized) by AdmmSettings
        try:
            checked = AdmmSettings(**{name: getattr(self, name) for name in SHARED_WITH_ADMM})
        except InvalidInputError as err:
            raise InvalidInputError(str(err).replace("AdmmSettings.", "ShardedSettings.")) from None
        for name in SHARED_WITH_ADMM:
            object.__setattr__(self, name, getattr(checked, name))
        # the sharded solver's own settings
        rows = check_positive_int(self.rowgen_rows, "ShardedSettings.rowgen_rows")
        object.__setattr__(self, "rowgen_rows", rows)
        for name in ("gap_tol", "rowgen_tol"):  # gap_tol: never None here (optimal needs a certificate)
            value = check_positive_real(getattr(self, name), f"ShardedSettings.{name}")
            object.__setattr__(self, name, value)
        if self.cone_method not in CONE_METHODS:
            raise InvalidInputError(
                f"ShardedSettings.cone_method must be one of {list(CONE_METHODS)}; got {self.cone_method!r}."
            )
        if self.linear_solver not in SOLVERS:
            raise InvalidInputError(
                f"ShardedSettings.linear_solver must be one of {list(SOLVERS)}; got {self.linear_solver!r}."
            )
        if (
            isinstance(self.max_recoveries, bool)
            or not isinstance(self.max_recoveries, int)
            or self.max_recoveries < 0
        ):
            raise InvalidInputError(
                f"ShardedSettings.max_recoveries must be an integer >= 0; got {self.max_recoveries!r}."
            )

    @classmethod
    def coerce(cls, overrides: Mapping[str, Any]) -> ShardedSettings:
        """Settings from keyword overrides; unknown names raise, listing the allowed ones."""
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(overrides) - set(names))
        if unknown:
            raise InvalidInputError(
                f"Unknown solve_sharded setting(s) {unknown}; allowed settings are {sorted(names)}."
            )
        return cls(**overrides)


@dataclass(frozen=True, eq=False)
class ShardedResult:
    """What :func:`~cvxnn.distributed.solve_sharded` returns.

    Attributes
    ----------
    status : str
        ``"optimal"`` (certified gap within ``gap_tol``), ``"optimal_inaccurate"`` (limit hit,
        certified within 10x ``gap_tol``) or ``"user_limit"``.
    objective : float
        The program's objective at the returned ``V``, ``W`` (feasible: see ``cone_violation``).
    V, W : ndarray, shape (d', P)
        The returned point.
    network : ReLUNetwork
        The two-layer network recovered from ``V``, ``W``.
    dual_objective, duality_gap : float
        A lower bound on the optimum (a dual-feasible point built from the iterates) and
        ``objective - dual_objective``, an upper bound on the suboptimality.
    primal_residual, dual_residual, eps_primal, eps_dual : float
        The last residuals and their thresholds.
    cone_violation, cone_violation_rel : float
        ``max(-(2D - 1) * X'[V, W])_+`` and that divided by ``max |X'[V, W]|``.
    iterations, recoveries, n_shards : int
        Iterations run, worker losses recovered from, row shards.
    rho : Mapping[str, float]
        Penalties (``"u"``, ``"s"``, ``"z"``).
    history : Mapping[str, ndarray]
        At each residual check: ``iteration``, ``objective`` and ``gap_bound`` (at the repaired,
        feasible point of the last certificate, every ``certificate_interval`` iterations; NaN
        before the first), ``primal_residual``, ``dual_residual``, ``elapsed``.
    timings : Mapping[str, float]
        Seconds in ``setup`` (checks, shards, Gram), ``factor``, ``iterate``, ``total``, and
        ``shards``: the part of ``iterate`` spent waiting for the shards' steps and their
        violated rows (round trips and the row work not hidden behind the driver's v-step; the
        rest is the driver's).
    bytes_per_iteration : int
        Bytes a plain iteration moves between the driver and the shards, independent of ``n``:
        with ``cone_method="rowgen"`` and a split loss :math:`U_V - U_W` out and the compact
        right-hand side back, ``2 * n_shards * 8 * d'P``; with ``"slack"`` ``U`` and the
        ``d' x 2P`` share, ``2 * n_shards * 8 * 2 d'P``; 0 for the squared loss with
        ``"rowgen"`` (only the residual checks reach the shards).
    core_rows : int
        Rows in the driver's core set (``cone_method="rowgen"``; 0 otherwise).
    linear_solver, message : str
        The u-step strategy, and why the solver stopped.
    """

    status: str
    objective: float
    V: np.ndarray
    W: np.ndarray
    network: ReLUNetwork
    dual_objective: float
    duality_gap: float
    primal_residual: float
    dual_residual: float
    eps_primal: float
    eps_dual: float
    cone_violation: float
    cone_violation_rel: float
    iterations: int
    recoveries: int
    n_shards: int
    rho: Mapping[str, float]
    history: Mapping[str, np.ndarray]
    timings: Mapping[str, float]
    bytes_per_iteration: int
    linear_solver: str
    message: str
    core_rows: int = 0
    values: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def optimal(self) -> bool:
        """True when the status is ``"optimal"``."""
        return self.status == "optimal"
