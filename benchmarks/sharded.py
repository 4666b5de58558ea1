"""Row-sharded ADMM (cvxnn.distributed) on a LocalCluster against the single-process ADMM.

Usage: ``python benchmarks/sharded.py [n d P] [--workers W] [--max-iter K] [--loss L]
[--single-anderson M] [--slack] [--out FILE.json]`` (default 200000 50 100, 2 workers, squared
loss). Both solvers run the same program (``relu_program`` over the gates' patterns,
``beta = 1e-3 n``; with ``--loss logistic`` the labels are the signs of the centred targets):
the single-process ADMM with its default (projection) splitting and Anderson memory
``--single-anderson`` (default 10, as the sharded default; 0 is the single-process default),
the sharded one with its defaults (``cone_method="rowgen"``); ``--slack`` adds both slack
splittings. Prints and records setup and per-iteration times, iterations, bytes moved per
iteration (the result's analytic count), the core set's size and the relative difference of the
two objectives. With a split loss every iteration is a round trip to the shards, so a short
``--max-iter`` run measures the per-iteration cost of compute and communication.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import Any

import numpy as np


def _single(program: Any, settings: dict[str, Any]) -> dict[str, Any]:
    import cvxnn

    t = time.perf_counter()
    res = cvxnn.solve_admm(program, settings)
    wall = time.perf_counter() - t
    return {
        "status": res.status,
        "iterations": res.iterations,
        "seconds": wall,
        "ms_per_iteration": 1e3 * res.timings["iterate"] / max(res.iterations, 1),
        "objective": res.objective,
    }


def _sharded(
    X: np.ndarray, y: np.ndarray, G: np.ndarray, beta: float, loss: str, client: Any, **settings: Any
) -> dict:
    from cvxnn.distributed import solve_sharded

    t = time.perf_counter()
    res = solve_sharded(X, y, G, beta=beta, loss=loss, client=client, **settings)
    wall = time.perf_counter() - t
    return {
        "status": res.status,
        "iterations": res.iterations,
        "seconds": wall,
        "setup_seconds": res.timings["setup"],
        "factor_seconds": res.timings["factor"],
        "ms_per_iteration": 1e3 * res.timings["iterate"] / max(res.iterations, 1),
        "bytes_per_iteration": res.bytes_per_iteration,
        "core_rows": res.core_rows,
        "n_shards": res.n_shards,
        "objective": res.objective,
        "certified_relative_gap": res.duality_gap / abs(res.objective),
        "cone_violation_rel": res.cone_violation_rel,
    }


def main() -> None:
    from distributed import Client, LocalCluster

    import cvxnn

    parser = argparse.ArgumentParser()
    parser.add_argument("size", nargs="*", type=int, default=[200_000, 50, 100])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-iter", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--loss", choices=("squared", "logistic"), default="squared")
    parser.add_argument("--single-anderson", type=int, default=10, help="single-process Anderson memory")
    parser.add_argument("--slack", action="store_true", help="also run both slack splittings")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    n, d, P = args.size
    rng = np.random.default_rng(args.seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal(d), 0.0) + 0.1 * rng.standard_normal(n)
    if args.loss == "logistic":
        y = np.where(y > np.median(y), 1.0, -1.0)
    G = rng.standard_normal((d, P))
    G /= np.linalg.norm(G, axis=0)
    beta = 1e-3 * n

    runs: dict[str, dict[str, Any]] = {}
    patterns = cvxnn.ActivationPatterns(D=X @ G >= 0, gates=G)
    program = cvxnn.relu_program(X, y, patterns, beta=beta, loss=args.loss)
    single = {"max_iter": args.max_iter, "anderson": args.single_anderson}
    runs["single_projection"] = _single(program, single)
    print("single process (projection):", runs["single_projection"], flush=True)
    if args.slack:
        runs["single_slack"] = _single(program, {**single, "cone_method": "slack"})
        print("single process (slack):", runs["single_slack"], flush=True)

    cluster = LocalCluster(
        n_workers=args.workers, processes=True, threads_per_worker=1, dashboard_address=None
    )
    client = Client(cluster)
    try:
        runs["sharded_rowgen"] = _sharded(X, y, G, beta, args.loss, client, max_iter=args.max_iter)
        print("sharded (rowgen):", runs["sharded_rowgen"], flush=True)
        if args.slack:
            runs["sharded_slack"] = _sharded(
                X, y, G, beta, args.loss, client, max_iter=args.max_iter, cone_method="slack"
            )
            print("sharded (slack):", runs["sharded_slack"], flush=True)
    finally:
        client.close()
        cluster.close()
    ref = runs["single_projection"]["objective"]
    for key in runs:
        runs[key]["relative_difference"] = abs(runs[key]["objective"] - ref) / abs(ref)
    print({key: f"{run['relative_difference']:.2e}" for key, run in runs.items()})
    if args.out:
        record = {
            "command": "python benchmarks/sharded.py "
            + " ".join(map(str, args.size))
            + f" --workers {args.workers} --max-iter {args.max_iter} --loss {args.loss}"
            + f" --single-anderson {args.single_anderson}"
            + (" --slack" if args.slack else "")
            + f" --out {args.out}",
            "size": {"n": n, "d": d, "P": P, "beta": beta, "workers": args.workers, "loss": args.loss},
            "platform": platform.platform(),
            "runs": runs,
        }
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(record, fh, indent=1)


if __name__ == "__main__":
    main()
