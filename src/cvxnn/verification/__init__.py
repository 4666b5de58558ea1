r"""Cross-solver verification of a convex training program (``cvxnn.verify``, ``cvxnn verify``).

The package is ``cvxnn.verification``; its main function is exported as ``cvxnn.verify``. It has
three modules: :mod:`.measuring` (a point's objective and violations, :func:`check_point`),
:mod:`.running` (the solver runner, the implied-bounds workaround, :func:`verify`) and
:mod:`.reporting` (:class:`VerificationReport`), with the result record in :mod:`.results`.

:func:`verify` solves the *same* :class:`~cvxnn.programs.ConvexProgram` with every requested
solver (by default every installed, usable CVXPY solver among Clarabel, ECOS, SCS, OSQP, GUROBI
and MOSEK that accepts the program's cones, plus cvxnn's ADMM when it supports the kind) and
checks each returned point *itself*, without trusting what the solver says:

- the convex objective :math:`f(z)` re-evaluated from the variable values;
- the maximum constraint violation :math:`\nu(z)`: the largest ``constraint.violation()`` of
  every CVXPY constraint, and, recomputed in NumPy from the data, the cone residuals
  :math:`\max(0, -(2D_i - I)X' v_i)` (ReLU kinds) or
  :math:`\max(0, \varepsilon\|v_i\|_q\mathbf 1 - (2D_i - I)X' v_i)` (robust kinds), same for
  :math:`w_i`. The verdict uses the *relative* violation
  :math:`\nu(z) / \max(1, \max_k |(X' V)_{k}|, \max_k |(X' W)_k|)`;
- the recovered network's non-convex objective (MATH.md (NC); for a robust program the
  *nominal* one, which can never exceed the robust objective; for the gated program the gated
  network's objective, which equals the convex one);
- the relative difference :math:`|f(z) - f(z_\mathrm{ref})| / \max(|f(z_\mathrm{ref})|, 10^{-12})`
  to the most accurate result: among results with status ``optimal``, the one with the smallest
  relative violation (violations below ``1e-9`` count as equal), ties broken by the solver's
  accuracy class (smaller ``rtol``: interior-point before first-order), then by the smaller
  objective.

A result *agrees* when its status is optimal (or optimal_inaccurate), its relative violation is
at most its ``vtol``, its relative objective difference to the reference is at most
``max(rtol_solver, rtol_reference)``, and its network objective is consistent with its convex
objective (equal, or for robust programs not larger, within the same tolerance). A solver that
claims the program is infeasible or unbounded disagrees (every program here is feasible at
zero and bounded below). A solver that cannot run is reported, not crashed on: not installed,
MOSEK without a license, GUROBI over its size-limited license (2000 variables and linear
constraints, only 200 variables once a second-order cone appears), kind not supported (OSQP on
cone programs, GUROBI on exponential cones, the ADMM on robust programs). A solver that raises
an error, or stops at its iteration limit (``user_limit``) outside tolerance, is reported as
*failed*; failures do not count as disagreement but are listed in the verdict.

Wrong implied bounds: CVXPY 1.9 gives auxiliary variables of ``maximum``/``abs``/... interval
bounds when the solver accepts bounded variables (GUROBI, HIGHS, SCIPY), and for the hinge and
robust programs those bounds are wrong (``0 * inf`` in its interval arithmetic becomes ``0``), so
those solvers return "optimal" points of a different problem. :func:`implied_bound_errors`
detects this at the reference point; the disagreeing solver gets a note and is re-run once with
the implied bounds turned off (``"GUROBI (no implied bounds)"``), which shows whether the solver
itself agrees. When it does, the plain run (what a plain ``problem.solve(solver="GUROBI")``
returns) is reported as *worked around* (outcome ``"worked around"``): cvxnn's own
``ConvexProgram.solve`` always uses the interface without implied bounds
(:func:`cvxnn.solvers.solver_interface`), so it is a warning (``report.warnings``, naming the
defect), not a disagreement: ``report.agree`` stays True and ``report.strict_agree`` is False.
``docs/known_issues.md`` holds a CVXPY-only reproducer of the defect.

After :func:`verify` the program holds the reference solution (variables, constraint duals,
``problem.status`` and ``problem.value``, set through ``cvxpy.Problem.unpack``), so it is usable
as if solved by the reference solver; ``problem.solver_stats`` is that of the *last* solver run.
When no solver returns an optimal point, the variables get back the values they had before.
With ``restore=False`` the variables keep the last solver's values instead. Each solver starts
from cleared variable values (no warm start from the previous solver).

Example::

    import cvxnn
    from cvxnn import verify

    patterns = cvxnn.sample_patterns(X, 8, random_state=0)
    program = cvxnn.relu_program(X, y, patterns, beta=0.1)
    report = verify(program)
    print(report)                 # a table and a verdict line
    report.agree                  # True when every solver that ran agrees
    report.to_json()              # the same as JSON
"""

from .measuring import check_point
from .reporting import VerificationReport
from .results import DEFAULT_RTOL, DEFAULT_SOLVERS, DEFAULT_VTOL, SolverResult
from .running import implied_bound_errors, verify

__all__ = [
    "DEFAULT_RTOL",
    "DEFAULT_SOLVERS",
    "DEFAULT_VTOL",
    "SolverResult",
    "VerificationReport",
    "check_point",
    "implied_bound_errors",
    "verify",
]
