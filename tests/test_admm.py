"""Tests of the structured ADMM (cvxnn.admm): agreement with Clarabel, certificates, warm start,
limits, beta paths, settings."""

from __future__ import annotations

import dataclasses
import warnings

import catalogue
import cvxpy as cp
import numpy as np
import pytest

from cvxnn.admm import AdmmResult, AdmmSettings, AdmmSolver, solve_admm
from cvxnn.datasets import load_dataset
from cvxnn.exceptions import ConvergenceWarning, InvalidInputError, UnsupportedProblemError
from cvxnn.losses import loss_value
from cvxnn.patterns import sample_patterns
from cvxnn.programs import gated_relu_program, relu_program, scp_program

BUILDERS = {"relu": relu_program, "gated_relu": gated_relu_program, "scp": scp_program}
# The hinge loss makes the programs LPs in disguise, on which ADMM's residuals have a long,
# oscillating tail: the objective reaches a 1e-4 gap long before the residual tolerances hold, so
# for hinge the test checks the gap and accepts a non-optimal status (with its warning).
HINGE = {"eps_abs": 1e-8, "eps_rel": 1e-8, "max_iter": 6000}


def _data(rng, n=40, d=4, classification=False):
    X = rng.standard_normal((n, d))
    y = np.tanh(X @ rng.standard_normal(d)) + 0.1 * rng.standard_normal(n)
    if classification:
        y = np.where(y >= np.median(y), 1.0, -1.0)
    return X, y


def _program(kind, loss, rng, n=40, d=4, P=8, beta=0.2, bias=True):
    X, y = _data(rng, n, d, classification=loss != "squared")
    patterns = sample_patterns(X, P, random_state=1, bias=bias)
    return BUILDERS[kind](X, y, patterns, beta=beta, loss=loss)


def _clarabel(program):
    program.problem.solve(solver="CLARABEL")
    return float(program.problem.value)


def _cvxpy_objective_at(program, values):
    for name, var in program.variables.items():
        var.value = values[name]
    return float(program.problem.objective.value)


def _rel_gap(value, ref):
    return abs(value - ref) / max(abs(ref), 1e-12)


# --------------------------------------------------------------------------- agreement
@pytest.mark.parametrize(
    ("kind", "cone_method"), [("relu", "projection"), ("relu", "slack"), ("gated_relu", None), ("scp", None)]
)
@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
def test_matches_clarabel_random(kind, cone_method, loss):
    # the catalogue's "admm" recipe (what _program(kind, loss, rng) builds) with Clarabel's optimum
    reference = catalogue.reference("admm", kind, loss)
    program, ref = reference.build(), reference.optimum
    settings = {} if cone_method is None else {"cone_method": cone_method}
    if loss == "hinge":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = solve_admm(program, {**HINGE, **settings})
        assert result.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE, cp.USER_LIMIT)
    else:
        result = solve_admm(program, settings)
        assert result.status == cp.OPTIMAL, result.message
    assert _rel_gap(result.objective, ref) <= 1e-4
    # weak duality: the certificate's dual objective is a lower bound on the optimum
    assert result.dual_objective <= ref + 1e-9 * abs(ref)
    assert result.duality_gap == pytest.approx(result.objective - result.dual_objective)
    # the reported objective is the CVXPY objective at the returned values (same scaling), and
    # objective and violation are the kind model's at that point
    assert result.objective == pytest.approx(_cvxpy_objective_at(program, result.values), rel=1e-12)
    assert result.objective == pytest.approx(program.objective_at(result.values), rel=1e-12)
    assert result.cone_violation_rel == pytest.approx(
        program.violation_at(result.values).relative, rel=1e-6, abs=1e-12
    )
    if kind == "relu":
        # the projection splitting returns exactly feasible points (up to rounding)
        assert result.cone_violation_rel <= (1e-9 if cone_method == "projection" else 1e-4)


