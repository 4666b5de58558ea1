"""``cvxnn predict``: predictions of a saved model on DATA, as CSV.

Labels (classifiers) or values (regressors), and with ``--proba`` the class probabilities of a
logistic-loss classifier (one column ``p(CLASS)`` per class). DATA may hold a label column or
not (:func:`cvxnn.cli.data.read_features`); the features are raw: a model written by
``cvxnn fit`` applies its own scaler.
"""

from __future__ import annotations

import argparse
import io
import sys
from typing import Any

import numpy as np

from cvxnn.exceptions import InvalidInputError

from .data import read_features
from .models import CliModel, load_for_cli
from .options import EXIT_OK
from .output import check_outputs, write_text

__all__ = ["add_parser", "predict_table", "run"]


def _cell(value: Any) -> str:
    """A CSV cell: integers without a decimal point, floats in shortest round-trip form."""
    if isinstance(value, float | np.floating):
        v = float(value)
        return str(int(v)) if v.is_integer() and abs(v) < 2**53 else repr(v)
    return str(value)


def _network_outputs(model: CliModel, X: np.ndarray) -> np.ndarray:
    Z = model.features(X)
    return np.column_stack([net.predict(Z) for net in model.networks])


def _predict(model: CliModel, X: np.ndarray) -> np.ndarray:
    if model.predictor is not None:
        return np.asarray(model.predictor.predict(X))
    out = _network_outputs(model, X)
    if model.classes is None:
        return out[:, 0] if out.shape[1] == 1 else np.argmax(out, axis=1)
    if out.shape[1] == 1:
        return model.classes[(out[:, 0] > 0).astype(int)]
    return model.classes[np.argmax(out, axis=1)]


def _proba(model: CliModel, X: np.ndarray) -> np.ndarray:
    final = model.obj[-1] if hasattr(model.obj, "steps") else model.obj
    if not hasattr(final, "predict_proba"):
        what = f"loss {final.loss!r}" if hasattr(final, "loss") else type(final).__name__
        raise InvalidInputError(
            f"--proba needs a classifier trained with the logistic loss; {model.path!r} holds {what} "
            "(refit with --loss logistic, or drop --proba)."
        )
    if model.predictor is not None:
        return np.asarray(model.predictor.predict_proba(X))
    return np.asarray(final.predict_proba(model.features(X)))


def predict_table(model: CliModel, X: np.ndarray, *, proba: bool = False) -> str:
    """The CSV text: a header, then one row per sample (``prediction`` [, ``p(CLASS)`` ...])."""
    columns = [_predict(model, X)]
    header = ["prediction"]
    if proba:
        P = _proba(model, X)
        columns.extend(P.T)
        header.extend(f"p({_cell(c)})" for c in model.classes)
    buf = io.StringIO()
    buf.write(",".join(header) + "\n")
    for row in zip(*columns, strict=True):
        buf.write(",".join(_cell(v) for v in row) + "\n")
    return buf.getvalue()


def run(args: argparse.Namespace) -> int:
    """Run ``cvxnn predict``: write the predictions to ``--out`` or stdout."""
    check_outputs({"--out": args.out}, {"MODEL": args.model, "DATA": args.data})
    model = load_for_cli(args.model)
    X, _ = read_features(args.data, model.n_features)
    text = predict_table(model, X, proba=args.proba)
    if args.out:
        write_text(args.out, text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def add_parser(sub: Any) -> None:
    """Add ``cvxnn predict`` to the subparsers ``sub``."""
    p = sub.add_parser(
        "predict",
        help="predict with a saved model (CSV to stdout or --out)",
        description="Predictions of a saved model on DATA (raw features, label column optional), as CSV.",
    )
    p.add_argument(
        "model", metavar="MODEL", help="model file from `cvxnn fit` or save_estimator/save_network"
    )
    p.add_argument("data", metavar="DATA", help="a .csv (label column optional), an .npz (X) or sklearn:NAME")
    p.add_argument("--out", "-o", metavar="FILE", help="write the CSV here (default: stdout)")
    p.add_argument("--proba", action="store_true", help="add class probabilities (logistic-loss classifiers)")
    p.set_defaults(func=run)
