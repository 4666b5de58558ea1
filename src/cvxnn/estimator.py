r"""scikit-learn estimators trained by convex optimization: globally optimal two-layer ReLU networks.

:class:`ConvexReLUClassifier` and :class:`ConvexReLURegressor` wrap the program builders of
:mod:`cvxnn.programs` (and :func:`cvxnn.robust.robust_relu_program` for ``eps > 0``) in the
scikit-learn estimator contract: keyword-only hyperparameters stored untouched by ``__init__``,
every check in ``fit``/``predict``, ``fit`` returns ``self``, fitted attributes end in ``_``.
They pass :func:`sklearn.utils.estimator_checks.parametrize_with_checks` and work inside
``Pipeline`` and ``GridSearchCV``.

What ``fit`` does, for data :math:`X \in \mathbb R^{n \times d}`:

1. find the activation patterns :math:`D_i = \operatorname{diag}(1[X' g_i \ge 0])`,
   :math:`X' = [X, \mathbf 1]` when ``bias``: by :func:`cvxnn.search_patterns` (``patterns=
   "search"``, default) or from ``n_patterns`` Gaussian gates (``"sample"``), seeded by ``random_state``;
2. build one convex program per binary problem on those *shared* patterns — regression and
   binary classification have one, a ``K``-class problem has ``K`` one-vs-rest programs with
   targets :math:`y^{(k)} \in \{-1, +1\}^n` — chosen by ``formulation``:

   - ``"relu"`` (CVX): :math:`\min L(\sum_i D_i X'(v_i - w_i), y) + \beta\sum_i(\|v_i\|_2 +
     \|w_i\|_2)` s.t. :math:`(2D_i - I)X'v_i \ge 0`, :math:`(2D_i - I)X'w_i \ge 0`; with
     ``eps > 0`` its adversarially robust counterpart for perturbations
     :math:`\|\delta_k\|_{\text{norm}} \le \varepsilon`;
   - ``"gated"``: the gated ReLU relaxation (no cone constraints, gated predictor);
   - ``"scp"``: :math:`\min_a L(\sum_h (X' g_h)_+ a_h, y) + \beta\|a\|_1` on the same gates;

3. solve each program with ``solver`` (a CVXPY solver, default Clarabel, or cvxnn's ADMM);
   after a CVXPY solver, polish the point to rounding precision on its support when the KKT
   conditions certify it (:func:`cvxnn.polish.polish_program`: ``relu`` with ``eps = 0``,
   gated and SCP programs, squared and logistic losses), so that, e.g., integer sample
   weights and repeated rows give the same network to about 1e-12;
4. recover the network (:meth:`cvxnn.ConvexProgram.network`). Predictions on new data always
   use the recovered network, never the training patterns.

Losses are summed over samples (no ``1/n``), so ``beta`` is on the scale of the total loss:
double the data and the same ``beta`` regularizes half as much.

**Standardization is the user's job.** Neither estimator centres or scales ``X`` (or ``y``):
put a ``StandardScaler`` in front (``make_pipeline(StandardScaler(), ConvexReLUClassifier())``)
and, for regression targets far from unit scale, wrap the regressor in
``sklearn.compose.TransformedTargetRegressor``. ``beta`` and the solvers' tolerances are only
meaningful on well-scaled data.

How ``tol`` and ``max_iter`` reach each solver (``None``, the default, keeps the solver's own
default). Entries of ``solver_options`` are passed last and win over this mapping:

============  ==============================================  ==================
solver        ``tol`` sets                                    ``max_iter`` sets
============  ==============================================  ==================
ADMM          ``eps_abs``, ``eps_rel``                        ``max_iter``
CLARABEL      ``tol_gap_abs``, ``tol_gap_rel``, ``tol_feas``  ``max_iter``
ECOS          ``abstol``, ``reltol``, ``feastol``             ``max_iters``
SCS           ``eps_abs``, ``eps_rel``                        ``max_iters``
OSQP          ``eps_abs``, ``eps_rel``                        ``max_iter``
GUROBI        ``BarConvTol``, ``BarQCPConvTol``               ``BarIterLimit``
============  ==============================================  ==================

Other solvers take no ``tol``/``max_iter`` (an :class:`~cvxnn.exceptions.InvalidInputError`
says so); give them their own options through ``solver_options``.

Outcome of a solve: ``OPTIMAL`` is silent; ``OPTIMAL_INACCURATE`` or ``USER_LIMIT`` (e.g. the
iteration limit) keeps the returned point and emits a ``ConvergenceWarning`` that is both
:class:`cvxnn.ConvergenceWarning` and :class:`sklearn.exceptions.ConvergenceWarning`;
an infeasible, unbounded or failed solve raises ``cvxpy.error.SolverError`` with a message
naming the solver, the program and what to try; a solver that cannot take the program's cones
(e.g. OSQP on a second-order-cone program) raises
:class:`~cvxnn.exceptions.UnsupportedProblemError`.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, validate_data

from ._validation import (
    LOSSES,
    check_beta,
    check_eps,
    check_n_patterns,
    check_norm,
    check_rng,
)
from .building import build_program
from .enums import Loss, ProgramKind
from .estimator_options import check_bool, check_max_iter, check_solver, check_tol, solver_options
from .estimator_search import check_patterns_mode, check_search_options, fit_patterns
from .exceptions import ConvergenceWarning, InvalidInputError, UnsupportedProblemError
from .patterns import ActivationPatterns
from .polish import polish_program
from .programs import ConvexProgram
from .sample_weight import same_weights, weighted_rows

__all__ = ["ConvexReLUClassifier", "ConvexReLURegressor"]

#: Accepted ``formulation`` values and their canonical names.
FORMULATIONS: dict[str, str] = {"relu": "relu", "gated": "gated", "gated_relu": "gated", "scp": "scp"}

#: Statuses that keep the returned point but warn.
_INACCURATE = (cp.OPTIMAL_INACCURATE, cp.USER_LIMIT)


class EstimatorConvergenceWarning(ConvergenceWarning, _SklearnConvergenceWarning):
    """A solve in ``fit`` stopped before its tolerances.

    Both :class:`cvxnn.ConvergenceWarning` and :class:`sklearn.exceptions.ConvergenceWarning`, so
    either filter catches it. The message names the estimator, the program, the solver, the
    status and the settings, followed by the solver's own report when it gave one (the ADMM
    quotes its residuals and tolerances).
    """


@dataclass(frozen=True)
class _Settings:
    """Validated hyperparameters of one ``fit`` call."""

    formulation: str
    n_patterns: int
    patterns: str
    search_options: dict[str, Any]
    beta: float
    loss: str
    eps: float
    norm: str
    bias: bool
    solver: str
    options: dict[str, Any]
    warm_start: bool

    @property
    def kind(self) -> str:
        """The program kind that will be built."""
        if self.formulation == "relu":
            return ProgramKind.ROBUST_RELU if self.eps > 0 else ProgramKind.RELU
        return ProgramKind.GATED_RELU if self.formulation == "gated" else ProgramKind.SCP

    def structure(self) -> tuple[Any, ...]:
        """What must match for a warm start to reuse a previous fit's patterns and solution."""
        norm = self.norm if self.eps > 0 else None
        return (self.kind, self.n_patterns, self.patterns, self.loss, norm, self.bias)


