"""Small data for the pattern-search and certificate tests: two planted ReLU neurons plus noise."""

from __future__ import annotations

import numpy as np


def planted_relu_data(
    seed: int, n: int = 14, d: int = 2, loss: str = "squared"
) -> tuple[np.ndarray, np.ndarray]:
    """``(X, y)``: Gaussian ``X`` (n, d); ``y`` = relu(X a) - relu(X b) + noise, or its sign
    about the median (labels in {-1, +1}) for the logistic and hinge losses."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal(d), 0) - np.maximum(X @ rng.standard_normal(d), 0)
    y = y + 0.3 * rng.standard_normal(n)
    if loss != "squared":
        y = np.where(y >= np.median(y), 1.0, -1.0)
    return X, y
