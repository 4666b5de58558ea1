r"""``cvxnn fit --workers N`` / ``--cluster ADDRESS``: the fit on a Dask cluster.

With either option ``fit`` solves the sampled-pattern ``relu`` program (``--patterns N``
Gaussian gates, drawn exactly as the single-process fit draws them) with the row-sharded ADMM
:func:`cvxnn.distributed.solve_sharded`: one program per target (one for regression and binary
classification, one per class for one-vs-rest), each over the training rows split into one
shard per worker. ``--workers N`` starts a ``distributed.LocalCluster`` of ``N`` worker
processes (one thread each) and closes it afterwards; ``--cluster ADDRESS`` connects a
``distributed.Client`` to a running scheduler and leaves it running. The fitted estimator is the
one the single-process fit would build (same class, hyperparameters, patterns), given the
sharded solutions' networks, so the model file and the report are the same as without the
options (the report adds a ``distributed`` entry).

Combinations with no sharded counterpart are refused before any data is loaded:
:func:`check_options`.
"""

from __future__ import annotations

import argparse
import logging
import math
import types
import warnings
from typing import Any

import numpy as np

from cvxnn.exceptions import InvalidInputError

from .options import positive_int
from .progress import FitProgress, Progress

__all__ = ["add_options", "check_options", "fit_sharded", "requested", "sharded_settings"]

#: Seconds a ``--cluster`` client waits for the scheduler before giving up.
CONNECT_TIMEOUT_S = 20


def add_options(parser: argparse.ArgumentParser) -> None:
    """Add the mutually exclusive ``--workers N`` and ``--cluster ADDRESS`` to ``parser``."""
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        metavar="N",
        help="solve with the row-sharded ADMM on a local Dask cluster of N worker processes "
        "(needs --solver admm and --patterns)",
    )
    group.add_argument(
        "--cluster",
        default=None,
        metavar="ADDRESS",
        help="as --workers, on the running Dask scheduler at ADDRESS (e.g. tcp://host:8786)",
    )


def requested(args: argparse.Namespace) -> bool:
    """True when ``--workers`` or ``--cluster`` was given."""
    return args.workers is not None or args.cluster is not None


def option_name(args: argparse.Namespace) -> str:
    """``"--workers N"`` or ``"--cluster ADDRESS"`` as given, for messages."""
    return f"--workers {args.workers}" if args.workers is not None else f"--cluster {args.cluster}"


