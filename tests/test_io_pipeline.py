"""Model files holding scikit-learn pipelines, and files that predate them."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from cvxnn import estimator
from cvxnn.exceptions import InvalidInputError
from cvxnn.io import load_estimator, load_model, save_estimator, save_model


@pytest.fixture
def raw_data(rng):
    """Features on very different scales (raw data that needs its scaler)."""
    X = rng.standard_normal((30, 3)) * np.array([1000.0, 0.01, 5.0]) + np.array([5000.0, 0.0, -3.0])
    y = np.where((X[:, 0] - 5000.0) / 1000.0 + 100.0 * X[:, 1] >= 0, 1.0, -1.0)
    return X, y


@pytest.mark.parametrize("scaler", [StandardScaler, MinMaxScaler])
def test_pipeline_round_trip_predicts_on_raw_data(tmp_path, raw_data, scaler):
    X, y = raw_data
    pipe = make_pipeline(scaler(), estimator.ConvexReLUClassifier(n_patterns=6, random_state=0)).fit(X, y)
    path = save_estimator(pipe, tmp_path / "pipe.npz", metadata={"created_by": "test"})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a pipeline file carries its preprocessing: no note
        loaded = load_estimator(path)
    assert type(loaded) is Pipeline
    assert [name for name, _ in loaded.steps] == [name for name, _ in pipe.steps]
    assert type(loaded.steps[0][1]) is scaler
    assert np.array_equal(loaded.predict(X), pipe.predict(X))
    assert np.array_equal(loaded.decision_function(X), pipe.decision_function(X))
    assert load_model(path).metadata == {"created_by": "test"}
    assert save_model(pipe, tmp_path / "p2.npz").is_file()  # save_model dispatches pipelines too


def test_regressor_pipeline_round_trip(tmp_path, rng):
    X = rng.standard_normal((20, 2)) * 100.0
    reg = Pipeline(
        [("scale", StandardScaler()), ("net", estimator.ConvexReLURegressor(n_patterns=4, random_state=1))]
    ).fit(X, X[:, 0] / 100.0)
    loaded = load_estimator(save_estimator(reg, tmp_path / "reg.npz"))
    assert np.array_equal(loaded.predict(X), reg.predict(X))


def test_pipeline_save_refusals(tmp_path, raw_data):
    X, y = raw_data
    clf = estimator.ConvexReLUClassifier(n_patterns=4, random_state=0)
    with pytest.raises(InvalidInputError, match="steps"):
        save_estimator(make_pipeline(PCA(2), clf).fit(X, y), tmp_path / "a.npz")
    with pytest.raises(InvalidInputError, match="steps"):
        save_estimator(make_pipeline(StandardScaler()).fit(X, y), tmp_path / "b.npz")
    with pytest.raises(InvalidInputError, match="not fitted"):
        save_estimator(make_pipeline(StandardScaler(), clf), tmp_path / "c.npz")
    assert list(tmp_path.iterdir()) == []


def test_file_saved_before_pipelines_loads_with_a_note(tmp_path, raw_data):
    """What `cvxnn fit` wrote before: the bare estimator plus the scaler as metadata."""
    X, y = raw_data
    mean, scale = X.mean(axis=0), X.std(axis=0)
    clf = estimator.ConvexReLUClassifier(n_patterns=6, patterns="sample", random_state=0).fit(
        (X - mean) / scale, y
    )
    meta = {"created_by": "cvxnn fit", "preprocessing": {"mean": mean, "scale": scale}}
    path = save_model(clf, tmp_path / "old.npz", metadata=meta)
    with pytest.warns(UserWarning, match=r"expects standardized input, \(X - mean\) / scale"):
        loaded = load_estimator(path)
    assert np.array_equal(loaded.predict((X - mean) / scale), clf.predict((X - mean) / scale))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # without preprocessing metadata there is nothing to say
        load_estimator(save_estimator(clf, tmp_path / "plain.npz"))