def _worst_status(statuses: list[str]) -> str:
    """The least favourable of several solve statuses (``optimal`` only if all are)."""
    for status in statuses:
        if status != cp.OPTIMAL:
            return status
    return cp.OPTIMAL


class _ConvexReLUBase(BaseEstimator):
    """Shared machinery of the two estimators (hyperparameter checks, program build and solve)."""

    _allowed_losses: tuple[str, ...] = LOSSES

    def __init__(
        self,
        *,
        formulation: str = "relu",
        n_patterns: int = 16,
        patterns: str = "search",
        search_options: dict[str, Any] | None = None,
        beta: float = 1.0,
        loss: str = "squared",  # scikit-learn takes plain-str defaults: Loss.SQUARED's value
        eps: float = 0.0,
        norm: str = "inf",  # PerturbationNorm.INF's value
        bias: bool = True,
        solver: str = "clarabel",
        solver_options: dict[str, Any] | None = None,
        max_iter: int | None = None,
        tol: float | None = None,
        warm_start: bool = False,
        random_state: int | np.random.Generator | np.random.RandomState | None = None,
    ) -> None:
        self.formulation = formulation
        self.n_patterns = n_patterns
        self.patterns = patterns
        self.search_options = search_options
        self.beta = beta
        self.loss = loss
        self.eps = eps
        self.norm = norm
        self.bias = bias
        self.solver = solver
        self.solver_options = solver_options
        self.max_iter = max_iter
        self.tol = tol
        self.warm_start = warm_start
        self.random_state = random_state

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        # Cached CVXPY programs (kept for warm starts) are neither picklable nor needed.
        state = dict(super().__getstate__())
        state.pop("_programs", None)
        return state

    # ------------------------------------------------------------------ validation
    def _settings(self) -> _Settings:
        if not isinstance(self.formulation, str) or self.formulation not in FORMULATIONS:
            raise InvalidInputError(
                f"Unknown formulation {self.formulation!r}; allowed are 'relu', 'gated' and 'scp'."
            )
        formulation = FORMULATIONS[self.formulation]
        if not isinstance(self.loss, str) or self.loss not in self._allowed_losses:
            raise InvalidInputError(
                f"Unknown loss {self.loss!r} for {type(self).__name__}; allowed are "
                f"{list(self._allowed_losses)}."
            )
        eps = check_eps(self.eps)
        norm = check_norm(self.norm)
        if eps > 0 and formulation != "relu":
            raise InvalidInputError(
                f"eps={eps} > 0 (adversarially robust training) needs formulation='relu'; "
                f"formulation={self.formulation!r} has no robust counterpart. Use eps=0 or 'relu'."
            )
        solver = check_solver(self.solver)
        tol = check_tol(self.tol)
        max_iter = check_max_iter(self.max_iter)
        return _Settings(
            formulation=formulation,
            n_patterns=check_n_patterns(self.n_patterns),
            patterns=check_patterns_mode(self.patterns),
            search_options=check_search_options(self.search_options),
            beta=check_beta(self.beta),
            loss=self.loss,
            eps=eps,
            norm=norm,
            bias=check_bool(self.bias, "bias"),
            solver=solver,
            options=solver_options(solver, tol, max_iter, self.solver_options),
            warm_start=check_bool(self.warm_start, "warm_start"),
        )

    # ------------------------------------------------------------------ programs
    def _build(
        self, X: np.ndarray, target: np.ndarray, patterns: ActivationPatterns, s: _Settings, w: Any = None
    ) -> ConvexProgram:
        weights = None if s.kind == ProgramKind.ROBUST_RELU else w  # robust fits repeat rows instead
        opts = {"beta": s.beta, "loss": s.loss, "eps": s.eps, "norm": s.norm}
        return build_program(s.kind, X, target, patterns, sample_weight=weights, **opts)

    def _weighted(self, X: np.ndarray, y: np.ndarray, sample_weight: Any) -> tuple[Any, Any, Any]:
        s = self._settings()
        robust = s.kind == ProgramKind.ROBUST_RELU
        return weighted_rows(X, y, sample_weight, admm=s.solver == "ADMM", robust=robust)

    def _warm_state(
        self, X: np.ndarray, targets: list[np.ndarray], s: _Settings, sample_weight: np.ndarray | None
    ) -> tuple[ActivationPatterns, list[ConvexProgram] | None, list[dict[str, np.ndarray]] | None] | None:
        """Patterns, cached programs and start values to reuse, or ``None`` for a cold fit."""
        previous = getattr(self, "_fit_structure", None)
        if not s.warm_start or previous is None or previous != (*s.structure(), len(targets), X.shape[1]):
            return None
        programs = getattr(self, "_programs", None)
        if programs is not None and all(
            p.X.shape == X.shape
            and np.array_equal(p.X, X)
            and np.array_equal(p.y, t)
            and same_weights(p.sample_weight, sample_weight)
            for p, t in zip(programs, targets, strict=True)
        ):
            return self.patterns_, programs, None
        # New data: re-derive the patterns of the previous gates on it (no dedup, so the
        # variables keep their shapes) and start from the previous solution.
        old = self.patterns_
        Xa = np.hstack([X, np.ones((X.shape[0], 1))]) if old.bias else X
        patterns = ActivationPatterns(D=Xa @ old.gates >= 0, gates=old.gates, exact=False, bias=old.bias)
        return patterns, None, self._solutions

    def _fit_targets(self, X: np.ndarray, targets: list[np.ndarray], sample_weight: Any = None) -> None:
        """Fit one network per target vector on shared patterns (rows weighted by ``sample_weight``,
        entries > 0, or ``None``); set every fitted attribute."""
        s = self._settings()
        warm = self._warm_state(X, targets, s, sample_weight)
        if warm is None:
            patterns, start, certificates = fit_patterns(
                X, targets, s, check_rng(self.random_state), sample_weight
            )
            programs = None
        else:
            patterns, programs, start = warm
            certificates = None
        if programs is None:
            programs = [self._build(X, t, patterns, s, sample_weight) for t in targets]
            if start is not None:
                for program, values in zip(programs, start, strict=True):
                    for name, value in values.items():
                        program.variables[name].value = value
        else:
            for program in programs:
                program.beta.value = s.beta
                if program.eps is not None:
                    program.eps.value = s.eps

        objectives, statuses, iterations = [], [], []
        for k, program in enumerate(programs):
            self._solve(program, s, warm=warm is not None, index=k, total=len(programs))
            polished = polish_program(program) if s.solver != "ADMM" else None
            objectives.append(polished.objective if polished and polished.polished else float(program.value))
            statuses.append(program.status)
            iterations.append(_iterations(program))

        networks = [program.network() for program in programs]
        self.patterns_ = patterns
        self.certificates_ = certificates
        self.networks_ = networks
        self.objective_ = float(np.sum(objectives))
        self.status_ = _worst_status(statuses)
        self.n_iter_ = int(max(iterations))
        self._solutions = [
            {name: np.array(var.value, dtype=np.float64) for name, var in program.variables.items()}
            for program in programs
        ]
        self._fit_structure = (*s.structure(), len(targets), X.shape[1])
        if s.warm_start:
            self._programs = programs
        else:
            self.__dict__.pop("_programs", None)

    def _solve(self, program: ConvexProgram, s: _Settings, *, warm: bool, index: int, total: int) -> None:
        where = f"{type(self).__name__}: the {program.kind} program" + (
            f" (one-vs-rest problem {index + 1} of {total})" if total > 1 else ""
        )
        options = dict(s.options)
        if warm and s.solver != "ADMM":
            options["warm_start"] = True
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                program.solve(s.solver, **options)
        except cp.error.SolverError as exc:
            if "cannot solve this problem" in str(exc):
                raise UnsupportedProblemError(
                    f"{where} cannot be solved by {s.solver}: {exc} (OSQP takes only QPs/LPs, e.g. "
                    "formulation='scp' with the squared or hinge loss). Use solver='clarabel' or 'admm'."
                ) from exc
            hint = ""
            if s.loss == Loss.LOGISTIC:
                hint += (
                    " The logistic loss needs exponential cones, on which interior-point solvers can "
                    "fail when beta is small and the classes are separable: raise beta, or use "
                    "solver='scs' or the squared/hinge loss."
                )
            if s.solver == "GUROBI":
                hint += (
                    " A size-limited GUROBI license (about 2000 variables and constraints after "
                    "CVXPY's reformulation) refuses larger programs: lower n_patterns or use fewer "
                    "samples."
                )
            raise cp.error.SolverError(
                f"{where} failed in solver {s.solver}: {exc} Try another solver (solver=...), a "
                f"larger beta, or standardized inputs.{hint}"
            ) from exc
        except TypeError as exc:
            if any(str(key) in str(exc) for key in s.options):
                raise InvalidInputError(
                    f"{s.solver} rejected an option from tol/max_iter/solver_options "
                    f"{sorted(s.options)}: {exc}"
                ) from exc
            raise
        status = program.status
        has_values = all(var.value is not None for var in program.variables.values())
        # The solver's own convergence reports (the ADMM's quotes its residuals; CVXPY's generic
        # "Solution may be inaccurate") are folded into one estimator warning.
        reports = [
            w
            for w in caught
            if issubclass(w.category, ConvergenceWarning) or "may be inaccurate" in str(w.message)
        ]
        for w in caught:
            if w not in reports:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
        if status == cp.OPTIMAL and has_values:
            for w in reports:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
            return
        if status in _INACCURATE and has_values and program.value is not None and np.isfinite(program.value):
            stats = program.problem.solver_stats
            detail = " ".join(str(w.message) for w in reports if issubclass(w.category, ConvergenceWarning))
            warnings.warn(
                f"{where} stopped with status {status!r} after {stats.num_iters} iterations of "
                f"{s.solver} (tol={self.tol}, max_iter={self.max_iter}, solver_options="
                f"{self.solver_options}); the returned network may be suboptimal. Raise max_iter or "
                "loosen tol." + (f" Solver report: {detail}" if detail else ""),
                EstimatorConvergenceWarning,
                stacklevel=4,
            )
            return
        raise cp.error.SolverError(
            f"{where} ended with status {status!r} in solver {s.solver} and no usable solution. "
            "The convex training programs are always feasible and bounded, so this is a numerical "
            "failure: standardize X, raise beta, or try another solver."
        )

    # ------------------------------------------------------------------ prediction
    def _outputs(self, X: Any) -> np.ndarray:
        """Network outputs on validated ``X``, shape (n, number of networks)."""
        check_is_fitted(self, "networks_")
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return np.column_stack([net.predict(X) for net in self.networks_])

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        """scikit-learn >= 1.6 tags: dense, finite input only (no NaN, no sparse matrices)."""
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags


