r"""Side-by-side benchmark of the solvers of the convex ReLU program (CVX) of MATH.md §3.

One command builds, for each size ``(n, d, P)``, *one* :class:`~cvxnn.programs.ConvexProgram`
(squared loss, sampled patterns, :math:`\beta = \lambda n`) and solves that same object with
every requested solver:

``CLARABEL``, ``ECOS``, ``SCS``, ``MOSEK``
    CVXPY's generic conic solvers at their default settings (``program.problem.solve(solver=...)``).
    MOSEK only with a usable license; otherwise reported as skipped with the reason.
``ADMM``
    cvxnn's structured ADMM, ``cvxnn.admm.solve_admm(program, settings)`` at its default settings
    (or ``--admm-settings``).
``PYSCNN``
    pyscnn's augmented-Lagrangian solver (``scnn.solvers.AL``) for ``ConvexReLU`` on the *same*
    gates, ``unitize_data=False``, ``dtype="float64"``. pyscnn minimizes our objective divided by
    ``n`` (loss :math:`\|r\|^2/(2n)`, penalty :math:`\lambda\sum\|\cdot\|_2`), so it gets
    :math:`\lambda = \beta / n`. It is imported lazily, only in the child process that runs it,
    and is reported as "not installed" when absent.

How it measures (and why this is honest)
----------------------------------------
* **Same program object, isolated runs.** The program is built once in the parent process; each
  solver runs in a ``fork`` of the parent, so it sees exactly that object (copy-on-write) while a
  hung solver can be killed at ``--timeout`` and a crashed one (e.g. killed for memory) cannot
  take the suite down. Every child starts from the same state: nothing is compiled in the
  parent, so each CVXPY solver pays its own compilation.
* **Objective and gap.** Every solver's returned ``(V, W)`` is evaluated by the same NumPy code
  (:func:`program_objective`); the relative gap is :math:`(f - f_\star)/|f_\star|`, where
  :math:`f_\star` is Clarabel's objective when Clarabel solved the instance to optimality (an
  interior-point solution at relative gap 1e-8), otherwise the lowest objective among returned
  points feasible to solver precision (relative cone violation <= 1e-6; see :func:`score_case`).
  The gap is one-sided: a slightly infeasible point can lie below :math:`f_\star`, and the cone
  violation column says how infeasible it is.
* **Time to 1e-4.** Wall-clock time of the solve call at each solver's default stopping rule.
  The "target" column says whether the returned point meets the issue's target: relative gap
  :math:`(f - f_\star)/|f_\star| \le 10^{-4}` *and* relative cone violation :math:`\le 10^{-4}`.
  When it does not, the solver did not reach the target at its defaults and its time is not a
  time-to-1e-4. For CVXPY solvers "setup" is CVXPY's compile time (``problem.compilation_time``)
  and "solve" the solver's own time (``solver_stats.solve_time`` + ``setup_time``); for the ADMM
  "setup" is data preparation plus factorizations and "solve" the iterations (its
  ``result.timings``). For the ADMM the note also gives the first residual check whose iterate
  objective was within 1e-4 of :math:`f_\star` (from ``result.history``), when there is one.
* **Peak memory.** Resident set size of the child: the high-water mark is reset at the start of
  the solve (``/proc/self/clear_refs``) and ``VmHWM - VmRSS(start)`` is reported, i.e. the extra
  resident memory the solve needed at its peak, native allocations (Rust, C, BLAS, torch)
  included, which ``tracemalloc`` would miss. Pages shared with the parent (the data) are not
  counted again.
* **Noise.** The machine is shared; always compare the ratios of one run (the ``x Clarabel``
  column), not absolute times across runs. The JSON records the load average before and after.

Run it as ``python benchmarks/run.py`` or ``python -m cvxnn.bench`` (see ``--help``).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.metadata
import importlib.util
import json
import multiprocessing
import os
import platform
import shlex
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .exceptions import InvalidInputError
from .losses import loss_value

__all__ = [
    "ALL_SOLVERS",
    "DEFAULT_SIZES",
    "GENERIC_SOLVERS",
    "QUICK_SIZES",
    "BenchCase",
    "IsolatedRun",
    "cone_violation",
    "main",
    "make_case",
    "program_objective",
    "relative_gap",
    "run_isolated",
    "run_suite",
    "score_case",
    "settings_for_size",
]

#: The issue's three sizes ``(n, d, P)``.
DEFAULT_SIZES: tuple[tuple[int, int, int], ...] = ((500, 30, 50), (2000, 50, 100), (50000, 100, 100))
#: A toy size for ``--quick`` and the smoke test.
QUICK_SIZES: tuple[tuple[int, int, int], ...] = ((60, 4, 8),)
#: CVXPY's generic conic solvers.
GENERIC_SOLVERS: tuple[str, ...] = ("CLARABEL", "ECOS", "SCS", "MOSEK")
#: Everything the harness can run, in table order.
ALL_SOLVERS: tuple[str, ...] = (*GENERIC_SOLVERS, "ADMM", "PYSCNN")
#: Default per-solver wall-clock limit in seconds.
DEFAULT_TIMEOUT = 600.0
#: Target relative objective gap.
TARGET_GAP = 1e-4
#: Largest relative cone violation of a point that meets the target (the issue's 1e-4 of |XV|).
TARGET_VIOLATION = 1e-4
#: Relative cone violation up to which a point may serve as the reference when Clarabel did not
#: report optimal (feasible to solver precision; see :func:`score_case`).
REFERENCE_MAX_VIOLATION = 1e-6
#: Generic solvers are not attempted when the cone constraints have more nonzeros than this
#: (2 n d P; (2000, 50, 100) has 2e7 and needs 5 GB in Clarabel; CVXPY could not even build
#: (5000, 100, 200) = 2e8 in 19 GB).
DEFAULT_GENERIC_MAX_NNZ = 25_000_000


# --------------------------------------------------------------------------- problem instances
@dataclasses.dataclass(frozen=True, eq=False)
class BenchCase:
    """One benchmark instance: the size, the data and the program every solver gets.

    Attributes
    ----------
    n, d, P : int
        Requested size; ``program.n_patterns`` is the effective (deduplicated) ``P``.
    beta : float
        Regularization of our objective; pyscnn gets ``beta / n``.
    program : ConvexProgram
        The squared-loss ReLU program (CVX), built once.
    build_s : float
        Seconds to sample the patterns and build the CVXPY problem (not canonicalized).
    """

    n: int
    d: int
    P: int
    beta: float
    program: Any
    build_s: float


def make_data(n: int, d: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    r"""Synthetic regression data from a planted two-layer ReLU network.

    :math:`X \sim \mathcal N(0, I_d)` (n x d); :math:`y = \sum_{j=1}^{10} (X u_j)_+ \alpha_j +
    0.1\,\epsilon` with :math:`u_j \sim \mathcal N(0, I_d / d)`, :math:`\alpha_j = \pm 1`, then
    standardized to mean 0 and variance 1. Returns ``(X, y)``.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    U = rng.standard_normal((d, 10)) / np.sqrt(d)
    alpha = rng.choice([-1.0, 1.0], size=10)
    y = np.maximum(X @ U, 0.0) @ alpha + 0.1 * rng.standard_normal(n)
    y = (y - y.mean()) / max(float(y.std()), 1e-12)
    return X, y


