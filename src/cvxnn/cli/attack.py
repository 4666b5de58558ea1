"""``cvxnn attack``: clean and robust (attacked) accuracy of a saved classifier.

Binary models are attacked on the margin :math:`y f(x)`; one-vs-rest models on the predicted
class margin (:func:`cvxnn.multiclass.classifier_robust_accuracy`). ``--eps`` is measured on the
networks' input: the standardized features of a ``cvxnn fit`` model.
"""

from __future__ import annotations

import argparse
from typing import Any

import numpy as np

from cvxnn.datasets import Dataset, load_dataset, split_indices
from cvxnn.exceptions import InvalidInputError
from cvxnn.multiclass import classifier_robust_accuracy

from .models import CliModel, load_for_cli
from .options import EXIT_OK, nonneg_float, positive_int, seed
from .output import check_outputs, check_plot_path, write_json

__all__ = ["add_parser", "run"]


def _check_classifier(model: CliModel) -> None:
    if model.task == "regression":
        raise InvalidInputError(
            f"{model.path!r} holds a regression model; attack measures classification accuracy and "
            "needs a classifier."
        )
    if len(model.networks) > 1 and model.classes is None:
        raise InvalidInputError(
            f"{model.path!r} holds {len(model.networks)} networks without class labels in its metadata "
            "(metadata['classes']); attack needs them to know which network is which class."
        )


def _binary_classes(model: CliModel, y: np.ndarray) -> np.ndarray:
    """Classes of a one-network model: its own, or for a bare network the labels (-1/+1 or two)."""
    if model.classes is not None:
        return model.classes
    present = np.unique(y)
    if np.all(np.isin(present, (-1.0, 1.0))):
        return np.array([-1.0, 1.0])
    if present.size != 2:
        raise InvalidInputError(
            f"The labels hold {present.size} classes {present[:5].tolist()}; a network file without "
            "class information needs labels in {-1, +1} or exactly two classes (the larger is +1)."
        )
    return present


def _split_rows(
    args: argparse.Namespace, meta: dict[str, Any], X: np.ndarray, y: np.ndarray, name: str
) -> Any:
    """The rows of the fit's train or test split (``--split``), from the model's metadata."""
    needed = ("dataset", "n_samples", "test_size", "seed")
    missing = [key for key in needed if meta.get(key) is None]
    if missing:
        raise InvalidInputError(
            f"--split {args.split} needs a model written by `cvxnn fit` (it records the split); the "
            f"metadata of {args.model!r} lacks {missing}. Use --split all."
        )
    if X.shape[0] != meta["n_samples"]:
        raise InvalidInputError(
            f"--split {args.split} reproduces the fit's split of {meta['dataset']!r} "
            f"({meta['n_samples']} samples), but {args.data!r} has {X.shape[0]}; pass the same DATA."
        )
    same = Dataset(X, y, name, bool(meta.get("stratify", meta.get("task") == "classification")))
    train, test = split_indices(same, float(meta["test_size"]), int(meta["seed"]))
    idx = test if args.split == "test" else train
    if idx.size == 0:
        raise InvalidInputError(f"The model was fitted with --test-size 0: there is no {args.split} split.")
    return idx


def run(args: argparse.Namespace) -> int:
    """Run ``cvxnn attack``: clean and robust accuracy (and a curve over eps with ``--plot``)."""
    check_outputs({"--report": args.report, "--plot": args.plot}, {"MODEL": args.model, "DATA": args.data})
    check_plot_path("--plot", args.plot)
    model = load_for_cli(args.model)
    _check_classifier(model)
    data = load_dataset(args.data)
    X, y = data.X, data.y
    if args.split != "all":
        idx = _split_rows(args, model.metadata, X, y, data.name)
        X, y = X[idx], y[idx]
    if X.shape[1] != model.n_features:
        raise InvalidInputError(
            f"{args.data!r} has {X.shape[1]} features but the model takes {model.n_features}."
        )
    X = model.features(X)
    classes = model.classes if len(model.networks) > 1 else _binary_classes(model, y)
    kwargs: dict[str, Any] = {}
    if args.attack == "pgd":
        kwargs = {"steps": args.steps, "restarts": args.restarts, "random_state": args.seed}

    def accuracy(eps: float) -> float:
        return classifier_robust_accuracy(
            model.networks, classes, X, y, eps=eps, norm=args.norm, attack=args.attack, **kwargs
        )

    clean = accuracy(0.0)
    robust = accuracy(args.eps)
    result = {
        "model": args.model,
        "data": args.data,
        "split": args.split,
        "n": int(X.shape[0]),
        "classes": len(classes),
        "attack": args.attack,
        "target": "the predicted class margin (one attack per competing class)"
        if len(model.networks) > 1
        else "the margin y f(x)",
        "norm": args.norm,
        "eps": args.eps,
        "standardized": model.transform is not None,
        "clean_accuracy": clean,
        "robust_accuracy": float(robust),
    }
    if args.plot:
        from cvxnn.plotting import plot_robust_accuracy

        grid = np.linspace(0.0, args.eps, args.plot_points) if args.eps > 0 else np.array([0.0])
        known = {0.0: clean, args.eps: robust}  # the ends are the accuracies already measured
        accs = [known[e] if e in known else accuracy(float(e)) for e in grid]
        plot_robust_accuracy(grid, {args.attack.upper(): accs}, args.plot, clean=clean, norm=args.norm)
        result["curve"] = {"eps": grid.tolist(), "robust_accuracy": [float(a) for a in accs]}
    if args.report:
        write_json(args.report, result)
    steps = f", {args.steps} steps, {args.restarts} restart(s)" if args.attack == "pgd" else ""
    scaled = ", standardized" if model.transform is not None else ""
    print(f"model            {args.model}: {model.description}")
    print(f"data             {args.data} ({args.split}, n={X.shape[0]}){scaled}")
    print(f"attack           {args.attack}, l_{args.norm}, eps={args.eps:g}{steps}")
    if len(model.networks) > 1:
        print(f"target           the predicted class margin ({len(classes)} classes, one-vs-rest)")
    print(f"clean accuracy   {clean:.4f}")
    print(f"robust accuracy  {robust:.4f}")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """Add ``cvxnn attack`` to the subparsers ``sub``."""
    att = sub.add_parser(
        "attack",
        help="clean and robust accuracy of a saved classifier (binary or one-vs-rest)",
        description="Clean and robust (attacked) accuracy of a saved classifier on DATA.",
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
