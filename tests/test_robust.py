"""Robust programs (docs/math.md): eps = 0 identity, monotonicity, certified bound, solvers, input."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cvxnn.exceptions import CvxnnError, InvalidInputError, NotSolvedError
from cvxnn.losses import loss_per_sample, loss_value
from cvxnn.patterns import ActivationPatterns, sample_patterns
from cvxnn.programs import relu_program
from cvxnn.recovery import relu_network_from_blocks
from cvxnn.robust import (
    dual_norm_exponent,
    robust_cone_violation,
    robust_loss_bound,
    robust_relu_program,
)

LOSSES = ("hinge", "squared", "logistic")
NORMS = ("inf", "2", "1")
# relative objective tolerance per solver (interior point vs first-order)
SOLVER_RTOL = {"CLARABEL": 1e-6, "ECOS": 1e-5, "SCS": 2e-3}
SOLVER_OPTS = {"CLARABEL": {}, "ECOS": {}, "SCS": {"eps_abs": 1e-7, "eps_rel": 1e-7, "max_iters": 50_000}}
# a radius of comparable size in each norm for standardized data in d = 3
EPS = {"inf": 0.1, "2": 0.17, "1": 0.3}


def make_data(seed: int, loss: str, n: int = 16, d: int = 3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if loss == "squared":
        y = np.tanh(X @ np.array([1.0, -2.0, 0.5])) + 0.1 * rng.standard_normal(n)
    else:
        y = np.where(X[:, 0] * X[:, 1] + 0.3 * X[:, 2] >= 0, 1.0, -1.0)
    return X, y


def build(loss, *, eps, norm="inf", bias=False, seed=0, beta=0.05, n_patterns=14):
    X, y = make_data(seed, loss)
    patterns = sample_patterns(X, n_patterns, random_state=seed, bias=bias)
    return robust_relu_program(X, y, patterns, beta=beta, eps=eps, norm=norm, loss=loss)


def rel_gap(a: float, b: float) -> float:
    return abs(a - b) / max(1.0, abs(b))


def worst_delta(network, X, y, loss, eps, norm):
    """Closed-form worst perturbation of a network that is linear on the ball around each x_k."""
    grad = (np.maximum(X @ network.U + network.b, 0.0) > 0) * network.alpha @ network.U.T  # df/dx
    f = network.predict(X)
    direction = np.where(f - y >= 0, 1.0, -1.0) if loss == "squared" else -y
    G = direction[:, None] * grad
    if norm == "inf":
        return eps * np.sign(G)
    if norm == "2":
        nrm = np.linalg.norm(G, axis=1, keepdims=True)
        return eps * np.divide(G, nrm, out=np.zeros_like(G), where=nrm > 0)
    out = np.zeros_like(G)
    j = np.argmax(np.abs(G), axis=1)
    out[np.arange(G.shape[0]), j] = eps * np.sign(G[np.arange(G.shape[0]), j])
    return out


# ----------------------------------------------------------------------------- structure
def test_program_structure_and_fields():
    prog = build("hinge", eps=0.1, norm=np.inf, bias=True)
    d_aug, P = prog.design.shape[1], prog.n_patterns
    assert prog.kind == "robust_relu"
    assert set(prog.variables) == {"V", "W"}
    assert prog.variables["V"].shape == (d_aug, P) == prog.variables["W"].shape
    assert isinstance(prog.eps, cp.Parameter) and prog.eps.is_nonneg() and prog.eps.value == 0.1
    assert isinstance(prog.beta, cp.Parameter) and prog.beta.value == 0.05
    assert prog.norm == "inf" and prog.loss == "hinge" and prog.bias
    # vectorized: one constraint object per block matrix, one row per (sample, pattern)
    assert len(prog.problem.constraints) == 2
    assert all(c.shape == (prog.n_samples, P) for c in prog.problem.constraints)
    assert prog.problem.is_dcp(dpp=True)
    assert "eps" in prog.summary()


@pytest.mark.parametrize(
    ("given", "canonical", "q"),
    [
        ("inf", "inf", 1.0),
        (np.inf, "inf", 1.0),
        (2, "2", 2.0),
        ("2", "2", 2.0),
        (2.0, "2", 2.0),
        (1, "1", np.inf),
        ("1", "1", np.inf),
    ],
)
def test_norm_names_and_dual_exponents(given, canonical, q):
    prog = build("squared", eps=0.0, norm=given)
    assert prog.norm == canonical
    assert dual_norm_exponent(given) == q


# ----------------------------------------------------------------------------- eps = 0
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("loss", LOSSES)
def test_eps_zero_reproduces_the_nominal_program(loss, norm):
    X, y = make_data(3, loss)
    patterns = sample_patterns(X, 14, random_state=3, bias=True)
    nominal = relu_program(X, y, patterns, beta=0.05, loss=loss)
    robust = robust_relu_program(X, y, patterns, beta=0.05, eps=0.0, norm=norm, loss=loss)
    v_nom, v_rob = nominal.solve(), robust.solve()
    assert rel_gap(v_rob, v_nom) < 1e-6
    # at eps = 0 the two programs are the same function on the same feasible set: the nominal
    # optimum, plugged into the robust program, is feasible there with the same objective
    for name in ("V", "W"):
        robust.variables[name].value = nominal.variables[name].value
    assert rel_gap(float(robust.problem.objective.value), v_nom) < 1e-12
    assert max(float(np.max(c.violation())) for c in robust.problem.constraints) < 1e-7


# ----------------------------------------------------------------------------- monotonicity
@pytest.mark.parametrize("norm", ["inf", "2"])
@pytest.mark.parametrize("loss", LOSSES)
def test_robust_optimum_above_nominal_and_nondecreasing_in_eps(loss, norm):
    X, y = make_data(5, loss)
    patterns = sample_patterns(X, 14, random_state=5)
    nominal = relu_program(X, y, patterns, beta=0.05, loss=loss).solve()
    prog = robust_relu_program(X, y, patterns, beta=0.05, eps=0.0, norm=norm, loss=loss)
    values = []
    for eps in (0.0, 0.02, 0.05, 0.1, 0.2, 0.4):
        prog.eps.value = eps
        values.append(prog.solve())
        assert prog.status == cp.OPTIMAL
    values = np.array(values)
    tol = 1e-6 * np.maximum(1.0, np.abs(values))
    assert np.all(values >= nominal - tol)
    assert np.all(np.diff(values) >= -tol[1:])
    # eps really enters the program: the largest radius costs strictly more
    assert values[-1] > values[0] * (1 + 1e-3)


def test_eps_path_reuses_the_compiled_problem_and_matches_a_fresh_build():
    X, y = make_data(7, "logistic")
    patterns = sample_patterns(X, 12, random_state=7)
    prog = robust_relu_program(X, y, patterns, beta=0.05, eps=0.0, loss="logistic")
    prog.solve()
    compiled = prog.problem._cache.param_prog
    assert compiled is not None  # DPP: CVXPY cached the parametrized program
    prog.eps.value = 0.15
    value = prog.solve()
    assert prog.problem._cache.param_prog is compiled  # re-solved without recompiling
    fresh = robust_relu_program(X, y, patterns, beta=0.05, eps=0.15, loss="logistic").solve()
    assert rel_gap(value, fresh) < 1e-6


# ----------------------------------------------------------------------------- certified bound
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("loss", LOSSES)
def test_pgd_never_beats_the_certified_bound(loss, norm, bias):
    from cvxnn.attacks import pgd

    eps = EPS[norm]
    prog = build(loss, eps=eps, norm=norm, bias=bias, seed=11)
    prog.solve()
    assert prog.status == cp.OPTIMAL
    assert robust_cone_violation(prog) < 1e-7
    bound = robust_loss_bound(prog)
    assert bound.shape == (prog.n_samples,)
    assert rel_gap(float(bound.sum()), float(prog.loss_term.value)) < 1e-9

    net = prog.network(prune_tol=0.0)
    X, y = prog.X, prog.y
    X_adv = pgd(net, X, y, eps=eps, norm=norm, loss=loss, steps=200, restarts=6, random_state=0)
    dist = np.linalg.norm(X_adv - X, ord=np.inf if norm == "inf" else int(norm), axis=1)
    assert np.all(dist <= eps * (1 + 1e-9))
    attacked = loss_per_sample(net.predict(X_adv), y, loss)
    tol = 1e-6 * (1.0 + bound)
    assert np.all(attacked <= bound + tol), np.max(attacked - bound)
    assert attacked.sum() <= bound.sum() + tol.sum()

    # the bound is tight: the closed-form worst perturbation of the (linear-on-the-ball)
    # recovered network attains it, so a wrong dual norm or a perturbed bias would show here
    worst = loss_per_sample(net.predict(X + worst_delta(net, X, y, loss, eps, norm)), y, loss)
    np.testing.assert_allclose(worst, bound, rtol=1e-5, atol=1e-6)
    # and a strong PGD gets there too (the problem it faces is linear on each ball)
    np.testing.assert_allclose(attacked, bound, rtol=1e-4, atol=1e-5)


@given(
    seed=st.integers(0, 10_000),
    loss=st.sampled_from(LOSSES),
    norm=st.sampled_from(NORMS),
    bias=st.booleans(),
)
def test_certificate_holds_at_any_robust_feasible_point(seed, loss, norm, bias):
    """No solver: blocks along the patterns' own gates are robust-feasible up to the smallest
    gate margin, and for any such point the bound is attained and never beaten."""
    from cvxnn.attacks import pgd

    X, y = make_data(seed, loss, n=10)
    patterns = sample_patterns(X, 8, random_state=seed, bias=bias)
    Xa = np.hstack([X, np.ones((10, 1))]) if bias else X
    G = patterns.gates
    q = dual_norm_exponent(norm)
    eps = 0.999 * float(np.min(np.abs(Xa @ G) / np.linalg.norm(G[: X.shape[1]], ord=q, axis=0)))
    prog = robust_relu_program(X, y, patterns, beta=0.1, eps=eps, norm=norm, loss=loss)
    rng = np.random.default_rng(seed)
    V = G * rng.exponential(size=G.shape[1]) * (rng.random(G.shape[1]) < 0.7)
    W = G * rng.exponential(size=G.shape[1]) * (rng.random(G.shape[1]) < 0.7)
    assert robust_cone_violation(prog, V, W) <= 1e-12
    bound = robust_loss_bound(prog, V, W)
    net = relu_network_from_blocks(V, W, bias=bias, prune_tol=0.0)
    worst = loss_per_sample(net.predict(X + worst_delta(net, X, y, loss, eps, norm)), y, loss)
    np.testing.assert_allclose(worst, bound, rtol=1e-9, atol=1e-12)
    X_adv = pgd(net, X, y, eps=eps, norm=norm, loss=loss, steps=30, restarts=3, random_state=seed)
    attacked = loss_per_sample(net.predict(X_adv), y, loss)
    assert np.all(attacked <= bound * (1 + 1e-9) + 1e-12)


@pytest.mark.parametrize("loss", LOSSES)
def test_the_nominal_solution_is_not_certified(loss):
    """The robust cones bite: the nominal optimum violates them and its bound can be beaten."""
    X, y = make_data(11, loss)
    patterns = sample_patterns(X, 14, random_state=11)
    nominal = relu_program(X, y, patterns, beta=0.05, loss=loss)
    nominal.solve()
    assert robust_cone_violation(nominal, eps=0.1, norm="inf") > 1e-4
    assert robust_cone_violation(nominal, eps=0.0, norm="inf") < 1e-7
    # the same formula evaluated at the nominal optimum is no certificate: the same PGD as in
    # the certified test beats it, in total (which also shows that attack has teeth)
    from cvxnn.attacks import pgd

    net = nominal.network(prune_tol=0.0)
    formula = robust_loss_bound(nominal, eps=0.1, norm="inf")
    X_adv = pgd(net, X, y, eps=0.1, norm="inf", loss=loss, steps=200, restarts=6, random_state=0)
    attacked = loss_per_sample(net.predict(X_adv), y, loss)
    assert attacked.sum() > formula.sum() + 1e-2


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("loss", LOSSES)
def test_radius_beyond_the_data_forces_the_zero_network(loss, norm):
    """Without bias, eps > max_k ||x_k||_p leaves only v = 0 feasible (|x_k^T v| < eps ||v||_q)."""
    X, y = make_data(8, loss)
    eps = 1.01 * np.max(np.linalg.norm(X, ord=np.inf if norm == "inf" else int(norm), axis=1))
    patterns = sample_patterns(X, 10, random_state=8)
    prog = robust_relu_program(X, y, patterns, beta=0.05, eps=eps, norm=norm, loss=loss)
    value = prog.solve()
    assert rel_gap(value, loss_value(np.zeros_like(y), y, loss)) < 1e-6
    assert np.max(np.abs(prog.variables["V"].value)) < 1e-5
    # just inside the data radius a nonzero network is feasible again and may do better
    prog.eps.value = 0.5 * eps
    assert prog.solve() <= value + 1e-6 * max(1.0, value)


# ----------------------------------------------------------------------------- recovery
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("loss", LOSSES)
def test_recovered_network_objective_and_regularizer(loss, bias):
    prog = build(loss, eps=0.1, bias=bias, seed=2)
    value = prog.solve()
    net = prog.network(prune_tol=0.0)
    beta = float(prog.beta.value)
    # regularizers agree exactly: (1/2)(|U|^2 + |b|^2 + |alpha|^2) = sum ||v_i|| + ||w_i||
    assert rel_gap(net.regularizer(), float(prog.regularizer.value)) < 1e-9
    # the network reproduces the nominal predictions on the training points
    np.testing.assert_allclose(net.predict(prog.X), prog.predictions(), atol=1e-7)
    nominal_obj = net.objective(prog.X, prog.y, beta, loss)
    assert (
        rel_gap(nominal_obj, loss_value(prog.predictions(), prog.y, loss) + beta * net.regularizer()) < 1e-9
    )
    # the clean loss is below the worst-case loss term, so the NC objective is below the robust one
    assert nominal_obj <= value + 1e-7 * max(1.0, value)
    # and the gap is exactly the certified bound minus the clean loss
    clean = loss_per_sample(net.predict(prog.X), prog.y, loss)
    gap = float(np.sum(robust_loss_bound(prog) - clean))
    assert gap >= -1e-9
    assert abs((value - nominal_obj) - gap) < 1e-6 * max(1.0, value)
    # default pruning keeps the objective within the solver's accuracy
    assert rel_gap(prog.network().objective(prog.X, prog.y, beta, loss), nominal_obj) < 1e-5


# ----------------------------------------------------------------------------- bias never perturbed
def test_bias_row_enters_no_perturbation_norm():
    X, y = make_data(4, "squared")
    n = X.shape[0]
    rng = np.random.default_rng(0)
    D = np.column_stack([np.ones(n, dtype=bool), rng.random((n, 3)) > 0.5])
    patterns = ActivationPatterns(D=D, bias=True)
    prog = robust_relu_program(X, y, patterns, beta=0.1, eps=5.0, norm="2", loss="squared")
    V = np.zeros(prog.variables["V"].shape)
    W = np.zeros_like(V)
    V[-1, 0] = 0.7  # a pure bias neuron on the all-active pattern: a constant 0.7
    # feasible for any eps (the bias row is not in the cone norms) ...
    assert robust_cone_violation(prog, V, W) == 0.0
    prog.variables["V"].value, prog.variables["W"].value = V, W
    assert all(np.max(c.violation()) <= 1e-12 for c in prog.problem.constraints)
    # ... and the bound does not grow with eps: a constant cannot be attacked
    expected = 0.5 * (0.7 - y) ** 2
    np.testing.assert_allclose(robust_loss_bound(prog, V, W), expected, rtol=1e-12)
    np.testing.assert_allclose(float(prog.loss_term.value), expected.sum(), rtol=1e-12)
    # a feature weight does enter both
    V[0, 0] = 0.5
    assert robust_cone_violation(prog, V, W) > 0
    assert np.all(robust_loss_bound(prog, V, W) > 0.5 * (np.abs(X[:, 0] * 0.5 + 0.7 - y)) ** 2)


def test_bound_function_matches_cvxpy_expression_at_arbitrary_points():
    for loss in LOSSES:
        for norm in NORMS:
            prog = build(loss, eps=0.3, norm=norm, bias=True, seed=9)
            rng = np.random.default_rng(1)
            V = rng.standard_normal(prog.variables["V"].shape)
            W = rng.standard_normal(prog.variables["W"].shape)
            prog.variables["V"].value, prog.variables["W"].value = V, W
            bound = robust_loss_bound(prog)
            np.testing.assert_allclose(bound.sum(), float(prog.loss_term.value), rtol=1e-10)
            np.testing.assert_allclose(
                robust_loss_bound(prog, V, W, eps=0.0).sum(),
                loss_value(prog.predictions(), prog.y, loss),
                rtol=1e-10,
            )
            # larger radius, larger bound (strictly in total, for a random nonzero point)
            larger = robust_loss_bound(prog, V, W, eps=0.6)
            assert np.all(larger >= bound) and larger.sum() > bound.sum()


# ----------------------------------------------------------------------------- solvers
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("loss", LOSSES)
def test_clarabel_ecos_scs_agree(loss, norm):
    values = {}
    for solver in ("CLARABEL", "ECOS", "SCS"):
        prog = build(loss, eps=EPS[norm], norm=norm, bias=True, seed=13, n_patterns=10)
        values[solver] = prog.solve(solver, **SOLVER_OPTS[solver])
        assert prog.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE), (solver, prog.status)
    ref = values["CLARABEL"]
    for solver, value in values.items():
        assert rel_gap(value, ref) < SOLVER_RTOL[solver], (solver, value, ref)


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("eps", [-0.1, np.nan, np.inf, "0.1", None, True, [0.1]])
def test_bad_eps_is_a_clear_error(eps):
    with pytest.raises(InvalidInputError, match="eps"):
        build("hinge", eps=eps)


@pytest.mark.parametrize("norm", [3, 0, -np.inf, 2.5, "l2", "two", None, True, "Inf "])
def test_bad_norm_is_a_clear_error(norm):
    with pytest.raises(InvalidInputError, match="norm"):
        build("hinge", eps=0.1, norm=norm)


def test_bad_labels_beta_and_patterns_are_clear_errors():
    X, y = make_data(0, "squared")
    patterns = sample_patterns(X, 8, random_state=0)
    with pytest.raises(InvalidInputError, match="labels"):
        robust_relu_program(X, y, patterns, beta=0.1, eps=0.1, loss="hinge")
    y01 = (y > 0).astype(float)
    with pytest.raises(InvalidInputError, match="labels"):
        robust_relu_program(X, y01, patterns, beta=0.1, eps=0.1, loss="logistic")
    with pytest.raises(InvalidInputError, match="beta"):
        robust_relu_program(X, y, patterns, beta=0.0, eps=0.1, loss="squared")
    with pytest.raises(InvalidInputError, match="loss"):
        robust_relu_program(X, y, patterns, beta=0.1, eps=0.1, loss="l1")
    with pytest.raises(InvalidInputError, match="patterns"):
        robust_relu_program(X, y, patterns.D, beta=0.1, eps=0.1, loss="squared")
    with pytest.raises(InvalidInputError, match="rows"):
        robust_relu_program(X[:-1], y[:-1], patterns, beta=0.1, eps=0.1, loss="squared")


def test_bound_helpers_refuse_bad_calls():
    prog = build("hinge", eps=0.1)
    with pytest.raises(NotSolvedError):
        robust_loss_bound(prog)
    shape = prog.variables["V"].shape
    with pytest.raises(InvalidInputError, match="shape"):
        robust_loss_bound(prog, np.zeros((shape[0] + 1, shape[1])), np.zeros(shape))
    with pytest.raises(InvalidInputError, match="eps"):
        robust_loss_bound(prog, np.zeros(shape), np.zeros(shape), eps=-1.0)
    with pytest.raises(InvalidInputError, match="norm"):
        robust_cone_violation(prog, np.zeros(shape), np.zeros(shape), norm=3)
    X, y = make_data(0, "hinge")
    nominal = relu_program(X, y, sample_patterns(X, 8, random_state=0), beta=0.1, loss="hinge")
    nominal.solve()
    with pytest.raises(InvalidInputError, match="eps"):
        robust_loss_bound(nominal)
    with pytest.raises(CvxnnError):
        robust_loss_bound("not a program")
