"""The ``cvxnn`` command line: ``fit``, ``inspect``, ``attack``, ``bench`` and ``verify``.

Run ``cvxnn --help`` (or ``python -m cvxnn --help``) and ``cvxnn COMMAND --help``.

DATA is anything :func:`cvxnn.datasets.load_dataset` reads: a numeric CSV (last column the
label or target; a non-numeric first line is a header), an ``.npz`` with arrays ``X`` and
``y``, or ``sklearn:NAME`` for a data set that ships with scikit-learn (``digits-2v8``,
``breast_cancer``, ``iris``, ``wine``, ``digits``, ``diabetes``).

Preprocessing: unless ``--no-standardize``, features are standardized with the *training*
split's mean and standard deviation (constant features keep scale 1). The scaler is stored in
the model file (``load_model(path).metadata["preprocessing"]``) and ``cvxnn attack`` applies
it, so ``--eps`` is measured on the standardized features. Targets are used as they are.

Exit codes: 0 success; 1 a solver failed or ended without a usable solution (or, for
``verify``, the solvers disagree); 2 bad input (file, option, data), reported as
``cvxnn: error: ...`` without a traceback; 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from ._version import __version__
from .datasets import load_dataset, split_indices, standardize, standardizer
from .exceptions import CvxnnError, InvalidInputError

__all__ = ["Progress", "build_parser", "main"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2


# --------------------------------------------------------------------------- progress
class Progress:
    """A minimal stderr progress bar, silent unless both stdout and stderr are terminals.

    Parameters
    ----------
    total : int
        Number of steps.
    label : str
        Text in front of the bar.
    enabled : bool or None
        Force on/off; ``None`` (default) enables it only on an interactive terminal.
    stream : file, optional
        Where to draw (default ``sys.stderr``).
    """

    def __init__(self, total: int, label: str, *, enabled: bool | None = None, stream: TextIO | None = None):
        self.total = max(int(total), 1)
        self.label = label
        self.count = 0
        self.stream = stream if stream is not None else sys.stderr
        if enabled is None:
            enabled = _isatty(sys.stdout) and _isatty(self.stream)
        self.enabled = bool(enabled)
        self._start = time.perf_counter()
        self._last = 0.0
        self._width = 0

    def update(self, step: int = 1, info: str = "", *, force: bool = False) -> None:
        """Advance by ``step`` and redraw (at most ten times a second, always at the end or with
        ``force``)."""
        self.count = max(min(self.count + step, self.total), 0)
        if not self.enabled:
            return
        now = time.perf_counter()
        if not force and self.count < self.total and now - self._last < 0.1:
            return
        self._last = now
        filled = int(24 * self.count / self.total)
        line = (
            f"{self.label} [{'#' * filled}{'.' * (24 - filled)}] {self.count}/{self.total} "
            f"{now - self._start:6.1f}s {info}"
        ).rstrip()
        pad = max(self._width - len(line), 0)
        self._width = len(line)
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()

    def set(self, count: int, info: str = "") -> None:
        """Move to ``count`` (for work that reports its position rather than steps)."""
        self.update(int(count) - self.count, info)

    def close(self) -> None:
        """End the bar's line."""
        if self.enabled and self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _AdmmTableToProgress:
    """A text stream that turns the ADMM's verbose table (``verbose=True``) into a progress bar.

    Rows start with the iteration number, then the objective and the primal residual; every
    other line (header, penalty updates, footer) is dropped.
    """

    def __init__(self, bar: Progress) -> None:
        self.bar = bar
        self._buffer = ""
        self.programs = 0
        self._last = -1

    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            tokens = line.split()
            if tokens[:1] == ["status"]:  # footer: show how the solve ended
                self.bar.update(0, line.strip(), force=True)
                continue
            if len(tokens) < 3 or not tokens[0].isdigit():
                continue
            try:
                objective, r_prim = float(tokens[1]), float(tokens[2])
            except ValueError:
                continue
            k = int(tokens[0])
            if k < self._last or self.programs == 0:
                self.programs += 1
            self._last = k
            label = f"program {self.programs}: " if self.programs > 1 else ""
            self.bar.set(k, f"{label}objective {objective:.6g}, primal residual {r_prim:.1e}")
        return len(text)

    def flush(self) -> None:
        pass


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


