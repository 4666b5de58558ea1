"""The pattern search's certificate before and after issue 13 item 4, on the same search results.

For each problem the search runs once (``cvxnn.search_patterns``, ``random_state=0``); its final
point is then certified twice:

- *before*: the dual point the loss gradient at the fit (hinge: plus three smoothed versions),
  its dual norm exact over the enumerated arrangement when it has at most 500 patterns, otherwise
  the closed form :func:`cvxnn.pricing.dual_norm_bound`;
- *after*: :func:`cvxnn.certificate.certify` (the restricted dual point, the sharper
  :func:`cvxnn.dual_norm.dual_norm_upper_bound`).

On the enumerable instances (n = 14, d = 2) the exact optimum's point is certified too. Usage::

    python benchmarks/certificate.py [--cache DIR] [--out benchmarks/results] [--only NAME]

``--cache`` keeps each search's final point (``.npz``) so that a rerun certifies without
searching again. Writes ``certificate.json`` and ``certificate.md`` under ``--out``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

import cvxnn
from cvxnn.certificate import certify, dual_lower_bound
from cvxnn.losses import loss_gradient, loss_value
from cvxnn.pricing import dual_norm_bound, dual_norm_exact


def _small(seed: int, loss: str) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((14, 2))
    y = np.maximum(X @ rng.standard_normal(2), 0) - np.maximum(X @ rng.standard_normal(2), 0)
    y = y + 0.3 * rng.standard_normal(14)
    if loss != "squared":
        y = np.where(y >= np.median(y), 1.0, -1.0)
    return X, y


def problems() -> list[dict[str, Any]]:
    """The measured problems: name, X, y, loss, beta, bias, search keywords."""
    from sklearn.datasets import load_breast_cancer, load_digits
    from sklearn.preprocessing import StandardScaler

    from cvxnn_bench.cases import make_data

    probs: list[dict[str, Any]] = []
    for loss, bias in (("squared", False), ("logistic", True), ("hinge", False)):
        X, y = _small(1, loss)
        probs.append(dict(name=f"n14d2-{loss}", X=X, y=y, loss=loss, beta=0.5, bias=bias, small=True))
    bc = load_breast_cancer()
    Xb = StandardScaler().fit_transform(bc.data)
    yb = np.where(bc.target == 1, 1.0, -1.0)
    for loss in ("squared", "logistic"):
        probs.append(dict(name=f"breast-{loss}", X=Xb, y=yb, loss=loss, beta=1.0, bias=True))
    dg = load_digits()
    keep = np.isin(dg.target, (2, 8))
    Xd = StandardScaler().fit_transform(dg.data[keep])
    yd = np.where(dg.target[keep] == 2, 1.0, -1.0)
    for loss in ("logistic", "hinge"):
        probs.append(dict(name=f"digits28-{loss}", X=Xd, y=yd, loss=loss, beta=1.0, bias=True))
    X, y = make_data(2000, 50, seed=0)
    probs.append(dict(name="planted-2000x50", X=X, y=y, loss="squared", beta=2.0, bias=False))
    return probs


def _search_state(p: dict[str, Any], cache: Path | None, time_limit: float) -> dict[str, Any]:
    path = None if cache is None else cache / f"{p['name']}.npz"
    if path is not None and path.exists():
        z = np.load(path)
        return {k: z[k] for k in z.files}
    t = time.perf_counter()
    res = cvxnn.search_patterns(
        p["X"], p["y"], beta=p["beta"], loss=p["loss"], bias=p["bias"], random_state=0, time_limit=time_limit
    )
    state = dict(
        D=res.patterns.D,
        V=np.asarray(res.program.variables["V"].value),
        W=np.asarray(res.program.variables["W"].value),
        objective=np.float64(res.objective),
        search_s=np.float64(time.perf_counter() - t),
        max_violation=np.float64(res.certificate.max_violation),
    )
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **state)
    return state


def _predictions(Xa: np.ndarray, D: np.ndarray, V: np.ndarray, W: np.ndarray) -> np.ndarray:
    return np.sum(D * (Xa @ (V - W)), axis=1)


def _before(p: dict[str, Any], Xa: np.ndarray, yhat: np.ndarray, arrangement: Any) -> dict[str, Any]:
    """The certificate as computed before: gradient (+ smoothed hinge), exact or closed-form norm."""
    t = time.perf_counter()
    y, loss, beta = p["y"], p["loss"], p["beta"]
    cands = [loss_gradient(yhat, y, loss)]
    if loss == "hinge":
        for tau in (1e-3, 1e-2, 1e-1):
            cands.append(-y * np.clip(0.5 + (1.0 - y * yhat) / tau, 0.0, 1.0))
    best = (-np.inf, np.nan)
    for lam in cands:
        c = dual_norm_exact(Xa, lam, arrangement) if arrangement is not None else dual_norm_bound(Xa, lam)
        bound, _ = dual_lower_bound(loss, y, lam, c, beta)
        if bound > best[0]:
            best = (bound, c)
    return dict(lower_bound=best[0], dual_norm=best[1], seconds=time.perf_counter() - t)


def _after(
    p: dict[str, Any], D: np.ndarray, live: np.ndarray, yhat: np.ndarray, objective: float
) -> dict[str, Any]:
    t = time.perf_counter()
    cert = certify(
        p["X"],
        p["y"],
        D,
        yhat,
        beta=p["beta"],
        loss=p["loss"],
        bias=p["bias"],
        objective=objective,
        live=live,
        max_priced=0.0,
        random_state=0,
    )
    return dict(
        lower_bound=cert.lower_bound,
        dual_norm=cert.dual_norm,
        dual_norm_floor=cert.dual_norm_floor,
        dual_point=cert.dual_point,
        exact=cert.exact_dual_norm,
        seconds=time.perf_counter() - t,
    )


def _row(
    name: str, objective: float, before: dict[str, Any], after: dict[str, Any], extra: dict[str, Any]
) -> dict:
    def rel(lb: float) -> float:
        return (objective - lb) / max(abs(objective), 1e-12)

    return dict(
        problem=name,
        objective=objective,
        before_lower_bound=before["lower_bound"],
        before_relative_gap=rel(before["lower_bound"]),
        before_dual_norm=before["dual_norm"],
        before_seconds=before["seconds"],
        after_lower_bound=after["lower_bound"],
        after_relative_gap=rel(after["lower_bound"]),
        after_dual_norm=after["dual_norm"],
        after_dual_norm_floor=after["dual_norm_floor"],
        after_dual_point=after["dual_point"],
        after_seconds=after["seconds"],
        **extra,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    ap.add_argument("--only", default=None, help="run the problems whose name contains this")
    ap.add_argument("--time-limit", type=float, default=120.0, help="the search's time_limit (s)")
    args = ap.parse_args()
    rows = []
    for p in problems():
        if args.only and args.only not in p["name"]:
            continue
        Xa = np.hstack([p["X"], np.ones((p["X"].shape[0], 1))]) if p["bias"] else p["X"]
        arrangement = cvxnn.enumerate_patterns(p["X"], bias=p["bias"]) if p.get("small") else None
        points = []
        st = _search_state(p, args.cache, args.time_limit)
        points.append(("search", st["D"], st["V"], st["W"], float(st["objective"]), float(st["search_s"])))
        if p.get("small"):
            prog = cvxnn.relu_program(p["X"], p["y"], arrangement, beta=p["beta"], loss=p["loss"])
            t = time.perf_counter()
            obj = float(prog.solve("CLARABEL"))
            V, W = (np.asarray(prog.variables[k].value) for k in ("V", "W"))
            points.append(("exact optimum", arrangement.D, V, W, obj, time.perf_counter() - t))
        for label, D, V, W, _obj, secs in points:
            yhat = _predictions(Xa, D, V, W)
            check = loss_value(yhat, p["y"], p["loss"]) + p["beta"] * float(
                np.sum(np.linalg.norm(V, axis=0) + np.linalg.norm(W, axis=0))
            )
            before = _before(p, Xa, yhat, arrangement)
            live = (np.linalg.norm(V, axis=0) + np.linalg.norm(W, axis=0)) > 0
            after = _after(p, D, live, yhat, check)
            row = _row(f"{p['name']} ({label})", check, before, after, dict(P=D.shape[1], solve_s=secs))
            rows.append(row)
            print(json.dumps(row, default=float), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    suffix = f"_{args.only}" if args.only else ""
    (args.out / f"certificate{suffix}.json").write_text(json.dumps(rows, indent=1, default=float))
    lines = [
        "| problem | P | objective | LB before | gap before | LB after | gap after | c-bar / priced "
        "| cert s before / after | search or solve s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['problem']} | {r['P']} | {r['objective']:.5g} | {r['before_lower_bound']:.5g} | "
            f"{100 * r['before_relative_gap']:.3g}% | {r['after_lower_bound']:.5g} | "
            f"{100 * r['after_relative_gap']:.3g}% | {r['after_dual_norm']:.4g} / "
            f"{r['after_dual_norm_floor']:.4g} | "
            f"{r['before_seconds']:.2f} / {r['after_seconds']:.2f} | {r['solve_s']:.1f} |"
        )
    (args.out / f"certificate{suffix}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
