"""Record the ADMM's iterate-level outcome on fixed programs, to check a refactor changes nothing.

For every kind the ADMM supports (``relu``, ``gated_relu``, ``scp``), every loss (``squared``,
``logistic``, ``hinge``) and, for ``relu``, every accepted ``cone_method``, at each size
``(n, d, P)`` the program is built from seeded synthetic data (Gaussian ``X``; planted-ReLU
targets for the squared loss, their signs as +-1 labels for the others; ``P`` sampled patterns;
``beta = 1e-3 n``) and solved with the default settings. The JSON file maps
``"kind/loss/cone_method/n,d,P"`` to the status, the iteration count and the objective
(``repr``, full precision)::

    PYTHONPATH=src python benchmarks/iterates.py --out benchmarks/results/iterates_before.json
    python benchmarks/iterates.py --compare A.json B.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings

import numpy as np

import cvxnn
from cvxnn import AdmmSettings

SIZES: tuple[tuple[int, int, int], ...] = ((500, 30, 50), (2000, 50, 100))
KINDS: tuple[str, ...] = ("relu", "gated_relu", "scp")
LOSSES: tuple[str, ...] = ("squared", "logistic", "hinge")


def cone_methods() -> tuple[str, ...]:
    """Every ``cone_method`` value :class:`AdmmSettings` accepts (probed, not hard-coded)."""
    accepted = []
    for name in ("projection", "slack", "exact", "polish"):
        try:
            AdmmSettings(cone_method=name)
        except cvxnn.exceptions.InvalidInputError:
            continue
        accepted.append(name)
    return tuple(accepted)


def make_data(n: int, d: int, loss: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian ``X`` (n x d); planted-ReLU targets, standardized, or their signs (+-1)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    U = rng.standard_normal((d, 10)) / np.sqrt(d)
    alpha = rng.choice([-1.0, 1.0], size=10)
    y = np.maximum(X @ U, 0.0) @ alpha + 0.1 * rng.standard_normal(n)
    y = (y - y.mean()) / max(float(y.std()), 1e-12)
    if loss != "squared":
        y = np.where(y >= 0.0, 1.0, -1.0)
    return X, y


def build(kind: str, loss: str, n: int, d: int, P: int) -> cvxnn.ConvexProgram:
    """The program of one case (seeded)."""
    X, y = make_data(n, d, loss)
    patterns = cvxnn.sample_patterns(X, P, random_state=1)
    beta = 1e-3 * n
    if kind == "relu":
        return cvxnn.relu_program(X, y, patterns, beta=beta, loss=loss)
    if kind == "gated_relu":
        return cvxnn.gated_relu_program(X, y, patterns, beta=beta, loss=loss)
    return cvxnn.scp_program(X, y, patterns, beta=beta, loss=loss)


def run() -> dict[str, dict[str, object]]:
    """Solve every case; returns the record."""
    out: dict[str, dict[str, object]] = {}
    for n, d, P in SIZES:
        for kind in KINDS:
            for loss in LOSSES:
                for method in cone_methods() if kind == "relu" else ("-",):
                    program = build(kind, loss, n, d, P)
                    settings = {} if method == "-" else {"cone_method": method}
                    start = time.perf_counter()
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        result = cvxnn.solve_admm(program, AdmmSettings(**settings))
                    key = f"{kind}/{loss}/{method}/{n},{d},{P}"
                    out[key] = {
                        "status": result.status,
                        "iterations": int(result.iterations),
                        "objective": repr(float(result.objective)),
                    }
                    print(
                        f"{key:40s} {result.status:20s} {result.iterations:6d} "
                        f"{result.objective!r:24s} {time.perf_counter() - start:6.2f}s",
                        flush=True,
                    )
    return out


def compare(a_path: str, b_path: str) -> int:
    """Print the cases whose status, iterations or objective differ; 1 if any differ."""
    with open(a_path) as fa, open(b_path) as fb:
        a, b = json.load(fa), json.load(fb)
    differ = 0
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            differ += 1
            print(f"{key}: {a.get(key)} -> {b.get(key)}")
    print(f"{differ} of {len(set(a) | set(b))} cases differ")
    return int(differ > 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="JSON file to write")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"), help="compare two records")
    args = parser.parse_args(argv)
    if args.compare:
        return compare(*args.compare)
    record = run()
    if args.out:
        with open(args.out, "w") as f:
            json.dump(record, f, indent=1, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
