"""``cvxnn attack``: clean and robust (attacked) accuracy of a saved classifier."""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from cvxnn.datasets import load_dataset, split_indices, standardize
from cvxnn.exceptions import InvalidInputError

from .options import EXIT_OK, nonneg_float, positive_int, seed
from .output import check_outputs, write_json

__all__ = ["add_parser", "run"]


def _model_for_attack(path: str) -> tuple[Any, np.ndarray | None, dict[str, Any], str]:
    """(network, classes or None, metadata, description) of a binary classifier model file."""
    from cvxnn.io import load_model

    saved = load_model(path)
    meta = saved.metadata
    if saved.kind == "estimator":
        est = saved.obj
        if not hasattr(est, "classes_"):
            raise InvalidInputError(
                f"{path!r} holds a {type(est).__name__}; attack measures classification accuracy and "
                "needs a classifier."
            )
        if len(est.networks_) != 1:
            raise InvalidInputError(
                f"{path!r} holds a {len(est.classes_)}-class model ({len(est.networks_)} one-vs-rest "
                "networks); attack supports binary classifiers."
            )
        desc = f"{type(est).__name__} ({est.formulation}, loss {est.loss}, eps {est.eps})"
        return est.networks_[0], np.asarray(est.classes_), meta, desc
    if saved.kind == "networks":
        raise InvalidInputError(f"{path!r} holds {len(saved.obj)} networks; attack supports one network.")
    if meta.get("task") == "regression":
        raise InvalidInputError(f"{path!r} is a regression model; attack needs a binary classifier.")
    classes = meta.get("classes")
    return saved.obj, None if classes is None else np.asarray(classes), meta, repr(saved.obj)


def _labels_pm(y: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
    present = np.unique(y)
    if classes is None:
        if np.all(np.isin(present, (-1.0, 1.0))):
            return np.asarray(y, dtype=np.float64)
        if present.size != 2:
            raise InvalidInputError(
                f"The labels hold {present.size} classes {present[:5].tolist()}; a network file without "
                "class information needs labels in {-1, +1} or exactly two classes (the larger is +1)."
            )
        classes = present
    unknown = present[~np.isin(present, classes)]
    if unknown.size:
        raise InvalidInputError(
            f"The data has labels {unknown[:5].tolist()} the model was not trained on (its classes: "
            f"{np.asarray(classes).tolist()})."
        )
    return np.where(y == classes[1], 1.0, -1.0)


def run(args: argparse.Namespace) -> int:
    from cvxnn.attacks import robust_accuracy

    check_outputs({"--report": args.report, "--plot": args.plot}, {"MODEL": args.model, "DATA": args.data})
    if args.plot:
        from cvxnn.plotting import require_matplotlib

        require_matplotlib()  # fail before the attack if matplotlib is missing
    network, classes, meta, desc = _model_for_attack(args.model)
    data = load_dataset(args.data)
    X, y = data.X, data.y
    if args.split != "all":
        if meta.get("dataset") is None:
            raise InvalidInputError(
                "--split train/test needs a model written by `cvxnn fit` (it records the split)."
            )

        from cvxnn.datasets import Dataset

        if X.shape[0] != meta.get("n_samples", X.shape[0]):
            raise InvalidInputError(
                f"--split {args.split} reproduces the fit's split of {meta['dataset']!r} "
                f"({meta['n_samples']} samples), but {args.data!r} has {X.shape[0]}; pass the same DATA."
            )
        same = Dataset(X, y, data.name, bool(meta.get("stratify", meta.get("task") == "classification")))
        train, test = split_indices(same, float(meta["test_size"]), int(meta["seed"]))
        idx = test if args.split == "test" else train
        if idx.size == 0:
            raise InvalidInputError(
                f"The model was fitted with --test-size 0: there is no {args.split} split."
            )
        X, y = X[idx], y[idx]
    prep = meta.get("preprocessing")
    if X.shape[1] != network.n_features:
        raise InvalidInputError(
            f"{args.data!r} has {X.shape[1]} features but the model takes {network.n_features}."
        )
    X = standardize(X, prep)
    y_pm = _labels_pm(y, classes)
    kwargs: dict[str, Any] = {}
    if args.attack == "pgd":
        kwargs = {"steps": args.steps, "restarts": args.restarts, "random_state": args.seed}
    clean = float(np.mean(y_pm * network.predict(X) > 0))
    robust = robust_accuracy(network, X, y_pm, eps=args.eps, norm=args.norm, attack=args.attack, **kwargs)
    result = {
        "model": args.model,
        "data": args.data,
        "split": args.split,
        "n": int(X.shape[0]),
        "attack": args.attack,
        "norm": args.norm,
        "eps": args.eps,
        "standardized": prep is not None,
        "clean_accuracy": clean,
        "robust_accuracy": float(robust),
    }
    if args.plot:
        from cvxnn.plotting import plot_robust_accuracy

        grid = np.linspace(0.0, args.eps, args.plot_points) if args.eps > 0 else np.array([0.0])
        known = {0.0: clean, args.eps: robust}  # the ends are the accuracies already measured
        accs = [
            known[e]
            if e in known
            else robust_accuracy(network, X, y_pm, eps=float(e), norm=args.norm, attack=args.attack, **kwargs)
            for e in grid
        ]
        plot_robust_accuracy(grid, {args.attack.upper(): accs}, args.plot, clean=clean, norm=args.norm)
        result["curve"] = {"eps": grid.tolist(), "robust_accuracy": [float(a) for a in accs]}
    if args.report:
        write_json(args.report, result)
    steps = f", {args.steps} steps, {args.restarts} restart(s)" if args.attack == "pgd" else ""
    print(f"model            {args.model}: {desc}")
    print(f"data             {args.data} ({args.split}, n={X.shape[0]})" + (", standardized" if prep else ""))
    print(f"attack           {args.attack}, l_{args.norm}, eps={args.eps:g}{steps}")
    print(f"clean accuracy   {clean:.4f}")
    print(f"robust accuracy  {robust:.4f}")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """Add ``cvxnn attack`` to the subparsers ``sub``."""
    att = sub.add_parser(
        "attack",
        help="clean and robust accuracy of a saved binary classifier",
        description="Clean and robust (attacked) accuracy of a saved binary classifier on DATA.",
    )
    att.add_argument(
        "model", metavar="MODEL", help="model file from `cvxnn fit` or save_network/save_estimator"
    )
    att.add_argument("data", metavar="DATA", help="a .csv, an .npz (X, y) or sklearn:NAME")
    att.add_argument("--eps", type=nonneg_float, required=True, help="attack radius (standardized units)")
    att.add_argument("--norm", choices=("inf", "2", "1"), default="inf", help="(inf)")
    att.add_argument("--attack", choices=("pgd", "fgsm"), default="pgd", help="(pgd)")
    att.add_argument("--steps", type=positive_int, default=50, help="PGD steps (50)")
    att.add_argument("--restarts", type=positive_int, default=1, help="PGD restarts (1)")
    att.add_argument("--seed", type=seed, default=0, help="seed of the random restarts (0)")
    att.add_argument(
        "--split",
        choices=("all", "test", "train"),
        default="all",
        help="evaluate on all of DATA, or on the fit's test/train split (needs DATA as given to fit)",
    )
    att.add_argument("--report", metavar="PATH", help="write a JSON result")
    att.add_argument("--plot", metavar="PATH", help="write robust accuracy against eps in [0, EPS]")
    att.add_argument("--plot-points", type=positive_int, default=6, help="radii on the plot (6)")
    att.set_defaults(func=run)
