"""Program builders: recovery identity, optimality relations, solver matrix, DPP, bad input."""

from __future__ import annotations

import itertools

import cvxpy as cp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cvxnn
from cvxnn import (
    ActivationPatterns,
    CvxnnError,
    InvalidInputError,
    SolverUnavailableError,
    enumerate_patterns,
    gated_relu_program,
    relu_program,
    sample_patterns,
    scp_program,
)

LOSSES = ("squared", "logistic", "hinge")
# relative objective tolerance per solver (interior point vs first-order)
SOLVER_RTOL = {"CLARABEL": 1e-6, "ECOS": 1e-5, "SCS": 2e-3, "OSQP": 2e-3, "GUROBI": 1e-5}


def make_data(seed: int, n: int = 12, d: int = 3, loss: str = "squared"):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if loss == "squared":
        y = np.tanh(X @ rng.standard_normal(d)) + 0.1 * rng.standard_normal(n)
    else:
        y = np.where(X[:, 0] * X[:, -1] + 0.2 >= 0, 1.0, -1.0)
    return X, y


def build(kind: str, X, y, loss, *, bias=False, seed=0, n_patterns=20, beta=0.1):
    patterns = sample_patterns(X, n_patterns, random_state=seed, bias=bias)
    if kind == "relu":
        return relu_program(X, y, patterns, beta=beta, loss=loss)
    if kind == "gated_relu":
        return gated_relu_program(X, y, patterns, beta=beta, loss=loss)
    return scp_program(X, y, patterns, beta=beta, loss=loss)


def relative_gap(a: float, b: float) -> float:
    return abs(a - b) / max(1.0, abs(b))


# ----------------------------------------------------------------------------- recovery identity
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("kind", ["relu", "scp"])
@pytest.mark.parametrize("bias", [False, True])
def test_recovery_identity_at_the_optimum(kind, loss, bias):
    X, y = make_data(1, loss=loss)
    prog = build(kind, X, y, loss, bias=bias)
    value = prog.solve()
    net = prog.network(prune_tol=0.0)
    assert net.objective(X, y, 0.1, loss) == pytest.approx(value, rel=1e-7, abs=1e-9)
    np.testing.assert_allclose(net.predict(X), prog.predictions(), rtol=1e-6, atol=1e-7)
    # default pruning changes the objective by no more than the pruned blocks' weight
    pruned = prog.network()
    assert pruned.n_neurons <= net.n_neurons
    assert pruned.objective(X, y, 0.1, loss) == pytest.approx(value, rel=1e-5, abs=1e-6)


@given(
    seed=st.integers(0, 10_000),
    loss=st.sampled_from(LOSSES),
    bias=st.booleans(),
    scale=st.floats(0.01, 10.0),
)
def test_recovery_identity_at_arbitrary_feasible_points(seed, loss, bias, scale):
    """For any feasible (V, W) the recovered network's (NC) objective equals the (CVX) objective."""
    X, y = make_data(seed, n=10, d=3, loss=loss)
    rng = np.random.default_rng(seed + 1)
    prog = build("relu", X, y, loss, bias=bias, seed=seed, n_patterns=12)
    G = prog.patterns.gates
    P = prog.n_patterns
    # nonnegative multiples of each pattern's own gate satisfy its cone constraint; zero some out
    cv = scale * rng.exponential(size=P) * (rng.random(P) < 0.7)
    cw = scale * rng.exponential(size=P) * (rng.random(P) < 0.7)
    prog.variables["V"].value = G * cv
    prog.variables["W"].value = G * cw
    assert all(np.all(c.violation() <= 1e-9) for c in prog.problem.constraints)
    convex = prog.problem.objective.value
    net = prog.network(prune_tol=0.0)
    assert net.objective(X, y, 0.1, loss) == pytest.approx(convex, rel=1e-9, abs=1e-12)
    np.testing.assert_allclose(net.predict(X), prog.predictions(), rtol=1e-9, atol=1e-12)


