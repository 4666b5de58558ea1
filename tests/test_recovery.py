"""ReLUNetwork / GatedReLUNetwork and the block-to-neuron recovery maps."""

from __future__ import annotations

import numpy as np
import pytest

import cvxnn
from cvxnn import GatedReLUNetwork, InvalidInputError, ReLUNetwork
from cvxnn.recovery import ObjectiveData, relu_network_from_blocks, relu_network_from_scp


def test_predict_and_objective_follow_the_definition():
    U = np.array([[1.0, -1.0], [0.5, 2.0]])
    b = np.array([0.1, -0.2])
    alpha = np.array([2.0, -1.0])
    net = ReLUNetwork(U=U, b=b, alpha=alpha)
    X = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    expected = np.maximum(X @ U + b, 0) @ alpha
    np.testing.assert_array_equal(net.predict(X), expected)
    y = np.array([1.0, -1.0, 0.5])
    reg = 0.5 * (np.sum(U**2) + np.sum(b**2) + np.sum(alpha**2))
    assert net.objective(X, y, 0.3) == pytest.approx(0.5 * np.sum((expected - y) ** 2) + 0.3 * reg)
    labels = np.array([1.0, -1.0, 1.0])
    margin = labels * expected
    assert net.objective(X, labels, 0.3, "hinge") == pytest.approx(
        np.maximum(0, 1 - margin).sum() + 0.3 * reg
    )
    assert net.objective(X, labels, 0.3, "logistic") == pytest.approx(
        np.log1p(np.exp(-margin)).sum() + 0.3 * reg
    )


def test_block_recovery_identity_and_signs():
    rng = np.random.default_rng(0)
    V, W = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    W[:, 1] = 0.0
    net = relu_network_from_blocks(V, W, prune_tol=0.0)
    assert net.n_neurons == 7  # the zero block is dropped
    assert np.sum(net.alpha > 0) == 4 and np.sum(net.alpha < 0) == 3
    norms = np.r_[np.linalg.norm(V, axis=0), np.linalg.norm(np.delete(W, 1, axis=1), axis=0)]
    # ||u||^2 + alpha^2 = 2 ||v|| for every neuron
    np.testing.assert_allclose(np.sum(net.U**2, axis=0) + net.alpha**2, 2 * norms)


def test_bias_row_becomes_the_hidden_bias():
    V = np.array([[3.0], [0.0], [4.0]])  # ||v|| = 5, last row is the bias entry
    net = relu_network_from_blocks(V, np.zeros((3, 1)), bias=True, prune_tol=0.0)
    np.testing.assert_allclose(net.U[:, 0], [3 / np.sqrt(5), 0.0])
    np.testing.assert_allclose(net.b, [4 / np.sqrt(5)])
    np.testing.assert_allclose(net.alpha, [np.sqrt(5)])
    X = np.array([[1.0, 2.0], [-3.0, 0.0]])
    np.testing.assert_allclose(net.predict(X), np.maximum(np.c_[X, np.ones(2)] @ V[:, 0], 0))


def test_pruning_is_relative_to_the_largest_block():
    V = np.array([[1.0, 1e-9, 1e-3]])
    assert relu_network_from_blocks(V, np.zeros((1, 3))).n_neurons == 2
    assert relu_network_from_blocks(V, np.zeros((1, 3)), prune_tol=0.0).n_neurons == 3
    assert relu_network_from_blocks(V, np.zeros((1, 3)), prune_tol=1e-2).n_neurons == 1
    with pytest.raises(InvalidInputError, match="prune_tol"):
        relu_network_from_blocks(V, V, prune_tol=-1.0)


def test_scp_recovery():
    gates = np.array([[1.0, 0.0], [0.0, 1.0]])
    net = relu_network_from_scp(np.array([4.0, -9.0]), gates, prune_tol=0.0)
    np.testing.assert_allclose(net.alpha, [2.0, -3.0])
    np.testing.assert_allclose(net.U, [[2.0, 0.0], [0.0, 3.0]])


