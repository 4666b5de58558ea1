r"""Records of one ADMM solve: a residual check and the run's bookkeeping."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["HISTORY_KEYS", "CheckRecord", "RunRecord"]

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
