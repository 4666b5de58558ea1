"""Random stress of the ADMM's promises on small programs, against Clarabel and ECOS.

Each seed draws a program: kind (``relu``, ``gated_relu``, ``scp``), loss (squared, logistic,
hinge), cone method (``relu``: projection or slack), ``n <= 40``, data scaled by a factor in
``[1e-3, 1e4]`` and ``beta`` in ``[1e-3, 1e3]`` (six decades). Whenever the ADMM says
``optimal`` (``max_iter=5000``: the promise holds at any limit, and a program that does not
certify within it costs a limited time):

- its objective is within 1e-4 relative of Clarabel's (when Clarabel and ECOS agree within 1e-6);
- its point meets the cones within ``cone_tol`` (relative) and its certified gap within
  ``gap_tol``;
- the recovered network's objective equals the program's value within 1e-7 relative.

The default run draws :data:`FAST` seeds; the ``slow`` one :data:`SLOW` more.
"""

from __future__ import annotations

import warnings

import cvxpy as cp
import numpy as np
import pytest

import cvxnn
from cvxnn import gated_relu_program, relu_program, sample_patterns, scp_program
from cvxnn.admm import AdmmSettings
from cvxnn.exceptions import ConvergenceWarning

FAST = 40
SLOW = 360
KINDS = ("relu", "relu", "gated_relu", "scp")  # relu twice: both cone methods


def _draw(seed: int) -> tuple[cvxnn.ConvexProgram, dict[str, str], str]:
    rng = np.random.default_rng(1000 + seed)
    kind = KINDS[seed % 4]
    cone_method = ("projection", "slack")[(seed // 4) % 2] if kind == "relu" else "projection"
    loss = ("squared", "logistic", "hinge")[(seed // 8) % 3]
    n, d, P = int(rng.integers(4, 41)), int(rng.integers(1, 6)), int(rng.integers(1, 9))
    scale = 10.0 ** rng.uniform(-3, 4)
    X = scale * rng.standard_normal((n, d))
    if loss == "squared":
        y = rng.standard_normal(n) * 10.0 ** rng.uniform(-2, 2)
    else:
        y = np.where(rng.random(n) < 0.5, 1.0, -1.0)
    beta = 10.0 ** rng.uniform(-3, 3)
    patterns = sample_patterns(X, P, random_state=seed, bias=bool(seed % 3 == 0))
    if kind == "relu":
        program = relu_program(X, y, patterns, beta=beta, loss=loss)
    elif kind == "gated_relu":
        program = gated_relu_program(X, y, patterns, beta=beta, loss=loss)
    else:
        program = scp_program(X, y, patterns, beta=beta, loss=loss)
    return (
        program,
        {"cone_method": cone_method, "max_iter": 5000},
        f"{kind}/{loss}/{cone_method} n={n} scale={scale:.2g} beta={beta:.2g}",
    )


def _reference(seed: int) -> float | None:
    """Clarabel's optimum when ECOS agrees within 1e-6 relative, else None."""
    values = []
    for solver in ("CLARABEL", "ECOS"):
        program = _draw(seed)[0]
        try:
            program.problem.solve(solver=solver)
        except cp.error.SolverError:
            return None
        if program.problem.status != cp.OPTIMAL:
            return None
        values.append(float(program.problem.value))
    clarabel, ecos = values
    if abs(clarabel - ecos) > 1e-6 * max(abs(clarabel), 1e-12):
        return None
    return clarabel


def _check(seed: int) -> None:
    program, settings, label = _draw(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        program.problem.solve(method=cvxnn.ADMM, **settings)
    result = program.problem.solver_stats.extra_stats
    if result.status != cp.OPTIMAL:
        return
    defaults = AdmmSettings()
    assert result.cone_violation_rel <= defaults.cone_tol, label
    assert result.duality_gap <= defaults.gap_tol * abs(result.objective) * (1 + 1e-12), label
    reference = _reference(seed)
    if reference is not None:
        # the interior-point references are accurate to ~1e-8 relative: a floor at their accuracy
        error = abs(result.objective - reference)
        assert error <= 1e-4 * abs(reference) + 1e-8 * abs(reference), (label, result.objective, reference)
    # the recovered network is the program's solution
    X, y, beta = program.X, program.y, float(program.beta.value)
    network_objective = program.network().objective(X, y, beta, program.loss)
    assert abs(network_objective - program.value) <= 1e-7 * abs(program.value), (label, network_objective)


@pytest.mark.parametrize("seed", range(FAST))
def test_optimal_is_certified_feasible_and_recovers_its_network(seed):
    _check(seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(FAST, FAST + SLOW))
def test_optimal_is_certified_feasible_and_recovers_its_network_large(seed):
    _check(seed)
