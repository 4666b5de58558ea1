"""A catalogue of small reference programs with known optima, shared by the solver tests.

Each :class:`Reference` fixes its data recipe and seed, builds its program with
:func:`cvxnn.build_program`, and stores the optimum Clarabel found once at tight tolerance
(``tol_gap_abs = tol_gap_rel = tol_feas = 1e-9``). ``tests/test_catalogue.py`` re-solves every
entry and checks the constant, so a change of a builder, a loss or the data recipe shows up
there first; the ADMM and verification tests compare with the constants instead of solving
again.

Recipes:

- ``"admm"``: ``n=40, d=4`` Gaussian ``X``, target ``tanh(X w) + 0.1 noise`` (labels: sign about
  the median), 8 sampled patterns with a bias (``random_state=1``), ``beta=0.2``; the data seed
  is 12345 (the suite's ``rng`` fixture).
- ``"verify"``: ``n=10, d=2``, labels ``sign(x_1 - 0.5 x_2 + 0.3 noise)`` from seed 7, 4 sampled
  patterns without bias (``random_state=3``), ``beta=0.1``, ``eps=0.1`` for robust programs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import cvxnn
from cvxnn.enums import Loss, PerturbationNorm, ProgramKind

#: Clarabel settings the optima were computed with.
CLARABEL_TIGHT = {"tol_gap_abs": 1e-9, "tol_gap_rel": 1e-9, "tol_feas": 1e-9}


def admm_data(seed: int = 12345, n: int = 40, d: int = 4, *, labels: bool = False):
    """The ``"admm"`` recipe's ``(X, y)``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.tanh(X @ rng.standard_normal(d)) + 0.1 * rng.standard_normal(n)
    if labels:
        y = np.where(y >= np.median(y), 1.0, -1.0)
    return X, y


def verify_data(seed: int = 7):
    """The ``"verify"`` recipe's ``(X, y, patterns)``."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((10, 2))
    y = np.where(X[:, 0] - 0.5 * X[:, 1] + 0.3 * rng.standard_normal(10) >= 0, 1.0, -1.0)
    return X, y, cvxnn.sample_patterns(X, 4, random_state=3)


@dataclass(frozen=True)
class Reference:
    """One reference program: recipe, kind, loss (and norm), and its optimum."""

    recipe: str
    kind: ProgramKind
    loss: Loss
    optimum: float
    norm: PerturbationNorm | None = None

    @property
    def name(self) -> str:
        return "-".join(str(part) for part in (self.recipe, self.kind, self.loss, self.norm) if part)

    def build(self) -> cvxnn.ConvexProgram:
        """A fresh, unsolved program."""
        if self.recipe == "admm":
            X, y = admm_data(labels=self.loss != Loss.SQUARED)
            patterns = cvxnn.sample_patterns(X, 8, random_state=1, bias=True)
            return cvxnn.build_program(self.kind, X, y, patterns, beta=0.2, loss=self.loss)
        X, y, patterns = verify_data()
        return cvxnn.build_program(
            self.kind, X, y, patterns, beta=0.1, loss=self.loss, eps=0.1, norm=self.norm or "inf"
        )


def _admm(kind: ProgramKind, loss: Loss, optimum: float) -> Reference:
    return Reference("admm", kind, loss, optimum)


def _verify(kind: ProgramKind, loss: Loss, optimum: float, norm: PerturbationNorm | None = None) -> Reference:
    return Reference("verify", kind, loss, optimum, norm)


K, L, N = ProgramKind, Loss, PerturbationNorm
#: Every reference program.
REFERENCES: tuple[Reference, ...] = (
    _admm(K.RELU, L.SQUARED, 1.443842405821352),
    _admm(K.RELU, L.LOGISTIC, 7.240504334214815),
    _admm(K.RELU, L.HINGE, 3.2130033711592985),
    _admm(K.GATED_RELU, L.SQUARED, 0.7383983735523282),
    _admm(K.GATED_RELU, L.LOGISTIC, 3.3368874747239543),
    _admm(K.GATED_RELU, L.HINGE, 0.9205555310369107),
    _admm(K.SCP, L.SQUARED, 3.800359232697444),
    _admm(K.SCP, L.LOGISTIC, 13.232705361150657),
    _admm(K.SCP, L.HINGE, 10.327731427688821),
    _verify(K.RELU, L.SQUARED, 3.499497375584819),
    _verify(K.RELU, L.LOGISTIC, 5.292225208113839),
    _verify(K.RELU, L.HINGE, 5.698169543250379),
    _verify(K.GATED_RELU, L.SQUARED, 2.9239275437358727),
    _verify(K.GATED_RELU, L.LOGISTIC, 4.436928817644027),
    _verify(K.GATED_RELU, L.HINGE, 4.68424755982076),
    _verify(K.SCP, L.SQUARED, 3.669840243384388),
    _verify(K.SCP, L.LOGISTIC, 5.393950948772111),
    _verify(K.SCP, L.HINGE, 6.195830892940838),
    _verify(K.ROBUST_RELU, L.SQUARED, 3.948829883507249, N.INF),
    _verify(K.ROBUST_RELU, L.SQUARED, 3.8674274664054242, N.L2),
    _verify(K.ROBUST_RELU, L.SQUARED, 3.8095603016922537, N.L1),
    _verify(K.ROBUST_RELU, L.LOGISTIC, 5.739530651227865, N.INF),
    _verify(K.ROBUST_RELU, L.LOGISTIC, 5.6349658337166595, N.L2),
    _verify(K.ROBUST_RELU, L.LOGISTIC, 5.574577161252625, N.L1),
    _verify(K.ROBUST_RELU, L.HINGE, 6.745822262129062, N.INF),
    _verify(K.ROBUST_RELU, L.HINGE, 6.647762030742995, N.L2),
    _verify(K.ROBUST_RELU, L.HINGE, 6.605390265318934, N.L1),
)


def reference(recipe: str, kind: str, loss: str, norm: str | None = None) -> Reference:
    """The catalogue entry of a recipe, kind, loss (and norm)."""
    for ref in REFERENCES:
        if (ref.recipe, ref.kind, ref.loss, ref.norm) == (recipe, kind, loss, norm):
            return ref
    raise KeyError((recipe, kind, loss, norm))