def test_gated_network_prediction():
    gates = np.array([[1.0, -1.0], [0.0, 0.0]])
    U = np.array([[2.0, 1.0], [1.0, -1.0]])
    net = GatedReLUNetwork(gates=gates, U=U, bias=True)
    X = np.array([[1.0], [-2.0]])
    Xa = np.c_[X, np.ones(2)]
    expected = np.sum((Xa @ gates >= 0) * (Xa @ U), axis=1)
    np.testing.assert_allclose(net.predict(X), expected)
    assert net.n_features == 1 and net.n_neurons == 2


def test_networks_are_frozen_and_validate_input():
    net = ReLUNetwork(U=np.ones((2, 3)), b=np.zeros(3), alpha=np.ones(3))
    with pytest.raises(ValueError):
        net.U[0, 0] = 5.0
    with pytest.raises(InvalidInputError, match="features"):
        net.predict(np.ones((4, 3)))
    with pytest.raises(InvalidInputError, match="non-finite"):
        net.predict(np.array([[np.nan, 1.0]]))
    with pytest.raises(InvalidInputError, match="neurons"):
        ReLUNetwork(U=np.ones((2, 3)), b=np.zeros(2), alpha=np.ones(3))
    with pytest.raises(InvalidInputError, match="beta"):
        net.objective(np.ones((1, 2)), np.ones(1), beta=-1.0)


def test_save_method_round_trips(tmp_path):
    import cvxnn

    net = ReLUNetwork(U=np.arange(6.0).reshape(2, 3), b=np.ones(3), alpha=np.array([1.0, -2.0, 0.5]))
    back = cvxnn.load_network(net.save(tmp_path / "net.npz"))
    for name in ("U", "b", "alpha"):
        np.testing.assert_array_equal(getattr(back, name), getattr(net, name))
    gated = GatedReLUNetwork(gates=np.eye(2), U=np.ones((2, 2)), bias=True)
    back = cvxnn.load_network(gated.save(tmp_path / "gated.npz"))
    assert isinstance(back, GatedReLUNetwork) and back.bias
    np.testing.assert_array_equal(back.U, gated.U)


# --------------------------------------------------------------------------- certified pruning
def _hinge_program(seed: int):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(20, 60)), int(rng.integers(2, 6))
    X = rng.standard_normal((n, d))
    y = np.where(rng.standard_normal(n) > 0, 1.0, -1.0)
    beta = 10 ** rng.uniform(-4, -2)
    pats = cvxnn.sample_patterns(X, 30, random_state=seed, bias=True)
    prog = cvxnn.relu_program(X, y, pats, beta=beta, loss="hinge")
    prog.solve("CLARABEL")
    return prog, X, y, beta


@pytest.mark.parametrize("seed", [38, 25, 7])
def test_pruning_keeps_the_recovery_identity_on_hinge_programs(seed):
    """These hinge programs at small beta have many small but genuine blocks (1e-7 of the
    largest); dropping them at the default 1e-6 left the network 0.6% to 2.4% above the value."""
    prog, X, y, beta = _hinge_program(seed)
    net = prog.network()
    assert net.objective(X, y, beta, "hinge") == pytest.approx(prog.value, rel=1e-7)


