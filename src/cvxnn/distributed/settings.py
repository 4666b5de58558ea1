"""Settings and result of :func:`cvxnn.distributed.solve_sharded`."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from .._validation import check_positive_int, check_positive_real
from ..admm.settings import AdmmSettings
from ..exceptions import CvxnnError, InvalidInputError
from ..recovery import ReLUNetwork
from .linsys import SOLVERS

#: The :class:`cvxnn.AdmmSettings` that :func:`~cvxnn.distributed.solve_sharded` reads (same name,
#: meaning and validity; held in :attr:`ShardedSettings.admm`). The others (``projection_steps``,
#: ``certificate_steps``, ``adaptive_rho_fraction``, ``threads``, ``verbose``, ``verbose_interval``,
#: ``callback``) belong to the single-process solver; ``cone_method`` and ``linear_solver`` have
#: sharded meanings and are :class:`ShardedSettings`' own.
SHARED_WITH_ADMM = (
    "max_iter",
    "eps_abs",
    "eps_rel",
    "gap_tol",
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

#: The sharded solver's defaults where they differ from :class:`cvxnn.AdmmSettings`' (the one
#: place they are set; see :class:`ShardedSettings` for why).
SHARDED_ADMM_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "eps_abs": 1e-7,
        "eps_rel": 1e-6,
        "certificate_interval": 100,
        "adaptive_rho_interval": 100,
        "adaptive_rho_tolerance": 5.0,
        "anderson": 10,
        "cg_tol": 1e-10,
        "cg_max_iter": 500,
    }
)

#: Cone handlings of :func:`~cvxnn.distributed.solve_sharded` (see ``ShardedSettings.cone_method``).
CONE_METHODS = ("rowgen", "slack")


class WorkerLostError(CvxnnError, RuntimeError):
    """Workers were lost more often than :attr:`ShardedSettings.max_recoveries` allows."""


def sharded_admm_settings(**overrides: Any) -> AdmmSettings:
    """The :class:`cvxnn.AdmmSettings` of a sharded solve: :data:`SHARDED_ADMM_DEFAULTS` and
    ``overrides`` (names from :data:`SHARED_WITH_ADMM`, checked by ``AdmmSettings``; its messages
    name ``ShardedSettings``)."""
    try:
        return AdmmSettings(**{**SHARDED_ADMM_DEFAULTS, **overrides})
    except InvalidInputError as err:
        raise InvalidInputError(str(err).replace("AdmmSettings.", "ShardedSettings.")) from None


def default_rowgen_rows(dprime: int) -> int:
    """Rows per block and shard that join the core set per check when ``rowgen_rows`` is
    ``None``: ``max(4, ceil(d'/2))``."""
    return max(4, -(-dprime // 2))


@dataclass(frozen=True)
class ShardedSettings:
    r"""Settings of :func:`~cvxnn.distributed.solve_sharded`.

    ``solve_sharded(..., **settings)`` and the CLI build it with :meth:`coerce` from flat names
    (unknown names are rejected by name). The settings shared with the single-process ADMM live
    in one :class:`cvxnn.AdmmSettings`, :attr:`admm` (names in :data:`SHARED_WITH_ADMM`, read
    as attributes of this object too: ``settings.max_iter``); only the sharded solver's own
    settings are fields here.

    Defaults of the shared settings are ``AdmmSettings``' except (:data:`SHARDED_ADMM_DEFAULTS`;
    sharded against single process):

    - ``eps_abs`` = 1e-7, ``eps_rel`` = 1e-6 (1e-6, 1e-5): ``optimal`` needs the certificate; a
      residual stop only triggers one, and each is a pass over every shard;
    - ``certificate_interval`` = 100 (50): the same pass, every so many iterations;
    - ``adaptive_rho_interval`` = 100 (50): a multiple of ``check_interval`` (penalties move at
      residual checks), and each move restarts the Anderson memory;
    - ``adaptive_rho_tolerance`` = 5 (10): the first sharded version's value, not re-tuned;
    - ``anderson`` = 10 (0): the driver's own iteration (squared loss, ``"rowgen"``) needs it to
      certify in time (1620 iterations instead of over 20 000 at (10000, 20, 50));
    - ``cg_tol`` = 1e-10, ``cg_max_iter`` = 500 (1e-9, 200): each CG step is a reduction over
      the shards, warm-started from the last solve; the first sharded version's values.

    ``gap_tol`` may not be ``None`` here (``optimal`` always needs a certificate).

    Attributes
    ----------
    admm : AdmmSettings
        The shared settings (see above; meanings as documented there, with "the blocks" being
        ``u = v``, ``Gu = s`` and ``Fu = z``; ``rho_cone`` applies to ``cone_method="slack"``,
        ``scale_rows`` too; ``anderson`` is used only when the driver iterates alone: squared
        loss, ``"rowgen"``).
    cone_method : {"rowgen", "slack"}
        ``"rowgen"``: the cones are projected onto exactly on the driver over a growing core set
        of rows (:mod:`cvxnn.distributed.coreset`; the single-process default's projection
        splitting), and the shards report the rows the point violates most at each residual
        check. With the squared loss the driver then iterates alone (the loss lives in the
        Gram), with a split loss one ``d' x P`` exchange per iteration. ``"slack"``: per-row
        slacks on the shards (row-separable, but slow to converge when ``n >> d'``).
    rowgen_rows : int or None
        Rows per block and shard reported per check (and nearest each gate's hyperplane, to seed);
        ``None``: :func:`default_rowgen_rows` of ``d'`` (``max(4, ceil(d'/2))``: a cone in ``d'``
        dimensions has up to ``d' - 1`` active rows, and the core set must reach them before the
        point is certified; at (200 000, 50, 100) 4 rows left the squared solve 3.4x above the
        optimum after 200 iterations, 25 rows within 4e-7, at the same cost per iteration).
    rowgen_tol : float
        A row joins the core set when :math:`(-s_{kj}x_k'^Tv_j)_+ > \mathrm{tol}\,\|x'_k\|\,
        \|v_j\|`.
    rowgen_prune : int
        Drop core rows that were in no working set of the driver's projections for this many
        residual checks, once a quarter of the core set is that idle (0: never drop). Each drop
        restarts the Anderson memory; a dropped row that the point violates again is reported
        again.
    linear_solver : {"auto", "cholesky", "cg"}
        See :mod:`cvxnn.distributed.linsys`.
    max_recoveries : int
        Worker losses survived (each restarts the shards' row state from the driver's point);
        one more raises :class:`WorkerLostError`.
    """

    admm: AdmmSettings = field(default_factory=sharded_admm_settings)
    cone_method: str = "rowgen"
    rowgen_rows: int | None = None
    rowgen_tol: float = 1e-9
    rowgen_prune: int = 0
    linear_solver: str = "auto"
    max_recoveries: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.admm, AdmmSettings):
            raise InvalidInputError(
                "ShardedSettings.admm must be an AdmmSettings (build it with "
                f"sharded_admm_settings(...)); got {type(self.admm).__name__}."
            )
        if self.admm.gap_tol is None:  # optimal needs a certificate
            raise InvalidInputError("ShardedSettings.gap_tol must be a positive real number; got None.")
        if self.rowgen_rows is not None:
            rows = check_positive_int(self.rowgen_rows, "ShardedSettings.rowgen_rows (or None)")
            object.__setattr__(self, "rowgen_rows", rows)
        tol = check_positive_real(self.rowgen_tol, "ShardedSettings.rowgen_tol")
        object.__setattr__(self, "rowgen_tol", tol)
        if self.cone_method not in CONE_METHODS:
            raise InvalidInputError(
                f"ShardedSettings.cone_method must be one of {list(CONE_METHODS)}; got {self.cone_method!r}."
            )
        if self.linear_solver not in SOLVERS:
            raise InvalidInputError(
                f"ShardedSettings.linear_solver must be one of {list(SOLVERS)}; got {self.linear_solver!r}."
            )
        for name in ("rowgen_prune", "max_recoveries"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInputError(f"ShardedSettings.{name} must be an integer >= 0; got {value!r}.")

    def __getattr__(self, name: str) -> Any:
        # only reached when normal lookup fails: the shared settings read through to ``admm``
        if name in SHARED_WITH_ADMM:
            return getattr(self.admm, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @classmethod
    def names(cls) -> list[str]:
        """The accepted flat setting names (shared and own)."""
        own = [f.name for f in dataclasses.fields(cls) if f.name != "admm"]
        return sorted([*SHARED_WITH_ADMM, *own])

    @classmethod
    def coerce(cls, overrides: Mapping[str, Any]) -> ShardedSettings:
        """Settings from flat keyword overrides (shared and own names); unknown names raise,
        listing the allowed ones."""
        unknown = sorted(set(overrides) - set(cls.names()))
        if unknown:
            raise InvalidInputError(
                f"Unknown solve_sharded setting(s) {unknown}; allowed settings are {cls.names()}."
            )
        shared = {k: v for k, v in overrides.items() if k in SHARED_WITH_ADMM}
        own = {k: v for k, v in overrides.items() if k not in SHARED_WITH_ADMM}
        return cls(admm=sharded_admm_settings(**shared), **own)


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
        Rows in the driver's core set at the end (``cone_method="rowgen"``; 0 otherwise).
    core_rows_pruned : int
        Rows dropped from it on the way (``rowgen_prune``).
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
    core_rows_pruned: int = 0
    values: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def optimal(self) -> bool:
        """True when the status is ``"optimal"``."""
        return self.status == "optimal"