def make_case(n: int, d: int, P: int, *, lam: float = 1e-3, seed: int = 0) -> BenchCase:
    r"""Build the benchmark program for one size: data, ``P`` sampled patterns, :math:`\beta = \lambda n`."""
    from .patterns import sample_patterns
    from .programs import relu_program

    start = time.perf_counter()
    X, y = make_data(n, d, seed=seed)
    patterns = sample_patterns(X, P, random_state=seed + 1)
    beta = lam * n
    program = relu_program(X, y, patterns, beta=beta)
    return BenchCase(n=n, d=d, P=P, beta=beta, program=program, build_s=time.perf_counter() - start)


# --------------------------------------------------------------------------- evaluation
def program_objective(program: Any, V: np.ndarray, W: np.ndarray, D: np.ndarray | None = None) -> float:
    r"""Objective of (CVX) at ``(V, W)``.

    .. math:: L\Big(\sum_i D_i X'(v_i - w_i), y\Big) + \beta\sum_i(\|v_i\|_2 + \|w_i\|_2)

    ``D`` (n x P, 0/1) defaults to the program's patterns; pass another column order for a solver
    that permuted them (pyscnn). Shapes: ``V``, ``W`` are (d', P).
    """
    Xa = program.design
    D = program.patterns.D if D is None else D
    yhat = np.sum(D * (Xa @ (V - W)), axis=1)
    reg = float(np.linalg.norm(V, axis=0).sum() + np.linalg.norm(W, axis=0).sum())
    return loss_value(yhat, program.y, program.loss) + float(program.beta.value) * reg


def cone_violation(
    program: Any, V: np.ndarray, W: np.ndarray, D: np.ndarray | None = None
) -> tuple[float, float]:
    r"""Largest violation of :math:`(2D_i - I)X'v_i \ge 0` (and for ``W``), absolute and relative.

    The relative value divides by :math:`\max(|X'V|_{\max}, |X'W|_{\max})` (the issue's "relative
    to |XV|"); it is 0 for a feasible point. Returns ``(absolute, relative)``.
    """
    Xa = program.design
    D = program.patterns.D if D is None else D
    S = 2.0 * D - 1.0
    XV, XW = Xa @ V, Xa @ W
    absolute = max(0.0, float(np.max(-S * XV)), float(np.max(-S * XW)))
    scale = max(float(np.max(np.abs(XV))), float(np.max(np.abs(XW))))
    return absolute, (absolute / scale if scale > 0 else absolute)


