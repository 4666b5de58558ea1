"""The pattern search's certificate: valid bounds on c(lambda), the restricted dual point, certify()."""

from __future__ import annotations

import numpy as np
import pytest
from search_data import planted_relu_data as _data

import cvxnn
from cvxnn.certificate import certify, conjugate, dual_lower_bound
from cvxnn.dual_norm import barycentric_rows, dual_norm_upper_bound, sign_bound, transport_rows
from cvxnn.dual_point import hinge_stationary_dual, relevant_patterns, restricted_dual_point
from cvxnn.exceptions import InvalidInputError
from cvxnn.losses import loss_gradient
from cvxnn.pricing import dual_norm_bound, dual_norm_exact, price


def _exact(X: np.ndarray, y: np.ndarray, beta: float, loss: str, bias: bool) -> tuple[float, np.ndarray]:
    """The optimum over every pattern and its predictions."""
    patterns = cvxnn.enumerate_patterns(X, bias=bias)
    program = cvxnn.relu_program(X, y, patterns, beta=beta, loss=loss)
    value = float(program.solve("CLARABEL"))
    return value, program.network().predict(X)


def test_sharper_dual_norm_bound_is_never_below_the_exact_dual_norm() -> None:
    rng = np.random.default_rng(0)
    ratios = []
    for trial in range(12):
        n, d = [(12, 2), (14, 2), (10, 3), (16, 2)][trial % 4]
        X = rng.standard_normal((n, d))
        if trial % 3 == 0:
            X = np.hstack([X, np.ones((n, 1))])
        # mixed signs, one sign, sparse: the cases the relaxation treats differently
        lam = rng.standard_normal(n) * (rng.random(n) < [1.0, 0.6, 1.0][trial % 3])
        if trial % 3 == 2:
            lam = np.abs(lam)
        c_exact = dual_norm_exact(X, lam, cvxnn.enumerate_patterns(X))
        _, vals = price(X, lam, rng.standard_normal((X.shape[1], 30)))
        hints = (rng.standard_normal(X.shape[1]), None)
        for c_new in (dual_norm_upper_bound(X, lam), dual_norm_upper_bound(X, lam, u_hints=hints)):
            # dual_norm_exact adds a relative 1e-6 margin to the solver's value: allow it back
            assert c_new >= c_exact * (1 - 2e-6) - 1e-8
            assert c_new >= vals.max() * (1 - 1e-12)
        ratios.append(dual_norm_upper_bound(X, lam) / dual_norm_bound(X, lam))
    # and sharper than the closed form on these instances
    assert np.median(ratios) < 0.9


def test_sign_bound_is_exact_for_one_signed_rows_in_one_halfspace() -> None:
    # all rows in one open halfspace and lam > 0: c = ||X^T lam|| at u = X^T lam / ||.||
    rng = np.random.default_rng(1)
    X = np.abs(rng.standard_normal((30, 4))) + 0.1
    lam = rng.random(30)
    exact = float(np.linalg.norm(X.T @ lam))
    assert exact <= sign_bound(X, lam) <= exact * (1 + 1e-6)
    assert sign_bound(X, -lam) == 0.0  # no row with -lam > 0


def test_sharper_bound_dominates_the_ascent_on_larger_data() -> None:
    rng = np.random.default_rng(5)
    X = rng.standard_normal((300, 8))
    lam = rng.standard_normal(300)
    _, values = price(X, lam, rng.standard_normal((8, 200)))
    assert values.max() <= dual_norm_upper_bound(X, lam)


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
def test_certified_lower_bound_never_exceeds_the_exact_optimum(loss: str) -> None:
    for seed in range(3):
        X, y = _data(20 + seed, n=12, d=2, loss=loss)
        beta = [0.2, 1.0, 0.5][seed]
        exact, yhat_opt = _exact(X, y, beta, loss, False)
        full = cvxnn.enumerate_patterns(X)
        rng = np.random.default_rng(seed)
        D = full.D[:, rng.choice(full.n_patterns, 6, replace=False)]
        for yhat in (rng.standard_normal(12), 0.5 * yhat_opt, yhat_opt):
            for exact_limit in (0, 500):  # the bound on c(lambda), then the exact c(lambda)
                cert = certify(
                    X, y, D, yhat, beta=beta, loss=loss, bias=False, objective=exact + 1.0, n_fresh=5,
                    exact_limit=exact_limit, random_state=seed,
                )  # fmt: skip
                assert cert.lower_bound <= exact + 1e-7 * max(1.0, abs(exact))
                assert cert.dual_norm >= cert.dual_norm_floor * (1 - 1e-9)


