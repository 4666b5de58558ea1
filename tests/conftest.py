"""Shared fixtures and settings for the cvxnn test suite."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from threadpoolctl import threadpool_limits

# Tests run in parallel workers on small problems: one BLAS thread each avoids oversubscription.
threadpool_limits(1)

settings.register_profile(
    "cvxnn",
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
settings.load_profile("cvxnn")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def small_regression(rng):
    """n=12, d=3 Gaussian data with a smooth target."""
    X = rng.standard_normal((12, 3))
    y = np.tanh(X @ np.array([1.0, -2.0, 0.5])) + 0.1 * rng.standard_normal(12)
    return X, y


@pytest.fixture
def small_classification(rng):
    """n=14, d=3 Gaussian data with labels in {-1, +1}."""
    X = rng.standard_normal((14, 3))
    y = np.where(X[:, 0] * X[:, 1] + 0.3 * X[:, 2] >= 0, 1.0, -1.0)
    return X, y