# --------------------------------------------------------------------------- option types
def _number(kind: type, allowed: str, ok: Any) -> Any:
    """An argparse ``type`` converting to ``kind`` and keeping values where ``ok(value)`` holds."""

    def convert(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {allowed}, got {text!r}")
        return value

    return convert


_positive_int = _number(int, "an integer >= 1", lambda v: v >= 1)
_nonneg_int = _number(int, "an integer >= 0", lambda v: v >= 0)
_positive_float = _number(float, "a finite number > 0", lambda v: 0 < v < np.inf)
_nonneg_float = _number(float, "a finite number >= 0", lambda v: 0 <= v < np.inf)
_fraction = _number(float, "a number in [0, 1)", lambda v: 0 <= v < 1)


def _solver_option(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return key.strip(), value


# --------------------------------------------------------------------------- data
def _is_classification(args: argparse.Namespace, data: Any) -> bool:
    if args.task == "auto":
        return bool(data.classification)
    return args.task == "classification"


def _prepared(args: argparse.Namespace) -> dict[str, Any]:
    """Load DATA, split it, fit the scaler on the training part; everything ``fit`` needs."""
    data = load_dataset(args.data)
    classification = _is_classification(args, data)
    train, test = split_indices(data, args.test_size, args.seed)
    prep = None if args.no_standardize else standardizer(data.X[train])
    return {
        "data": data,
        "classification": classification,
        "train": train,
        "test": test,
        "prep": prep,
        "X_train": standardize(data.X[train], prep),
        "y_train": data.y[train],
        "X_test": standardize(data.X[test], prep),
        "y_test": data.y[test],
    }


# --------------------------------------------------------------------------- shared options
def _add_data_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "data", metavar="DATA", help="a .csv (last column the label), an .npz (X, y) or sklearn:NAME"
    )
    p.add_argument(
        "--task",
        choices=("auto", "classification", "regression"),
        default="auto",
        help="auto: classification when the labels look like classes (default)",
    )
    p.add_argument("--test-size", type=_fraction, default=0.25, help="held-out fraction, 0 for none (0.25)")
    p.add_argument("--seed", type=_nonneg_int, default=0, help="seed of the split and the patterns (0)")
    p.add_argument(
        "--no-standardize", action="store_true", help="use the features as they are (default: standardize)"
    )


def _add_program_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--formulation",
        choices=("relu", "gated", "scp"),
        default="relu",
        help="relu (CVX, robust with --eps > 0), gated relaxation, or SCP (default relu)",
    )
    p.add_argument("--loss", choices=("squared", "logistic", "hinge"), default="squared", help="(squared)")
    p.add_argument("--patterns", type=_positive_int, default=16, metavar="N", help="patterns to sample (16)")
    p.add_argument("--beta", type=_positive_float, default=1.0, help="weight decay > 0 (1.0)")
    p.add_argument("--eps", type=_nonneg_float, default=0.0, help="adversarial radius, 0 = nominal (0)")
    p.add_argument("--norm", choices=("inf", "2", "1"), default="inf", help="perturbation norm (inf)")
    p.add_argument(
        "--bias", action=argparse.BooleanOptionalAction, default=True, help="hidden biases (default on)"
    )


