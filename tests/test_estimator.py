"""Tests of the scikit-learn estimators (cvxnn.estimator).

Real solvers only. Data sets are small so the whole file runs in well under a minute on 2 cores;
scikit-learn's own estimator checks run on the default hyperparameters (16 patterns, Clarabel).
"""

from __future__ import annotations

import pickle
import warnings

import cvxpy as cp
import numpy as np
import pytest
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_diabetes, load_iris, make_classification
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from cvxnn.estimator import ConvexReLUClassifier, ConvexReLURegressor
from cvxnn.exceptions import (
    ConvergenceWarning,
    CvxnnError,
    InvalidInputError,
    SolverUnavailableError,
    UnsupportedProblemError,
)
from cvxnn.recovery import GatedReLUNetwork, ReLUNetwork

# --------------------------------------------------------------------------- data


def _standardize(X):
    return (X - X.mean(axis=0)) / X.std(axis=0)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return _standardize(X), y


@pytest.fixture(scope="module")
def binary():
    """60 points in 4-D, two classes with a nonlinear boundary."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((60, 4))
    y = (X[:, 0] * X[:, 1] + 0.5 * X[:, 2] > 0).astype(int)
    return X, y


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    X, y = X[:120], y[:120]
    return _standardize(X), (y - y.mean()) / y.std()


# --------------------------------------------------------------------------- sklearn checks


def _expected_failures(estimator):
    """The ADMM takes no sample weights (``fit`` refuses weights other than 0 and 1), so the
    checks that fit with other weights cannot run with it."""
    if str(estimator.solver).upper() != "ADMM":
        return {}
    reason = (
        "the ADMM takes no sample weights: fit refuses weights other than 0 and 1 (UnsupportedProblemError)"
    )
    checks = (
        "check_sample_weight_equivalence_on_dense_data",
        "check_sample_weights_list",  # weights of 3
        "check_sample_weights_not_overwritten",  # random weights
    )
    return dict.fromkeys(checks, reason)


@parametrize_with_checks(
    [ConvexReLUClassifier(random_state=0), ConvexReLURegressor(random_state=0)],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@parametrize_with_checks(
    [
        ConvexReLUClassifier(formulation="gated", random_state=0),
        ConvexReLUClassifier(formulation="scp", solver="osqp", random_state=0),
    ],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_compatible_variants(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks(
    [
        ConvexReLUClassifier(solver="admm", random_state=0),
        ConvexReLURegressor(solver="admm", random_state=0),
        ConvexReLUClassifier(loss="logistic", random_state=0),
    ],
    expected_failed_checks=_expected_failures,
)
def test_sklearn_compatible_slow_variants(estimator, check):
    # About 25 s for each ADMM estimator and 10 s for the logistic loss on 2 cores.
    check(estimator)


# --------------------------------------------------------------------------- classification


def test_binary_string_labels_map_to_plus_minus_one(binary):
    X, y01 = binary
    y = np.array(["no", "yes"])[y01]
    clf = ConvexReLUClassifier(beta=0.1, random_state=0).fit(X, y)
    assert clf.fit(X, y) is clf
    np.testing.assert_array_equal(clf.classes_, ["no", "yes"])
    assert len(clf.networks_) == 1 and clf.network_ is clf.networks_[0]
    assert isinstance(clf.network_, ReLUNetwork)
    scores = clf.decision_function(X)
    assert scores.shape == (60,)
    np.testing.assert_allclose(scores, clf.network_.predict(X))
    pred = clf.predict(X)
    np.testing.assert_array_equal(pred, np.where(scores > 0, "yes", "no"))
    assert np.mean(pred == y) >= 0.9
    # "yes" (classes_[1]) is the +1 target: the objective is that of the recovered network on
    # the +/-1 targets (recovery identity of the relu program).
    t = np.where(y == "yes", 1.0, -1.0)
    np.testing.assert_allclose(clf.network_.objective(X, t, clf.beta, "squared"), clf.objective_, rtol=1e-6)
    assert clf.status_ == cp.OPTIMAL and clf.n_iter_ >= 1 and clf.n_features_in_ == 4


def test_multiclass_iris_one_vs_rest_shares_patterns(iris):
    X, y = iris
    clf = ConvexReLUClassifier(patterns="sample", random_state=0).fit(X, y)
    assert clf.score(X, y) >= 0.95
    assert len(clf.networks_) == 3 and clf.network_ is clf.networks_
    scores = clf.decision_function(X)
    assert scores.shape == (150, 3)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[np.argmax(scores, axis=1)])
    # One pattern set for the three problems; each network is the recovery of its own program,
    # so the summed objective equals the networks' summed non-convex objectives.
    assert clf.patterns_.n_samples == 150 and clf.patterns_.n_patterns <= 16
    total = sum(
        net.objective(X, np.where(y == k, 1.0, -1.0), clf.beta, "squared")
        for k, net in zip(clf.classes_, clf.networks_, strict=True)
    )
    np.testing.assert_allclose(total, clf.objective_, rtol=1e-6)
    assert not hasattr(clf, "predict_proba")


def test_logistic_loss_probabilities(iris, binary):
    X, y = iris
    clf = ConvexReLUClassifier(loss="logistic", beta=1.0, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (150, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[np.argmax(proba, axis=1)], clf.predict(X))
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    assert clf.score(X, y) >= 0.9

    Xb, yb = binary
    clf = ConvexReLUClassifier(loss="logistic", beta=1.0, random_state=0).fit(Xb, yb)
    p1 = clf.predict_proba(Xb)[:, 1]
    np.testing.assert_allclose(p1, 1.0 / (1.0 + np.exp(-clf.decision_function(Xb))))


@pytest.mark.parametrize(
    ("formulation", "loss", "solver", "network_type"),
    [
        ("relu", "hinge", "ecos", ReLUNetwork),
        ("gated", "squared", "clarabel", GatedReLUNetwork),
        ("scp", "squared", "osqp", ReLUNetwork),
        ("scp", "hinge", "clarabel", ReLUNetwork),
    ],
)
def test_formulations_and_solvers_classify(binary, formulation, loss, solver, network_type):
    X, y = binary
    clf = ConvexReLUClassifier(
        formulation=formulation, loss=loss, solver=solver, n_patterns=32, random_state=0
    ).fit(X, y)
    assert isinstance(clf.network_, network_type)
    assert clf.status_ == cp.OPTIMAL
    assert clf.score(X, y) >= 0.85
    t = np.where(y == 1, 1.0, -1.0)
    if network_type is ReLUNetwork:  # recovery identity (relu and scp programs)
        tol = 1e-3 if solver == "osqp" else 1e-6
        np.testing.assert_allclose(clf.network_.objective(X, t, clf.beta, loss), clf.objective_, rtol=tol)


def test_gated_relaxation_lower_bounds_relu(binary):
    # Same seed -> same patterns; the gated program drops the cone constraints, so its optimum
    # can only be lower.
    X, y = binary
    relu = ConvexReLUClassifier(patterns="sample", random_state=3).fit(X, y)
    gated = ConvexReLUClassifier(formulation="gated", patterns="sample", random_state=3).fit(X, y)
    np.testing.assert_array_equal(relu.patterns_.D, gated.patterns_.D)
    assert gated.objective_ <= relu.objective_ * (1 + 1e-7)
    assert gated.objective_ < relu.objective_  # strictly, on this nonlinear data


# --------------------------------------------------------------------------- regression


def test_regression_diabetes(diabetes):
    X, y = diabetes
    reg = ConvexReLURegressor(beta=1.0, n_patterns=32, random_state=0).fit(X, y)
    assert reg.network_ is reg.networks_[0] and len(reg.networks_) == 1
    assert reg.predict(X).shape == (120,)
    assert reg.score(X, y) >= 0.5
    np.testing.assert_allclose(reg.network_.objective(X, y, 1.0, "squared"), reg.objective_, rtol=1e-6)
    # More regularization: a larger objective and a smaller training R^2 (same patterns).
    stiff = ConvexReLURegressor(beta=30.0, n_patterns=32, random_state=0).fit(X, y)
    assert stiff.objective_ > reg.objective_
    assert stiff.score(X, y) < reg.score(X, y)


def test_regression_pipeline_with_target_transform():
    X, y = load_diabetes(return_X_y=True)
    X, y = X[:100], y[:100]
    model = TransformedTargetRegressor(
        regressor=make_pipeline(StandardScaler(), ConvexReLURegressor(beta=1.0, random_state=0)),
        transformer=StandardScaler(),
    ).fit(X, y)
    assert model.score(X, y) >= 0.5


# --------------------------------------------------------------------------- pipeline / grid


def test_pipeline_and_grid_search():
    X, y = make_classification(n_samples=90, n_features=4, n_informative=3, n_redundant=0, random_state=0)
    X = 10 * X + 3  # unscaled on purpose: the pipeline standardizes
    pipe = make_pipeline(StandardScaler(), ConvexReLUClassifier(random_state=0))
    grid = GridSearchCV(pipe, {"convexreluclassifier__beta": [1.0, 1e3]}, cv=3).fit(X, y)
    # beta = 1000 shrinks every network to zero (all predictions one class): the grid must
    # prefer the small beta.
    assert grid.best_params_ == {"convexreluclassifier__beta": 1.0}
    assert grid.best_score_ >= 0.7
    best = grid.best_estimator_[-1]
    assert best.n_features_in_ == 4 and best.status_ == cp.OPTIMAL
    assert grid.score(X, y) >= 0.85


# --------------------------------------------------------------------------- hyperparameters


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"formulation": "deep"}, InvalidInputError, "formulation"),
        ({"n_patterns": 0}, InvalidInputError, "n_patterns"),
        ({"n_patterns": 2.5}, InvalidInputError, "n_patterns"),
        ({"beta": 0.0}, InvalidInputError, "beta"),
        ({"beta": "big"}, InvalidInputError, "beta"),
        ({"loss": "cross_entropy"}, InvalidInputError, "loss"),
        ({"eps": -0.1}, InvalidInputError, "eps"),
        ({"eps": 0.1, "formulation": "gated"}, InvalidInputError, "formulation='relu'"),
        ({"eps": 0.1, "formulation": "scp"}, InvalidInputError, "formulation='relu'"),
        ({"norm": 3}, InvalidInputError, "norm"),
        ({"bias": "yes"}, InvalidInputError, "bias"),
        ({"solver": "NOT_A_SOLVER"}, SolverUnavailableError, "Usable solvers"),
        ({"solver": 3}, SolverUnavailableError, "solver"),
        ({"solver_options": [("max_iter", 3)]}, InvalidInputError, "solver_options"),
        ({"solver_options": {"solver": "ECOS"}}, InvalidInputError, "solver_options may not set"),
        ({"solver_options": {"no_such_option": 1}}, InvalidInputError, "no_such_option"),
        ({"max_iter": 0}, InvalidInputError, "max_iter"),
        ({"max_iter": True}, InvalidInputError, "max_iter"),
        ({"tol": -1e-6}, InvalidInputError, "tol"),
        ({"tol": 1e-6, "solver": "highs"}, InvalidInputError, "no mapping"),
        ({"warm_start": 1}, InvalidInputError, "warm_start"),
        ({"random_state": "seed"}, InvalidInputError, "random_state"),
    ],
)
def test_bad_hyperparameters_raise_at_fit(binary, params, error, match):
    X, y = binary
    clf = ConvexReLUClassifier(**params)  # no validation in __init__
    assert clf.get_params()[next(iter(params))] == params[next(iter(params))]
    with pytest.raises(error, match=match) as info:
        clf.fit(X, y)
    assert isinstance(info.value, CvxnnError) and isinstance(info.value, ValueError)


def test_regressor_refuses_classification_losses(diabetes):
    X, y = diabetes
    with pytest.raises(InvalidInputError, match=r"allowed are \['squared'\]"):
        ConvexReLURegressor(loss="hinge").fit(X, y)


def test_positional_hyperparameters_refused():
    with pytest.raises(TypeError):
        ConvexReLUClassifier("relu")  # type: ignore[misc]


def test_solver_that_cannot_take_the_cones(binary):
    X, y = binary
    with pytest.raises(UnsupportedProblemError, match="OSQP"):
        ConvexReLUClassifier(solver="osqp").fit(X, y)


def test_one_class_and_unfitted(binary):
    X, _ = binary
    with pytest.raises(InvalidInputError, match="one class"):
        ConvexReLUClassifier().fit(X, np.zeros(60))
    with pytest.raises(NotFittedError):
        ConvexReLURegressor().predict(X)


def test_iteration_limit_warns_and_keeps_the_point(binary):
    X, y = binary
    with pytest.warns(ConvergenceWarning, match="max_iter=2") as record:
        clf = ConvexReLUClassifier(max_iter=2, random_state=0).fit(X, y)
    assert any(issubclass(w.category, SklearnConvergenceWarning) for w in record)
    assert clf.status_ == cp.USER_LIMIT and clf.n_iter_ == 2
    full = ConvexReLUClassifier(random_state=0).fit(X, y)
    assert full.status_ == cp.OPTIMAL and full.n_iter_ > 2
    # Two interior-point iterations are far from the optimum (the iterate need not be feasible,
    # so its objective can be on either side).
    assert abs(clf.objective_ - full.objective_) > 1e-2 * full.objective_


def test_tol_maps_to_solver_options_and_solver_options_win(binary):
    X, y = binary
    common = {"patterns": "sample", "random_state": 0}
    loose = ConvexReLUClassifier(solver="scs", tol=1e-2, **common).fit(X, y)
    tight = ConvexReLUClassifier(
        solver="scs", tol=1e-2, solver_options={"eps_abs": 1e-7, "eps_rel": 1e-7}, **common
    ).fit(X, y)
    ref = ConvexReLUClassifier(**common).fit(X, y).objective_
    assert abs(tight.objective_ - ref) <= 1e-4 * ref
    assert tight.n_iter_ > loose.n_iter_


# --------------------------------------------------------------------------- warm start, pickling


def test_warm_start_reuses_programs_and_matches_cold_fit(binary):
    X, y = binary
    est = ConvexReLUClassifier(warm_start=True, beta=1.0, patterns="sample", random_state=0).fit(X, y)
    patterns, programs = est.patterns_, est._programs
    est.set_params(beta=0.1).fit(X, y)
    assert est.patterns_ is patterns and est._programs is programs  # same compiled programs
    assert programs[0].beta.value == 0.1
    cold = ConvexReLUClassifier(beta=0.1, patterns="sample", random_state=0).fit(X, y)
    np.testing.assert_allclose(est.objective_, cold.objective_, rtol=1e-6)
    # New data with the same structure: the previous gates are kept.
    X2 = X + 0.01
    est.fit(X2, y)
    np.testing.assert_array_equal(est.patterns_.gates, patterns.gates)
    np.testing.assert_array_equal(est.patterns_.D, (np.hstack([X2, np.ones((60, 1))]) @ patterns.gates) >= 0)
    # A structural change (another n_patterns) is a cold fit.
    est.set_params(n_patterns=8).fit(X, y)
    assert est.patterns_.n_requested == 8


def test_pickle_round_trip_drops_cached_programs(binary):
    X, y = binary
    est = ConvexReLUClassifier(warm_start=True, random_state=0).fit(X, y)
    clone = pickle.loads(pickle.dumps(est))
    assert not hasattr(clone, "_programs")
    np.testing.assert_array_equal(clone.predict(X), est.predict(X))
    clone.fit(X, y)  # still warm-startable from the stored solution
    np.testing.assert_allclose(clone.objective_, est.objective_, rtol=1e-6)


# --------------------------------------------------------------------------- ADMM and robust


def test_admm_solver_matches_clarabel(diabetes):
    X, y = diabetes
    # Same sampled patterns for both solvers (a search would pick its patterns per solver).
    ref = ConvexReLURegressor(beta=1.0, patterns="sample", random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        admm = ConvexReLURegressor(beta=1.0, solver="admm", tol=1e-6, patterns="sample", random_state=0).fit(
            X, y
        )
    assert admm.status_ == cp.OPTIMAL and admm.n_iter_ >= 1
    assert abs(admm.objective_ - ref.objective_) <= 1e-4 * ref.objective_
    np.testing.assert_allclose(admm.predict(X), ref.predict(X), atol=1e-2)
    with pytest.warns(ConvergenceWarning):
        short = ConvexReLURegressor(beta=1.0, solver="admm", max_iter=3, random_state=0).fit(X, y)
    assert short.n_iter_ == 3 and short.status_ != cp.OPTIMAL


def test_robust_training_eps(binary):
    X, y = binary
    nominal = ConvexReLUClassifier(loss="hinge", beta=0.1, patterns="sample", random_state=0).fit(X, y)
    robust = ConvexReLUClassifier(loss="hinge", beta=0.1, eps=0.05, random_state=0).fit(X, y)
    np.testing.assert_array_equal(robust.patterns_.D, nominal.patterns_.D)
    # The robust program's optimum upper-bounds the nominal one (same patterns).
    assert robust.objective_ >= nominal.objective_ * (1 - 1e-7)
    assert robust.objective_ > nominal.objective_
    assert robust.score(X, y) >= 0.8
    assert isinstance(robust.network_, ReLUNetwork)


def test_admm_runs_the_robust_program(binary):
    """The estimator hands the robust program to the ADMM (its accuracy against Clarabel is
    tested in test_robust_admm.py; this program needs more iterations than a unit test allows)."""
    X, y = binary
    with pytest.warns(SklearnConvergenceWarning, match="robust_relu program.*ADMM"):
        admm = ConvexReLUClassifier(
            loss="hinge", beta=1.0, eps=0.05, n_patterns=8, solver="admm", max_iter=100, random_state=0
        ).fit(X, y)
    assert admm.n_iter_ == 100 and admm.status_ != cp.OPTIMAL
    assert isinstance(admm.network_, ReLUNetwork)


def test_gurobi_tiny_program_matches_clarabel():
    pytest.importorskip("gurobipy", reason="gurobipy is not installed")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((15, 2))
    y = (X[:, 0] > 0).astype(int)
    # Small enough for the size-limited license; tol/max_iter map to BarConvTol/BarIterLimit.
    ref = ConvexReLUClassifier(n_patterns=4, random_state=0).fit(X, y)
    grb = ConvexReLUClassifier(solver="gurobi", tol=1e-9, max_iter=100, n_patterns=4, random_state=0)
    grb.fit(X, y)
    assert grb.status_ == cp.OPTIMAL
    assert abs(grb.objective_ - ref.objective_) <= 1e-5 * ref.objective_
