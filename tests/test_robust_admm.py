"""The structured ADMM on the robust programs (every loss and perturbation norm)."""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest

import cvxnn
from cvxnn import ADMM, relu_program, sample_patterns, solve_admm
from cvxnn.admm import AdmmProgress, AdmmSolver, solver_for
from cvxnn.admm.robust_solver import RobustAdmmSolver
from cvxnn.exceptions import ConvergenceWarning, InvalidInputError
from cvxnn.robust import robust_cone_violation, robust_loss_bound, robust_relu_program

LOSSES = ("hinge", "squared", "logistic")
NORMS = ("inf", "2", "1")


def _data(loss: str, seed: int = 3, n: int = 24, d: int = 2, bias: bool = True):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if loss == "squared":
        y = X[:, 0] + 0.3 * rng.normal(size=n)
    else:
        y = np.sign(X[:, 0] + 0.5 * rng.normal(size=n))
    return X, y, sample_patterns(X, 4, random_state=seed, bias=bias)


def _program(loss: str, norm: str, eps: float = 0.03, seed: int = 3, beta: float = 0.2):
    X, y, patterns = _data(loss, seed)
    return robust_relu_program(X, y, patterns, beta=beta, eps=eps, norm=norm, loss=loss)


def _relative_violation(program, V, W) -> float:
    scale = np.max(np.abs(np.asarray(program.design) @ np.hstack([V, W])))
    return robust_cone_violation(program, V, W) / scale


@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("loss", LOSSES)
def test_matches_clarabel_with_a_certified_feasible_point(loss: str, norm: str) -> None:
    reference = _program(loss, norm).problem.solve(solver="CLARABEL")
    program = _program(loss, norm)
    result = solve_admm(program)
    assert result.status == cp.OPTIMAL and result.kind == "robust_relu"
    assert abs(result.objective - reference) <= 1e-4 * abs(reference)
    V, W = result.values["V"], result.values["W"]
    assert _relative_violation(program, V, W) <= 1e-4
    # optimal only with a certified gap, and the bound is a true lower bound
    assert abs(result.duality_gap) <= 1e-4 * abs(result.objective)
    assert result.dual_objective <= reference + 1e-7 * abs(reference)
    # the objective is the robust one, evaluated at the returned point
    regularizer = 0.2 * np.linalg.norm(np.hstack([V, W]), axis=0).sum()
    assert result.objective == pytest.approx(robust_loss_bound(program, V, W).sum() + regularizer, rel=1e-12)


@pytest.mark.parametrize(("loss", "norm"), [("logistic", "2"), ("squared", "1")])
def test_without_bias_matches_clarabel(loss: str, norm: str) -> None:
    X, y, patterns = _data(loss, bias=False)
    assert not patterns.bias
    reference = robust_relu_program(X, y, patterns, beta=0.2, eps=0.03, norm=norm, loss=loss).solve(
        "CLARABEL"
    )
    program = robust_relu_program(X, y, patterns, beta=0.2, eps=0.03, norm=norm, loss=loss)
    result = solve_admm(program)
    assert result.status == cp.OPTIMAL
    assert abs(result.objective - reference) <= 1e-4 * abs(reference)
    assert _relative_violation(program, result.values["V"], result.values["W"]) <= 1e-4


@pytest.mark.parametrize("loss", LOSSES)
def test_eps_zero_gives_the_nominal_admm_answer(loss: str) -> None:
    X, y, patterns = _data(loss)
    nominal = solve_admm(relu_program(X, y, patterns, beta=0.2, loss=loss))
    robust = solve_admm(robust_relu_program(X, y, patterns, beta=0.2, eps=0.0, norm="2", loss=loss))
    assert nominal.status == robust.status == cp.OPTIMAL
    assert abs(robust.objective - nominal.objective) <= 1e-4 * abs(nominal.objective)


def test_eps_path_reuses_the_factorization_and_is_nondecreasing() -> None:
    program = _program("logistic", "inf", eps=0.0)
    objectives, factorizations = [], []
    for eps in (0.0, 0.01, 0.03):
        program.eps.value = eps
        program.solve("ADMM")
        result = program.problem.solver_stats.extra_stats
        assert result.status == cp.OPTIMAL
        objectives.append(result.objective)
        factorizations.append(result.n_factorizations)
    assert isinstance(solver_for(program, cvxnn.AdmmSettings()), RobustAdmmSolver)
    assert factorizations[1:] == [0, 0]  # eps enters no factorization
    assert objectives[0] < objectives[1] < objectives[2]
    # the same eps path with Clarabel
    for eps, objective in zip((0.0, 0.01, 0.03), objectives, strict=True):
        program.eps.value = eps
        assert objective == pytest.approx(program.problem.solve(solver="CLARABEL"), rel=1e-4)


