r"""Builders of the nominal convex training programs, each returned as a :class:`ConvexProgram`.

The programs (MATH.md §3 and §5), with :math:`X' = [X, \mathbf 1]` when the patterns carry a
bias and :math:`X' = X` otherwise, :math:`S = 2D - 1` and :math:`L` one of the summed losses of
:mod:`cvxnn.losses`:

``relu`` (CVX)
    :math:`\min_{V,W} L\big(\sum_i D_i X'(v_i - w_i), y\big) + \beta\sum_i(\|v_i\|_2 + \|w_i\|_2)`
    s.t. :math:`(2D_i - I) X' v_i \ge 0`, :math:`(2D_i - I) X' w_i \ge 0`.

``gated_relu``
    :math:`\min_U L\big(\sum_i D_i X' u_i, y\big) + \beta\sum_i\|u_i\|_2` (no cone constraints).

``scp`` (SCP)
    :math:`\min_a L\big(\sum_h (X' g_h)_+ a_h, y\big) + \beta\|a\|_1` for unit gates :math:`g_h`.

Everything is vectorized: the predictions are
``cp.sum(cp.multiply(D, X' @ (V - W)), axis=1)`` and the cones are one
``cp.multiply(S, X' @ V) >= 0`` per block matrix. ``beta`` is a nonnegative
``cvxpy.Parameter`` and every program is DPP, so a beta path re-solves without recompiling::

    program = relu_program(X, y, patterns, beta=1.0)
    for value in (1.0, 0.1, 0.01):
        program.beta.value = value
        program.solve()            # CVXPY reuses the compiled problem
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import cvxpy as cp
import numpy as np

from ._validation import add_bias_column, as_real_array, check_beta, check_loss, check_X, check_y
from .exceptions import InvalidInputError, NotSolvedError, UnsupportedProblemError
from .losses import loss_expression
from .patterns import ActivationPatterns
from .recovery import (
    DEFAULT_PRUNE_TOL,
    PRUNE_OBJECTIVE_RTOL,
    GatedReLUNetwork,
    ObjectiveData,
    ReLUNetwork,
    gated_network_from_blocks,
    relu_network_from_blocks,
    relu_network_from_scp,
)
from .sample_weight import check_sample_weight
from .solvers import solve_with_fallback, usable_solvers

__all__ = ["KINDS", "ConvexProgram", "gated_relu_program", "relu_program", "scp_program"]

#: Program kinds cvxnn builds.
KINDS: tuple[str, ...] = ("relu", "gated_relu", "scp", "robust_relu")


@dataclass(frozen=True, eq=False)
class ConvexProgram:
    r"""A convex training program: a plain ``cvxpy.Problem`` plus the structure behind it.

    Attributes
    ----------
    problem : cvxpy.Problem
        The program itself; solve it with any CVXPY solver or with ``method=cvxnn.ADMM``.
    variables : Mapping[str, cvxpy.Variable]
        ReLU kinds: ``"V"`` and ``"W"`` of shape (d', P), column ``i`` is :math:`v_i` /
        :math:`w_i`. Gated: ``"U"`` (d', P). SCP: ``"a"`` (N,).
    beta : cvxpy.Parameter
        The regularization strength (nonnegative, DPP).
    kind : str
        One of :data:`KINDS`.
    loss : str
        ``"squared"``, ``"logistic"`` or ``"hinge"``.
    X : ndarray, shape (n, d)
        Training inputs (without the bias column).
    y : ndarray, shape (n,)
        Targets (labels in {-1, +1} for logistic and hinge).
    bias : bool
        Whether the program works on ``[X, 1]``.
    yhat : cvxpy.Expression
        The convex model's predictions on the training points, shape (n,).
    loss_term, regularizer : cvxpy.Expression
        The two parts of the objective: ``objective = loss_term + beta * regularizer``.
    patterns : ActivationPatterns or None
        The patterns of ReLU, robust and gated programs.
    gates : ndarray of shape (d', N) or None
        The unit gates of an SCP program.
    eps : cvxpy.Parameter or None
        The perturbation radius of a robust program.
    norm : str or None
        The perturbation norm of a robust program (``"inf"``, ``"2"`` or ``"1"``).
    sample_weight : ndarray of shape (n,) or None
        The weights of the samples' losses, ``None`` when every sample weighs 1.
    """

    problem: cp.Problem
    variables: Mapping[str, cp.Variable]
    beta: cp.Parameter
    kind: str
    loss: str
    X: np.ndarray
    y: np.ndarray
    bias: bool
    yhat: cp.Expression
    loss_term: cp.Expression
    regularizer: cp.Expression
    patterns: ActivationPatterns | None = None
    gates: np.ndarray | None = None
    eps: cp.Parameter | None = None
    norm: str | None = None
    sample_weight: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "variables", MappingProxyType(dict(self.variables)))
        for name in ("X", "y"):
            arr = np.array(getattr(self, name), dtype=np.float64, copy=True)
            arr.flags.writeable = False
            object.__setattr__(self, name, arr)
        from . import _registry

        _registry.register(self)

    # ----------------------------------------------------------------- shapes and data
    @functools.cached_property
    def design(self) -> np.ndarray:
        """The data matrix the program uses, ``X`` or ``[X, 1]``, shape (n, d') (read-only)."""
        design = add_bias_column(self.X, self.bias)
        design.flags.writeable = False
        return design

    @property
    def n_samples(self) -> int:
        """Number of training points ``n``."""
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        """Input dimension ``d`` (without the bias column)."""
        return int(self.X.shape[1])

    @property
    def n_patterns(self) -> int:
        """Number of patterns ``P`` (or of gates ``N`` for SCP)."""
        if self.patterns is not None:
            return self.patterns.n_patterns
        return int(self.gates.shape[1]) if self.gates is not None else 0

    @property
    def exact(self) -> bool:
        """True when the program uses every pattern of the arrangement."""
        return bool(self.patterns is not None and self.patterns.exact)

    # ----------------------------------------------------------------- solving
    @property
    def status(self) -> str | None:
        """CVXPY status string of the last solve (``None`` before any)."""
        return self.problem.status

    @property
    def value(self) -> float | None:
        """Objective value of the last solve."""
        return self.problem.value

    def solve(self, solver: str | None = None, **kwargs: Any) -> float:
        """Solve with a named CVXPY solver (default Clarabel), or ``solver="ADMM"``.

        ``solver="ADMM"`` runs ``problem.solve(method=cvxnn.ADMM, **kwargs)``; any other name
        is validated against the installed, usable CVXPY solvers
        (:class:`~cvxnn.exceptions.SolverUnavailableError` lists them) and passed to
        ``problem.solve(solver=...)`` with ``kwargs``. If that solver fails (an error, e.g.
        Clarabel's InsufficientProgress on some logistic programs, or no solution), the other
        installed solvers of :data:`~cvxnn.solvers.FALLBACK_SOLVERS` are tried with a warning
        before ``cvxpy.error.SolverError`` is raised (:func:`~cvxnn.solvers.solve_with_fallback`).
        Returns the optimal value.
        """
        if isinstance(solver, str) and solver.strip().upper() == "ADMM":
            from .cvxpy_backend import ADMM

            return self.problem.solve(method=ADMM, **kwargs)
        return solve_with_fallback(self.problem, solver, **kwargs)

    def compatible_solvers(self) -> list[str]:
        """Usable CVXPY solvers that accept this program's cones (e.g. OSQP only for QPs/LPs)."""
        names = []
        for name in usable_solvers():
            if name.endswith("_BB"):  # branch-and-bound variants add nothing to continuous programs
                continue
            try:
                self.problem._construct_chain(solver=name)
            except (cp.error.SolverError, ValueError, KeyError):
                continue
            names.append(name)
        return names

    # ----------------------------------------------------------------- results
    def _value_of(self, name: str) -> np.ndarray:
        value = self.variables[name].value
        if value is None:
            raise NotSolvedError(
                f"Variable {name!r} has no value: solve the program first "
                "(program.solve() or program.problem.solve(...))."
            )
        return np.asarray(value, dtype=np.float64)

    def predictions(self) -> np.ndarray:
        """The convex model's predictions on the training points at the current values."""
        for name in self.variables:
            self._value_of(name)
        return np.asarray(self.yhat.value, dtype=np.float64).ravel()

    def network(
        self, prune_tol: float = DEFAULT_PRUNE_TOL, objective_rtol: float = PRUNE_OBJECTIVE_RTOL
    ) -> ReLUNetwork | GatedReLUNetwork:
        """Recover the network from the current variable values (see :mod:`cvxnn.recovery`).

        ReLU, robust and SCP programs give a :class:`~cvxnn.recovery.ReLUNetwork` whose
        non-convex objective equals the convex objective; the gated program gives a
        :class:`~cvxnn.recovery.GatedReLUNetwork`. Blocks below ``prune_tol`` times the largest
        are dropped, smallest first, only while the network's (nominal) training objective
        changes by at most ``objective_rtol`` relative.
        """
        data = ObjectiveData(self.design, self.y, self.loss, float(self.beta.value))
        opts = {"bias": self.bias, "prune_tol": prune_tol, "data": data, "objective_rtol": objective_rtol}
        if self.kind in ("relu", "robust_relu"):
            return relu_network_from_blocks(self._value_of("V"), self._value_of("W"), **opts)
        if self.kind == "scp":
            return relu_network_from_scp(self._value_of("a"), self.gates, **opts)
        if self.patterns is None or self.patterns.gates is None:
            raise UnsupportedProblemError(
                "The gated network needs the patterns' gates to predict on new data; build the "
                "program from sample_patterns/enumerate_patterns output."
            )
        return gated_network_from_blocks(self._value_of("U"), self.patterns.gates, **opts)

    # ----------------------------------------------------------------- inspection
    def summary(self) -> str:
        """A readable description: kind, sizes, patterns, loss, variables, constraints, DCP/DPP."""
        n_scalar_vars = sum(v.size for v in self.variables.values())
        n_scalar_cons = sum(c.size for c in self.problem.constraints)
        source = "exact (all patterns)" if self.exact else "sampled"
        if self.kind == "scp":
            source = "sampled gates"
        lines = [
            f"cvxnn ConvexProgram: {self.kind}",
            f"  data         n={self.n_samples}, d={self.n_features}"
            + (" (+ bias column)" if self.bias else ""),
            f"  patterns     P={self.n_patterns}, {source}"
            + (
                f" (from {self.patterns.n_requested} draws)"
                if self.patterns is not None and self.patterns.n_requested
                else ""
            ),
            f"  loss         {self.loss}",
            f"  beta         {self.beta.value} (cvxpy Parameter)",
        ]
        if self.eps is not None:
            lines.append(f"  eps          {self.eps.value} (cvxpy Parameter), norm l_{self.norm}")
        lines += [
            "  variables    "
            + ", ".join(f"{k} {v.shape}" for k, v in self.variables.items())
            + f"  ({n_scalar_vars} scalars)",
            f"  constraints  {len(self.problem.constraints)} ({n_scalar_cons} scalar rows)",
            f"  DCP {self.problem.is_dcp()}, DPP {self.problem.is_dcp(dpp=True)}, "
            f"QP/LP {self.problem.is_qp()}",
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"ConvexProgram(kind={self.kind!r}, loss={self.loss!r}, n={self.n_samples}, "
            f"d={self.n_features}, P={self.n_patterns}, bias={self.bias})"
        )


# --------------------------------------------------------------------------- validation
def _check_patterns(patterns: ActivationPatterns, Xa: np.ndarray) -> ActivationPatterns:
    if patterns.n_samples != Xa.shape[0]:
        raise InvalidInputError(
            f"patterns were computed on {patterns.n_samples} samples but X has {Xa.shape[0]} rows."
        )
    if patterns.gates is not None:
        if patterns.gates.shape[0] != Xa.shape[1]:
            raise InvalidInputError(
                f"patterns' gates have {patterns.gates.shape[0]} rows but the data has "
                f"{Xa.shape[1]} columns (bias={patterns.bias}); were they computed on this X?"
            )
        Z = Xa @ patterns.gates
        scale = np.abs(Xa).max() * np.sqrt(Xa.shape[1])
        clear = np.abs(Z) > 1e-9 * max(scale, 1.0)
        if np.any(clear & ((Z >= 0) != patterns.D)):
            raise InvalidInputError(
                "patterns do not match X: D differs from 1[X' g >= 0] for the patterns' own "
                "gates. Compute the patterns on the same X (and the same bias setting)."
            )
    return patterns


def _prepare(
    X: Any, y: Any, beta: Any, loss: Any, bias: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, str]:
    X = check_X(X)
    loss = check_loss(loss)
    y = check_y(y, X.shape[0], loss)
    beta = check_beta(beta)
    return X, add_bias_column(X, bias), y, beta, loss


def _prepare_patterned(
    X: Any, y: Any, patterns: Any, beta: Any, loss: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, str, ActivationPatterns]:
    """:func:`_prepare` for the pattern-based builders: the data's bias comes from ``patterns``,
    which must be an :class:`ActivationPatterns` computed on this ``X``."""
    if not isinstance(patterns, ActivationPatterns):
        raise InvalidInputError(
            "patterns must be an ActivationPatterns (from sample_patterns or enumerate_patterns); "
            f"got {type(patterns).__name__}."
        )
    X, Xa, y, beta, loss = _prepare(X, y, beta, loss, patterns.bias)
    return X, Xa, y, beta, loss, _check_patterns(patterns, Xa)


def _beta_parameter(beta: float) -> cp.Parameter:
    return cp.Parameter(nonneg=True, name="beta", value=beta)


def relu_blocks(
    Xa: np.ndarray, patterns: ActivationPatterns
) -> tuple[cp.Variable, cp.Variable, cp.Expression, cp.Expression]:
    r"""Variables ``V``, ``W`` (d', P), the predictions and the group-norm regularizer.

    Returns ``(V, W, yhat, reg)`` with ``yhat = sum(D * (X' (V - W)), axis=1)`` and
    ``reg = sum_i ||v_i||_2 + ||w_i||_2``. Shared by the nominal and robust builders.
    """
    d, P = Xa.shape[1], patterns.n_patterns
    V = cp.Variable((d, P), name="V")
    W = cp.Variable((d, P), name="W")
    yhat = cp.sum(cp.multiply(patterns.D.astype(np.float64), Xa @ (V - W)), axis=1)
    reg = cp.sum(cp.norm(V, 2, axis=0)) + cp.sum(cp.norm(W, 2, axis=0))
    return V, W, yhat, reg


# --------------------------------------------------------------------------- builders
def relu_program(
    X: Any,
    y: Any,
    patterns: ActivationPatterns,
    *,
    beta: float,
    loss: str = "squared",
    sample_weight: Any = None,
) -> ConvexProgram:
    r"""The convex ReLU training program (CVX) of MATH.md §3.

    .. math::
        \min_{V, W}\; L\Big(\sum_{i=1}^P D_i X'(v_i - w_i),\, y\Big)
        + \beta \sum_{i=1}^P \big(\|v_i\|_2 + \|w_i\|_2\big)
        \quad\text{s.t.}\quad (2D_i - I) X' v_i \ge 0,\ (2D_i - I) X' w_i \ge 0.

    With all patterns (:func:`~cvxnn.enumerate_patterns`) its optimum equals that of the
    non-convex two-layer training problem (for enough neurons); with sampled patterns it is an
    upper bound that more patterns can only lower.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Training inputs.
    y : array_like, shape (n,)
        Targets; labels in {-1, +1} for ``loss="logistic"`` and ``"hinge"``.
    patterns : ActivationPatterns
        Patterns on this ``X``; their ``bias`` flag decides whether ``X' = [X, 1]``.
    beta : float
        Weight decay, > 0 (stored as ``program.beta``, a ``cvxpy.Parameter``).
    loss : {"squared", "logistic", "hinge"}
    sample_weight : array_like of shape (n,), optional
        Weights :math:`s_k \ge 0` of each sample's loss (:func:`~cvxnn.losses.loss_expression`);
        ``None`` (default) weighs every sample 1. The ADMM does not take weighted programs.

    Returns
    -------
    ConvexProgram
        ``kind="relu"``, variables ``V`` and ``W`` of shape (d', P).
    """
    X, Xa, y, beta, loss, patterns = _prepare_patterned(X, y, patterns, beta, loss)
    V, W, yhat, reg = relu_blocks(Xa, patterns)
    S = patterns.signs
    beta_p = _beta_parameter(beta)
    weights = check_sample_weight(sample_weight, X.shape[0])
    loss_term = loss_expression(yhat, y, loss, weights)
    problem = cp.Problem(
        cp.Minimize(loss_term + beta_p * reg),
        [cp.multiply(S, Xa @ V) >= 0, cp.multiply(S, Xa @ W) >= 0],
    )
    return ConvexProgram(
        problem=problem,
        variables={"V": V, "W": W},
        beta=beta_p,
        kind="relu",
        loss=loss,
        X=X,
        y=y,
        bias=patterns.bias,
        yhat=yhat,
        loss_term=loss_term,
        regularizer=reg,
        sample_weight=weights,
        patterns=patterns,
    )


def gated_relu_program(
    X: Any,
    y: Any,
    patterns: ActivationPatterns,
    *,
    beta: float,
    loss: str = "squared",
    sample_weight: Any = None,
) -> ConvexProgram:
    r"""The gated ReLU relaxation (Mishkin et al. 2022), MATH.md §3.

    .. math::
        \min_{U}\; L\Big(\sum_{i=1}^P D_i X' u_i,\, y\Big) + \beta \sum_{i=1}^P \|u_i\|_2

    No cone constraints: its optimum is a lower bound on the ReLU program's with the same
    patterns. The recovered predictor is a :class:`~cvxnn.recovery.GatedReLUNetwork` that gates
    new inputs with the patterns' gates. ``sample_weight`` weighs each sample's loss, as in
    :func:`relu_program`.

    Returns
    -------
    ConvexProgram
        ``kind="gated_relu"``, variable ``U`` of shape (d', P).
    """
    X, Xa, y, beta, loss, patterns = _prepare_patterned(X, y, patterns, beta, loss)
    U = cp.Variable((Xa.shape[1], patterns.n_patterns), name="U")
    yhat = cp.sum(cp.multiply(patterns.D.astype(np.float64), Xa @ U), axis=1)
    reg = cp.sum(cp.norm(U, 2, axis=0))
    beta_p = _beta_parameter(beta)
    weights = check_sample_weight(sample_weight, X.shape[0])
    loss_term = loss_expression(yhat, y, loss, weights)
    problem = cp.Problem(cp.Minimize(loss_term + beta_p * reg))
    return ConvexProgram(
        problem=problem,
        variables={"U": U},
        beta=beta_p,
        kind="gated_relu",
        loss=loss,
        X=X,
        y=y,
        bias=patterns.bias,
        yhat=yhat,
        loss_term=loss_term,
        regularizer=reg,
        sample_weight=weights,
        patterns=patterns,
    )


def _check_gates(gates: Any, bias: bool | None, n_features: int) -> tuple[np.ndarray, bool]:
    if isinstance(gates, ActivationPatterns):
        if gates.gates is None:
            raise InvalidInputError("These ActivationPatterns carry no gates; SCP needs gates.")
        if bias is not None and bool(bias) != gates.bias:
            raise InvalidInputError(
                f"bias={bias} contradicts the patterns' bias={gates.bias}; omit bias= to use theirs."
            )
        return np.array(gates.gates), gates.bias
    bias = bool(bias)
    G = as_real_array(gates, "gates") if gates is not None else None
    if G is None or G.ndim != 2:
        raise InvalidInputError(
            "gates must be a (d', N) array (d' = d + 1 with bias) or ActivationPatterns; got "
            f"{None if G is None else G.shape}."
        )
    if G.shape[0] != n_features + int(bias):
        raise InvalidInputError(
            f"gates have {G.shape[0]} rows; expected {n_features + int(bias)} "
            f"(d={n_features}{' + 1 for the bias' if bias else ''})."
        )
    if G.shape[1] < 1:
        raise InvalidInputError("SCP needs at least one gate (N >= 1); got N = 0.")
    if not np.all(np.isfinite(G)):
        raise InvalidInputError("gates contain non-finite values.")
    norms = np.linalg.norm(G, axis=0)
    if np.any(norms == 0):
        raise InvalidInputError(f"gates contain {int(np.sum(norms == 0))} zero column(s).")
    return G / norms, bias


def scp_program(
    X: Any,
    y: Any,
    gates: Any,
    *,
    beta: float,
    loss: str = "squared",
    bias: bool | None = None,
    sample_weight: Any = None,
) -> ConvexProgram:
    r"""The unconstrained sampled convex program (SCP) of MATH.md §5.

    .. math::
        \min_{a \in \mathbb R^N}\; L\Big(\sum_{h=1}^N (X' g_h)_+ a_h,\, y\Big) + \beta\|a\|_1

    Hidden directions :math:`g_h` are frozen (normalized to unit norm here); only the output
    layer is trained, with an :math:`\ell_1` penalty that equals the weight decay of the
    recovered network (:math:`u = \sqrt{|a_h|} g_h`, :math:`\alpha = \pm\sqrt{|a_h|}`). With the
    squared loss it is a QP and with the hinge loss an LP, so OSQP can solve it.

    Parameters
    ----------
    gates : ActivationPatterns or array_like of shape (d', N)
        Gate directions (``d' = d + 1`` with bias). Patterns bring their own bias flag.
    bias : bool or None
        Only for an array of gates: whether its last row is a bias (default False).
    sample_weight : array_like of shape (n,), optional
        Weights of each sample's loss, as in :func:`relu_program`.

    Returns
    -------
    ConvexProgram
        ``kind="scp"``, variable ``a`` of shape (N,).
    """
    X = check_X(X)
    G, bias = _check_gates(gates, bias, X.shape[1])
    X, Xa, y, beta, loss = _prepare(X, y, beta, loss, bias)
    H = np.maximum(Xa @ G, 0.0)
    a = cp.Variable(G.shape[1], name="a")
    yhat = H @ a
    reg = cp.norm1(a)
    beta_p = _beta_parameter(beta)
    weights = check_sample_weight(sample_weight, X.shape[0])
    loss_term = loss_expression(yhat, y, loss, weights)
    problem = cp.Problem(cp.Minimize(loss_term + beta_p * reg))
    return ConvexProgram(
        problem=problem,
        variables={"a": a},
        beta=beta_p,
        kind="scp",
        loss=loss,
        X=X,
        y=y,
        bias=bias,
        yhat=yhat,
        loss_term=loss_term,
        regularizer=reg,
        sample_weight=weights,
        gates=G,
    )
