"""Progress bars on stderr, and the adapter that draws one from the ADMM's verbose table."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["AdmmTableToProgress", "Progress"]


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

    def set(self, count: int, info: str = "") -> None:
        """Move to ``count`` (for work that reports its position rather than steps)."""
        self.update(int(count) - self.count, info)

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


class AdmmTableToProgress:
    """A text stream that turns the ADMM's verbose table (``verbose=True``) into a progress bar.

    Rows start with the iteration number, then the objective and the primal residual; every
    other line (header, penalty updates, footer) is dropped.
    """

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self._buffer = ""
        self.programs = 0
        self._last = -1

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            tokens = line.split()
            if tokens[:1] == ["status"]:  # footer: show how the solve ended
                self.bar.update(0, line.strip(), force=True)
                continue
            if len(tokens) < 3 or not tokens[0].isdigit():
                continue
            try:
                objective, r_prim = float(tokens[1]), float(tokens[2])
            except ValueError:
                continue
            k = int(tokens[0])
            if k < self._last or self.programs == 0:
                self.programs += 1
            self._last = k
            label = f"program {self.programs}: " if self.programs > 1 else ""
            self.bar.set(k, f"{label}objective {objective:.6g}, primal residual {r_prim:.1e}")
        return len(text)

    def flush(self) -> None:
        pass


def isatty(stream: Any) -> bool:
    """True when ``stream`` is an interactive terminal (False for anything without ``isatty``)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
