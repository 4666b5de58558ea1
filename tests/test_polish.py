"""cvxnn.polish: Newton on a solved program's support, kept only when its KKT conditions hold."""

from __future__ import annotations

import numpy as np
import pytest

import cvxnn
from cvxnn.losses import loss_gradient
from cvxnn.patterns import ActivationPatterns, pattern_dual_values
from cvxnn.polish import polish_program

BUILDERS = {"relu": cvxnn.relu_program, "gated": cvxnn.gated_relu_program, "scp": cvxnn.scp_program}


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(42)  # scikit-learn's sample-weight check's data
    X = rng.rand(15, 30)
    y = np.where(rng.randint(0, 3, size=15) == 1, 1.0, -1.0)
    w = rng.randint(0, 5, size=15)
    keep = w > 0
    return X[keep], y[keep], w[keep], rng.rand(20, 30)


def _program(kind, X, y, gates, loss, weight=None):
    if kind == "scp":
        return cvxnn.scp_program(X, y, gates, beta=1.0, loss=loss, bias=True, sample_weight=weight)
    Xa = np.hstack([X, np.ones((X.shape[0], 1))])
    patterns = ActivationPatterns(D=Xa @ gates >= 0, gates=gates, exact=False, bias=True)
    return BUILDERS[kind](X, y, patterns, beta=1.0, loss=loss, sample_weight=weight)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("kind", ["relu", "gated", "scp"])
def test_weighted_and_repeated_rows_polish_to_the_same_network(kind, loss, data):
    X, y, w, X_new = data
    gates = cvxnn.sample_patterns(X, 20, random_state=1, bias=True).gates
    weighted = _program(kind, X, y, gates, loss, w.astype(float))
    repeated = _program(kind, np.repeat(X, w, axis=0), np.repeat(y, w), gates, loss)
    before = []
    for program in (weighted, repeated):
        program.solve("CLARABEL")
        before.append(program.network().predict(X_new))
        result = polish_program(program)
        assert result.polished, result.reason
        assert result.objective <= program.problem.value + 1e-9
        assert program.violation_at().relative <= 1e-12
    after = [program.network().predict(X_new) for program in (weighted, repeated)]
    # the solvers' points agree to 1e-7..1e-4 on new points, the polished ones to rounding
    np.testing.assert_allclose(after[0], after[1], rtol=1e-10, atol=1e-12)
    assert np.max(np.abs(after[0] - before[0])) < 1e-3
    assert weighted.objective_at() == pytest.approx(repeated.objective_at(), rel=1e-13)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_polished_relu_point_meets_every_dual_constraint(loss, data):
    """An independent check of the certificate: every pattern's dual value (Clarabel's SOCP) is
    at most beta at the polished predictions, and the point is exactly feasible."""
    X, y, _, _ = data
    program = cvxnn.relu_program(
        X, y, cvxnn.sample_patterns(X, 30, random_state=0, bias=True), beta=1.0, loss=loss
    )
    program.solve("CLARABEL")
    solver_value = program.objective_at()
    result = polish_program(program)
    assert result.polished, result.reason
    assert result.n_blocks >= 1 and result.n_tight_rows >= 1
    assert result.objective <= solver_value
    lam = loss_gradient(program.predictions(), y, loss)
    values = pattern_dual_values(program.design, program.patterns.D, lam)
    assert np.max(values) <= 1.0 + 1e-6
    V, W = program.variables["V"].value, program.variables["W"].value
    S = 2.0 * program.patterns.D - 1.0
    for B in (V, W):
        assert np.min(S * (program.design @ B)) >= -1e-12 * np.abs(B).max()
    assert np.count_nonzero(np.linalg.norm(np.hstack([V, W]), axis=0)) == result.n_blocks


def test_unsupported_programs_are_left_untouched(data):
    X, y, _, _ = data
    patterns = cvxnn.sample_patterns(X, 5, random_state=0, bias=True)
    hinge = cvxnn.relu_program(X, y, patterns, beta=1.0, loss="hinge")
    hinge.solve("CLARABEL")
    V = hinge.variables["V"].value.copy()
    result = polish_program(hinge)
    assert not result.polished and "not smooth" in result.reason
    np.testing.assert_array_equal(hinge.variables["V"].value, V)
    robust = cvxnn.robust_relu_program(X, y, patterns, beta=1.0, eps=0.01, loss="squared")
    robust.solve("CLARABEL")
    result = polish_program(robust)
    assert not result.polished and "robust_relu" in result.reason
    unsolved = cvxnn.relu_program(X, y, patterns, beta=1.0)
    assert polish_program(unsolved).reason == "the program has no point to polish"


def test_the_estimators_polish_clarabel_fits(data):
    X, y, _, _ = data
    clf = cvxnn.ConvexReLUClassifier(random_state=0, patterns="sample").fit(X, y)
    assert clf.status_ == "optimal"
    program = cvxnn.relu_program(X, y, clf.patterns_, beta=1.0)
    program.solve("CLARABEL")
    raw = program.objective_at()
    polish_program(program)
    assert clf.objective_ == pytest.approx(program.objective_at(), rel=1e-12)
    assert clf.objective_ <= raw


def test_programs_over_the_size_caps_are_left_untouched(data, monkeypatch):
    import cvxnn.polish as polish

    X, y, _, _ = data
    program = cvxnn.relu_program(X, y, cvxnn.sample_patterns(X, 10, random_state=0, bias=True), beta=1.0)
    program.solve("CLARABEL")
    V = program.variables["V"].value.copy()
    monkeypatch.setattr(polish, "MAX_UNKNOWNS", 10)
    result = polish_program(program)
    assert not result.polished and "too large" in result.reason
    np.testing.assert_array_equal(program.variables["V"].value, V)
