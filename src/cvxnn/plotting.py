r"""Plots: ADMM convergence, robust accuracy against the radius, objective against the pattern count.

Matplotlib is an optional dependency (``pip install 'cvxnn[plot]'``); it is imported only when a
plot is drawn, and a clear :class:`~cvxnn.exceptions.CvxnnError` says how to install it when it
is missing. Figures are built with :class:`matplotlib.figure.Figure` on the Agg canvas, never
through ``pyplot``: drawing a cvxnn plot does not change the interactive backend or open a
window, and works on machines without a display.

Every function returns the :class:`~matplotlib.figure.Figure`; with ``path`` it also writes the
file (format from the suffix: ``.png``, ``.pdf``, ``.svg`` ...).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .exceptions import CvxnnError, InvalidInputError

__all__ = [
    "MissingDependencyError",
    "history_arrays",
    "plot_convergence",
    "plot_objective_vs_patterns",
    "plot_robust_accuracy",
    "require_matplotlib",
]


class MissingDependencyError(CvxnnError, ImportError):
    """An optional dependency (here matplotlib) is not installed."""


def _figure(ncols: int = 1, width: float = 5.0) -> tuple[Any, list[Any]]:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError(
            "Plotting needs matplotlib, which is not installed: pip install 'cvxnn[plot]' "
            "(or pip install matplotlib)."
        ) from None
    fig = Figure(figsize=(width * ncols, 3.8), layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def require_matplotlib() -> None:
    """Raise :class:`~cvxnn.exceptions.MissingDependencyError` now if matplotlib is missing.

    For callers that write a plot after long work (``cvxnn fit --plot``) and must fail first.
    """
    _figure()


def _finish(fig: Any, path: Any) -> Any:
    if path is not None:
        from .io import check_destination

        path = Path(os.fspath(path))
        check_destination(path, f"Cannot write plot {str(path)!r}")
        fig.savefig(path, dpi=120)
    return fig


def _curves(
    x: Sequence[float],
    ys: Sequence[float] | Mapping[str, Sequence[float]],
    *,
    name: str,
    single: str,
    x_name: str,
    reference: float | None,
    reference_label: str,
    xlabel: str,
    ylabel: str,
    title: str,
) -> tuple[Any, Any]:
    """One axis with a marked curve per entry of ``ys`` (or the one curve ``ys``, labelled
    ``single``) against ``x`` (length K each), and ``reference`` as a dashed horizontal line."""
    x_arr = np.asarray(x, dtype=np.float64).ravel()
    curves = dict(ys) if isinstance(ys, Mapping) else {single: ys}
    fig, (ax,) = _figure()
    for label, y in curves.items():
        y = np.asarray(y, dtype=np.float64).ravel()
        if y.shape != x_arr.shape:
            raise InvalidInputError(f"{name} {label!r} has {y.size} values for {x_arr.size} {x_name}.")
        ax.plot(x_arr, y, marker="o", label=str(label))
    if reference is not None:
        ax.axhline(float(reference), linestyle="--", color="gray", label=reference_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    if title:
        ax.set_title(title, fontsize="small")
    return fig, ax


#: Accepted names for each history series (first match wins).
_ALIASES: dict[str, tuple[str, ...]] = {
    "objective": ("objective", "obj", "objective_value", "primal_objective", "value"),
    "primal_residual": ("primal_residual", "r_prim", "r_primal", "prim_res", "res_pri", "primal_res", "r"),
    "dual_residual": ("dual_residual", "r_dual", "dual_res", "res_dual", "s"),
    "eps_primal": ("eps_primal", "eps_pri", "eps_prim"),
    "eps_dual": ("eps_dual",),
    "time": ("time", "times", "wall_time", "elapsed", "t"),
    "iteration": ("iteration", "iterations", "iter", "k"),
}


def history_arrays(history: Any) -> dict[str, np.ndarray]:
    """Normalize a convergence history to a dict of 1-D float arrays.

    Accepts an ADMM result (anything with a ``history`` attribute), an object with attributes,
    or a mapping. Recognized series (with common aliases): ``objective``, ``primal_residual``,
    ``dual_residual``, ``time`` (seconds since the start) and ``iteration``. Missing series are
    absent from the result; ``iteration`` defaults to ``1..K``.
    """
    if hasattr(history, "history") and not isinstance(history, Mapping):
        history = history.history
    if not isinstance(history, Mapping):
        history = {k: getattr(history, k) for k in dir(history) if not k.startswith("_")}
    out: dict[str, np.ndarray] = {}
    for name, aliases in _ALIASES.items():
        for alias in aliases:
            value = history.get(alias)
            if value is None or callable(value):
                continue
            try:
                arr = np.asarray(value, dtype=np.float64).ravel()
            except (TypeError, ValueError):
                continue
            if arr.size:
                out[name] = arr
                break
    lengths = {v.size for k, v in out.items()}
    if not out or ("iteration" in out and len(out) == 1):
        raise InvalidInputError(
            "The history holds no recognized series; expected some of "
            f"{[a[0] for a in _ALIASES.values()]} (arrays of equal length)."
        )
    if len(lengths) != 1:
        raise InvalidInputError(
            f"History series have different lengths { ({k: v.size for k, v in out.items()}) }."
        )
    if "iteration" not in out:
        out["iteration"] = np.arange(1, lengths.pop() + 1, dtype=np.float64)
    return out


def plot_convergence(history: Any, path: Any = None, *, optimum: float | None = None, title: str = "") -> Any:
    r"""Convergence of an iterative solve: objective gap and residuals against iterations and time.

    Left panel: against the iteration; right panel: against wall time (when the history has a
    ``time`` series). Drawn on a log scale: the relative objective gap
    :math:`|f_k - f^\star| / \max(1, |f^\star|)` (with ``optimum`` :math:`f^\star`, default the
    last objective, whose own point is then left out) and the primal and dual residuals, with
    their tolerances dashed when the history has ``eps_primal`` / ``eps_dual``.

    Parameters
    ----------
    history : AdmmResult, object with attributes, or mapping of 1-D arrays (length K)
        See :func:`history_arrays` for the recognized names.
    path : str or os.PathLike, optional
        Where to write the figure.
    optimum : float, optional
        Reference optimal value (e.g. from Clarabel) for the objective gap.
    title : str
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
    """
    h = history_arrays(history)
    has_time = "time" in h
    fig, axes = _figure(2 if has_time else 1)
    xs = [("iteration", h["iteration"])] + ([("time [s]", h["time"])] if has_time else [])
    series: list[tuple[str, np.ndarray]] = []
    if "objective" in h:
        obj = h["objective"]
        ref = float(obj[-1]) if optimum is None else float(optimum)
        gap = np.abs(obj - ref) / max(1.0, abs(ref))
        if optimum is None:
            gap[-1] = np.nan
        series.append(("relative objective gap", gap))
    for key, label in (("primal_residual", "primal residual"), ("dual_residual", "dual residual")):
        if key in h:
            series.append((label, h[key]))
    tolerances = {"primal residual": h.get("eps_primal"), "dual residual": h.get("eps_dual")}
    for ax, (xlabel, x) in zip(axes, xs, strict=True):
        for label, y in series:
            y = np.where(y > 0, y, np.nan)
            (line,) = ax.semilogy(x, y, label=label)
            tol = tolerances.get(label)
            if tol is not None:
                ax.semilogy(
                    x, tol, linestyle="--", linewidth=0.8, color=line.get_color(), label=f"{label} tolerance"
                )
        ax.set_xlabel(xlabel)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("value (log scale)")
    axes[0].legend(loc="best", fontsize="small")
    if title:
        fig.suptitle(title, fontsize="small")
    return _finish(fig, path)


def plot_robust_accuracy(
    eps: Sequence[float],
    accuracy: Sequence[float] | Mapping[str, Sequence[float]],
    path: Any = None,
    *,
    clean: float | None = None,
    norm: str = "inf",
    title: str = "",
) -> Any:
    r"""Robust accuracy against the perturbation radius :math:`\varepsilon`.

    Parameters
    ----------
    eps : sequence of float, length K
        Radii.
    accuracy : sequence of float (length K), or mapping label -> sequence
        Robust accuracy at each radius (one curve per model for a mapping).
    clean : float, optional
        Clean accuracy, drawn as a dashed horizontal line.
    norm : str
        Perturbation norm, for the axis label.
    """
    xlabel = rf"$\varepsilon$ ($\ell_{{{norm}}}$)" if norm != "inf" else r"$\varepsilon$ ($\ell_\infty$)"
    fig, ax = _curves(
        eps,
        accuracy,
        name="accuracy",
        single="robust accuracy",
        x_name="radii",
        reference=clean,
        reference_label="clean accuracy",
        xlabel=xlabel,
        ylabel="accuracy",
        title=title,
    )
    ax.set_ylim(-0.02, 1.02)
    return _finish(fig, path)


def plot_objective_vs_patterns(
    n_patterns: Sequence[int],
    objective: Sequence[float] | Mapping[str, Sequence[float]],
    path: Any = None,
    *,
    optimum: float | None = None,
    title: str = "",
) -> Any:
    """Optimal objective against the number of patterns ``P`` (sampled programs are upper bounds).

    Parameters
    ----------
    n_patterns : sequence of int, length K
    objective : sequence of float (length K), or mapping label -> sequence
        Optimal value with each pattern count (one curve per formulation for a mapping).
    optimum : float, optional
        The exact optimum (all patterns), drawn as a dashed horizontal line.
    """
    fig, _ = _curves(
        n_patterns,
        objective,
        name="objective",
        single="objective",
        x_name="pattern counts",
        reference=optimum,
        reference_label="exact optimum",
        xlabel="number of patterns P",
        ylabel="optimal objective",
        title=title,
    )
    return _finish(fig, path)
