"""Convex adversarial training against PGD/FGSM adversarial training (the paper's experiment).

The offline version of the robust-training experiment of Bai, Gautam & Sojoudi (docs/math.md),
on data that ships with scikit-learn:

- digits 2-vs-8 (``sklearn:digits-2v8``, the stand-in for MNIST 2-vs-8): 64 pixels scaled to
  [0, 1] (pixel / 16), *not* standardized;
- breast cancer (``sklearn:breast_cancer``, +1 = benign): 30 features *standardized* with the
  training split's mean and standard deviation.

Five two-layer ReLU models, all with the hinge loss, the same weight decay ``beta`` and the same
bias handling, trained on a stratified 70/30 split:

1. convex, standard: ``relu_program`` (sampled patterns, ``docs/math.md``), trained once;
2. convex, robust: ``robust_relu_program`` at each training radius (docs/math.md; one compiled
   program, re-solved along the eps path through its ``eps`` parameter);
3. Adam: the non-convex network (NC), ``cvxnn.baselines.train_adam``, trained once;
4. PGD-AT and 5. FGSM-AT: adversarial training at each radius (``train_pgd_at``,
   ``train_fgsm_at``), minimizing the same summed hinge loss + (beta/2) weight decay.

The convex models use ``P`` Gaussian-sampled patterns plus (unless ``--no-linear-pattern``) the
all-active pattern of the bias-only gate, which gives the robust cones a nonzero feasible
neuron even at radii where no sampled pattern has room. The baselines get width ``2P``, the
largest width the convex model with ``P`` sampled patterns can have. Every model is evaluated
on the test split: clean accuracy, and robust accuracy under an l_inf PGD attack (margin
objective, 100 steps, 5 restarts, the first from the FGSM point) at the radius the robust models
were trained for. No box constraint is imposed on the attacked inputs (the robust program's
certificate has none either).

Run:  OMP_NUM_THREADS=1 python examples/robust_training.py [--fast] [--out DIR]

The robust programs are solved by cvxnn's ADMM (``program.solve("ADMM")``: certified gap, 60 s
per radius at most) on their own, larger pattern set (``--robust-patterns``, default 30: an
interior-point solver takes minutes per radius there); the standard convex model keeps
``--patterns`` and ``--solver``. ``--robust-solver CLARABEL --robust-patterns 10`` is the
interior-point version.

The default writes ``robust_training.md`` (a markdown table) and ``robust_training.png`` (robust
accuracy against eps, one panel per data set; skipped with a message when matplotlib is missing)
to ``examples/results/``. ``--fast`` runs a tiny subset with one radius in seconds and writes
nothing unless ``--out`` is given.
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

import cvxnn
from cvxnn.attacks import robust_accuracy, worst_case_loss
from cvxnn.baselines import train_adam, train_fgsm_at, train_pgd_at
from cvxnn.datasets import Dataset, load_dataset, train_test_split_scaled
from cvxnn.robust import robust_relu_program

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = ("convex (standard)", "convex robust", "Adam", "PGD-AT", "FGSM-AT")

#: per data set: how it is loaded/scaled and the training/attack radii (l_inf)
SETUPS = {
    "digits-2v8": {"eps": (0.02, 0.05, 0.1, 0.15), "fast_eps": (0.05,), "scaling": "pixels in [0, 1]"},
    "breast_cancer": {"eps": (0.05, 0.1, 0.2), "fast_eps": (0.1,), "scaling": "standardized"},
}


def load_split(name: str, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Train/test split with labels in {-1, +1}; digits kept in [0, 1], breast cancer standardized."""
    if name == "digits-2v8":
        data = load_dataset("sklearn:digits-2v8")  # already +-1 and scaled to [0, 1]
        return tuple(train_test_split(data.X, data.y, test_size=0.3, random_state=seed, stratify=data.y))
    raw = load_dataset("sklearn:breast_cancer")
    data = Dataset(raw.X, np.where(raw.y == 1, 1.0, -1.0), raw.name, True)
    return train_test_split_scaled(data, test_size=0.3, random_state=seed)


