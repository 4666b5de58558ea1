"""The estimators' ``patterns="search"`` option: argument checks and the per-target search.

Kept apart from :mod:`cvxnn.estimator` so that module stays about the scikit-learn contract.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .certificate import SearchCertificate
from .exceptions import InvalidInputError
from .patterns import ActivationPatterns, sample_patterns
from .pricing import pattern_keys
from .search import search_patterns

__all__ = [
    "PATTERN_MODES",
    "SEARCH_DEFAULTS",
    "check_patterns_mode",
    "check_search_options",
    "fit_patterns",
    "searched_patterns",
]


#: Pattern sources of the estimators.
PATTERN_MODES: tuple[str, ...] = ("search", "sample")

#: ``search_patterns`` defaults of the estimators (a short search: ``fit`` is called often).
SEARCH_DEFAULTS: dict[str, Any] = {
    "warm_start_steps": 200,
    "warm_start_neurons": 16,
    "warm_start_dtype": "float64",  # weights and repeated rows search the same patterns
    "max_rounds": 3,
    "patterns_per_round": 10,
    "max_patterns": 48,
    "n_starts": 50,
    "n_fresh": 20,
    "exact_limit": 0,
}

#: ``search_patterns`` arguments the estimator sets itself.
_SEARCH_RESERVED = frozenset({"X", "y", "beta", "loss", "bias", "random_state", "solver", "n_initial"})


def check_patterns_mode(mode: Any) -> str:
    if not isinstance(mode, str) or mode not in PATTERN_MODES:
        raise InvalidInputError(
            f"patterns must be 'search' (pattern search with a certificate, the default) or 'sample' "
            f"(n_patterns Gaussian gates); got {mode!r}."
        )
    return mode


def check_search_options(options: Any) -> dict[str, Any]:
    if options is None:
        return dict(SEARCH_DEFAULTS)
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise InvalidInputError(
            f"search_options must be None or a dict of cvxnn.search_patterns arguments; got {options!r}."
        )
    reserved = sorted(_SEARCH_RESERVED & set(options))
    if reserved:
        raise InvalidInputError(
            f"search_options may not set {reserved}: the estimator sets them (beta=, loss=, bias=, "
            "random_state=, solver=, n_patterns=)."
        )
    return {**SEARCH_DEFAULTS, **options}


def searched_patterns(
    X: np.ndarray,
    targets: list[np.ndarray],
    *,
    beta: float,
    loss: str,
    bias: bool,
    solver: str,
    n_initial: int,
    options: dict[str, Any],
    rng: np.random.Generator,
    sample_weight: np.ndarray | None = None,
) -> tuple[ActivationPatterns, list[dict[str, np.ndarray]], list[SearchCertificate]]:
    """Run :func:`cvxnn.search_patterns` per target vector (same settings, shared generator).

    ``sample_weight`` (n,) weighs the samples' losses in every search.
    Returns the union of the found patterns, each target's best point ``{"V", "W"}`` of shape
    (d', P) placed on that union (zero on the other targets' patterns, a feasible start) and the
    searches' certificates.
    """
    results = [
        search_patterns(
            X,
            t,
            beta=beta,
            loss=loss,
            bias=bias,
            random_state=rng,
            solver=solver,
            n_initial=n_initial,
            sample_weight=sample_weight,
            **options,
        )
        for t in targets
    ]
    patterns = results[0].patterns
    for res in results[1:]:
        patterns = patterns.union(res.patterns)
    column = {key: i for i, key in enumerate(pattern_keys(patterns.D))}
    starts = []
    for res in results:
        idx = np.asarray([column[key] for key in pattern_keys(res.patterns.D)], dtype=int)
        values = {}
        for name in ("V", "W"):
            full = np.zeros((patterns.gates.shape[0], patterns.n_patterns))
            full[:, idx] = res.program.variables[name].value
            values[name] = full
        starts.append(values)
    return patterns, starts, [res.certificate for res in results]


def fit_patterns(
    X: np.ndarray,
    targets: list[np.ndarray],
    settings: Any,
    rng: np.random.Generator,
    sample_weight: np.ndarray | None = None,
) -> tuple[ActivationPatterns, list[dict[str, np.ndarray]] | None, list[SearchCertificate] | None]:
    """The patterns of a cold ``fit``: searched (``patterns="search"`` on the nominal ``relu``
    program) or sampled. ``settings`` is the estimator's validated settings (``patterns``,
    ``kind``, ``n_patterns``, ``bias``, ``beta``, ``loss``, ``solver``, ``search_options``).
    ``sample_weight`` (n,) weighs the rows' losses in the search. Returns ``(patterns, start
    values or None, certificates or None)``."""
    if settings.patterns == "search" and settings.kind == "relu":
        return searched_patterns(
            X,
            targets,
            beta=settings.beta,
            loss=settings.loss,
            bias=settings.bias,
            solver=settings.solver,
            n_initial=settings.n_patterns,
            options=settings.search_options,
            rng=rng,
            sample_weight=sample_weight,
        )
    return sample_patterns(X, settings.n_patterns, random_state=rng, bias=settings.bias), None, None
