r"""Records of one ADMM solve: a residual check and the run's bookkeeping."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import cvxpy as cp
import numpy as np

from .settings import AdmmResult

if TYPE_CHECKING:
    from .structure import Structure

__all__ = ["HISTORY_KEYS", "CheckRecord", "RunRecord", "failed_result"]

#: The keys of :attr:`AdmmResult.history`.
HISTORY_KEYS = (
    "iteration",
    "objective",
    "primal_residual",
    "dual_residual",
    "eps_primal",
    "eps_dual",
    "rho_u",
    "rho_s",
    "rho_z",
    "time",
    "duality_gap",
)


@dataclass
class CheckRecord:
    """The quantities of one residual check."""

    r_p: float = math.nan
    r_d: float = math.nan
    eps_p: float = math.nan
    eps_d: float = math.nan
    obj: float = math.nan
    gap: float = math.nan
    blocks: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    ys: np.ndarray | None = None  # rho_s G^T nu (the slack certificate's ADMM multiplier)
    XV: np.ndarray | None = None  # X' v


@dataclass
class RunRecord:
    """Bookkeeping of one :meth:`AdmmSolver.solve` call."""

    t_start: float
    n_fact: int
    t_factor: float
    first_factor_time: float
    t_loop0: float = 0.0
    last_factor_k: int = 0
    last_adapt: int = 0
    last_cert: int = 0
    best_dual: float = -math.inf
    nu_cert: np.ndarray | None = None
    status: str | None = None
    message: str = ""
    history: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in HISTORY_KEYS})


def failed_result(
    st: Structure, rho: dict[str, float], beta: float, t_start: float, t_setup: float, why: str
) -> AdmmResult:
    """The ``solver_error`` result of a solve whose factorization failed (non-finite data)."""
    nan = float("nan")
    return AdmmResult(
        status=cp.SOLVER_ERROR,
        objective=nan,
        values=st.values(np.full((st.d, st.J), nan)),
        primal_residual=nan,
        dual_residual=nan,
        eps_primal=nan,
        eps_dual=nan,
        iterations=0,
        cone_violation=nan,
        cone_violation_rel=nan,
        rho=dict(rho),
        history={},
        timings={"setup": t_setup, "factor": 0.0, "iterate": 0.0, "total": time.perf_counter() - t_start},
        linear_solver=st.method,
        n_factorizations=0,
        message=(
            f"ADMM failed: {why} (non-finite or badly scaled data). Rescale the data, or use a CVXPY "
            "solver (solver='CLARABEL')."
        ),
        kind=st.kind,
        loss=st.loss,
        beta=beta,
    )
