"""Progress bars on stderr, fed by the pattern search's and the ADMM's callbacks."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["FitProgress", "Progress", "isatty"]


# --------------------------------------------------------------------------- progress
class Progress:
    """A minimal stderr progress bar, silent unless both stdout and stderr are terminals.

    Parameters
    ----------
    total : int
        Number of steps.
    label : str
        Text in front of the bar.
    enabled : bool or None
        Force on/off; ``None`` (default) enables it only on an interactive terminal.
    stream : file, optional
        Where to draw (default ``sys.stderr``).
    """

    def __init__(self, total: int, label: str, *, enabled: bool | None = None, stream: TextIO | None = None):
        self.total = max(int(total), 1)
        self.label = label
        self.count = 0
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = isatty(sys.stdout) and isatty(self.stream)
        self.enabled = bool(enabled)
        self._start = time.perf_counter()
        self._last = 0.0
        self._width = 0

    def update(self, step: int = 1, info: str = "", *, force: bool = False) -> None:
        """Advance by ``step`` and redraw (at most ten times a second, always at the end or with
        ``force``)."""
        self.count = max(min(self.count + step, self.total), 0)
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and self.count < self.total and now - self._last < 0.1:
            return
        self._last = now
        filled = int(24 * self.count / self.total)
        line = (
            f"{self.label} [{'#' * filled}{'.' * (24 - filled)}] {self.count}/{self.total} "
            f"{now - self._start:6.1f}s {info}"
        ).rstrip()
        pad = max(self._width - len(line), 0)
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def set(self, count: int, info: str = "", *, force: bool = False) -> None:
        """Move to ``count`` (for work that reports its position rather than steps)."""
        self.update(int(count) - self.count, info, force=force)

    def close(self) -> None:
        """End the bar's line."""
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FitProgress:
    """Progress of a fit: the pattern search's rounds and the ADMM's iterations, on one bar.

    Two callbacks feed it. :meth:`search_round` is ``search_patterns(progress=...)``: it records
    every :class:`cvxnn.search.SearchRound` (kept in :attr:`history`, one list per searched
    binary problem, whether or not a bar is drawn) and shows the round in the bar's text.
    :meth:`admm` is ``AdmmSettings.callback``: it moves the bar to the ADMM's iteration count
    (``bar.total`` is the iteration limit) and shows the objective and the certified gap; a solve
    that starts again from iteration 0 is counted as the next solve.
    """

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self.history: list[list[Any]] = []
        self.solves = 0
        self._last_iteration = -1
        self._round = ""

    def search_round(self, record: Any) -> None:
        """Record a search round (``record.round`` 0 starts a new search) and show it."""
        if record.round == 0 or not self.history:
            self.history.append([])
        self.history[-1].append(record)
        problem = f"search {len(self.history)}, " if len(self.history) > 1 else ""
        self._round = (
            f"{problem}round {record.round + 1}: P={record.n_patterns}, objective {record.objective:.6g}, "
            f"violation {record.max_violation:.3g}x beta; "
        )
        self.bar.update(0, self._round.rstrip("; "), force=True)

    def admm(self, info: Any) -> None:
        """Show one ADMM residual check (an :class:`cvxnn.AdmmProgress`)."""
        new_solve = info.iteration <= self._last_iteration or self.solves == 0
        if new_solve:
            self.solves += 1
        self._last_iteration = info.iteration
        gap = f", gap {info.relative_gap:.1e}" if info.relative_gap < float("inf") else ""
        self.bar.set(
            info.iteration,
            f"{self._round}solve {self.solves}: objective {info.objective:.6g}, "
            f"primal residual {info.primal_residual:.1e}{gap}",
            force=new_solve,
        )


def isatty(stream: Any) -> bool:
    """True when ``stream`` is an interactive terminal (False for anything without ``isatty``)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
