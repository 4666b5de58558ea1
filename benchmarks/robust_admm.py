"""Robust programs: cvxnn's ADMM side by side with Clarabel (issue 15, item 5).

One run solves, for every loss and perturbation norm asked for, the robust program of the
breast-cancer data (398 training rows x 30 standardized features, beta = 1, eps = 0.05) at each
``--P`` with Clarabel through CVXPY (compile included) and with the ADMM, then the large
Gaussian program (``--large``, default (2000, 50, 100) hinge / l_inf, beta = 0.1, eps = 0.02)
with the ADMM only. Each solve runs in a fresh process (spawned), so its peak resident memory
(``ru_maxrss`` of that process, imports included; ``--baseline`` reports a process that only
imports) is its own.

Columns: seconds, iterations, status, the relative gap of the ADMM's objective to Clarabel's,
the ADMM's certified gap bound (relative), the relative robust-cone violation of each solver's
point (``max(eps ||v_i||_q - (2D_i - I)X'v_i)_+ / max(max |X'v|, 1e-6)``; the floor keeps the
ratio meaningful at the zero network, where ``max |X'v|`` is round-off), the ADMM point's
``max |X'v|`` (``~0``: the zero network is optimal, every block at the apex of its cone: at
eps = 0.05 under l_inf this is the case for the breast-cancer rows, and at eps = 0.02 for the
large row; ``--eps 0.01`` and ``--large-eps 0.005`` give programs with a nonzero optimum) and
the peak memory of each.

    python benchmarks/robust_admm.py --md benchmarks/results/robust_admm.md \\
        --json benchmarks/results/robust_admm.json          # P = 20 and the large row
    python benchmarks/robust_admm.py --full                 # also P = 50 (Clarabel: minutes each)
    python benchmarks/robust_admm.py --only-large --large-eps 0.005   # the large row alone

Numbers depend on the machine's load: quote them with it.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import sys
import time
import warnings
from concurrent.futures import ProcessPoolExecutor

import numpy as np


def load(name: str, n: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Standardized inputs and labels in {-1, +1}: ``breast_cancer`` (``n`` of its 569 rows,
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


def solve_one(spec: dict) -> dict:
    """Build one robust program and solve it with ``spec["solver"]`` (``"clarabel"``, ``"admm"``
    or ``"none"``: imports only); runs in its own process."""
    import cvxnn
    from cvxnn.robust import robust_cone_violation, robust_relu_program

    out: dict = {}
    if spec["solver"] != "none":
        X, y = load(spec["data"], spec["n"], spec["d"], spec["seed"])
        patterns = cvxnn.sample_patterns(X, spec["P"], random_state=spec["seed"], bias=True)
        program = robust_relu_program(
            X, y, patterns, beta=spec["beta"], eps=spec["eps"], norm=spec["norm"], loss=spec["loss"]
        )
        start = time.perf_counter()
        if spec["solver"] == "clarabel":
            import cvxpy as cp

            try:
                out["objective"] = program.problem.solve(solver="CLARABEL")
                out["status"] = program.problem.status
            except cp.error.SolverError as exc:  # recorded, not fatal: the other rows still run
                out.update(objective=float("nan"), status="solver_error", error=str(exc))
            V, W = program.variables["V"].value, program.variables["W"].value
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                settings = {"max_iter": spec["max_iter"], "time_limit": spec["time_limit"]}
                if spec.get("cone_method"):
                    settings["cone_method"] = spec["cone_method"]
                result = cvxnn.solve_admm(program, settings)
            V, W = result.values["V"], result.values["W"]
            out.update(
                objective=result.objective,
                status=result.status,
                iterations=result.iterations,
                certified_gap=result.duality_gap / abs(result.objective),
            )
        out["seconds"] = time.perf_counter() - start
        if V is None or W is None:
            out["cone_violation_rel"] = float("nan")
        else:
            scale = float(np.max(np.abs(program.design @ np.hstack([V, W]))))
            out["max_output"] = scale
            out["cone_violation_rel"] = robust_cone_violation(program, V, W) / max(scale, 1e-6)
        out["n_patterns"] = patterns.n_patterns
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux
    return out


def isolated(spec: dict) -> dict:
    """:func:`solve_one` in a fresh spawned process (its own peak memory)."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
        return pool.submit(solve_one, spec).result()


def run_row(base: dict, clarabel: bool) -> dict:
    """One program: Clarabel (optional), then the ADMM."""
    row = {k: base[k] for k in ("data", "n", "d", "P", "loss", "norm", "eps", "beta")}
    if clarabel:
        ref = isolated({**base, "solver": "clarabel"})
        row.update({f"clarabel_{k}": v for k, v in ref.items() if k != "n_patterns"})
    admm = isolated({**base, "solver": "admm"})
    row["P"] = admm.pop("n_patterns")
    row.update({f"admm_{k}": v for k, v in admm.items()})
    if clarabel and row["clarabel_status"] != "solver_error":
        ref_obj = row["clarabel_objective"]
        row["gap_to_clarabel"] = (row["admm_objective"] - ref_obj) / abs(ref_obj)
        row["speedup"] = row["clarabel_seconds"] / row["admm_seconds"]
    return row