def test_certified_pruning_still_drops_solver_zeros(rng):
    """Blocks that change nothing are dropped; blocks that change the objective stay."""
    X = rng.standard_normal((12, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    V = np.zeros((3, 4))
    W = np.zeros((3, 4))
    V[:, 0] = [1.0, 0.0, 0.0]
    V[:, 1] = [0.0, 1e-12, 0.0]  # a solver zero: changes the objective by ~1e-12
    W[:, 2] = [0.0, 0.0, 5e-7]  # below 1e-6 of the largest, but it moves the loss by ~1e-7
    data = ObjectiveData(design=X, y=y, loss="squared", beta=1e-3)
    net = relu_network_from_blocks(V, W, data=data)
    full = relu_network_from_blocks(V, W, prune_tol=0)
    assert full.n_neurons == 3 and net.n_neurons == 2
    assert net.objective(X, y, 1e-3) == pytest.approx(full.objective(X, y, 1e-3), rel=1e-9)
    assert relu_network_from_blocks(V, W).n_neurons == 1  # without data: the plain threshold
    assert relu_network_from_blocks(V, W, data=data, objective_rtol=1.0).n_neurons == 1
    with pytest.raises(InvalidInputError, match="objective_rtol"):
        relu_network_from_blocks(V, W, data=data, objective_rtol=float("nan"))


@pytest.mark.parametrize("kind", ["gated", "scp"])
def test_pruning_keeps_the_identity_for_gated_and_scp_programs(kind):
    rng = np.random.default_rng(38)
    X = rng.standard_normal((40, 3))
    y = np.where(rng.standard_normal(40) > 0, 1.0, -1.0)
    if kind == "gated":
        prog = cvxnn.gated_relu_program(
            X, y, cvxnn.sample_patterns(X, 30, random_state=0, bias=True), beta=1e-3, loss="hinge"
        )
    else:
        gates = rng.standard_normal((4, 60))
        prog = cvxnn.scp_program(
            X, y, gates / np.linalg.norm(gates, axis=0), beta=1e-3, loss="hinge", bias=True
        )
    prog.solve("CLARABEL")
    assert prog.network().objective(X, y, 1e-3, "hinge") == pytest.approx(prog.value, rel=1e-7)


def test_complex_weights_and_gates_are_refused(rng):
    with pytest.raises(InvalidInputError, match="U holds complex"):
        ReLUNetwork(U=np.ones((2, 1)) + 1j, b=np.zeros(1), alpha=np.ones(1))
    X = rng.standard_normal((6, 2))
    with pytest.raises(InvalidInputError, match="gates holds complex"):
        cvxnn.scp_program(X, X[:, 0], np.ones((2, 3)) + 0j, beta=0.1)


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
@pytest.mark.parametrize("kind", ["relu", "gated", "scp"])
def test_recovery_identity_on_random_programs(kind, loss):
    """Random small programs over data scales 1e-2..1e2 and beta over four decades: the
    recovered network's objective equals the program's value within 1e-7 relative."""
    for seed in range(6):
        rng = np.random.default_rng(100 * seed + len(kind) + len(loss))
        n, d = int(rng.integers(8, 25)), int(rng.integers(1, 4))
        X = rng.standard_normal((n, d)) * 10 ** rng.uniform(-2, 2)
        y = np.where(rng.standard_normal(n) > 0, 1.0, -1.0) if loss != "squared" else rng.standard_normal(n)
        beta = float(10 ** rng.uniform(-4, 0))
        pats = cvxnn.sample_patterns(X, 12, random_state=seed, bias=True)
        if kind == "relu":
            prog = cvxnn.relu_program(X, y, pats, beta=beta, loss=loss)
        elif kind == "gated":
            prog = cvxnn.gated_relu_program(X, y, pats, beta=beta, loss=loss)
        else:
            prog = cvxnn.scp_program(X, y, pats, beta=beta, loss=loss)
        prog.solve()
        net = prog.network()
        assert net.objective(X, y, beta, loss) == pytest.approx(prog.value, rel=1e-7, abs=1e-12)


def test_network_objective_weights_samples_like_repeated_rows() -> None:
    from cvxnn.exceptions import CvxnnError
    from cvxnn.losses import loss_gradient

    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 3))
    y = np.sign(rng.standard_normal(6))
    net = ReLUNetwork(U=rng.standard_normal((3, 4)), b=rng.standard_normal(4), alpha=rng.standard_normal(4))
    w = np.array([0, 1, 2, 3, 1, 2], dtype=float)
    rep = np.repeat(np.arange(6), w.astype(int))
    for loss in ("squared", "logistic", "hinge"):
        weighted = net.objective(X, y, 0.7, loss, sample_weight=w)
        assert weighted == pytest.approx(net.objective(X[rep], y[rep], 0.7, loss), rel=1e-12)
        g = loss_gradient(net.predict(X), y, loss, w)
        assert np.allclose(g, w * loss_gradient(net.predict(X), y, loss))
    with pytest.raises(CvxnnError, match="sample_weight"):
        net.objective(X, y, 0.7, "squared", sample_weight=np.ones(5))
