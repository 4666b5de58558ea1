"""Solver adapters (CVXPY solvers, the ADMM, pyscnn) and whether each can run."""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from cvxnn.exceptions import InvalidInputError

from .cases import ALL_SOLVERS, GENERIC_SOLVERS


# --------------------------------------------------------------------------- solver runners
def program_blocks(program: Any) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
    V, W = program.variables["V"].value, program.variables["W"].value
    if V is None or W is None:
        return None, None
    return np.asarray(V, dtype=np.float64), np.asarray(W, dtype=np.float64)


def cvxpy_runner(program: Any, solver: str) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        from cvxnn.solvers import solve_problem

        problem = program.problem
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            solve_problem(problem, solver, verbose=False)
        total = time.perf_counter() - start
        stats = problem.solver_stats
        solver_s = sum(t for t in (stats.solve_time, stats.setup_time) if t is not None)
        V, W = program_blocks(program)
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


def admm_runner(program: Any, settings: dict[str, Any]) -> Callable[[], dict[str, Any]]:
    def run() -> dict[str, Any]:
        from cvxnn.admm import solve_admm

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


def pyscnn_prepare() -> None:
    """Import pyscnn (and torch) before the measured call."""
    importlib.import_module("scnn.optimize")


def pyscnn_runner(program: Any, options: dict[str, Any]) -> Callable[[], dict[str, Any]]:
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
def availability(solver: str, generic_ok: bool, generic_reason: str) -> tuple[bool, str]:
    """Whether ``solver`` can run on this case here, and if not, why."""
    if solver in GENERIC_SOLVERS:
        if not generic_ok:
            return False, generic_reason
        from cvxnn.solvers import installed_solvers, mosek_status

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
