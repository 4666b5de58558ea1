"""Benchmark instances: constants, the synthetic data, the program and the NumPy checks of a point."""

from __future__ import annotations

import argparse
import dataclasses
import time
from typing import Any

import numpy as np

from cvxnn.losses import loss_value

#: The issue's three sizes ``(n, d, P)``.
DEFAULT_SIZES: tuple[tuple[int, int, int], ...] = ((500, 30, 50), (2000, 50, 100), (50000, 100, 100))
#: A toy size for ``--quick`` and the smoke test.
QUICK_SIZES: tuple[tuple[int, int, int], ...] = ((60, 4, 8),)
#: CVXPY's generic conic solvers.
GENERIC_SOLVERS: tuple[str, ...] = ("CLARABEL", "ECOS", "SCS", "MOSEK")
#: Everything the harness can run, in table order.
ALL_SOLVERS: tuple[str, ...] = (*GENERIC_SOLVERS, "ADMM", "PYSCNN")
#: Default per-solver wall-clock limit in seconds.
DEFAULT_TIMEOUT = 600.0
#: Target relative objective gap.
TARGET_GAP = 1e-4
#: Largest relative cone violation of a point that meets the target (the issue's 1e-4 of |XV|).
TARGET_VIOLATION = 1e-4
#: Relative cone violation up to which a point may serve as the reference when Clarabel did not
#: report optimal (feasible to solver precision; see :func:`score_case`).
REFERENCE_MAX_VIOLATION = 1e-6
#: Generic solvers are not attempted when the cone constraints have more nonzeros than this
#: (2 n d P; (2000, 50, 100) has 2e7 and needs 5 GB in Clarabel; CVXPY could not even build
#: (5000, 100, 200) = 2e8 in 19 GB).
DEFAULT_GENERIC_MAX_NNZ = 25_000_000


# --------------------------------------------------------------------------- problem instances
@dataclasses.dataclass(frozen=True, eq=False)
class BenchCase:
    """One benchmark instance: the size, the data and the program every solver gets.

    Attributes
    ----------
    n, d, P : int
        Requested size; ``program.n_patterns`` is the effective (deduplicated) ``P``.
    beta : float
        Regularization of our objective; pyscnn gets ``beta / n``.
    program : ConvexProgram
        The squared-loss ReLU program (CVX), built once.
    build_s : float
        Seconds to sample the patterns and build the CVXPY problem (not canonicalized).
    """

    n: int
    d: int
    P: int
    beta: float
    program: Any
    build_s: float


def make_data(n: int, d: int, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    r"""Synthetic regression data from a planted two-layer ReLU network.

    :math:`X \sim \mathcal N(0, I_d)` (n x d); :math:`y = \sum_{j=1}^{10} (X u_j)_+ \alpha_j +
    0.1\,\epsilon` with :math:`u_j \sim \mathcal N(0, I_d / d)`, :math:`\alpha_j = \pm 1`, then
    standardized to mean 0 and variance 1. Returns ``(X, y)``.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    U = rng.standard_normal((d, 10)) / np.sqrt(d)
    alpha = rng.choice([-1.0, 1.0], size=10)
    y = np.maximum(X @ U, 0.0) @ alpha + 0.1 * rng.standard_normal(n)
    y = (y - y.mean()) / max(float(y.std()), 1e-12)
    return X, y


def make_case(n: int, d: int, P: int, *, lam: float = 1e-3, seed: int = 0) -> BenchCase:
    r"""Build the benchmark program for one size: data, ``P`` sampled patterns, :math:`\beta = \lambda n`."""
    from cvxnn.patterns import sample_patterns
    from cvxnn.programs import relu_program

    start = time.perf_counter()
    X, y = make_data(n, d, seed=seed)
    patterns = sample_patterns(X, P, random_state=seed + 1)
    beta = lam * n
    program = relu_program(X, y, patterns, beta=beta)
    return BenchCase(n=n, d=d, P=P, beta=beta, program=program, build_s=time.perf_counter() - start)


# --------------------------------------------------------------------------- evaluation
def program_objective(program: Any, V: np.ndarray, W: np.ndarray, D: np.ndarray | None = None) -> float:
    r"""Objective of (CVX) at ``(V, W)``.

    .. math:: L\Big(\sum_i D_i X'(v_i - w_i), y\Big) + \beta\sum_i(\|v_i\|_2 + \|w_i\|_2)

    ``D`` (n x P, 0/1) defaults to the program's patterns; pass another column order for a solver
    that permuted them (pyscnn). Shapes: ``V``, ``W`` are (d', P).
    """
    Xa = program.design
    D = program.patterns.D if D is None else D
    yhat = np.sum(D * (Xa @ (V - W)), axis=1)
    reg = float(np.linalg.norm(V, axis=0).sum() + np.linalg.norm(W, axis=0).sum())
    return loss_value(yhat, program.y, program.loss) + float(program.beta.value) * reg


def cone_violation(
    program: Any, V: np.ndarray, W: np.ndarray, D: np.ndarray | None = None
) -> tuple[float, float]:
    r"""Largest violation of :math:`(2D_i - I)X'v_i \ge 0` (and for ``W``), absolute and relative.

    The relative value divides by :math:`\max(|X'V|_{\max}, |X'W|_{\max})` (the issue's "relative
    to |XV|"); it is 0 for a feasible point. Returns ``(absolute, relative)``.
    """
    Xa = program.design
    D = program.patterns.D if D is None else D
    S = 2.0 * D - 1.0
    XV, XW = Xa @ V, Xa @ W
    absolute = max(0.0, float(np.max(-S * XV)), float(np.max(-S * XW)))
    scale = max(float(np.max(np.abs(XV))), float(np.max(np.abs(XW))))
    return absolute, (absolute / scale if scale > 0 else absolute)


def relative_gap(value: float, reference: float) -> float:
    r""":math:`(f - f_\star) / \max(|f_\star|, 10^{-12})`."""
    return (value - reference) / max(abs(reference), 1e-12)


def parse_size(text: str) -> tuple[int, int, int]:
    parts = text.lower().replace("x", ",").split(",")
    try:
        n, d, P = (int(p) for p in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"a size is N,D,P or NxDxP with positive integers; got {text!r}"
        ) from None
    if min(n, d, P) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be positive; got {text!r}")
    return n, d, P
