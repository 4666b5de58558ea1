"""Per-iteration time of the ADMM against the issue's floor, four dense ``n x d' x P`` products.

For each size, on the benchmark program (``cvxnn_bench.make_case``: no bias column, so
``d' = d``; beta = 1e-3 n), one process, one BLAS thread:

1. solve it with ``eps_abs = eps_rel = 1e-4`` (the working sets and penalties settle);
2. time ``--iterations`` and twice as many iterations warm-started at that point, with no
   stopping rule and fixed penalties (the steady state), best of ``--repeats`` each; their
   difference per iteration is the iteration time (the per-call setup and final evaluation of
   the result cancel);
3. time the floor: ``X' @ U`` and ``X'^T @ B`` twice (``U`` of shape (d', P), ``B`` (n, P));
4. time the u-step's symmetric matrix-vector product alone (``dsymv`` on an ``m x m`` matrix,
   ``m = min(n, d'P)``: the Woodbury capacitance inverse or the explicit Cholesky inverse the
   solver caches), each call after evicting the caches (as in the loop once its arrays outgrow
   the last-level cache) and cache-hot. It is memory-bound, and the floor does not count it.

Steps 2-4 alternate ``--repeats`` times, so a busy spell of a shared machine hits all of them::

    OMP_NUM_THREADS=1 python benchmarks/per_iteration.py 500,30,50 2000,50,100 5000,50,100 \\
        10000,50,100 20000,100,100 50000,100,100 --out benchmarks/results/per_iteration.json \\
        --markdown benchmarks/results/per_iteration.md
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
import warnings
from collections.abc import Callable

import numpy as np
from scipy.linalg.blas import dsymv
from threadpoolctl import threadpool_limits

import cvxnn
from cvxnn_bench import make_case
from cvxnn_bench.machine import git_state, machine_info, package_versions


def _best_ms(fn: Callable[[], object], seconds: float = 0.5) -> float:
    """Best time of ``fn`` in milliseconds over at least three calls and about ``seconds``."""
    fn()
    best, spent, calls = np.inf, 0.0, 0
    while calls < 3 or spent < seconds:
        start = time.perf_counter()
        fn()
        elapsed = time.perf_counter() - start
        best, spent, calls = min(best, elapsed), spent + elapsed, calls + 1
    return 1e3 * best


@functools.cache
def _flush_buffer() -> np.ndarray:
    """128 MB, larger than any last-level cache here (allocated on first use, not at import)."""
    return np.ones(16 << 20)


def _cold_cache_ms(fn: Callable[[], object], calls: int = 5) -> float:
    """Best time of ``fn`` in milliseconds, each call after evicting the caches (as in the ADMM's
    loop, where the other iterates push the matrix out of cache between two uses)."""
    best, flush = np.inf, _flush_buffer()
    for _ in range(calls):
        np.add(flush, 1.0, out=flush)
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return 1e3 * best


def _sig(x: float) -> float:
    """``x`` to four significant digits."""
    return float(f"{x:.4g}")


def measure(n: int, d: int, P: int, iterations: int, repeats: int) -> dict[str, object]:
    """The steady-state ADMM iteration, the four-product floor and the u-step's ``dsymv``."""
    program = make_case(n, d, P).program
    X = np.ascontiguousarray(program.design)
    dp, patterns = X.shape[1], program.n_patterns  # the patterns left after deduplication
    start = time.perf_counter()
    cold = cvxnn.solve_admm(program, {"eps_abs": 1e-4, "eps_rel": 1e-4})
    cold_s = time.perf_counter() - start
    steady = {
        "max_iter": iterations,
        "check_interval": 2 * iterations,  # both runs check only at their last iteration
        "eps_abs": 1e-14,
        "eps_rel": 1e-14,
        "gap_tol": None,
        "adaptive_rho": False,
    }
    rng = np.random.default_rng(0)
    U, B = rng.standard_normal((dp, patterns)), rng.standard_normal((n, patterns))
    out = np.empty((n, patterns))

    def four() -> None:
        np.matmul(X, U, out=out)
        X.T @ B
        np.matmul(X, U, out=out)
        X.T @ B

    m = min(n, dp * patterns)
    C = np.asfortranarray(np.eye(m) + 1e-3)
    f = np.ones(m)

    def solve_ms(count: int) -> float:
        start = time.perf_counter()
        result = cvxnn.solve_admm(program, {**steady, "max_iter": count}, warm_start=cold)
        if result.iterations != count:
            raise RuntimeError(f"the warm-started run stopped after {result.iterations} iterations")
        return 1e3 * (time.perf_counter() - start)

    short, long, floor, sym, sym_hot = [], [], [], [], []
    for _ in range(repeats):
        short.append(solve_ms(iterations))
        long.append(solve_ms(2 * iterations))
        floor.append(_best_ms(four))
        sym.append(_cold_cache_ms(lambda: dsymv(1.0, C, f, lower=1)))
        sym_hot.append(_best_ms(lambda: dsymv(1.0, C, f, lower=1)))
    # the difference of a run and one twice as long: the per-call setup and final evaluation cancel
    it_ms = (min(long) - min(short)) / iterations
    floor_ms, sym_ms = min(floor), min(sym)
    return {
        "size": [n, d, P],
        "patterns": patterns,
        "linear_solver": cold.linear_solver,
        "m": m,
        "cold_iterations": cold.iterations,
        "cold_seconds": round(cold_s, 2),
        "cold_status": cold.status,
        "iteration_ms": _sig(it_ms),
        "four_products_ms": _sig(floor_ms),
        "ratio": round(it_ms / floor_ms, 2),
        "symmetric_product_ms": _sig(sym_ms),
        "symmetric_product_cache_hot_ms": _sig(min(sym_hot)),
        "symmetric_share_of_floor": round(sym_ms / floor_ms, 2),
    }


def markdown(rows: list[dict[str, object]]) -> str:
    lines = [
        "| (n, d, P) | u-step | ADMM ms / iteration | four products ms | ratio "
        "| dsymv (m x m) ms, cold / hot cache | dsymv (cold) / floor | first solve (eps 1e-4) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        n, d, P = r["size"]
        lines.append(
            f"| ({n}, {d}, {P}) | {r['linear_solver']}, m = {r['m']} | {r['iteration_ms']} | "
            f"{r['four_products_ms']} | "
            f"**{r['ratio']}x** | {r['symmetric_product_ms']} / {r['symmetric_product_cache_hot_ms']} | "
            f"{r['symmetric_share_of_floor']} | "
            f"{r['cold_iterations']} its, {r['cold_seconds']} s, {r['cold_status']} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", nargs="*", default=["500,30,50", "2000,50,100", "10000,50,100"])
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", help="raw JSON")
    parser.add_argument("--markdown", help="the table")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")  # the warm-started runs stop at their iteration limit on purpose
    rows = []
    with threadpool_limits(1):
        for spec in args.sizes:
            n, d, P = (int(v) for v in spec.replace("x", ",").split(","))
            rows.append(measure(n, d, P, args.iterations, args.repeats))
            print(json.dumps(rows[-1]), flush=True)
    table = markdown(rows)
    print(table)
    if args.out:
        record = {
            "command": " ".join(["OMP_NUM_THREADS=1 python benchmarks/per_iteration.py", *argv]),
            "machine": machine_info(),
            "versions": package_versions(),
            "git": git_state(),
            "rows": rows,
        }
        with open(args.out, "w") as fh:
            json.dump(record, fh, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as fh:
            fh.write(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
