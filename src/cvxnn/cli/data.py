"""The one data path of the command line: load, split, standardize; and the program ``fit`` solves.

``fit``, ``inspect`` and ``verify`` all go through :func:`prepare` (load DATA, split it with
``--test-size`` and ``--seed``, fit the scaler on the training part) and build the estimator
from the shared options with :func:`make_estimator`, so they agree on every default.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np

from cvxnn.datasets import Dataset, load_dataset, split_indices, standardize, standardizer
from cvxnn.exceptions import InvalidInputError
from cvxnn.programs import ConvexProgram

from .progress import Progress

__all__ = ["Prepared", "first_program", "first_target", "is_classification", "make_estimator", "prepare"]


@dataclass
class Prepared:
    """DATA split and standardized as ``fit`` uses it.

    Attributes
    ----------
    data : Dataset
        The loaded data set (raw features ``data.X``, shape ``(n, d)``).
    classification : bool
        The task (``--task``, or guessed from the labels).
    train, test : ndarray of int
        Row indices of the split.
    scaler : dict or None
        ``{"mean": (d,), "scale": (d,)}`` of the training rows, ``None`` with ``--no-standardize``.
    X_train, y_train, X_test, y_test : ndarray
        The standardized features and the labels of each part.
    """

    data: Dataset
    classification: bool
    train: np.ndarray
    test: np.ndarray
    scaler: dict[str, Any] | None
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray


def is_classification(args: argparse.Namespace, data: Dataset) -> bool:
    """``--task``, with ``auto`` meaning what the data set's labels look like."""
    if args.task == "auto":
        return bool(data.classification)
    return args.task == "classification"


def prepare(args: argparse.Namespace) -> Prepared:
    """Load ``args.data``, split it, fit the scaler on the training part (unless ``--no-standardize``)."""
    data = load_dataset(args.data)
    classification = is_classification(args, data)
    train, test = split_indices(data, args.test_size, args.seed)
    scaler = None if args.no_standardize else standardizer(data.X[train])
    return Prepared(
        data=data,
        classification=classification,
        train=train,
        test=test,
        scaler=scaler,
        X_train=standardize(data.X[train], scaler),
        y_train=data.y[train],
        X_test=standardize(data.X[test], scaler),
        y_test=data.y[test],
    )


def make_estimator(args: argparse.Namespace, classification: bool) -> Any:
    """The estimator the shared program options describe (solver options when the command has them)."""
    from cvxnn.estimator import ConvexReLUClassifier, ConvexReLURegressor

    cls = ConvexReLUClassifier if classification else ConvexReLURegressor
    if not classification and args.loss != "squared":
        raise InvalidInputError(
            f"--loss {args.loss} needs class labels; regression takes --loss squared "
            "(or pass --task classification)."
        )
    return cls(
        formulation=args.formulation,
        n_patterns=args.patterns,
        beta=args.beta,
        loss=args.loss,
        eps=args.eps,
        norm=args.norm,
        bias=args.bias,
        solver=getattr(args, "solver", "clarabel"),
        solver_options=dict(getattr(args, "solver_opt", ())) or None,
        max_iter=getattr(args, "max_iter", None),
        tol=getattr(args, "tol", None),
        random_state=args.seed,
    )


def first_target(classes: np.ndarray | None, y: np.ndarray) -> np.ndarray:
    """The target of the estimator's first program: ``y`` for regression (``classes`` None),
    +1 for ``classes[1]`` in a binary problem, +1 for ``classes[0]`` (one-vs-rest) otherwise."""
    if classes is None:
        return np.asarray(y, dtype=np.float64)
    positive = classes[1] if classes.size == 2 else classes[0]
    return np.where(y == positive, 1.0, -1.0)


def first_program(
    args: argparse.Namespace,
    X: np.ndarray,
    y: np.ndarray,
    classification: bool,
    *,
    exact: bool = False,
    max_patterns: int = 5000,
    quiet: bool = False,
) -> tuple[ConvexProgram, int]:
    """The first program ``fit`` would solve on ``(X, y)``, and how many programs ``fit`` solves.

    Patterns are sampled exactly as the estimator samples them (same seed), or enumerated with
    ``exact``; the program is built by the estimator's own builder. Returns ``(program,
    n_programs)``: one program, or one per class for a multi-class one-vs-rest fit.
    """
    from cvxnn._validation import check_rng
    from cvxnn.patterns import enumerate_patterns, sample_patterns

    est = make_estimator(args, classification)
    settings = est._settings()  # the estimator's own checks (e.g. --eps > 0 needs relu)
    classes, n_programs = None, 1
    if classification:
        classes = np.unique(y)
        if classes.size < 2:
            raise InvalidInputError(f"The training labels hold a single class {classes.tolist()}.")
        n_programs = 1 if classes.size == 2 else int(classes.size)
    target = first_target(classes, y)
    enabled = None if not quiet else False
    if exact:  # one step per hyperplane of the arrangement (the last ones cost the most)
        with Progress(1, "hyperplanes", enabled=enabled) as bar:

            def report(done: int, total: int, cells: int) -> None:
                bar.total = total  # the nonzero rows, as enumerate_patterns counts them
                bar.set(done, f"{cells} cells")

            patterns = enumerate_patterns(X, bias=settings.bias, max_patterns=max_patterns, progress=report)
    else:  # seeded exactly as the estimator seeds its sampling
        with Progress(1, "patterns", enabled=enabled) as bar:
            patterns = sample_patterns(
                X, settings.n_patterns, random_state=check_rng(args.seed), bias=settings.bias
            )
            bar.update(1, f"P={patterns.n_patterns}")
    return est._build(X, target, patterns, settings), n_programs