@pytest.mark.parametrize(("loss", "bias"), [("squared", False), ("logistic", True), ("hinge", False)])
def test_certificate_closes_at_the_exact_optimum(loss: str, bias: bool) -> None:
    # the hinge loss's gradient alone left a 31 % gap here; the restricted dual point closes it
    X, y = _data(1, loss=loss)
    beta = 0.5
    exact, yhat = _exact(X, y, beta, loss, bias)
    D = cvxnn.enumerate_patterns(X, bias=bias).D
    cert = certify(X, y, D, yhat, beta=beta, loss=loss, bias=bias, objective=exact, n_fresh=0)
    assert cert.exact_dual_norm
    assert cert.lower_bound <= exact + 1e-7 * abs(exact)
    assert cert.relative_gap < 1e-4
    if loss == "hinge":
        assert cert.dual_point == "restricted dual"
    assert cert.seconds > 0 and "gap" in cert.summary()


def test_restricted_dual_point_attains_the_restricted_optimum() -> None:
    X, y = _data(3, n=14, d=2, loss="hinge")
    full = cvxnn.enumerate_patterns(X)
    program = cvxnn.relu_program(X, y, full, beta=0.5, loss="hinge")
    value = float(program.solve("CLARABEL"))
    lam = restricted_dual_point(X, y, full.D, loss="hinge", beta=0.5)
    assert lam is not None
    # weak duality over every pattern, and equality (strong duality) at the optimum
    assert dual_norm_exact(X, lam, full) <= 0.5 * (1 + 1e-5)
    assert -conjugate("hinge", y, lam) == pytest.approx(value, rel=1e-5)
    # zero-weight samples get lam = 0
    w = np.ones(14)
    w[:3] = 0.0
    lam_w = restricted_dual_point(X, y, full.D, loss="logistic", beta=0.5, sample_weight=w)
    assert lam_w is not None and np.all(lam_w[:3] == 0.0)
    assert np.isfinite(conjugate("logistic", y, lam_w, w))