@given(seed=st.integers(0, 10_000), loss=st.sampled_from(LOSSES), bias=st.booleans())
def test_scp_recovery_identity_at_arbitrary_points(seed, loss, bias):
    X, y = make_data(seed, n=10, d=3, loss=loss)
    prog = build("scp", X, y, loss, bias=bias, seed=seed, n_patterns=15)
    a = np.random.default_rng(seed).standard_normal(prog.n_patterns)
    prog.variables["a"].value = a
    net = prog.network(prune_tol=0.0)
    assert net.objective(X, y, 0.1, loss) == pytest.approx(prog.problem.objective.value, rel=1e-9)


@pytest.mark.parametrize("loss", LOSSES)
def test_gated_network_reproduces_the_convex_model(loss):
    X, y = make_data(2, loss=loss)
    prog = build("gated_relu", X, y, loss, bias=True)
    value = prog.solve()
    net = prog.network(prune_tol=0.0)
    assert isinstance(net, cvxnn.GatedReLUNetwork)
    np.testing.assert_allclose(net.predict(X), prog.predictions(), rtol=1e-7, atol=1e-8)
    assert net.objective(X, y, 0.1, loss) == pytest.approx(value, rel=1e-7, abs=1e-9)


# ----------------------------------------------------------------------------- optimality relations
@pytest.mark.parametrize("loss", LOSSES)
def test_sampled_optimum_is_above_exact_and_more_patterns_never_raise_it(loss):
    X, y = make_data(3, n=10, d=2, loss=loss)
    exact = relu_program(X, y, enumerate_patterns(X), beta=0.1, loss=loss).solve()
    patterns = sample_patterns(X, 2, random_state=0)
    values = []
    for seed in range(1, 6):
        values.append(relu_program(X, y, patterns, beta=0.1, loss=loss).solve())
        patterns = patterns.union(sample_patterns(X, 3, random_state=seed))
    tol = 1e-6
    assert all(v >= exact - tol for v in values)
    assert all(b <= a + tol for a, b in itertools.pairwise(values))
    assert values[0] > exact + 1e-4  # two patterns are not enough here: the test can fail


@pytest.mark.parametrize("loss", LOSSES)
def test_gated_relaxation_lower_bounds_relu(loss):
    X, y = make_data(4, loss=loss)
    patterns = sample_patterns(X, 15, random_state=0)
    relu = relu_program(X, y, patterns, beta=0.1, loss=loss).solve()
    gated = gated_relu_program(X, y, patterns, beta=0.1, loss=loss).solve()
    assert gated <= relu + 1e-7


def _nc_objective_and_grad(U, b, alpha, X, y, beta):
    H = X @ U + b
    A = (H > 0).astype(float)
    r = np.maximum(H, 0) @ alpha - y
    obj = 0.5 * r @ r + 0.5 * beta * (np.sum(U**2) + b @ b + alpha @ alpha)
    M = (r[:, None] * A) * alpha[None, :]
    return obj, (X.T @ M + beta * U, M.sum(0) + beta * b, np.maximum(H, 0).T @ r + beta * alpha)


