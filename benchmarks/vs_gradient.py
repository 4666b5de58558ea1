"""cvxnn's pattern search against gradient training (PyTorch Adam and L-BFGS) and plain sampling.

Every method minimizes the same objective, summed over samples,
``L(f(X), y) + beta/2 (||U||^2 + ||b||^2 + ||alpha||^2)``, in float64, on the same problems:

- planted regression (n = 2000, d = 50, 10 planted neurons, beta = 2, no bias; test on 2000
  fresh points);
- breast cancer (standardized, labels +-1, beta = 1, bias) with the squared and logistic losses;
- digits 2 vs 8 (standardized, beta = 1, bias) with the logistic and hinge losses;
- wine, class 0 against the rest (standardized, beta = 1, bias, logistic).

Gradient baselines: full-batch Adam (3000 steps, lr 1e-2) and L-BFGS (strong Wolfe line search,
500 iterations), width 100, 3 seeds, the best training objective taken. Plain sampling: Gaussian
patterns solved by the ADMM within the search's wall time. The search gets the mean wall time of
one Adam run as its ``time_limit``. Every method runs on one thread (``torch.set_num_threads(1)``
and a BLAS limit of 1 for NumPy), the fair and the fastest setting at these sizes on a shared
2-core machine (PyTorch's two spinning threads took ~100 ms per Adam step on breast cancer
under load). Usage::

    python benchmarks/vs_gradient.py [--quick] [--out benchmarks/results]

writes ``vs_gradient.json`` and ``vs_gradient.md`` under ``--out``. Needs the ``benchmark``
extra (torch, scikit-learn).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import cvxnn
from cvxnn_bench.cases import make_data
from cvxnn_bench.machine import git_state, loadavg, machine_info, package_versions

WIDTH = 100


def _problems(quick: bool) -> list[dict[str, Any]]:
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    probs = []
    X, y = make_data(4000, 50, seed=0)
    probs.append(
        dict(
            name="planted (2000, 50)",
            loss="squared",
            beta=2.0,
            bias=False,
            Xtr=X[:2000],
            ytr=y[:2000],
            Xte=X[2000:],
            yte=y[2000:],
        )
    )

    def split(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
        Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
        sc = StandardScaler().fit(Xtr)
        return sc.transform(Xtr), sc.transform(Xte), ytr, yte

    bc = load_breast_cancer()
    Xtr, Xte, ytr, yte = split(bc.data, np.where(bc.target == 1, 1.0, -1.0))
    for loss in ("squared", "logistic"):
        probs.append(
            dict(
                name=f"breast cancer ({loss})",
                loss=loss,
                beta=1.0,
                bias=True,
                Xtr=Xtr,
                ytr=ytr,
                Xte=Xte,
                yte=yte,
            )
        )
    dg = load_digits()
    keep = np.isin(dg.target, (2, 8))
    Xtr, Xte, ytr, yte = split(dg.data[keep], np.where(dg.target[keep] == 2, 1.0, -1.0))
    for loss in ("logistic", "hinge"):
        probs.append(
            dict(
                name=f"digits 2 vs 8 ({loss})",
                loss=loss,
                beta=1.0,
                bias=True,
                Xtr=Xtr,
                ytr=ytr,
                Xte=Xte,
                yte=yte,
            )
        )
    wn = load_wine()
    Xtr, Xte, ytr, yte = split(wn.data, np.where(wn.target == 0, 1.0, -1.0))
    probs.append(
        dict(
            name="wine 0 vs rest (logistic)",
            loss="logistic",
            beta=1.0,
            bias=True,
            Xtr=Xtr,
            ytr=ytr,
            Xte=Xte,
            yte=yte,
        )
    )
    return probs[:2] if quick else probs


def _metric(loss: str, pred: np.ndarray, y: np.ndarray) -> float:
    """Test MSE for the planted regression (loss squared, real targets), accuracy otherwise."""
    if not np.all(np.isin(y, (-1.0, 1.0))):
        return float(np.mean((pred - y) ** 2))
    return float(np.mean(np.where(pred >= 0, 1.0, -1.0) == y))


def _torch_train(p: dict[str, Any], method: str, seed: int, steps: int) -> tuple[float, np.ndarray, float]:
    import torch

    torch.manual_seed(seed)
    X = torch.tensor(p["Xtr"], dtype=torch.float64)
    y = torch.tensor(p["ytr"], dtype=torch.float64)
    d = X.shape[1]
    U = (torch.randn(d, WIDTH, dtype=torch.float64) * (2.0 / d) ** 0.5).requires_grad_()
    b = (
        0.1 * torch.randn(WIDTH, dtype=torch.float64)
        if p["bias"]
        else torch.zeros(WIDTH, dtype=torch.float64)
    )
    b.requires_grad_(p["bias"])
    a = (torch.randn(WIDTH, dtype=torch.float64) / WIDTH**0.5).requires_grad_()
    params = [U, a] + ([b] if p["bias"] else [])
    beta = p["beta"]

    def objective() -> torch.Tensor:
        f = torch.relu(X @ U + b) @ a
        if p["loss"] == "squared":
            lo = 0.5 * torch.sum((f - y) ** 2)
        elif p["loss"] == "logistic":
            lo = torch.sum(torch.nn.functional.softplus(-y * f))
        else:
            lo = torch.sum(torch.relu(1 - y * f))
        return lo + beta / 2 * (U.square().sum() + b.square().sum() + a.square().sum())

    t = time.perf_counter()
    if method == "adam":
        opt = torch.optim.Adam(params, lr=1e-2)
        for _ in range(steps):
            opt.zero_grad()
            objective().backward()
            opt.step()
    else:
        opt = torch.optim.LBFGS(
            params,
            max_iter=steps,
            line_search_fn="strong_wolfe",
            tolerance_grad=1e-10,
            tolerance_change=1e-14,
            history_size=50,
        )

        def closure() -> torch.Tensor:
            opt.zero_grad()
            val = objective()
            val.backward()
            return val

        opt.step(closure)
    secs = time.perf_counter() - t
    with torch.no_grad():
        obj = float(objective())
        pred = (torch.relu(torch.tensor(p["Xte"]) @ U + b) @ a).numpy()
    return obj, pred, secs


def _best_of(p: dict[str, Any], method: str, steps: int, seeds: int) -> dict[str, Any]:
    runs = [_torch_train(p, method, s, steps) for s in range(seeds)]
    k = int(np.argmin([r[0] for r in runs]))
    obj, pred, _ = runs[k]
    return dict(
        objective=obj,
        test=_metric(p["loss"], pred, p["yte"]),
        seconds=float(np.mean([r[2] for r in runs])),
        P=WIDTH,
    )


def _search(p: dict[str, Any], time_limit: float | None) -> dict[str, Any]:
    t = time.perf_counter()
    res = cvxnn.search_patterns(
        p["Xtr"],
        p["ytr"],
        beta=p["beta"],
        loss=p["loss"],
        bias=p["bias"],
        random_state=0,
        time_limit=time_limit,
    )
    secs = time.perf_counter() - t
    c = res.certificate
    return dict(
        objective=res.objective,
        test=_metric(p["loss"], res.network.predict(p["Xte"]), p["yte"]),
        seconds=secs,
        P=res.patterns.n_patterns,
        neurons=res.network.n_neurons,
        rounds=len(res.history),
        stop=res.stop_reason,
        lower_bound=c.lower_bound,
        relative_gap=c.relative_gap,
        exact_dual_norm=c.exact_dual_norm,
        max_violation=c.max_violation,
        warm_start_objective=res.warm_start_objective,
    )


def _sampling(p: dict[str, Any], seconds: float) -> dict[str, Any]:
    t = time.perf_counter()
    pats = cvxnn.sample_patterns(p["Xtr"], 200, random_state=0, bias=p["bias"])
    prog = cvxnn.relu_program(p["Xtr"], p["ytr"], pats, beta=p["beta"], loss=p["loss"])
    prog.solve("ADMM", time_limit=max(seconds, 1.0))
    net = prog.network()
    return dict(
        objective=net.objective(p["Xtr"], p["ytr"], p["beta"], p["loss"]),
        test=_metric(p["loss"], net.predict(p["Xte"]), p["yte"]),
        seconds=time.perf_counter() - t,
        P=pats.n_patterns,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="two problems, one seed, 1000 Adam steps")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    warnings.simplefilter("ignore")
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(1)
    threadpool_limits(1)
    seeds, steps = (1, 1000) if args.quick else (3, 3000)
    rows = []
    t_all = time.perf_counter()
    for p in _problems(args.quick):
        adam = _best_of(p, "adam", steps, seeds)
        lbfgs = _best_of(p, "lbfgs", 500, seeds)
        search = _search(p, time_limit=adam["seconds"])
        sampling = _sampling(p, search["seconds"])
        row = dict(
            problem=p["name"],
            loss=p["loss"],
            n=len(p["ytr"]),
            d=p["Xtr"].shape[1],
            beta=p["beta"],
            search=search,
            adam=adam,
            lbfgs=lbfgs,
            sampling=sampling,
        )
        rows.append(row)
        print(json.dumps(row), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = dict(
        command="python benchmarks/vs_gradient.py" + (" --quick" if args.quick else ""),
        seconds=time.perf_counter() - t_all,
        load_after=loadavg(),
        machine=machine_info(),
        versions=package_versions(),
        git=git_state(),
    )
    (out / "vs_gradient.json").write_text(json.dumps(dict(meta=meta, rows=rows), indent=1))
    lines = [
        f"`{meta['command']}` ({meta['seconds']:.0f} s, load average after {meta['load_after']}):",
        "",
        "| problem | method | train objective | ÷ best gradient run | test metric | seconds "
        "| ÷ one Adam run | P / width |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        best = min(r["adam"]["objective"], r["lbfgs"]["objective"])
        for m in ("search", "adam", "lbfgs", "sampling"):
            v = r[m]
            lines.append(
                f"| {r['problem']} | {m} | {v['objective']:.5g} | {v['objective'] / best:.4f} | "
                f"{v['test']:.4g} | {v['seconds']:.3g} | {v['seconds'] / r['adam']['seconds']:.2f} | "
                f"{v['P']} |"
            )
        s = r["search"]
        lines.append(
            f"| {r['problem']} | lower bound | {s['lower_bound']:.4g} (gap {100 * s['relative_gap']:.3g}%, "
            f"{'exact' if s['exact_dual_norm'] else 'bounded'} c) | | | | | |"
        )
    (out / "vs_gradient.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
