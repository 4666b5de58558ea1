r"""The row-sharded ADMM for the ``relu`` program.

Splitting (as in :mod:`cvxnn.admm`): :math:`\min L(z) + \beta\sum_j\|v_j\| + I_K(v)` s.t.
:math:`u = v`, :math:`Fu = z` (no ``z`` for the squared loss, which stays in the linear system),
with the cones :math:`K_j = \{v : s_{kj}x_k'^Tv \ge 0\}` handled by ``cone_method``:

- ``"rowgen"`` (default): the v-step is the exact prox of :math:`\beta\|\cdot\| + I_{K_j^C}`
  on the driver, over the cones :math:`K_j^C \supseteq K_j` of a *core set* of rows
  (:class:`~cvxnn.distributed.coreset.CoreRows`), seeded with each shard's rows nearest every
  gate's hyperplane and grown at each residual check by the rows that ``v`` violates most
  (:meth:`ShardWorker.violated_rows`). Once no row is violated, ``v`` is feasible for the full
  program and the core cones give an exact cone correction for the certificate. The squared
  loss's u-step needs only the Gram, so the driver iterates without the shards between checks;
  a split loss exchanges :math:`U_V - U_W` and the shards' ``F^T(z - \mu)`` shares once per
  iteration (``d' x P`` each way: the rows only need :math:`Fu = \sum_i D_iX'(u_{v,i} - u_{w,i})`
  and :math:`F^Tf = [T, -T]`).
- ``"slack"``: :math:`Gu = s \ge 0` with per-row slacks on the shards (row-separable but slow
  when ``n >> d'``: at (1000, 5, 10) it had not converged after 20 000 iterations).

Per iteration the driver

1. sums the shards' right-hand-side shares and solves the u-step
   (:class:`~cvxnn.distributed.linsys.ReducedSystem`);
2. sends the new ``U`` to every shard, which updates its rows and returns its next share: one
   broadcast and one reduction (skipped for the squared loss with ``"rowgen"``). With
   ``"rowgen"`` and a split loss (:meth:`ShardWorker.loss_step`) only :math:`U_V - U_W` goes
   out and ``T`` comes back (``d'P`` numbers each way), and the call is sent *before* the
   driver's v-step, so the shards' row work and the driver's projection run at the same time;
   at a residual check the call waits for the new ``v`` and also returns the rows it violates
   (one call per shard). With ``"slack"`` (:meth:`ShardWorker.step`) ``U`` and the share are
   ``d' x 2P``;
3. takes the v-step (``"rowgen"``: the core-set prox; ``"slack"``: the group soft-threshold)
   and :math:`\lambda \mathrel{+}= \hat u - v` (``d' x 2P``, on the driver).

Acceleration. When the driver iterates alone (squared loss, ``"rowgen"``), one iteration is a
fixed-point map :math:`(V, \Lambda) \mapsto (V^+, \Lambda^+)` of ``d' x 2P`` arrays, and
safeguarded type-II Anderson acceleration (``anderson``, memory 10 by default;
:class:`cvxnn.admm.acceleration.Anderson`) extrapolates it, restarted whenever the map changes
(the core set grew, a penalty moved, a worker was lost). On the benchmark's programs
(``beta = 1e-3 n``) the plain iteration converges linearly and slowly (about 8500 iterations at
(1500, 8, 16), past 20 000 at (10000, 20, 50): the certificate, built from the primal point, is
first-order in its distance to the optimum); accelerated, 940 and 1620.

Returned point. Each column moves along its gate, :math:`v_j + t_jg_j` with the smallest
:math:`t_j \ge 0` that clears every row (:math:`S_jX'g_j \ge 0` because the gate generates the
pattern; one max-reduction; ``t = 0`` when ``v`` already meets every row, as ``"rowgen"``'s
converged points do). Its certificate (:meth:`ShardWorker.certify`: the loss multiplier
:math:`\lambda`, the cone correction :math:`\|\Pi_{K_j^C}(F_j^T\lambda)\|` with ``"rowgen"`` or
the best multiple of the slack duals with ``"slack"``, scaled to dual feasibility) bounds the
gap at that point; ``optimal`` needs that bound within ``gap_tol``.

Faults: the shards' data are Dask futures with lineage (recomputed by Dask when a worker is
lost); their row state lives in actors, which are not. When a call fails because a worker went
away, the actors are rebuilt and their row state restarted from the driver's ``V`` (ADMM
converges from any start); after ``max_recoveries`` losses :class:`WorkerLostError` is raised.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from .._validation import check_beta, check_loss
from ..admm.acceleration import Anderson, unpack
from ..exceptions import CvxnnError, InvalidInputError
from ..recovery import relu_network_from_blocks
from .coreset import CoreRows, group_prox
from .inputs import as_row_chunked, check_gates
from .linsys import ReducedSystem, choose_solver, tree_reduce
from .settings import ShardedResult, ShardedSettings, WorkerLostError, default_rowgen_rows
from .shards import (
    ShardWorker,
    add_arrays,
    add_statistics,
    check_chunk,
    expand_compact,
    make_shard,
    shard_statistics,
)


def _client(client: Any) -> Any:
    if client is not None:
        return client
    from distributed import default_client

    try:
        return default_client()
    except ValueError as err:
        raise InvalidInputError(
            "solve_sharded needs a Dask client: pass client=Client(address) (or start one first)."
        ) from err


def _lost_worker_errors() -> tuple[type[BaseException], ...]:
    import asyncio

    from distributed import KilledWorker
    from distributed.client import FutureCancelledError

    return (OSError, KilledWorker, FutureCancelledError, asyncio.CancelledError, asyncio.TimeoutError)


def _is_lost_worker(err: BaseException) -> bool:
    if isinstance(err, CvxnnError):
        return False
    if isinstance(err, _lost_worker_errors()):
        return True
    text = str(err).lower()
    return any(word in text for word in ("lost", "worker", "actor", "closed", "cancelled"))


def _best_multiple(C: np.ndarray, B: np.ndarray) -> np.ndarray:
    bb = np.einsum("ij,ij->j", B, B)
    ab = np.einsum("ij,ij->j", C, B)
    return np.where(bb > 0, np.maximum(0.0, -ab / np.where(bb > 0, bb, 1.0)), 0.0)


class _Shards:
    """The actors of one solve, rebuilt from the (recomputable) shard futures after a loss."""

    def __init__(self, client: Any, shard_futures: list[Any], loss: str, alpha: float, slack: bool) -> None:
        self.client, self.futures, self.loss, self.alpha = client, shard_futures, loss, alpha
        self.slack = slack
        self.actors: list[Any] = []
        self.build()

    def build(self) -> None:
        made = [
            self.client.submit(ShardWorker, f, self.loss, self.alpha, self.slack, actor=True)
            for f in self.futures
        ]
        self.actors = [m.result() for m in made]

    def submit(self, method: str, *args: Any) -> list[Any]:
        """Call ``method`` on every actor without waiting (the futures of the calls)."""
        return [getattr(a, method)(*args) for a in self.actors]

    def call(self, method: str, *args: Any) -> list[Any]:
        return [p.result() for p in self.submit(method, *args)]

    def sum(self, method: str, *args: Any) -> Any:
        return add_arrays(*self.call(method, *args))


def solve_sharded(
    X: Any,
    y: Any,
    gates: Any,
    *,
    beta: float,
    loss: str = "squared",
    bias: bool = False,
    client: Any = None,
    chunk_rows: int | None = None,
    callback: Callable[[dict[str, float]], Any] | None = None,
    **admm_settings: Any,
) -> ShardedResult:
    r"""Solve the ``relu`` program over row shards of ``(X, y)`` on a Dask cluster.

    The program is that of :func:`cvxnn.relu_program` with the patterns
    :math:`D_i = 1[X'g_i \ge 0]` of the gates (the same optimum as
    ``solve_admm(relu_program(X, y, patterns, beta=beta, loss=loss))``).

    Parameters
    ----------
    X : dask.array.Array or array_like, shape (n, d)
        Inputs, chunked by rows (each row chunk is a shard; column chunks are merged). A NumPy
        array is chunked into ``chunk_rows``-row pieces, or one piece per worker.
    y : dask.array.Array or array_like, shape (n,)
        Targets (labels in {-1, +1} for ``"logistic"`` and ``"hinge"``), chunked like ``X``.
    gates : ndarray, shape (d', P), or ActivationPatterns
        Gate vectors; the patterns are computed from them on the workers. With
        :class:`~cvxnn.ActivationPatterns` their ``gates`` and ``bias`` are used.
    beta : float
        Weight decay, > 0.
    loss : {"squared", "logistic", "hinge"}
    bias : bool
        Append a column of ones (``d' = d + 1``).
    client : distributed.Client or None
        The cluster; ``None`` uses the current default client.
    chunk_rows : int or None
        Rows per shard for NumPy inputs.
    callback : callable or None
        Called at every residual check with a dict ``iteration``, ``objective``,
        ``primal_residual``, ``dual_residual``, ``gap_bound`` (relative, NaN before the first
        certificate), ``elapsed``.
    **admm_settings
        :class:`~cvxnn.distributed.settings.ShardedSettings` by name.

    Returns
    -------
    ShardedResult

    Raises
    ------
    InvalidInputError
        Bad shapes, empty or mismatched chunks, non-finite values (naming the shard and its
        rows), labels outside {-1, +1}, unknown settings.
    WorkerLostError
        More worker losses than ``max_recoveries``.
    """
    t0 = time.perf_counter()
    settings = ShardedSettings.coerce(admm_settings)
    loss = check_loss(loss)
    beta = check_beta(beta)
    client = _client(client)
    n_workers = max(1, len(client.scheduler_info().get("workers", {})))
    Xd, yd = as_row_chunked(X, y, chunk_rows, n_workers)
    n, d = Xd.shape
    G, bias = check_gates(gates, bool(bias), d)
    dprime, P = G.shape
    x_parts = client.compute(list(Xd.to_delayed()[:, 0]))
    y_parts = client.compute(list(yd.to_delayed()))
    labelled = loss != "squared"
    checks = client.gather(
        [
            client.submit(check_chunk, xf, yf, labelled, pure=False)
            for xf, yf in zip(x_parts, y_parts, strict=True)
        ]
    )
    starts = np.concatenate([[0], np.cumsum(Xd.chunks[0])])
    for k, (_, _, problem) in enumerate(checks):
        if problem:
            raise InvalidInputError(f"Shard {k} (rows {starts[k]}..{starts[k + 1] - 1}): {problem}.")
    futures = [
        client.submit(make_shard, xf, yf, G, bias, settings.scale_rows, k)
        for k, (xf, yf) in enumerate(zip(x_parts, y_parts, strict=True))
    ]
    method = choose_solver(settings.linear_solver, dprime * P, settings.memory_limit_gb)
    stats = tree_reduce(
        client, [client.submit(shard_statistics, f, method == "cholesky") for f in futures], add_statistics
    )
    rowgen = settings.cone_method == "rowgen"
    rows_per_check = settings.rowgen_rows or default_rowgen_rows(dprime)
    shards = _Shards(client, futures, loss, settings.alpha, not rowgen)
    split = loss != "squared"

    # penalties: the single-process ADMM's data-derived defaults (projection or slack splitting)
    c_scale = max(float(np.mean(stats["dx2"])), 1e-8)
    if rowgen:
        rho_cone = 0.1 * c_scale
    elif split:
        rho_cone = 2.0 * c_scale / max(float(np.mean(np.diag(stats["xte2x"]))), 1e-12)
    else:
        rho_cone = 30.0 * max(stats["x2"] / (n * dprime), 1e-12)
    rho = {"u": rho_cone, "s": rho_cone, "z": 1.0}
    if settings.rho is not None:
        rho = {
            "u": settings.rho,
            "s": settings.rho_cone or settings.rho,
            "z": settings.rho_loss or settings.rho,
        }
    w = rho["z"] if split else 1.0

    matvec = (lambda x: shards.sum("gram_matvec", x)) if method == "cg" else None
    gram = stats["gram"] if method == "cholesky" else None
    system = ReducedSystem(
        method, stats["xte2x"], gram, stats["blocks"], matvec, settings.cg_tol, settings.cg_max_iter
    )
    t_setup = time.perf_counter()
    rho_g = 0.0 if rowgen else 1.0  # the slack block's weight in the u-step
    system.factor(2.0 * w, rho["u"], rho_g * rho["s"])
    t_factor = time.perf_counter() - t_setup
    fty = np.hstack([stats["fty"], -stats["fty"]]) if not split else 0.0

    J = 2 * P
    V = np.zeros((dprime, J))
    Lam = np.zeros((dprime, J))
    gates2 = np.hstack([G, G])
    # without slacks the shards' right-hand-side shares are compact (d' x P: F^T f = [T, -T])
    full = expand_compact if rowgen else (lambda R: R)
    rhs = full(shards.sum("reset", V, rho["s"], rho["z"]))
    core = CoreRows(dprime, P)
    if rowgen:
        core.add(shards.call("boundary_rows", G, rows_per_check))
    remote = split or not rowgen  # False: the squared loss with driver-side cones needs no shard
    rows_added = 0
    recoveries = 0
    n_updates = 0
    rho0 = dict(rho)
    history: dict[str, list[float]] = {
        k: [] for k in ("iteration", "objective", "primal_residual", "dual_residual", "gap_bound", "elapsed")
    }
    cert: dict[str, Any] = {}
    status, message = "user_limit", f"iteration limit ({settings.max_iter}) reached"
    rp = rd = eps_p = eps_d = math.nan
    cert_every = max(
        settings.check_interval,
        settings.certificate_interval // settings.check_interval * settings.check_interval,
    )

    def certificate(V: np.ndarray) -> dict[str, Any]:
        """The feasible point with the lower objective of two repairs, and its certificate."""
        t = np.max(np.stack(shards.call("violation_ratios", V, gates2)), axis=0)
        finite = np.isfinite(t)
        step = np.where(finite, t, 0.0) * np.linalg.norm(gates2, axis=0)
        # repair 1: move along the gate (zero the column where no finite move clears its rows)
        repaired = np.where(finite, V + gates2 * np.where(finite, t, 0.0), 0.0)
        # repair 2: also zero the columns whose move would be longer than the column itself
        zeroed = np.where(finite & (step <= np.linalg.norm(V, axis=0)), repaired, 0.0)
        best = evaluate(repaired)
        if not np.array_equal(zeroed, repaired):
            other = evaluate(zeroed)
            if other["objective"] < best["objective"]:
                best = other
        return best

    def evaluate(Vf: np.ndarray) -> dict[str, Any]:
        parts = shards.call("certify", Vf, rho["s"], rho["z"])
        C = add_arrays(*[p[0] for p in parts])
        Gnu = add_arrays(*[p[1] for p in parts])
        sums = add_arrays(*[p[2][:4] for p in parts])
        viol = max(float(p[2][4]) for p in parts)
        scale = max(float(p[2][5]) for p in parts)
        objective = float(sums[0] + beta * np.linalg.norm(Vf, axis=0).sum())
        Cm = core.project(C) if rowgen else C + Gnu * _best_multiple(C, Gnu)
        worst = float(np.max(np.linalg.norm(Cm, axis=0)))
        feas = beta / worst if worst > 0 else math.inf
        if loss == "squared":
            ly, ll = float(sums[1]), float(sums[2])
            theta = min(max(ly / ll, 0.0), feas) if ll > 0 else 0.0
            dual = theta * ly - 0.5 * theta**2 * ll
        elif loss == "logistic":
            dual = float(sum(shards.call("entropy", min(1.0, feas))))
        else:
            dual = min(1.0, feas) * float(sums[3])
        vrel = viol / scale if scale > 0 else 0.0
        gap = objective - dual
        return {
            "V": Vf,
            "objective": objective,
            "dual": dual,
            "gap": gap,
            "gap_rel": gap / max(abs(objective), 1e-300),
            "viol": viol,
            "viol_rel": vrel,
        }

    # Anderson acceleration of the driver's fixed-point map (V, Lam) -> (V+, Lam+): only when the
    # driver iterates alone (squared loss, rowgen); restarted whenever the map changes (a core
    # set that grew, new penalties, a recovery)
    accel = None
    if settings.anderson and not remote:
        accel = Anderson(settings.anderson, settings.anderson_safeguard)
    x_in: np.ndarray | None = None

    t_loop = time.perf_counter()
    t_wait = 0.0  # in the loop, waiting for the shards' steps and violated rows
    it = 0
    while it < settings.max_iter:
        it += 1
        check = it % settings.check_interval == 0
        if accel is not None:
            fx = np.concatenate([V.ravel(), Lam.ravel()])
            if x_in is not None:
                x_next = accel.step(x_in, fx)
                if x_next is not fx:
                    V, Lam = (a.copy() for a in unpack(x_next, [V.shape, Lam.shape]))
            x_in = np.concatenate([V.ravel(), Lam.ravel()])
        try:
            U = system.solve(rho["u"] * (V - Lam) + rhs + fty)
            # rowgen, split loss: the shards' step needs only U_V - U_W and runs while the driver
            # takes the v-step (at a residual check it waits for V, to report V's violated rows in
            # the same call)
            pending = None
            if split and rowgen and not check:
                pending = shards.submit("loss_step", U[:, :P] - U[:, P:], rho["z"], False)
            Uhat = settings.alpha * U + (1.0 - settings.alpha) * V
            V_old = V
            V = core.prox(Uhat + Lam, beta / rho["u"]) if rowgen else group_prox(Uhat + Lam, beta / rho["u"])
            Lam = Lam + Uhat - V
            reported = None
            if remote:
                tw = time.perf_counter()
                if pending is not None:
                    parts = [p.result() for p in pending]
                elif split and rowgen:
                    args = (V, rows_per_check, settings.rowgen_tol)
                    parts = shards.call("loss_step", U[:, :P] - U[:, P:], rho["z"], True, *args)
                    reported = [p[4] for p in parts]
                else:
                    parts = shards.call("step", U, rho["s"], rho["z"], check)
                t_wait += time.perf_counter() - tw
                rhs = full(add_arrays(*[p[0] for p in parts]))
            if check and remote and rowgen:
                dual_z, ft_mu = (full(add_arrays(*[p[k] for p in parts])) for k in (1, 2))
                sq = add_arrays(*[p[3] for p in parts])
                dual_s = gt_nu = np.zeros_like(U)
            elif check and remote:
                dual_s, dual_z, gt_nu, ft_mu, sq = (add_arrays(*[p[k] for p in parts]) for k in range(1, 6))
            elif check:
                dual_s = dual_z = gt_nu = ft_mu = np.zeros_like(U)
                sq = np.zeros(6)
            if check and rowgen:  # grow the core set by the rows that V violates most
                if reported is None:
                    tw = time.perf_counter()
                    reported = shards.call("violated_rows", V, rows_per_check, settings.rowgen_tol)
                    t_wait += time.perf_counter() - tw
                core.tick()
                added = core.add(reported)
                rows_added += added
                idle = np.count_nonzero(core.idle >= settings.rowgen_prune) if settings.rowgen_prune else 0
                if idle and 4 * idle >= len(core):  # a quarter of the set idle: drop it
                    added += core.prune(settings.rowgen_prune)
                if added and accel is not None:
                    accel.reset()
                    x_in = None
        except Exception as err:  # a lost worker: rebuild the actors, restart the rows from V
            if not _is_lost_worker(err):
                raise
            recoveries += 1
            if recoveries > settings.max_recoveries:
                raise WorkerLostError(
                    f"Lost workers {recoveries} times (max_recoveries={settings.max_recoveries}); "
                    f"last error: {err!r}."
                ) from err
            shards.build()
            rhs = full(shards.sum("reset", V, rho["s"], rho["z"]))
            if accel is not None:
                accel.reset()
                x_in = None
            continue
        if not check:
            continue
        rp = math.sqrt(float(np.sum((U - V) ** 2)) + sq[0] + sq[1])
        dual_u = rho["u"] * (V - V_old)
        rd = float(np.linalg.norm(dual_u + dual_s + dual_z))
        m_p = dprime * J + (0 if rowgen else n * J) + (n if split else 0)
        eps_p = math.sqrt(m_p) * settings.eps_abs + settings.eps_rel * max(
            math.sqrt(float(np.sum(U**2)) + sq[2] + sq[4]), math.sqrt(float(np.sum(V**2)) + sq[3] + sq[5])
        )
        dual_scale = float(np.linalg.norm(rho["u"] * Lam + rho["s"] * gt_nu + rho["z"] * ft_mu))
        eps_d = math.sqrt(dprime * J) * settings.eps_abs + settings.eps_rel * dual_scale
        converged = rp <= eps_p and rd <= eps_d
        if settings.adaptive_rho and it % settings.adaptive_rho_interval == 0 and not converged:
            # OSQP-style residual balancing per block: (primal, its scale, dual, its scale)
            blocks = {
                "u": (
                    np.linalg.norm(U - V),
                    max(np.linalg.norm(U), np.linalg.norm(V)),
                    dual_u,
                    rho["u"] * Lam,
                ),
            }
            if not rowgen:
                blocks["s"] = (math.sqrt(sq[0]), math.sqrt(max(sq[2], sq[3])), dual_s, rho["s"] * gt_nu)
            if split:
                blocks["z"] = (math.sqrt(sq[1]), math.sqrt(max(sq[4], sq[5])), dual_z, rho["z"] * ft_mu)
            factors = {}
            for key, (p_b, ps_b, d_b, ds_b) in blocks.items():
                pn = float(p_b) / max(float(ps_b), 1e-300)
                dn = float(np.linalg.norm(d_b)) / max(float(np.linalg.norm(ds_b)), 1e-300)
                ratio = math.sqrt(pn / max(dn, 1e-300)) if pn > 0 else 0.0
                if not 1.0 / settings.adaptive_rho_tolerance <= ratio <= settings.adaptive_rho_tolerance:
                    step = min(max(ratio, 0.1), 10.0)
                    new = min(max(rho[key] * step, rho0[key] * 1e-4), rho0[key] * 1e4)
                    if new != rho[key]:
                        factors[key] = new / rho[key]
            if factors:
                for key, f in factors.items():
                    rho[key] *= f
                Lam = Lam / factors.get("u", 1.0)
                w = rho["z"] if split else 1.0
                tf = time.perf_counter()
                system.factor(2.0 * w, rho["u"], rho_g * rho["s"])
                t_factor += time.perf_counter() - tf
                inverse = (1.0 / factors.get("s", 1.0), 1.0 / factors.get("z", 1.0))
                rhs = full(shards.sum("rescale", *inverse, rho["s"], rho["z"]))
                n_updates += 1
                if accel is not None:
                    accel.reset()
                    x_in = None
        elapsed = time.perf_counter() - t0
        if converged or it % cert_every == 0:
            cert = certificate(V)
        info = {
            "iteration": float(it),
            "objective": cert.get("objective", math.nan),
            "primal_residual": rp,
            "dual_residual": rd,
            "gap_bound": cert.get("gap_rel", math.nan),
            "elapsed": elapsed,
        }
        for key, value in info.items():
            history[key].append(value)
        if callback is not None:
            callback(dict(info))
        if not np.isfinite(rp) or not np.isfinite(rd):
            status, message = "solver_error", f"non-finite residuals at iteration {it}"
            break
        if cert and cert["gap_rel"] <= settings.gap_tol and cert["viol_rel"] <= settings.cone_tol:
            status, message = "optimal", f"certified relative gap {cert['gap_rel']:.3g} <= gap_tol"
            break
        if settings.time_limit is not None and elapsed >= settings.time_limit:
            message = f"time limit ({settings.time_limit} s) reached"
            break
    t_iter = time.perf_counter() - t_loop
    if status != "optimal":
        cert = certificate(V)
        if status != "solver_error":
            good = cert["gap_rel"] <= settings.gap_tol and cert["viol_rel"] <= settings.cone_tol
            near = cert["gap_rel"] <= 10 * settings.gap_tol and cert["viol_rel"] <= settings.cone_tol
            status = "optimal" if good else ("optimal_inaccurate" if near else "user_limit")
            message += f"; certified relative gap {cert['gap_rel']:.3g}"
    Vf = cert["V"]
    Vb, Wb = Vf[:, :P].copy(), Vf[:, P:].copy()
    return ShardedResult(
        status=status,
        objective=cert["objective"],
        V=Vb,
        W=Wb,
        network=relu_network_from_blocks(Vb, Wb, bias=bias),
        dual_objective=cert["dual"],
        duality_gap=cert["gap"],
        primal_residual=rp,
        dual_residual=rd,
        eps_primal=eps_p,
        eps_dual=eps_d,
        cone_violation=cert["viol"],
        cone_violation_rel=cert["viol_rel"],
        iterations=it,
        recoveries=recoveries,
        n_shards=len(futures),
        rho=dict(rho),
        history={k: np.asarray(v) for k, v in history.items()},
        timings={
            "setup": t_setup - t0,
            "factor": t_factor,
            "iterate": t_iter,
            "shards": t_wait,
            "total": time.perf_counter() - t0,
        },
        bytes_per_iteration=(2 * len(futures) * 8 * dprime * (P if rowgen else J)) if remote else 0,
        core_rows=len(core),
        core_rows_pruned=core.pruned,
        linear_solver=method,
        message=message,
        values={"V": Vb, "W": Wb},
    )