def _iterations(program: ConvexProgram) -> int:
    stats = program.problem.solver_stats
    n = getattr(stats, "num_iters", None) if stats is not None else None
    return int(n) if n is not None else 0


_PARAMS_DOC = r"""
    Parameters
    ----------
    formulation : {"relu", "gated", "scp"}, default="relu"
        Which convex program to train (see :mod:`cvxnn.estimator`): the exact-up-to-sampling
        ReLU program (CVX), the gated ReLU relaxation (predicts with a gated network), or the
        sampled convex program on frozen hidden directions.
    n_patterns : int, default=16
        Gaussian gates drawn (``patterns="sample"``; duplicates removed, so
        ``patterns_.n_patterns <= n_patterns``; the programs have about ``2 n_patterns (d + 1)``
        variables and ``2 n n_patterns`` cone rows), or the search's initial Gaussian patterns.
    patterns : {"search", "sample"}, default="search"
        ``"search"``: :func:`cvxnn.search_patterns` per binary problem, then each program over the
        union of the found patterns (``formulation="relu"``, ``eps=0``; the other programs sample).
    search_options : dict or None, default=None
        More :func:`cvxnn.search_patterns` arguments (``None``: ``estimator_search.SEARCH_DEFAULTS``).
    beta : float, default=1.0
        Weight decay :math:`\beta > 0` on the summed loss (not divided by ``n``). The default
        was chosen by 5-fold cross-validation on standardized breast_cancer, wine and diabetes
        (accuracy 0.96 / 0.98 and R^2 0.48 at ``beta=1``, against 0.85 / 0.94 and 0.11 at
        ``beta=0.01``); tune it with ``GridSearchCV``.
    loss : {LOSSES}
        The training loss.
    eps : float, default=0.0
        Adversarial radius; ``0`` trains the nominal program, ``eps > 0`` the robust counterpart
        (formulation ``"relu"`` only) certified for perturbations of the *inputs as given* (i.e.
        after any scaling in the pipeline) with ``||delta||_norm <= eps``.
    norm : {"inf", 2, 1}, default="inf"
        Perturbation norm of the robust program (ignored when ``eps == 0``).
    bias : bool, default=True
        Give every hidden neuron a bias (the programs work on ``[X, 1]``).
    solver : str, default="clarabel"
        ``"admm"`` for cvxnn's structured ADMM, or any installed CVXPY solver name
        (case-insensitive); an unknown or unusable one raises
        :class:`~cvxnn.exceptions.SolverUnavailableError` listing the usable solvers.
    solver_options : dict or None, default=None
        Extra keyword arguments for the solver (its own option names); they win over the
        ``tol``/``max_iter`` mapping. ``solver``, ``method`` and ``warm_start`` are refused.
    max_iter : int or None, default=None
        Iteration limit, mapped onto the solver's own option (table in :mod:`cvxnn.estimator`);
        ``None`` keeps the solver's default.
    tol : float or None, default=None
        Stopping tolerance, mapped onto the solver's absolute/relative (gap and feasibility)
        tolerances; ``None`` keeps the solver's default.
    warm_start : bool, default=False
        Reuse the previous fit: when the program's structure is unchanged (formulation, loss,
        ``n_patterns``, ``bias``, norm, number of features and of binary problems), keep its
        gates and start from its solution. On identical data the cached CVXPY programs are
        re-solved with the new ``beta``/``eps`` through their parameters (DPP, no recompilation;
        SCS/OSQP/GUROBI warm-start, the ADMM starts from the previous point, Clarabel, an
        interior-point method, only saves the compilation). On new data the previous gates'
        patterns on the new ``X`` are used and the previous solution is the starting point.
    random_state : int, numpy Generator, RandomState or None, default=None
        Seed of the pattern sampling and of the search.
"""

