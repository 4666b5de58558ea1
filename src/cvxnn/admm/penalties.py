r"""Residual balancing of the ADMM's penalties, one per constraint block."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .settings import RHO_BAND

__all__ = ["balanced_penalties"]


def balanced_penalties(
    rho: Mapping[str, float],
    blocks: Mapping[str, tuple[float, float, float, float]],
    default: Mapping[str, float],
    cap: float,
) -> tuple[dict[str, float], bool]:
    r"""New penalties from the per-block residuals, and whether any block is off balance.

    Parameters
    ----------
    rho : Mapping[str, float]
        Current penalties by block (``"u"``, ``"s"``, ``"z"``).
    blocks : Mapping[str, tuple of 4 floats]
        Per block ``(||r_p||, max(||Ax||, ||Bz||), ||r_d||, ||rho A^T y||)``.
    default : Mapping[str, float]
        The data-derived penalties: each new penalty stays within a factor :data:`RHO_BAND` of
        its default (never pushed out of the band, never pulled into it by more than ``cap``)
        and within ``[1e-8, 1e8]``.
    cap : float
        ``adaptive_rho_tolerance``: a block is off balance when
        :math:`\sqrt{(r_p/s_p)/(r_d/s_d)}` is beyond ``cap`` or ``1/cap``; a step moves a
        penalty by at most ``cap``.

    Returns
    -------
    new_rho : dict[str, float]
    off : bool
        Whether some block is off balance *and* its penalty can move (one held at the band's
        edge is no update).
    """
    new_rho = dict(rho)
    off = False
    for b, (rp, sp, rd, sd) in blocks.items():
        rel_p = rp / sp if sp > 0 else (math.inf if rp > 0 else 0.0)
        rel_d = rd / sd if sd > 0 else (math.inf if rd > 0 else 0.0)
        if (rel_p == 0.0 and rel_d == 0.0) or (math.isinf(rel_p) and math.isinf(rel_d)):
            continue  # no direction to move
        # a zero dual residual (e.g. a penalty so small that v stays 0) raises rho by the cap,
        # a zero primal residual lowers it by the cap
        ratio = math.inf if rel_d == 0.0 or math.isinf(rel_p) else math.sqrt(rel_p / rel_d)
        lo, hi = default[b] / RHO_BAND, default[b] * RHO_BAND
        step = min(max(ratio, 1.0 / cap), cap)
        moved = rho[b] * step
        moved = max(moved, min(rho[b], lo)) if step < 1.0 else min(moved, max(rho[b], hi))
        new_rho[b] = float(np.clip(moved, 1e-8, 1e8))
        if (ratio > cap or ratio < 1.0 / cap) and new_rho[b] != rho[b]:
            off = True
    return new_rho, off
