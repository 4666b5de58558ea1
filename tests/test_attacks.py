"""Tests of cvxnn.attacks: ball constraints, closed-form gradients, attack ordering, errors."""

from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from cvxnn._validation import check_norm
from cvxnn.attacks import (
    _project,
    _random_in_ball,
    fgsm,
    input_gradient,
    pgd,
    robust_accuracy,
    worst_case_loss,
)
from cvxnn.exceptions import CvxnnError, InvalidInputError
from cvxnn.losses import loss_per_sample
from cvxnn.recovery import GatedReLUNetwork, ReLUNetwork

NORMS = {"inf": np.inf, np.inf: np.inf, 2: 2, 1: 1}
LOSSES = ("squared", "hinge", "logistic")


def _dist(X_adv: np.ndarray, X: np.ndarray, norm) -> np.ndarray:
    return np.linalg.norm(X_adv - X, ord=NORMS[norm], axis=1)


@pytest.fixture
def relu_setup():
    rng = np.random.default_rng(7)
    d, m, n = 5, 9, 30
    net = ReLUNetwork(U=rng.standard_normal((d, m)), b=rng.standard_normal(m), alpha=rng.standard_normal(m))
    X = rng.standard_normal((n, d))
    y = np.where(rng.standard_normal(n) >= 0, 1.0, -1.0)
    return net, X, y


@pytest.fixture
def gated_setup():
    rng = np.random.default_rng(8)
    d, m, n = 4, 6, 25
    net = GatedReLUNetwork(
        gates=rng.standard_normal((d + 1, m)), U=rng.standard_normal((d + 1, m)), bias=True
    )
    X = rng.standard_normal((n, d))
    y = np.where(rng.standard_normal(n) >= 0, 1.0, -1.0)
    return net, X, y


# ----------------------------------------------------------------------------- ball constraints
@pytest.mark.parametrize("norm", ["inf", np.inf, 2, 1])
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("eps", [0.05, 0.7])
def test_every_attack_stays_in_ball(relu_setup, norm, loss, eps):
    net, X, y = relu_setup
    tol = eps * 1e-12 + 1e-14
    adv = {
        "fgsm": fgsm(net, X, y, eps=eps, norm=norm, loss=loss),
        "pgd": pgd(net, X, y, eps=eps, norm=norm, loss=loss, steps=20, restarts=3, random_state=0),
        # a huge step size makes every raw step leave the ball: only the projection keeps it in
        "pgd-big-step": pgd(
            net, X, y, eps=eps, norm=norm, loss=loss, steps=5, step_size=10.0, random_state=1
        ),
    }
    for name, X_adv in adv.items():
        assert X_adv.shape == X.shape, name
        assert np.all(_dist(X_adv, X, norm) <= eps + tol), name


@pytest.mark.parametrize("norm", ["inf", 2, 1])
def test_fgsm_uses_the_whole_radius(relu_setup, norm):
    net, X, y = relu_setup
    X_adv = fgsm(net, X, y, eps=0.3, norm=norm, loss="hinge")
    np.testing.assert_allclose(_dist(X_adv, X, norm), 0.3, rtol=1e-12)


@pytest.mark.parametrize("norm", ["inf", 2, 1])
def test_random_starts_are_inside_and_fill_the_ball(norm):
    rng = np.random.default_rng(0)
    delta = _random_in_ball(rng, (4000, 3), 0.5, check_norm(norm))
    r = np.linalg.norm(delta, ord=NORMS[norm], axis=1)
    assert np.all(r <= 0.5 + 1e-15)
    # uniform in a 3-D ball: P(r <= eps/2) = 1/8
    assert abs(np.mean(r <= 0.25) - 0.125) < 0.03
    assert np.all(np.abs(delta.mean(axis=0)) < 0.05)


@pytest.mark.parametrize("norm", ["inf", 2, 1])
def test_projection_is_the_euclidean_projection(norm):
    rng = np.random.default_rng(3)
    D = 2.0 * rng.standard_normal((6, 4))
    D[0] *= 0.01  # already inside: must be unchanged
    P = _project(D, 0.8, check_norm(norm))
    np.testing.assert_array_equal(P[0], D[0])
    for k in range(D.shape[0]):
        z = cp.Variable(4)
        cp.Problem(cp.Minimize(cp.sum_squares(z - D[k])), [cp.norm(z, NORMS[norm]) <= 0.8]).solve(
            solver="CLARABEL"
        )
        np.testing.assert_allclose(P[k], z.value, atol=1e-6)


# ----------------------------------------------------------------------------- gradients
def _central_fd(net, X, y, loss, h=1e-6):
    G = np.zeros_like(X)
    for j in range(X.shape[1]):
        E = np.zeros_like(X)
        E[:, j] = h
        G[:, j] = (
            loss_per_sample(net.predict(X + E), y, loss) - loss_per_sample(net.predict(X - E), y, loss)
        ) / (2 * h)
    return G