_FITTED_DOC = r"""
    network_ : ReLUNetwork or GatedReLUNetwork (or a list of them for multi-class)
        The recovered network (a :class:`~cvxnn.GatedReLUNetwork` for ``formulation="gated"``).
        For more than two classes there is one network per class and ``network_`` is the list
        ``networks_``.
    networks_ : list of ReLUNetwork or GatedReLUNetwork
        One network per binary problem: one for regression and binary classification, one per
        class (one-vs-rest, in the order of ``classes_``) for multi-class. Always present.
    certificates_ : list of SearchCertificate or None
        ``patterns="search"``: each binary problem's :class:`~cvxnn.certificate.SearchCertificate`
        (lower bound over all networks, largest violation found). ``None`` otherwise.
    patterns_ : ActivationPatterns
        The patterns on the training data shared by every binary problem (its ``gates`` are the
        hidden directions of ``formulation="scp"``).
    objective_ : float
        Optimal value of the convex program (summed over the one-vs-rest problems); with the
        ``relu`` and ``scp`` formulations it equals the non-convex training objective of the
        recovered network(s) (loss + ``beta/2`` times the squared weights).
    status_ : str
        CVXPY status of the solve (the least favourable one over one-vs-rest problems).
    n_iter_ : int
        Iterations the solver reported (the largest over one-vs-rest problems; 0 when the
        solver reports none).
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of str
        Feature names, when ``X`` had string column names.
"""