@pytest.mark.parametrize(
    ("kind", "loss"),
    [("relu", "squared"), ("relu", "logistic"), ("gated_relu", "squared"), ("scp", "logistic")],
)
def test_matches_clarabel_digits(kind, loss):
    data = load_dataset("sklearn:digits-2v8")
    rng = np.random.default_rng(0)
    idx = rng.choice(data.X.shape[0], 90, replace=False)
    X = data.X[idx][:, data.X[idx].std(axis=0) > 0]
    y = data.y[idx]
    patterns = sample_patterns(X, 6, random_state=0)
    program = BUILDERS[kind](X, y, patterns, beta=0.5, loss=loss)
    ref = _clarabel(program)
    result = solve_admm(program)
    assert result.status == cp.OPTIMAL, result.message
    assert _rel_gap(result.objective, ref) <= 1e-4


def test_linear_solvers_agree(rng):
    program = _program("relu", "squared", rng, n=30, d=3, P=6)
    ref = _clarabel(program)
    for method in ("woodbury", "cholesky", "cg"):
        result = solve_admm(program, {"linear_solver": method})
        assert result.linear_solver == method
        assert result.status == cp.OPTIMAL
        assert _rel_gap(result.objective, ref) <= 1e-4


def test_auto_picks_smaller_system(rng):
    wide = _program("gated_relu", "squared", rng, n=20, d=5, P=10)  # n=20 < d'P=60
    tall = _program("gated_relu", "squared", rng, n=200, d=2, P=4)  # n=200 > d'P=12
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert solve_admm(wide, {"max_iter": 10}).linear_solver == "woodbury"
        assert solve_admm(tall, {"max_iter": 10}).linear_solver == "cholesky"
        # a memory budget too small for either factor falls back to matrix-free CG
        assert solve_admm(tall, {"max_iter": 10, "memory_limit_gb": 1e-9}).linear_solver == "cg"


# --------------------------------------------------------------------------- certificates
def test_gated_squared_kkt_certificate(rng):
    """Group-lasso optimality: X'^T D_i r = -beta u_i/||u_i|| on the support, norm <= beta off it."""
    program = _program("gated_relu", "squared", rng, beta=0.5)
    result = solve_admm(program, {"eps_abs": 1e-10, "eps_rel": 1e-10, "gap_tol": None})
    U = result.values["U"]
    Xa, D = program.design, program.patterns.D.astype(float)
    r = np.sum(D * (Xa @ U), axis=1) - program.y  # gradient of the loss in the predictions
    grads = Xa.T @ (D * r[:, None])  # (d', P)
    norms = np.linalg.norm(U, axis=0)
    beta = program.beta.value
    on = norms > 1e-8
    assert on.any() and (~on).any()  # a real test of both conditions
    np.testing.assert_allclose(grads[:, on], -beta * U[:, on] / norms[on], atol=1e-5)
    assert np.all(np.linalg.norm(grads[:, ~on], axis=0) <= beta * (1 + 1e-5))


def test_relu_residual_certificate(rng):
    program = _program("relu", "squared", rng)
    result = solve_admm(program, {"gap_tol": None})  # the residual rule only
    assert "residual" in result.message and "certificate" not in result.message
    assert result.primal_residual <= result.eps_primal
    assert result.dual_residual <= result.eps_dual
    # the history records the final check and decreasing-enough residuals
    assert result.history["primal_residual"][-1] == pytest.approx(result.primal_residual)
    assert result.history["primal_residual"][-1] < result.history["primal_residual"][0]
    # cone violation recomputed independently
    Xa, S = program.design, program.patterns.signs
    viol = max(np.max(-(S * (Xa @ result.values[k])), initial=0.0) for k in ("V", "W"))
    assert result.cone_violation == pytest.approx(max(viol, 0.0), abs=1e-15)
    # timings are consistent
    t = result.timings
    assert t["total"] >= t["setup"] and t["iterate"] >= 0 and t["factor"] >= 0


