"""Pattern search, pricing and the lower bound over all patterns (small, enumerable data)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from search_data import planted_relu_data as _data

import cvxnn
from cvxnn.baselines import train_adam
from cvxnn.certificate import conjugate, dual_lower_bound
from cvxnn.exceptions import InvalidInputError, SolverUnavailableError
from cvxnn.losses import loss_gradient, loss_value
from cvxnn.pattern_pool import PatternPool, network_blocks, pool_objective
from cvxnn.pricing import dual_norm_bound, dual_norm_exact, pattern_keys, price, select_new_patterns
from cvxnn.search import search_patterns

FAST = dict(warm_start_steps=100, warm_start_neurons=8, n_initial=5, n_starts=30, n_fresh=20)


def _exact_optimum(X: np.ndarray, y: np.ndarray, beta: float, loss: str, bias: bool) -> float:
    patterns = cvxnn.enumerate_patterns(X, bias=bias)
    program = cvxnn.relu_program(X, y, patterns, beta=beta, loss=loss)
    return float(program.solve("CLARABEL"))


@pytest.mark.parametrize(("loss", "bias"), [("squared", False), ("logistic", True), ("hinge", False)])
def test_search_reaches_the_exact_optimum(loss: str, bias: bool) -> None:
    X, y = _data(1, loss=loss)
    beta = 0.5
    exact = _exact_optimum(X, y, beta, loss, bias)
    res = search_patterns(X, y, beta=beta, loss=loss, bias=bias, solver="CLARABEL", random_state=0, **FAST)
    assert res.objective <= exact + 1e-3 * abs(exact) + 1e-6
    assert res.objective >= exact - 1e-5 * abs(exact) - 1e-7
    # the recovered network's training objective is the convex objective
    assert res.network.objective(X, y, beta, loss) == pytest.approx(res.objective, rel=1e-6, abs=1e-8)
    cert = res.certificate
    assert cert.exact_dual_norm
    assert cert.lower_bound <= exact + 1e-6 * max(1.0, abs(exact))
    assert cert.gap == pytest.approx(res.objective - cert.lower_bound)
    # the pricing stop rule fires (for the hinge loss at the stationary dual point: the gradient
    # priced this optimum at several times beta), and at the exact dual norm the bound closes
    assert res.converged and res.history[-1].max_violation <= 1.0 + 1e-3
    assert cert.relative_gap < 1e-2


def test_admm_search_objective_never_rises() -> None:
    X, y = _data(2, n=30, d=3)
    seen = []
    res = search_patterns(
        X, y, beta=0.3, random_state=0, progress=seen.append, max_rounds=6, patterns_per_round=3, **FAST
    )
    objs = [r.objective for r in res.history]
    assert seen == list(res.history)
    assert all(b <= a for a, b in itertools.pairwise(objs))
    assert res.objective == objs[-1]
    assert res.program.n_patterns == res.patterns.n_patterns
    assert res.warm_start_objective is not None and res.objective <= res.warm_start_objective


def test_refinement_adds_the_moved_neurons_patterns_and_never_raises_the_objective() -> None:
    X, y = _data(2, n=40, d=3)
    kwargs = dict(FAST, beta=0.3, random_state=0, max_rounds=3, patterns_per_round=1, n_fresh=0)
    plain = search_patterns(X, y, **kwargs, refine_steps=0)
    refined = search_patterns(X, y, **kwargs, refine_steps=100)
    objs = [r.objective for r in refined.history]
    assert all(b <= a for a, b in itertools.pairwise(objs))
    # pricing adds one pattern a round; the refined network's moved neurons add more
    assert plain.history[0].n_added == 1
    assert refined.history[0].n_added > 1
    assert np.isclose(refined.network.objective(X, y, 0.3, "squared"), refined.objective, rtol=1e-6)


def test_pool_replace_point_makes_a_networks_point_current() -> None:
    X, y = _data(3, n=30, d=3)
    Xa = np.hstack([X, np.ones((X.shape[0], 1))])
    nets = [
        train_adam(X, y, n_neurons=4, beta=0.2, loss="squared", bias=True, epochs=50, random_state=s)
        for s in range(2)
    ]
    pool = PatternPool(Xa)
    pool.add(*network_blocks(nets[0], Xa, bias=True))
    n_before = pool.size
    pool.replace_point(*network_blocks(nets[1], Xa, bias=True))
    assert pool.size >= n_before
    assert np.allclose(pool.predictions(pool.V, pool.W), nets[1].predict(X))
    at_point = pool_objective(pool, pool.V, pool.W, y, 0.2, "squared")
    assert at_point <= nets[1].objective(X, y, 0.2, "squared") + 1e-9


def test_convex_optimum_over_a_networks_patterns_is_at_most_its_objective() -> None:
    X, y = _data(3, n=40, d=3)
    beta = 0.2
    for seed in range(3):
        net = train_adam(
            X, y, n_neurons=6, beta=beta, loss="squared", bias=True, epochs=150, random_state=seed
        )
        Xa = np.hstack([X, np.ones((X.shape[0], 1))])
        D, G, V, W = network_blocks(net, Xa, bias=True)
        # the network's point in the program has at most its objective (AM-GM)
        yhat = np.sum(D * (Xa @ (V - W)), axis=1)
        at_point = loss_value(yhat, y, "squared") + beta * (
            np.linalg.norm(V, axis=0).sum() + np.linalg.norm(W, axis=0).sum()
        )
        nc = net.objective(X, y, beta, "squared")
        assert at_point <= nc + 1e-9
        assert np.allclose(yhat, net.predict(X))
        keep = np.unique(np.packbits(D, axis=0), axis=1, return_index=True)[1]
        patterns = cvxnn.ActivationPatterns(D=D[:, keep], gates=G[:, keep], bias=True)
        value = cvxnn.relu_program(X, y, patterns, beta=beta).solve("CLARABEL")
        assert value <= nc + 1e-6


def test_pricing_finds_a_planted_missing_pattern() -> None:
    X, y = _data(4, n=16, d=2)
    beta = 0.3
    full = cvxnn.enumerate_patterns(X)
    program = cvxnn.relu_program(X, y, full, beta=beta)
    program.solve("CLARABEL")
    V, W = program.variables["V"].value, program.variables["W"].value
    used = np.linalg.norm(V, axis=0) + np.linalg.norm(W, axis=0)
    missing = int(np.argmax(used))  # the pattern carrying the largest neuron
    keep = np.delete(np.arange(full.n_patterns), missing)
    reduced = cvxnn.ActivationPatterns(D=full.D[:, keep], gates=full.gates[:, keep])
    small = cvxnn.relu_program(X, y, reduced, beta=beta)
    small.solve("CLARABEL")
    lam = loss_gradient(small.predictions(), y, "squared")
    rng = np.random.default_rng(0)
    U, values = price(X, lam, rng.standard_normal((2, 50)))
    assert values.max() > 1.001 * beta
    D_new, gates, vals = select_new_patterns(
        X, U, values, threshold=beta * 1.001, known=set(pattern_keys(reduced.D)), max_new=5
    )
    # every other pattern is dual feasible, so the only violated new pattern is the removed one
    assert D_new.shape[1] == 1
    assert np.array_equal(D_new[:, 0], full.D[:, missing])
    assert np.array_equal(X @ gates[:, 0] >= 0, D_new[:, 0])
    assert vals[0] > beta


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
def test_lower_bound_never_exceeds_the_exact_optimum(loss: str) -> None:
    for seed in range(4):
        X, y = _data(10 + seed, n=12, d=2, loss=loss)
        beta = [0.1, 0.5, 2.0, 1.0][seed]
        exact = _exact_optimum(X, y, beta, loss, False)
        full = cvxnn.enumerate_patterns(X)
        rng = np.random.default_rng(seed)
        for yhat in (rng.standard_normal(12), 0.1 * rng.standard_normal(12), y * 0.9):
            lam = loss_gradient(yhat, y, loss)
            c_exact = dual_norm_exact(X, lam, full)
            c_bound = dual_norm_bound(X, lam)
            assert c_bound >= c_exact * (1 - 1e-6) - 1e-9
            for c_bar in (c_exact, c_bound):
                bound, s = dual_lower_bound(loss, y, lam, c_bar, beta)
                assert np.isfinite(bound)
                assert bound <= exact + 1e-7 * max(1.0, abs(exact))
                assert 0 <= s * c_bar <= beta * (1 + 1e-12)


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
def test_conjugates_satisfy_fenchel_young(loss: str) -> None:
    rng = np.random.default_rng(0)
    y = np.where(rng.standard_normal(20) > 0, 1.0, -1.0) if loss != "squared" else rng.standard_normal(20)
    z = 3 * rng.standard_normal(20)
    if loss == "hinge":
        z[np.abs(1 - y * z) < 1e-3] += 0.1  # away from the kink
    lam = loss_gradient(z, y, loss)
    # equality at the gradient, inequality elsewhere
    assert loss_value(z, y, loss) + conjugate(loss, y, lam) == pytest.approx(lam @ z, abs=1e-9)
    for _ in range(5):
        z2 = 3 * rng.standard_normal(20)
        assert loss_value(z2, y, loss) + conjugate(loss, y, lam) >= lam @ z2 - 1e-9
    if loss != "squared":
        assert conjugate(loss, y, -lam) == np.inf


def test_closed_form_dual_norm_bound_dominates_ascent() -> None:
    rng = np.random.default_rng(5)
    X = rng.standard_normal((200, 6))
    lam = rng.standard_normal(200)
    _, values = price(X, lam, rng.standard_normal((6, 100)))
    assert values.max() <= dual_norm_bound(X, lam) * (1 + 1e-12)


def test_certificate_without_enumeration_uses_the_bound() -> None:
    X, y = _data(6, n=60, d=4)
    res = search_patterns(X, y, beta=1.0, random_state=0, exact_limit=0, max_rounds=2, **FAST)
    cert = res.certificate
    assert not cert.exact_dual_norm
    assert cert.lower_bound <= res.objective
    assert 0 <= cert.relative_gap <= 1 + 1e-12 or cert.lower_bound < 0
    assert "gap" in res.summary() and "objective" in cert.summary()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"beta": 0.0}, "beta"),
        ({"beta": 1.0, "loss": "cubic"}, "loss"),
        ({"beta": 1.0, "max_patterns": 0}, "max_patterns"),
        ({"beta": 1.0, "time_limit": -1}, "time_limit"),
        ({"beta": 1.0, "tol": -0.1}, "tol"),
        ({"beta": 1.0, "n_initial": 0, "warm_start": False}, "starting patterns"),
        ({"beta": 1.0, "progress": 3}, "progress"),
        ({"beta": 1.0, "bias": "yes"}, "bias"),
        ({"beta": 1.0, "n_starts": 1.5}, "n_starts"),
        ({"beta": 1.0, "refine_steps": -1}, "refine_steps"),
        ({"beta": 1.0, "warm_start_dtype": "float16"}, "warm_start_dtype"),
        ({"beta": 1.0, "refine_learning_rate": 0.0}, "refine_learning_rate"),
        ({"beta": 1.0, "solver_options": {"time_limit": 3}}, "time_limit"),
    ],
)
def test_bad_input_gets_clear_errors(kwargs: dict, match: str) -> None:
    X, y = _data(0)
    with pytest.raises(InvalidInputError, match=match):
        search_patterns(X, y, **kwargs)


def test_bad_data_and_solver() -> None:
    X, y = _data(0)
    with pytest.raises(InvalidInputError, match="labels"):
        search_patterns(X, y, beta=1.0, loss="logistic")
    with pytest.raises(InvalidInputError, match="rows"):
        search_patterns(X, y[:-1], beta=1.0)
    with pytest.raises(SolverUnavailableError):
        search_patterns(X, y, beta=1.0, solver="NOPE")


def test_estimators_search_patterns_by_default() -> None:
    from cvxnn import ConvexReLUClassifier, ConvexReLURegressor

    X, y = _data(7, n=40, d=3)
    options = {"warm_start_steps": 50, "max_rounds": 2, "n_fresh": 0}
    reg = ConvexReLURegressor(beta=0.5, random_state=0, search_options=options).fit(X, y)
    assert reg.get_params()["patterns"] == "search"
    assert len(reg.certificates_) == 1 and reg.certificates_[0].lower_bound <= reg.objective_ + 1e-6
    sampled = ConvexReLURegressor(beta=0.5, random_state=0, patterns="sample").fit(X, y)
    assert sampled.certificates_ is None
    labels = np.where(y > np.median(y), "a", "b")
    clf = ConvexReLUClassifier(beta=0.5, loss="logistic", random_state=0, search_options=options)
    clf.fit(X, labels)
    assert clf.score(X, labels) > 0.7
    with pytest.raises(InvalidInputError, match="patterns must be"):
        ConvexReLURegressor(patterns="grid").fit(X, y)
    with pytest.raises(InvalidInputError, match="may not set"):
        ConvexReLURegressor(search_options={"beta": 2.0}).fit(X, y)


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
def test_weighted_conjugate_satisfies_fenchel_young(loss: str) -> None:
    rng = np.random.default_rng(1)
    y = np.where(rng.standard_normal(20) > 0, 1.0, -1.0) if loss != "squared" else rng.standard_normal(20)
    w = rng.uniform(0.2, 3.0, 20)
    w[3] = 0.0
    z = 3 * rng.standard_normal(20)
    if loss == "hinge":
        z[np.abs(1 - y * z) < 1e-3] += 0.1
    lam = w * loss_gradient(z, y, loss)
    assert loss_value(z, y, loss, w) + conjugate(loss, y, lam, w) == pytest.approx(lam @ z, abs=1e-9)
    for _ in range(5):
        z2 = 3 * rng.standard_normal(20)
        assert loss_value(z2, y, loss, w) + conjugate(loss, y, lam, w) >= lam @ z2 - 1e-9
    lam[3] = 0.5  # a zero-weight sample with a nonzero multiplier is off the domain
    assert conjugate(loss, y, lam, w) == np.inf


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_weighted_search_bounds_the_weighted_exact_optimum(loss: str) -> None:
    X, y = _data(4, loss=loss)
    w = np.random.default_rng(4).integers(1, 4, size=len(y)).astype(float)
    beta = 0.5
    full = cvxnn.enumerate_patterns(X)
    exact = float(cvxnn.relu_program(X, y, full, beta=beta, loss=loss, sample_weight=w).solve("CLARABEL"))
    res = search_patterns(
        X, y, beta=beta, loss=loss, solver="CLARABEL", random_state=0, sample_weight=w, **FAST
    )
    assert res.program.sample_weight is not None
    assert exact - 1e-5 * abs(exact) <= res.objective <= exact + 1e-3 * abs(exact)
    assert res.certificate.lower_bound <= exact + 1e-6 * max(1.0, abs(exact))
    # the weighted objective of the network equals the result's objective
    net = res.network
    reg = beta * net.regularizer()
    assert loss_value(net.predict(X), y, loss, w) + reg == pytest.approx(res.objective, rel=1e-6)
    # integer weights: the same exact optimum as repeating the rows
    reps = np.repeat(np.arange(len(y)), w.astype(int))
    repeated = float(
        cvxnn.relu_program(X[reps], y[reps], cvxnn.enumerate_patterns(X[reps]), beta=beta, loss=loss).solve(
            "CLARABEL"
        )
    )
    assert exact == pytest.approx(repeated, rel=1e-5)


def test_reported_objective_is_the_returned_networks_even_after_inexact_solves() -> None:
    # the slack splitting stopped early returns points off the cones, where the convex objective
    # understates the network's; the search measures (and reports) the network (was up to 1 %
    # below it)
    X, y = _data(5, n=60, d=4)
    res = search_patterns(
        X,
        y,
        beta=0.5,
        random_state=0,
        max_rounds=3,
        refine_steps=0,
        solver_options={
            "max_iter": 20,
            "check_interval": 5,
            "certificate_interval": 5,
            "cone_method": "slack",
        },
        **FAST,
    )
    assert {r.status for r in res.history} == {"user_limit"}
    assert res.network.objective(X, y, 0.5, "squared") == pytest.approx(res.objective, rel=1e-12)
