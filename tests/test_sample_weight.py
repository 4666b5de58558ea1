"""sample_weight in the estimators and the program builders: weights scale each row's loss."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils import shuffle

import cvxnn
from cvxnn import ConvexReLUClassifier, ConvexReLURegressor
from cvxnn.exceptions import InvalidInputError, UnsupportedProblemError
from cvxnn.losses import loss_value


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((24, 3))
    y = np.where(X[:, 0] + 0.4 * X[:, 1] + 0.3 * rng.standard_normal(24) > 0, 1.0, -1.0)
    w = rng.integers(0, 4, size=24)
    return X, y, w


#: Solver precision: the weighted and the repeated programs have the same optimum, but an
#: interior-point solver stops at a tolerance, and the predictions are flat in the objective
#: (measured: objectives equal to 1e-11, predictions to 3e-6 with Clarabel's defaults, 4.5e-5
#: for the gated hinge program). scikit-learn's own check compares at rtol 1e-7, which no
#: solver-based fit meets; it is listed as an expected failure in test_estimator for that reason.
SOLVER_ATOL = 1e-4


@pytest.mark.parametrize(
    "estimator",
    [
        ConvexReLUClassifier(random_state=0),
        ConvexReLUClassifier(random_state=0, loss="logistic"),
        ConvexReLUClassifier(random_state=0, formulation="gated", loss="hinge"),
        ConvexReLURegressor(random_state=0),
        ConvexReLURegressor(random_state=0, formulation="scp"),
    ],
    ids=["squared", "logistic", "gated-hinge", "regressor", "regressor-scp"],
)
def test_sample_weight_equivalence(estimator):
    """scikit-learn's sample-weight equivalence check (same data, weights and shuffle), at solver
    precision: integer weights == repeated rows, zero weight == removed row."""
    rng = np.random.RandomState(42)
    X = rng.rand(15, 30)
    y = rng.randint(0, 3, size=15)
    sw = rng.randint(0, 5, size=15)
    if isinstance(estimator, ConvexReLURegressor):
        y = y.astype(float)
    X_repeated, y_repeated = X.repeat(sw, axis=0), y.repeat(sw)
    X_weighted, y_weighted, sw_shuffled = shuffle(X, y, sw, random_state=0)
    repeated = clone(estimator).fit(X_repeated, y_repeated)
    weighted = clone(estimator).fit(X_weighted, y_weighted, sample_weight=sw_shuffled)
    if isinstance(estimator, ConvexReLUClassifier):  # the labels themselves are equal
        np.testing.assert_array_equal(weighted.predict(X), repeated.predict(X))
    for method in ("decision_function", "predict_proba", "predict"):
        if hasattr(estimator, method):
            np.testing.assert_allclose(
                getattr(weighted, method)(X), getattr(repeated, method)(X), rtol=0, atol=SOLVER_ATOL
            )
    assert weighted.objective_ == pytest.approx(repeated.objective_, rel=1e-7)


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
@pytest.mark.parametrize("builder", ["relu", "gated", "scp"])
def test_weighted_program_equals_repeated_rows(loss, builder, data):
    X, y, w = data
    keep = w > 0
    Xw, yw, ww = X[keep], y[keep], w[keep].astype(float)
    Xr, yr = np.repeat(Xw, w[keep], axis=0), np.repeat(yw, w[keep])
    patterns = cvxnn.sample_patterns(Xw, 6, random_state=0)
    patterns_r = cvxnn.sample_patterns(Xr, 6, random_state=0)
    make = {"relu": cvxnn.relu_program, "gated": cvxnn.gated_relu_program, "scp": cvxnn.scp_program}[builder]
    weighted = make(Xw, yw, patterns, beta=0.1, loss=loss, sample_weight=ww)
    repeated = make(Xr, yr, patterns_r, beta=0.1, loss=loss)
    np.testing.assert_array_equal(weighted.sample_weight, ww)
    assert repeated.sample_weight is None
    assert weighted.solve("CLARABEL") == pytest.approx(repeated.solve("CLARABEL"), rel=1e-6)
    # the weighted loss term is sum_k w_k loss_k, at the solution
    yhat = np.asarray(weighted.yhat.value)
    assert float(weighted.loss_term.value) == pytest.approx(loss_value(yhat, yw, loss, ww), rel=1e-9)


def test_weights_change_the_fit_and_unit_weights_do_not(data):
    X, y, _ = data
    plain = ConvexReLUClassifier(random_state=0).fit(X, y)
    ones = ConvexReLUClassifier(random_state=0).fit(X, y, sample_weight=np.ones(len(y)))
    np.testing.assert_allclose(ones.decision_function(X), plain.decision_function(X), rtol=1e-10)
    heavy = np.where(y > 0, 10.0, 1.0)
    weighted = ConvexReLUClassifier(random_state=0).fit(X, y, sample_weight=heavy)
    assert np.mean(weighted.decision_function(X)) > np.mean(plain.decision_function(X))


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        (np.ones(5), "shape"),
        (-np.ones(24), ">= 0"),
        (np.zeros(24), "every sample"),
        (np.full(24, np.nan), "finite"),
        ("abc", "numbers"),
    ],
)
def test_bad_weights_are_refused(weights, match, data):
    X, y, _ = data
    with pytest.raises(InvalidInputError, match=match):
        ConvexReLUClassifier().fit(X, y, sample_weight=weights)


def test_admm_and_robust_refuse_real_weights(data):
    X, y, w = data
    with pytest.raises(UnsupportedProblemError, match="ADMM does not take sample weights"):
        ConvexReLUClassifier(solver="admm").fit(X, y, sample_weight=w)
    with pytest.raises(UnsupportedProblemError, match="eps > 0"):
        ConvexReLUClassifier(eps=0.1).fit(X, y, sample_weight=w)
    # weights 0 and 1 only drop rows: fine for both
    binary = (w > 0).astype(float)
    ConvexReLUClassifier(solver="admm", n_patterns=4).fit(X, y, sample_weight=binary)
