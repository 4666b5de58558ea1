"""The robust ADMM's per-sample proxes and cone projections against CVXPY + Clarabel."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest

from cvxnn.admm.robust_certificates import (
    best_cone_scale,
    block_distances,
    loss_dual_candidate,
    robust_dual_value,
)
from cvxnn.admm.robust_prox import (
    norm_prox,
    norm_prox_lines,
    project_ball,
    project_norm_cone,
    project_robust_slack,
    robust_loss_prox,
    robust_loss_values,
)
from cvxnn.exceptions import InvalidInputError

QS = [1.0, 2.0, np.inf]
LOSSES = ["hinge", "squared", "logistic"]


def _clarabel(problem: cp.Problem) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "solution may be inaccurate" on exp cones: compared below
        problem.solve(solver="CLARABEL")


def _prox_objective(loss, a, g, s, t, y, eps, q, rho_a, rho_g) -> float:
    h = robust_loss_values(loss, np.array([a]), g.reshape(-1, 1), np.array([y]), eps, q)[0]
    return float(h + 0.5 * rho_a * (a - s) ** 2 + 0.5 * rho_g * np.sum((g - t) ** 2))


@pytest.mark.parametrize("q", QS)
@pytest.mark.parametrize("loss", LOSSES)
def test_robust_loss_prox_matches_clarabel(loss: str, q: float) -> None:
    rng = np.random.default_rng(7 + LOSSES.index(loss) + 3 * QS.index(q))
    n, d = 3, 4
    for eps in (0.0, 0.1, 0.7):
        for rho_a, rho_g in ((1.0, 1.0), (0.3, 5.0), (4.0, 0.2)):
            s = 2.0 * rng.normal(size=n)
            t = rng.normal(size=(d, n))
            y = rng.choice([-1.0, 1.0], size=n) if loss != "squared" else rng.normal(size=n)
            a_out, g_out, theta = robust_loss_prox(loss, s, t, y, eps, q, rho_a, rho_g)
            assert a_out.shape == (n,) and g_out.shape == (d, n) and theta.shape == (n,)
            for k in range(n):
                a, g = cp.Variable(), cp.Variable(d)
                spread = eps * cp.norm(g, q)
                if loss == "squared":
                    h = 0.5 * cp.square(cp.abs(a - y[k]) + spread)
                elif loss == "hinge":
                    h = cp.pos(1 - y[k] * a + spread)
                else:
                    h = cp.logistic(-y[k] * a + spread)
                obj = h + rho_a / 2 * cp.square(a - s[k]) + rho_g / 2 * cp.sum_squares(g - t[:, k])
                _clarabel(cp.Problem(cp.Minimize(obj)))
                ours = _prox_objective(loss, a_out[k], g_out[:, k], s[k], t[:, k], y[k], eps, q, rho_a, rho_g)
                ref = _prox_objective(
                    loss, float(a.value), g.value, s[k], t[:, k], y[k], eps, q, rho_a, rho_g
                )
                # exact minimizer: never worse than the interior-point point, and close to it
                assert ours <= ref + 1e-9 * (1 + abs(ref))
                assert abs(a_out[k] - a.value) <= 1e-4
                assert np.max(np.abs(g_out[:, k] - g.value)) <= 1e-4


def test_robust_loss_prox_multiplier_and_eps_zero() -> None:
    rng = np.random.default_rng(3)
    n, d, rho = 40, 5, 0.7
    s, t = rng.normal(size=n), rng.normal(size=(d, n))
    y = rng.choice([-1.0, 1.0], size=n)
    # eps = 0: the nominal proxes in a, the identity in g
    a, g, _ = robust_loss_prox("hinge", s, t, y, 0.0, 1.0, rho, 2.0)
    m = y * s
    assert np.allclose(a, y * np.where(m >= 1, m, np.where(m + 1 / rho <= 1, m + 1 / rho, 1.0)))
    assert np.array_equal(g, t)
    a, g, _ = robust_loss_prox("squared", s, t, y, 0.0, 2.0, rho, 2.0)
    assert np.allclose(a, (y + rho * s) / (1 + rho)) and np.array_equal(g, t)
    # squared: theta is the worst-case residual at the returned pair
    for q in QS:
        a, g, theta = robust_loss_prox("squared", s, t, y, 0.3, q, rho, 2.0)
        assert np.allclose(theta, np.abs(a - y) + 0.3 * np.linalg.norm(g, ord=q, axis=0), atol=1e-12)
        # logistic: theta is the sigmoid of the loss argument
        a, g, theta = robust_loss_prox("logistic", s, t, y, 0.3, q, rho, 2.0)
        u = -y * a + 0.3 * np.linalg.norm(g, ord=q, axis=0)
        assert np.allclose(theta, 1 / (1 + np.exp(-u)), atol=1e-12)


def test_robust_loss_prox_without_perturbable_features() -> None:
    s, y = np.array([0.2, -1.0]), np.array([1.0, 1.0])
    a, g, _ = robust_loss_prox("hinge", s, np.zeros((0, 2)), y, 0.5, 2.0, 1.0, 1.0)
    assert g.shape == (0, 2) and np.allclose(a, [1.0, 0.0])


@pytest.mark.parametrize("q", QS)
def test_norm_prox_lines_and_ball(q: float) -> None:
    rng = np.random.default_rng(11)
    d, m = 6, 25
    t = rng.normal(size=(d, m))
    lam = rng.uniform(0, 3, size=m)
    alpha, beta = norm_prox_lines(t, q)
    G = norm_prox(t, lam, q)
    assert np.allclose(np.max(alpha - beta * lam[None, :], axis=0), np.linalg.norm(G, ord=q, axis=0))
    p = {1.0: np.inf, 2.0: 2.0, np.inf: 1.0}[q]
    C = project_ball(t, lam, p)
    for j in range(5):
        g = cp.Variable(d)
        _clarabel(cp.Problem(cp.Minimize(lam[j] * cp.norm(g, q) + 0.5 * cp.sum_squares(g - t[:, j]))))
        assert np.max(np.abs(G[:, j] - g.value)) <= 1e-6
        c = cp.Variable(d)
        _clarabel(cp.Problem(cp.Minimize(cp.sum_squares(c - t[:, j])), [cp.norm(c, p) <= lam[j]]))
        assert np.max(np.abs(C[:, j] - c.value)) <= 1e-6


@pytest.mark.parametrize("q", QS)
def test_project_norm_cone_matches_clarabel(q: float) -> None:
    rng = np.random.default_rng(5)
    d, m = 4, 30
    c = rng.normal(size=(d, m))
    tau = 2.0 * rng.normal(size=m)
    tau[:3] = -10.0  # polar cone: the projection is 0
    tau[3:6] = 10.0  # inside: unchanged
    C, T = project_norm_cone(c, tau, q)
    assert np.all(np.linalg.norm(C, ord=q, axis=0) <= T + 1e-12)
    assert np.allclose(C[:, :3], 0) and np.allclose(T[:3], 0)
    assert np.allclose(C[:, 3:6], c[:, 3:6]) and np.allclose(T[3:6], tau[3:6])
    for j in range(m):
        x, z = cp.Variable(d), cp.Variable()
        _clarabel(
            cp.Problem(cp.Minimize(cp.sum_squares(x - c[:, j]) + cp.square(z - tau[j])), [cp.norm(x, q) <= z])
        )
        assert np.max(np.abs(x.value - C[:, j])) <= 1e-6 and abs(z.value - T[j]) <= 1e-6


@pytest.mark.parametrize("q", QS)
def test_project_robust_slack_matches_clarabel(q: float) -> None:
    rng = np.random.default_rng(13)
    n, d, m = 7, 4, 12
    for eps in (0.0, 0.05, 0.5, 3.0):
        a, b = rng.normal(size=(n, m)), rng.normal(size=(d, m))
        e = rng.uniform(0.5, 2.0, size=n)
        S, C, radius = project_robust_slack(a, b, eps, q, e)
        norms = np.linalg.norm(C, ord=q, axis=0)
        assert np.all(S >= eps * e[:, None] * norms[None, :] - 1e-12)
        if eps > 0:
            assert np.allclose(radius, norms, atol=1e-12)
        else:
            assert np.array_equal(S, np.maximum(a, 0)) and np.array_equal(C, b)
        warm = project_robust_slack(a, b, eps, q, e, radius0=radius + 0.1)
        assert np.allclose(warm[0], S, atol=1e-10) and np.allclose(warm[1], C, atol=1e-10)
        for j in range(m):
            sv, cv = cp.Variable(n), cp.Variable(d)
            cons = [sv >= eps * cp.norm(cv, q) * e]
            problem = cp.Problem(
                cp.Minimize(cp.sum_squares(sv - a[:, j]) + cp.sum_squares(cv - b[:, j])), cons
            )
            _clarabel(problem)
            ours = np.sum((S[:, j] - a[:, j]) ** 2) + np.sum((C[:, j] - b[:, j]) ** 2)
            assert ours <= problem.value + 1e-9
            assert np.max(np.abs(sv.value - S[:, j])) <= 1e-4 and np.max(np.abs(cv.value - C[:, j])) <= 1e-4


def test_bad_arguments_are_rejected() -> None:
    s, t, y = np.zeros(2), np.zeros((3, 2)), np.ones(2)
    with pytest.raises(InvalidInputError, match="norm exponent"):
        norm_prox(t, 1.0, 3)
    with pytest.raises(InvalidInputError, match="loss must be"):
        robust_loss_prox("huber", s, t, y, 0.1, 2.0, 1.0, 1.0)
    with pytest.raises(InvalidInputError, match="rho_a and rho_g"):
        robust_loss_prox("hinge", s, t, y, 0.1, 2.0, 0.0, 1.0)
    with pytest.raises(InvalidInputError, match="eps must be"):
        robust_loss_prox("hinge", s, t, y, -0.1, 2.0, 1.0, 1.0)
    with pytest.raises(InvalidInputError, match="eps must be"):
        project_robust_slack(np.zeros((2, 1)), np.zeros((3, 1)), float("nan"), 2.0)
    with pytest.raises(InvalidInputError, match="loss must be"):
        robust_loss_values("huber", s, t, y, 0.1, 2.0)


def _certificate_at_clarabel(loss: str, norm: str, eps: float = 0.2, beta: float = 0.3):
    from cvxnn import sample_patterns
    from cvxnn.robust import dual_norm_exponent, robust_relu_program

    rng = np.random.default_rng(1)
    n, d, P = 30, 3, 5
    X = rng.normal(size=(n, d))
    y = np.sign(X[:, 0] + 0.3 * rng.normal(size=n))
    patterns = sample_patterns(X, P, random_state=1, bias=True)
    program = robust_relu_program(X, y, patterns, beta=beta, eps=eps, norm=norm, loss=loss)
    optimum = program.problem.solve(solver="CLARABEL")
    q = dual_norm_exponent(norm)
    V, W = program.variables["V"].value, program.variables["W"].value
    Xa, D = np.asarray(program.design), patterns.D.astype(float)
    S = np.hstack([2 * D - 1, 2 * D - 1])
    nu = np.hstack([c.dual_value for c in program.problem.constraints])  # the cone rows' multipliers
    delta = V - W
    lam, gam = loss_dual_candidate(loss, y, np.sum(D * (Xa @ delta), axis=1), delta[:d] @ D.T, eps, q)
    T = Xa.T @ (D * lam[:, None])
    T[:d] += gam @ D
    C = np.hstack([T, -T])
    B = Xa.T @ (S * nu)
    worst = block_distances(C + B, nu.sum(axis=0), eps, q, d).max()
    t = best_cone_scale(C, B, nu.sum(axis=0), eps, q, d)
    worst_t = block_distances(C + B * t, t * nu.sum(axis=0), eps, q, d).max()
    return optimum, robust_dual_value(loss, y, lam, gam, eps, q, min(worst, worst_t), beta)


@pytest.mark.parametrize("norm", ["inf", "2", "1"])
@pytest.mark.parametrize("loss", LOSSES)
def test_robust_dual_bound_is_valid(loss: str, norm: str) -> None:
    """Weak duality: the bound from Clarabel's solution and cone multipliers never exceeds the
    optimum; where the loss is smooth at the solution it is tight."""
    optimum, bound = _certificate_at_clarabel(loss, norm)
    assert bound <= optimum + 1e-6 * abs(optimum)
    if (loss, norm) in (("squared", "1"), ("logistic", "2")):
        assert optimum - bound <= 1e-4 * abs(optimum)


@pytest.mark.parametrize("rho", [1.0, 1e-2, 1e-3])
def test_logistic_prox_solves_its_equation_at_small_penalties(rho: float) -> None:
    """A small penalty makes the sigmoid in the scalar equation steep: plain bracketed Newton
    bounced inside the bracket and stopped 0.13 away from the root at rho = 1e-2."""
    rng = np.random.default_rng(0)
    n, d, eps = 400, 30, 0.05
    s, t, y = 5.0 * rng.normal(size=n), rng.normal(size=(d, n)), np.sign(rng.normal(size=n))
    a, g, theta = robust_loss_prox("logistic", s, t, y, eps, 2.0, rho, rho)
    u = -y * a + eps * np.linalg.norm(g, axis=0)
    np.testing.assert_allclose(theta, 1.0 / (1.0 + np.exp(-u)), atol=1e-12)
    np.testing.assert_allclose(a, s + theta * y / rho, atol=1e-12)