def relative_gap(value: float, reference: float) -> float:
    r""":math:`(f - f_\star) / \max(|f_\star|, 10^{-12})`."""
    return (value - reference) / max(abs(reference), 1e-12)


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


# --------------------------------------------------------------------------- solver runners
def _blocks(program: Any) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    V, W = program.variables["V"].value, program.variables["W"].value
    if V is None or W is None:
        return None, None
    return np.asarray(V, dtype=np.float64), np.asarray(W, dtype=np.float64)


def _cvxpy_runner(program: Any, solver: str) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        from .solvers import solve_problem

        problem = program.problem
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            solve_problem(problem, solver, verbose=False)
        total = time.perf_counter() - start
        stats = problem.solver_stats
        solver_s = sum(t for t in (stats.solve_time, stats.setup_time) if t is not None)
        V, W = _blocks(program)
        return {
            "status": problem.status,
            "reported_value": None if problem.value is None else float(problem.value),
            "total_s": total,
            "compile_s": float(problem.compilation_time) if problem.compilation_time is not None else None,
            "solver_s": float(solver_s) if stats.solve_time is not None else None,
            "iterations": stats.num_iters,
            "V": V,
            "W": W,
        }

    return run


def _admm_runner(program: Any, settings: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        from .admm import solve_admm

        start = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = solve_admm(program, settings or None)
        total = time.perf_counter() - start
        timings = {k: float(v) for k, v in dict(result.timings).items()}
        history = dict(result.history)
        values = dict(result.values)
        return {
            "status": result.status,
            "reported_value": float(result.objective),
            "total_s": total,
            # setup = data preparation + factorizations; solve = the iterations
            "compile_s": timings.get("setup", 0.0) + timings.get("factor", 0.0),
            "solver_s": timings.get("iterate"),
            "iterations": int(result.iterations),
            "extra": {
                "timings": timings,
                "linear_solver": result.linear_solver,
                "n_factorizations": int(result.n_factorizations),
                "primal_residual": float(result.primal_residual),
                "dual_residual": float(result.dual_residual),
                "eps_primal": float(result.eps_primal),
                "eps_dual": float(result.eps_dual),
                "cone_violation_rel_reported": float(result.cone_violation_rel),
                # a certified lower bound on the optimum (weak duality): the only accuracy
                # measure where no reference solver can run
                "dual_objective": float(result.dual_objective),
                "rho": {k: float(v) for k, v in dict(result.rho).items()},
                "message": str(result.message),
            },
            "history": {
                k: np.asarray(history[k], dtype=np.float64).tolist()
                for k in ("iteration", "objective", "time")
                if k in history
            },
            "warnings": sorted({str(w.message)[:300] for w in caught}),
            "V": np.asarray(values["V"], dtype=np.float64),
            "W": np.asarray(values["W"], dtype=np.float64),
        }

    return run


def _pyscnn_prepare() -> None:
    """Import pyscnn (and torch) before the measured call."""
    importlib.import_module("scnn.optimize")


def _pyscnn_runner(program: Any, options: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        from scnn.metrics import Metrics
        from scnn.models import ConvexReLU
        from scnn.optimize import optimize_model
        from scnn.regularizers import NeuronGL1
        from scnn.solvers import AL

        Xa, y = np.array(program.design), np.array(program.y)
        n = Xa.shape[0]
        lam = float(program.beta.value) / n
        model = ConvexReLU(np.array(program.patterns.gates))
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fitted, _ = optimize_model(
                model,
                AL(model, **options),
                Metrics(),
                Xa,
                y,
                regularizer=NeuronGL1(lam),
                return_convex=True,
                unitize_data=False,
                dtype="float64",
                verbose=False,
            )
        total = time.perf_counter() - start
        # pyscnn sorts the patterns and drops the all-zero one: rebuild D from its returned gates
        # (it gates with X g > 0; ours with X g >= 0, identical off ties) and check the set matches.
        G = np.asarray(fitted.G, dtype=np.float64)
        D = (Xa @ G > 0).astype(np.float64)
        ours = {c.tobytes() for c in np.packbits(program.patterns.D, axis=0).T if c.any()}
        theirs = {c.tobytes() for c in np.packbits(D.astype(bool), axis=0).T}
        V = np.asarray(fitted.parameters[0][0], dtype=np.float64).T
        W = np.asarray(fitted.parameters[1][0], dtype=np.float64).T
        return {
            "status": "returned",
            "reported_value": None,
            "total_s": total,
            "compile_s": None,
            "solver_s": None,
            "iterations": None,
            "same_patterns": ours == theirs,
            "n_patterns_used": int(G.shape[1]),
            "lam": lam,
            "V": V,
            "W": W,
            "D": D,
        }

    return run


# --------------------------------------------------------------------------- availability
def _availability(solver: str, generic_ok: bool, generic_reason: str) -> tuple[bool, str]:
    """Whether ``solver`` can run on this case here, and if not, why."""
    if solver in GENERIC_SOLVERS:
        if not generic_ok:
            return False, generic_reason
        from .solvers import installed_solvers, mosek_status

        if solver == "MOSEK":
            usable, reason = mosek_status()
            return usable, ("" if usable else f"MOSEK skipped: {reason}")
        if solver not in installed_solvers():
            return False, f"{solver} is not installed (CVXPY lists {installed_solvers()})"
        return True, ""
    if solver == "ADMM":
        return True, ""
    if solver == "PYSCNN":
        if importlib.util.find_spec("scnn") is None:
            return False, (
                "pyscnn not installed (optional: pip install torch==2.13.0 (CPU) first, then "
                "pip install --no-deps pyscnn==0.0.10 linalg_backends==0.0.1b0 plus tqdm, opt_einsum)"
            )
        return True, ""
    raise InvalidInputError(f"Unknown solver {solver!r}; allowed: {', '.join(ALL_SOLVERS)}.")


# --------------------------------------------------------------------------- scoring
def score_case(case: dict[str, Any]) -> dict[str, Any]:
    r"""Choose the reference objective and fill gaps, targets and ratios of one case (in place).

    Reference :math:`f_\star`: Clarabel's objective when its status is optimal; otherwise the
    lowest objective among returned points feasible to solver precision (relative cone violation
    <= :data:`REFERENCE_MAX_VIOLATION`, 1e-6), and only when there is none, among points with
    relative violation <= 1e-4 (then the reference is no better than the solver that produced it).
    A point within 1e-4 of feasibility can undercut the true optimum by more than 1e-4 (measured:
    5e-5 violation bought 2.4e-4 of objective at (2000, 50, 100)), which is why the reference
    prefers precise feasibility. ``rel_gap = (f - f*)/|f*|`` is one-sided (negative: below the
    reference); the target is ``rel_gap <= 1e-4`` and relative cone violation <= 1e-4.
    Re-scoring a saved report (``--rescore``) changes no measurement.
    """
    records = case["results"]
    for r in records:
        for key in (
            "rel_gap",
            "reached_target",
            "history_time_to_target_s",
            "speedup_vs_clarabel",
            "time_vs_admm",
        ):
            r.pop(key, None)
    reference, source = None, None
    clarabel = next((r for r in records if r["solver"] == "CLARABEL" and "objective" in r), None)
    if clarabel is not None and clarabel.get("status") == "optimal":
        reference, source = clarabel["objective"], "CLARABEL (optimal, default tolerances)"
    else:
        for limit in (REFERENCE_MAX_VIOLATION, TARGET_VIOLATION):
            feasible = [
                r for r in records if "objective" in r and r.get("cone_violation_rel", np.inf) <= limit
            ]
            if feasible:
                best = min(feasible, key=lambda r: r["objective"])
                reference = best["objective"]
                status = f"{best['solver']}, status {best.get('status')}"
                source = f"best returned point with relative cone violation <= {limit:g} ({status})"
                break
    for r in records:
        if reference is not None and "objective" in r:
            r["rel_gap"] = relative_gap(r["objective"], reference)
            r["reached_target"] = bool(
                r["rel_gap"] <= TARGET_GAP and r["cone_violation_rel"] <= TARGET_VIOLATION
            )
        hist = r.get("history") or {}
        if reference is not None and hist.get("objective") and hist.get("time"):
            gaps = [relative_gap(f, reference) for f in hist["objective"]]
            hit = next((t for g, t in zip(gaps, hist["time"], strict=False) if abs(g) <= TARGET_GAP), None)
            r["history_time_to_target_s"] = hit
    base = clarabel["total_s"] if clarabel is not None and clarabel.get("reached_target") else None
    admm = next((r for r in records if r["solver"] == "ADMM" and "objective" in r), None)
    for r in records:
        if "objective" in r and r.get("total_s"):
            if base is not None:
                r["speedup_vs_clarabel"] = base / r["total_s"]
            if admm is not None and admm.get("total_s"):
                r["time_vs_admm"] = r["total_s"] / admm["total_s"]
    case["reference_objective"] = reference
    case["reference_source"] = source
    return case


# --------------------------------------------------------------------------- the suite
def settings_for_size(settings: Mapping[str, Any] | None, size: tuple[int, int, int]) -> dict[str, Any]:
    """ADMM settings for one size.

    ``settings`` is either plain settings (every size) or a mapping from ``"N,D,P"`` / ``"*"`` to
    settings, e.g. ``{"*": {"time_limit": 600}, "50000,100,100": {"eps_abs": 1e-4, ...}}``; the
    size's entry is laid over the ``"*"`` entry.
    """
    if not settings:
        return {}
    keys = list(settings)
    per_size = all(k == "*" or _is_size_key(k) for k in keys)
    if not per_size:
        return dict(settings)
    merged = dict(settings.get("*", {}))
    for key in keys:
        if key != "*" and _parse_size(key) == tuple(size):
            merged.update(settings[key])
    return merged


def _is_size_key(key: str) -> bool:
    try:
        _parse_size(key)
    except argparse.ArgumentTypeError:
        return False
    return True


def _timeout_for(timeout: float | Mapping[str, float | None] | None, solver: str) -> float | None:
    """The limit for ``solver``: a number for all, or a mapping with per-solver entries and ``"*"``."""
    if isinstance(timeout, Mapping):
        return timeout.get(solver, timeout.get("*", DEFAULT_TIMEOUT))
    return timeout


def run_case(
    case: BenchCase,
    solvers: Sequence[str],
    *,
    timeout: float | Mapping[str, float | None] | None,
    generic_max_nnz: int = DEFAULT_GENERIC_MAX_NNZ,
    admm_settings: dict[str, Any] | None = None,
    pyscnn_options: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Solve one case with every solver (each isolated, see :func:`run_isolated`) and score them.

    Returns a JSON-ready dict: the size, ``beta``, the reference objective and where it came from,
    and one record per solver (status, times, memory, objective, gap, cone violation, notes).
    """
    program = case.program
    n, d_eff, P_eff = program.n_samples, program.design.shape[1], program.n_patterns
    nnz = 2 * n * d_eff * P_eff
    generic_ok = nnz <= generic_max_nnz
    generic_reason = (
        ""
        if generic_ok
        else f"not attempted: {nnz:.2g} cone nonzeros (2ndP) > {generic_max_nnz:.2g}; CVXPY could not "
        "even build (5000,100,200) in 19 GB, and (2000,50,100) already needs ~5 GB in Clarabel"
    )
    records: list[dict[str, Any]] = []
    for solver in solvers:
        ok, why = _availability(solver, generic_ok, generic_reason)
        record: dict[str, Any] = {"solver": solver}
        if not ok:
            record.update(outcome="skipped", note=why)
            log(f"  {solver:9s} skipped: {why}")
            records.append(record)
            continue
        if solver == "ADMM":
            settings = settings_for_size(admm_settings, (case.n, case.d, case.P))
            record["settings"] = settings
            fn = _admm_runner(program, settings)
        elif solver == "PYSCNN":
            fn = _pyscnn_runner(program, dict(pyscnn_options or {}))
        else:
            fn = _cvxpy_runner(program, solver)
        limit = _timeout_for(timeout, solver)
        log(f"  {solver:9s} running (timeout {limit} s) ...")
        res = run_isolated(fn, timeout=limit, prepare=_pyscnn_prepare if solver == "PYSCNN" else None)
        record.update(
            outcome=res.outcome,
            peak_rss_mb=res.peak_rss_mb,
            peak_delta_mb=res.peak_delta_mb,
        )
        if res.outcome == "ok":
            value = dict(res.value)
            V, W, D = value.pop("V"), value.pop("W"), value.pop("D", None)
            record.update(value)
            if V is None:
                record["note"] = f"no solution returned (status {value.get('status')})"
            else:
                record["objective"] = program_objective(program, V, W, D)
                viol_abs, viol_rel = cone_violation(program, V, W, D)
                record.update(cone_violation_abs=viol_abs, cone_violation_rel=viol_rel)
        elif res.outcome == "timeout":
            record.update(total_s=res.wall_s, note=f"killed at the {limit:g} s timeout")
        else:
            record.update(total_s=res.wall_s, note=(res.error or "").strip().splitlines()[0][:300])
            record["error"] = res.error
        log(
            f"  {solver:9s} {record['outcome']}: {record.get('status', '')} "
            f"t={record.get('total_s', float('nan')):.3g}s obj={record.get('objective', float('nan')):.10g}"
            f" peak+{(record.get('peak_delta_mb') or 0):.0f}MB"
        )
        records.append(record)

    scored = {
        "size": [case.n, case.d, case.P],
        "n_patterns_effective": P_eff,
        "beta": case.beta,
        "lam_pyscnn": case.beta / case.n,
        "build_s": case.build_s,
        "generic_attempted": generic_ok,
        "generic_note": generic_reason,
        "results": records,
    }
    return score_case(scored)


def _versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {"python": platform.python_version()}
    for dist in ("cvxnn", "numpy", "scipy", "cvxpy", "clarabel", "ecos", "scs", "mosek", "pyscnn", "torch"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = None
    return out


def _git_state() -> dict[str, Any] | None:
    """Commit and locally modified files of the cvxnn checkout (None outside a git checkout)."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if head.returncode != 0:
        return None
    return {"commit": head.stdout.strip(), "modified_src": dirty.stdout.splitlines()}


def _machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    mem_gib = round(float(line.split()[1]) / 2**20, 1)
                    break
    except OSError:
        pass
    blas: list[dict[str, Any]] = []
    try:
        from threadpoolctl import threadpool_info

        blas = [
            {k: info.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
            for info in threadpool_info()
        ]
    except Exception:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "platform": platform.platform(),
        "threadpools": blas,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }


def _loadavg() -> list[float] | None:
    return list(os.getloadavg()) if hasattr(os, "getloadavg") else None


def run_suite(
    sizes: Sequence[tuple[int, int, int]],
    solvers: Sequence[str],
    *,
    timeout: float | Mapping[str, float | None] | None = 600.0,
    lam: float = 1e-3,
    seed: int = 0,
    generic_max_nnz: int = DEFAULT_GENERIC_MAX_NNZ,
    admm_settings: dict[str, Any] | None = None,
    pyscnn_options: dict[str, Any] | None = None,
    log: Callable[[str], None] = print,
    on_case: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Run every size with every solver; return the full JSON-ready report (see :func:`run_case`).

    ``on_case(report)`` is called after each size with the report so far (``main`` saves it, so a
    long run that is interrupted keeps its finished sizes).
    """
    report: dict[str, Any] = {
        "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": _machine(),
        "versions": _versions(),
        "git": _git_state(),
        "settings": {
            "solvers": list(solvers),
            "timeout_s": dict(timeout) if isinstance(timeout, Mapping) else timeout,
            "lam": lam,
            "beta": "lam * n",
            "seed": seed,
            "generic_max_nnz": generic_max_nnz,
            "admm_settings": admm_settings or {},
            "pyscnn_options": pyscnn_options or {},
            "target_rel_gap": TARGET_GAP,
            "target_rel_cone_violation": TARGET_VIOLATION,
        },
        "loadavg_start": _loadavg(),
        "cases": [],
    }
    for n, d, P in sizes:
        log(f"size (n, d, P) = ({n}, {d}, {P})")
        case = make_case(n, d, P, lam=lam, seed=seed)
        log(f"  built in {case.build_s:.2f} s, effective P = {case.program.n_patterns}, beta = {case.beta:g}")
        report["cases"].append(
            run_case(
                case,
                solvers,
                timeout=timeout,
                generic_max_nnz=generic_max_nnz,
                admm_settings=admm_settings,
                pyscnn_options=pyscnn_options,
                log=log,
            )
        )
        if on_case is not None:
            report["loadavg_end"] = _loadavg()
            report["finished_utc"] = "(in progress)"
            on_case(report)
    report["loadavg_end"] = _loadavg()
    report["finished_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return report


# --------------------------------------------------------------------------- table
def _fmt(value: Any, spec: str) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    return format(value, spec)


def markdown_table(report: dict[str, Any]) -> str:
    """The report as Markdown: one table per size, every solver a row."""
    lines: list[str] = []
    for case in report["cases"]:
        n, d, P = case["size"]
        lines.append(
            f"**(n, d, P) = ({n}, {d}, {P})**, effective P = {case['n_patterns_effective']}, "
            f"beta = {case['beta']:g} (pyscnn lambda = {case['lam_pyscnn']:g}); reference objective "
            f"{_fmt(case['reference_objective'], '.8g')} from {case['reference_source'] or '–'}."
        )
        if not case["generic_attempted"]:
            lines.append(f"Generic solvers {case['generic_note']}.")
        lines.append("")
        lines.append(
            "| solver | status | total s | setup s | solve s | iters | rel. gap | target | "
            "cone viol. (rel) | peak +RSS MB | x Clarabel | note |"
        )
        lines.append("|---|---|--:|--:|--:|--:|--:|:-:|--:|--:|--:|---|")
        for r in case["results"]:
            status = r.get("status") or r["outcome"]
            if r["outcome"] != "ok":
                status = r["outcome"]
            reached = {True: "yes", False: "no"}.get(r.get("reached_target"), "–")
            note = r.get("note", "")
            if r["solver"] == "PYSCNN" and "same_patterns" in r:
                note = (note + "; " if note else "") + (
                    "same patterns" if r["same_patterns"] else "PATTERN SET DIFFERS"
                )
            if r.get("history_time_to_target_s") is not None:
                note = (note + "; " if note else "") + (
                    f"iterate within 1e-4 at {r['history_time_to_target_s']:.3g} s (history)"
                )
            if r["solver"] == "ADMM" and case.get("reference_objective") is None:
                dual, obj = (r.get("extra") or {}).get("dual_objective"), r.get("objective")
                if dual is not None and obj is not None and np.isfinite(dual) and abs(obj) > 0:
                    note = (note + "; " if note else "") + (
                        f"certified rel. gap (objective - dual bound) {(obj - dual) / abs(obj):.2g}"
                    )
            if r["solver"] == "ADMM" and r.get("status") not in (None, "optimal"):
                note = (note + "; " if note else "") + str((r.get("extra") or {}).get("message", ""))[:200]
            elif r["solver"] == "ADMM" and r.get("warnings"):
                note = (note + "; " if note else "") + "warning: " + r["warnings"][0][:120]
            lines.append(
                "| "
                + " | ".join(
                    [
                        r["solver"],
                        str(status),
                        _fmt(r.get("total_s"), ".3g"),
                        _fmt(r.get("compile_s"), ".3g"),
                        _fmt(r.get("solver_s"), ".3g"),
                        _fmt(r.get("iterations"), "d"),
                        _fmt(r.get("rel_gap"), ".1e"),
                        reached,
                        _fmt(r.get("cone_violation_rel"), ".1e"),
                        _fmt(r.get("peak_delta_mb"), ".0f"),
                        _fmt(r.get("speedup_vs_clarabel"), ".3g")
                        if r.get("reached_target") or r.get("speedup_vs_clarabel") is None
                        else f"({r['speedup_vs_clarabel']:.3g})",
                        note.replace("|", "/"),
                    ]
                )
                + " |"
            )
        lines.append("")
        lines.extend(_ratio_lines(case))
    return "\n".join(lines)


def _ratio_lines(case: dict[str, Any]) -> list[str]:
    """One sentence per comparison the issue's targets name: ADMM against Clarabel and pyscnn."""
    by = {r["solver"]: r for r in case["results"]}
    admm = by.get("ADMM")
    if admm is None or "objective" not in admm:
        return []
    out = []
    for other in ("CLARABEL", "PYSCNN"):
        r = by.get(other)
        if r is None or r["outcome"] == "skipped":
            continue
        if r["outcome"] == "timeout":
            out.append(
                f"- {other} was killed at its {r['total_s']:.0f} s limit; ADMM took {admm['total_s']:.3g} s "
                f"(ratio > {r['total_s'] / admm['total_s']:.3g})."
            )
        elif "objective" in r and r.get("total_s"):
            out.append(
                f"- {other} / ADMM time ratio: {r['total_s'] / admm['total_s']:.3g} "
                f"({r['total_s']:.3g} s vs {admm['total_s']:.3g} s; target met: {other} "
                f"{'yes' if r.get('reached_target') else 'no'}, ADMM "
                f"{'yes' if admm.get('reached_target') else 'no'})."
            )
    if out:
        out.append("")
    return out


def markdown_report(report: dict[str, Any]) -> str:
    """Machine, versions, command and the tables: the section pasted into benchmarks/README.md."""
    m, v = report["machine"], report["versions"]
    git = report.get("git") or {}
    blas = ", ".join(
        f"{t.get('internal_api')} {t.get('version')} ({t.get('num_threads')} threads)"
        for t in m.get("threadpools", [])
    )
    load0 = report.get("loadavg_start") or []
    load1 = report.get("loadavg_end") or []
    start_load = _fmt(load0[0] if load0 else None, ".1f")
    end_load = _fmt(load1[0] if load1 else None, ".1f")
    lines = [
        f"Run {report['started_utc']} to {report.get('finished_utc', '?')} on {m['cpu']}, "
        f"{m['cores']} cores, {m['memory_gib']} GiB RAM ({m['platform']}); BLAS: {blas or '?'}; "
        f"OMP_NUM_THREADS={m.get('OMP_NUM_THREADS')}. Load average (1 min) {start_load} at the start and "
        f"{end_load} at the end (the machine was shared).",
        "",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items() if val) + ".",
        "",
        f"cvxnn commit {git.get('commit', '?')[:10]}"
        + (
            f" with local changes in {', '.join(x[3:] for x in git['modified_src'])}"
            if git.get("modified_src")
            else ""
        )
        + ".",
        "",
        "Command:",
        "",
        "```bash",
        f"OMP_NUM_THREADS={m.get('OMP_NUM_THREADS')} {report.get('command', 'python benchmarks/run.py')}",
        "```",
        "",
        markdown_table(report),
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- command line
def _parse_size(text: str) -> tuple[int, int, int]:
    parts = text.lower().replace("x", ",").split(",")
    try:
        n, d, P = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a size is N,D,P or NxDxP with positive integers; got {text!r}"
        ) from None
    if min(n, d, P) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive; got {text!r}")
    return n, d, P


def _parse_solvers(text: str) -> list[str]:
    names = [s.strip().upper() for s in text.split(",") if s.strip()]
    unknown = [s for s in names if s not in ALL_SOLVERS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown solver(s) {unknown or text!r}; allowed: {','.join(ALL_SOLVERS)}"
        )
    return names


def _parse_json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("expected a JSON object, e.g. '{\"max_iter\": 5000}'")
    return value


def _parse_timeout(text: str) -> tuple[str, float | None]:
    solver, _, seconds = text.rpartition("=")
    solver = solver.strip().upper() or "*"
    if solver != "*" and solver not in ALL_SOLVERS:
        raise argparse.ArgumentTypeError(
            f"unknown solver {solver!r} in --timeout {text!r}; allowed: {','.join(ALL_SOLVERS)}"
        )
    if seconds.strip().lower() in ("none", "inf"):
        return solver, None
    try:
        value = float(seconds)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a timeout is SECONDS or SOLVER=SECONDS (or 'none'); got {text!r}"
        ) from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"timeout must be positive; got {text!r}")
    return solver, value


def build_parser() -> argparse.ArgumentParser:
    """The ``cvxnn bench`` / ``benchmarks/run.py`` argument parser."""
    parser = argparse.ArgumentParser(
        prog="cvxnn bench",
        description="Time to 1e-4 relative objective gap and peak memory of CVXPY solvers, the cvxnn "
        "ADMM and pyscnn on the same convex ReLU program.",
    )
    parser.add_argument(
        "--sizes",
        nargs="+",
        type=_parse_size,
        default=None,
        metavar="N,D,P",
        help="sizes (n, d, P) to run, e.g. --sizes 500,30,50 2000x50x100 (default: the issue's three)",
    )
    parser.add_argument(
        "--solvers",
        type=_parse_solvers,
        default=list(ALL_SOLVERS),
        help=f"comma-separated subset of {','.join(ALL_SOLVERS)} (default: all)",
    )
    parser.add_argument(
        "--timeout",
        nargs="+",
        type=_parse_timeout,
        default=None,
        metavar="[SOLVER=]SECONDS",
        help="wall-clock limit per solver run; the run is killed past it. A number applies to every "
        "solver, SOLVER=SECONDS overrides one, e.g. --timeout 600 SCS=180 (default 600; 'none': no limit)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write the raw results as JSON to this file")
    parser.add_argument(
        "--rescore",
        type=Path,
        default=None,
        metavar="JSON",
        help="re-apply the reference/gap rules to a saved run (no solving) and print its tables; "
        "writes --out (default: the same file) and --markdown",
    )
    parser.add_argument("--markdown", type=Path, default=None, help="also write the Markdown tables here")
    parser.add_argument("--quick", action="store_true", help=f"toy run: sizes {QUICK_SIZES}, timeout 120 s")
    parser.add_argument(
        "--lam", type=float, default=1e-3, help="beta = lam * n (pyscnn's lambda); default 1e-3"
    )
    parser.add_argument("--seed", type=int, default=0, help="data and pattern seed (default 0)")
    parser.add_argument(
        "--generic-max-nnz",
        type=int,
        default=DEFAULT_GENERIC_MAX_NNZ,
        help="skip CVXPY solvers above this many cone nonzeros 2ndP (default %(default)s)",
    )
    parser.add_argument(
        "--admm-settings",
        type=_parse_json_object,
        default=None,
        help="JSON object of cvxnn.admm.solve_admm settings, or per size: "
        '\'{"*": {"time_limit": 600}, "50000,100,100": {"eps_abs": 1e-4, "eps_rel": 1e-4}}\'',
    )
    parser.add_argument(
        "--pyscnn-options",
        type=_parse_json_object,
        default=None,
        help="JSON object of keyword arguments for scnn.solvers.AL (e.g. '{\"tol\": 1e-8}')",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``cvxnn bench`` and ``benchmarks/run.py``; returns the exit code.

    Prints progress and the Markdown tables; writes ``--out`` (JSON) and ``--markdown``.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.lam > 0:
        parser.error(f"--lam must be positive; got {args.lam}")
    sizes = args.sizes or (list(QUICK_SIZES) if args.quick else list(DEFAULT_SIZES))
    timeout: dict[str, float | None] = {"*": 120.0 if args.quick else DEFAULT_TIMEOUT}
    timeout.update(args.timeout or [])
    if args.rescore is not None:
        try:
            saved = json.loads(args.rescore.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            parser.error(f"cannot read --rescore {args.rescore}: {exc}")
        for case in saved.get("cases", []):
            score_case(case)
        saved["rescored_utc"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        out = args.out or args.rescore
        out.write_text(json.dumps(_jsonable_report(saved), indent=1) + "\n")
        if args.markdown is not None:
            args.markdown.write_text(markdown_report(saved) + "\n")
        print(markdown_table(saved))
        return 0
    argv_list = list(sys.argv[1:] if argv is None else argv)
    command = "python benchmarks/run.py " + " ".join(shlex.quote(a) for a in argv_list)

    def save(report: dict[str, Any]) -> None:
        report["command"] = command
        if args.out is not None:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(_jsonable_report(report), indent=1) + "\n")
        if args.markdown is not None:
            args.markdown.parent.mkdir(parents=True, exist_ok=True)
            args.markdown.write_text(markdown_report(report) + "\n")

    report = run_suite(
        sizes,
        args.solvers,
        timeout=timeout,
        lam=args.lam,
        seed=args.seed,
        generic_max_nnz=args.generic_max_nnz,
        admm_settings=args.admm_settings,
        pyscnn_options=args.pyscnn_options,
        on_case=save,
    )
    save(report)
    print()
    print(markdown_table(report))
    if args.out is not None:
        print(f"raw results written to {args.out}")
    return 0


def _jsonable_report(report: dict[str, Any]) -> Any:
    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            return {str(k): convert(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [convert(v) for v in value]
        if isinstance(value, np.generic):
            return convert(value.item())
        if isinstance(value, float) and not np.isfinite(value):
            return str(value)
        if isinstance(value, np.ndarray):
            return value.tolist()
        return value

    return convert(report)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