@pytest.mark.parametrize("loss", LOSSES)
def test_input_gradient_matches_finite_differences_relu(relu_setup, loss):
    net, X, y = relu_setup
    # keep points away from kinks of the ReLUs and of the hinge, where the gradient is not unique
    far = np.min(np.abs(net.hidden(X)), axis=1) > 1e-3
    if loss == "hinge":
        far &= np.abs(y * net.predict(X) - 1) > 1e-3
    assert far.sum() >= 10
    X, y = X[far], y[far]
    G = input_gradient(net, X, y, loss)
    np.testing.assert_allclose(G, _central_fd(net, X, y, loss), rtol=1e-5, atol=1e-6)
    assert np.linalg.norm(G) > 1e-2  # not vacuous


@pytest.mark.parametrize("loss", LOSSES)
def test_input_gradient_matches_finite_differences_gated(gated_setup, loss):
    net, X, y = gated_setup
    Xa = np.hstack([X, np.ones((X.shape[0], 1))])
    far = np.min(np.abs(Xa @ net.gates), axis=1) > 1e-3
    if loss == "hinge":
        far &= np.abs(y * net.predict(X) - 1) > 1e-3
    X, y = X[far], y[far]
    G = input_gradient(net, X, y, loss)
    np.testing.assert_allclose(G, _central_fd(net, X, y, loss), rtol=1e-5, atol=1e-6)
    assert np.linalg.norm(G) > 1e-2


# ----------------------------------------------------------------------------- attack strength
@pytest.mark.parametrize("norm", ["inf", 2, 1])
@pytest.mark.parametrize("loss", LOSSES)
def test_pgd_loss_at_least_fgsm_and_clean_per_point(relu_setup, norm, loss):
    net, X, y = relu_setup
    for eps in (0.1, 0.5):
        clean = loss_per_sample(net.predict(X), y, loss)
        l_fgsm = worst_case_loss(net, X, y, eps=eps, norm=norm, loss=loss, attack="fgsm")
        l_pgd = worst_case_loss(net, X, y, eps=eps, norm=norm, loss=loss, steps=10, random_state=0)
        assert np.all(l_pgd >= l_fgsm)
        assert np.all(l_pgd >= clean)
        assert l_pgd.sum() > clean.sum()  # the attack does something


def test_pgd_on_gated_network(gated_setup):
    net, X, y = gated_setup
    X_adv = pgd(net, X, y, eps=0.2, norm=2, loss="logistic", restarts=2, random_state=0)
    assert np.all(_dist(X_adv, X, 2) <= 0.2 + 1e-12)
    l_f = worst_case_loss(net, X, y, eps=0.2, norm=2, loss="logistic", attack="fgsm")
    l_p = loss_per_sample(net.predict(X_adv), y, "logistic")
    assert np.all(l_p >= l_f)


@pytest.mark.parametrize("norm,q", [("inf", 1), (2, 2), (1, np.inf)])
@pytest.mark.parametrize("loss", LOSSES)
def test_pgd_attains_the_exact_worst_case_on_a_linear_region(norm, q, loss):
    # Large positive hidden biases keep every neuron active on the whole ball, so f is affine
    # there: f(x) = x^T w + c with w = U alpha, and the worst case is known in closed form
    # through the dual norm (docs/math.md): margin y f(x) - eps ||w||_q, residual |f - y| + eps ||w||_q.
    rng = np.random.default_rng(11)
    d, m, n, eps = 4, 3, 12, 0.3
    U = rng.standard_normal((d, m))
    net = ReLUNetwork(U=U, b=np.full(m, 50.0), alpha=rng.standard_normal(m))
    X = rng.standard_normal((n, d))
    y = np.where(rng.standard_normal(n) >= 0, 1.0, -1.0)
    w = U @ net.alpha
    f = net.predict(X)
    bound = eps * np.linalg.norm(w, ord=q)
    if loss == "squared":
        exact = 0.5 * (np.abs(f - y) + bound) ** 2
    else:
        exact = loss_per_sample(f - y * bound, y, loss)
    got = worst_case_loss(net, X, y, eps=eps, norm=norm, loss=loss, steps=30, random_state=0)
    np.testing.assert_allclose(got, exact, rtol=1e-10, atol=1e-12)


def test_pgd_beats_fgsm_somewhere_on_a_nonlinear_network(relu_setup):
    net, X, y = relu_setup
    l_f = worst_case_loss(net, X, y, eps=0.8, norm="inf", loss="hinge", attack="fgsm")
    l_p = worst_case_loss(net, X, y, eps=0.8, norm="inf", loss="hinge", restarts=3, random_state=0)
    assert np.any(l_p > l_f + 1e-6)


def test_pgd_is_seeded(relu_setup):
    net, X, y = relu_setup
    a = pgd(net, X, y, eps=0.5, norm=2, steps=5, restarts=4, random_state=42)
    b = pgd(net, X, y, eps=0.5, norm=2, steps=5, restarts=4, random_state=42)
    np.testing.assert_array_equal(a, b)