class ConvexReLUClassifier(ClassifierMixin, _ConvexReLUBase):
    __doc__ = (
        r"""Two-layer ReLU network classifier trained to global optimality by convex optimization.

    Labels of any type are encoded as ``classes_``; a binary problem trains one network on
    targets :math:`-1` for ``classes_[0]`` and :math:`+1` for ``classes_[1]`` (the squared loss
    regresses onto these :math:`\pm 1` targets); ``K > 2`` classes train ``K`` one-vs-rest networks
    on the same patterns. ``decision_function`` returns the network output(s);
    ``predict_proba`` (logistic loss only) is the sigmoid of it, normalized over classes for
    one-vs-rest. Standardize ``X`` first (``StandardScaler`` in a ``Pipeline``).

    The default loss is the squared loss on :math:`\pm 1` targets: it is the fastest and the
    most reliable with every solver (the ADMM included). The logistic loss (needed for
    ``predict_proba``) uses exponential cones, on which Clarabel can stop inaccurately or fail
    when ``beta`` is small and the classes are separable (measured on 300 blobs: 3 failures and 4
    inaccurate solves in 12 at ``beta=0.01``, none at ``beta=1``); keep ``beta`` large with it.
"""
        + _PARAMS_DOC.replace("{LOSSES}", '{"squared", "hinge", "logistic"}, default="squared"')
        + r"""
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The class labels."""
        + _FITTED_DOC
        + r"""
    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), ConvexReLUClassifier(random_state=0)).fit(X, y)
    >>> model.score(X, y) > 0.9
    True
"""
    )

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> ConvexReLUClassifier:
        r"""Fit the network(s) to data ``X`` of shape (n, d) and labels ``y`` of shape (n,).

        ``sample_weight`` (n,), optional, weighs the rows' losses (:mod:`cvxnn.sample_weight`):
        an integer weight is a repeated row, 0 a removed one. Not with the ADMM or ``eps > 0``.

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
        X, y, weights = self._weighted(X, y, sample_weight)
        check_classification_targets(y)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass"):
            raise InvalidInputError(
                "ConvexReLUClassifier takes one label per sample (binary or multi-class); got "
                f"{kind} targets."
            )
        classes, encoded = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise InvalidInputError(
                f"y has only one class ({classes[0]!r}); a classifier needs at least two classes."
            )
        if classes.size == 2:
            targets = [np.where(encoded == 1, 1.0, -1.0)]
        else:
            targets = [np.where(encoded == k, 1.0, -1.0) for k in range(classes.size)]
        self._fit_targets(X, targets, weights)
        self.classes_ = classes
        self.network_ = self.networks_[0] if classes.size == 2 else self.networks_
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        """Network output(s): shape (n,) for two classes (positive means ``classes_[1]``),
        (n, n_classes) for one-vs-rest."""
        scores = self._outputs(X)
        return scores[:, 0] if len(self.classes_) == 2 else scores

    def predict(self, X: Any) -> np.ndarray:
        """Predicted class labels, shape (n,)."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def _has_proba(self) -> bool:
        return self.loss == Loss.LOGISTIC

    @available_if(_has_proba)
    def predict_proba(self, X: Any) -> np.ndarray:
        r"""Class probabilities (logistic loss only), shape (n, n_classes).

        Binary: :math:`P(\text{classes\_}[1] \mid x) = \sigma(f(x))`, the model the logistic loss
        fits. One-vs-rest: :math:`\sigma(f_k(x))` normalized over the classes.
        """
        p = expit(self.decision_function(X))
        if p.ndim == 1:
            return np.column_stack([1.0 - p, p])
        total = p.sum(axis=1, keepdims=True)
        uniform = np.full_like(p, 1.0 / p.shape[1])
        return np.where(total > 0, p / np.where(total > 0, total, 1.0), uniform)

    @available_if(_has_proba)
    def predict_log_proba(self, X: Any) -> np.ndarray:
        """Logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))


class ConvexReLURegressor(RegressorMixin, _ConvexReLUBase):
    __doc__ = (
        r"""Two-layer ReLU network regressor trained to global optimality by convex optimization.

    Fits one network :math:`f(x) = \sum_j (x^T u_j + b_j)_+ \alpha_j` to a single target with
    the squared loss :math:`\tfrac12\|f(X) - y\|^2` plus weight decay. Standardize ``X`` (and a
    target far from unit scale, e.g. with ``TransformedTargetRegressor``): nothing is rescaled
    here.
"""
        + _PARAMS_DOC.replace("{LOSSES}", '{"squared"}, default="squared"')
        + r"""
    Attributes
    ----------"""
        + _FITTED_DOC
    )

    _allowed_losses = (Loss.SQUARED,)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> ConvexReLURegressor:
        r"""Fit the network to data ``X`` of shape (n, d) and targets ``y`` of shape (n,).

        ``sample_weight`` (n,), optional, weighs the rows' losses (:mod:`cvxnn.sample_weight`):
        an integer weight is a repeated row, 0 a removed one. Not with the ADMM or ``eps > 0``.

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        X, y, weights = self._weighted(X, y, sample_weight)
        self._fit_targets(X, [np.asarray(y, dtype=np.float64)], weights)
        self.network_ = self.networks_[0]
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Network output, shape (n,)."""
        return self._outputs(X)[:, 0]
