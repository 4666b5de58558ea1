"""sample_weight in the estimators and the program builders: weights scale each row's loss."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils import shuffle

import cvxnn
from cvxnn import ConvexReLUClassifier, ConvexReLURegressor
from cvxnn.baselines import train_adam
from cvxnn.exceptions import InvalidInputError, UnsupportedProblemError
from cvxnn.losses import loss_value
from cvxnn.pricing import pattern_keys


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((24, 3))
    y = np.where(X[:, 0] + 0.4 * X[:, 1] + 0.3 * rng.standard_normal(24) > 0, 1.0, -1.0)
    w = rng.integers(0, 4, size=24)
    return X, y, w


#: The sklearn check's tolerances (``assert_allclose_dense_sparse``): met since every fit is
#: polished to rounding precision on its support (cvxnn.polish), where the solvers' own points
#: agreed to 3e-6 (Clarabel's defaults). The hinge loss is not polished (not smooth): solver
#: precision, 4.5e-5 measured for the gated hinge program.
RTOL, ATOL = 1e-7, 1e-9
HINGE_ATOL = 1e-4


@pytest.mark.parametrize(
    "estimator",
    [
        ConvexReLUClassifier(random_state=0),
        ConvexReLUClassifier(random_state=0, patterns="sample"),
        ConvexReLUClassifier(random_state=0, patterns="sample", loss="logistic"),
        ConvexReLUClassifier(random_state=0, formulation="gated"),
        ConvexReLUClassifier(random_state=0, formulation="gated", loss="hinge"),
        ConvexReLUClassifier(random_state=0, formulation="scp", solver="osqp"),
        ConvexReLURegressor(random_state=0),
        ConvexReLURegressor(random_state=0, patterns="sample"),
        ConvexReLURegressor(random_state=0, formulation="scp"),
    ],
    ids=[
        "search",
        "squared",
        "logistic",
        "gated",
        "gated-hinge",
        "scp-osqp",
        "regressor-search",
        "regressor",
        "regressor-scp",
    ],
)
def test_sample_weight_equivalence(estimator):
    """scikit-learn's sample-weight equivalence check (same data, weights and shuffle) at its own
    tolerances: integer weights == repeated rows, zero weight == removed row."""
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
    if estimator.patterns == "search" and estimator.formulation == "relu":  # the same patterns found
        Xa = np.hstack([X, np.ones((X.shape[0], 1))])
        assert set(pattern_keys(Xa @ weighted.patterns_.gates >= 0)) == set(
            pattern_keys(Xa @ repeated.patterns_.gates >= 0)
        )
    if isinstance(estimator, ConvexReLUClassifier):  # the labels themselves are equal
        np.testing.assert_array_equal(weighted.predict(X), repeated.predict(X))
    rtol, atol = (0.0, HINGE_ATOL) if estimator.loss == "hinge" else (RTOL, ATOL)
    for method in ("decision_function", "predict_proba", "predict"):
        if hasattr(estimator, method):
            np.testing.assert_allclose(
                getattr(weighted, method)(X), getattr(repeated, method)(X), rtol=rtol, atol=atol
            )
    assert weighted.objective_ == pytest.approx(repeated.objective_, rel=1e-7)


def test_weighted_adam_is_the_adam_of_repeated_rows(data):
    """The search's warm start: full-batch Adam on weighted rows takes the steps of the repeated
    rows (the search then finds the same patterns)."""
    X, y, w = data
    keep = w > 0
    opts = {"n_neurons": 6, "beta": 0.1, "loss": "squared", "epochs": 100, "random_state": 3}
    weighted = train_adam(X[keep], y[keep], sample_weight=w[keep], **opts)
    repeated = train_adam(np.repeat(X[keep], w[keep], axis=0), np.repeat(y[keep], w[keep]), **opts)
    unweighted = train_adam(X[keep], y[keep], **opts)
    np.testing.assert_allclose(weighted.U, repeated.U, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(weighted.alpha, repeated.alpha, rtol=1e-9, atol=1e-12)
    assert not np.allclose(unweighted.U, repeated.U, atol=1e-6)
    with pytest.raises(InvalidInputError, match=">= 0"):
        train_adam(X, y, sample_weight=-np.ones(len(y)), **opts)


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


def test_admm_refuses_weighted_programs_instead_of_ignoring_the_weights():
    import cvxpy as cp

    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((20, 3)), rng.standard_normal(20)
    patterns = cvxnn.sample_patterns(X, 5, random_state=0)
    weights = rng.integers(1, 4, size=20).astype(float)
    program = cvxnn.relu_program(X, y, patterns, beta=0.1, sample_weight=weights)
    with pytest.raises(cvxnn.UnsupportedProblemError, match="sample weights"):
        program.problem.solve(method=cvxnn.ADMM)
    with pytest.raises(cvxnn.UnsupportedProblemError, match="sample weights"):
        cvxnn.solve_admm(program)
    assert program.problem.status is None or program.problem.status != cp.OPTIMAL
    unit = cvxnn.relu_program(X, y, patterns, beta=0.1, sample_weight=np.ones(20))
    assert cvxnn.solve_admm(unit).status == cp.OPTIMAL
