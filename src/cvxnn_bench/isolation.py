"""Fork isolation: run one solve in a child process with a time limit and peak-memory accounting."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

from cvxnn.exceptions import InvalidInputError


# --------------------------------------------------------------------------- isolated runs
@dataclasses.dataclass
class IsolatedRun:
    """Outcome of :func:`run_isolated`.

    ``outcome`` is ``"ok"`` (``value`` holds the function's return), ``"error"`` (``error`` holds
    the exception and traceback tail), ``"timeout"`` (killed after ``timeout`` seconds) or
    ``"crashed"`` (the child died without answering, ``exitcode`` says how; -9 is usually the
    kernel's out-of-memory killer). ``peak_rss_mb`` / ``peak_delta_mb``: the child's resident
    high-water mark during the call and its increase over the resident size at the call's start.
    """

    outcome: str
    value: Any = None
    error: str | None = None
    wall_s: float = float("nan")
    peak_rss_mb: float | None = None
    peak_delta_mb: float | None = None
    exitcode: int | None = None


def _proc_status_kb(field: str) -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _child_main(
    conn: Any, fn: Callable[[], Any], prepare: Callable[[], Any] | None
) -> None:  # pragma: no cover - runs in the fork
    try:
        payload: dict[str, Any]
        rss0: float | None = None
        start = time.perf_counter()
        try:
            if prepare is not None:
                prepare()
            _reset_peak_rss()
            rss0 = _proc_status_kb("VmRSS")
            start = time.perf_counter()
            value = fn()
            payload = {"outcome": "ok", "value": value, "wall_s": time.perf_counter() - start}
        except BaseException as exc:
            tail = "".join(traceback.format_exception(exc)[-3:])
            payload = {
                "outcome": "error",
                "error": f"{type(exc).__name__}: {exc}\n{tail}",
                "wall_s": time.perf_counter() - start,
            }
        hwm = _proc_status_kb("VmHWM")
        if hwm is None:  # not Linux: fall back to getrusage (KiB on Linux, bytes on macOS)
            import resource

            hwm = float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
            if sys.platform == "darwin":
                hwm /= 1024.0
        payload["peak_rss_mb"] = hwm / 1024.0
        payload["peak_delta_mb"] = (hwm - rss0) / 1024.0 if rss0 is not None else None
        conn.send(payload)
    finally:
        conn.close()
        os._exit(0)


def run_isolated(
    fn: Callable[[], Any], *, timeout: float | None = None, prepare: Callable[[], Any] | None = None
) -> IsolatedRun:
    """Run ``fn()`` in a forked child with a wall-clock limit; measure its time and peak memory.

    The child inherits the parent's objects (so a solver solves *the* program object the parent
    built) and returns ``fn()``'s value, which must be picklable, through a pipe. The timing is
    taken inside the child around the call only.

    Parameters
    ----------
    fn : callable
        The work, taking no arguments.
    timeout : float or None
        Seconds to wait for the answer before killing the child (``None``: no limit); the
        limit covers ``prepare`` too.
    prepare : callable or None
        Run in the child before the measured call (e.g. heavy imports), neither timed nor
        counted in the memory delta.

    Returns
    -------
    IsolatedRun
    """
    if timeout is not None and not timeout > 0:
        raise InvalidInputError(f"timeout must be a positive number of seconds or None; got {timeout!r}.")
    ctx = multiprocessing.get_context("fork")
    parent_conn, child_conn = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child_main, args=(child_conn, fn, prepare), daemon=True)
    start = time.perf_counter()
    proc.start()
    child_conn.close()
    try:
        ready = parent_conn.poll(timeout)
        if not ready:
            proc.kill()
            proc.join()
            return IsolatedRun(outcome="timeout", wall_s=time.perf_counter() - start, exitcode=proc.exitcode)
        try:
            payload = parent_conn.recv()
        except EOFError:
            proc.join()
            return IsolatedRun(
                outcome="crashed",
                error=f"the child process died without a result (exit code {proc.exitcode}"
                + ("; -9 is usually the out-of-memory killer)" if proc.exitcode == -9 else ")"),
                wall_s=time.perf_counter() - start,
                exitcode=proc.exitcode,
            )
        proc.join()
        return IsolatedRun(exitcode=proc.exitcode, **payload)
    finally:
        parent_conn.close()
        if proc.is_alive():  # pragma: no cover - defensive
            proc.kill()
            proc.join()
