r"""Activation patterns of a two-layer ReLU network on a data set.

A pattern is the diagonal 0/1 matrix :math:`D = \operatorname{diag}(1[X g \ge 0])` of the
neurons' on/off states on the ``n`` training points for some direction :math:`g`; cvxnn stores
a set of ``P`` patterns as the columns of a boolean ``(n, P)`` matrix ``D``. The distinct
patterns are the cells of the hyperplane arrangement :math:`\{x_k^T g = 0\}`. For points in
general position in :math:`\mathbb{R}^d` (no bias) there are exactly
:math:`2 \sum_{k=0}^{d-1} \binom{n-1}{k}` of them.

With ``bias=True`` every routine works on the augmented data :math:`[X, \mathbf 1]`, so a gate
has ``d + 1`` entries (the last one is the hidden bias) and patterns are those of affine
hyperplanes :math:`x^T g_{1:d} + g_{d+1} \ge 0`.

Convention for the exact set: :func:`enumerate_patterns` returns the patterns of the open
(full-dimensional) cells, i.e. the patterns that Gaussian sampling produces with positive
probability. Patterns that only occur for directions lying *on* a hyperplane add nothing to the
convex program: such a direction is feasible for the adjacent open cells' cone constraints with
the same predictions, so the exact program's optimum is unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.optimize import linprog

from ._validation import (
    add_bias_column,
    check_n_patterns,
    check_positive_int,
    check_rng,
    check_X,
)
from .enums import Loss, ProgramKind
from .exceptions import InvalidInputError, PatternLimitError, UnsupportedProblemError
from .losses import loss_gradient
from .solvers import solve_problem

if TYPE_CHECKING:
    from .programs import ConvexProgram

__all__ = [
    "ActivationPatterns",
    "PatternCheck",
    "a_posteriori_check",
    "enumerate_patterns",
    "max_cells",
    "pattern_dual_values",
    "pattern_sample_size",
    "sample_patterns",
]

#: Default cap on the number of exactly enumerated patterns.
DEFAULT_MAX_PATTERNS = 5000
#: Entries of the (n, chunk) gate products sampled at a time (memory of one chunk: ~9 bytes each).
SAMPLE_CHUNK_ENTRIES = 2**18
#: Largest sample size :func:`pattern_sample_size` returns (beyond it the bound is unusable).
MAX_SAMPLE_SIZE = 2**53


def _read_only(arr: np.ndarray) -> np.ndarray:
    arr = np.array(arr, copy=True)
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class ActivationPatterns:
    r"""A set of distinct activation patterns.

    Attributes
    ----------
    D : ndarray of bool, shape (n, P)
        Column ``i`` is the diagonal of :math:`D_i`: ``D[k, i]`` is true when neuron ``i`` is
        active on sample ``k``.
    gates : ndarray of float, shape (d', P) or None
        A unit-norm direction generating each pattern, ``D[:, i] == (X' @ gates[:, i] >= 0)``
        where ``X'`` is ``X`` with a column of ones appended when ``bias`` (``d' = d + bias``).
        ``None`` when the patterns were given without generators.
    exact : bool
        True when ``D`` holds every pattern of the arrangement (see :func:`enumerate_patterns`).
    bias : bool
        Whether the patterns were computed on ``[X, 1]``.
    n_requested : int or None
        How many patterns were asked for before duplicates were removed (sampling only).
    """

    D: np.ndarray
    gates: np.ndarray | None = None
    exact: bool = False
    bias: bool = False
    n_requested: int | None = field(default=None)

    def __post_init__(self) -> None:
        D = np.asarray(self.D)
        if D.ndim != 2:
            raise InvalidInputError(f"D must be a 2-D (n, P) boolean matrix; got shape {D.shape}.")
        if D.shape[1] < 1:
            raise InvalidInputError("A pattern set needs at least one pattern (P >= 1); got P = 0.")
        if D.dtype != bool:
            if not np.all(np.isin(D, (0, 1))):
                raise InvalidInputError("D must hold only 0/1 (or boolean) entries.")
            D = D.astype(bool)
        object.__setattr__(self, "D", _read_only(D))
        if self.gates is not None:
            gates = np.asarray(self.gates, dtype=np.float64)
            if gates.ndim != 2 or gates.shape[1] != D.shape[1]:
                raise InvalidInputError(
                    f"gates must have shape (d', P) with P = {D.shape[1]}; got {gates.shape}."
                )
            object.__setattr__(self, "gates", _read_only(gates))

    @property
    def n_patterns(self) -> int:
        """Number of distinct patterns ``P``."""
        return int(self.D.shape[1])

    @property
    def n_samples(self) -> int:
        """Number of training points ``n`` the patterns are defined on."""
        return int(self.D.shape[0])

    @property
    def signs(self) -> np.ndarray:
        r"""The ``(n, P)`` float matrix :math:`2D - 1` of the cone constraints."""
        return 2.0 * self.D - 1.0

    def union(self, other: ActivationPatterns) -> ActivationPatterns:
        """Patterns of ``self`` followed by those of ``other`` not already present.

        The result is exact when either input is. Gates are kept only when both sets have them.
        """
        if other.n_samples != self.n_samples or other.bias != self.bias:
            raise InvalidInputError(
                "Cannot merge pattern sets defined on different data "
                f"(n = {self.n_samples} vs {other.n_samples}, bias = {self.bias} vs {other.bias})."
            )
        D = np.hstack([self.D, other.D])
        gates = None
        if self.gates is not None and other.gates is not None:
            gates = np.hstack([self.gates, other.gates])
        keep = _first_unique_columns(D)
        return ActivationPatterns(
            D=D[:, keep],
            gates=None if gates is None else gates[:, keep],
            exact=self.exact or other.exact,
            bias=self.bias,
        )

    def contains(self, D: np.ndarray) -> np.ndarray:
        """For each column of a boolean ``(n, K)`` matrix, whether it is one of these patterns."""
        D = np.asarray(D, dtype=bool)
        if D.ndim != 2 or D.shape[0] != self.n_samples:
            raise InvalidInputError(f"Expected a boolean (n={self.n_samples}, K) matrix; got {D.shape}.")
        own = {col.tobytes() for col in np.packbits(self.D, axis=0).T}
        return np.array([col.tobytes() in own for col in np.packbits(D, axis=0).T], dtype=bool)

    def __repr__(self) -> str:
        kind = "exact" if self.exact else "sampled"
        extra = f", requested={self.n_requested}" if self.n_requested is not None else ""
        return f"ActivationPatterns({kind}, n={self.n_samples}, P={self.n_patterns}, bias={self.bias}{extra})"


def _first_unique_columns(D: np.ndarray) -> np.ndarray:
    """Indices of the first occurrence of each distinct column of ``D``, in original order."""
    packed = np.ascontiguousarray(np.packbits(D, axis=0).T)
    _, first = np.unique(packed, axis=0, return_index=True)
    return np.sort(first)


def _unit_columns(G: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(G, axis=0)
    norms[norms == 0] = 1.0
    return G / norms


def sample_patterns(
    X: Any,
    n_patterns: int,
    *,
    random_state: Any = None,
    bias: bool = False,
) -> ActivationPatterns:
    r"""Sample activation patterns from Gaussian gates.

    Draws :math:`g_h \sim \mathcal N(0, I_{d'})` for :math:`h = 1..P_s` and forms
    :math:`D_h = \operatorname{diag}(1[X' g_h \ge 0])` (ties count as active), then removes
    duplicate patterns, keeping the first gate of each.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Training inputs.
    n_patterns : int
        Number of gates to draw (``P_s >= 1``). The effective number of distinct patterns,
        ``result.n_patterns``, can be smaller; ``result.n_requested`` records ``P_s``.
    random_state : None, int, numpy Generator or RandomState
        Seed for reproducible sampling.
    bias : bool
        Sample on ``[X, 1]`` (affine hyperplanes; gates of length ``d + 1``).

    Returns
    -------
    ActivationPatterns
        ``D`` of shape (n, P) with ``P <= n_patterns``, unit-norm ``gates`` of shape (d', P),
        ``exact=False``.

    See Also
    --------
    pattern_sample_size : how many patterns the scenario bound asks for.
    """
    Xa = add_bias_column(check_X(X), bool(bias))
    n_patterns = check_n_patterns(n_patterns)
    rng = check_rng(random_state)
    n, d = Xa.shape
    cap = max_cells(n, d)
    chunk = max(1, min(n_patterns, SAMPLE_CHUNK_ENTRIES // n))
    seen: set[bytes] = set()
    kept_D: list[np.ndarray] = []
    kept_G: list[np.ndarray] = []
    remaining = n_patterns
    while remaining > 0 and len(seen) < cap:  # at `cap` patterns every further draw is a repeat
        m = min(chunk, remaining)
        remaining -= m
        G = rng.standard_normal((d, m))  # one chunk: the same draws as one (d, P) matrix
        D = Xa @ G >= 0
        packed = np.ascontiguousarray(np.packbits(D, axis=0).T)
        _, first = np.unique(packed, axis=0, return_index=True)
        first = np.sort(first)
        new = np.array([j for j in first if packed[j].tobytes() not in seen], dtype=np.intp)
        seen.update(packed[j].tobytes() for j in new)
        kept_D.append(D[:, new])
        kept_G.append(G[:, new])
    return ActivationPatterns(
        D=np.hstack(kept_D),
        gates=_unit_columns(np.hstack(kept_G)),
        exact=False,
        bias=bool(bias),
        n_requested=n_patterns,
    )


def max_cells(n: int, r: int) -> int:
    r"""Most cells a central arrangement of ``n`` hyperplanes in :math:`\mathbb R^r` can have,
    :math:`2 \sum_{k=0}^{\min(r, n)-1} \binom{n-1}{k} \le 2^n` (attained in general position):
    an upper bound on the number of distinct activation patterns of ``n`` points."""
    if n < 1:
        return 1
    return 2 * sum(math.comb(n - 1, k) for k in range(min(r, n)))


def _max_margin(A: np.ndarray) -> tuple[float, np.ndarray]:
    r"""Solve :math:`\max t` s.t. :math:`A g \ge t`, :math:`\|g\|_\infty \le 1`, :math:`t \le 1`.

    Returns the optimal margin ``t`` (``-inf`` when the LP fails) and its ``g``.
    """
    m, d = A.shape
    c = np.zeros(d + 1)
    c[-1] = -1.0
    A_ub = np.hstack([-A, np.ones((m, 1))])
    bounds = [(-1.0, 1.0)] * d + [(None, 1.0)]
    res = linprog(c, A_ub=A_ub, b_ub=np.zeros(m), bounds=bounds, method="highs")
    if res.status != 0:
        return -np.inf, np.zeros(d)
    return float(-res.fun), res.x[:d]


def enumerate_patterns(
    X: Any,
    *,
    bias: bool = False,
    max_patterns: int = DEFAULT_MAX_PATTERNS,
    tol: float = 1e-9,
    progress: Callable[[int, int, int], object] | None = None,
) -> ActivationPatterns:
    r"""Enumerate every activation pattern of ``X`` exactly (all cells of the arrangement).

    Incremental cell splitting: hyperplanes :math:`x_k^T g = 0` are added one at a time; every
    cell carries an interior witness direction, so the side of the new hyperplane that the
    witness lies on exists for free and the other side is decided by one small LP (maximize the
    margin :math:`t` with :math:`s_j x_j^T g \ge t` over the cell's signs, in a box). Rows are
    normalized first, so ``tol`` is an absolute margin on unit hyperplane normals. Zero rows are
    active in every pattern (ties count as active).

    Parameters
    ----------
    X : array_like, shape (n, d)
        Training inputs. Only small ``n`` and rank are feasible: the count grows like
        :math:`O(n^r)`.
    bias : bool
        Enumerate on ``[X, 1]`` (affine hyperplanes).
    max_patterns : int
        Refuse (:class:`~cvxnn.exceptions.PatternLimitError`) as soon as the partial count
        exceeds this cap.
    tol : float
        A cell exists when its maximal margin exceeds ``tol``.
    progress : callable or None
        Called as ``progress(done, total, cells)`` after each hyperplane: ``done`` of the
        ``total`` nonzero rows are processed and the arrangement has ``cells`` cells so far (the
        last hyperplanes cost the most: each splits every cell). ``None``: silent.

    Returns
    -------
    ActivationPatterns
        Every distinct pattern of the open cells with a unit-norm interior gate each,
        ``exact=True``. For points in general position without bias,
        ``P = 2 * sum_{k<d} C(n-1, k)``.
    """
    Xa = add_bias_column(check_X(X), bool(bias))
    max_patterns = check_positive_int(max_patterns, "max_patterns")
    if isinstance(tol, bool) or not isinstance(tol, int | float | np.floating | np.integer):
        raise InvalidInputError(f"tol must be a real number in [0, 1); got {type(tol).__name__} {tol!r}.")
    if not 0 <= float(tol) < 1:
        raise InvalidInputError(
            f"tol must be in [0, 1) (a margin on unit hyperplane normals, which is at most 1); got {tol!r}."
        )
    tol = float(tol)
    if progress is not None and not callable(progress):
        raise InvalidInputError(
            "progress must be None or a callable progress(done, total, cells); "
            f"got {type(progress).__name__}."
        )
    n, d = Xa.shape
    row_norms = np.linalg.norm(Xa, axis=1)
    nonzero = np.flatnonzero(row_norms > 0)
    A = Xa[nonzero] / row_norms[nonzero, None]

    # cells: sign rows (over processed hyperplanes) and interior witnesses
    signs = np.zeros((1, 0))
    witnesses = np.ones((1, d)) / np.sqrt(d)
    for k in range(A.shape[0]):
        a = A[k]
        processed = A[:k]
        new_signs: list[np.ndarray] = []
        new_witnesses: list[np.ndarray] = []
        side = witnesses @ a
        for cell_signs, g, s in zip(signs, witnesses, side, strict=True):
            sides_known = []
            if abs(s) > tol:
                sides_known.append((1.0 if s > 0 else -1.0, g))
            for sgn in (1.0, -1.0):
                if any(known == sgn for known, _ in sides_known):
                    continue
                rows = np.vstack([cell_signs[:, None] * processed, sgn * a[None, :]])
                margin, g_new = _max_margin(rows)
                if margin > tol:
                    sides_known.append((sgn, g_new))
            for sgn, g_cell in sides_known:
                new_signs.append(np.append(cell_signs, sgn))
                new_witnesses.append(g_cell)
        if len(new_signs) > max_patterns:
            raise PatternLimitError(
                f"Exact enumeration exceeds max_patterns={max_patterns} (reached "
                f"{len(new_signs)} cells after {k + 1} of {A.shape[0]} hyperplanes). Use "
                "sample_patterns(...) for a sampled program, or raise max_patterns."
            )
        signs = np.array(new_signs)
        witnesses = np.array(new_witnesses)
        if progress is not None:
            progress(k + 1, A.shape[0], signs.shape[0])

    D = np.ones((n, signs.shape[0]), dtype=bool)
    D[nonzero] = signs.T > 0
    keep = _first_unique_columns(D)
    return ActivationPatterns(
        D=D[:, keep], gates=_unit_columns(witnesses.T[:, keep]), exact=True, bias=bool(bias)
    )


def pattern_sample_size(n_samples: int, *, psi: float, xi: float) -> int:
    r"""Number of sampled patterns the scenario bound asks for.

    .. math:: P_s \ge \min\Big\{\frac{n}{\psi\xi} - 1,\;
              \frac{2}{\psi}\big(n - 1 + \ln\tfrac{1}{\xi}\big)\Big\}

    With that many sampled patterns, with probability at least ``1 - xi`` a fresh random
    pattern would lower the optimum of the sampled program with probability at most ``psi``.

    Parameters
    ----------
    n_samples : int
        Number of training points ``n`` (the dual dimension).
    psi, xi : float
        Violation level and confidence, each in (0, 1).
    """
    n = check_positive_int(n_samples, "n_samples")
    for name, value in (("psi", psi), ("xi", xi)):
        ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
        if not ok or not 0 < float(value) < 1:
            raise InvalidInputError(f"{name} must be a number in (0, 1); got {value!r}.")
    psi, xi = float(psi), float(xi)
    # in logs: n / (psi xi) and 2 (n - 1 + ln(1/xi)) / psi overflow, or divide by a product
    # that underflows to zero, for tiny psi and xi or huge n
    log_first = math.log(n) - math.log(psi) - math.log(xi)
    log_second = math.log(2.0) - math.log(psi) + math.log(n - 1 - math.log(xi)) if n < 2**60 else math.inf
    log_cap = math.log(MAX_SAMPLE_SIZE)
    if min(log_first, log_second) > log_cap:
        raise InvalidInputError(
            f"pattern_sample_size(n_samples={n}, psi={psi}, xi={xi}) asks for more than 2^53 patterns; "
            "use larger psi and xi (or fewer samples)."
        )
    first = n / (psi * xi) - 1.0 if log_first <= log_cap else math.inf
    second = (2.0 / psi) * (n - 1 - math.log(xi)) if log_second <= log_cap else math.inf
    bound = min(first, second)
    return max(1, math.ceil(bound))


@dataclass(frozen=True)
class PatternCheck:
    """Outcome of :func:`a_posteriori_check`.

    Attributes
    ----------
    n_tested : int
        Fresh patterns drawn (with repetitions).
    n_violating : int
        How many of them violate dual feasibility of the current solution.
    violation_rate : float
        ``n_violating / n_tested``, an estimate of ``psi``.
    values : ndarray, shape (n_tested,)
        For each fresh pattern, :math:`\\max_\\pm \\max\\{\\pm\\lambda^T D X u\\}` over the unit
        ball intersected with the pattern's cone; violation when it exceeds ``beta``.
    beta : float
        The regularization strength the values are compared with.
    """

    n_tested: int
    n_violating: int
    violation_rate: float
    values: np.ndarray
    beta: float


def _dual_point(loss: str, y: np.ndarray, yhat: np.ndarray) -> np.ndarray:
    """The dual point :math:`\\lambda = -\\nabla L(\\hat y)` of a differentiable loss."""
    if loss == Loss.HINGE:
        raise UnsupportedProblemError(
            "The a-posteriori check needs a differentiable loss ('squared' or 'logistic'); got 'hinge'."
        )
    return -loss_gradient(yhat, y, loss)


def a_posteriori_check(
    program: ConvexProgram,
    n_fresh: int = 100,
    *,
    random_state: Any = None,
    rtol: float = 1e-3,
    solver: str = "CLARABEL",
) -> PatternCheck:
    r"""Estimate how many fresh patterns would still lower a solved sampled program's optimum.

    At a solution :math:`\hat y` of the (nominal ReLU) program the dual point is
    :math:`\lambda = -\nabla L(\hat y)` (``y - yhat`` for the squared loss). A pattern ``D``
    violates dual feasibility, i.e. adding it would lower the optimum, when

    .. math:: \max\{\pm\lambda^T D X u : \|u\|_2 \le 1,\ (2D - I) X u \ge 0\} > \beta .

    All fresh patterns are tested in one vectorized second-order-cone program (the problems are
    separable per column).

    Parameters
    ----------
    program : ConvexProgram
        A solved ``relu`` program with squared or logistic loss.
    n_fresh : int
        Number of fresh Gaussian gates to draw.
    rtol : float
        A pattern counts as violating when its value exceeds ``beta * (1 + rtol)``. It must
        exceed the relative accuracy of the solve that produced the solution (default solver
        tolerances leave about 1e-4).
    solver : str
        CVXPY solver for the test problem.
    """

    if program.kind != ProgramKind.RELU:
        raise UnsupportedProblemError(
            f"a_posteriori_check supports 'relu' programs; got kind {program.kind!r}."
        )
    n_fresh = check_positive_int(n_fresh, "n_fresh")
    if not isinstance(rtol, int | float) or not np.isfinite(rtol) or rtol < 0:
        raise InvalidInputError(f"rtol must be a finite number >= 0; got {rtol!r}.")
    yhat = program.predictions()
    lam = _dual_point(program.loss, program.y, yhat)
    Xa = program.design
    rng = check_rng(random_state)
    D_raw = Xa @ rng.standard_normal((Xa.shape[1], n_fresh)) >= 0
    packed = np.ascontiguousarray(np.packbits(D_raw, axis=0).T)
    _, first, inverse = np.unique(packed, axis=0, return_index=True, return_inverse=True)
    D = D_raw[:, first]
    K = D.shape[1]
    vals = pattern_dual_values(Xa, D, lam, solver=solver)
    per_unique = np.maximum(vals[:K], vals[K:])
    values = per_unique[np.ravel(inverse)]
    beta = float(program.beta.value)
    n_viol = int(np.sum(values > beta * (1.0 + rtol)))
    return PatternCheck(
        n_tested=n_fresh,
        n_violating=n_viol,
        violation_rate=n_viol / n_fresh,
        values=values,
        beta=beta,
    )


def pattern_dual_values(
    Xa: np.ndarray, D: np.ndarray, lam: np.ndarray, *, solver: str = "CLARABEL"
) -> np.ndarray:
    r"""Each pattern's dual-constraint values, one vectorized SOCP over all of them.

    For pattern :math:`D_j` (column ``j`` of ``D``, shape (n, K)) and sign :math:`\pm`:

    .. math:: \max\{\pm\lambda^T D_j X' u : \|u\|_2 \le 1,\ (2D_j - I) X' u \ge 0\}.

    Returns shape (2K,): the ``+lambda`` values of the K patterns, then the ``-lambda`` values.
    Raises ``cvxpy.error.SolverError`` when the solve does not end (inaccurately) optimal.
    """
    import cvxpy as cp

    D = np.asarray(D, dtype=np.float64)
    # the columns are separable: maximizing their sum maximizes each one
    C = Xa.T @ (D * lam[:, None])
    C2 = np.hstack([C, -C])
    S2 = np.hstack([2.0 * D - 1.0, 2.0 * D - 1.0])
    U = cp.Variable((Xa.shape[1], C2.shape[1]))
    problem = cp.Problem(
        cp.Maximize(cp.sum(cp.multiply(C2, U))),
        [cp.norm(U, 2, axis=0) <= 1, cp.multiply(S2, Xa @ U) >= 0],
    )
    solve_problem(problem, solver)
    if problem.status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
        raise cp.error.SolverError(f"The pattern dual-value problem ended with status {problem.status}.")
    return np.sum(C2 * U.value, axis=0)