# --------------------------------------------------------------------------- fit
def _estimator(args: argparse.Namespace, classification: bool) -> Any:
    from .estimator import ConvexReLUClassifier, ConvexReLURegressor

    cls = ConvexReLUClassifier if classification else ConvexReLURegressor
    if not classification and args.loss != "squared":
        raise InvalidInputError(
            f"--loss {args.loss} needs class labels; regression takes --loss squared "
            "(or pass --task classification)."
        )
    return cls(
        formulation=args.formulation,
        n_patterns=args.patterns,
        beta=args.beta,
        loss=args.loss,
        eps=args.eps,
        norm=args.norm,
        bias=args.bias,
        solver=getattr(args, "solver", "clarabel"),
        solver_options=dict(getattr(args, "solver_opt", ())) or None,
        max_iter=getattr(args, "max_iter", None),
        tol=getattr(args, "tol", None),
        random_state=args.seed,
    )


def _metrics(est: Any, X: np.ndarray, y: np.ndarray, classification: bool) -> dict[str, float] | None:
    if X.shape[0] == 0:
        return None
    pred = est.predict(X)
    if classification:
        return {"accuracy": float(np.mean(pred == y)), "n": int(X.shape[0])}
    mse = float(np.mean((pred - y) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    r2 = 1.0 - float(np.sum((pred - y) ** 2)) / ss_tot if ss_tot > 0 else float("nan")
    return {"r2": r2, "mse": mse, "n": int(X.shape[0])}


def _program_sizes(kind: str, n: int, d: int, P: int, bias: bool, n_programs: int) -> dict[str, int]:
    dp = d + int(bias)
    variables = {"relu": 2 * dp * P, "robust_relu": 2 * dp * P, "gated_relu": dp * P, "scp": P}[kind]
    cone_rows = 2 * n * P if kind in ("relu", "robust_relu") else 0
    return {
        "programs": n_programs,
        "scalar_variables_per_program": variables,
        "cone_constraint_rows_per_program": cone_rows,
    }


def _first_target(classes: np.ndarray | None, y: np.ndarray) -> np.ndarray:
    """The target of the estimator's first program: ``y`` for regression (``classes`` None),
    +1 for ``classes[1]`` in a binary problem, +1 for ``classes[0]`` (one-vs-rest) otherwise."""
    if classes is None:
        return np.asarray(y, dtype=np.float64)
    positive = classes[1] if classes.size == 2 else classes[0]
    return np.where(y == positive, 1.0, -1.0)


def _fit_plot(args: argparse.Namespace, est: Any, prep: dict[str, Any], quiet: bool) -> dict[str, Any]:
    """Write the fit plot: ADMM convergence, or objective against the number of patterns."""
    from . import plotting
    from .patterns import ActivationPatterns

    settings = est._settings()  # solver name and options exactly as fit passed them
    kind, patterns = settings.kind, est.patterns_
    solved = est._programs[0]  # the fit's first program, kept by warm_start (see _cmd_fit)
    if settings.solver == "ADMM":
        result = solved.problem.solver_stats.extra_stats  # the fit's AdmmResult
        plotting.plot_convergence(
            result, args.plot, title=f"ADMM on the {kind} program ({prep['data'].name})"
        )
        return {
            "kind": "ADMM convergence (first program, as solved by the fit)",
            "iterations": int(result.iterations),
            "status": str(result.status),
        }
    X, y = prep["X_train"], _first_target(getattr(est, "classes_", None), prep["y_train"])
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
        objectives.append(float(solved.value))  # all P patterns: the fit's own optimum
        bar.update(info=f"P={P}")
    title = f"{kind} program on {prep['data'].name}: nested pattern subsets"
    plotting.plot_objective_vs_patterns(counts, objectives, args.plot, title=title)
    return {
        "kind": "objective vs number of patterns (first program, nested pattern subsets)",
        "n_patterns": counts,
        "objective": objectives,
    }


def _fit_with_admm_bar(est: Any, prep: dict[str, Any], args: argparse.Namespace) -> None:
    """Fit with the ADMM's verbose table redirected into an iteration progress bar."""
    import contextlib

    from .admm import AdmmSettings

    original = est.solver_options
    options = dict(original or {})
    interval = int(options.get("check_interval", AdmmSettings.check_interval))
    options.update(verbose=True, verbose_interval=interval)
    max_iter = args.max_iter or int(options.get("max_iter", AdmmSettings.max_iter))
    est.set_params(solver_options=options)
    try:
        with (
            Progress(max_iter, "  ADMM iterations") as bar,
            contextlib.redirect_stdout(_AdmmTableToProgress(bar)),
        ):
            est.fit(prep["X_train"], prep["y_train"])
    finally:
        est.set_params(solver_options=original)


def _cmd_fit(args: argparse.Namespace) -> int:
    from .io import save_model

    t0 = time.perf_counter()
    quiet = args.quiet
    out = Path(args.out)
    for option, value in (("--out", args.out), ("--report", args.report), ("--plot", args.plot)):
        _check_output_path(option, value)
    if args.plot:
        from .plotting import _figure

        _figure()  # fail before the long work if matplotlib is missing
    stages = ["load data", "fit", "evaluate", "save"]
    timings: dict[str, float] = {}
    with Progress(len(stages), "cvxnn fit", enabled=None if not quiet else False) as bar:
        bar.update(0, stages[0])
        t = time.perf_counter()
        prep = _prepared(args)
        timings["load"] = time.perf_counter() - t
        data, classification = prep["data"], prep["classification"]
        bar.update(1, f"fitting {args.formulation} with {args.solver} ...")

        est = _estimator(args, classification)
        # warm_start keeps the solved programs on the estimator (a first fit is cold either way):
        # the plot reads the fit's own ADMM history and optimal value instead of solving again
        est.set_params(warm_start=bool(args.plot))
        t = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            admm = args.solver.strip().upper() == "ADMM"
            if bar.enabled and admm and "verbose" not in (est.solver_options or {}):
                _fit_with_admm_bar(est, prep, args)
            else:
                est.fit(prep["X_train"], prep["y_train"])
        est.set_params(warm_start=False)  # the saved model has the hyperparameters as given
        timings["fit"] = time.perf_counter() - t
        bar.update(1, "evaluating")

        t = time.perf_counter()
        train_metrics = _metrics(est, prep["X_train"], prep["y_train"], classification)
        test_metrics = _metrics(est, prep["X_test"], prep["y_test"], classification)
        robust = None
        if classification and args.eps > 0 and len(est.networks_) == 1 and prep["X_test"].shape[0]:
            from .attacks import robust_accuracy

            y_pm = np.where(prep["y_test"] == est.classes_[1], 1.0, -1.0)
            robust = robust_accuracy(
                est.networks_[0], prep["X_test"], y_pm, eps=args.eps, norm=args.norm, random_state=args.seed
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
                "n_train": int(prep["train"].size),
                "n_test": int(prep["test"].size),
                "classes": est.classes_.tolist() if classification else None,
                "standardized": prep["prep"] is not None,
            },
            "model": {
                "path": str(out),
                "estimator": type(est).__name__,
                "formulation": args.formulation,
                "kind": kind,
                "loss": args.loss,
                "beta": args.beta,
                "eps": args.eps,
                "norm": args.norm,
                "bias": args.bias,
                "solver": args.solver,
                "patterns_requested": args.patterns,
                "patterns": int(est.patterns_.n_patterns),
                "networks": len(est.networks_),
                "neurons": [int(net.n_neurons) for net in est.networks_],
            },
            "objective": float(est.objective_),
            "status": str(est.status_),
            "iterations": int(est.n_iter_),
            "train": train_metrics,
            "test": test_metrics,
            "test_robust_accuracy": robust,
            "warnings": [str(w.message) for w in caught],
            "sizes": _program_sizes(
                kind,
                int(prep["train"].size),
                int(data.X.shape[1]),
                int(est.patterns_.n_patterns),
                bool(args.bias),
                len(est.networks_),
            ),
        }
        metadata = {
            "created_by": "cvxnn fit",
            "task": report["data"]["task"],
            "preprocessing": prep["prep"],
            "dataset": args.data,
            "seed": args.seed,
            "test_size": args.test_size,
            "n_samples": int(data.X.shape[0]),
            "stratify": bool(data.classification),
            "report": json.dumps(report, sort_keys=True),
        }
        t = time.perf_counter()
        save_model(est, out, metadata=metadata)
        timings["save"] = time.perf_counter() - t
        bar.update(1, "done")
    plot_info = None
    if args.plot:
        t = time.perf_counter()
        plot_info = {"path": args.plot, **_fit_plot(args, est, prep, quiet)}
        timings["plot"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    report["timings_s"] = timings
    report["plot"] = plot_info
    if args.report:
        _write_json(args.report, report)
    for w in caught:
        print(f"cvxnn: warning: {w.message}", file=sys.stderr)
    if not quiet:
        _print_fit(report)
    return EXIT_OK


def _check_output_path(option: str, value: str | None) -> None:
    """Refuse an output path that cannot be written, before any long work."""
    if value is not None:
        from .io import check_destination as _check_destination

        _check_destination(Path(value), f"{option} {value!r}")


def _write_json(path: str, payload: dict[str, Any]) -> None:
    from .io import atomic_write as _atomic_write
    from .io import check_destination as _check_destination

    target = Path(path)
    _check_destination(target, f"Cannot write {path!r}")
    text = json.dumps(payload, indent=2, sort_keys=True, allow_nan=True) + "\n"
    _atomic_write(target, lambda fh: fh.write(text.encode()))


def _fmt_metrics(m: dict[str, float] | None) -> str:
    if m is None:
        return "-"
    if "accuracy" in m:
        return f"accuracy {m['accuracy']:.4f} (n={m['n']})"
    return f"R^2 {m['r2']:.4f}, MSE {m['mse']:.4g} (n={m['n']})"


def _print_fit(r: dict[str, Any]) -> None:
    m, d = r["model"], r["data"]
    lines = [
        f"data        {d['name']}: n={d['n_samples']}, d={d['n_features']}, {d['task']}"
        + (f", {len(d['classes'])} classes" if d["classes"] else ""),
        f"program     {m['kind']}, loss {m['loss']}, beta {m['beta']:g}"
        + (f", eps {m['eps']:g} (l_{m['norm']})" if m["eps"] > 0 else "")
        + f", P={m['patterns']} of {m['patterns_requested']} sampled, {m['networks']} program(s)",
        f"solver      {m['solver']}: status {r['status']}, objective {r['objective']:.8g}, "
        f"{r['iterations']} iterations, {r['timings_s']['fit']:.2f}s",
        f"network     {', '.join(str(k) for k in m['neurons'])} neuron(s)",
        f"train       {_fmt_metrics(r['train'])}",
        f"test        {_fmt_metrics(r['test'])}",
    ]
    if r["test_robust_accuracy"] is not None:
        lines.append(
            f"robust      test accuracy under PGD at eps {m['eps']:g}: {r['test_robust_accuracy']:.4f}"
        )
    lines.append(f"model       {m['path']}")
    if r.get("plot"):
        lines.append(f"plot        {r['plot']['path']} ({r['plot']['kind']})")
    print("\n".join(lines))


# --------------------------------------------------------------------------- inspect
def _admm_support(kind: str) -> str:
    from .admm import SUPPORTED_KINDS

    return "yes" if kind in SUPPORTED_KINDS else f"no (it supports {', '.join(SUPPORTED_KINDS)})"


def _cmd_inspect(args: argparse.Namespace) -> int:
    from ._validation import check_rng
    from .patterns import enumerate_patterns, sample_patterns

    prep = _prepared(args)
    X, y, classification = prep["X_train"], prep["y_train"], prep["classification"]
    est = _estimator(args, classification)
    settings = est._settings()  # the estimator's own checks (e.g. --eps > 0 needs relu)
    classes, n_programs = None, 1
    if classification:
        classes = np.unique(y)
        if classes.size < 2:
            raise InvalidInputError(f"The training labels hold a single class {classes.tolist()}.")
        n_programs = 1 if classes.size == 2 else int(classes.size)
    target = _first_target(classes, y)
    enabled = None if not args.quiet else False
    if args.exact:  # one step per hyperplane of the arrangement (the last ones cost the most)
        with Progress(1, "hyperplanes", enabled=enabled) as bar:

            def report(done: int, total: int, cells: int) -> None:
                bar.total = total  # the nonzero rows, as enumerate_patterns counts them
                bar.set(done, f"{cells} cells")

            patterns = enumerate_patterns(
                X, bias=settings.bias, max_patterns=args.max_patterns, progress=report
            )
    else:  # seeded exactly as the estimator seeds its sampling
        with Progress(1, "patterns", enabled=enabled) as bar:
            patterns = sample_patterns(
                X, settings.n_patterns, random_state=check_rng(args.seed), bias=settings.bias
            )
            bar.update(1, f"P={patterns.n_patterns}")
    program = est._build(X, target, patterns, settings)
    print(program.summary())
    if n_programs > 1:
        print(f"  one-vs-rest  {n_programs} programs like this one (one per class), sharing the patterns")
    print(f"  compatible   {', '.join(program.compatible_solvers()) or 'none of the installed solvers'}")
    print(f"  ADMM         {_admm_support(program.kind)}")
    return EXIT_OK


# --------------------------------------------------------------------------- attack
def _model_for_attack(path: str) -> tuple[Any, np.ndarray | None, dict[str, Any], str]:
    """(network, classes or None, metadata, description) of a binary classifier model file."""
    from .io import load_model

    saved = load_model(path)
    meta = saved.metadata
    if saved.kind == "estimator":
        est = saved.obj
        if not hasattr(est, "classes_"):
            raise InvalidInputError(
                f"{path!r} holds a {type(est).__name__}; attack measures classification accuracy and "
                "needs a classifier."
            )
        if len(est.networks_) != 1:
            raise InvalidInputError(
                f"{path!r} holds a {len(est.classes_)}-class model ({len(est.networks_)} one-vs-rest "
                "networks); attack supports binary classifiers."
            )
        desc = f"{type(est).__name__} ({est.formulation}, loss {est.loss}, eps {est.eps})"
        return est.networks_[0], np.asarray(est.classes_), meta, desc
    if saved.kind == "networks":
        raise InvalidInputError(f"{path!r} holds {len(saved.obj)} networks; attack supports one network.")
    if meta.get("task") == "regression":
        raise InvalidInputError(f"{path!r} is a regression model; attack needs a binary classifier.")
    classes = meta.get("classes")
    return saved.obj, None if classes is None else np.asarray(classes), meta, repr(saved.obj)


def _labels_pm(y: np.ndarray, classes: np.ndarray | None) -> np.ndarray:
    present = np.unique(y)
    if classes is None:
        if np.all(np.isin(present, (-1.0, 1.0))):
            return np.asarray(y, dtype=np.float64)
        if present.size != 2:
            raise InvalidInputError(
                f"The labels hold {present.size} classes {present[:5].tolist()}; a network file without "
                "class information needs labels in {-1, +1} or exactly two classes (the larger is +1)."
            )
        classes = present
    unknown = present[~np.isin(present, classes)]
    if unknown.size:
        raise InvalidInputError(
            f"The data has labels {unknown[:5].tolist()} the model was not trained on (its classes: "
            f"{np.asarray(classes).tolist()})."
        )
    return np.where(y == classes[1], 1.0, -1.0)


def _cmd_attack(args: argparse.Namespace) -> int:
    from .attacks import robust_accuracy

    for option, value in (("--report", args.report), ("--plot", args.plot)):
        _check_output_path(option, value)
    if args.plot:
        from .plotting import _figure

        _figure()  # fail before the attack if matplotlib is missing
    network, classes, meta, desc = _model_for_attack(args.model)
    data = load_dataset(args.data)
    X, y = data.X, data.y
    if args.split != "all":
        if meta.get("dataset") is None:
            raise InvalidInputError(
                "--split train/test needs a model written by `cvxnn fit` (it records the split)."
            )

        from .datasets import Dataset

        if X.shape[0] != meta.get("n_samples", X.shape[0]):
            raise InvalidInputError(
                f"--split {args.split} reproduces the fit's split of {meta['dataset']!r} "
                f"({meta['n_samples']} samples), but {args.data!r} has {X.shape[0]}; pass the same DATA."
            )
        same = Dataset(X, y, data.name, bool(meta.get("stratify", meta.get("task") == "classification")))
        train, test = split_indices(same, float(meta["test_size"]), int(meta["seed"]))
        idx = test if args.split == "test" else train
        if idx.size == 0:
            raise InvalidInputError(
                f"The model was fitted with --test-size 0: there is no {args.split} split."
            )
        X, y = X[idx], y[idx]
    prep = meta.get("preprocessing")
    if X.shape[1] != network.n_features:
        raise InvalidInputError(
            f"{args.data!r} has {X.shape[1]} features but the model takes {network.n_features}."
        )
    X = standardize(X, prep)
    y_pm = _labels_pm(y, classes)
    kwargs: dict[str, Any] = {}
    if args.attack == "pgd":
        kwargs = {"steps": args.steps, "restarts": args.restarts, "random_state": args.seed}
    clean = float(np.mean(y_pm * network.predict(X) > 0))
    robust = robust_accuracy(network, X, y_pm, eps=args.eps, norm=args.norm, attack=args.attack, **kwargs)
    result = {
        "model": args.model,
        "data": args.data,
        "split": args.split,
        "n": int(X.shape[0]),
        "attack": args.attack,
        "norm": args.norm,
        "eps": args.eps,
        "standardized": prep is not None,
        "clean_accuracy": clean,
        "robust_accuracy": float(robust),
    }
    if args.plot:
        from .plotting import plot_robust_accuracy

        grid = np.linspace(0.0, args.eps, args.plot_points) if args.eps > 0 else np.array([0.0])
        known = {0.0: clean, args.eps: robust}  # the ends are the accuracies already measured
        accs = [
            known[e]
            if e in known
            else robust_accuracy(network, X, y_pm, eps=float(e), norm=args.norm, attack=args.attack, **kwargs)
            for e in grid
        ]
        plot_robust_accuracy(grid, {args.attack.upper(): accs}, args.plot, clean=clean, norm=args.norm)
        result["curve"] = {"eps": grid.tolist(), "robust_accuracy": [float(a) for a in accs]}
    if args.report:
        _write_json(args.report, result)
    steps = f", {args.steps} steps, {args.restarts} restart(s)" if args.attack == "pgd" else ""
    print(f"model            {args.model}: {desc}")
    print(f"data             {args.data} ({args.split}, n={X.shape[0]})" + (", standardized" if prep else ""))
    print(f"attack           {args.attack}, l_{args.norm}, eps={args.eps:g}{steps}")
    print(f"clean accuracy   {clean:.4f}")
    print(f"robust accuracy  {robust:.4f}")
    return EXIT_OK


# --------------------------------------------------------------------------- bench / verify
def _cmd_bench(argv: Sequence[str]) -> int:
    from .bench import main as bench_main

    return int(bench_main(list(argv)) or 0)


def _register_verify(sub: Any) -> None:
    from .verification import add_verify_subcommand

    add_verify_subcommand(sub)


# --------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The ``cvxnn`` argument parser (every subcommand sets ``func``)."""
    parser = argparse.ArgumentParser(
        prog="cvxnn",
        description="Globally optimal (convex) training of two-layer ReLU networks.",
        epilog="DATA: a .csv (last column the label), an .npz with X and y, or sklearn:NAME.",
    )
    parser.add_argument("--version", action="version", version=f"cvxnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    fit = sub.add_parser("fit", help="train a model and save it", description="Train a model and save it.")
    _add_data_options(fit)
    _add_program_options(fit)
    fit.add_argument("--out", "-o", required=True, metavar="MODEL", help="model file to write (.npz)")
    fit.add_argument("--solver", default="clarabel", help="admm or a CVXPY solver name (clarabel)")
    fit.add_argument(
        "--solver-opt",
        type=_solver_option,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="solver option (repeatable; VALUE parsed as JSON when it can be)",
    )
    fit.add_argument("--max-iter", type=_positive_int, default=None, help="solver iteration limit")
    fit.add_argument("--tol", type=_positive_float, default=None, help="solver tolerance")
    fit.add_argument("--report", metavar="PATH", help="write a JSON report")
    fit.add_argument("--plot", metavar="PATH", help="write a plot (ADMM convergence, else objective vs P)")
    fit.add_argument("--quiet", "-q", action="store_true", help="no progress bar and no summary")
    fit.set_defaults(func=_cmd_fit)

    ins = sub.add_parser(
        "inspect",
        help="print the convex program and the solvers that can take it",
        description="Build the program `fit` would solve (first one-vs-rest problem) and describe it.",
    )
    _add_data_options(ins)
    _add_program_options(ins)
    ins.add_argument("--exact", action="store_true", help="enumerate every pattern instead of sampling")
    ins.add_argument("--max-patterns", type=_positive_int, default=5000, help="cap for --exact (5000)")
    ins.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    ins.set_defaults(func=_cmd_inspect)

    att = sub.add_parser(
        "attack",
        help="clean and robust accuracy of a saved binary classifier",
        description="Clean and robust (attacked) accuracy of a saved binary classifier on DATA.",
    )
    att.add_argument(
        "model", metavar="MODEL", help="model file from `cvxnn fit` or save_network/save_estimator"
    )
    att.add_argument("data", metavar="DATA", help="a .csv, an .npz (X, y) or sklearn:NAME")
    att.add_argument("--eps", type=_nonneg_float, required=True, help="attack radius (standardized units)")
    att.add_argument("--norm", choices=("inf", "2", "1"), default="inf", help="(inf)")
    att.add_argument("--attack", choices=("pgd", "fgsm"), default="pgd", help="(pgd)")
    att.add_argument("--steps", type=_positive_int, default=50, help="PGD steps (50)")
    att.add_argument("--restarts", type=_positive_int, default=1, help="PGD restarts (1)")
    att.add_argument("--seed", type=_nonneg_int, default=0, help="seed of the random restarts (0)")
    att.add_argument(
        "--split",
        choices=("all", "test", "train"),
        default="all",
        help="evaluate on all of DATA, or on the fit's test/train split (needs DATA as given to fit)",
    )
    att.add_argument("--report", metavar="PATH", help="write a JSON result")
    att.add_argument("--plot", metavar="PATH", help="write robust accuracy against eps in [0, EPS]")
    att.add_argument("--plot-points", type=_positive_int, default=6, help="radii on the plot (6)")
    att.set_defaults(func=_cmd_attack)

    bench = sub.add_parser("bench", help="run the benchmark suite (cvxnn bench --help)", add_help=False)
    bench.add_argument("rest", nargs=argparse.REMAINDER)
    bench.set_defaults(func=lambda args: _cmd_bench(args.rest))

    _register_verify(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (0 ok, 1 solver failure, 2 bad input)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "bench":  # forwarded verbatim, options included
            return _cmd_bench(argv[1:])
        parser = build_parser()
        args, extra = parser.parse_known_args(argv)
        if extra:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        if getattr(args, "func", None) is None:
            parser.print_help(sys.stderr)
            return EXIT_USAGE
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("cvxnn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `cvxnn inspect ... | head`: stop quietly, as Unix tools do
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141
    except CvxnnError as exc:
        print(f"cvxnn: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        import cvxpy as cp

        if isinstance(exc, cp.error.SolverError):
            print(f"cvxnn: solver failed: {exc}", file=sys.stderr)
            return EXIT_FAILURE
        raise
