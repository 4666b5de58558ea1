r"""Pattern search: grow the pattern set of the convex ReLU program until no pattern is missing.

The convex program (CVX) is globally optimal only over the patterns it is given. The search
(``docs/math.md`` explains every step):

1. starts from Gaussian patterns and from the patterns of a non-convex warm start (full-batch
   Adam with a cosine-decayed step size, :func:`cvxnn.baselines.train_adam`, in float32 by
   default), whose neurons are placed in the program as its starting point; the convex optimum
   over a network's patterns is at most that network's training objective;
2. solves the program (warm-started from the best point so far, new columns zero) and measures
   the point by the objective of the network it recovers, keeping the best, so the objective
   never rises across rounds;
3. prices (:func:`cvxnn.pricing.price`): at :math:`\lambda = \nabla L(\hat y)` (for the hinge
   loss, whose gradient is ambiguous at margin 1, the dual point fitted to the solution's
   stationarity, :func:`cvxnn.dual_point.hinge_stationary_dual`) it ascends
   :math:`|\lambda^T (X'u)_+|` from many starts (the current neurons, the patterns' gates and
   fresh Gaussian directions) and adds the most violated distinct new patterns (value above
   :math:`\beta(1 + \text{tol})`);
4. refines: a short Adam run from the recovered network moves its neurons' gates; their
   patterns join the candidates, and the refined network becomes the point when it is better;
5. stops when no start finds a violation, or on ``max_patterns``, ``max_rounds`` or
   ``time_limit``, and attaches a :class:`~cvxnn.certificate.SearchCertificate`: the largest
   violation found and a valid lower bound on the optimum over *all* patterns.

Example
-------
>>> result = cvxnn.search_patterns(X, y, beta=1.0, random_state=0)   # doctest: +SKIP
>>> result.objective, result.certificate.lower_bound, result.network.predict(X_test)
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._validation import (
    add_bias_column,
    check_beta,
    check_loss,
    check_positive_int,
    check_positive_real,
    check_rng,
    check_X,
    check_y,
)
from .baselines import TRAINING_DTYPES, train_adam
from .certificate import SearchCertificate, certify
from .dual_point import hinge_stationary_dual
from .estimator_options import check_solver
from .exceptions import ConvergenceWarning, InvalidInputError
from .losses import loss_gradient
from .pattern_pool import PatternPool, network_blocks, pool_objective
from .patterns import ActivationPatterns, sample_patterns
from .pricing import price, select_new_patterns
from .programs import ConvexProgram, relu_program
from .recovery import ReLUNetwork, relu_network_from_blocks
from .sample_weight import check_sample_weight

__all__ = ["PatternSearchResult", "SearchRound", "search_patterns"]


@dataclass(frozen=True)
class SearchRound:
    """One round of :func:`search_patterns`.

    Attributes
    ----------
    round : int
        0 for the first solve.
    n_patterns : int
        Patterns in the program solved this round.
    objective : float
        Best objective so far (never rises across rounds).
    seconds : float
        Wall time since the search started.
    max_violation : float
        Largest :math:`|\\lambda^T (X'u)_+| / \\beta` the pricing found at this round's solution.
    n_added : int
        New patterns added after this round (0 on the last).
    status : str
        The solver's status for this round.
    """

    round: int
    n_patterns: int
    objective: float
    seconds: float
    max_violation: float
    n_added: int
    status: str


@dataclass(frozen=True, eq=False)
class PatternSearchResult:
    """What :func:`search_patterns` returns.

    Attributes
    ----------
    patterns : ActivationPatterns
        The final pattern set (with gates).
    program : ConvexProgram
        The ``relu`` program over ``patterns``; its variables hold the best point found, so
        ``program.network()`` and :func:`cvxnn.verify` apply (re-solve it with any solver).
    network : ReLUNetwork
        The recovered network; its training objective equals ``objective``.
    objective : float
        The convex objective at the best point (= the network's training objective).
    history : tuple of SearchRound
    certificate : SearchCertificate
    converged : bool
        True when the last pricing found no violated pattern.
    stop_reason : str
        ``"converged"``, ``"max_patterns"``, ``"max_rounds"``, ``"time_limit"`` or
        ``"no_new_pattern"`` (every violating pattern found was already in the program: the
        solve was not accurate enough to price further).
    warm_start_objective : float or None
        Training objective of the non-convex warm-start network (``None`` without one).
    """

    patterns: ActivationPatterns
    program: ConvexProgram
    network: ReLUNetwork
    objective: float
    history: tuple[SearchRound, ...]
    certificate: SearchCertificate
    converged: bool
    stop_reason: str
    warm_start_objective: float | None = None

    def summary(self) -> str:
        """A readable report: sizes, rounds, objective and certificate."""
        last = self.history[-1]
        lines = [
            f"cvxnn pattern search: {len(self.history)} rounds, P = {self.patterns.n_patterns}, "
            f"{last.seconds:.3g} s, stopped: {self.stop_reason}",
            f"  objective {self.objective:.6g} ({self.network.n_neurons} neurons)"
            + (
                f"; warm-start network {self.warm_start_objective:.6g}"
                if self.warm_start_objective is not None
                else ""
            ),
            "  " + self.certificate.summary(),
        ]
        return "\n".join(lines)


# --------------------------------------------------------------------------- validation
def _check_optional_positive_int(value: Any, name: str) -> int | None:
    return None if value is None else check_positive_int(value, name)


def _check_nonnegative_int(value: Any, name: str) -> int:
    if value == 0 and not isinstance(value, bool) and isinstance(value, int | np.integer):
        return 0
    return check_positive_int(value, name)


def _check_tol(tol: Any) -> float:
    if isinstance(tol, bool) or not isinstance(tol, int | float) or not np.isfinite(tol) or tol < 0:
        raise InvalidInputError(f"tol must be a finite number >= 0 (relative pricing margin); got {tol!r}.")
    return float(tol)


def _check_options(options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        raise InvalidInputError(
            f"solver_options must be None or a dict of option names to values; got {options!r}."
        )
    for reserved in ("solver", "method", "warm_start", "time_limit"):
        if reserved in options:
            raise InvalidInputError(
                f"solver_options may not set {reserved!r}: search_patterns sets it (use solver= and "
                "time_limit=)."
            )
    return dict(options)


def _cosine_adam(
    X: np.ndarray,
    y: np.ndarray,
    *,
    beta: float,
    loss: str,
    bias: bool,
    neurons: int,
    steps: int,
    lr: float,
    rng: Any,
    time_limit: float | None,
    initial: ReLUNetwork | None = None,
    weight: np.ndarray | None = None,
    dtype: str = "float64",
) -> ReLUNetwork:
    """Full-batch Adam on the non-convex problem with a cosine-decayed step size, from a random
    network of ``neurons`` neurons or from ``initial``."""
    return train_adam(
        X,
        y,
        n_neurons=neurons,
        beta=beta,
        loss=loss,
        bias=bias,
        epochs=steps,
        learning_rate=lr,
        random_state=rng,
        lr_schedule="cosine",
        initial=initial,
        time_limit=time_limit,
        sample_weight=weight,
        dtype=dtype,
    )


def _refine(
    pool: PatternPool,
    X: np.ndarray,
    y: np.ndarray,
    best_obj: float,
    *,
    beta: float,
    loss: str,
    bias: bool,
    steps: int,
    lr: float,
    rng: np.random.Generator,
    time_limit: float | None,
    weight: np.ndarray | None,
    dtype: str,
) -> tuple[int, float]:
    """Adam from the network of the pool's point; add the moved neurons' patterns (candidates).

    When the refined network's objective is below ``best_obj`` its point becomes the pool's
    (the convex objective there is at most the network's). Returns the number of patterns added
    and the best objective.
    """
    start = relu_network_from_blocks(pool.V, pool.W, bias=bias, prune_tol=0.0)
    if start.n_neurons == 0:
        return 0, best_obj
    refined = _cosine_adam(
        X,
        y,
        beta=beta,
        loss=loss,
        bias=bias,
        neurons=start.n_neurons,
        steps=steps,
        lr=lr,
        rng=rng,
        time_limit=time_limit,
        initial=start,
        weight=weight,
        dtype=dtype,
    )
    D, G, V, W = network_blocks(refined, pool.Xa, bias)
    objective = refined.objective(X, y, beta, loss, sample_weight=weight)
    if objective >= best_obj:
        return pool.add(D, G), best_obj
    n_added = pool.replace_point(D, G, V, W)
    return n_added, min(objective, pool_objective(pool, pool.V, pool.W, y, beta, loss, weight))


# --------------------------------------------------------------------------- the search
def search_patterns(
    X: Any,
    y: Any,
    *,
    beta: float,
    loss: str = "squared",
    bias: bool = False,
    random_state: Any = None,
    max_patterns: int | None = None,
    time_limit: float | None = None,
    solver: str = "ADMM",
    progress: Callable[[SearchRound], object] | None = None,
    n_initial: int = 20,
    warm_start: bool = True,
    warm_start_neurons: int = 100,
    warm_start_steps: int = 3000,
    warm_start_learning_rate: float = 0.03,
    warm_start_dtype: str = "float32",
    refine_steps: int = 200,
    refine_learning_rate: float = 0.003,
    n_starts: int = 100,
    patterns_per_round: int = 50,
    pricing_steps: int = 40,
    tol: float = 1e-3,
    max_rounds: int = 30,
    n_fresh: int = 100,
    exact_limit: int = 500,
    solver_options: Mapping[str, Any] | None = None,
    sample_weight: Any = None,
) -> PatternSearchResult:
    r"""Train a two-layer ReLU network by a pattern search on the convex program, with a certificate.

    See :mod:`cvxnn.search` for the algorithm and ``docs/math.md`` for the mathematics.

    Parameters
    ----------
    X : array_like, shape (n, d)
        Training inputs.
    y : array_like, shape (n,)
        Targets; labels in {-1, +1} for ``loss="logistic"`` and ``"hinge"``.
    beta : float
        Weight decay (> 0) of the objective
        :math:`L(f(X), y) + \tfrac\beta2(\|U\|_F^2 + \|b\|^2 + \|\alpha\|^2)`.
    loss : {"squared", "logistic", "hinge"}
    bias : bool
        Hidden biases (the program works on ``[X, 1]``).
    random_state : None, int or numpy Generator
        Seeds the Gaussian patterns, the warm start and the pricing starts.
    max_patterns : int or None
        Stop adding patterns at this many (``None``: ``max(200, 10 n_initial)`` plus what the
        warm start brings, at most 2000).
    time_limit : float or None
        Wall-clock budget in seconds, counted from the call: at most half of it for the warm
        start, the rest checked between rounds and handed to the ADMM; the certificate's conic
        solve gets what is left and is skipped when nothing is (the bound is then looser).
    solver : str
        ``"ADMM"`` (cvxnn's structured ADMM, warm-started every round) or a CVXPY solver name.
    progress : callable or None
        Called with each :class:`SearchRound` as it completes.
    n_initial : int
        Gaussian patterns to start from (>= 0).
    warm_start : bool
        Add the patterns (and the point) of a full-batch Adam run of the non-convex problem (step
        size decayed by a cosine schedule; with ``time_limit``, shortened to at most half of it).
    warm_start_neurons, warm_start_steps, warm_start_learning_rate
        Its width, number of steps and initial step size.
    warm_start_dtype : {"float32", "float64"}
        Precision of the warm start's and the refinement's arithmetic. ``"float32"`` runs about
        3x faster per step at (2000, 50), width 100, and reached the same objectives there
        (it only proposes patterns and starting points: every objective is evaluated in
        float64); ``"float64"`` makes integer sample weights and repeated rows search the same
        patterns up to float64 rounding.
    refine_steps : int
        After each solve, Adam steps (cosine-decayed from ``refine_learning_rate``) on the
        non-convex problem from the recovered network (0: none). The moved neurons' patterns
        join the candidates, and the refined network becomes the point of the next solve when
        its objective is lower.
    refine_learning_rate : float
        Its initial step size.
    n_starts : int
        Fresh Gaussian pricing starts per round (the current neurons and gates are added).
    patterns_per_round : int
        New patterns added per round at most.
    pricing_steps : int
        Ascent steps per pricing.
    tol : float
        A pattern counts as violated when its value exceeds ``beta * (1 + tol)``; it must exceed
        the relative accuracy of the solves.
    max_rounds : int
        Solve-price rounds at most.
    n_fresh : int
        Fresh random starts priced at the end for the certificate (0 to skip).
    exact_limit : int
        Compute the dual norm exactly (enumerating every pattern) when the arrangement has at
        most this many patterns (0: always use the closed-form bound).
    solver_options : dict or None
        Keyword settings for the solver (``AdmmSettings`` fields for the ADMM).
    sample_weight : array_like of shape (n,), optional
        Weights of the samples' losses (finite, >= 0): the program, the pricing's dual point
        :math:`\lambda = w \odot \nabla\ell(\hat y)` and the certificate's conjugate are those of
        the weighted loss. The ADMM does not take weighted programs: use a CVXPY solver
        (``solver="CLARABEL"``).

    Returns
    -------
    PatternSearchResult

    Raises
    ------
    InvalidInputError
        For bad data or arguments (the message says what is allowed).
    """
    t_start = time.perf_counter()
    X = check_X(X)
    loss = check_loss(loss)
    y = check_y(y, X.shape[0], loss)
    beta = check_beta(beta)
    if not isinstance(bias, bool | np.bool_):
        raise InvalidInputError(f"bias must be True or False; got {bias!r}.")
    bias = bool(bias)
    rng = check_rng(random_state)
    max_patterns = _check_optional_positive_int(max_patterns, "max_patterns")
    if time_limit is not None:
        time_limit = check_positive_real(time_limit, "time_limit", "seconds")
    solver = check_solver(solver)
    if progress is not None and not callable(progress):
        raise InvalidInputError(
            f"progress must be None or a callable taking a SearchRound; got {progress!r}."
        )
    n_initial = _check_nonnegative_int(n_initial, "n_initial")
    if not isinstance(warm_start, bool | np.bool_):
        raise InvalidInputError(f"warm_start must be True or False; got {warm_start!r}.")
    warm_start_neurons = check_positive_int(warm_start_neurons, "warm_start_neurons")
    warm_start_steps = check_positive_int(warm_start_steps, "warm_start_steps")
    warm_start_learning_rate = check_positive_real(warm_start_learning_rate, "warm_start_learning_rate")
    if warm_start_dtype not in TRAINING_DTYPES:
        raise InvalidInputError(
            f"warm_start_dtype must be one of {TRAINING_DTYPES}; got {warm_start_dtype!r}."
        )
    refine_steps = _check_nonnegative_int(refine_steps, "refine_steps")
    refine_learning_rate = check_positive_real(refine_learning_rate, "refine_learning_rate")
    n_starts = check_positive_int(n_starts, "n_starts")
    patterns_per_round = check_positive_int(patterns_per_round, "patterns_per_round")
    pricing_steps = check_positive_int(pricing_steps, "pricing_steps")
    tol = _check_tol(tol)
    max_rounds = check_positive_int(max_rounds, "max_rounds")
    n_fresh = _check_nonnegative_int(n_fresh, "n_fresh")
    exact_limit = _check_nonnegative_int(exact_limit, "exact_limit")
    options = _check_options(solver_options)
    weight = check_sample_weight(sample_weight, X.shape[0])
    if n_initial == 0 and not warm_start:
        raise InvalidInputError(
            "The search needs starting patterns: n_initial >= 1 or warm_start=True (both 0/False given)."
        )

    Xa = add_bias_column(X, bias)
    pool = PatternPool(Xa)
    warm_objective = None
    if warm_start:
        net = _cosine_adam(
            X,
            y,
            beta=beta,
            loss=loss,
            bias=bias,
            neurons=warm_start_neurons,
            steps=warm_start_steps,
            lr=warm_start_learning_rate,
            rng=rng,
            time_limit=None if time_limit is None else 0.5 * time_limit,
            weight=weight,
            dtype=warm_start_dtype,
        )
        warm_objective = net.objective(X, y, beta, loss, sample_weight=weight)
        D0, G0, V0, W0 = network_blocks(net, Xa, bias)
        if D0.shape[1]:
            pool.add(D0, G0, V0, W0)
    if n_initial:
        sampled = sample_patterns(X, n_initial, random_state=rng, bias=bias)
        pool.add(sampled.D, np.array(sampled.gates))
    if pool.size == 0:  # the warm start died and nothing was sampled
        sampled = sample_patterns(X, 1, random_state=rng, bias=bias)
        pool.add(sampled.D, np.array(sampled.gates))
    if max_patterns is None:
        max_patterns = min(2000, pool.size + max(200, 10 * n_initial))
    threshold = beta * (1.0 + tol)

    history: list[SearchRound] = []
    best_obj = pool_objective(pool, pool.V, pool.W, y, beta, loss, weight)
    stop_reason = "max_rounds"
    status = ""
    program: ConvexProgram | None = None
    last_U = np.zeros((Xa.shape[1], 0))
    last_vals = np.zeros(0)
    for r in range(max_rounds):
        patterns = pool.patterns(bias)
        program = relu_program(X, y, patterns, beta=beta, loss=loss, sample_weight=weight)
        status = _solve(program, pool, solver, options, time_limit, t_start)
        if status != "error":
            V1 = np.asarray(program.variables["V"].value, dtype=np.float64)
            W1 = np.asarray(program.variables["W"].value, dtype=np.float64)
            # the measure is the objective of the network the search returns (equal to the
            # convex objective at a feasible point; an inexact solve's point may not be one)
            net = relu_network_from_blocks(V1, W1, bias=bias, prune_tol=0.0)
            obj1 = net.objective(X, y, beta, loss, sample_weight=weight)
            if np.isfinite(obj1) and obj1 <= best_obj:
                best_obj, pool.V, pool.W = obj1, V1, W1
        lam = _pricing_point(pool, y, beta, loss, weight)
        last_U, last_vals = price(Xa, lam, _pricing_starts(pool, rng, n_starts), n_steps=pricing_steps)
        max_violation = float(np.max(last_vals)) / beta if last_vals.size else 0.0
        elapsed = time.perf_counter() - t_start
        n_added = 0
        if max_violation <= 1.0 + tol:
            stop_reason = "converged"
        elif pool.size >= max_patterns:
            stop_reason = "max_patterns"
        elif time_limit is not None and elapsed >= time_limit:
            stop_reason = "time_limit"
        elif r == max_rounds - 1:
            stop_reason = "max_rounds"
        else:
            pool.prune()
            left = None if time_limit is None else time_limit - (time.perf_counter() - t_start)
            if refine_steps and (left is None or left > 0):
                n_refined, best_obj = _refine(
                    pool,
                    X,
                    y,
                    best_obj,
                    beta=beta,
                    loss=loss,
                    bias=bias,
                    steps=refine_steps,
                    lr=refine_learning_rate,
                    rng=rng,
                    time_limit=left,
                    weight=weight,
                    dtype=warm_start_dtype,
                )
                n_added += n_refined
            D_new, G_new, _ = select_new_patterns(
                Xa,
                last_U,
                last_vals,
                threshold=threshold,
                known=set(pool.index),
                max_new=max(0, min(patterns_per_round, max_patterns - pool.size)),
            )
            n_added += pool.add(D_new, G_new)
            if n_added == 0:
                stop_reason = "no_new_pattern"
        record = SearchRound(r, patterns.n_patterns, best_obj, elapsed, max_violation, n_added, status)
        history.append(record)
        if progress is not None:
            progress(record)
        if n_added == 0:
            break

    assert program is not None  # max_rounds >= 1
    if pool.size != program.n_patterns:  # pruned after the last solve: rebuild over the kept patterns
        program = relu_program(X, y, pool.patterns(bias), beta=beta, loss=loss, sample_weight=weight)
    program.variables["V"].value = pool.V
    program.variables["W"].value = pool.W
    if status not in ("optimal",):
        warnings.warn(
            f"The last solve of the pattern search ended with status {status!r}; the result is the "
            "best point found. Loosen tol or give the solver more iterations.",
            ConvergenceWarning,
            stacklevel=2,
        )
    certificate = certify(
        X,
        y,
        pool.D,
        pool.predictions(pool.V, pool.W),
        beta=beta,
        loss=loss,
        bias=bias,
        objective=best_obj,
        sample_weight=weight,
        live=np.any(pool.V != 0, axis=0) | np.any(pool.W != 0, axis=0),
        max_priced=float(np.max(last_vals)) if last_vals.size else 0.0,
        pricing_point=_pricing_point(pool, y, beta, loss, weight),
        directions=last_U[:, np.argsort(-last_vals)[:20]] if last_vals.size else None,
        random_state=rng,
        n_fresh=n_fresh,
        pricing_steps=pricing_steps,
        tol=tol,
        exact_limit=exact_limit,
        dual_time_limit=_certificate_time(time_limit, t_start),
    )
    return PatternSearchResult(
        patterns=program.patterns,
        program=program,
        network=program.network(),
        objective=best_obj,
        history=tuple(history),
        certificate=certificate,
        converged=stop_reason == "converged",
        stop_reason=stop_reason,
        warm_start_objective=warm_objective,
    )


def _solve(
    program: ConvexProgram,
    pool: PatternPool,
    solver: str,
    options: dict[str, Any],
    time_limit: float | None,
    t_start: float,
) -> str:
    """Solve one round's program warm-started at the pool's point; return its status."""
    program.variables["V"].value = pool.V
    program.variables["W"].value = pool.W
    kwargs = dict(options)
    if solver == "ADMM":
        kwargs["warm_start"] = True
        if time_limit is not None:
            kwargs["time_limit"] = max(time_limit - (time.perf_counter() - t_start), 1e-3)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            program.solve(solver, **kwargs)
    except Exception as exc:  # a failed round keeps the best point; the search goes on
        if isinstance(exc, InvalidInputError):
            raise
        return "error"
    if program.variables["V"].value is None:
        return "error"
    return str(program.status)


def _pricing_point(
    pool: PatternPool, y: np.ndarray, beta: float, loss: str, weight: np.ndarray | None
) -> np.ndarray:
    """The dual point to price at: the loss gradient at the pool's fit, or for the hinge loss
    (ambiguous at margin 1) the dual point fitted to the fit's stationarity conditions."""
    if loss == "hinge":
        return hinge_stationary_dual(pool.Xa, y, pool.D, pool.V, pool.W, beta=beta, sample_weight=weight)
    return loss_gradient(pool.predictions(pool.V, pool.W), y, loss, weight)


def _certificate_time(time_limit: float | None, t_start: float) -> float | None:
    """What is left of ``time_limit`` for the certificate's conic solve (<= 0: skip it)."""
    if time_limit is None:
        return None
    return time_limit - (time.perf_counter() - t_start)


def _pricing_starts(pool: PatternPool, rng: np.random.Generator, n_starts: int) -> np.ndarray:
    """The current neurons (nonzero ``v``/``w`` columns), the gates and Gaussian directions."""
    live_v = pool.V[:, np.any(pool.V != 0, axis=0)]
    live_w = pool.W[:, np.any(pool.W != 0, axis=0)]
    gates = pool.G
    if gates.shape[1] > n_starts:
        gates = gates[:, rng.choice(gates.shape[1], n_starts, replace=False)]
    fresh = rng.standard_normal((pool.Xa.shape[1], n_starts))
    return np.hstack([live_v, live_w, gates, fresh])