def subsample(X: np.ndarray, y: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    if n >= X.shape[0]:
        return X, y
    idx, _ = train_test_split(np.arange(X.shape[0]), train_size=n, random_state=seed, stratify=y)
    return X[idx], y[idx]


def all_active_pattern(n: int, d: int) -> cvxnn.ActivationPatterns:
    """The pattern D = I of the bias-only gate g = (0, ..., 0, 1): every point active.

    Its blocks are affine units that stay active on every ball once the bias is large enough, so
    the robust cones always admit a nonzero neuron there; random Gaussian gates rarely give a
    pattern with that much room when many points lie near their hyperplane.
    """
    gate = np.zeros((d + 1, 1))
    gate[-1] = 1.0
    return cvxnn.ActivationPatterns(D=np.ones((n, 1), dtype=bool), gates=gate, bias=True)


def evaluate(net, X_te, y_te, eps: float, seed: int, steps: int, restarts: int) -> tuple[float, float]:
    clean = float(np.mean(y_te * net.predict(X_te) > 0))
    robust = robust_accuracy(
        net, X_te, y_te, eps=eps, norm="inf", steps=steps, restarts=restarts, random_state=seed
    )
    return clean, robust


def run_dataset(name: str, args: argparse.Namespace) -> list[dict]:
    setup = SETUPS[name]
    X_tr, X_te, y_tr, y_te = load_split(name, args.seed)
    if args.fast:
        X_tr, y_tr = subsample(X_tr, y_tr, 60, args.seed)
        X_te, y_te = subsample(X_te, y_te, 80, args.seed)
    eps_values = setup["fast_eps"] if args.fast else setup["eps"]
    P = args.patterns
    width = 2 * P
    beta = args.beta
    epochs = 100 if args.fast else args.epochs
    steps, restarts = (20, 2) if args.fast else (100, 5)
    patterns = cvxnn.sample_patterns(X_tr, P, random_state=args.seed, bias=True)
    if not args.no_linear_pattern:
        patterns = patterns.union(all_active_pattern(X_tr.shape[0], X_tr.shape[1]))
    train_kw = dict(n_neurons=width, beta=beta, loss="hinge", epochs=epochs, random_state=args.seed)
    rows: list[dict] = []

    def add(method: str, eps: float, net, seconds: float, extra: str = "") -> None:
        clean, robust = evaluate(net, X_te, y_te, eps, args.seed, steps, restarts)
        rows.append(
            {
                "data": name,
                "scaling": setup["scaling"],
                "n_train": X_tr.shape[0],
                "n_test": X_te.shape[0],
                "eps": eps,
                "method": method,
                "clean acc": clean,
                "PGD acc": robust,
                "neurons": net.n_neurons,
                "train s": seconds,
                "note": extra,
            }
        )
        print(
            f"  {name:13s} eps={eps:<5g} {method:18s} clean {clean:.3f}  PGD {robust:.3f}  "
            f"neurons {net.n_neurons:3d}  {seconds:6.1f} s {extra}",
            flush=True,
        )

    # models trained once (no radius), evaluated at every radius
    start = time.perf_counter()
    nominal = cvxnn.relu_program(X_tr, y_tr, patterns, beta=beta, loss="hinge")
    nominal.solve(args.solver)
    net_cvx, t_cvx = nominal.network(), time.perf_counter() - start
    start = time.perf_counter()
    net_adam, t_adam = train_adam(X_tr, y_tr, **train_kw), time.perf_counter() - start

    robust_patterns = patterns
    if args.robust_patterns is not None and args.robust_patterns != P:
        robust_patterns = cvxnn.sample_patterns(X_tr, args.robust_patterns, random_state=args.seed, bias=True)
        if not args.no_linear_pattern:
            robust_patterns = robust_patterns.union(all_active_pattern(X_tr.shape[0], X_tr.shape[1]))
    robust_solver = args.robust_solver or args.solver
    solve_kw = {"time_limit": 60.0} if robust_solver.upper() == "ADMM" else {}
    program = robust_relu_program(X_tr, y_tr, robust_patterns, beta=beta, eps=eps_values[0], loss="hinge")
    for eps in eps_values:
        add("convex (standard)", eps, net_cvx, t_cvx)
        start = time.perf_counter()
        program.eps.value = eps  # DPP: re-solves without recompiling
        program.solve(robust_solver, **solve_kw)
        seconds = time.perf_counter() - start
        net = program.network()
        attacked = worst_case_loss(
            net,
            X_tr,
            y_tr,
            eps=eps,
            norm="inf",
            loss="hinge",
            steps=steps,
            restarts=restarts,
            random_state=args.seed,
        ).sum()
        affine = int(np.sum(np.all(net.hidden(X_tr) > 0, axis=0)))
        note = (
            f"status {program.status}; training hinge loss under PGD {attacked:.3g}, certified bound "
            f"{program.loss_term.value:.3g}; {affine} of {net.n_neurons} neurons active on every "
            "training point"
        )
        add("convex robust", eps, net, seconds, note)
        add("Adam", eps, net_adam, t_adam)
        start = time.perf_counter()
        net = train_pgd_at(X_tr, y_tr, eps=eps, norm="inf", attack_steps=10, **train_kw)
        add("PGD-AT", eps, net, time.perf_counter() - start)
        start = time.perf_counter()
        net = train_fgsm_at(X_tr, y_tr, eps=eps, norm="inf", **train_kw)
        add("FGSM-AT", eps, net, time.perf_counter() - start)
    return rows


def markdown(rows: list[dict], args: argparse.Namespace, seconds: float) -> str:
    lines = [
        "# Robust training: convex programs against adversarial training",
        "",
        f"Generated by `python examples/robust_training.py{' --fast' if args.fast else ''}` "
        f"(cvxnn {cvxnn.__version__}, Python {platform.python_version()}, solver {args.solver}"
        f"{f'; robust programs: {args.robust_solver}' if args.robust_solver else ''}"
        f"{f', P = {args.robust_patterns}' if args.robust_patterns else ''}) "
        f"in {seconds:.0f} s.",
        "",
        f"Hinge loss, beta = {args.beta} (summed loss + beta * group norms, i.e. (beta/2) weight "
        f"decay on the network), P = {args.patterns} sampled patterns with bias"
        f"{'' if args.no_linear_pattern else ' plus the all-active pattern of the bias-only gate'}; "
        f"baselines of width 2P = {2 * args.patterns} trained by full-batch Adam for "
        f"{100 if args.fast else args.epochs} epochs (lr 0.01; PGD-AT with 10 attack steps). "
        "Robust models are trained at the radius they are attacked with. Test accuracy, clean and "
        "under an l_inf PGD attack (margin objective, "
        f"{'20 steps, 2 restarts' if args.fast else '100 steps, 5 restarts'}, first restart from "
        "the FGSM point), no box constraint on the attacked inputs. Seed "
        f"{args.seed}.",
        "",
        "| data (scaling, n train/test) | eps | method | clean acc | PGD acc | neurons | train s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['data']} ({r['scaling']}, {r['n_train']}/{r['n_test']}) | {r['eps']:g} | {r['method']} "
            f"| {r['clean acc']:.3f} | {r['PGD acc']:.3f} | {r['neurons']} | {r['train s']:.1f} |"
        )
    lines += [
        "",
        "Convex robust solves (status; summed training hinge loss of the recovered network under the "
        "same PGD attack, and the certified upper bound from the program, exact up to the solver's "
        "feasibility tolerance):",
        "",
    ]
    for r in rows:
        if r["method"] == "convex robust":
            lines.append(f"- {r['data']}, eps = {r['eps']:g}: {r['note']}")
    return "\n".join(lines) + "\n"


def plot(rows: list[dict], path: Path) -> bool:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print("matplotlib is not installed: skipping the plot (pip install 'cvxnn[plot]').")
        return False
    names = list(dict.fromkeys(r["data"] for r in rows))
    fig = Figure(figsize=(5.2 * len(names), 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    for i, name in enumerate(names):
        ax = fig.add_subplot(1, len(names), i + 1)
        for j, method in enumerate(METHODS):
            sel = [r for r in rows if r["data"] == name and r["method"] == method]
            eps = [r["eps"] for r in sel]
            color = f"C{j}"
            ax.plot(eps, [r["PGD acc"] for r in sel], marker="o", color=color, label=f"{method}, PGD")
            ax.plot(eps, [r["clean acc"] for r in sel], ls="--", lw=1, color=color, alpha=0.6)
        scaling = sel[0]["scaling"] if sel else ""
        ax.set_title(f"{name} ({scaling})")
        ax.set_xlabel(r"$\varepsilon$ ($\ell_\infty$, train = attack radius)")
        ax.set_ylabel("test accuracy (solid: PGD, dashed: clean)")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(True, alpha=0.3)
        if i == 0:
            ax.legend(loc="lower left", fontsize="small")
    fig.savefig(path, dpi=120)
    return True


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fast", action="store_true", help="tiny subsets and one radius (seconds)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default examples/results)")
    parser.add_argument("--beta", type=float, default=0.1)
    parser.add_argument("--patterns", type=int, default=10, help="sampled patterns P")
    parser.add_argument("--epochs", type=int, default=300, help="epochs of the baselines")
    parser.add_argument("--solver", default="CLARABEL")
    parser.add_argument("--robust-solver", default="ADMM", help="robust programs' solver (ADMM)")
    parser.add_argument("--robust-patterns", type=int, default=30, help="robust programs' P (30)")
    parser.add_argument(
        "--no-linear-pattern",
        action="store_true",
        help="do not add the all-active pattern (bias-only gate) to the sampled ones",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", nargs="+", choices=list(SETUPS), default=list(SETUPS))
    args = parser.parse_args(argv)
    if args.fast:
        args.patterns = min(args.patterns, 6)
        args.robust_patterns = min(args.robust_patterns, 8)

    start = time.perf_counter()
    rows = [row for name in args.data for row in run_dataset(name, args)]
    seconds = time.perf_counter() - start
    table = markdown(rows, args, seconds)
    print()
    print(table)
    out = args.out if args.out is not None else (None if args.fast else RESULTS)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "robust_training.md").write_text(table)
        drawn = plot(rows, out / "robust_training.png")
        print(
            f"wrote {out / 'robust_training.md'}" + (f" and {out / 'robust_training.png'}" if drawn else "")
        )
    return rows


if __name__ == "__main__":
    main()