def test_scp_objective_is_summed_loss(rng):
    program = _program("scp", "squared", rng)
    result = solve_admm(program)
    a = result.values["a"]
    H = np.maximum(program.design @ program.gates, 0.0)
    expected = loss_value(H @ a, program.y, "squared") + program.beta.value * np.abs(a).sum()
    assert result.objective == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------- warm start
def test_warm_start_from_result_cuts_iterations(rng):
    program = _program("relu", "squared", rng)
    cold = solve_admm(program, {"rho": 3.0})
    warm = solve_admm(program, {"rho": 3.0}, warm_start=cold)
    assert warm.status == cp.OPTIMAL
    interval = AdmmSettings().check_interval
    assert cold.iterations >= 3 * interval  # else the comparison below means nothing
    assert warm.iterations == interval  # from the converged state: stops at the first check
    assert _rel_gap(warm.objective, cold.objective) <= 1e-5


@pytest.mark.parametrize(("first", "second"), [("slack", "projection"), ("projection", "slack")])
def test_warm_start_across_cone_methods(first, second, rng):
    """A result of one cone splitting warm-starts the other from its point (its multipliers and
    penalties belong to the other splitting) and lands on the same optimum."""
    program = _program("relu", "squared", rng)
    ref = _clarabel(program)
    before = solve_admm(program, {"cone_method": first})
    after = solve_admm(program, {"cone_method": second}, warm_start=before)
    assert after.status == cp.OPTIMAL, after.message
    assert _rel_gap(after.objective, ref) <= 1e-4


def test_warm_start_from_values_cuts_iterations(rng):
    program = _program("gated_relu", "logistic", rng)
    cold = solve_admm(program)
    warm = solve_admm(program, warm_start=dict(cold.values))
    assert warm.status == cp.OPTIMAL
    assert warm.iterations < cold.iterations
    # from the CVXPY variables' current values
    for name, var in program.variables.items():
        var.value = cold.values[name]
    warm2 = solve_admm(program, warm_start=True)
    assert warm2.iterations < cold.iterations


def test_warm_start_rejects_wrong_shapes(rng):
    program = _program("relu", "squared", rng)
    with pytest.raises(InvalidInputError, match="shape"):
        solve_admm(program, warm_start={"V": np.zeros((2, 2)), "W": np.zeros((2, 2))})
    other = _program("gated_relu", "squared", rng)
    with pytest.raises(InvalidInputError, match="different program"):
        solve_admm(program, warm_start=solve_admm(other))


# --------------------------------------------------------------------------- limits
def test_iteration_limit_status_and_warning(rng):
    program = _program("relu", "squared", rng)
    with pytest.warns(ConvergenceWarning, match=r"primal residual .* \(tolerance"):
        result = solve_admm(program, {"max_iter": 7, "check_interval": 3})
    assert result.status in (cp.OPTIMAL_INACCURATE, cp.USER_LIMIT)
    assert result.iterations == 7
    assert not result.optimal
    assert np.isfinite(result.objective)


def test_time_limit(rng):
    program = _program("relu", "squared", rng)
    with pytest.warns(ConvergenceWarning, match="time limit"):
        result = solve_admm(program, {"time_limit": 1e-9, "check_interval": 5})
    assert result.iterations == 1  # the clock is read every iteration, not only at checks
    assert result.status in (cp.OPTIMAL_INACCURATE, cp.USER_LIMIT)


def test_anderson_acceleration_same_solution(rng):
    program = _program("relu", "logistic", rng)
    ref = _clarabel(program)
    result = solve_admm(program, {"anderson": 5})
    assert result.status == cp.OPTIMAL
    assert _rel_gap(result.objective, ref) <= 1e-4


