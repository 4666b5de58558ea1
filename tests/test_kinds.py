"""The kind model: every kind's NumPy objective and cone violation agree with CVXPY at any point,
the one normalization of the violation, the enums, and the one builder dispatch."""

from __future__ import annotations

import numpy as np
import pytest
from catalogue import REFERENCES, Reference

import cvxnn
from cvxnn.building import BUILDERS, build_program
from cvxnn.enums import DUAL_EXPONENT, Loss, PerturbationNorm, ProgramKind
from cvxnn.exceptions import InvalidInputError
from cvxnn.kinds import KIND_MODELS, ConeViolation, cone_violation, kind_model


def _random_point(program: cvxnn.ConvexProgram, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(var.shape) for name, var in program.variables.items()}


def _cvxpy_violation(program: cvxnn.ConvexProgram) -> float:
    return max((float(np.max(c.violation(), initial=0.0)) for c in program.problem.constraints), default=0.0)


@pytest.mark.parametrize("ref", REFERENCES, ids=lambda r: r.name)
def test_numpy_objective_and_violation_match_cvxpy_at_random_points(ref: Reference) -> None:
    program = ref.build()
    for seed in range(2):
        values = _random_point(program, seed)
        for name, var in program.variables.items():
            var.value = values[name]
        assert program.objective_at(values) == pytest.approx(program.problem.objective.value, rel=1e-10)
        violation = program.violation_at(values)
        assert violation.absolute == pytest.approx(_cvxpy_violation(program), rel=1e-10, abs=1e-12)
        if KIND_MODELS[program.kind].constrained:
            assert violation.absolute > 0  # a random point leaves the cones
            assert violation.relative == violation.absolute / violation.scale
        else:
            assert violation == ConeViolation(0.0, 0.0)


def test_objective_at_defaults_to_current_values_and_needs_them() -> None:
    program = REFERENCES[0].build()
    with pytest.raises(cvxnn.NotSolvedError, match="solve the program first"):
        program.objective_at()
    values = _random_point(program, 0)
    for name, var in program.variables.items():
        var.value = values[name]
    assert program.objective_at() == program.objective_at(values)


def test_bad_points_are_refused_by_name() -> None:
    program = REFERENCES[0].build()  # relu: V and W
    with pytest.raises(InvalidInputError, match=r"needs the variables \['V', 'W'\]; missing \['W'\]"):
        program.objective_at({"V": np.zeros(program.variables["V"].shape)})
    with pytest.raises(InvalidInputError, match=r"values\['V'\] has shape \(2, 2\)"):
        program.violation_at({"V": np.zeros((2, 2)), "W": np.zeros((2, 2))})
    with pytest.raises(InvalidInputError, match="mapping of variable name"):
        program.objective_at([1, 2])


def test_violation_normalization() -> None:
    signs = np.array([[1.0], [-1.0]])
    # X'b = (2, 1): the second row has sign -1 and value 1, violated by 1; scale max|X'b| = 2
    assert cone_violation(signs, np.array([[2.0], [1.0]])) == ConeViolation(1.0, 2.0)
    assert ConeViolation(1.0, 2.0).relative == 0.5
    assert ConeViolation(0.0, 0.0).relative == 0.0
    # a robust right-hand side enters the violation and the scale
    assert cone_violation(signs, np.array([[2.0], [-1.0]]), rhs=np.array([3.0])) == ConeViolation(2.0, 3.0)


def test_enums_are_their_strings() -> None:
    assert ProgramKind.RELU == "relu" and Loss.HINGE == "hinge" and PerturbationNorm.L1 == "1"
    assert DUAL_EXPONENT[PerturbationNorm.INF] == 1.0 and DUAL_EXPONENT["1"] == np.inf
    program = REFERENCES[0].build()
    assert program.kind is ProgramKind.RELU and program.loss == "squared"
    assert "kind='relu'" in repr(program)


def test_every_kind_declares_its_builder() -> None:
    assert set(BUILDERS) == set(KIND_MODELS) == set(ProgramKind)
    for kind, model in KIND_MODELS.items():
        assert BUILDERS[kind].__name__ == model.builder
        assert getattr(cvxnn, model.builder) is BUILDERS[kind]
    assert all(model.admm for model in KIND_MODELS.values())  # the ADMM solves every kind


def test_build_program_dispatch_and_errors() -> None:
    X = np.random.default_rng(0).standard_normal((8, 2))
    y = np.sign(X[:, 0]) + (X[:, 0] == 0)
    patterns = cvxnn.sample_patterns(X, 3, random_state=0)
    for kind in ProgramKind:
        program = build_program(kind, X, y, patterns, beta=0.1, loss="hinge", eps=0.1)
        assert program.kind == kind
    with pytest.raises(InvalidInputError, match=r"Unknown program kind 'cnn'; the kinds are \['relu'"):
        kind_model("cnn")
    with pytest.raises(InvalidInputError, match="robust_relu programs take no sample_weight"):
        build_program("robust_relu", X, y, patterns, beta=0.1, sample_weight=np.ones(8))


def test_complex_points_are_refused() -> None:
    program = REFERENCES[0].build()
    values = {name: np.zeros(var.shape, dtype=complex) for name, var in program.variables.items()}
    with pytest.raises(InvalidInputError, match=r"values\['V'\] holds complex numbers"):
        program.objective_at(values)


@pytest.mark.parametrize("kind", ["relu", "gated_relu", "scp"])
@pytest.mark.parametrize("loss", list(Loss))
def test_weighted_objective_matches_cvxpy(kind: str, loss: Loss) -> None:
    rng = np.random.default_rng(5)
    X = rng.standard_normal((9, 2))
    y = np.where(X[:, 0] >= 0, 1.0, -1.0)
    weights = rng.uniform(0.0, 2.0, 9)
    program = build_program(
        kind, X, y, cvxnn.sample_patterns(X, 4, random_state=0), beta=0.3, loss=loss, sample_weight=weights
    )
    values = _random_point(program, 1)
    for name, var in program.variables.items():
        var.value = values[name]
    assert program.objective_at() == pytest.approx(program.problem.objective.value, rel=1e-10)
