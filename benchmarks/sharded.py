"""Row-sharded ADMM (cvxnn.distributed) on a LocalCluster against the single-process ADMM.

Usage: ``python benchmarks/sharded.py [n d P] [--workers W] [--max-iter K]`` (default
200000 50 100, 2 workers). Prints setup and per-iteration times, iterations, bytes moved per
iteration (the analytic count of the result), and the agreement of the two objectives. Both
solvers run the same program (``relu_program`` over the gates' patterns, squared loss,
``beta = 1e-3 n``) with the slack splitting; the single-process one also with its default.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    from distributed import Client, LocalCluster

    import cvxnn
    from cvxnn.distributed import solve_sharded

    parser = argparse.ArgumentParser()
    parser.add_argument("size", nargs="*", type=int, default=[200_000, 50, 100])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-iter", type=int, default=20000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n, d, P = args.size
    rng = np.random.default_rng(args.seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal(d), 0.0) + 0.1 * rng.standard_normal(n)
    G = rng.standard_normal((d, P))
    G /= np.linalg.norm(G, axis=0)
    beta = 1e-3 * n

    patterns = cvxnn.ActivationPatterns(D=X @ G >= 0, gates=G)
    program = cvxnn.relu_program(X, y, patterns, beta=beta)
    t = time.perf_counter()
    ref = cvxnn.solve_admm(program, {"max_iter": args.max_iter})
    t_ref = time.perf_counter() - t
    print(
        f"single process (projection): {ref.status}, {ref.iterations} it, {t_ref:.2f} s, "
        f"objective {ref.objective:.10g}"
    )
    t = time.perf_counter()
    slack = cvxnn.solve_admm(program, {"max_iter": args.max_iter, "cone_method": "slack"})
    t_slack = time.perf_counter() - t
    per_slack = slack.timings["iterate"] / max(slack.iterations, 1)
    print(
        f"single process (slack): {slack.status}, {slack.iterations} it, {t_slack:.2f} s, "
        f"{1e3 * per_slack:.2f} ms/it, objective {slack.objective:.10g}"
    )

    cluster = LocalCluster(
        n_workers=args.workers, processes=True, threads_per_worker=1, dashboard_address=None
    )
    client = Client(cluster)
    try:
        t = time.perf_counter()
        res = solve_sharded(X, y, G, beta=beta, client=client, max_iter=args.max_iter)
        t_sh = time.perf_counter() - t
    finally:
        client.close()
        cluster.close()
    per = res.timings["iterate"] / max(res.iterations, 1)
    rel = abs(res.objective - ref.objective) / abs(ref.objective)
    print(
        f"sharded ({args.workers} workers, {res.n_shards} shards): {res.status}, {res.iterations} it, "
        f"{t_sh:.2f} s "
        f"(setup {res.timings['setup']:.2f} s, factor {res.timings['factor']:.2f} s), {1e3 * per:.2f} ms/it "
        f"({per / per_slack:.2f}x the single-process slack iteration), {res.bytes_per_iteration} bytes/it, "
        f"objective {res.objective:.10g}, relative difference {rel:.2e}, certified gap {res.duality_gap:.3g}"
    )


if __name__ == "__main__":
    main()
