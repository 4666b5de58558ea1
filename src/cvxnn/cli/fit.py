"""``cvxnn fit``: train a model on DATA, evaluate it, save it (and a JSON report and a plot)."""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.pipeline import Pipeline

from cvxnn._version import __version__
from cvxnn.exceptions import InvalidInputError

from . import cluster
from .data import Prepared, first_target, make_estimator, prepare, scaler_stats
from .options import (
    DEFAULT_PATTERNS,
    EXIT_OK,
    add_data_options,
    add_program_options,
    positive_float,
    positive_int,
    solver_option,
)
from .output import OutputWriteError, check_outputs, check_plot_path, write_json
from .progress import FitProgress, Progress

__all__ = ["add_parser", "run"]


def metrics(est: Any, X: np.ndarray, y: np.ndarray, classification: bool) -> dict[str, float] | None:
    if X.shape[0] == 0:
        return None
    pred = est.predict(X)
    if classification:
        return {"accuracy": float(np.mean(pred == y)), "n": int(X.shape[0])}
    mse = float(np.mean((pred - y) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum((pred - y) ** 2)) / ss_tot if ss_tot > 0 else float("nan")
    return {"r2": r2, "mse": mse, "n": int(X.shape[0])}


def program_sizes(kind: str, n: int, d: int, P: int, bias: bool, n_programs: int) -> dict[str, int]:
    dp = d + int(bias)
    variables = {"relu": 2 * dp * P, "robust_relu": 2 * dp * P, "gated_relu": dp * P, "scp": P}[kind]
    cone_rows = 2 * n * P if kind in ("relu", "robust_relu") else 0
    return {
        "programs": n_programs,
        "scalar_variables_per_program": variables,
        "cone_constraint_rows_per_program": cone_rows,
    }


def fit_plot(args: argparse.Namespace, est: Any, prep: Prepared, quiet: bool) -> dict[str, Any]:
    """Write the fit plot: ADMM convergence, or objective against the number of patterns."""
    from cvxnn import plotting
    from cvxnn.patterns import ActivationPatterns

    settings = est._settings()  # solver name and options exactly as fit passed them
    kind, patterns = settings.kind, est.patterns_
    solved = est._programs[0]  # the fit's first program, kept by warm_start (see _cmd_fit)
    if settings.solver == "ADMM":
        result = solved.problem.solver_stats.extra_stats  # the fit's AdmmResult
        plotting.plot_convergence(result, args.plot, title=f"ADMM on the {kind} program ({prep.data.name})")
        return {
            "kind": "ADMM convergence (first program, as solved by the fit)",
            "iterations": int(result.iterations),
            "status": str(result.status),
        }
    X, y = prep.X_train, first_target(getattr(est, "classes_", None), prep.y_train)
    P = patterns.n_patterns
    counts = sorted({max(1, P // 8), max(1, P // 4), max(1, P // 2), P})
    objectives = []
    with Progress(len(counts), "objective vs patterns", enabled=None if not quiet else False) as bar:
        for k in counts[:-1]:
            sub = ActivationPatterns(
                D=patterns.D[:, :k],
                gates=None if patterns.gates is None else patterns.gates[:, :k],
                exact=False,
                bias=patterns.bias,
            )
            program = est._build(X, y, sub, settings)  # the estimator's own builder, as in fit
            program.solve(settings.solver, **settings.options)
            objectives.append(float(program.value))
            bar.update(info=f"P={k}")
        # all P patterns: the fit's own optimum, at its (polished) point, as objective_ counts it
        objectives.append(float(solved.objective_at()))
        bar.update(info=f"P={P}")
    title = f"{kind} program on {prep.data.name}: nested pattern subsets"
    plotting.plot_objective_vs_patterns(counts, objectives, args.plot, title=title)
    return {
        "kind": "objective vs number of patterns (first program, nested pattern subsets)",
        "n_patterns": counts,
        "objective": objectives,
    }


def check_search_opt(args: argparse.Namespace) -> None:
    """Refuse ``--search-opt`` keys that ``cvxnn.search_patterns`` does not take (or that fit sets)."""
    import inspect

    from cvxnn.search import search_patterns

    fixed = {"X", "y", "beta", "loss", "bias", "random_state", "solver", "n_initial", "progress"}
    allowed = sorted(set(inspect.signature(search_patterns).parameters) - fixed)
    bad = sorted({key for key, _ in args.search_opt} - set(allowed))
    if bad:
        raise InvalidInputError(
            f"--search-opt {', '.join(bad)}: not a pattern-search setting fit lets you set; allowed are "
            f"{allowed} (--beta, --loss, --bias, --seed, --solver and --patterns set the others)."
        )
    if args.search_opt and args.patterns:
        raise InvalidInputError("--search-opt configures the pattern search, which --patterns N replaces.")


def fit_with_progress(est: Any, prep: Prepared, args: argparse.Namespace, bar_enabled: bool) -> FitProgress:
    """Fit ``est`` with the search's ``progress`` and the ADMM's ``callback`` feeding one bar.

    The search rounds are recorded whatever the bar (the report's history); the ADMM callback is
    set only when a bar is drawn and ``--solver-opt callback=...`` is not given. The estimator's
    ``search_options`` and ``solver_options`` are restored afterwards (the saved model holds the
    hyperparameters as given, no callables).
    """
    from cvxnn.admm import AdmmSettings

    admm = args.solver.strip().upper() == "ADMM"
    original_solver, original_search = est.solver_options, est.search_options
    max_iter = args.max_iter or int((original_solver or {}).get("max_iter", AdmmSettings.max_iter))
    with Progress(max_iter if admm else 1, "  fit", enabled=bar_enabled) as bar:
        tracker = FitProgress(bar)
        search: dict[str, Any] = {**(original_search or {}), "progress": tracker.search_round}
        solver = dict(original_solver or {})
        if admm and bar.enabled and "callback" not in solver:
            solver["callback"] = tracker.admm
            search["solver_options"] = {**search.get("solver_options", {}), "callback": tracker.admm}
        est.set_params(search_options=search, solver_options=solver or None)
        try:
            est.fit(prep.X_train, prep.y_train)
        finally:
            est.set_params(solver_options=original_solver, search_options=original_search)
    return tracker


def search_report(est: Any, tracker: FitProgress) -> dict[str, Any] | None:
    """The report's ``search`` entry: per searched problem its certificate and round history."""
    certificates = getattr(est, "certificates_", None)
    if not certificates:
        return None
    problems = []
    for k, cert in enumerate(certificates):
        rounds = tracker.history[k] if k < len(tracker.history) else []
        problems.append(
            {
                "certificate": {
                    "objective": float(cert.objective),
                    "lower_bound": float(cert.lower_bound),
                    "gap": float(cert.gap),
                    "relative_gap": float(cert.relative_gap),
                    "exact_dual_norm": bool(cert.exact_dual_norm),
                    "max_violation_over_beta": float(cert.max_violation),
                    "n_fresh": int(cert.n_fresh),
                    "fresh_violation_rate": float(cert.fresh_violation_rate),
                    "summary": cert.summary(),
                },
                "history": [
                    {
                        "round": int(r.round),
                        "n_patterns": int(r.n_patterns),
                        "objective": float(r.objective),
                        "seconds": float(r.seconds),
                        "max_violation_over_beta": float(r.max_violation),
                        "n_added": int(r.n_added),
                        "status": str(r.status),
                    }
                    for r in rounds
                ],
            }
        )
    return {
        "problems": problems,
        "lower_bound": float(sum(p["certificate"]["lower_bound"] for p in problems)),
        "max_violation_over_beta": float(max(p["certificate"]["max_violation_over_beta"] for p in problems)),
    }


def run(args: argparse.Namespace) -> int:
    from cvxnn.io import save_model

    t0 = time.perf_counter()
    quiet = args.quiet
    out = Path(args.out)
    check_outputs({"--out": args.out, "--report": args.report, "--plot": args.plot}, {"DATA": args.data})
    check_plot_path("--plot", args.plot)  # matplotlib and the format, before the long work
    check_search_opt(args)
    cluster.check_options(args)
    stages = ["load data", "fit", "evaluate", "save"]
    timings: dict[str, float] = {}
    with Progress(len(stages), "cvxnn fit", enabled=None if not quiet else False) as bar:
        bar.update(0, stages[0])
        t = time.perf_counter()
        prep = prepare(args)
        timings["load"] = time.perf_counter() - t
        data, classification = prep.data, prep.classification
        bar.update(1, f"fitting {args.formulation} with {args.solver} ...")

        est = make_estimator(args, classification)
        # warm_start keeps the solved programs on the estimator (a first fit is cold either way):
        # the plot reads the fit's own ADMM history and optimal value instead of solving again
        est.set_params(warm_start=bool(args.plot))
        t = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            bar_enabled = bar.enabled and "verbose" not in (est.solver_options or {})
            if cluster.requested(args):
                tracker, distributed = cluster.fit_sharded(est, prep.X_train, prep.y_train, args, bar_enabled)
            else:
                tracker, distributed = fit_with_progress(est, prep, args, bar_enabled), None
        est.set_params(warm_start=False)  # the saved model has the hyperparameters as given
        timings["fit"] = time.perf_counter() - t
        bar.update(1, "evaluating")

        t = time.perf_counter()
        train_metrics = metrics(est, prep.X_train, prep.y_train, classification)
        test_metrics = metrics(est, prep.X_test, prep.y_test, classification)
        robust = None
        if classification and args.eps > 0 and prep.X_test.shape[0]:
            from cvxnn.multiclass import classifier_robust_accuracy

            robust = classifier_robust_accuracy(
                est.networks_,
                est.classes_,
                prep.X_test,
                prep.y_test,
                eps=args.eps,
                norm=args.norm,
                random_state=args.seed,
            )
        timings["evaluate"] = time.perf_counter() - t
        bar.update(1, "saving")

        kind = est._settings().kind
        report: dict[str, Any] = {
            "cvxnn_version": __version__,
            "data": {
                "spec": args.data,
                "name": data.name,
                "task": "classification" if classification else "regression",
                "n_samples": int(data.X.shape[0]),
                "n_features": int(data.X.shape[1]),
                "n_train": int(prep.train.size),
                "n_test": int(prep.test.size),
                "classes": est.classes_.tolist() if classification else None,
                "standardized": prep.scaler is not None,
                "scaler": scaler_stats(prep.scaler),
            },
            "model": {
                "path": str(out),
                "estimator": type(est).__name__,
                "pipeline": ["scale", "model"] if prep.scaler is not None else None,
                "formulation": args.formulation,
                "kind": kind,
                "loss": args.loss,
                "beta": args.beta,
                "eps": args.eps,
                "norm": args.norm,
                "bias": args.bias,
                "solver": args.solver,
                "patterns_source": "search" if getattr(est, "certificates_", None) else "sample",
                "patterns_requested": args.patterns or DEFAULT_PATTERNS,
                "patterns": int(est.patterns_.n_patterns),
                "networks": len(est.networks_),
                "neurons": [int(net.n_neurons) for net in est.networks_],
            },
            "objective": float(est.objective_),
            "status": str(est.status_),
            "iterations": int(est.n_iter_),
            # the ADMM's "optimal" means a certified duality gap; other solvers certify nothing here
            "certified": str(est.status_) == "optimal" if args.solver.strip().upper() == "ADMM" else None,
            "search": search_report(est, tracker),
            "distributed": distributed,
            "train": train_metrics,
            "test": test_metrics,
            "test_robust_accuracy": robust,
            "warnings": [str(w.message) for w in caught],
            "sizes": program_sizes(
                kind,
                int(prep.train.size),
                int(data.X.shape[1]),
                int(est.patterns_.n_patterns),
                bool(args.bias),
                len(est.networks_),
            ),
        }
        metadata = {
            "created_by": "cvxnn fit",
            "task": report["data"]["task"],
            "input": "raw features (the model file holds the scaler)",
            "dataset": args.data,
            "seed": args.seed,
            "test_size": args.test_size,
            "n_samples": int(data.X.shape[0]),
            "stratify": bool(data.classification),
            "report": json.dumps(report, sort_keys=True),
        }
        t = time.perf_counter()
        model = est if prep.scaler is None else Pipeline([("scale", prep.scaler), ("model", est)])
        try:
            with warnings.catch_warnings():  # the certificates are in the report the metadata holds
                warnings.filterwarnings("ignore", message=r"(?s).*certificates_", category=UserWarning)
                save_model(model, out, metadata=metadata)
        except OSError as exc:  # a late failure (disk full): the fit is lost, say so plainly
            raise OutputWriteError(f"could not write {str(out)!r}: {exc.strerror or exc}") from None
        timings["save"] = time.perf_counter() - t
        bar.update(1, "done")
    plot_info = None
    if args.plot:
        t = time.perf_counter()
        plot_info = {"path": args.plot, **fit_plot(args, est, prep, quiet)}
        timings["plot"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    report["timings_s"] = timings
    report["plot"] = plot_info
    if args.report:
        write_json(args.report, report)
    for w in caught:
        print(f"cvxnn: warning: {w.message}", file=sys.stderr)
    if not quiet:
        print_fit(report)
    return EXIT_OK


def fmt_metrics(m: dict[str, float] | None) -> str:
    if m is None:
        return "-"
    if "accuracy" in m:
        return f"accuracy {m['accuracy']:.4f} (n={m['n']})"
    return f"R^2 {m['r2']:.4f}, MSE {m['mse']:.4g} (n={m['n']})"


def print_fit(r: dict[str, Any]) -> None:
    m, d = r["model"], r["data"]
    lines = [
        f"data        {d['name']}: n={d['n_samples']}, d={d['n_features']}, {d['task']}"
        + (f", {len(d['classes'])} classes" if d["classes"] else ""),
        f"program     {m['kind']}, loss {m['loss']}, beta {m['beta']:g}"
        + (f", eps {m['eps']:g} (l_{m['norm']})" if m["eps"] > 0 else "")
        + f", P={m['patterns']} "
        + (
            f"found by the pattern search (from {m['patterns_requested']} Gaussian)"
            if m["patterns_source"] == "search"
            else f"of {m['patterns_requested']} sampled"
        )
        + f", {m['networks']} program(s)",
        f"solver      {m['solver']}: status {r['status']}, objective {r['objective']:.8g}, "
        f"{r['iterations']} iterations, {r['timings_s']['fit']:.2f}s",
        *search_lines(r["search"]),
        *cluster.summary_line(r.get("distributed")),
        f"network     {', '.join(str(k) for k in m['neurons'])} neuron(s)",
        f"train       {fmt_metrics(r['train'])}",
        f"test        {fmt_metrics(r['test'])}",
    ]
    if r["test_robust_accuracy"] is not None:
        lines.append(
            f"robust      test accuracy under PGD at eps {m['eps']:g}: {r['test_robust_accuracy']:.4f}"
        )
    if not any(m["neurons"]):
        lines.append(
            "zero        every network is the zero network (it predicts 0 everywhere): at this beta"
            + (" and eps" if m["eps"] > 0 else "")
            + " no neuron lowers the objective; lower --beta"
            + (" or --eps" if m["eps"] > 0 else "")
        )
    if r["certified"] is False:
        lines.append(
            f"uncertified the ADMM stopped with status {r['status']} before certifying its duality gap: the "
            "network may be suboptimal (see the warning); raise --max-iter or loosen --tol"
        )
    lines.append(f"model       {m['path']}")
    if r.get("plot"):
        lines.append(f"plot        {r['plot']['path']} ({r['plot']['kind']})")
    print("\n".join(lines))


def search_lines(search: dict[str, Any] | None) -> list[str]:
    """The summary's lines on the pattern search: rounds, then the certificate, per problem."""
    if search is None:
        return []
    lines = []
    many = len(search["problems"]) > 1
    for k, problem in enumerate(search["problems"]):
        tag = f" {k + 1}" if many else ""
        rounds = ", ".join(
            f"P={h['n_patterns']}: {h['objective']:.6g} ({h['max_violation_over_beta']:.3g}x beta)"
            for h in problem["history"]
        )
        if rounds:
            lines.append(f"{'search' + tag:<11} rounds {rounds}")
        lines.append(f"{'certificate' + tag:<11} {problem['certificate']['summary']}")
    return lines


def add_parser(sub: Any) -> None:
    """Add ``cvxnn fit`` to the subparsers ``sub``."""
    fit = sub.add_parser("fit", help="train a model and save it", description="Train a model and save it.")
    add_data_options(fit)
    add_program_options(fit)
    fit.add_argument("--out", "-o", required=True, metavar="MODEL", help="model file to write (.npz)")
    fit.add_argument("--solver", default="clarabel", help="admm or a CVXPY solver name (clarabel)")
    fit.add_argument(
        "--solver-opt",
        type=solver_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="solver option (repeatable; VALUE parsed as JSON when it can be)",
    )
    fit.add_argument(
        "--search-opt",
        type=solver_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="cvxnn.search_patterns argument for the pattern search (repeatable; e.g. max_rounds=10)",
    )
    fit.add_argument("--max-iter", type=positive_int, default=None, help="solver iteration limit")
    fit.add_argument("--tol", type=positive_float, default=None, help="solver tolerance")
    fit.add_argument("--report", metavar="PATH", help="write a JSON report")
    fit.add_argument("--plot", metavar="PATH", help="write a plot (ADMM convergence, else objective vs P)")
    cluster.add_options(fit)
    fit.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary")
    fit.set_defaults(func=run)