def sharded_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~cvxnn.distributed.ShardedSettings` overrides of ``--tol``, ``--max-iter`` and
    ``--solver-opt`` (``--tol`` sets ``eps_abs`` and ``eps_rel``, as for the ADMM)."""
    settings: dict[str, Any] = {}
    if args.tol is not None:
        settings.update(eps_abs=args.tol, eps_rel=args.tol)
    if args.max_iter is not None:
        settings["max_iter"] = args.max_iter
    settings.update(dict(args.solver_opt))
    return settings


def check_options(args: argparse.Namespace) -> None:
    """Refuse what the sharded fit cannot do, with the reason and the way out.

    Raises
    ------
    InvalidInputError
        A formulation other than ``relu``, ``--eps > 0``, a solver other than the ADMM, no
        ``--patterns``, ``--search-opt``, ``--plot``, ``--solver-opt`` keys that are not
        :class:`~cvxnn.distributed.ShardedSettings` fields, or Dask's ``distributed`` missing.
    """
    if not requested(args):
        return
    name = option_name(args)
    if args.formulation != "relu":
        raise InvalidInputError(
            f"{name} solves the relu program (row-sharded ADMM); --formulation {args.formulation} has no "
            "sharded solver. Drop the option to fit on one machine."
        )
    if args.eps > 0:
        raise InvalidInputError(
            f"{name} solves the nominal relu program; --eps {args.eps:g} (adversarial training) has no "
            "sharded solver. Drop one of the two."
        )
    if args.solver.strip().upper() != "ADMM":
        raise InvalidInputError(
            f"{name} runs the row-sharded ADMM; --solver {args.solver} cannot run on a cluster. "
            "Pass --solver admm."
        )
    if not args.patterns:
        raise InvalidInputError(
            f"{name} solves a program of sampled patterns: give --patterns N (the pattern search, fit's "
            "default, runs on one machine only)."
        )
    if args.search_opt:
        raise InvalidInputError(
            f"{name} samples its patterns; --search-opt (the pattern search) does not apply."
        )
    if args.plot:
        raise InvalidInputError(
            f"{name}: --plot is not available for the sharded fit (the report holds the residual checks "
            "the progress bar shows); drop --plot."
        )
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise InvalidInputError(
            f"{name} needs Dask's distributed scheduler, which is not installed: "
            'pip install "cvxnn[distributed]".'
        ) from None
    from cvxnn.distributed import ShardedSettings

    ShardedSettings.coerce(sharded_settings(args))  # unknown or bad --solver-opt keys, named


def start_client(args: argparse.Namespace) -> tuple[Any, Any]:
    """``(client, cluster)``: a new local cluster (``--workers``) or a client of ``--cluster``
    (``cluster`` is then ``None``). Close both with :func:`close_client`."""
    from distributed import Client, LocalCluster

    if args.workers is not None:
        # the workers' own logs stay quiet (a heartbeat racing the shutdown logs a traceback);
        # failures of the solve reach the command through the client
        cluster = LocalCluster(
            n_workers=args.workers,
            processes=True,
            threads_per_worker=1,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        )
        return Client(cluster), cluster
    try:
        return Client(args.cluster, timeout=CONNECT_TIMEOUT_S), None
    except (OSError, ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"--cluster {args.cluster}: could not connect to a Dask scheduler there within "
            f"{CONNECT_TIMEOUT_S} s ({exc}). Give the scheduler's address, e.g. tcp://host:8786."
        ) from None


def close_client(client: Any, cluster: Any) -> None:
    """Close the client, and the local cluster when this command started it."""
    client.close()
    if cluster is not None:
        cluster.close()


def targets_of(est: Any, y: np.ndarray) -> tuple[np.ndarray | None, list[np.ndarray]]:
    """``(classes, targets)`` as the estimator's ``fit`` forms them: the regression target, the
    +-1 labels of ``classes[1]`` (binary), or one +-1 vector per class (one-vs-rest)."""
    from sklearn.base import is_classifier

    if not is_classifier(est):
        return None, [np.asarray(y, dtype=np.float64)]
    classes, encoded = np.unique(y, return_inverse=True)
    if classes.size < 2:
        raise InvalidInputError(
            f"y has only one class ({classes[0]!r}); a classifier needs at least two classes."
        )
    positives = [1] if classes.size == 2 else range(classes.size)
    return classes, [np.where(encoded == k, 1.0, -1.0) for k in positives]


def worst_status(statuses: list[str]) -> str:
    """``"optimal"`` when every solve is, else the first other status."""
    return next((s for s in statuses if s != "optimal"), "optimal")


def fit_sharded(
    est: Any, X_train: np.ndarray, y_train: np.ndarray, args: argparse.Namespace, bar_enabled: bool
) -> tuple[FitProgress, dict[str, Any]]:
    """Fit ``est`` (unfitted, from :func:`cvxnn.cli.data.make_estimator`) on a Dask cluster.

    Parameters
    ----------
    est : ConvexReLUClassifier or ConvexReLURegressor
        Its hyperparameters (``n_patterns``, ``bias``, ``beta``, ``loss``, ``random_state``) define
        the program; on return it holds the fitted attributes its own ``fit`` sets
        (``networks_``, ``network_``, ``patterns_``, ``objective_``, ``status_``, ``n_iter_``,
        ``certificates_ = None``, ``classes_``, ``n_features_in_``).
    X_train : ndarray, shape (n, d)
    y_train : ndarray, shape (n,)
    args : argparse.Namespace
        ``fit``'s options (checked by :func:`check_options`).
    bar_enabled : bool
        Draw a progress bar (the sharded ADMM's residual checks).

    Returns
    -------
    (FitProgress, dict)
        The progress tracker and the report's ``distributed`` entry: the cluster, per program its
        shards, iterations, status, certified relative gap, core rows and bytes per iteration,
        and the seconds of setup and iterations.
    """
    from sklearn.base import is_classifier
    from sklearn.utils.validation import validate_data

    from cvxnn._validation import check_rng
    from cvxnn.distributed import solve_sharded
    from cvxnn.estimator import EstimatorConvergenceWarning
    from cvxnn.patterns import sample_patterns

    X, y = validate_data(est, X_train, y_train, dtype=np.float64, y_numeric=not is_classifier(est))
    classes, targets = targets_of(est, y)
    patterns = sample_patterns(X, est.n_patterns, random_state=check_rng(est.random_state), bias=est.bias)
    settings = sharded_settings(args)
    max_iter = int(settings.get("max_iter", 20000))
    results = []
    with Progress(max_iter, "  fit", enabled=bar_enabled) as bar:
        tracker = FitProgress(bar)

        def show(info: dict[str, float]) -> None:
            gap = info["gap_bound"]
            tracker.admm(
                types.SimpleNamespace(
                    iteration=int(info["iteration"]),
                    objective=info["objective"],
                    primal_residual=info["primal_residual"],
                    relative_gap=gap if math.isfinite(gap) else math.inf,
                )
            )

        client, cluster = start_client(args)
        try:
            n_workers = len(client.scheduler_info().get("workers", {}))
            for target in targets:
                results.append(
                    solve_sharded(
                        X,
                        target,
                        patterns,
                        beta=est.beta,
                        loss=est.loss,
                        client=client,
                        callback=show if bar.enabled else None,
                        **settings,
                    )
                )
        finally:
            close_client(client, cluster)
    for k, res in enumerate(results):
        if res.status != "optimal":
            where = f" (one-vs-rest problem {k + 1} of {len(results)})" if len(results) > 1 else ""
            warnings.warn(
                f"the sharded ADMM{where} stopped with status {res.status!r} after {res.iterations} "
                f"iterations: {res.message}; the returned network may be suboptimal. Raise --max-iter "
                "or loosen --tol.",
                EstimatorConvergenceWarning,
                stacklevel=2,
            )
    est.patterns_ = patterns
    est.certificates_ = None
    est.networks_ = [res.network for res in results]
    est.objective_ = float(sum(res.objective for res in results))
    est.status_ = worst_status([res.status for res in results])
    est.n_iter_ = int(max(res.iterations for res in results))
    if classes is not None:
        est.classes_ = classes
        est.network_ = est.networks_[0] if classes.size == 2 else est.networks_
    else:
        est.network_ = est.networks_[0]
    info = {
        "scheduler": "local" if args.workers is not None else args.cluster,
        "workers": n_workers,
        "programs": [
            {
                "shards": int(res.n_shards),
                "iterations": int(res.iterations),
                "status": str(res.status),
                "relative_gap": float(res.duality_gap / max(abs(res.objective), 1e-300)),
                "core_rows": int(res.core_rows),
                "bytes_per_iteration": int(res.bytes_per_iteration),
                "linear_solver": str(res.linear_solver),
                "setup_s": float(res.timings["setup"]),
                "iterate_s": float(res.timings["iterate"]),
            }
            for res in results
        ],
    }
    return tracker, info


def summary_line(info: dict[str, Any] | None) -> list[str]:
    """The summary's ``cluster`` line (none without ``--workers``/``--cluster``)."""
    if info is None:
        return []
    shards = ", ".join(str(p["shards"]) for p in info["programs"])
    where = "a local cluster" if info["scheduler"] == "local" else f"the scheduler at {info['scheduler']}"
    return [f"{'cluster':<11} {info['workers']} worker(s) on {where}, row shards per program: {shards}"]