def test_default_penalties_scale_with_beta() -> None:
    # a fresh program per beta: a solver's next solve starts from its last penalties instead
    def first_penalties(beta: float) -> dict:
        settings = {"max_iter": 1, "adaptive_rho": False, "gap_tol": None}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return dict(solve_admm(_program("hinge", "inf", beta=beta), settings).rho)

    at_one, at_tenth, tiny = first_penalties(1.0), first_penalties(0.1), first_penalties(1e-9)
    assert at_one["z"] == pytest.approx(0.3)  # hinge
    assert at_tenth["u"] == pytest.approx(0.1 * at_one["u"])
    assert at_tenth["z"] == pytest.approx(0.1 * at_one["z"])
    assert tiny["u"] == pytest.approx(1e-3 * at_one["u"])  # beta is clipped to [1e-3, 1e3]


@pytest.mark.parametrize("norm", NORMS)
def test_pgd_never_beats_the_certified_robust_loss(norm: str) -> None:
    """The bound certifies exactly feasible points; the ADMM's point violates the robust cones by
    ``viol`` (in units of X'v, ~1e-5 relative), which moves the network's output on the ball by at
    most ``viol`` per block (hinge: the loss too), hence the slack ``2 P viol``."""
    program = _program("hinge", norm, eps=0.05)
    program.solve("ADMM")
    bound = robust_loss_bound(program)  # per point, at the ADMM's solution
    slack = 2 * program.n_patterns * robust_cone_violation(program)
    network = program.network()
    attacked = cvxnn.worst_case_loss(
        network, program.X, program.y, eps=0.05, norm=norm, loss="hinge", steps=40, restarts=2, random_state=0
    )
    assert np.all(attacked <= bound + slack + 1e-9)
    assert attacked.sum() > 0.5 * bound.sum()  # the attack is not idle


def test_problem_solve_method_callback_and_linear_solvers() -> None:
    program = _program("squared", "2")
    seen: list[AdmmProgress] = []
    program.problem.solve(method=ADMM, callback=seen.append, linear_solver="cholesky")
    first = program.problem.solver_stats.extra_stats
    assert program.problem.status == cp.OPTIMAL and seen and seen[-1].iteration == first.iterations
    assert program.variables["V"].value is not None
    cg = solve_admm(_program("squared", "2"), {"linear_solver": "cg", "cg_tol": 1e-12})
    assert cg.linear_solver == "cg" and cg.objective == pytest.approx(first.objective, rel=1e-4)
    # a re-solve with the same structural settings warm-starts from the previous state
    program.problem.solve(method=ADMM, linear_solver="cholesky")
    again = program.problem.solver_stats.extra_stats
    assert again.history["rho_u"][0] == first.rho["u"]
    assert again.iterations < first.iterations


def test_not_optimal_without_the_certificate() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = solve_admm(_program("hinge", "2"), {"max_iter": 40})
    assert result.status != cp.OPTIMAL


def test_bad_settings_are_rejected() -> None:
    program = _program("hinge", "inf")
    with pytest.raises(InvalidInputError, match="woodbury"):
        solve_admm(program, {"linear_solver": "woodbury"})
    with pytest.raises(InvalidInputError, match="rho_typo"):
        solve_admm(program, {"rho_typo": 1.0})
    solver = RobustAdmmSolver(program)
    with pytest.raises(InvalidInputError, match="eps"):
        solver.update(eps=-0.1)
    with pytest.raises(InvalidInputError, match="woodbury"):
        solver.update(linear_solver="woodbury")
    nominal = AdmmSolver(relu_program(program.X, program.y, program.patterns, beta=0.2, loss="hinge"))
    with pytest.raises(InvalidInputError, match="robust_relu"):
        solver.warm_start(nominal.solve())