@pytest.mark.parametrize("bias", [False, True])
def test_exact_optimum_is_global_for_the_nonconvex_problem(bias):
    """Gradient descent and random perturbations from the recovered network never beat the exact optimum."""
    rng = np.random.default_rng(21)
    X = rng.standard_normal((9, 2))
    y = np.maximum(X @ np.array([1.0, -1.0]), 0) - np.maximum(X @ np.array([0.5, 1.0]), 0)
    y = y + 0.1 * rng.standard_normal(9)
    beta = 0.05
    prog = relu_program(X, y, enumerate_patterns(X, bias=bias), beta=beta)
    opt = prog.solve(tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    net = prog.network()
    tol = 1e-6 * max(1.0, opt)
    U, b, alpha = np.array(net.U), np.array(net.b), np.array(net.alpha)
    assert _nc_objective_and_grad(U, b, alpha, X, y, beta)[0] == pytest.approx(opt, rel=1e-6)
    for _ in range(300):
        obj, (gU, gb, ga) = _nc_objective_and_grad(U, b, alpha, X, y, beta)
        assert obj >= opt - tol
        U, alpha = U - 1e-2 * gU, alpha - 1e-2 * ga
        if bias:
            b = b - 1e-2 * gb
    base = (np.array(net.U), np.array(net.b), np.array(net.alpha))
    for scale in (1e-3, 1e-2, 1e-1, 1.0):
        for _ in range(50):
            U = base[0] + scale * rng.standard_normal(base[0].shape)
            b = base[1] + (scale * rng.standard_normal(base[1].shape) if bias else 0)
            alpha = base[2] + scale * rng.standard_normal(base[2].shape)
            assert _nc_objective_and_grad(U, b, alpha, X, y, beta)[0] >= opt - tol


# ----------------------------------------------------------------------------- solver matrix
def _skip_unusable(solver: str) -> None:
    if solver == "MOSEK":
        usable, reason = cvxnn.mosek_status()
        if not usable:
            pytest.skip(f"MOSEK not usable here: {reason}")
    elif solver not in cvxnn.usable_solvers():
        pytest.skip(f"{solver} is not installed")


CONIC = ["CLARABEL", "ECOS", "SCS", "MOSEK"]


@pytest.mark.parametrize("solver", CONIC)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("kind", ["relu", "gated_relu", "scp"])
def test_solvers_agree_with_clarabel(kind, loss, solver):
    _skip_unusable(solver)
    X, y = make_data(5, loss=loss)
    prog = build(kind, X, y, loss, bias=True, n_patterns=10)
    reference = prog.solve("CLARABEL")
    kwargs = {"eps": 1e-7} if solver == "SCS" else {}
    value = prog.solve(solver, **kwargs)
    assert prog.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)
    assert relative_gap(value, reference) <= SOLVER_RTOL.get(solver, 1e-5)
    # the recovered network is as good as the solver's objective
    net_obj = prog.network(prune_tol=0.0).objective(X, y, 0.1, loss)
    assert relative_gap(net_obj, value) <= 10 * SOLVER_RTOL.get(solver, 1e-5)


@pytest.mark.parametrize("loss", ["squared", "hinge"])
def test_osqp_solves_scp_qp_and_lp(loss):
    X, y = make_data(6, loss=loss)
    prog = build("scp", X, y, loss, n_patterns=10)
    assert prog.problem.is_qp()
    assert "OSQP" in prog.compatible_solvers()
    reference = prog.solve("CLARABEL")
    value = prog.solve("OSQP", eps_abs=1e-9, eps_rel=1e-9, max_iter=200_000)
    assert relative_gap(value, reference) <= SOLVER_RTOL["OSQP"]


def test_osqp_is_not_offered_for_second_order_cone_programs():
    X, y = make_data(6)
    prog = build("relu", X, y, "squared")
    assert not prog.problem.is_qp()
    assert "OSQP" not in prog.compatible_solvers()
    assert "CLARABEL" in prog.compatible_solvers()


def test_unknown_or_missing_solver_lists_the_usable_ones():
    X, y = make_data(7)
    prog = build("relu", X, y, "squared")
    with pytest.raises(SolverUnavailableError, match="CLARABEL") as info:
        prog.solve("NOT_A_SOLVER")
    assert "is not a solver CVXPY knows" in str(info.value)
    assert prog.status is None  # nothing ran
    if "CPLEX" not in cvxnn.usable_solvers():
        with pytest.raises(SolverUnavailableError, match="not installed"):
            prog.solve("cplex")


