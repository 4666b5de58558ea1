"""Robust programs: cvxnn's ADMM side by side with Clarabel (issue 15, item 5).

For every loss and perturbation norm asked for, one run builds the robust program, solves it
with Clarabel through CVXPY (compile included; ``--no-clarabel`` skips it) and with the ADMM,
and reports time, iterations, status, objective, the relative gap to Clarabel, the relative
robust-cone violation of the ADMM's point and the process's peak resident memory after the
ADMM solve (``ru_maxrss``: a process-wide high-water mark, so run one size per process to read
the ADMM's own peak; ``tracemalloc`` slowed the solves ~5x).

    python benchmarks/robust_admm.py --data breast_cancer --P 20 50 --eps 0.05 --beta 1
    python benchmarks/robust_admm.py --data gaussian --n 2000 --d 50 --P 100 --losses hinge \\
        --norms inf --no-clarabel

``--json PATH`` also writes the rows as JSON. Numbers depend on the machine's load: quote them
with it.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
import warnings

import numpy as np

import cvxnn
from cvxnn.robust import robust_cone_violation, robust_relu_program


def load(name: str, n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Standardized inputs and labels in {-1, +1}: ``breast_cancer`` (the first ``n`` of 569 rows,
    all 30 features) or ``gaussian`` (``n x d``, labels from a random two-layer network)."""
    rng = np.random.default_rng(seed)
    if name == "breast_cancer":
        from sklearn.datasets import load_breast_cancer

        X, y = load_breast_cancer(return_X_y=True)
        idx = rng.permutation(X.shape[0])[:n]
        X, y = X[idx], np.where(y[idx] > 0, 1.0, -1.0)
    else:
        X = rng.standard_normal((n, d))
        y = np.sign(np.maximum(X @ rng.standard_normal((d, 8)), 0.0) @ rng.standard_normal(8) + 1e-12)
    X = (X - X.mean(axis=0)) / np.where(X.std(axis=0) > 0, X.std(axis=0), 1.0)
    return X, y


def run_one(X, y, P: int, loss: str, norm: str, args: argparse.Namespace) -> dict:
    """One loss / norm at one P: Clarabel (optional) and the ADMM."""
    patterns = cvxnn.sample_patterns(X, P, random_state=args.seed, bias=True)

    def build():
        return robust_relu_program(X, y, patterns, beta=args.beta, eps=args.eps, norm=norm, loss=loss)

    row: dict = {"n": X.shape[0], "d": X.shape[1], "P": patterns.n_patterns, "loss": loss, "norm": norm}
    reference = None
    if args.clarabel:
        start = time.perf_counter()
        reference = build().problem.solve(solver="CLARABEL")
        row.update(clarabel_s=time.perf_counter() - start, clarabel_objective=reference)
    program = build()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = cvxnn.solve_admm(program, {"max_iter": args.max_iter, "time_limit": args.time_limit})
    row["admm_s"] = time.perf_counter() - start
    row["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    V, W = result.values["V"], result.values["W"]
    scale = float(np.max(np.abs(program.design @ np.hstack([V, W])))) or 1.0
    row.update(
        status=result.status,
        iterations=result.iterations,
        admm_objective=result.objective,
        certified_gap=result.duality_gap / abs(result.objective),
        cone_violation_rel=robust_cone_violation(program, V, W) / scale,
    )
    if reference is not None:
        row["gap_to_clarabel"] = (result.objective - reference) / abs(reference)
        row["speedup"] = row["clarabel_s"] / row["admm_s"]
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["breast_cancer", "gaussian"], default="breast_cancer")
    parser.add_argument("--n", type=int, default=398)
    parser.add_argument("--d", type=int, default=30, help="features of the gaussian data")
    parser.add_argument("--P", type=int, nargs="+", default=[20, 50])
    parser.add_argument("--losses", nargs="+", default=["hinge", "squared", "logistic"])
    parser.add_argument("--norms", nargs="+", default=["inf", "2"])
    parser.add_argument("--eps", type=float, default=0.05)
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-iter", type=int, default=20000)
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--no-clarabel", dest="clarabel", action="store_false")
    parser.add_argument("--json", help="also write the rows as JSON to this path")
    args = parser.parse_args(argv)
    X, y = load(args.data, args.n, args.d, args.seed)
    rows = []
    header = "| n | d | P | loss | norm | Clarabel s | ADMM s | iters | status | gap | cert | viol | RSS MB |"
    print(header)
    print("|" + "---|" * 13)
    for P in args.P:
        for loss in args.losses:
            for norm in args.norms:
                row = run_one(X, y, P, loss, norm, args)
                rows.append(row)
                nan = float("nan")
                cells = [
                    f"{row['n']}",
                    f"{row['d']}",
                    f"{row['P']}",
                    loss,
                    norm,
                    f"{row.get('clarabel_s', nan):.2f}",
                    f"{row['admm_s']:.2f}",
                    f"{row['iterations']}",
                    row["status"],
                    f"{row.get('gap_to_clarabel', nan):.1e}",
                    f"{row['certified_gap']:.1e}",
                    f"{row['cone_violation_rel']:.1e}",
                    f"{row['peak_rss_mb']:.0f}",
                ]
                print("| " + " | ".join(cells) + " |", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
