"""Tests of cvxnn.baselines: Adam, PGD-AT and FGSM-AT for the non-convex two-layer network."""

from __future__ import annotations

import numpy as np
import pytest

from cvxnn.attacks import robust_accuracy
from cvxnn.baselines import _gradient, _init, train_adam, train_fgsm_at, train_pgd_at
from cvxnn.exceptions import InvalidInputError
from cvxnn.losses import loss_value
from cvxnn.patterns import enumerate_patterns
from cvxnn.programs import relu_program
from cvxnn.recovery import ReLUNetwork

LOSSES = ("hinge", "logistic", "squared")


def _toy(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """One robust feature (margin 1, small noise) and nine weak, noisy, non-robust features."""
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    X = np.empty((n, 10))
    X[:, 0] = y + 0.3 * rng.standard_normal(n)
    X[:, 1:] = 0.25 * y[:, None] + 0.5 * rng.standard_normal((n, 9))
    return X, y


@pytest.fixture
def toy():
    return _toy(60, 0)


# ----------------------------------------------------------------------------- gradients
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("bias", [True, False])
def test_objective_gradient_matches_finite_differences(loss, bias):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((15, 4))
    y = np.where(rng.standard_normal(15) >= 0, 1.0, -1.0)
    params = _init(4, 6, bias, rng)
    beta, scale = 0.3, 1.7
    grads = _gradient(params, X, y, beta, loss, bias, scale=scale)

    def objective(p):  # scale * loss + (beta / 2) ||theta||^2: the NC objective at scale = 1
        net = ReLUNetwork(**p)
        reg = 0.5 * sum(np.sum(v**2) for v in p.values())
        return scale * loss_value(net.predict(X), y, loss) + beta * reg

    h = 1e-6
    for name in ("U", "b", "alpha"):
        if name == "b" and not bias:
            np.testing.assert_array_equal(grads["b"], 0.0)
            continue
        fd = np.zeros_like(params[name])
        for idx in np.ndindex(params[name].shape):
            plus = {k: v.copy() for k, v in params.items()}
            minus = {k: v.copy() for k, v in params.items()}
            plus[name][idx] += h
            minus[name][idx] -= h
            fd[idx] = (objective(plus) - objective(minus)) / (2 * h)
        # kinks (ReLU at 0, hinge at margin 1) are crossed with probability ~0 at h = 1e-6
        np.testing.assert_allclose(grads[name], fd, rtol=1e-5, atol=1e-5, err_msg=name)


# ----------------------------------------------------------------------------- training works
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("batch_size", [None, 16])
def test_trainers_reduce_their_training_objective(toy, loss, batch_size):
    X, y = toy
    common = dict(n_neurons=8, beta=0.05, loss=loss, epochs=40, batch_size=batch_size, random_state=0)
    runs = {
        "adam": train_adam(X, y, return_history=True, **common),
        "pgd": train_pgd_at(X, y, eps=0.2, attack_steps=5, return_history=True, **common),
        "fgsm": train_fgsm_at(X, y, eps=0.2, return_history=True, **common),
    }
    for name, (net, hist) in runs.items():
        obj = hist["objective"]
        assert isinstance(net, ReLUNetwork) and net.n_neurons == 8, name
        assert len(obj) == 41, name
        assert obj[-1] < 0.5 * obj[0], (name, obj[0], obj[-1])
        if name == "adam":
            np.testing.assert_allclose(obj[-1], net.objective(X, y, 0.05, loss), rtol=1e-12)


def test_adam_never_beats_the_global_optimum():
    # With every activation pattern the convex program's optimum is the global minimum of (NC)
    # over networks of any width (``docs/math.md``, "The programs"), so no local method can go below it.
    rng = np.random.default_rng(2)
    X = rng.standard_normal((10, 2))
    y = np.where(X[:, 0] * X[:, 1] >= 0, 1.0, -1.0)
    beta = 0.1
    for loss in ("squared", "hinge"):
        patterns = enumerate_patterns(X, bias=True)
        program = relu_program(X, y, patterns, beta=beta, loss=loss)
        optimum = program.solve()
        for seed in range(3):
            net = train_adam(X, y, n_neurons=12, beta=beta, loss=loss, epochs=400, random_state=seed)
            assert net.objective(X, y, beta, loss) >= optimum - 1e-6 * max(1.0, abs(optimum))


def test_training_is_seeded(toy):
    X, y = toy
    a = train_pgd_at(X, y, n_neurons=5, beta=0.1, eps=0.1, epochs=5, batch_size=20, random_state=3)
    b = train_pgd_at(X, y, n_neurons=5, beta=0.1, eps=0.1, epochs=5, batch_size=20, random_state=3)
    np.testing.assert_array_equal(a.U, b.U)
    np.testing.assert_array_equal(a.alpha, b.alpha)


def test_adversarial_training_at_eps_zero_is_adam(toy):
    X, y = toy
    kw = dict(n_neurons=6, beta=0.1, epochs=10, batch_size=16, random_state=4)
    ref = train_adam(X, y, **kw)
    for net in (train_pgd_at(X, y, eps=0.0, **kw), train_fgsm_at(X, y, eps=0.0, **kw)):
        np.testing.assert_array_equal(net.U, ref.U)
        np.testing.assert_array_equal(net.b, ref.b)
        np.testing.assert_array_equal(net.alpha, ref.alpha)


def test_no_bias_keeps_zero_biases(toy):
    X, y = toy
    net = train_adam(X, y, n_neurons=4, beta=0.1, epochs=5, bias=False, random_state=0)
    np.testing.assert_array_equal(net.b, 0.0)


def test_pgd_training_is_more_robust_than_plain_adam():
    # Plain training leans on the nine weak features, which an l_inf adversary with eps = 0.3
    # flips; PGD-AT learns to rely on the robust one. Measured over 8 seeds, the gap in robust
    # test accuracy was 0.13-0.32 for every seed; on 4 of them we assert each is better and the mean
    # gap exceeds 0.1.
    gaps = []
    for seed in range(4):
        X, y = _toy(100, seed)
        X_test, y_test = _toy(300, 100 + seed)
        kw = dict(n_neurons=8, beta=1e-2, epochs=60, random_state=seed)
        plain = train_adam(X, y, **kw)
        robust = train_pgd_at(X, y, eps=0.3, **kw)
        r_plain = robust_accuracy(plain, X_test, y_test, eps=0.3, norm="inf", random_state=0)
        r_robust = robust_accuracy(robust, X_test, y_test, eps=0.3, norm="inf", random_state=0)
        assert r_robust > r_plain, seed
        gaps.append(r_robust - r_plain)
    assert np.mean(gaps) > 0.1


# ----------------------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"n_neurons": 0}, "n_neurons"),
        ({"n_neurons": 2.5}, "n_neurons"),
        ({"beta": 0.0}, "beta"),
        ({"beta": -1.0}, "beta"),
        ({"epochs": 0}, "epochs"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": float("inf")}, "learning_rate"),
        ({"batch_size": 0}, "batch_size"),
        ({"loss": "mse"}, "loss"),
        ({"random_state": "x"}, "random_state"),
    ],
)
def test_bad_settings_raise(toy, kwargs, match):
    X, y = toy
    kw = dict(n_neurons=3, beta=0.1, epochs=2) | kwargs
    with pytest.raises(InvalidInputError, match=match):
        train_adam(X, y, **kw)