@pytest.mark.parametrize("bias", [False, True])
def test_hinge_stationary_dual_is_an_optimal_dual_point_at_the_exact_optimum(bias: bool) -> None:
    # the gradient prices the exact optimum as violated; the stationary dual point does not, and
    # it attains the optimum (strong duality), without the restricted dual's conic solve
    X, y = _data(3, n=14, d=2, loss="hinge")
    beta = 0.5
    full = cvxnn.enumerate_patterns(X, bias=bias)
    program = cvxnn.relu_program(X, y, full, beta=beta, loss="hinge")
    value = float(program.solve("CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10))
    V, W = program.variables["V"].value, program.variables["W"].value
    Xa = np.hstack([X, np.ones((14, 1))]) if bias else X
    lam = hinge_stationary_dual(Xa, y, full.D, V, W, beta=beta)
    grad = loss_gradient(program.network().predict(X), y, "hinge")
    assert dual_norm_exact(Xa, grad, full) > 1.05 * beta  # the ambiguity this point resolves
    assert dual_norm_exact(Xa, lam, full) <= beta * (1 + 1e-4)
    assert -conjugate("hinge", y, lam) == pytest.approx(value, rel=1e-4)
    # zero-weight samples get lam = 0, the rest stays in the conjugate's domain
    w = np.ones(14)
    w[:3] = 0.0
    lam_w = hinge_stationary_dual(Xa, y, full.D, V, W, beta=beta, sample_weight=w)
    assert np.all(lam_w[:3] == 0.0) and np.all((-y * lam_w >= 0) & (-y * lam_w <= w))


def test_restricted_dual_point_past_its_time_limit_is_skipped_and_the_bound_stays_valid() -> None:
    X, y = _data(3, n=14, d=2, loss="hinge")
    full = cvxnn.enumerate_patterns(X)
    assert restricted_dual_point(X, y, full.D, loss="hinge", beta=0.5, time_limit=1e-9) is None
    program = cvxnn.relu_program(X, y, full, beta=0.5, loss="hinge")
    value = float(program.solve("CLARABEL"))
    yhat = program.network().predict(X)
    timed_out = certify(
        X, y, full.D, yhat, beta=0.5, loss="hinge", bias=False, objective=value, dual_time_limit=1e-9
    )
    assert timed_out.dual_point != "restricted dual"
    assert timed_out.lower_bound <= value + 1e-7 * abs(value)


def test_relevant_patterns_keeps_the_live_ones() -> None:
    rng = np.random.default_rng(2)
    X = rng.standard_normal((20, 3))
    D = X @ rng.standard_normal((3, 30)) >= 0
    lam = rng.standard_normal(20)
    live = np.zeros(30, dtype=bool)
    live[[4, 17]] = True
    idx = relevant_patterns(X, D, lam, live=live, limit=5)
    assert len(idx) == 5 and {4, 17} <= set(idx.tolist())
    assert np.array_equal(relevant_patterns(X, D, lam, live=live, limit=40), np.arange(30))


def test_certify_without_enumeration_is_sharper_than_before() -> None:
    X, y = _data(6, n=80, d=4, loss="logistic")
    res = cvxnn.search_patterns(
        X, y, beta=1.0, loss="logistic", random_state=0, exact_limit=0, max_rounds=3,
        warm_start_steps=100, n_fresh=10,
    )  # fmt: skip
    cert = res.certificate
    assert not cert.exact_dual_norm
    lam = loss_gradient(res.network.predict(X), y, "logistic")
    old, _ = dual_lower_bound("logistic", y, lam, dual_norm_bound(np.asarray(X), lam), 1.0)
    assert old < cert.lower_bound <= res.objective
    assert cert.dual_norm_floor <= cert.dual_norm


def test_certify_rejects_mismatched_shapes() -> None:
    X, y = _data(0)
    with pytest.raises(InvalidInputError, match="one n"):
        certify(
            X, y[:5], np.ones((14, 2), dtype=bool), y, beta=1.0, loss="squared", bias=False, objective=1.0
        )
    D = np.ones((14, 2), dtype=bool)
    with pytest.raises(InvalidInputError):
        certify(X, y, D, y, beta=-1.0, loss="squared", bias=False, objective=1.0)
    with pytest.raises(InvalidInputError, match="live"):
        certify(X, y, D, y, beta=1.0, loss="squared", bias=False, objective=1.0, live=np.ones(3, bool))
    with pytest.raises(InvalidInputError, match="sample_weight"):
        certify(X, y, D, y, beta=1.0, loss="squared", bias=False, objective=1.0, sample_weight=-np.ones(14))
    with pytest.raises(InvalidInputError, match="pricing_point"):
        certify(X, y, D, y, beta=1.0, loss="squared", bias=False, objective=1.0, pricing_point=np.ones(3))
    with pytest.raises(InvalidInputError, match="pricing_point"):
        bad = np.full(14, np.nan)
        certify(X, y, D, y, beta=1.0, loss="squared", bias=False, objective=1.0, pricing_point=bad)


def test_transported_rows_dominate_pointwise() -> None:
    rng = np.random.default_rng(4)
    X = np.hstack([rng.standard_normal((60, 3)), np.ones((60, 1))])
    lam = rng.standard_normal(60)
    U = rng.standard_normal((4, 500))
    for reach in (0.5, 1.0, 3.0):
        Z, omega = transport_rows(X, lam, reach=reach)
        assert Z.shape[0] > 60  # some pairs were formed
        assert np.all(omega[: Z.shape[0] - 60] > 0)
        lhs = lam @ np.maximum(X @ U, 0.0)
        rhs = omega @ np.maximum(Z @ U, 0.0)
        assert np.all(rhs >= lhs - 1e-10)
    for sign in (1.0, -1.0):
        Z, omega = barycentric_rows(X, sign * lam, neighbours=6)
        assert Z.shape[0] > 60 and np.all(omega[: Z.shape[0] - 60] > 0)
        lhs = sign * lam @ np.maximum(X @ U, 0.0)
        assert np.all(omega @ np.maximum(Z @ U, 0.0) >= lhs - 1e-10)
        # the masses are conserved: moved + remaining positive = the positive mass
        assert np.sum(omega[omega > 0]) == pytest.approx(np.sum(np.maximum(sign * lam, 0.0)))