HEADER = (
    "| data | n | d | P | loss | norm | eps | Clarabel s | ADMM s | speedup | iters | status "
    "| gap to Clarabel | certified gap | viol Clarabel | viol ADMM | max abs X'v ADMM "
    "| MB Clarabel | MB ADMM |"
)


def markdown_row(row: dict) -> str:
    nan = float("nan")
    failed = row.get("clarabel_status") == "solver_error"
    cells = [
        row["data"],
        f"{row['n']}",
        f"{row['d']}",
        f"{row['P']}",
        row["loss"],
        row["norm"],
        f"{row['eps']:g}",
        f"{row.get('clarabel_seconds', nan):.1f}" + (" failed" if failed else ""),
        f"{row['admm_seconds']:.1f}",
        f"{row.get('speedup', nan):.1f}",
        f"{row['admm_iterations']}",
        row["admm_status"],
        f"{row.get('gap_to_clarabel', nan):.1e}",
        f"{row['admm_certified_gap']:.1e}",
        f"{row.get('clarabel_cone_violation_rel', nan):.1e}",
        f"{row['admm_cone_violation_rel']:.1e}",
        f"{row.get('admm_max_output', nan):.1e}",
        f"{row.get('clarabel_peak_rss_mb', nan):.0f}",
        f"{row['admm_peak_rss_mb']:.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", choices=["breast_cancer", "gaussian"], default="breast_cancer")
    parser.add_argument("--n", type=int, default=398)
    parser.add_argument("--d", type=int, default=30, help="features of the gaussian data")
    parser.add_argument("--P", type=int, nargs="+", default=[20])
    parser.add_argument("--full", action="store_true", help="P = 20 and 50")
    parser.add_argument("--losses", nargs="+", default=["hinge", "squared", "logistic"])
    parser.add_argument("--norms", nargs="+", default=["inf", "2"])
    parser.add_argument("--eps", type=float, default=0.05)
    parser.add_argument("--beta", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-iter", type=int, default=20000)
    parser.add_argument("--time-limit", type=float, default=600.0)
    parser.add_argument("--no-clarabel", dest="clarabel", action="store_false")
    parser.add_argument(
        "--cone-method",
        choices=["projection", "slack"],
        default=None,
        help="the ADMM's cone handling (default: the solver's, the exact projection v-step)",
    )
    parser.add_argument("--large", type=int, nargs=3, default=[2000, 50, 100], metavar=("N", "D", "P"))
    parser.add_argument("--large-eps", type=float, default=0.02)
    parser.add_argument("--large-beta", type=float, default=0.1)
    parser.add_argument("--large-time-limit", type=float, default=120.0)
    parser.add_argument("--no-large", dest="with_large", action="store_false")
    parser.add_argument("--only-large", action="store_true", help="run the large row alone")
    parser.add_argument("--json", help="also write the rows as JSON to this path")
    parser.add_argument("--md", help="also write the table (with the command) as Markdown to this path")
    args = parser.parse_args(argv)
    P_values = [] if args.only_large else [20, 50] if args.full else args.P
    common = {
        "seed": args.seed,
        "max_iter": args.max_iter,
        "cone_method": args.cone_method,
    }
    specs: list[tuple[dict, bool]] = []
    for P in P_values:
        for loss in args.losses:
            for norm in args.norms:
                spec = {"data": args.data, "n": args.n, "d": args.d, "P": P, "loss": loss, "norm": norm}
                spec.update(common, eps=args.eps, beta=args.beta, time_limit=args.time_limit)
                specs.append((spec, args.clarabel))
    if args.with_large:
        n, d, P = args.large
        spec = {"data": "gaussian", "n": n, "d": d, "P": P, "loss": "hinge", "norm": "inf"}
        spec.update(common, eps=args.large_eps, beta=args.large_beta, time_limit=args.large_time_limit)
        specs.append((spec, False))
    baseline = isolated({"solver": "none"})["peak_rss_mb"]
    lines = [HEADER, "|" + "---|" * 19]
    print(f"peak RSS of a process that only imports: {baseline:.0f} MB")
    print("\n".join(lines), flush=True)
    rows = []
    for spec, clarabel in specs:
        row = run_row(spec, clarabel)
        rows.append(row)
        lines.append(markdown_row(row))
        print(lines[-1], flush=True)
        write(args, argv, baseline, rows, lines)  # after every row: a long run keeps what it did
    return 0


def write(args: argparse.Namespace, argv: list[str] | None, baseline: float, rows: list, lines: list) -> None:
    """The ``--json`` and ``--md`` files (rows so far)."""
    given = sys.argv[1:] if argv is None else argv
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"argv": given, "import_rss_mb": baseline, "rows": rows}, fh, indent=1)
    if args.md:
        command = "python benchmarks/robust_admm.py " + " ".join(given)
        with open(args.md, "w") as fh:
            fh.write(f"`{command}`\n\nPeak RSS of a process that only imports: {baseline:.0f} MB.\n\n")
            fh.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
