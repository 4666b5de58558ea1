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

``--fixed-iter K`` is the protocol for sizes where a run to tolerance does not fit (the issue's
(200 000, 50, 100): over an hour here): both solvers run exactly ``K`` iterations (stopping
rules off: ``gap_tol``, ``eps_abs``, ``eps_rel`` = 1e-15) on the same data, each with its own
defaults otherwise (the single process with Anderson memory ``--single-anderson``), for each
``--loss`` given. Recorded per solver: setup seconds, milliseconds per iteration (the loop's
time over ``K``), bytes per iteration, peak resident memory (the single process runs in its own
spawned process; for the sharded solver the driver process, which also generated the data, and
each worker process), the objective and certified relative gap at iteration ``K``, and the
relative difference of the two objectives there (the algorithms differ in their cone handling
and penalty schedules, so the iterates agree only as both converge). The command of the full
run to tolerance is recorded with it.

``--components`` measures the scaling model's constants instead (``benchmarks/README.md``):
the row work of one split-loss iteration on one shard (``ShardWorker.loss_step``, in this
process) for ``n_s`` = n / 4 and n rows, giving ``c1`` in seconds per ``n_s d' P``; and the round
trip of a ``d' x P`` array (``U_V - U_W`` out, the compact share back) to an actor on each of
the ``--workers`` worker processes and back (as an iteration's broadcast and gather), for
``d'P`` = 10^3 .. 10^6, giving a latency and a bandwidth.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from typing import Any

import numpy as np

#: Settings that switch every stopping rule off (``--fixed-iter``).
NO_STOP = {"gap_tol": 1e-15, "eps_abs": 1e-15, "eps_rel": 1e-15}


#: The single process's settings that differ from the sharded solver's, set to the sharded
#: solver's (``--fixed-iter``): exact projections from the first iteration, its penalty schedule.
ALIGNED = {"projection_steps": None, "adaptive_rho_interval": 100, "adaptive_rho_tolerance": 5.0}


def _data(n: int, d: int, P: int, loss: str, seed: int) -> tuple[np.ndarray, ...]:
    """The benchmark's data: a ReLU teacher plus noise (signs of the centred targets for a
    split loss), unit-norm Gaussian gates, ``beta = 1e-3 n``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal(d), 0.0) + 0.1 * rng.standard_normal(n)
    if loss != "squared":
        y = np.where(y > np.median(y), 1.0, -1.0)
    G = rng.standard_normal((d, P))
    G /= np.linalg.norm(G, axis=0)
    return X, y, G, 1e-3 * n


def _peak_mb() -> float:
    """This process's peak resident memory in MB (Linux ``ru_maxrss`` is in kB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _single_fixed(n: int, d: int, P: int, loss: str, seed: int, settings: dict[str, Any]) -> dict[str, Any]:
    """The single-process solve in a fresh process (run through ``multiprocessing`` spawn)."""
    import cvxnn

    X, y, G, beta = _data(n, d, P, loss, seed)
    t = time.perf_counter()
    program = cvxnn.relu_program(X, y, cvxnn.ActivationPatterns(D=X @ G >= 0, gates=G), beta=beta, loss=loss)
    t_program = time.perf_counter() - t
    res = cvxnn.solve_admm(program, settings)
    return {
        "status": res.status,
        "iterations": res.iterations,
        "seconds": time.perf_counter() - t,
        "setup_seconds": t_program + res.timings["setup"] + res.timings["factor"],
        "ms_per_iteration": 1e3 * res.timings["iterate"] / max(res.iterations, 1),
        "bytes_per_iteration": 0,
        "objective": res.objective,
        "certified_relative_gap": res.duality_gap / abs(res.objective),
        "peak_mb": _peak_mb(),
    }


def _fixed(args: argparse.Namespace) -> dict[str, Any]:
    """The ``--fixed-iter`` protocol (see the module docstring)."""
    import multiprocessing as mp
    import os

    from distributed import Client, LocalCluster

    n, d, P = args.size
    K = args.fixed_iter
    runs: dict[str, Any] = {}
    for loss in args.losses:
        print(f"loss {loss}, load average {os.getloadavg()}", flush=True)
        single_settings = {"max_iter": K, **ALIGNED, **NO_STOP}
        # the sharded solver accelerates only the squared loss (the driver iterates alone)
        single_settings["anderson"] = args.single_anderson if loss == "squared" else 0
        with mp.get_context("spawn").Pool(1) as pool:
            single = pool.apply(_single_fixed, (n, d, P, loss, args.seed, single_settings))
        print("single process (projection):", single, flush=True)
        X, y, G, beta = _data(n, d, P, loss, args.seed)
        cluster = LocalCluster(
            n_workers=args.workers, processes=True, threads_per_worker=1, dashboard_address=None
        )
        client = Client(cluster)
        try:
            sharded = _sharded(X, y, G, beta, loss, client, max_iter=K, **NO_STOP)
            sharded["peak_mb_driver"] = _peak_mb()
            sharded["peak_mb_workers"] = sorted(client.run(_peak_mb).values())
        finally:
            client.close()
            cluster.close()
        del X, y
        print("sharded (rowgen):", sharded, flush=True)
        diff = abs(sharded["objective"] - single["objective"]) / abs(single["objective"])
        runs[loss] = {
            "single_projection": single,
            "sharded_rowgen": sharded,
            "relative_difference_at_K": diff,
            "per_iteration_ratio": sharded["ms_per_iteration"] / single["ms_per_iteration"],
            "load_average_after": os.getloadavg(),
        }
        print(
            {key: runs[loss][key] for key in ("relative_difference_at_K", "per_iteration_ratio")}, flush=True
        )
    return runs


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
        "ms_per_iteration_waiting_for_shards": 1e3 * res.timings["shards"] / max(res.iterations, 1),
        "bytes_per_iteration": res.bytes_per_iteration,
        "core_rows": res.core_rows,
        "n_shards": res.n_shards,
        "objective": res.objective,
        "certified_relative_gap": res.duality_gap / abs(res.objective),
        "cone_violation_rel": res.cone_violation_rel,
    }


