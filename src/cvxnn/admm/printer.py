r"""The verbose table of the ADMM (``cvxnn.cli`` parses it: keep the format)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .structure import Structure

__all__ = ["Printer"]


class Printer:
    """The verbose table: iteration, objective, residuals and their tolerances, penalties, elapsed
    time, certified relative gap (``cvxnn.cli`` parses the first three columns)."""

    def __init__(self, st: Structure) -> None:
        self.st = st
        self.out = sys.stdout

    def header(self, rho: dict[str, float]) -> None:
        st = self.st
        print(
            f"cvxnn ADMM: kind={st.kind} loss={st.loss} n={st.n} d={st.d} P={st.P} linear_solver={st.method}",
            file=self.out,
        )
        print(
            f"{'iter':>7} {'objective':>14} {'r_prim':>9} {'eps_prim':>9} {'r_dual':>9} "
            f"{'eps_dual':>9} {'rho_u':>8} {'rho_s':>8} {'rho_z':>8} {'time(s)':>8} {'rel_gap':>9}",
            file=self.out,
        )

    def _rho(self, rho: dict[str, float]) -> str:
        st = self.st
        s = f"{rho['s']:8.2g}" if st.slack else f"{'-':>8}"
        z = f"{rho['z']:8.2g}" if st.split_loss else f"{'-':>8}"
        return f"{rho['u']:8.2g} {s} {z}"

    def row(
        self, k: int, obj: float, gap: float, rp: float, ep: float, rd: float, ed: float, rho: dict, t: float
    ) -> None:
        rel = gap / max(abs(obj), 1e-300)
        print(
            f"{k:7d} {obj:14.8g} {rp:9.2e} {ep:9.2e} {rd:9.2e} {ed:9.2e} "
            f"{self._rho(rho)} {t:8.2f} {rel:9.2e}",
            file=self.out,
        )

    def note(self, k: int, rho: dict[str, float]) -> None:
        print(f"{k:7d}   penalties updated -> {self._rho(rho)}", file=self.out)

    def footer(self, status: str, k: int, obj: float, t: float) -> None:
        print(f"status {status} after {k} iterations, objective {obj:.10g}, {t:.3f} s", file=self.out)
