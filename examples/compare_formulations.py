"""Exact, sampled and SCP convex training on digits 2-vs-8 (shipped with scikit-learn).

The offline stand-in for the paper's MNIST 2-vs-8 experiment. Three formulations of the same
two-layer ReLU training problem (squared loss on labels -1/+1, weight decay beta):

1. exact: every activation pattern (only feasible on a tiny problem: a 3-D PCA projection of a
   small training subset);
2. sampled: Gaussian-sampled patterns (docs/math.md), on the same tiny problem and on all 64 pixels;
3. SCP: frozen random hidden directions, only output weights trained (``docs/math.md``, "The programs").

For each: the convex objective, the recovered ReLU network's objective (equal, by the recovery
identity), train/test accuracy and the number of active neurons.

Run:  python examples/compare_formulations.py [--fast]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.decomposition import PCA
from sklearn.model_selection import train_test_split

import cvxnn
from cvxnn.datasets import load_dataset


def evaluate(name, program, X_tr, y_tr, X_te, y_te, beta):
    start = time.perf_counter()
    value = program.solve("CLARABEL")
    elapsed = time.perf_counter() - start
    net = program.network()
    return {
        "model": name,
        "P": program.n_patterns,
        "objective": value,
        "network objective": net.objective(X_tr, y_tr, beta),
        "train acc": float(np.mean(np.sign(net.predict(X_tr)) == y_tr)),
        "test acc": float(np.mean(np.sign(net.predict(X_te)) == y_te)),
        "neurons": net.n_neurons,
        "seconds": elapsed,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="smaller problems (runs in seconds)")
    parser.add_argument("--beta", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    data = load_dataset("sklearn:digits-2v8")
    X_tr, X_te, y_tr, y_te = train_test_split(
        data.X, data.y, test_size=0.3, random_state=args.seed, stratify=data.y
    )
    beta, seed = args.beta, args.seed
    n_tiny = 20 if args.fast else 30
    n_sampled = 40 if args.fast else 200

    # tiny problem: 3-D PCA of a small subset, where exact enumeration is feasible
    pca = PCA(n_components=3, random_state=seed).fit(X_tr)
    Z_tr, Z_te = pca.transform(X_tr[:n_tiny]), pca.transform(X_te)
    z_tr = y_tr[:n_tiny]
    exact = cvxnn.enumerate_patterns(Z_tr)
    sampled = cvxnn.sample_patterns(Z_tr, n_sampled, random_state=seed)
    rows = [
        evaluate(
            "exact, PCA-3, tiny",
            cvxnn.relu_program(Z_tr, z_tr, exact, beta=beta),
            Z_tr,
            z_tr,
            Z_te,
            y_te,
            beta,
        ),
        evaluate(
            "sampled, PCA-3, tiny",
            cvxnn.relu_program(Z_tr, z_tr, sampled, beta=beta),
            Z_tr,
            z_tr,
            Z_te,
            y_te,
            beta,
        ),
        evaluate(
            "SCP, PCA-3, tiny",
            cvxnn.scp_program(Z_tr, z_tr, sampled, beta=beta),
            Z_tr,
            z_tr,
            Z_te,
            y_te,
            beta,
        ),
    ]
    # all 64 pixels, full training set
    n_full = 60 if args.fast else X_tr.shape[0]
    Xf, yf = X_tr[:n_full], y_tr[:n_full]
    patterns = cvxnn.sample_patterns(Xf, 20 if args.fast else 60, random_state=seed, bias=True)
    gates = cvxnn.sample_patterns(Xf, 50 if args.fast else 300, random_state=seed + 1, bias=True)
    rows += [
        evaluate(
            f"sampled, 64 px, n={n_full}",
            cvxnn.relu_program(Xf, yf, patterns, beta=beta),
            Xf,
            yf,
            X_te,
            y_te,
            beta,
        ),
        evaluate(
            f"SCP, 64 px, n={n_full}", cvxnn.scp_program(Xf, yf, gates, beta=beta), Xf, yf, X_te, y_te, beta
        ),
    ]

    header = list(rows[0])
    print(f"digits 2-vs-8, squared loss, beta={beta}, exact patterns on the tiny problem: {exact.n_patterns}")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        cells = [f"{v:.4g}" if isinstance(v, float) else str(v) for v in row.values()]
        print("| " + " | ".join(cells) + " |")
    return rows


if __name__ == "__main__":
    main()
