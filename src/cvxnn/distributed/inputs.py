"""Checking and chunking the inputs of :func:`~cvxnn.distributed.solve_sharded`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..exceptions import InvalidInputError
from ..patterns import ActivationPatterns


def check_gates(gates: Any, bias: bool, d: int) -> tuple[np.ndarray, bool]:
    """The ``(d', P)`` gates (from an array or :class:`~cvxnn.ActivationPatterns`) and the bias."""
    if isinstance(gates, ActivationPatterns):
        if gates.gates is None:
            raise InvalidInputError("These ActivationPatterns have no gates; solve_sharded needs the gates.")
        bias = bool(gates.bias)
        gates = gates.gates
    G = np.asarray(gates, dtype=np.float64)
    if G.ndim != 2 or G.shape[0] != d + int(bias) or G.shape[1] < 1:
        raise InvalidInputError(
            f"gates must be a (d', P) array with d' = {d + int(bias)} (d = {d}"
            f"{' + 1 for the bias' if bias else ''}) and P >= 1; got shape {G.shape}."
        )
    if not np.all(np.isfinite(G)):
        raise InvalidInputError("gates contain NaN or infinite values.")
    return np.ascontiguousarray(G), bias


def as_row_chunked(X: Any, y: Any, chunk_rows: int | None, n_default: int) -> tuple[Any, Any]:
    """``X`` (2-D) and ``y`` (1-D) as Dask arrays with the same row chunks, ``X`` one chunk wide.

    NumPy inputs are chunked (``chunk_rows`` rows, or ``n_default`` equal chunks); a Dask ``y``
    with a NumPy ``X`` (or the reverse) takes the Dask one's chunks. Raises
    :class:`~cvxnn.exceptions.InvalidInputError` for empty chunks, unknown chunk sizes, or row
    chunks that differ between ``X`` and ``y``.
    """
    import dask.array as da

    x_dask, y_dask = isinstance(X, da.Array), isinstance(y, da.Array)
    if not x_dask:
        X = np.asarray(X, dtype=np.float64)
    if not y_dask:
        y = np.asarray(y, dtype=np.float64)
    if X.ndim != 2:
        raise InvalidInputError(f"X must be 2-D (n, d); got shape {X.shape}.")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise InvalidInputError(f"y must be 1-D (n,); got shape {y.shape}.")
    if any(math.isnan(c) for c in X.shape + y.shape):
        raise InvalidInputError("X and y need known shapes; call compute_chunk_sizes() on them first.")
    if X.shape[0] != y.shape[0]:
        raise InvalidInputError(f"X has {X.shape[0]} rows but y has {y.shape[0]}.")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise InvalidInputError(f"X must have at least one row and one column; got shape {X.shape}.")
    if chunk_rows is not None:
        if isinstance(chunk_rows, bool) or not isinstance(chunk_rows, int) or chunk_rows < 1:
            raise InvalidInputError(f"chunk_rows must be a positive integer; got {chunk_rows!r}.")
    if x_dask:
        rows = X.chunks[0]
    elif y_dask:
        rows = y.chunks[0]
    else:
        size = chunk_rows or math.ceil(X.shape[0] / max(1, n_default))
        rows = tuple(min(size, X.shape[0] - k) for k in range(0, X.shape[0], size))
    if not x_dask:
        X = da.from_array(X, chunks=(rows, -1))
    elif X.numblocks[1] > 1:
        X = X.rechunk({1: -1})
    if not y_dask:
        y = da.from_array(y, chunks=(rows,))
    if any(math.isnan(c) for c in X.chunks[0] + y.chunks[0]):
        raise InvalidInputError("X and y need known chunk sizes; call compute_chunk_sizes() on them first.")
    if tuple(X.chunks[0]) != tuple(y.chunks[0]):
        raise InvalidInputError(
            f"X and y must be chunked by the same rows; X's row chunks are {X.chunks[0]}, "
            f"y's are {y.chunks[0]}. Rechunk one like the other (y.rechunk(X.chunks[0]))."
        )
    empty = [k for k, c in enumerate(X.chunks[0]) if c == 0]
    if empty:
        raise InvalidInputError(
            f"Row chunk(s) {empty} of X are empty; every shard needs at least one row (rechunk X and y)."
        )
    return X, y