def test_benchmark_script_smoke(capsys, tmp_path, monkeypatch) -> None:
    import importlib
    import json
    from pathlib import Path

    # imported by name: the solves run in spawned processes, which import the module again
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    module = importlib.import_module("robust_admm")
    out, md = tmp_path / "rows.json", tmp_path / "rows.md"
    args = ["--data", "gaussian", "--n", "20", "--d", "2", "--P", "3", "--losses", "logistic", "--norms", "2"]
    args += ["--eps", "0.02", "--beta", "0.3", "--no-large", "--json", str(out), "--md", str(md)]
    assert module.main(args) == 0
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 1 and rows[0]["admm_status"] == cp.OPTIMAL and abs(rows[0]["gap_to_clarabel"]) <= 1e-4
    assert rows[0]["admm_peak_rss_mb"] > 0 and rows[0]["clarabel_cone_violation_rel"] < 1e-6
    assert "| gaussian | 20 | 2 |" in capsys.readouterr().out and "--no-large" in md.read_text()


@pytest.mark.slow
def test_no_optimal_claim_below_the_optimum() -> None:
    """Seed 1, squared loss, l_inf: stopping at the unprojected point with relative violation
    <= cone_tol / 10, the solver once said `optimal` 8.7e-4 below Clarabel; the stop is now
    decided at the exact projection onto the robust cones, so it is either optimal within 1e-4
    or says it is not (slack splitting and the default, ~3 min on a loaded machine)."""
    reference = _program("squared", "inf", seed=1).problem.solve(solver="CLARABEL")
    for method in ("slack", "projection"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            result = solve_admm(_program("squared", "inf", seed=1), {"cone_method": method})
        assert result.objective >= reference - 1e-7 * abs(reference) and result.duality_gap >= 0
        if result.status == cp.OPTIMAL:
            assert abs(result.objective - reference) <= 1e-4 * abs(reference)


def test_a_run_at_the_limit_returns_a_feasible_point_and_a_valid_gap() -> None:
    """l_inf / hinge stopped at 100 iterations: the ADMM's point is outside the robust cones and its
    objective 43 % below the optimum, so objective - bound was negative (the bound is valid; the
    point was not feasible). The run returns the exact projection onto the robust cones. (eps = 0.06
    keeps the optimum nonzero; at 0.1 the zero screen certifies the zero network.)"""
    rng = np.random.default_rng(6)
    n, d, P = 37, 4, 5
    X = rng.normal(size=(n, d))
    y = np.sign(X[:, 0] + 0.5 * rng.normal(size=n))
    patterns = sample_patterns(X, P, random_state=6, bias=False)

    def build():
        return robust_relu_program(X, y, patterns, beta=1.0, eps=0.06, norm="inf", loss="hinge")

    reference = build().problem.solve(solver="CLARABEL")
    program = build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        result = solve_admm(program, {"max_iter": 100, "cone_method": "slack"})
    assert result.status != cp.OPTIMAL and result.iterations == 100
    assert result.history["objective"][-1] < 0.7 * reference  # the unprojected point's objective
    V, W = result.values["V"], result.values["W"]
    assert robust_cone_violation(program, V, W) <= 1e-9
    assert result.duality_gap >= 0 and result.dual_objective <= reference + 1e-7 * abs(reference)
    assert result.objective >= reference - 1e-7 * abs(reference)
    assert "certified gap bound is" in result.message and "-" not in result.message.split("bound is ")[1][:2]


@pytest.mark.parametrize("norm", ["inf", "2"])
def test_both_cone_methods_match_clarabel(norm: str) -> None:
    """Small programs project exactly onto the robust cones in the v-step (every v feasible);
    ``cone_method="slack"`` keeps the slack splitting. Both reach Clarabel's optimum, certified."""
    reference = _program("logistic", norm).problem.solve(solver="CLARABEL")
    for method, projection in (("projection", True), ("slack", False)):
        solver = RobustAdmmSolver(_program("logistic", norm), {"cone_method": method})
        assert solver.projection is projection
        result = solver.solve()
        assert result.status == cp.OPTIMAL and ("s" in result.rho) is not projection
        assert abs(result.objective - reference) <= 1e-4 * abs(reference)
        assert 0 <= result.duality_gap <= 1e-4 * abs(result.objective)


def test_warm_start_across_cone_methods() -> None:
    """A projection result (no slack block, its penalty 0) starts a slack solve and back."""
    first = RobustAdmmSolver(_program("squared", "2")).solve()
    slack = RobustAdmmSolver(_program("squared", "2"), {"cone_method": "slack"})
    slack.warm_start(first)
    second = slack.solve()
    again = RobustAdmmSolver(_program("squared", "2"))
    again.warm_start(second)
    third = again.solve()
    assert first.status == second.status == third.status == cp.OPTIMAL
    assert second.rho["s"] > 0 and "s" not in third.rho
    assert third.objective == pytest.approx(first.objective, rel=1e-4)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_l2_programs_beyond_the_former_projection_limit_end_optimal(loss: str) -> None:
    """(80, 12, 16) has 2P * min(n, 4d') * d' = 21 632 entries in its first candidate rows: above
    the former limit of the conic v-step projection (20 000), so it ran the slack splitting,
    under which l_2 programs crept to the iteration limit. The Newton projector makes the exact
    v-step cheap at every size."""
    rng = np.random.default_rng(0)
    n, d = 80, 12
    X = rng.normal(size=(n, d))
    y = (
        X[:, 0] + 0.3 * rng.normal(size=n)
        if loss == "squared"
        else np.sign(X[:, 0] + 0.5 * rng.normal(size=n))
    )
    patterns = sample_patterns(X, 16, random_state=0, bias=True)

    def build():
        return robust_relu_program(X, y, patterns, beta=0.5, eps=0.05, norm="2", loss=loss)

    reference = build().problem.solve(solver="CLARABEL")
    program = build()
    solver = RobustAdmmSolver(program)
    assert solver.projection
    result = solver.solve()
    assert result.status == cp.OPTIMAL and result.iterations <= 1000
    assert abs(result.objective - reference) <= 1e-4 * abs(reference)
    assert _relative_violation(program, result.values["V"], result.values["W"]) <= 1e-9


def test_polish_attempts_are_spaced_by_their_cost() -> None:
    """A cheap polish (about one iteration) is retried at the next check; a dear one (a conic
    fallback) waits until the attempts cost a tenth of the run, at most 16 certificate intervals."""
    import time

    from cvxnn.admm.records import RunRecord

    solver = RobustAdmmSolver(_program("hinge", "2"))
    run = RunRecord(t_start=0.0, n_fact=0, t_factor=0.0, first_factor_time=0.0)
    run.t_loop0 = time.perf_counter() - 1.0  # 100 iterations in 1 s: 10 ms each
    for seconds, expected in ((0.005, 120), (0.5, 600), (2.0, 900)):
        wait = solver._next_attempt(run, 100, seconds)
        assert abs(wait - expected) <= 2, (seconds, wait)


def test_the_refactorization_cost_counts_the_robust_iteration() -> None:
    """Residual balancing waits for refactorizations that pay: the robust iteration (g-block,
    projector) costs more than the nominal count, so a factorization costs fewer iterations."""
    from cvxnn.admm.structure import Structure

    projected = RobustAdmmSolver(_program("hinge", "2")).structure
    slack = RobustAdmmSolver(_program("hinge", "2"), {"cone_method": "slack"}).structure
    nominal = Structure.iteration_flops(projected)
    assert projected.iteration_flops() > slack.iteration_flops() > nominal
    assert projected.factor_cost_in_iterations < slack.factor_cost_in_iterations


@pytest.mark.parametrize("norm", ["inf", "1"])
def test_polyhedral_v_steps_cut_short_still_end_optimal_and_feasible(norm: str) -> None:
    """l_inf / l_1 v-steps add a few cut rows each (``V_STEP_CUTS``): the early ones are inexact
    (an outer approximation of the cones), yet the run ends at an exact, certified optimum."""
    rng = np.random.default_rng(1)
    n, d = 80, 6
    X = rng.normal(size=(n, d))
    y = np.sign(X[:, 0] + 0.5 * rng.normal(size=n))
    patterns = sample_patterns(X, 8, random_state=1, bias=True)

    def build():
        return robust_relu_program(X, y, patterns, beta=0.5, eps=0.02, norm=norm, loss="hinge")

    reference = build().problem.solve(solver="CLARABEL")
    program = build()
    solver = RobustAdmmSolver(program)
    result = solver.solve()
    assert solver.v_step.inexact_steps > 0
    assert result.status == cp.OPTIMAL
    assert abs(result.objective - reference) <= 1e-4 * abs(reference)
    assert _relative_violation(program, result.values["V"], result.values["W"]) <= 1e-9
