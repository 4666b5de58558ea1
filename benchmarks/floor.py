"""The issue's per-iteration floor: four dense ``n x d' x P`` products, one BLAS thread.

Times ``X' @ U`` and ``X'^T @ B`` (``U`` of shape (d', P), ``B`` of shape (n, P)), twice each, on the
benchmark design of each size (``cvxnn.bench.make_case``: ``d' = d + 1`` with the bias column),
so the ADMM's seconds per iteration can be divided by it::

    OMP_NUM_THREADS=1 python benchmarks/floor.py 500,30,50 2000,50,100 50000,100,100

The ADMM needs four such products of width ``2P`` (the cone block) plus, on the Woodbury path,
two of width ``P`` (the loss block), and a symmetric matrix-vector product.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from threadpoolctl import threadpool_limits

from cvxnn.bench import make_case


def four_products_ms(n: int, d: int, P: int) -> float:
    """Milliseconds for four dense ``n x d' x P`` products on the benchmark data (best of a few)."""
    X = np.ascontiguousarray(make_case(n, d, P).program.design)
    rng = np.random.default_rng(0)
    U = rng.standard_normal((X.shape[1], P))
    B = rng.standard_normal((n, P))
    out = np.empty((n, P))

    def four() -> None:
        np.matmul(X, U, out=out)
        X.T @ B
        np.matmul(X, U, out=out)
        X.T @ B

    four()
    reps = max(3, int(2e9 / (4 * n * X.shape[1] * P)))
    start = time.perf_counter()
    for _ in range(reps):
        four()
    return 1e3 * (time.perf_counter() - start) / reps


def main(argv: list[str]) -> int:
    with threadpool_limits(1):
        for spec in argv or ["500,30,50", "2000,50,100", "50000,100,100"]:
            n, d, P = (int(v) for v in spec.replace("x", ",").split(","))
            print(f"({n}, {d}, {P}): {four_products_ms(n, d, P):.3f} ms for four n x d' x P products")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