def test_divergence_is_reported_never_optimal():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((20, 3)) * 1e200  # X X^T overflows to inf
    y = rng.standard_normal(20)
    program = gated_relu_program(X, y, sample_patterns(X, 4, random_state=0), beta=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.warns(ConvergenceWarning, match="diverged|non-finite|failed"):
            result = solve_admm(program, {"max_iter": 50, "rho": 1.0})
    assert result.status == cp.SOLVER_ERROR
    assert np.isnan(result.objective)


# --------------------------------------------------------------------------- beta path
def test_beta_path_reuses_factorization(rng):
    program = _program("relu", "squared", rng)
    first = solve_admm(program)
    assert first.n_factorizations >= 1
    program.beta.value = 0.1
    second = solve_admm(program, warm_start=first)
    # penalties carried over: the cached factor fits, nothing refactored at the start
    assert second.n_factorizations <= first.n_factorizations
    fixed = solve_admm(program, {"adaptive_rho": False}, warm_start=second)
    assert fixed.n_factorizations == 0
    assert second.beta == 0.1
    ref = _clarabel(program)
    assert _rel_gap(second.objective, ref) <= 1e-4


def test_cold_resolve_reuses_penalties_and_factor(rng):
    program = _program("relu", "squared", rng)
    first = solve_admm(program, {"adaptive_rho": False})
    assert first.n_factorizations == 1
    program.beta.value = 0.4
    again = solve_admm(program, {"adaptive_rho": False})  # cold start, same system matrix
    assert again.n_factorizations == 0
    assert _rel_gap(again.objective, _clarabel(program)) <= 1e-4


@pytest.mark.parametrize("rho", [1e-6, 1e6])
def test_balancing_moves_a_penalty_at_most_the_tolerance_per_update(rng, rho):
    """A far-off start needs several capped updates (each at most adaptive_rho_tolerance), and
    still converges to Clarabel's optimum."""
    program = _program("relu", "squared", rng)
    settings = {"rho": rho, "adaptive_rho_interval": 10, "check_interval": 10, "adaptive_rho_fraction": 1e6}
    result = solve_admm(program, {**settings, "max_iter": 20000})
    steps = np.diff(np.log10(result.history["rho_u"]))
    assert np.count_nonzero(steps) >= 2  # rho was 1e6 off the data scale: more than one update
    assert np.all(np.abs(steps) <= np.log10(10.0) + 1e-12)
    assert result.status == "optimal"
    assert _rel_gap(result.objective, _clarabel(program)) <= 1e-4


# --------------------------------------------------------------------------- input checks
def test_unknown_kind_refused(rng):
    # kinds are an enumeration: a program of an unknown kind cannot be made, so the ADMM never sees one
    program = _program("relu", "squared", rng)
    with pytest.raises(InvalidInputError, match=r"Unknown program kind 'mystery'; the kinds are \['relu'"):
        dataclasses.replace(program, kind="mystery")


def test_not_a_program_refused():
    with pytest.raises(UnsupportedProblemError, match="ConvexProgram"):
        solve_admm(cp.Problem(cp.Minimize(0)))


def test_settings_unknown_key_named():
    with pytest.raises(InvalidInputError, match=r"Unknown ADMM setting\(s\) \['max_iters'\].*allowed"):
        AdmmSettings.coerce({"max_iters": 10})
    with pytest.raises(TypeError):
        AdmmSettings(max_iters=10)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("max_iter", 0),
        ("eps_abs", -1.0),
        ("alpha", 2.5),
        ("rho", float("nan")),
        ("linear_solver", "lu"),
        ("threads", 0),
        ("verbose", "yes"),
        ("adaptive_rho_tolerance", 1.0),
        ("cone_method", "barrier"),
        ("projection_steps", 0),
    ],
)
def test_settings_bad_values(key, value):
    with pytest.raises(InvalidInputError, match=key):
        AdmmSettings.coerce({key: value})