def test_mosek_gives_a_clear_error_when_unusable():
    usable, _reason = cvxnn.mosek_status()
    if usable:
        pytest.skip("MOSEK is licensed here; the unusable path cannot be exercised")
    X, y = make_data(7)
    with pytest.raises(SolverUnavailableError, match="MOSEK"):
        build("relu", X, y, "squared").solve("MOSEK")


# ----------------------------------------------------------------------------- DPP / summary
def test_beta_is_a_dpp_parameter_and_a_path_matches_fresh_builds():
    X, y = make_data(8)
    patterns = sample_patterns(X, 10, random_state=0)
    prog = relu_program(X, y, patterns, beta=1.0)
    assert prog.problem.is_dcp(dpp=True)
    assert isinstance(prog.beta, cp.Parameter) and prog.beta.is_nonneg()
    prog.solve()
    compiled = prog.problem._cache.param_prog
    assert compiled is not None
    for beta in (0.3, 0.05):
        prog.beta.value = beta
        path_value = prog.solve()
        assert prog.problem._cache.param_prog is compiled  # re-solved without recompiling
        fresh = relu_program(X, y, patterns, beta=beta).solve()
        assert path_value == pytest.approx(fresh, rel=1e-6)


def test_summary_and_repr_describe_the_program():
    X, y = make_data(9, loss="logistic")
    prog = build("relu", X, y, "logistic", bias=True)
    text = prog.summary()
    for fragment in ("relu", "n=12", "d=3", "bias", f"P={prog.n_patterns}", "logistic", "DPP True", "V (4,"):
        assert fragment in text
    assert "kind='relu'" in repr(prog)
    assert "sampled gates" in build("scp", X, y, "logistic").summary()


def test_programs_are_vectorized():
    """Constraint count does not grow with patterns or samples: one cone per block matrix."""
    X, y = make_data(10, n=40)
    prog = build("relu", X, y, "squared", n_patterns=60)
    assert len(prog.problem.constraints) == 2
    assert sum(c.size for c in prog.problem.constraints) == 2 * 40 * prog.n_patterns


def test_network_before_solve_is_a_clear_error():
    X, y = make_data(11)
    with pytest.raises(cvxnn.NotSolvedError, match="solve the program first"):
        build("relu", X, y, "squared").network()


# ----------------------------------------------------------------------------- bad input
def _patterns(n=6, d=2):
    return sample_patterns(np.random.default_rng(0).standard_normal((n, d)), 5, random_state=0)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 3, np.nan, X), y), "non-finite"),
        (lambda X, y: (np.where(np.arange(X.size).reshape(X.shape) == 3, np.inf, X), y), "non-finite"),
        (lambda X, y: (X, np.r_[y[:-1], np.nan]), "non-finite"),
        (lambda X, y: (X, y[:-1]), "disagree on the number of samples"),
        (lambda X, y: (X[:, 0], y), "2-D"),
        (lambda X, y: (X, np.c_[y, y]), "1-D"),
        (lambda X, y: (X.astype(str).astype(object) + "x", y), "numeric"),
    ],
)
def test_bad_data_is_refused_before_solving(mutate, match):
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((6, 2)), rng.standard_normal(6)
    Xb, yb = mutate(X, y)
    with pytest.raises(InvalidInputError, match=match):
        relu_program(Xb, yb, _patterns(), beta=0.1)


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
@pytest.mark.parametrize("labels", [[0, 1, 0, 1, 1, 0], [1, 2, 1, 2, 1, 2], [-1, 1, 0.5, 1, -1, 1]])
def test_labels_outside_plus_minus_one_are_refused(loss, labels):
    X = np.random.default_rng(0).standard_normal((6, 2))
    with pytest.raises(InvalidInputError, match=r"labels in \{-1, \+1\}"):
        relu_program(X, np.array(labels, dtype=float), _patterns(), beta=0.1, loss=loss)


@pytest.mark.parametrize("beta", [0, -1.0, np.nan, np.inf, "0.1", None, True])
def test_bad_beta(beta):
    X = np.random.default_rng(0).standard_normal((6, 2))
    with pytest.raises(InvalidInputError, match="beta"):
        relu_program(X, np.ones(6), _patterns(), beta=beta)


