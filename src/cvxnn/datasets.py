"""Load training data: CSV files, ``.npz`` archives and the data sets that ship with scikit-learn.

Specifications accepted by :func:`load_dataset` (and the CLI):

- ``sklearn:NAME`` for a data set bundled with scikit-learn (no network needed):
  ``digits-2v8`` (digits 2 vs 8, the offline stand-in for the paper's MNIST 2-vs-8),
  ``digits`` (10 classes), ``breast_cancer``, ``iris``, ``wine``, ``diabetes`` (regression);
- ``PATH.csv``: numeric CSV, last column the label/target; a first line with a field that is
  not a number is treated as a header; a UTF-8 byte-order mark is ignored;
- ``PATH.npz``: real numeric arrays ``X`` (n, d) and ``y`` (n,) (complex or string arrays are
  refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._validation import check_X, check_y
from .exceptions import InvalidInputError

__all__ = [
    "SKLEARN_DATASETS",
    "Dataset",
    "load_dataset",
    "split_indices",
    "standardize",
    "standardizer",
    "train_test_split_scaled",
]

SKLEARN_DATASETS: tuple[str, ...] = (
    "digits-2v8",
    "digits",
    "breast_cancer",
    "iris",
    "wine",
    "diabetes",
)


@dataclass(frozen=True)
class Dataset:
    """Inputs ``X`` (n, d), targets ``y`` (n,), a name, and whether it is a classification task."""

    X: np.ndarray
    y: np.ndarray
    name: str
    classification: bool


def _load_sklearn(name: str) -> Dataset:
    from sklearn import datasets as skd

    if name == "digits-2v8":
        data = skd.load_digits()
        mask = np.isin(data.target, (2, 8))
        y = np.where(data.target[mask] == 2, 1.0, -1.0)
        return Dataset(data.data[mask] / 16.0, y, "digits-2v8 (+1 = digit 2)", True)
    loaders = {
        "digits": (skd.load_digits, True),
        "breast_cancer": (skd.load_breast_cancer, True),
        "iris": (skd.load_iris, True),
        "wine": (skd.load_wine, True),
        "diabetes": (skd.load_diabetes, False),
    }
    if name not in loaders:
        raise InvalidInputError(
            f"Unknown scikit-learn data set {name!r}; available: {list(SKLEARN_DATASETS)}."
        )
    loader, classification = loaders[name]
    data = loader()
    return Dataset(
        np.asarray(data.data, dtype=np.float64),
        np.asarray(data.target, dtype=np.float64),
        name,
        classification,
    )


def _looks_like_classification(y: np.ndarray) -> bool:
    return bool(np.all(y == np.round(y)) and np.unique(y).size <= max(2, min(20, y.size // 5)))


def _load_csv(path: Path) -> Dataset:
    try:
        # utf-8-sig strips the byte-order mark spreadsheets write; the first line is a header
        # only when one of its fields is not a number
        with path.open(encoding="utf-8-sig") as fh:
            first = fh.readline()
        skip = 0
        try:
            [float(tok) for tok in first.strip().split(",") if tok.strip()]
        except ValueError:
            skip = 1
        data = np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2, encoding="utf-8-sig")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"Cannot read CSV {str(path)!r}: {exc}") from None
    if data.shape[1] < 2 or data.shape[0] < 1:
        raise InvalidInputError(
            f"CSV {str(path)!r} needs at least one row and two columns (features..., label); "
            f"got shape {data.shape}."
        )
    X = check_X(data[:, :-1])
    y = check_y(data[:, -1], X.shape[0])
    return Dataset(X, y, path.name, _looks_like_classification(y))


def _load_npz(path: Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = {"X", "y"} - set(archive.files)
            if missing:
                raise InvalidInputError(
                    f"{str(path)!r} lacks array(s) {sorted(missing)}; an .npz needs 'X' and 'y' "
                    f"(found {archive.files})."
                )
            X, y = np.asarray(archive["X"]), np.asarray(archive["y"])
    except InvalidInputError:
        raise
    except Exception as exc:
        raise InvalidInputError(f"Cannot read .npz {str(path)!r}: {exc}") from None
    hint = {"X": "", "y": " (map string labels to numbers, e.g. numpy.unique(y, return_inverse=True))"}
    for name, arr in (("X", X), ("y", y)):
        if arr.dtype.kind not in "biufc":
            raise InvalidInputError(
                f"{str(path)!r}: array {name!r} has dtype {arr.dtype}; {name} must be numeric{hint[name]}."
            )
    X = check_X(X)
    y = check_y(y.ravel(), X.shape[0])
    return Dataset(X, y, path.name, _looks_like_classification(y))


def load_dataset(spec: str) -> Dataset:
    """Load a data set from ``sklearn:NAME``, a ``.csv`` or a ``.npz`` path (see module doc)."""
    if not isinstance(spec, str) or not spec:
        raise InvalidInputError(f"Data set must be 'sklearn:NAME', a .csv or a .npz path; got {spec!r}.")
    if spec.startswith("sklearn:"):
        return _load_sklearn(spec.split(":", 1)[1])
    path = Path(spec)
    if not path.is_file():
        raise InvalidInputError(f"Data file {spec!r} does not exist.")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _load_csv(path)
    if suffix == ".npz":
        return _load_npz(path)
    raise InvalidInputError(f"Unsupported data file type {suffix!r}; use .csv, .npz or sklearn:NAME.")


def split_indices(data: Dataset, test_size: float, random_state: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Train and test row indices: stratified for classification when every class allows it.

    ``test_size`` is the test fraction in [0, 1); 0 gives an empty test set.
    """
    n = data.X.shape[0]
    idx = np.arange(n)
    if test_size == 0:
        return idx, idx[:0]
    from sklearn.model_selection import train_test_split

    n_test = int(np.ceil(test_size * n))
    if n_test < 1 or n - n_test < 2:
        raise InvalidInputError(
            f"test_size={test_size} (--test-size on the command line) leaves {n - n_test} training "
            f"and {n_test} test points of {n}; use a smaller test size (or 0 for no test set) or "
            "more data."
        )
    stratify = data.y if data.classification else None
    try:
        train, test = train_test_split(idx, test_size=test_size, random_state=random_state, stratify=stratify)
    except ValueError:  # a class too small to stratify
        train, test = train_test_split(idx, test_size=test_size, random_state=random_state)
    return train, test


def standardizer(X: np.ndarray) -> dict[str, np.ndarray]:
    """Mean and scale of each column of ``X`` (constant columns keep scale 1)."""
    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale[scale == 0] = 1.0
    return {"mean": mean, "scale": scale}


def standardize(X: np.ndarray, stats: dict[str, np.ndarray] | None) -> np.ndarray:
    """``(X - mean) / scale`` with :func:`standardizer`'s statistics (``X`` unchanged for None)."""
    if not stats:
        return X
    return (X - stats["mean"]) / stats["scale"]


def train_test_split_scaled(
    data: Dataset, *, test_size: float = 0.3, random_state: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified (for classification) split, then standardize with the training statistics.

    Returns ``X_train, X_test, y_train, y_test``; constant features keep scale 1.
    """
    train, test = split_indices(data, test_size, random_state)
    stats = standardizer(data.X[train])
    return (
        standardize(data.X[train], stats),
        standardize(data.X[test], stats),
        data.y[train],
        data.y[test],
    )