def test_settings_frozen_and_dict_accepted(rng):
    s = AdmmSettings(max_iter=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.max_iter = 6  # type: ignore[misc]
    program = _program("scp", "squared", rng)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        assert solve_admm(program, {"max_iter": 5}).iterations <= 5


def test_verbose_table(rng, capsys):
    program = _program("relu", "logistic", rng)
    result = solve_admm(program, {"verbose": True, "verbose_interval": 20})
    out = capsys.readouterr().out
    assert "objective" in out and "r_prim" in out and "rho_u" in out and "time" in out
    assert f"status {result.status}" in out
    silent = solve_admm(program, warm_start=result)
    assert isinstance(silent, AdmmResult)
    assert capsys.readouterr().out == ""


@pytest.mark.slow
def test_medium_instance_matches_clarabel():
    rng = np.random.default_rng(0)
    program = _program("relu", "squared", rng, n=300, d=15, P=30, beta=1.0, bias=False)
    ref = _clarabel(program)
    result = solve_admm(program)
    assert result.status == cp.OPTIMAL
    assert _rel_gap(result.objective, ref) <= 1e-4


# --------------------------------------------------------------------------- duality-gap certificate
def _structure_and_optimum(loss, rng, cone_method):
    program = _program("relu", loss, rng, beta=0.3)
    ref = _clarabel(program)
    st = AdmmSolver(program, AdmmSettings(cone_method=cone_method)).structure
    return program, st, ref


def _dual_probes(st, loss, rng):
    """Predictions (and hinge loss multipliers) at points from zero to far off the optimum."""
    for scale in (0.0, 0.1, 1.0, 10.0):
        fv = st.Fu_from_XU(st.X @ (scale * rng.standard_normal((st.d, st.J))))
        yield fv, (rng.uniform(-1.0, 1.0, st.n) if loss == "hinge" else None)


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
def test_refined_dual_is_a_lower_bound_anywhere(loss, rng):
    """Weak duality at arbitrary (even poor) points: the refined certificate never exceeds the
    optimum, whatever the predictions and warm-start multipliers it is handed."""
    program, st, ref = _structure_and_optimum(loss, rng, "slack")
    beta = program.beta.value
    for fv, z_mult in _dual_probes(st, loss, rng):
        nu0 = rng.exponential(size=(st.n, st.J)) * rng.integers(0, 2, size=(st.n, st.J))
        for steps in (0, 50):
            dual, nu = st.refined_dual(fv, z_mult, st.Gt(nu0), nu0, None, beta, steps)
            assert np.all(nu >= 0.0)
            assert np.isfinite(dual)  # -inf would be a valid but empty bound
            assert dual <= ref + 1e-9 * abs(ref)


@pytest.mark.parametrize("loss", ["squared", "logistic", "hinge"])
def test_projected_dual_is_a_lower_bound_anywhere(loss, rng):
    """The projection splitting's certificate (exact cone projections of F^T lambda) is a lower
    bound at arbitrary points, and tight at the optimum."""
    program, st, ref = _structure_and_optimum(loss, rng, "projection")
    beta = program.beta.value
    for fv, z_mult in _dual_probes(st, loss, rng):
        dual = st.projected_dual(fv, z_mult, beta)
        assert np.isfinite(dual)
        assert dual <= ref + 1e-9 * abs(ref)
    if loss == "squared":  # at Clarabel's solution the bound is tight
        U = np.hstack([program.variables["V"].value, program.variables["W"].value])
        dual = st.projected_dual(st.Fu_from_XU(st.X @ U), None, beta)
        assert ref - dual <= 1e-5 * abs(ref)


@pytest.mark.parametrize("steps", [1, None])
def test_projection_step_budget_keeps_the_answer_exact(steps, rng):
    """A tiny step budget makes early v-steps inexact; the solve still stops only after exact
    projections, at a feasible point that matches Clarabel."""
    program = _program("relu", "squared", rng, n=80, d=5, P=12)
    ref = _clarabel(program)
    result = solve_admm(program, {"projection_steps": steps})
    assert result.status == cp.OPTIMAL, result.message
    assert _rel_gap(result.objective, ref) <= 1e-4
    assert result.objective >= ref - 1e-7 * abs(ref)  # feasible: never below the optimum
    assert result.cone_violation_rel <= 1e-9


def test_certified_stop_is_honest(rng):
    """With the residual rule out of reach, the solver stops on its own certificate; the returned
    point is then within gap_tol of Clarabel, nearly feasible, and the reported gap bounds its
    suboptimality."""
    program = _program("relu", "squared", rng, n=60, d=4, P=10, beta=0.3)
    ref = _clarabel(program)
    result = solve_admm(program, {"gap_tol": 1e-4, "eps_abs": 1e-14, "eps_rel": 1e-14, "max_iter": 30000})
    assert result.status == cp.OPTIMAL, result.message
    assert "certificate" in result.message
    assert result.duality_gap <= 1e-4 * abs(result.objective)
    assert result.cone_violation_rel <= 1e-4
    assert result.dual_objective <= ref + 1e-9 * abs(ref)  # a true lower bound
    assert result.objective - ref <= result.duality_gap + 1e-9 * abs(ref)  # the gap is an upper bound
    assert _rel_gap(result.objective, ref) <= 1e-4
    # the certificate stopped it before the residual rule would have
    full = solve_admm(program, {"gap_tol": None, "eps_abs": 1e-9, "eps_rel": 1e-9, "max_iter": 30000})
    assert result.iterations < full.iterations


@pytest.mark.parametrize("kind", ["gated_relu", "scp"])
def test_certificate_without_cones(kind, rng):
    program = _program(kind, "logistic", rng)
    ref = _clarabel(program)
    result = solve_admm(program)
    assert result.status == cp.OPTIMAL
    assert result.dual_objective <= ref + 1e-9 * abs(ref)
    assert result.objective - ref <= result.duality_gap + 1e-9 * abs(ref)


def test_certificate_settings_validated():
    with pytest.raises(InvalidInputError, match="certificate_steps"):
        AdmmSettings(certificate_steps=-1)
    with pytest.raises(InvalidInputError, match="certificate_interval"):
        AdmmSettings(certificate_interval=0)
    with pytest.raises(InvalidInputError, match="cone_tol"):
        AdmmSettings(cone_tol=0.0)
    assert AdmmSettings(gap_tol=None).gap_tol is None


def test_iterates_do_not_depend_on_timings(rng, monkeypatch):
    """Refactorization decisions come from a flop model, so a loaded machine (factorizations that
    look slow on the clock) gives the same iterates. With wall-clock decisions this program took
    540 or 3600 iterations depending on whether a refactorization "paid" in time."""
    from cvxnn.admm import solver as solver_module
    from cvxnn.admm.structure import Structure

    # the slack splitting: its adaptive cone penalty refactors on this program
    settings = {"gap_tol": 1e-4, "eps_abs": 1e-14, "eps_rel": 1e-14, "max_iter": 30000}
    settings["cone_method"] = "slack"
    calm = solve_admm(_program("relu", "squared", rng, n=60, d=4, P=10, beta=0.3), settings)

    class SlowFactorClock:
        now = 0.0

        def perf_counter(self) -> float:
            self.now += 1e-6
            return self.now

    clock = SlowFactorClock()
    factor = Structure.factor

    def slow_factor(self, rho):
        clock.now += 100.0  # every factorization seems to take 100 s
        return factor(self, rho)

    monkeypatch.setattr(solver_module, "time", clock)
    monkeypatch.setattr(Structure, "factor", slow_factor)
    program = _program("relu", "squared", np.random.default_rng(12345), n=60, d=4, P=10, beta=0.3)
    loaded = solve_admm(program, settings)
    assert loaded.n_factorizations == calm.n_factorizations > 1  # it did refactor, both times
    assert loaded.iterations == calm.iterations
    assert loaded.objective == calm.objective


def _random_program(seed):
    """A small random program of every kind and loss (the draws of the stress run in the docs)."""
    rng = np.random.default_rng(seed)
    n, d, P = int(rng.integers(8, 60)), int(rng.integers(1, 6)), int(rng.integers(1, 8))
    loss = ("squared", "logistic", "hinge")[seed % 3]
    kind = ("relu", "gated_relu", "scp")[(seed // 3) % 3]
    X = rng.standard_normal((n, d)) if seed % 2 else (rng.random((n, d)) < 0.4).astype(float)
    y = rng.standard_normal(n) if loss == "squared" else np.where(rng.random(n) < 0.5, 1.0, -1.0)
    beta = 10.0 ** rng.uniform(-3, 1)
    build = {"relu": relu_program, "gated_relu": gated_relu_program, "scp": scp_program}[kind]
    return build(X, y, sample_patterns(X, P, random_state=seed), beta=beta, loss=loss)


def test_hinge_stops_on_the_certificate_not_on_the_residuals_alone():
    """Hinge loss, nearly separable data, small beta: the objective error is first order in the
    residuals, and the residual rule alone stops ~2e-3 above the optimum; by default a hinge
    program stops only with a certified gap <= gap_tol, which here is within 1e-4."""
    reference = _random_program(41).solve("CLARABEL")  # a gated hinge program of the stress run
    residual_only = solve_admm(_random_program(41), {"gap_tol": None})
    assert residual_only.status == cp.OPTIMAL
    assert (residual_only.objective - reference) / reference > 1e-4  # what the default avoids
    result = solve_admm(_random_program(41))
    assert result.status == cp.OPTIMAL
    assert result.duality_gap <= 1e-4 * result.objective  # the certificate it stopped on
    assert result.objective - reference - 1e-12 <= result.duality_gap  # a valid bound
    assert (result.objective - reference) / reference <= 1e-4


def test_residual_balancing_cannot_slide_the_penalties_to_zero():
    """Logistic loss, small beta: residual balancing kept lowering both penalties, 10x per update,
    down to 1e-8, and the iterates blew up (objective 3e8 against 7.24 after 20 000 iterations).
    Each penalty now stays within RHO_BAND of its data-derived default."""
    from cvxnn.admm import RHO_BAND

    program = _random_program(589)  # the gated logistic program of the stress run
    reference = _random_program(589).solve("CLARABEL")
    result = solve_admm(program)
    assert result.status == cp.OPTIMAL
    assert abs(result.objective - reference) <= 1e-4 * abs(reference)
    # optimal is certified
    assert result.duality_gap <= 1e-4 * abs(result.objective)
    default = AdmmSolver(program).structure.default_rho
    for block, value in result.rho.items():
        assert default[block] / RHO_BAND * (1 - 1e-12) <= value <= default[block] * RHO_BAND * (1 + 1e-12)


@pytest.mark.parametrize("block", range(6))
def test_random_programs_agree_with_clarabel_or_say_why_not(block):
    """Random small programs, every kind and loss: squared and logistic optimal and within 1e-4 of
    Clarabel; hinge (which stops only on the certificate) within 1e-4 whenever it says optimal."""
    for seed in range(30 * block, 30 * block + 30):
        program = _random_program(seed)
        reference = program.solve("CLARABEL")
        result = solve_admm(program)
        gap = (result.objective - reference) / max(abs(reference), 1e-12)
        assert gap >= -1e-6, (seed, gap)  # every returned point is feasible
        if program.loss != "hinge":
            assert result.status == cp.OPTIMAL and gap <= 1e-4, (seed, result.status, gap)
        elif result.status == cp.OPTIMAL:
            assert gap <= 1e-4, (seed, gap)