def test_more_restarts_never_lower_the_loss(relu_setup):
    # the first restart is deterministic (FGSM start), later ones only add candidates
    net, X, y = relu_setup
    one = worst_case_loss(net, X, y, eps=0.5, norm="inf", loss="logistic", steps=10, restarts=1)
    many = worst_case_loss(
        net, X, y, eps=0.5, norm="inf", loss="logistic", steps=10, restarts=5, random_state=0
    )
    assert np.all(many >= one)


def test_eps_zero_returns_the_clean_points(relu_setup):
    net, X, y = relu_setup
    np.testing.assert_array_equal(pgd(net, X, y, eps=0.0), X)
    np.testing.assert_array_equal(fgsm(net, X, y, eps=0.0), X)


# ----------------------------------------------------------------------------- robust accuracy
@pytest.mark.parametrize("norm", ["inf", 2])
@pytest.mark.parametrize("attack", ["pgd", "fgsm"])
def test_robust_accuracy_at_most_clean_and_monotone_in_eps(relu_setup, norm, attack):
    net, X, y = relu_setup
    clean = float(np.mean(y * net.predict(X) > 0))
    assert robust_accuracy(net, X, y, eps=0.0, norm=norm, attack=attack) == clean
    accs = [robust_accuracy(net, X, y, eps=e, norm=norm, attack=attack) for e in (0.05, 0.3, 1.0, 3.0)]
    assert all(a <= clean for a in accs)
    assert accs[-1] < clean  # large balls break some correct points
    if attack == "pgd":
        # not a theorem for a heuristic attack, but PGD at a 20x larger ball should never do worse here
        assert accs[0] >= accs[-1]


def test_robust_accuracy_counts_a_misclassified_clean_point_as_wrong():
    # f(x) = 10 relu(x) - relu(-x) on 1-D, x = -0.1 with label +1: misclassified (f = -0.1).
    # The squared-loss attack maximizes |f - y| and finds x = 0.4 (f = 4, |f - y| = 3), which is
    # classified correctly; the point must still count as wrong because its clean prediction is.
    net = ReLUNetwork(U=np.array([[1.0, -1.0]]), b=np.zeros(2), alpha=np.array([10.0, -1.0]))
    X, y = np.array([[-0.1]]), np.array([1.0])
    kw = dict(eps=0.5, loss="squared", restarts=10, random_state=0)
    assert net.predict(pgd(net, X, y, **kw))[0] > 0  # the attacked point alone looks correct
    assert robust_accuracy(net, X, y, **kw) == 0.0


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"eps": -0.1}, "eps"),
        ({"eps": float("nan")}, "eps"),
        ({"eps": 0.1, "norm": 3}, "norm"),
        ({"eps": 0.1, "norm": "l2"}, "norm"),
        ({"eps": 0.1, "loss": "mse"}, "loss"),
        ({"eps": 0.1, "steps": 0}, "steps"),
        ({"eps": 0.1, "steps": 2.5}, "steps"),
        ({"eps": 0.1, "restarts": 0}, "restarts"),
        ({"eps": 0.1, "step_size": 0.0}, "step_size"),
        ({"eps": 0.1, "step_size": "big"}, "step_size"),
        ({"eps": 0.1, "random_state": "seed"}, "random_state"),
    ],
)
def test_pgd_rejects_bad_settings(relu_setup, kwargs, match):
    net, X, y = relu_setup
    with pytest.raises(InvalidInputError, match=match):
        pgd(net, X, y, **kwargs)


def test_bad_inputs_raise_cvxnn_errors(relu_setup):
    net, X, y = relu_setup
    with pytest.raises(InvalidInputError, match="ReLUNetwork"):
        fgsm(object(), X, y, eps=0.1)
    with pytest.raises(InvalidInputError, match="features"):
        pgd(net, X[:, :3], y, eps=0.1)
    with pytest.raises(InvalidInputError, match="samples"):
        fgsm(net, X, y[:-1], eps=0.1)
    with pytest.raises(InvalidInputError, match="non-finite"):
        pgd(net, np.full_like(X, np.nan), y, eps=0.1)
    with pytest.raises(InvalidInputError, match="labels"):
        pgd(net, X, 2 * y, eps=0.1, loss="hinge")
    with pytest.raises(InvalidInputError, match="labels"):
        robust_accuracy(net, X, np.zeros_like(y), eps=0.1)
    with pytest.raises(InvalidInputError, match="attack"):
        robust_accuracy(net, X, y, eps=0.1, attack="cw")
    with pytest.raises(InvalidInputError, match="fgsm takes no"):
        worst_case_loss(net, X, y, eps=0.1, attack="fgsm", steps=3)
    with pytest.raises(CvxnnError):
        input_gradient(net, X, y, loss="absolute")
    # cvxnn errors are ValueErrors too
    with pytest.raises(ValueError):
        fgsm(net, X, y, eps=0.1, norm=0)
