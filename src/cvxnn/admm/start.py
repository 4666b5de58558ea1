r"""Where a solve starts: the initial penalties and iterates (cold, from values, or from a state)."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .settings import AdmmSettings, AdmmState
from .structure import Structure

__all__ = ["initial_penalties", "initial_state"]


def initial_penalties(
    st: Structure, settings: AdmmSettings, state: AdmmState | None, last_rho: Mapping[str, float] | None
) -> dict[str, float]:
    """``settings.rho`` (and ``rho_cone``, ``rho_loss``) when set; else the warm state's
    penalties; else the penalties the previous solve ended with; else the data-derived ones."""
    s = settings
    if s.rho is not None:
        rho = {"u": s.rho, "s": s.rho, "z": s.rho}
        if s.rho_cone is not None:
            rho["s"] = s.rho_cone
        if s.rho_loss is not None:
            rho["z"] = s.rho_loss
        return rho
    if state is not None:
        return dict(state.rho)
    if last_rho is not None:
        return {**st.default_rho, **last_rho}
    return dict(st.default_rho)


def initial_state(
    st: Structure,
    settings: AdmmSettings,
    start: AdmmState | np.ndarray | None,
    last_rho: Mapping[str, float] | None,
) -> AdmmState:
    """The iterates a solve starts from: a copy of ``start`` (its multipliers rescaled to the new
    penalties), or the point ``start`` (``d' x J``) with zero multipliers, or zeros."""
    prev = start if isinstance(start, AdmmState) else None
    rho = initial_penalties(st, settings, prev, last_rho)
    d, J, n = st.d, st.J, st.n
    if prev is not None:
        return AdmmState(
            u=prev.u.copy(),
            v=prev.v.copy(),
            lam=prev.lam.copy() * (prev.rho["u"] / rho["u"]),
            s=prev.s.copy(),
            nu=prev.nu.copy() * (prev.rho["s"] / rho["s"]),
            z=prev.z.copy(),
            mu=prev.mu.copy() * (prev.rho["z"] / rho["z"]),
            rho=rho,
            n=n,
        )
    U0 = start
    U = np.zeros((d, J)) if U0 is None else U0
    XU0 = st.X @ U if U0 is not None else np.zeros((n, J))
    S = np.maximum(st.G_from_XU(XU0), 0.0) if st.slack else np.zeros((0, 0))
    z = st.Fu_from_XU(XU0) if st.split_loss else np.zeros(0)
    return AdmmState(
        u=U,
        v=U.copy(),
        lam=np.zeros((d, J)),
        s=S,
        nu=np.zeros_like(S),
        z=z,
        mu=np.zeros_like(z),
        rho=rho,
        n=n,
    )
