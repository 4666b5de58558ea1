"""Which CVXPY form of the logistic loss do interior-point solvers handle best?

Builds small Gaussian classification programs (n = 60, d = 6, P = 40 sampled patterns with a
bias, beta log-uniform in [0.005, 0.02]) and solves each with Clarabel and ECOS in several
algebraically equal forms of the summed logistic loss, counting failures (a SolverError, a
status other than optimal, or a value 1e-5 off the median of the others) per solver and form.
Run: ``python benchmarks/logistic_forms.py [N_PROGRAMS]``; results in ``benchmarks/NOTES.md``.
"""

from __future__ import annotations

import sys
import time
import warnings

import cvxpy as cp
import numpy as np

import cvxnn
from cvxnn.solvers import solve_problem

FORMS = ("logistic", "logistic-epigraph", "exp-cone", "log-sum-exp", "scaled-1/n")


def loss_form(form: str, yhat: cp.Expression, y: np.ndarray) -> tuple[cp.Expression, list, float]:
    """(loss expression, extra constraints, objective scale) of one form."""
    m = cp.multiply(y, yhat)
    n = y.size
    if form in ("logistic", "scaled-1/n"):
        return cp.sum(cp.logistic(-m)), [], (1.0 / n if form == "scaled-1/n" else 1.0)
    t = cp.Variable(n)
    if form == "logistic-epigraph":
        return cp.sum(t), [t >= cp.logistic(-m)], 1.0
    if form == "exp-cone":  # t >= log(1 + e^-m)  <=>  e^-t + e^(-m-t) <= 1
        return cp.sum(t), [cp.exp(-t) + cp.exp(-m - t) <= 1], 1.0
    if form == "log-sum-exp":
        return cp.sum(cp.log_sum_exp(cp.vstack([np.zeros(n), -m]), axis=0)), [], 1.0
    raise ValueError(form)


def program(seed: int) -> cvxnn.ConvexProgram:
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((60, 6))
    y = np.where(X @ rng.standard_normal(6) + 0.5 * rng.standard_normal(60) >= 0, 1.0, -1.0)
    beta = float(10 ** rng.uniform(np.log10(0.005), np.log10(0.02)))
    pats = cvxnn.sample_patterns(X, 40, random_state=seed, bias=True)
    return cvxnn.relu_program(X, y, pats, beta=beta, loss="logistic")


def main(n_programs: int = 100) -> None:
    solvers = [s for s in ("CLARABEL", "ECOS") if s in cvxnn.usable_solvers()]
    fails = {(s, f): [] for s in solvers for f in FORMS}
    seconds = {(s, f): 0.0 for s in solvers for f in FORMS}
    for seed in range(n_programs):
        prog = program(seed)
        values = {}
        for form in FORMS:
            loss, extra, scale = loss_form(form, prog.yhat, prog.y)
            problem = cp.Problem(
                cp.Minimize(scale * (loss + prog.beta * prog.regularizer)), prog.problem.constraints + extra
            )
            for solver in solvers:
                t0 = time.perf_counter()
                try:
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        solve_problem(problem, solver)
                    ok = problem.status == cp.OPTIMAL
                except cp.error.SolverError:
                    ok = False
                seconds[solver, form] += time.perf_counter() - t0
                if ok:
                    values[solver, form] = problem.value / scale
                else:
                    fails[solver, form].append(seed)
        ref = np.median(list(values.values()))
        for key, v in values.items():
            if abs(v - ref) > 1e-5 * max(1.0, abs(ref)):
                fails[key].append(f"{seed}:off")
        failed = [
            f"{s}/{f}" for (s, f), seeds in fails.items() if seeds and str(seeds[-1]).startswith(str(seed))
        ]
        print(f"seed {seed}: failed {failed}", flush=True)
    print(f"{n_programs} programs (n=60, d=6, P=40, bias, beta in [0.005, 0.02])")
    print(f"{'solver':9s} {'form':18s} {'failed':>6s} {'seconds':>8s}  seeds")
    for (solver, form), seeds in fails.items():
        print(f"{solver:9s} {form:18s} {len(seeds):6d} {seconds[solver, form]:8.1f}  {seeds[:8]}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