def test_bad_adversarial_settings_raise(toy):
    X, y = toy
    kw = dict(n_neurons=3, beta=0.1, epochs=2)
    with pytest.raises(InvalidInputError, match="eps"):
        train_pgd_at(X, y, eps=-0.1, **kw)
    with pytest.raises(InvalidInputError, match="norm"):
        train_fgsm_at(X, y, eps=0.1, norm="l2", **kw)
    with pytest.raises(InvalidInputError, match="attack_steps"):
        train_pgd_at(X, y, eps=0.1, attack_steps=0, **kw)
    with pytest.raises(InvalidInputError, match="step_size"):
        train_pgd_at(X, y, eps=0.1, attack_step_size=-1.0, **kw)
    with pytest.raises(InvalidInputError, match="labels"):
        train_adam(X, 2 * y, **kw)
    with pytest.raises(InvalidInputError, match="non-finite"):
        train_adam(np.full_like(X, np.inf), y, **kw)
    with pytest.raises(InvalidInputError, match="samples"):
        train_fgsm_at(X, y[:-2], eps=0.1, **kw)


# ----------------------------------------------------------------------------- schedules, starts, budgets
def test_cosine_schedule_and_initial_network(toy):
    X, y = toy
    first = train_adam(X, y, n_neurons=5, beta=0.1, epochs=60, lr_schedule="cosine", random_state=0)
    again = train_adam(X, y, n_neurons=99, beta=0.1, epochs=60, initial=first, random_state=1)
    assert again.n_neurons == first.n_neurons  # the start's width, not n_neurons
    assert again.objective(X, y, 0.1, "hinge") < first.objective(X, y, 0.1, "hinge")
    # the start is copied, not changed in place
    assert np.array_equal(
        first.U, train_adam(X, y, n_neurons=5, beta=0.1, epochs=60, lr_schedule="cosine", random_state=0).U
    )


def test_time_limit_shortens_the_run(toy):
    import time

    X, y = toy
    t = time.perf_counter()
    train_adam(X, y, n_neurons=5, beta=0.1, epochs=10**7, time_limit=0.3, random_state=0)
    assert time.perf_counter() - t < 5.0  # 10^7 steps would take hours


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr_schedule": "linear"}, "lr_schedule"),
        ({"dtype": "float16"}, "dtype"),
        ({"time_limit": 0.0}, "time_limit"),
        ({"initial": "net"}, "initial"),
        ({"initial": ReLUNetwork(U=np.ones((3, 2)), b=np.zeros(2), alpha=np.ones(2))}, "input dimension"),
    ],
)
def test_bad_schedule_start_or_budget(toy, kwargs, match):
    X, y = toy
    with pytest.raises(InvalidInputError, match=match):
        train_adam(X, y, n_neurons=5, beta=0.1, epochs=5, **kwargs)


def test_float32_training_tracks_float64(toy):
    X, y = toy
    kwargs = dict(n_neurons=5, beta=0.1, loss="squared", epochs=30, lr_schedule="cosine", random_state=0)
    double = train_adam(X, y, **kwargs)
    single = train_adam(X, y, **kwargs, dtype="float32")
    assert single.U.dtype == np.float64  # the network is float64 whatever the training precision
    # 30 steps in float32 stay close to the float64 iterates (no silent upcast or garbage)
    assert np.allclose(single.U, double.U, atol=1e-3)
    assert single.objective(X, y, 0.1, "squared") == pytest.approx(
        double.objective(X, y, 0.1, "squared"), rel=1e-3
    )
