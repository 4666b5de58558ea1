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

from cvxnn.datasets import Dataset, load_dataset, split_indices
from cvxnn.exceptions import InvalidInputError
from cvxnn.programs import ConvexProgram

from .progress import Progress

__all__ = [
    "Prepared",
    "first_program",
    "first_target",
    "is_classification",
    "make_estimator",
    "prepare",
    "scaler_stats",
]


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
    scaler : sklearn.preprocessing.StandardScaler or None
        Fitted on the raw training rows (``mean_``, ``scale_`` of shape (d,); constant features
        keep scale 1), ``None`` with ``--no-standardize``. ``fit`` saves it as the first step of
        the model's ``Pipeline``, so the saved model predicts on raw data.
    X_train, y_train, X_test, y_test : ndarray
        The standardized features and the labels of each part.
    """

    data: Dataset
    classification: bool
    train: np.ndarray
    test: np.ndarray
    scaler: Any
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
    X_train, X_test = data.X[train], data.X[test]
    scaler = None
    if not args.no_standardize:
        from sklearn.preprocessing import StandardScaler

        # fit_transform, exactly as Pipeline([("scale", StandardScaler()), ...]).fit does
        scaler = StandardScaler()
        X_train = scaler.fit_transform(X_train)
        X_test = scaler.transform(X_test) if X_test.shape[0] else X_test
    return Prepared(
        data=data,
        classification=classification,
        train=train,
        test=test,
        scaler=scaler,
        X_train=X_train,
        y_train=data.y[train],
        X_test=X_test,
        y_test=data.y[test],
    )


def scaler_stats(scaler: Any) -> dict[str, list[float]] | None:
    """``{"mean": [...], "scale": [...]}`` of a fitted ``StandardScaler`` (``None`` for None)."""
    if scaler is None:
        return None
    return {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist()}


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


def read_features(spec: str, n_features: int) -> tuple[np.ndarray, bool]:
    """Features to predict on from DATA, with or without a label column.

    A CSV (a non-numeric first line is a header) or an ``.npz`` (array ``X``; ``y`` optional)
    with ``n_features`` columns is all features; with ``n_features + 1`` columns (CSV) the last
    is a label and is dropped. ``sklearn:NAME`` gives its features. Returns ``(X, had_labels)``.
    """
    from cvxnn._validation import check_X

    if spec.startswith("sklearn:"):
        X, had_labels = load_dataset(spec).X, True
    elif spec.lower().endswith(".npz"):
        try:
            with np.load(spec, allow_pickle=False) as archive:
                if "X" not in archive.files:
                    raise InvalidInputError(f"{spec!r} has no array 'X' (found {archive.files}).")
                X, had_labels = np.asarray(archive["X"]), "y" in archive.files
        except InvalidInputError:
            raise
        except Exception as exc:
            raise InvalidInputError(f"Cannot read .npz {spec!r}: {exc}") from None
        if X.dtype.kind not in "biuf":
            raise InvalidInputError(f"{spec!r}: array 'X' has dtype {X.dtype}; X must be real numbers.")
    elif spec.lower().endswith(".csv"):
        X = _read_csv(spec)
        had_labels = X.shape[1] == n_features + 1
        if had_labels:
            X = X[:, :-1]
    else:
        raise InvalidInputError(f"DATA must be a .csv, an .npz or sklearn:NAME; got {spec!r}.")
    X = check_X(np.asarray(X, dtype=np.float64).reshape(X.shape[0], -1))
    if X.shape[1] != n_features:
        raise InvalidInputError(
            f"{spec!r} has {X.shape[1]} feature column(s) but the model takes {n_features} "
            "(a CSV may add one label column at the end)."
        )
    return X, had_labels


def _read_csv(spec: str) -> np.ndarray:
    try:
        with open(spec, encoding="utf-8-sig") as fh:
            first = fh.readline()
        try:
            [float(tok) for tok in first.strip().split(",") if tok.strip()]
            skip = 0
        except ValueError:
            skip = 1  # a header line
        return np.loadtxt(spec, delimiter=",", skiprows=skip, ndmin=2, encoding="utf-8-sig")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"Cannot read CSV {spec!r}: {exc}") from None