class _Echo:
    """A Dask actor returning its argument (the round trip of an iteration's arrays)."""

    def echo(self, A: np.ndarray) -> np.ndarray:
        return A


def _median_seconds(f: Any, args: tuple[Any, ...], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        f(*args)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def _round_trip(actors: list[Any], A: np.ndarray) -> list[np.ndarray]:
    """Send ``A`` to every actor at once and wait for every copy to come back."""
    return [f.result() for f in [a.echo(A) for a in actors]]


def _components(n: int, d: int, P: int, workers: int, rng: np.random.Generator) -> dict[str, Any]:
    """Per-shard compute of a split-loss step and the driver-worker round trip (see the docstring)."""
    from distributed import Client, LocalCluster

    from cvxnn.distributed.shards import ShardWorker, make_shard

    G = rng.standard_normal((d, P))
    compute = []
    for rows in (max(n // 4, 1), n):
        X = rng.standard_normal((rows, d))
        y = np.where(rng.standard_normal(rows) >= 0, 1.0, -1.0)
        shard = ShardWorker(make_shard(X, y, G, False, True, 0), "logistic", 1.8, slack=False)
        U = 0.01 * rng.standard_normal((d, 2 * P))
        shard.reset(U, 1.0, 1.0)
        seconds = _median_seconds(shard.loss_step, (U[:, :P] - U[:, P:], 1.0, False), 7)
        compute.append({"rows": rows, "seconds": seconds, "c1": seconds / (rows * d * P)})
        print("shard step:", compute[-1], flush=True)
    trips = []
    cluster = LocalCluster(n_workers=workers, processes=True, threads_per_worker=1, dashboard_address=None)
    client = Client(cluster)
    try:
        actors = [
            client.submit(_Echo, actor=True, workers=[w]).result() for w in client.scheduler_info()["workers"]
        ]
        for size in (10**3, 10**4, 10**5, 10**6):
            A = rng.standard_normal((1, size))  # d' x P with d'P = size
            seconds = _median_seconds(_round_trip, (actors, A), 9)
            trips.append({"dP": size, "bytes_each_way_per_worker": 8 * size, "seconds": seconds})
            print("round trip:", trips[-1], flush=True)
    finally:
        client.close()
        cluster.close()
    # latency: the smallest payload's round trip; bandwidth: the extra time of the largest one
    moved = 2 * workers * trips[-1]["bytes_each_way_per_worker"]
    latency = trips[0]["seconds"]
    extra = trips[-1]["seconds"] - latency
    return {
        "shard_step": compute,
        "round_trip": trips,
        "fit": {
            "c1_seconds_per_ndP": float(np.median([c["c1"] for c in compute])),
            "latency_seconds": float(latency),
            "bandwidth_bytes_per_second": float(moved / extra) if extra > 0 else float("inf"),
        },
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
    parser.add_argument("--components", action="store_true", help="measure the scaling model's constants")
    parser.add_argument(
        "--fixed-iter", type=int, default=0, help="run both solvers exactly this many iterations"
    )
    parser.add_argument("--losses", nargs="+", default=["squared", "logistic"], help="losses of --fixed-iter")
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    n, d, P = args.size
    rng = np.random.default_rng(args.seed)
    if args.components:
        record = {
            "command": f"python benchmarks/sharded.py {n} {d} {P} --workers {args.workers} --components"
            + (f" --out {args.out}" if args.out else ""),
            "size": {"n": n, "d": d, "P": P, "workers": args.workers},
            "platform": platform.platform(),
            **_components(n, d, P, args.workers, rng),
        }
        print(record["fit"])
        if args.out:
            with open(args.out, "w", encoding="utf-8") as fh:
                json.dump(record, fh, indent=1)
        return
    if args.fixed_iter:
        record = {
            "command": f"python benchmarks/sharded.py {n} {d} {P} --workers {args.workers} "
            f"--fixed-iter {args.fixed_iter} --losses {' '.join(args.losses)} "
            f"--single-anderson {args.single_anderson}" + (f" --out {args.out}" if args.out else ""),
            "full_run_command": f"python benchmarks/sharded.py {n} {d} {P} --workers {args.workers} "
            "--max-iter 20000 --loss LOSS --out FILE.json",
            "size": {"n": n, "d": d, "P": P, "beta": 1e-3 * n, "workers": args.workers},
            "iterations": args.fixed_iter,
            "platform": platform.platform(),
            "runs": _fixed(args),
        }
        if args.out:
            with open(args.out, "w", encoding="utf-8") as fh:
                json.dump(record, fh, indent=1)
        return
    X, y, G, beta = _data(n, d, P, args.loss, args.seed)

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
