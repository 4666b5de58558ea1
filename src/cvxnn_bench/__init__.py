r"""Side-by-side benchmark of the solvers of the convex ReLU program (CVX) of MATH.md §3.

One command builds, for each size ``(n, d, P)``, *one* :class:`~cvxnn.programs.ConvexProgram`
(squared loss, sampled patterns, :math:`\beta = \lambda n`) and solves that same object with
every requested solver:

``CLARABEL``, ``ECOS``, ``SCS``, ``MOSEK``
    CVXPY's generic conic solvers at their default settings (``program.problem.solve(solver=...)``).
    MOSEK only with a usable license; otherwise reported as skipped with the reason.
``ADMM``
    cvxnn's structured ADMM, ``cvxnn.admm.solve_admm(program, settings)`` at its default settings
    (or ``--admm-settings``).
``PYSCNN``
    pyscnn's augmented-Lagrangian solver (``scnn.solvers.AL``) for ``ConvexReLU`` on the *same*
    gates, ``unitize_data=False``, ``dtype="float64"``. pyscnn minimizes our objective divided by
    ``n`` (loss :math:`\|r\|^2/(2n)`, penalty :math:`\lambda\sum\|\cdot\|_2`), so it gets
    :math:`\lambda = \beta / n`. It is imported lazily, only in the child process that runs it,
    and is reported as "not installed" when absent.

How it measures (and why this is honest)
----------------------------------------
* **Same program object, isolated runs.** The program is built once in the parent process; each
  solver runs in a ``fork`` of the parent, so it sees exactly that object (copy-on-write) while a
  hung solver can be killed at ``--timeout`` and a crashed one (e.g. killed for memory) cannot
  take the suite down. Every child starts from the same state: nothing is compiled in the
  parent, so each CVXPY solver pays its own compilation.
* **Objective and gap.** Every solver's returned ``(V, W)`` is evaluated by the same NumPy code
  (:func:`program_objective`); the relative gap is :math:`(f - f_\star)/|f_\star|`, where
  :math:`f_\star` is Clarabel's objective when Clarabel solved the instance to optimality (an
  interior-point solution at relative gap 1e-8), otherwise the lowest objective among returned
  points feasible to solver precision (relative cone violation <= 1e-6; see :func:`score_case`).
  The gap is one-sided: a slightly infeasible point can lie below :math:`f_\star`, and the cone
  violation column says how infeasible it is.
* **Time to 1e-4.** Wall-clock time of the solve call at each solver's default stopping rule.
  The "target" column says whether the returned point meets the issue's target: relative gap
  :math:`(f - f_\star)/|f_\star| \le 10^{-4}` *and* relative cone violation :math:`\le 10^{-4}`.
  When it does not, the solver did not reach the target at its defaults and its time is not a
  time-to-1e-4. For CVXPY solvers "setup" is CVXPY's compile time (``problem.compilation_time``)
  and "solve" the solver's own time (``solver_stats.solve_time`` + ``setup_time``); for the ADMM
  "setup" is data preparation plus factorizations and "solve" the iterations (its
  ``result.timings``). For the ADMM the note also gives the first residual check whose iterate
  objective was within 1e-4 of :math:`f_\star` (from ``result.history``), when there is one.
* **Peak memory.** Resident set size of the child: the high-water mark is reset at the start of
  the solve (``/proc/self/clear_refs``) and ``VmHWM - VmRSS(start)`` is reported, i.e. the extra
  resident memory the solve needed at its peak, native allocations (Rust, C, BLAS, torch)
  included, which ``tracemalloc`` would miss. Pages shared with the parent (the data) are not
  counted again.
* **Noise.** The machine is shared; always compare the ratios of one run (the ``x Clarabel``
  column), not absolute times across runs. The JSON records the load average before and after.

Run it as ``python benchmarks/run.py`` or ``python -m cvxnn_bench`` or ``cvxnn bench`` (see ``--help``).

Modules: :mod:`.cases` (instances and NumPy checks), :mod:`.isolation` (fork isolation),
:mod:`.runners` (solver adapters), :mod:`.scoring`, :mod:`.suite`, :mod:`.machine` (metadata),
:mod:`.report` (Markdown) and :mod:`.cli`.
"""

from .cases import (
    ALL_SOLVERS,
    DEFAULT_SIZES,
    DEFAULT_TIMEOUT,
    GENERIC_SOLVERS,
    QUICK_SIZES,
    BenchCase,
    cone_violation,
    make_case,
    make_data,
    program_objective,
    relative_gap,
)
from .cli import build_parser, main
from .isolation import IsolatedRun, run_isolated
from .report import markdown_report, markdown_table
from .scoring import score_case
from .suite import run_case, run_suite, settings_for_size

__all__ = [
    "ALL_SOLVERS",
    "DEFAULT_SIZES",
    "DEFAULT_TIMEOUT",
    "GENERIC_SOLVERS",
    "QUICK_SIZES",
    "BenchCase",
    "IsolatedRun",
    "build_parser",
    "cone_violation",
    "main",
    "make_case",
    "make_data",
    "markdown_report",
    "markdown_table",
    "program_objective",
    "relative_gap",
    "run_case",
    "run_isolated",
    "run_suite",
    "score_case",
    "settings_for_size",
]