@pytest.mark.parametrize("loss", ["l2", "Squared", None, 3])
def test_unknown_loss(loss):
    X = np.random.default_rng(0).standard_normal((6, 2))
    with pytest.raises(InvalidInputError, match="Unknown loss"):
        relu_program(X, np.ones(6), _patterns(), beta=0.1, loss=loss)


def test_patterns_must_belong_to_the_data():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 2))
    with pytest.raises(InvalidInputError, match="ActivationPatterns"):
        relu_program(X, np.ones(6), np.ones((6, 3), dtype=bool), beta=0.1)
    with pytest.raises(InvalidInputError, match="samples"):
        relu_program(X, np.ones(6), sample_patterns(X[:5], 3, random_state=0), beta=0.1)
    with pytest.raises(InvalidInputError, match="do not match X"):
        relu_program(-X, np.ones(6), sample_patterns(X, 8, random_state=0), beta=0.1)
    no_bias = sample_patterns(X, 3, random_state=0)
    wrong_width = ActivationPatterns(D=no_bias.D, gates=np.ones((5, no_bias.n_patterns)))
    with pytest.raises(InvalidInputError, match="columns"):
        gated_relu_program(X, np.ones(6), wrong_width, beta=0.1)
    with pytest.raises(InvalidInputError, match="at least one pattern"):
        ActivationPatterns(D=np.zeros((6, 0), dtype=bool))


def test_bad_scp_gates():
    X = np.random.default_rng(0).standard_normal((6, 2))
    with pytest.raises(InvalidInputError, match="rows"):
        scp_program(X, np.ones(6), np.ones((3, 4)), beta=0.1)
    with pytest.raises(InvalidInputError, match="zero column"):
        scp_program(X, np.ones(6), np.zeros((2, 4)), beta=0.1)
    with pytest.raises(InvalidInputError, match="N >= 1"):
        scp_program(X, np.ones(6), np.zeros((2, 0)), beta=0.1)
    with pytest.raises(InvalidInputError, match="contradicts"):
        scp_program(X, np.ones(6), sample_patterns(X, 3, random_state=0), beta=0.1, bias=True)


def test_every_error_is_a_cvxnn_value_error():
    for exc in (InvalidInputError, SolverUnavailableError, cvxnn.UnsupportedProblemError):
        assert issubclass(exc, CvxnnError) and issubclass(exc, ValueError)


@pytest.mark.parametrize("kind", ["relu", "scp"])
@pytest.mark.parametrize("solver", ["GUROBI", "HIGHS"])
def test_bounded_variable_solvers_get_no_wrong_implied_bounds(kind, solver):
    """CVXPY 1.9 derives wrong implied bounds for hinge programs; cvxnn's solve path avoids them."""
    _skip_unusable(solver)
    if solver == "HIGHS" and kind == "relu":
        pytest.skip("HiGHS takes no second-order cones")
    X, y = make_data(12, n=15, loss="hinge")
    prog = build(kind, X, y, "hinge", n_patterns=6)
    reference = prog.solve("CLARABEL")
    assert relative_gap(prog.solve(solver), reference) <= 1e-5


def test_gurobi_over_its_size_limited_license_says_so():
    """CVXPY reports only "Solver 'GUROBI' failed"; cvxnn names the license limit and the sizes."""
    _skip_unusable("GUROBI")
    X, y = make_data(13, n=300)
    prog = build("relu", X, y, "squared", n_patterns=20)  # 12 000 cone rows: over 2000
    try:
        prog.solve("GUROBI")
    except SolverUnavailableError as exc:
        message = str(exc)
    else:
        pytest.skip("the GUROBI license here is not size-limited")
    assert "size-limited license" in message and "linear" in message and "method=cvxnn.ADMM" in message
