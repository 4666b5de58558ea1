"""The reference catalogue holds: every stored optimum is what Clarabel finds, and the NumPy
objective and violation of the kind model agree with CVXPY at the solution."""

from __future__ import annotations

import pytest
from catalogue import CLARABEL_TIGHT, REFERENCES, Reference

import cvxnn
from cvxnn.kinds import KIND_MODELS


@pytest.mark.parametrize("ref", REFERENCES, ids=lambda r: r.name)
def test_stored_optimum_is_clarabels(ref: Reference) -> None:
    program = ref.build()
    value = program.problem.solve(solver="CLARABEL", **CLARABEL_TIGHT)
    assert program.status in ("optimal", "optimal_inaccurate")
    assert value == pytest.approx(ref.optimum, rel=1e-7, abs=1e-9)
    # the kind model's NumPy objective is the CVXPY objective at the same point
    assert program.objective_at() == pytest.approx(value, rel=1e-9)
    assert program.violation_at().relative <= 1e-7


def test_catalogue_covers_every_kind_and_loss() -> None:
    covered = {(ref.kind, ref.loss) for ref in REFERENCES}
    assert covered == {(kind, loss) for kind in KIND_MODELS for loss in cvxnn.Loss}
