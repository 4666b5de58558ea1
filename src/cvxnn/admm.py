r"""Structured ADMM for the convex ReLU programs (MATH.md §7, the paper's Algorithm 3.1 and beyond).

The solver works on the *structure* a builder recorded in a :class:`~cvxnn.programs.ConvexProgram`
(patterns ``D``, design ``X'``, labels, loss, ``beta``), never on CVXPY's canonical cone data.

Splitting
---------
Write ``U = [V, W]`` (``d' x 2P``, column ``j`` is :math:`u_j`), :math:`F u = \sum_i D_i X'(v_i - w_i)`
and :math:`G u = \big(E\,(2D_i - I) X' v_i,\ E\,(2D_i - I) X' w_i\big)_i`, where ``E`` is a
positive diagonal row scaling (``E = diag(1/||x'_k||)`` by default; the cone
:math:`\{G u \ge 0\}` does not depend on it). The ``relu`` program is

.. math::
    \min_{u, v, s, z}\; L(z, y) + \beta \sum_j \|v_j\|_2 + I_{\ge 0}(s)
    \quad\text{s.t.}\quad u = v,\ \ G u = s,\ \ F u = z,

solved by scaled ADMM with one penalty per constraint block (``rho_u``, ``rho_s``, ``rho_z``),
over-relaxation ``alpha`` and adaptive penalties. Every iteration:

1. :math:`u \leftarrow M^{-1}\big(\rho_u(v - \lambda) + \rho_s G^T(s - \nu) + r_z\big)` with
   :math:`M = w F^TF + \rho_u I + \rho_s G^TG`;
2. :math:`\hat u = \alpha u + (1-\alpha) v`, :math:`v_j \leftarrow (1 - \beta/(\rho_u\|\hat u_j
   + \lambda_j\|))_+(\hat u_j + \lambda_j)` (group soft-threshold), :math:`\lambda \mathrel{+}= \hat u - v`;
3. :math:`s \leftarrow \max(0, \widehat{Gu} + \nu)`, :math:`\nu \mathrel{+}= \widehat{Gu} - s`;
4. (logistic, hinge) :math:`z \leftarrow \operatorname{prox}_{L/\rho_z}(\widehat{Fu} + \mu)`,
   :math:`\mu \mathrel{+}= \widehat{Fu} - z`.

For the **squared loss** there is no ``z`` block: the loss stays in step 1 (Algorithm 3.1),
``w = 1`` and :math:`r_z = F^T y`. For **logistic and hinge** the extra split ``z = F u`` keeps
the linear system of step 1 *fixed* (``w = rho_z``, :math:`r_z = \rho_z F^T(z - \mu)`) and moves
the loss into a separable prox: closed form for the hinge loss, a few safeguarded Newton steps
per coordinate for the logistic loss (its curvature lies in :math:`[\rho_z, \rho_z + 1/4]`, so
Newton contracts globally). We chose this over the paper's randomized block coordinate descent
for the u-step because it reuses the one cached factorization, has exact (not inexact) steps, and
gives honest residual-based stopping with the same code path as the squared loss.

``gated_relu`` drops ``s`` (no cones) and uses ``U`` (``d' x P``); ``scp`` uses ``u = a`` with
``F = (X' g_h)_+`` and an elementwise soft-threshold (the :math:`\ell_1` prox).

**Cone projection (the default for relu, ``cone_method="projection"``).** The splitting above is
the paper's; it is kept as ``cone_method="slack"``. By default the cones are not split off at
all: with :math:`K_j = \{u : (2D_i - I)X'u \ge 0\}`,

.. math::
    \min_{u, v, z}\; L(z, y) + \sum_j \big(\beta\|v_j\|_2 + I_{K_j}(v_j)\big)
    \quad\text{s.t.}\quad u = v,\ \ F u = z,

so step 3 disappears, step 1 loses its :math:`\rho_s G^TG` term (:math:`A = \rho_u I`) and
step 2 becomes the prox of :math:`\beta\|\cdot\| + I_{K_j}`, which for any closed convex cone
is the group soft-threshold of the Euclidean projection onto :math:`K_j` (proof in
:meth:`cvxnn._cones.ConeProjector.prox`). The projections (a QP with ``n`` half-spaces in
:math:`\mathbb{R}^{d'}` per block) are computed exactly by warm-started active sets, all blocks
at once: once the active rows settle, one ``n x d' x 2P`` product verifies them
(:mod:`cvxnn._cones`). Why it wins: the slack splitting must drive ``2nP`` slacks into the
``2d'P``-dimensional range of ``G``, and its iterates approach the optimum from outside the
cones (infeasible, objective below the optimum); here every ``v`` is feasible, the objective
approaches from above, and the iteration counts dropped 10-20x (see the measurements below). The
certificate uses the exact dual constraint :math:`\|\Pi_{K_j}(F_j^T\lambda)\| \le \beta`
(:meth:`_Structure.projected_dual`).

Linear algebra
--------------
Because :math:`(2D_i - I)^2 = I`, :math:`G^TG = I_{2P} \otimes X'^TE^2X'` with
:math:`A = \rho_u I + \rho_s X'^TE^2X'` a single ``d' x d'`` matrix. With ``\Delta = V - W`` and
``\Sigma = V + W`` the system decouples into :math:`A\Sigma = R_V + R_W` and
:math:`(2w F_0^TF_0 + I_P \otimes A)\Delta = R_V - R_W` where :math:`F_0 = [D_1X', \dots, D_PX']`,
halving the dimension to ``d'P``. That reduced system is solved by

- ``"woodbury"``: :math:`F_0 (I\otimes A)^{-1}F_0^T = K \odot (DD^T)` with :math:`K = X'A^{-1}X'^T`,
  so one ``n x n`` capacitance :math:`I + cK\odot DD^T` (eigenvalues >= 1), inverted once
  in place from its Cholesky factor (``potri``: the whole factorization 0.49 -> 0.36 s at
  n = 2000) and applied with ``dsymv`` (6x faster per iteration than two memory-bound
  triangular solves at n = 2000), plus the inverse of the ``d' x d'`` ``A``;
- ``"cholesky"``: the explicit ``d'P x d'P`` matrix, from a cached Gram :math:`F_0^TF_0` (one
  ``dsyrk`` pass over row chunks, reused across penalties and beta), factored and inverted in
  place (``potrf``, ``potri``) and applied with one ``dsymv`` (13-18 ms at ``d'P = 10 000``
  against 80 ms for the two triangular solves);
- ``"cg"``: matrix-free preconditioned CG (block-Jacobi preconditioner
  :math:`wX'^TD_iX' + A`, warm-started) when neither factor fits ``memory_limit_gb``.

``"auto"`` picks Woodbury when ``n <= d'P`` and Cholesky otherwise, within the memory limit.
Per iteration the slack splitting costs about six dense ``n x d' x P`` products plus one
``min(n, d'P)`` square matrix-vector product; the projection splitting four (two in the u-step,
one width-2P verification of the projections) once its working sets have settled.

The projection splitting, measured (bench data ``cvxnn.bench.make_case``, beta = 1e-3 n)
----------------------------------------------------------------------------------------
- Penalty: ``rho_u`` x (0.1, 0.3, 1) of ``c`` reached a 1e-4 gap at a feasible point after 100 /
  300 / > 400 iterations at (500, 30, 50) (``alpha = 1.8``); 0.1 c reached 5e-5 after 250 at
  (2000, 50, 100). At (10 000, 50, 100), x 3 and x 0.3 of the default did not finish in 4000
  iterations (the default: 1660).
- Default settings, one BLAS thread: (500, 30, 50) 380 iterations, 0.45 s, true gap 9e-9;
  (2000, 50, 100) 360 iterations, 4.2 s, gap 4.9e-7 (the slack splitting: 7980 iterations /
  3.9 s and 5400 / 38.5 s at -2.4e-4 with violation 5e-5); (10 000, 50, 100) 1660 iterations,
  37 s. Relative cone violation at the returned point ~1e-11 (the projections' tolerance).
- Steady state at (2000, 50, 100), warm-started at the optimum, one thread: 5.1 ms per
  iteration against 1.84 ms for four ``n x d' x P`` products. Line by line (profiled): u-step
  2.7 ms (``F_0`` and ``F_0^T`` products 0.7 + 0.9 ms, the ``dsymv`` with the ``n x n``
  capacitance inverse 0.9 ms: 16 MB read, memory-bound), projections 2.6 ms (the ``X'^T``
  product of width 2P 1.0 ms, the sign check 0.4 ms, the working sets' least-squares multipliers
  and points 0.9 ms: two passes over the ``(2P, d', d')`` inverse Grams and rows, 8 MB, out of
  cache after the ``n x 2P`` buffers). So about 2 ms of the 5.1 are memory traffic that the
  four-product floor does not count. Storing the V and W blocks' equal sign rows once and
  signing the verification product in place: 4.74 -> 4.33 ms (A/B). Caching
  ``H = G_W^{-1}X_W`` instead of the inverse Gram: the multipliers 0.6 -> 0.38 ms, the points
  0.2 -> 0.37 ms (``X_W`` no longer in cache), no gain, not kept. Across sizes
  (``benchmarks/per_iteration.py``): 3.5x / 2.7x / 2.8x the floor at n = 500 / 2000 / 5000
  (``n <= d'P``), 1.06x / 0.90x / 0.63x at (10 000, 50, 100) / (20 000, 100, 100) /
  (50 000, 100, 100); at n = d'P = 5000 the ``dsymv`` alone takes as long as the floor. No
  penalty in ``0.03 c``-``0.15 c`` and no ``alpha`` in 1.5-1.9 needed fewer than the
  default's 360 iterations (0.03 c: 620, 0.15 c: 520).
- The transient: the first iterations move every block far, and a cold projection adds its
  ~d' active rows one at a time (each step a product over the unsettled blocks). With exact
  projections throughout the first 50 iterations took 2.6 s at (2000, 50, 100) (later ~5 ms per
  iteration); ``projection_steps = 5`` (a budget growing by one per 10 iterations) halves it.
  A fixed budget of 1 or 2 never converged (violation 2e-2 / 4e-3 after 20 000 iterations).
  Adding several violated rows per step (up to d'/10) thrashed (16 600 steps instead of 1900).
- (50 000, 100, 100), ``eps_abs = eps_rel = 1e-4``, two threads for the factor. First: the
  600 s limit (85 s factor, 430 s for the first 400 iterations, then 0.10 s per iteration).
  Two causes. (1) 15 projections in the first 150 iterations fell back to NNLS over all 50 000
  rows, 7 s each: the working set had the 99 rows of a one-dimensional face, and a 100th row
  that the inverse Gram's rounding (entries ~1e15) made look violated by 1e-8. The
  fallback now solves on a candidate subset of the rows (:meth:`cvxnn._cones.ConeProjector._nnls`):
  the loop over those 150 iterations took 87 s instead of 190 s, same iterates. (2) Residual
  balancing raised ``rho_u`` 38x at iteration 280 and the dual residual then crept (18.5 vs
  17.4 after 1260 iterations). An update now moves a penalty by at most
  ``adaptive_rho_tolerance`` (10x): 400 iterations, 245 s, objective 14 596.0 (feasible). Fixed
  penalties: ``rho_u = 0.1 c`` 800 iterations, 258 s, objective 14 626.3; ``0.5 c`` 200
  iterations, 169 s, objective 14 611.9; so ``n > d'P`` wants a larger penalty than the
  default, but four sizes are too few to fit a rule (0.3 c was already too large at
  (10 000, 50, 100)), and the capped balancing gets there. Starting at ``0.25 c`` with
  balancing was worse: one 10x step to ``2.5 c``, then 1780 iterations, 323 s (objective
  14 590.2, the best point known at this size). Moving by the square root of the balance
  ratio (capped) fixed that start (360 iterations, 191 s) and kept 400 from ``0.1 c``, but
  at (500, 30, 50) it took 1560 instead of 900 iterations for relu-logistic and 360 instead of
  180 for gated-squared, and the logistic slack splitting at (2000, 50, 100) hit a 60 s limit
  (6840 iterations with the full step): not kept.
- Certificate: exact projections of :math:`F^T\lambda` every 50 iterations cost 0.5 s each at
  (2000, 50, 100) (the working sets move between certificates), for a bound still first order in
  the dual error (2e-2 when the true gap was 4e-7): the in-loop and final certificates use the
  same step budget (valid, looser bounds), and the residual rule is what stops.

What was measured for the slack splitting (2-core machine, one BLAS thread, Gaussian data)
---------------------------------------------------------------------------------------------
- u-step: Woodbury 8.3 ms/iteration at (n, d, P) = (2000, 50, 100) (11.8 ms with triangular
  solves); 0.6 ms at (500, 30, 50).
- BLAS threads (2-core machine, ms per iteration, 1 vs 2 threads): (500, 30, 50) 0.51 vs 11-13,
  (2000, 50, 100) 7.0 vs 17-20, (5000, 50, 100) 22 vs 29-33, (10 000, 100, 100) 55 vs 77-79,
  (50 000, 100, 100) 239-242 vs 234-247: a second thread never pays inside the loop (OpenBLAS
  threads spinning between the calls compete with NumPy's single-threaded elementwise
  work, probably), hence ``threads=1`` by default. An earlier, busier run measured 263 vs 11.8 ms.
- Penalties: the cone block dominates; ``rho_u`` changes iterations by < 10 % over [0.3, 100]
  while ``rho_s`` changes them 3x. With row scaling of ``G``, ``rho_s = 30 mean(X'^2)`` was the
  best fixed value on a grid at both (500, 30, 50) and (2000, 50, 100) (the older
  ``2 c / diag(G^TG)`` rule needed 1.7x more iterations at the larger size).
- Residual balancing (OSQP-style, per block) reached the residual tolerances ~30 % sooner but at
  a 1.4e-4 objective gap (the primal tolerance allows that much cone violation), so it is kept
  only as a safeguard for bad initial penalties (``adaptive_rho_tolerance = 10``).
- Over-relaxation: ``alpha`` 1.0 / 1.6 / 1.8 / 1.9 took 1810 / 1130 / 1010 / 980 iterations to a
  1e-4 gap at (500, 30, 50); 1.8 is the default.
- Anderson acceleration (memory 5-10, safeguarded): 1170 -> 960 iterations but 3x the cost per
  iteration in NumPy; off by default (``anderson=0``).
- The residual stopping rule is conservative: at (500, 30, 50) the objective is within 1e-4 of
  Clarabel after ~1050 iterations, the default tolerances stop after ~3570 (gap 3e-6); at
  (2000, 50, 100) after ~1420 and ~6840 iterations (gap 4e-6).
- Hinge loss: the programs are LPs in disguise and the residuals have a long oscillating tail;
  the objective reaches 1e-4 but the residual rule may need many iterations. The objective error
  is first order in the residual (the loss is piecewise linear), so with a small objective
  (nearly separable data, small beta) the residual rule alone stopped early. Random stress, 900
  small programs (300 per loss, every kind, default settings) against Clarabel: every squared
  and logistic one within 1e-4; 16 of the 300 hinge ones, all with beta < 0.03, not: nine
  stopped ``optimal`` at 1.2e-4 to 5e-3, seven hit the 20 000-iteration limit. At n in
  [60, 300), P up to 24 (40 per loss): every squared and logistic one within 1e-4, 7 of 40
  hinge ones not (four ``optimal`` up to 4e-2, three at the limit). Their certificates were
  tight, so a hinge program now stops on the residual rule only together with a certified gap
  <= ``gap_tol``, and its limit status is ``optimal_inaccurate`` only within 10x ``gap_tol``.
  Rerun: no hinge program ``optimal`` above 1e-4 in either set; the same 7 + 7 end at the
  20 000-iteration limit (one ``optimal_inaccurate`` at 5.9e-5, the rest ``user_limit``, gaps
  up to 0.27). On the benchmark hinge instances nothing changes (the
  certificate fired first: 1140 and 3840 iterations). Other losses keep the plain residual
  rule, whose stop mentions a certified gap above ``gap_tol`` in the message.
- Benchmark instances (``cvxnn.bench.make_case``, beta = 0.001 n), default settings: (500, 30, 50)
  stops by the residual rule after 7980 iterations (true gap -6e-9, certified gap 2.1e-4); the
  true gap is below 1e-4 after ~2000. The certificate alone would stop at ~9000 iterations.
  Fixed cone penalties (adaptive on) at that size: rho = 5 / 10 / 15 / 30 (default) stopped
  after 3040 / 2550 (certified) / 3770 / 7970 iterations, but rho = 10 at (2000, 50, 100) was
  still at a -5e-3 gap with relative cone violation 3e-4 after 3740 iterations: no single
  smaller default, so the default is unchanged. Residual balancing with tolerance 3 drove the
  penalties to ~1 and stopped at infeasible points (violation ~1e-4, gap -6e-5 .. -2e-4).
- Old (residual rule only) vs new default stop, same process, bench data, one BLAS thread:
  (2000, 50, 100): 6940 iterations / 49.4 s (certified gap 1.4e-4) -> 5400 iterations / 37.7 s,
  stopped by the certificate (certified gap 7.8e-5, relative cone violation 5.4e-5), 1.31x;
  (500, 30, 50): 7970 vs 7980 (the residual rule fires first; certified gap 2.1e-4 then).
  Caveat: the certificate bounds ``f(v) - f*`` from above only; a point with relative cone
  violation 5e-5 can lie below the optimum (the (2000, 50, 100) points of both rules are
  1.4e-4 / 2.4e-4 below Clarabel's objective of an earlier run).
- (50 000, 100, 100), bench data, one thread, ``time_limit=630``: Cholesky path (``d'P`` <
  ``n``), 188 s for the Gram and factor, 0.47 s per iteration, stopped at the time limit after
  940 iterations (primal residual 0.16 vs tolerance 0.0038, relative cone violation 1.2e-2),
  peak RSS 3.7 GB: the 10-minute target is not met on the shared 2-core machine. After the
  ``dsymv`` solve and the allocation-free checks, with ``eps_abs = eps_rel = 1e-4``: 61 s to
  factor (two threads), 186 ms per iteration (one thread), the residual rule met after 2340
  iterations, 495 s in all, 2.8 GB; that point has relative cone violation 8e-3 and an objective
  18 % below the certified lower bound (the residual tolerance is loose at this scale).
- digits-2v8 (351 x 55 after dropping constant pixels, P = 30, beta = 1): squared loss needs
  ~20 000 iterations (the limit; true gap 3e-7, certified 1e-4 at 19 950); logistic stops on the
  certificate after 4100 iterations (gap -3e-8, certified 1.9e-6), Clarabel 10 s / 15 s.
- Per iteration (one thread): the in-place cone-slack update (no temporaries) takes 0.8 ms
  instead of 2.4 ms on (2000, 200) arrays in isolation, but end to end at (2000, 50, 100) the
  difference was within the noise of the shared machine (6.43 vs 6.53 ms median of 4); the
  four products plus ``dsymv`` are ~3.1 ms of the ~6.4 ms. A residual check costs about one
  iteration of products (two ``X'^T`` products of width 2P for the dual residual, ``X'v`` for
  the objective): checking every 20 instead of 10 iterations saved ~5 %, every 50 ~15 %.

Tried for the slack splitting and not kept (the benchmark instances, ``cvxnn.bench.make_case``)
-------------------------------------------------------------------------------------------------
The yardstick is the first iteration at which ``|f(v) - f*| <= 1e-4 |f*|`` *and* the relative
cone violation of ``v`` is ``<= 1e-4`` (f* from Clarabel), on a plain loop with fixed penalties.

- Optimal cone penalty differs by size: ``rho_s`` x (0.3, 1, 3) of the default took
  (1000, 2000, 6100) iterations at (500, 30, 50); x (0.5, 1, 2, 4) took (> 6000, > 6000, 2070,
  5220) at (2000, 50, 100). Small ``rho_s`` approaches from below (infeasible), large from above.
  ``rho_u`` changed counts by < 10 % over ``[0.03, 0.3] c``.
- Residual balancing with tolerance 1.5-2 every 100-200 iterations drove ``rho_s`` from 30 to
  ~1.3 at (500, 30, 50) and needed 3400-5900 iterations (2000 without it): the residual ratio
  that is best differs by instance (``r_d / r_p`` about 10 at the best penalty at (500, 30, 50),
  about 25 at (2000, 50, 100)), so it is no signal for ``rho_s``.
- Halpern anchoring with restarts (HPR-style, on the Douglas-Rachford state ``(v + lambda,
  s + nu)``, ``alpha`` 1.8 or 2): 3790-4190 iterations instead of 2000.
- Active-set polish (identify the support and each neuron's active cone rows, Newton on the
  face, exact dual certificate by NNLS): the optimum is highly degenerate (97 of 100 neurons
  active, each with 22-29 of its 30 possible rows active at (500, 30, 50)), and the identified
  faces were wrong until ~5000 iterations, when the ADMM itself is at a 6e-7 gap. Equality
  solves on a wrong face move far (relative violation 1e-2 .. 1).
- Splitting ``q_j = E X' u_j`` with the loss and the signs in one row-separable prox (no
  ``n x n`` or ``d'P`` factor, one ``d' x d'`` Cholesky, two products per iteration): the same
  iteration counts as this splitting (1080-2000 at (500, 30, 50)), and the exact row prox (a
  monotone piecewise-linear root per row, vectorized safeguarded Newton) took ~30 passes.
- Cone-penalty control from the objective's drift (double ``rho_s`` when the objective at ``v``
  rose over the last 5 checks, halve it when it fell; at most every 200 iterations): on the
  yardstick above 1160 instead of 2000 iterations at (500, 30, 50) and 2560 instead of > 6000 at
  (2000, 50, 100), but with the real stopping rules (the changes keep resetting the dual
  residual) 2840 instead of 7980 iterations at (500, 30, 50) and 8800 instead of 5400 at
  (2000, 50, 100) (42 factorizations); doubling the spacing at each reversal gave 3920 and 11 700.
- Looser residual tolerances are instance dependent: ``eps_rel=1e-3`` stopped at (500, 30, 50)
  after 2200 iterations at a 6.5e-5 gap, but at (2000, 50, 100) after 1200 at -4.7e-3
  (violation 5.5e-4).

Certified stopping (duality gap)
--------------------------------
With ``cone_method="projection"`` the certificate is :meth:`_Structure.projected_dual` (the exact
dual constraint through cone projections, see above). With the slack splitting, every
``certificate_interval`` iterations (and at the end) :meth:`_Structure.refined_dual` builds a
dual-feasible point: :math:`\lambda = -\nabla L(Fv)` (hinge: the loss multiplier clipped to its
box), per block the better of two nonnegative cone multipliers (the best multiple of the ADMM's
and the previous certificate's), optionally refined by ``certificate_steps`` FISTA steps on
:math:`\operatorname{dist}(F_j^T\lambda + G_j^T\nu_j, \beta\mathbb{B})^2`, then the best scaling
:math:`\theta` that makes every block satisfy :math:`\|\cdot\| \le \beta`. Its dual objective is a
lower bound on the optimum (weak duality; tested against Clarabel at random points), and the
largest bound seen so far is kept. The default stop is: certified relative gap ``<= gap_tol``
*and* relative cone violation of the returned point ``<= cone_tol``, or the residual rule below,
whichever comes first (``gap_tol=None`` keeps only the residual rule).

What limits the certificate (measured): its slack is the dual infeasibility of :math:`\lambda`,
which is first order in the primal error while the objective gap is second order, so the
certified gap behaves like the *square root* of the true gap (at (500, 30, 50), bench data: true
gap 1e-4 / 6e-7 / 1e-8 at 2000 / 5000 / 7000 iterations, certified 2e-2 / 1.4e-3 / 4e-4). The
cone multipliers cannot absorb it: on an active block the violation lies along
:math:`v_j/\|v_j\|`, orthogonal to every active cone row, and 2000 projected-gradient steps on
:math:`\nu` moved the worst block norm by 1.5e-9 relative; hence ``certificate_steps = 0`` by
default (20 steps every 50 iterations cost 20 % per iteration for no change in the bound, also on
digits-2v8). Polishing the magnitudes along the directions of ``v`` made it worse. The
certificate reaches 1e-4 about when the multipliers converge, i.e. around when the residual rule
stops; with a smaller cone penalty it comes first (see the measurements).

Stopping (Boyd et al. / OSQP): with ``r_p`` the stacked primal residual of all constraint blocks
and ``r_d`` the dual residual :math:`\rho_u(v - v^-) + \rho_s G^T(s - s^-) + \rho_z F^T(z - z^-)`,
stop when :math:`\|r_p\| \le \epsilon_{abs}\sqrt{m} + \epsilon_{rel}\max(\|(u, Gu, Fu)\|, \|(v, s, z)\|)`
and :math:`\|r_d\| \le \epsilon_{abs}\sqrt{p}
+ \epsilon_{rel}\|\rho_u\lambda + \rho_s G^T\nu + \rho_z F^T\mu\|`.
The returned point is ``v`` (exactly group-sparse); its objective is evaluated exactly (summed
loss, no ``1/n``, identical to the CVXPY objective) and its cone violation is reported.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import time
import types
import warnings
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import cvxpy as cp
import numpy as np
import scipy.linalg as sla
from scipy.linalg.blas import dsymv, dsyrk
from scipy.linalg.lapack import dpotri
from scipy.special import xlogy
from threadpoolctl import threadpool_limits

from ._cones import ConeProjector
from ._validation import check_positive_int, check_positive_real
from .exceptions import ConvergenceWarning, InvalidInputError, UnsupportedProblemError
from .losses import loss_value

if TYPE_CHECKING:
    from .programs import ConvexProgram

__all__ = ["SUPPORTED_KINDS", "AdmmResult", "AdmmSettings", "solve_admm"]

#: Program kinds the ADMM solves.
SUPPORTED_KINDS: tuple[str, ...] = ("relu", "gated_relu", "scp")
#: Linear-system strategies for the u-update.
LINEAR_SOLVERS: tuple[str, ...] = ("auto", "woodbury", "cholesky", "cg")
#: How the ``relu`` program's cone constraints are handled.
CONE_METHODS: tuple[str, ...] = ("projection", "slack")
#: Residual balancing keeps each penalty within this factor of its data-derived default.
RHO_BAND = 1e4


# --------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class AdmmSettings:
    r"""Settings of :func:`solve_admm` (frozen; unknown keys are rejected by name).

    Attributes
    ----------
    max_iter : int
        Iteration limit (status ``OPTIMAL_INACCURATE`` or ``USER_LIMIT`` when reached).
    eps_abs, eps_rel : float
        Absolute and relative residual tolerances (see the module docstring).
    gap_tol : float or None
        Also stop (status ``OPTIMAL``), with a certificate, when the certified duality gap
        ``objective - dual_objective`` is at most ``gap_tol * |objective|`` and the returned
        point's relative cone violation is at most ``cone_tol``, whichever of this and the
        residual rule comes first (``None``: only the residual rule). The dual point is built
        from the iterates, its cone multipliers refined, and scaled to be feasible (see
        :meth:`_Structure.refined_dual`), so ``dual_objective`` is a true lower bound on the
        optimum and the gap an upper bound on the suboptimality. With the hinge loss the
        residual rule alone does not stop: it also needs this certified gap (the loss is
        piecewise linear, so the objective error is first order in the residuals; alone, the
        rule stopped up to 4e-2 above the optimum in a random stress run).
    cone_tol : float
        Relative cone violation (``cone_violation_rel``) allowed by the certified stop.
    certificate_interval : int
        The refined certificate is evaluated every this many iterations (at a residual check)
        and once at the end.
    certificate_steps : int
        Accelerated projected-gradient steps on the cone multipliers per certificate
        (``cone_method="slack"``).
    rho : float or None
        Initial penalty of every block; ``None`` picks one from the data (and, on a re-solve of
        the same program, the penalties the previous solve ended with). Adapted unless
        ``adaptive_rho=False``.
    rho_cone, rho_loss : float or None
        With ``rho`` set, the initial penalty of the cone block (``s``, ``cone_method="slack"``
        only) and of the loss split (``z``) instead of ``rho``; not read when ``rho`` is None.
    adaptive_rho : bool
        Residual balancing per constraint block, refactoring only when it pays. Each penalty
        stays within a factor :data:`RHO_BAND` (1e4) of its data-derived default: on a small
        logistic program with beta = 3e-3, unbounded balancing lowered both penalties 10x per
        update down to 1e-8 and the iterates blew up (objective 3e8 against 7.24 after 20 000
        iterations); inside the band it reached the optimum (gap 1e-6).
    adaptive_rho_interval : int
        Minimum iterations between penalty updates.
    adaptive_rho_tolerance : float
        Update only when some block's primal/dual balance is off by more than this factor; an
        update moves each penalty by at most this factor (an uncapped 38x step at
        (50 000, 100, 100) stalled the dual residual: 600 s limit hit, against 400 iterations
        and 245 s with the cap).
    adaptive_rho_fraction : float
        Refactor only if a factorization costs at most this fraction of the iterations run
        since the last one (so expensive factors are not redone early). Costs come from a flop
        model (:attr:`_Structure.factor_cost_in_iterations`), not from timings, so the
        iterates do not depend on the machine's load.
    alpha : float
        Over-relaxation in (0, 2).
    anderson : int
        Memory of type-II Anderson acceleration of the ADMM fixed-point map (0 = off). Each
        extrapolated point is kept only if its fixed-point residual is at most
        ``anderson_safeguard`` times that of the last plain iterate (otherwise the plain
        iterate is restored and the memory cleared), so acceleration never breaks convergence.
    anderson_safeguard : float
        See ``anderson``.
    check_interval : int
        Residuals are computed every ``check_interval`` iterations (they cost two extra
        products).
    linear_solver : {"auto", "woodbury", "cholesky", "cg"}
        Strategy for the u-update (see the module docstring).
    memory_limit_gb : float
        Memory budget of a factorization for ``"auto"``.
    cg_tol, cg_max_iter : float, int
        Relative tolerance and iteration cap of the CG path.
    scale_rows : bool
        Scale each cone row by ``1/||x'_k||`` (``relu`` only, ``cone_method="slack"``).
    cone_method : {"projection", "slack"}
        How ``relu`` handles the cones :math:`(2D_i - I)X'u_j \ge 0`. ``"projection"``
        (default): the v-step is the prox of :math:`\beta\|\cdot\| + I_{K_j}`, the group
        soft-threshold of the exact projection onto each cone (:class:`cvxnn._cones.ConeProjector`,
        warm-started active sets), so every iterate ``v`` is feasible. ``"slack"``: the cones
        are split off as ``G u = s >= 0`` with their own penalty (the paper's Algorithm 3.1).
    projection_steps : int or None
        Active-set steps per cone projection in the first iterations (``cone_method=
        "projection"``). Early iterations move the inputs far and a projection may need ~``d'``
        steps, each a product over the unsettled blocks; past the budget the v-step keeps the
        active-set iterate (an inexact prox) and the next iteration continues from its working
        sets. The budget grows by one every 10 iterations, so the errors stop and the ADMM
        converges (a fixed budget of 1 or 2 stalled at (2000, 50, 100)); the stopping rules only
        fire after an exact projection. ``None``: always exact.
    threads : int or None
        BLAS threads inside the iteration loop (threadpoolctl); ``None`` leaves the library
        default. The first factorization (BLAS-3 work) always runs with the default threads.
        On a 2-core machine one thread was measured fastest for the loop's small products.
    time_limit : float or None
        Wall-clock limit in seconds (status ``USER_LIMIT``).
    verbose : bool
        Print a table (iteration, objective, residuals, penalties, time).
    verbose_interval : int
        Print every this many iterations.
    """

    max_iter: int = 20000
    eps_abs: float = 1e-6
    eps_rel: float = 1e-5
    gap_tol: float | None = 1e-4
    cone_tol: float = 1e-4
    certificate_interval: int = 50
    certificate_steps: int = 0
    rho: float | None = None
    rho_cone: float | None = None
    rho_loss: float | None = None
    adaptive_rho: bool = True
    adaptive_rho_interval: int = 50
    adaptive_rho_tolerance: float = 10.0
    adaptive_rho_fraction: float = 0.4
    alpha: float = 1.8
    anderson: int = 0
    anderson_safeguard: float = 1.0
    check_interval: int = 20
    linear_solver: str = "auto"
    memory_limit_gb: float = 2.0
    cg_tol: float = 1e-9
    cg_max_iter: int = 200
    scale_rows: bool = True
    cone_method: str = "projection"
    projection_steps: int | None = 5
    threads: int | None = 1
    time_limit: float | None = None
    verbose: bool = False
    verbose_interval: int = 100

    def __post_init__(self) -> None:
        def positive_int(name: str) -> None:
            object.__setattr__(self, name, check_positive_int(getattr(self, name), f"AdmmSettings.{name}"))

        def nonnegative_int(name: str) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise InvalidInputError(f"AdmmSettings.{name} must be an integer >= 0; got {value!r}.")
            object.__setattr__(self, name, int(value))

        def positive_float(name: str, allow_none: bool = False) -> None:
            value = getattr(self, name)
            if value is None and allow_none:
                return
            label = f"AdmmSettings.{name}" + (" (or None)" if allow_none else "")
            object.__setattr__(self, name, check_positive_real(value, label))

        for name in (
            "max_iter",
            "adaptive_rho_interval",
            "check_interval",
            "cg_max_iter",
            "verbose_interval",
            "certificate_interval",
        ):
            positive_int(name)
        for name in ("eps_abs", "eps_rel", "adaptive_rho_fraction", "memory_limit_gb", "cg_tol", "cone_tol"):
            positive_float(name)
        positive_float("rho", allow_none=True)
        positive_float("gap_tol", allow_none=True)
        positive_float("rho_cone", allow_none=True)
        positive_float("rho_loss", allow_none=True)
        positive_float("time_limit", allow_none=True)
        positive_float("adaptive_rho_tolerance")
        if self.adaptive_rho_tolerance <= 1.0:
            raise InvalidInputError(
                f"AdmmSettings.adaptive_rho_tolerance must be > 1; got {self.adaptive_rho_tolerance}."
            )
        positive_float("alpha")
        positive_float("anderson_safeguard")
        nonnegative_int("anderson")
        nonnegative_int("certificate_steps")
        if not 0.0 < self.alpha < 2.0:
            raise InvalidInputError(
                f"AdmmSettings.alpha (over-relaxation) must be in (0, 2); got {self.alpha}."
            )
        if self.linear_solver not in LINEAR_SOLVERS:
            raise InvalidInputError(
                f"AdmmSettings.linear_solver must be one of {list(LINEAR_SOLVERS)}; "
                f"got {self.linear_solver!r}."
            )
        if self.cone_method not in CONE_METHODS:
            raise InvalidInputError(
                f"AdmmSettings.cone_method must be one of {list(CONE_METHODS)}; got {self.cone_method!r}."
            )
        if self.projection_steps is not None:
            positive_int("projection_steps")
        if self.threads is not None:
            positive_int("threads")
        for name in ("adaptive_rho", "scale_rows", "verbose"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise InvalidInputError(
                    f"AdmmSettings.{name} must be True or False; got {getattr(self, name)!r}."
                )

    @classmethod
    def names(cls) -> list[str]:
        """The accepted setting names."""
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def coerce(
        cls, settings: AdmmSettings | Mapping[str, Any] | None = None, **overrides: Any
    ) -> AdmmSettings:
        """An :class:`AdmmSettings` from ``None``, an instance or a mapping, plus keyword overrides.

        Raises :class:`~cvxnn.exceptions.InvalidInputError` naming any unknown key and listing the
        allowed ones.
        """
        if settings is None:
            base: dict[str, Any] = {}
        elif isinstance(settings, AdmmSettings):
            base = dataclasses.asdict(settings)
        elif isinstance(settings, Mapping):
            base = dict(settings)
        else:
            raise InvalidInputError(
                f"settings must be an AdmmSettings, a dict or None; got {type(settings).__name__}."
            )
        base.update(overrides)
        unknown = sorted(set(base) - set(cls.names()))
        if unknown:
            raise InvalidInputError(
                f"Unknown ADMM setting(s) {unknown}; allowed settings are {sorted(cls.names())}."
            )
        return cls(**base)


# --------------------------------------------------------------------------- result
@dataclass(frozen=True, eq=False)
class AdmmResult:
    """What :func:`solve_admm` returns.

    Attributes
    ----------
    status : str
        CVXPY status string: ``cp.OPTIMAL``, ``cp.OPTIMAL_INACCURATE`` (limit hit, residuals within
        10x the tolerances), ``cp.USER_LIMIT`` (limit hit farther away) or ``cp.SOLVER_ERROR``
        (NaN or divergence; never returned as optimal).
    objective : float
        The program's objective (the CVXPY objective exactly) at the returned point.
    values : Mapping[str, ndarray]
        Variable values by name: ``"V"``, ``"W"`` (relu), ``"U"`` (gated_relu), ``"a"`` (scp).
    primal_residual, dual_residual : float
        Final residual norms; ``eps_primal``, ``eps_dual`` are the thresholds they were held to.
    iterations : int
        Iterations run.
    cone_violation : float
        ``max((-(2D - 1) * X'V)_+, (-(2D - 1) * X'W)_+)`` at the returned point (0 when no cones).
    cone_violation_rel : float
        ``cone_violation`` divided by ``max(|X'V|, |X'W|)`` (0 when that is 0).
    rho : Mapping[str, float]
        Final penalties (``"u"``, ``"s"``, ``"z"``).
    history : Mapping[str, ndarray]
        At each residual check: ``iteration``, ``objective`` (at ``v``, the point that would be
        returned), ``primal_residual``,
        ``dual_residual``, ``eps_primal``, ``eps_dual``, ``rho_u``, ``rho_s``, ``rho_z``, ``time``.
    timings : Mapping[str, float]
        Seconds spent in ``setup`` (data preparation), ``factor`` (all factorizations), ``iterate``
        (the loop, without factorizations) and ``total``.
    linear_solver : str
        The strategy used for the u-update.
    n_factorizations : int
        Factorizations done in this call (0 when a cached factor was reused).
    message : str
        Why the solver stopped.
    dual_objective : float
        A lower bound on the optimal value: the dual objective at a feasible dual point built
        from the final iterates (see :meth:`_Structure.dual_objective`).
    duality_gap : float
        ``objective - dual_objective`` (an upper bound on ``objective - optimum``).
    """

    status: str
    objective: float
    values: Mapping[str, np.ndarray]
    primal_residual: float
    dual_residual: float
    eps_primal: float
    eps_dual: float
    iterations: int
    cone_violation: float
    cone_violation_rel: float
    rho: Mapping[str, float]
    history: Mapping[str, np.ndarray]
    timings: Mapping[str, float]
    linear_solver: str
    n_factorizations: int
    message: str
    kind: str = ""
    loss: str = ""
    beta: float = float("nan")
    dual_objective: float = float("nan")
    duality_gap: float = float("nan")
    _state: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def optimal(self) -> bool:
        """True when the status is ``OPTIMAL`` (residual tolerances met, or the certified stop)."""
        return self.status == cp.OPTIMAL

    def __repr__(self) -> str:
        return (
            f"AdmmResult(status={self.status!r}, objective={self.objective:.10g}, "
            f"iterations={self.iterations}, primal_residual={self.primal_residual:.3g}, "
            f"dual_residual={self.dual_residual:.3g}, cone_violation={self.cone_violation:.3g}, "
            f"linear_solver={self.linear_solver!r}, total={self.timings.get('total', float('nan')):.3g}s)"
        )


# --------------------------------------------------------------------------- loss proxes
def _prox_hinge(t: np.ndarray, y: np.ndarray, step: float) -> np.ndarray:
    r"""``argmin_z sum (1 - y z)_+ + ||z - t||^2 / (2 step)`` for labels ``y`` in {-1, +1}."""
    m = y * t
    q = np.where(m >= 1.0, m, np.where(m + step <= 1.0, m + step, 1.0))
    return y * q


def _prox_logistic(t: np.ndarray, y: np.ndarray, step: float, z0: np.ndarray | None = None) -> np.ndarray:
    r"""``argmin_z sum log(1 + exp(-y z)) + ||z - t||^2 / (2 step)`` by safeguarded Newton.

    In the margin ``q = y z`` the optimality condition is ``(q - m)/step - sigmoid(-q) = 0``
    (``m = y t``), a function with derivative in ``[1/step, 1/step + 1/4]``: Newton contracts
    by at least ``(1/4) / (1/step + 1/4)`` per step from anywhere and converges quadratically
    near the root. The root lies in ``[m, m + step]``; iterates are clipped to it.
    """
    m = y * t
    q = np.clip(y * z0, m, m + step) if z0 is not None else m + 0.5 * step
    inv = 1.0 / step
    for _ in range(50):
        sig = 0.5 * (1.0 + np.tanh(-0.5 * q))  # sigmoid(-q), stable
        g = (q - m) * inv - sig
        h = inv + sig * (1.0 - sig)
        dq = g / h
        q = np.clip(q - dq, m, m + step)
        if float(np.max(np.abs(dq))) <= 1e-13 * (1.0 + float(np.max(np.abs(q)))):
            break
    return y * q


def _prox_loss(loss: str, t: np.ndarray, y: np.ndarray, step: float, z0: np.ndarray | None) -> np.ndarray:
    if loss == "hinge":
        return _prox_hinge(t, y, step)
    return _prox_logistic(t, y, step, z0)


# --------------------------------------------------------------------------- linear systems
class _ReducedSystem:
    r"""Solves :math:`(c F_0^TF_0 + I_P \otimes A)\,x = r` for ``x`` of shape (d, P).

    :math:`F_0 x = \sum_i D_i X x_i` (``X`` (n, d), ``Df`` (n, P) 0/1). Strategies: Woodbury
    through the ``n x n`` capacitance :math:`I + c\,K \odot DD^T`, :math:`K = XA^{-1}X^T`;
    explicit Cholesky of the ``dP x dP`` matrix from a cached Gram; or block-Jacobi PCG.
    Static data (``DD^T``, the Gram, the diagonal blocks) is built once and reused for every
    ``(c, A)``.
    """

    def __init__(self, X: np.ndarray, Df: np.ndarray, method: str, settings: AdmmSettings) -> None:
        self.X = X
        self.Df = Df
        self.n, self.d = X.shape
        self.P = Df.shape[1]
        self.all_ones = bool(np.all(Df == 1.0))
        self.method = method
        self.cg_tol = settings.cg_tol
        self.cg_max_iter = settings.cg_max_iter
        self.key: tuple | None = None
        self._DDt: np.ndarray | None = None
        self._gram: np.ndarray | None = None
        self._blocks: np.ndarray | None = None
        self._x_prev: np.ndarray | None = None

    # static data
    def _static(self) -> None:
        if self.method == "woodbury" and self._DDt is None and not self.all_ones:
            self._DDt = self.Df @ self.Df.T
        elif self.method == "cholesky" and self._gram is None:
            m = self.d * self.P
            gram = np.zeros((m, m), order="F")
            rows = max(1, int(min(self.n, (64 << 20) // (8 * max(m, 1)))))
            for start in range(0, self.n, rows):
                stop = min(self.n, start + rows)
                Fc = (self.Df[start:stop, :, None] * self.X[start:stop, None, :]).reshape(stop - start, m)
                # gram(lower) += Fc^T Fc ; Fc.T is Fortran-contiguous (m, r)
                gram = dsyrk(1.0, Fc.T, beta=1.0, c=gram, trans=0, lower=1, overwrite_c=1)
            self._gram = gram
        elif self.method == "cg" and self._blocks is None:
            blocks = np.empty((self.P, self.d, self.d))
            for p in range(self.P):  # P small d x d products, not a model-building loop
                blocks[p] = self.X.T @ (self.Df[:, p, None] * self.X)
            self._blocks = blocks

    def factor(self, c: float, A: np.ndarray) -> None:
        """Factor for the weight ``c`` and the ``d x d`` block ``A``."""
        self._static()
        self.c = c
        self.A_cho = sla.cho_factor(A, lower=True, check_finite=False)
        # explicit inverse of the small d x d block: one gemm per solve instead of two trsm
        self.A_inv = sla.cho_solve(self.A_cho, np.eye(self.d), check_finite=False)
        if self.method == "woodbury":
            AiXt = sla.cho_solve(self.A_cho, self.X.T, check_finite=False)
            K = self.X @ AiXt
            if not self.all_ones:
                K *= self._DDt
            K *= c
            K.flat[:: self.n + 1] += 1.0
            C_cho = sla.cho_factor(K, lower=True, overwrite_a=True, check_finite=False)
            # explicit inverse of the (well-conditioned, eigenvalues >= 1) capacitance: a symmetric
            # matrix-vector product (dsymv) per iteration was measured 6x faster than the two
            # memory-bound triangular solves (0.47 vs 2.9 ms at n = 2000, one thread)
            # (in place by LAPACK potri: half the flops of solving against the identity, and no
            # n x n identity; dsymv reads the lower triangle only)
            if not np.all(np.isfinite(np.diagonal(C_cho[0]))):  # potri maps an infinite pivot to 0
                raise np.linalg.LinAlgError("the u-step factorization is not finite")
            C_inv, info = dpotri(C_cho[0], lower=1, overwrite_c=1)
            if info != 0:
                raise np.linalg.LinAlgError(f"potri failed (info {info})")
            self.C_inv = C_inv
        elif self.method == "cholesky":
            M = self._gram * c
            d = self.d
            for p in range(self.P):
                M[p * d : (p + 1) * d, p * d : (p + 1) * d] += A
            M_cho = sla.cho_factor(M, lower=True, overwrite_a=True, check_finite=False)
            if not np.all(np.isfinite(M_cho[0])):  # potri would map an infinite pivot to 0
                raise np.linalg.LinAlgError("the u-step factorization is not finite")
            # explicit inverse (LAPACK potri, in place, no extra memory): one dsymv per iteration
            # instead of two memory-bound triangular solves (13-18 vs 80 ms at dP = 10 000)
            M_inv, info = dpotri(M_cho[0], lower=1, overwrite_c=1)
            if info != 0:
                raise np.linalg.LinAlgError(f"potri failed (info {info})")
            self.M_inv = M_inv
        else:
            B = c * self._blocks + A[None, :, :]
            self.B_inv = np.linalg.inv(B)
            self.A = A

    def check_finite(self) -> None:
        """Raise ``LinAlgError`` when a factor is not finite (overflowing or NaN data)."""
        factors = [self.A_cho[0]]
        if self.method == "woodbury":
            factors.append(self.C_inv)
        elif self.method == "cholesky":
            factors.append(self.M_inv)
        else:
            factors.append(self.B_inv)
        for f in factors:
            diag = np.diagonal(f, axis1=-2, axis2=-1)
            if not np.all(np.isfinite(diag)) or not np.all(np.isfinite(f)):
                raise np.linalg.LinAlgError("the u-step factorization is not finite")

    def A_solve(self, r: np.ndarray) -> np.ndarray:
        return self.A_inv @ r

    def _buffer(self, P: int) -> np.ndarray:
        buf = getattr(self, "_nP", None)
        if buf is None or buf.shape != (self.n, P):
            buf = self._nP = np.empty((self.n, P))
        return buf

    def F0(self, x: np.ndarray) -> np.ndarray:
        if self.all_ones and self.P == 1:
            return (self.X @ x)[:, 0]
        Xx = np.matmul(self.X, x, out=self._buffer(x.shape[1]))
        return np.einsum("ij,ij->i", self.Df, Xx)

    def F0t(self, f: np.ndarray) -> np.ndarray:
        if self.all_ones and self.P == 1:
            return (self.X.T @ f)[:, None]
        return self.X.T @ np.multiply(self.Df, f[:, None], out=self._buffer(self.P))

    def solve(self, r: np.ndarray) -> np.ndarray:
        if self.method == "woodbury":
            y0 = self.A_solve(r)
            f = self.F0(y0)
            zz = dsymv(self.c, self.C_inv, f, lower=1)
            return y0 - self.A_solve(self.F0t(zz))
        if self.method == "cholesky":
            x = dsymv(1.0, self.M_inv, r.T.reshape(-1), lower=1)
            return x.reshape(self.P, self.d).T
        return self._pcg(r)

    def _matvec(self, x: np.ndarray) -> np.ndarray:
        return self.c * self.F0t(self.F0(x)) + self.A @ x

    def _precond(self, r: np.ndarray) -> np.ndarray:
        return np.einsum("pij,jp->ip", self.B_inv, r)

    def _pcg(self, r: np.ndarray) -> np.ndarray:
        x = self._x_prev if self._x_prev is not None and self._x_prev.shape == r.shape else np.zeros_like(r)
        res = r - self._matvec(x)
        tol = self.cg_tol * max(float(np.linalg.norm(r)), 1e-300)
        z = self._precond(res)
        p = z.copy()
        rz = float(np.vdot(res, z))
        for _ in range(self.cg_max_iter):
            if float(np.linalg.norm(res)) <= tol:
                break
            Ap = self._matvec(p)
            step = rz / float(np.vdot(p, Ap))
            x = x + step * p
            res = res - step * Ap
            z = self._precond(res)
            rz_new = float(np.vdot(res, z))
            p = z + (rz_new / rz) * p
            rz = rz_new
        self._x_prev = x
        return x


# --------------------------------------------------------------------------- structure
def _best_multiple(C: np.ndarray, B: np.ndarray) -> np.ndarray:
    r"""Per column ``j``, the :math:`t_j \ge 0` minimizing :math:`\|C_j + t_j B_j\|` (closed form; 0
    where :math:`B_j = 0`)."""
    bb = np.einsum("ij,ij->j", B, B)
    ab = np.einsum("ij,ij->j", C, B)
    return np.where(bb > 0, np.maximum(0.0, -ab / np.where(bb > 0, bb, 1.0)), 0.0)


class _Structure:
    """Everything static about one program for the ADMM: data, operators, the linear system."""

    def __init__(self, program: ConvexProgram, settings: AdmmSettings) -> None:
        self.kind = program.kind
        self.loss = program.loss
        self.y = np.array(program.y, dtype=np.float64)
        self.n = self.y.shape[0]
        design = np.asarray(program.design, dtype=np.float64)
        if self.kind == "scp":
            self.X = np.ascontiguousarray(np.maximum(design @ program.gates, 0.0))
            self.Df = np.ones((self.n, 1))
            self.P = 1
            self.d = self.X.shape[1]
            self.J = 1
        else:
            self.X = np.ascontiguousarray(design)
            self.Df = np.ascontiguousarray(program.patterns.D, dtype=np.float64)
            self.P = self.Df.shape[1]
            self.d = self.X.shape[1]
            self.J = 2 * self.P if self.kind == "relu" else self.P
        self.has_cones = self.kind == "relu"
        self.project = self.has_cones and settings.cone_method == "projection"
        self.slack = self.has_cones and not self.project
        self.split_loss = self.loss != "squared"
        if self.has_cones:
            S = 2.0 * self.Df - 1.0
            self.S_sign = S  # (n, P), for the cone violation
        if self.slack:  # the scaled cone rows G (the projection splitting never forms them)
            row_norms = np.linalg.norm(self.X, axis=1)
            e = np.ones(self.n)
            if settings.scale_rows:
                e = np.where(row_norms > 0, 1.0 / np.where(row_norms > 0, row_norms, 1.0), 1.0)
            self.ES2 = np.ascontiguousarray(np.hstack([S, S]) * e[:, None])  # (n, 2P)
            self.XtE2X = self.X.T @ (self.X * (e**2)[:, None])
        if self.project:
            self.projector = ConeProjector(self.X, np.hstack([S, S]))  # the v-step's
        self.method = self._choose_method(settings)
        self.system = _ReducedSystem(self.X, self.Df, self.method, settings)
        self.Fty = self.Ft(self.y)

    def _choose_method(self, settings: AdmmSettings) -> str:
        if settings.linear_solver != "auto":
            return settings.linear_solver
        m = self.d * self.P
        budget = settings.memory_limit_gb * 2**30
        wood_bytes = 3 * 8 * self.n**2
        chol_bytes = 2 * 8 * m**2
        candidates = []
        if wood_bytes <= budget:
            candidates.append(("woodbury", self.n))
        if chol_bytes <= budget:
            candidates.append(("cholesky", m))
        if not candidates:
            return "cg"
        return min(candidates, key=lambda t: t[1])[0]

    # operators on U (d, J)
    def Fu_from_XU(self, XU: np.ndarray) -> np.ndarray:
        if self.kind == "scp":
            return XU[:, 0].copy()
        P = self.P
        if self.kind == "relu":
            # two passes instead of an (n, P) temporary (page faults at large n)
            return np.einsum("ij,ij->i", self.Df, XU[:, :P]) - np.einsum("ij,ij->i", self.Df, XU[:, P:])
        return np.einsum("ij,ij->i", self.Df, XU)

    def Ft(self, z: np.ndarray) -> np.ndarray:
        T = self.system.F0t(z)
        if self.kind == "relu":
            return np.hstack([T, -T])
        return T

    def G_from_XU(self, XU: np.ndarray) -> np.ndarray:
        return self.ES2 * XU

    def Gt(self, Q: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
        """:math:`G^TQ` (``d' x J``); ``scratch`` (the shape of ``Q``) avoids a temporary."""
        return self.X.T @ np.multiply(self.ES2, Q, out=scratch)

    # the linear system
    def weight(self, rho_z: float) -> float:
        return rho_z if self.split_loss else 1.0

    def A_matrix(self, rho_u: float, rho_s: float) -> np.ndarray:
        if self.slack:
            A = rho_s * self.XtE2X
            A.flat[:: self.d + 1] += rho_u
            return A
        return rho_u * np.eye(self.d)

    @functools.cached_property
    def default_rho(self) -> Mapping[str, float]:
        """The data-derived initial penalties (:func:`_default_rho`), computed once per program
        (an ``n x d' x P`` product): the start of a cold solve and the centre of the band that
        residual balancing keeps each penalty in."""
        return types.MappingProxyType(_default_rho(self))

    @functools.cached_property
    def factor_cost_in_iterations(self) -> float:
        r"""A refactorization's cost in iterations, from flop counts (machine independent).

        Factor: Woodbury :math:`n^2 d' + \tfrac43 n^3` (``K``, its Cholesky and inverse),
        Cholesky :math:`m^3` with ``m = d'P`` (``potrf`` + ``potri``; the Gram is cached), CG
        :math:`P d'^3`, counted at a third (BLAS-3 runs ~3x more flops per second than the
        loop). Iteration: :math:`2nd'J + 2nd'P` for the products plus the solve's
        :math:`n^2` / :math:`m^2` / ``10 n d' P``. Measured ratios were 70 at (2000, 50, 100)
        (model 57) and ~100 at (50 000, 100, 100) (model 107).
        """
        n, d, P, J = self.n, self.d, self.P, self.J
        m = d * P
        factor = {"woodbury": n * n * d + 4.0 * n**3 / 3.0, "cholesky": float(m) ** 3, "cg": P * d**3}
        solve = {"woodbury": n * n, "cholesky": m * m, "cg": 10 * n * d * P}
        iteration = 2.0 * n * d * J + 2.0 * n * d * P + solve[self.method]
        return factor[self.method] / 3.0 / iteration

    def factor(self, rho: dict[str, float]) -> bool:
        """Factor for the penalties ``rho``; returns False when the cached factor already fits."""
        w = self.weight(rho["z"])
        key = (self.method, rho["u"], rho["s"] if self.slack else 0.0, w)
        if self.system.key == key:
            return False
        c = 2.0 * w if self.kind == "relu" else w
        self.system.key = None
        self.system.factor(c, self.A_matrix(rho["u"], rho["s"]))
        self.system.check_finite()
        self.system.key = key
        return True

    def solve(self, R: np.ndarray) -> np.ndarray:
        if self.kind != "relu":
            return self.system.solve(R)
        P = self.P
        RV, RW = R[:, :P], R[:, P:]
        delta = self.system.solve(RV - RW)
        sigma = self.system.A_solve(RV + RW)
        return np.hstack([0.5 * (sigma + delta), 0.5 * (sigma - delta)])

    # objective pieces
    def regularizer(self, U: np.ndarray) -> float:
        if self.kind == "scp":
            return float(np.abs(U).sum())
        return float(np.linalg.norm(U, axis=0).sum())

    def prox_reg(self, T: np.ndarray, thresh: float) -> np.ndarray:
        if self.kind == "scp":
            return np.sign(T) * np.maximum(np.abs(T) - thresh, 0.0)
        norms = np.linalg.norm(T, axis=0)
        scale = np.maximum(0.0, 1.0 - thresh / np.where(norms > 0, norms, 1.0))
        scale[norms == 0] = 0.0
        return T * scale

    def objective_from(self, U: np.ndarray, XU: np.ndarray, beta: float) -> float:
        return loss_value(self.Fu_from_XU(XU), self.y, self.loss) + beta * self.regularizer(U)

    def dual_objective(
        self, fv: np.ndarray, z_mult: np.ndarray | None, Gt_nu: np.ndarray | None, beta: float
    ) -> float:
        r"""A lower bound on the optimum from a dual-feasible point (weak duality).

        The dual of the program is :math:`\max_{\lambda, \nu \ge 0} -\sum_k \ell_k^*(-\lambda_k)`
        s.t. :math:`\|F_j^T\lambda + G_j^T\nu_j\|_2 \le \beta` per group (:math:`|F^T\lambda|
        \le \beta` elementwise for SCP). The candidate is :math:`\lambda = -\nabla L(Fv)`
        (squared, logistic) or the clipped loss multiplier (hinge), and
        :math:`\nu_j = -t_j\rho_s\nu_{scaled,j} \ge 0` (:math:`t_j \ge 0` minimizing that
        block's norm), both scaled by :math:`\theta = \min(1, \beta / \max_j\|\cdot\|)` to be
        feasible.
        Conjugate terms: squared :math:`\lambda^Ty - \|\lambda\|^2/2`; logistic the binary
        entropy of :math:`\sigma = y\lambda \in [0, 1]`; hinge :math:`\sum\sigma`.
        """
        lam = self.loss_multiplier(fv, z_mult)
        C = self.Ft(lam)
        if Gt_nu is not None:
            C = C + Gt_nu * _best_multiple(C, Gt_nu)
        worst = self._worst_norm(C)
        if self.loss != "squared":  # the same scale theta = min(1, beta / worst) as dual_value
            return self.dual_value(lam, worst, beta)
        theta = min(1.0, beta / worst) if worst > 0 else 1.0
        return float(theta * (lam @ self.y) - 0.5 * theta**2 * (lam @ lam))

    def _worst_norm(self, C: np.ndarray) -> float:
        """The largest dual-constraint norm: per entry for ``scp`` (l1), per column otherwise."""
        return float(np.max(np.abs(C))) if self.kind == "scp" else float(np.max(np.linalg.norm(C, axis=0)))

    def loss_multiplier(self, fv: np.ndarray, z_mult: np.ndarray | None) -> np.ndarray:
        r"""The dual candidate :math:`\lambda` for the predictions ``fv`` (see :meth:`dual_objective`)."""
        y = self.y
        if self.loss == "squared":
            return y - fv
        if self.loss == "logistic":
            return y * (0.5 * (1.0 + np.tanh(-0.5 * y * fv)))
        return y * np.clip(y * z_mult, 0.0, 1.0)

    def dual_value(self, lam: np.ndarray, worst: float, beta: float) -> float:
        r"""Dual objective at :math:`\theta\lambda` (cone multipliers scaled alike), :math:`\theta`
        the best scale with :math:`\theta\cdot\mathrm{worst} \le \beta` (and the loss's domain)."""
        y = self.y
        feas = beta / worst if worst > 0 else math.inf
        if self.loss == "squared":
            ly, ll = float(lam @ y), float(lam @ lam)
            theta = min(max(ly / ll, 0.0), feas) if ll > 0 else 0.0
            return float(theta * ly - 0.5 * theta**2 * ll)
        theta = min(1.0, feas)
        sigma = theta * y * lam
        if self.loss == "logistic":
            return float(np.sum(-xlogy(sigma, sigma) - xlogy(1.0 - sigma, 1.0 - sigma)))
        return float(np.sum(sigma))

    @functools.cached_property
    def cert_projector(self) -> ConeProjector:
        """The certificate's projector: its own working sets (other inputs than the v-step's)."""
        return self.projector.twin()

    def projected_dual(
        self, fv: np.ndarray, z_mult: np.ndarray | None, beta: float, budget: int | None = None
    ) -> float:
        r"""The exact dual bound for ``cone_method="projection"``: :math:`\lambda` from the
        predictions, and per block the exact dual constraint
        :math:`\min_{\nu \ge 0}\|F_j^T\lambda + G_j^T\nu\| = \|\Pi_{K_j}(F_j^T\lambda)\|
        \le \beta` (Moreau: the distance to the polar cone is the norm of the projection onto
        the cone). Each norm is bounded from above by an active-set iterate
        :math:`\|t + B_W^Tz\| \ge \|\Pi_K(t)\|` (``z >= 0``; exact once the working sets
        settle, and below ``beta / 2`` not refined further; ``budget`` caps the steps);
        :meth:`dual_value` scales the point to feasibility with the largest bound, so the result
        is a valid lower bound."""
        lam = self.loss_multiplier(fv, z_mult)
        # only the largest norm matters: a block may stop once its norm is certified below
        # tau = beta / 2 (then tau bounds it); the others' norms are ||prox|| + tau exactly
        tau = 0.5 * beta
        shrunk = self.cert_projector.prox(self.Ft(lam), tau, budget)
        return self.dual_value(lam, float(np.max(np.linalg.norm(shrunk, axis=0))) + tau, beta)

    def cone_lipschitz(self) -> float:
        r""":math:`\|X'^TE^2X'\|_2`, the Lipschitz constant of every block's cone-multiplier map."""
        if getattr(self, "_cone_L", None) is None:
            self._cone_L = float(np.linalg.eigvalsh(self.XtE2X)[-1])
        return self._cone_L

    def refined_dual(
        self,
        fv: np.ndarray,
        z_mult: np.ndarray | None,
        Gt_nu_admm: np.ndarray | None,
        nu_admm: np.ndarray | None,
        nu_prev: np.ndarray | None,
        beta: float,
        steps: int,
        *,
        nu_scale: float = 1.0,
        out: np.ndarray | None = None,
        scratch: np.ndarray | None = None,
    ) -> tuple[float, np.ndarray | None]:
        r"""A tight lower bound on the optimum: :math:`\lambda` from the predictions, cone
        multipliers refined per block, then scaled to be dual feasible (weak duality).

        With :math:`c_j = F_j^T\lambda` and :math:`B_j = X'^T\operatorname{diag}(e\,s_j)` (``s_j``
        the block's signs), the dual constraint is :math:`\|c_j + B_j\nu_j\| \le \beta`,
        :math:`\nu_j \ge 0` (``n`` multipliers per block). Each block starts from the better of
        the ADMM's multiplier (best nonnegative multiple, closed form) and ``nu_prev`` (the
        previous certificate's multipliers), and the blocks still outside the ball run up to
        ``steps`` steps of accelerated projected gradient (FISTA, function-value restart) on
        :math:`\tfrac12\operatorname{dist}(c_j + B_j\nu_j, \beta\mathbb{B})^2` over
        :math:`\nu_j \ge 0`, all blocks at once (two ``n x d' x |blocks|`` products a step,
        step size :math:`1/\|X'^TE^2X'\|_2`). The norms are then recomputed from scratch and
        :meth:`dual_value` scales the point to feasibility, so the bound is valid whatever the
        refinement achieved. The ADMM's multiplier is ``nu_scale * nu_admm``; ``out`` receives
        the multipliers (it must not alias ``nu_prev``) and ``scratch`` (``n x J``) is working
        space: without them, ``n x J`` temporaries cost page faults at large ``n``.

        Returns
        -------
        dual : float
            The lower bound.
        nu : ndarray (n, J) or None
            The refined multipliers (warm start of the next call), ``None`` without cones.
        """
        lam = self.loss_multiplier(fv, z_mult)
        C = self.Ft(lam)
        if not self.has_cones:
            return self.dual_value(lam, self._worst_norm(C), beta), None
        # candidate 1: the best nonnegative multiple of the ADMM multiplier, per block
        t = _best_multiple(C, Gt_nu_admm)
        R = C + Gt_nu_admm * t
        nu = np.multiply(nu_admm, nu_scale * t, out=out)
        norms = np.linalg.norm(R, axis=0)
        # candidate 2: the previous certificate's multipliers
        if nu_prev is not None:
            R2 = C + self.Gt(nu_prev, scratch)
            n2 = np.linalg.norm(R2, axis=0)
            better = n2 < norms
            if np.any(better):
                nu[:, better] = nu_prev[:, better]
                R[:, better] = R2[:, better]
                norms[better] = n2[better]
        active = np.flatnonzero(norms > beta)
        if active.size and steps > 0:
            X = self.X
            EA = self.ES2[:, active]
            CA = C[:, active]
            x = nu[:, active]
            Rx = R[:, active]
            yv, Ry = x, Rx
            step = 1.0 / max(self.cone_lipschitz(), 1e-300)
            tk = 1.0
            fx = float(np.sum(np.maximum(np.linalg.norm(Rx, axis=0) - beta, 0.0) ** 2))
            for _ in range(steps):
                ny = np.linalg.norm(Ry, axis=0)
                g = Ry * np.maximum(0.0, 1.0 - beta / np.where(ny > 0, ny, 1.0))
                grad = X @ g
                grad *= EA
                x_new = yv - step * grad
                np.maximum(x_new, 0.0, out=x_new)
                R_new = CA + X.T @ (EA * x_new)
                n_new = np.linalg.norm(R_new, axis=0)
                f_new = float(np.sum(np.maximum(n_new - beta, 0.0) ** 2))
                if f_new > fx:  # restart the momentum
                    tk = 1.0
                t_next = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * tk * tk))
                mom = (tk - 1.0) / t_next
                yv = x_new + mom * (x_new - x)
                Ry = R_new + mom * (R_new - Rx)
                x, Rx, fx, tk = x_new, R_new, f_new, t_next
                if f_new == 0.0:
                    break
            nu[:, active] = x
            R[:, active] = CA + X.T @ (EA * x)  # from scratch: the bound must not trust updates
            norms[active] = np.linalg.norm(R[:, active], axis=0)
        return self.dual_value(lam, float(np.max(norms)), beta), nu

    def cone_violation(self, XU: np.ndarray, scratch: np.ndarray | None = None) -> tuple[float, float]:
        r"""Largest violation of :math:`(2D - 1) \odot X'U \ge 0`, absolute and relative to
        ``max|X'U|``; ``scratch`` (the shape of ``XU``) avoids a temporary."""
        if not self.has_cones:
            return 0.0, 0.0
        P = self.P
        SXU = np.empty_like(XU) if scratch is None else scratch
        np.multiply(self.S_sign, XU[:, :P], out=SXU[:, :P])
        np.multiply(self.S_sign, XU[:, P:], out=SXU[:, P:])
        viol = max(0.0, -float(SXU.min()))
        scale = max(float(XU.max()), -float(XU.min()))
        return viol, (viol / scale if scale > 0 else 0.0)

    def values(self, U: np.ndarray) -> dict[str, np.ndarray]:
        if self.kind == "relu":
            return {"V": U[:, : self.P].copy(), "W": U[:, self.P :].copy()}
        if self.kind == "gated_relu":
            return {"U": U.copy()}
        return {"a": U[:, 0].copy()}

    def from_values(self, values: Mapping[str, Any]) -> np.ndarray | None:
        try:
            if self.kind == "relu":
                V, W = values["V"], values["W"]
                if V is None or W is None:
                    return None
                U = np.hstack([np.asarray(V, dtype=float), np.asarray(W, dtype=float)])
            elif self.kind == "gated_relu":
                if values["U"] is None:
                    return None
                U = np.asarray(values["U"], dtype=float)
            else:
                if values["a"] is None:
                    return None
                U = np.asarray(values["a"], dtype=float).reshape(-1, 1)
        except KeyError as exc:
            raise InvalidInputError(
                f"warm_start values miss variable {exc.args[0]!r}; a {self.kind} program needs "
                f"{sorted(self.values(np.zeros((self.d, self.J))))}."
            ) from None
        if U.shape != (self.d, self.J):
            raise InvalidInputError(
                f"warm_start values have shape {U.shape} (stacked); expected {(self.d, self.J)}."
            )
        if not np.all(np.isfinite(U)):
            raise InvalidInputError("warm_start values contain non-finite numbers.")
        return U


# cache: problem -> (fingerprint, structure, last penalties); weak keys so programs are freed
_CACHE: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _structure_for(program: ConvexProgram, settings: AdmmSettings) -> tuple[_Structure, dict[str, Any]]:
    entry = _CACHE.get(program.problem)
    fp = (
        program.kind,
        program.loss,
        program.n_samples,
        program.design.shape[1],
        program.n_patterns,
        settings.scale_rows,
        settings.cone_method,
        settings.linear_solver,
        settings.memory_limit_gb,
        settings.cg_tol,
        settings.cg_max_iter,
    )
    if entry is not None and entry["fingerprint"] == fp:
        return entry["structure"], entry
    structure = _Structure(program, settings)
    entry = {"fingerprint": fp, "structure": structure, "rho": None}
    _CACHE[program.problem] = entry
    return structure, entry


def _check_program(program: Any) -> float:
    from .programs import ConvexProgram

    if not isinstance(program, ConvexProgram):
        raise UnsupportedProblemError(
            f"solve_admm needs a cvxnn ConvexProgram (from relu_program, gated_relu_program or "
            f"scp_program); got {type(program).__name__}."
        )
    if program.kind not in SUPPORTED_KINDS:
        raise UnsupportedProblemError(
            f"The ADMM backend does not support {program.kind!r} programs; it supports "
            f"{list(SUPPORTED_KINDS)}. Solve this one with a CVXPY solver, e.g. "
            "program.solve(solver='CLARABEL') or program.problem.solve(solver='CLARABEL')."
        )
    beta = program.beta.value
    if beta is None or not np.isfinite(float(beta)) or float(beta) < 0:
        raise InvalidInputError(f"program.beta must hold a finite value >= 0; got {beta!r}.")
    return float(beta)


def _default_rho(structure: _Structure) -> dict[str, float]:
    """Initial penalties from the data scale (measured on Gaussian and scikit-learn data).

    ``c`` is the mean diagonal of :math:`F^TF` (the squared loss's curvature per coordinate),
    used for ``rho_u`` of the cone-free kinds and, times 0.1, for ``cone_method="projection"``.
    With slack cones and the squared loss, ``rho_s = 30 mean(X'^2)`` (it scales like the loss
    curvature under ``X -> aX``); with the loss split, ``rho_s = 2 c / mean diag(X'^TE^2X')``;
    the u = v block is insensitive and gets ``rho_s`` too; the loss split gets ``1`` (the
    squared loss's curvature per prediction).
    """
    st = structure
    if st.kind == "scp":
        c = float(np.mean(st.X**2)) * st.n
    else:
        c = float(np.mean(st.Df.T @ (st.X**2)))
    c = max(c, 1e-8)
    rho = {"u": c, "s": c, "z": 1.0}
    if st.project:
        # measured (bench data, squared loss): rho_u = 0.1 c reached a 1e-4 gap after ~100
        # iterations at (500, 30, 50) and ~230 at (2000, 50, 100); 0.3 c and c needed 3x and 10x more
        rho["u"] = rho["s"] = 0.1 * c
    elif st.has_cones:
        # Measured on Gaussian data (d = 30 and 50): the best fixed cone penalty was ~30 times
        # the mean squared entry of X' in both cases, while 2 c / diag(G^TG) (= the mean squared
        # row norm, ~d) was best only at d = 30 and needed 1.7x more iterations at d = 50.
        # With the loss split (logistic, hinge) the older rule 2 c / diag(G^TG) stayed better
        # (2700 vs 6900 iterations on a small logistic instance).
        if st.split_loss:
            g = max(float(np.mean(np.diag(st.XtE2X))), 1e-12)
            rho["s"] = rho["u"] = 2.0 * c / g
        else:
            rho["s"] = rho["u"] = 30.0 * max(float(np.mean(st.X**2)), 1e-12)
    return rho


# --------------------------------------------------------------------------- the solver
def solve_admm(
    program: ConvexProgram,
    settings: AdmmSettings | Mapping[str, Any] | None = None,
    *,
    warm_start: AdmmResult | Mapping[str, Any] | bool | None = None,
) -> AdmmResult:
    r"""Solve a ``relu``, ``gated_relu`` or ``scp`` program with the structured ADMM.

    Parameters
    ----------
    program : ConvexProgram
        From :func:`~cvxnn.relu_program`, :func:`~cvxnn.gated_relu_program` or
        :func:`~cvxnn.scp_program`; ``program.beta.value`` is read now, so a beta path re-solves
        the same program (the factorization is cached per program and reused whenever the
        penalties are unchanged, since the system matrix does not depend on beta; so are the
        cone projections' working sets, which start the next solve's projections). A re-solve
        therefore starts from what the previous one learned and may take a different number of
        iterations than the first solve; each stops by the same rules.
    settings : AdmmSettings, dict or None
        See :class:`AdmmSettings`; unknown keys are rejected by name.
    warm_start : AdmmResult, dict, bool or None
        A previous result of the same program (all primal and dual state and its penalties), a
        mapping of variable values by name (``"V"``, ``"W"`` / ``"U"`` / ``"a"``), or ``True``
        to start from the CVXPY variables' current values (a cold start if any is unset).

    Returns
    -------
    AdmmResult

    Raises
    ------
    UnsupportedProblemError
        For ``robust_relu`` (and anything else not in :data:`SUPPORTED_KINDS`).
    """
    t_start = time.perf_counter()
    settings = AdmmSettings.coerce(settings)
    beta = _check_program(program)
    structure, entry = _structure_for(program, settings)

    # initial state
    d, J, n = structure.d, structure.J, structure.n
    U0 = None
    state: Mapping[str, Any] | None = None
    if isinstance(warm_start, AdmmResult):
        if warm_start.kind != structure.kind or warm_start._state.get("shape") != (d, J, n):
            raise InvalidInputError(
                "warm_start is an AdmmResult of a different program "
                f"(kind {warm_start.kind!r}, state shape {warm_start._state.get('shape')}); expected "
                f"kind {structure.kind!r} with shape {(d, J, n)}."
            )
        state = warm_start._state
    elif isinstance(warm_start, Mapping):
        U0 = structure.from_values(warm_start)
    elif warm_start is True:
        U0 = structure.from_values({k: v.value for k, v in program.variables.items()})
    elif warm_start not in (None, False):
        raise InvalidInputError(
            "warm_start must be an AdmmResult, a dict of variable values, True (use the CVXPY "
            f"variables' values) or None; got {type(warm_start).__name__}."
        )

    zeros_s = (n, J) if structure.slack else (0, 0)
    if state is not None and state["S"].shape != zeros_s:
        # a result of the other cone_method: its multipliers and penalties mean other things,
        # so start from its point only, as from variable values
        U0, state = state["Zv"].copy(), None

    if settings.rho is not None:
        rho = {"u": settings.rho, "s": settings.rho, "z": settings.rho}
        if settings.rho_cone is not None:
            rho["s"] = settings.rho_cone
        if settings.rho_loss is not None:
            rho["z"] = settings.rho_loss
    elif state is not None:
        rho = dict(state["rho"])
    elif entry.get("rho") is not None:
        rho = {**structure.default_rho, **entry["rho"]}
    else:
        rho = dict(structure.default_rho)

    if state is not None:
        U = state["U"].copy()
        Zv, Lam = state["Zv"].copy(), state["Lam"].copy() * (state["rho"]["u"] / rho["u"])
        S, Nu = state["S"].copy(), state["Nu"].copy() * (state["rho"]["s"] / rho["s"])
        z, mu = state["z"].copy(), state["mu"].copy() * (state["rho"]["z"] / rho["z"])
    else:
        U = np.zeros((d, J)) if U0 is None else U0
        Zv, Lam = U.copy(), np.zeros((d, J))
        XU0 = structure.X @ U if U0 is not None else np.zeros((n, J))
        S = np.maximum(structure.G_from_XU(XU0), 0.0) if structure.slack else np.zeros(zeros_s)
        Nu = np.zeros_like(S)
        z = structure.Fu_from_XU(XU0) if structure.split_loss else np.zeros(0)
        mu = np.zeros_like(z)
    t_setup = time.perf_counter() - t_start

    limits = None
    try:
        try:
            t0 = time.perf_counter()
            first_factor = (int(structure.factor(rho)), 0.0)
            first_factor = (first_factor[0], time.perf_counter() - t0)
            if settings.threads is not None:
                limits = threadpool_limits(settings.threads)
            result = _iterate(
                structure, settings, beta, rho, U, Zv, Lam, S, Nu, z, mu, t_start, t_setup, first_factor
            )
        except np.linalg.LinAlgError as exc:
            structure.system.key = None
            result = _failed_result(structure, rho, beta, t_start, t_setup, str(exc))
    finally:
        if limits is not None:
            limits.restore_original_limits()
    entry["rho"] = dict(result.rho)
    if result.status != cp.OPTIMAL:
        warnings.warn(result.message, ConvergenceWarning, stacklevel=2)
    return result


def _failed_result(
    st: _Structure, rho: dict[str, float], beta: float, t_start: float, t_setup: float, why: str
) -> AdmmResult:
    nan = float("nan")
    return AdmmResult(
        status=cp.SOLVER_ERROR,
        objective=nan,
        values=st.values(np.full((st.d, st.J), nan)),
        primal_residual=nan,
        dual_residual=nan,
        eps_primal=nan,
        eps_dual=nan,
        iterations=0,
        cone_violation=nan,
        cone_violation_rel=nan,
        rho=dict(rho),
        history={},
        timings={"setup": t_setup, "factor": 0.0, "iterate": 0.0, "total": time.perf_counter() - t_start},
        linear_solver=st.method,
        n_factorizations=0,
        message=(
            f"ADMM failed: {why} (non-finite or badly scaled data). Rescale the data, or use a CVXPY "
            "solver (solver='CLARABEL')."
        ),
        kind=st.kind,
        loss=st.loss,
        beta=beta,
    )


def _iterate(
    st: _Structure,
    settings: AdmmSettings,
    beta: float,
    rho: dict[str, float],
    U: np.ndarray,
    Zv: np.ndarray,
    Lam: np.ndarray,
    S: np.ndarray,
    Nu: np.ndarray,
    z: np.ndarray,
    mu: np.ndarray,
    t_start: float,
    t_setup: float,
    first_factor: tuple[int, float],
) -> AdmmResult:
    alpha = settings.alpha
    band = {b: (v / RHO_BAND, v * RHO_BAND) for b, v in st.default_rho.items()}
    # with the hinge loss the objective error is first order in the residuals: their rule alone
    # stopped up to 4e-2 above the optimum (random stress), so a stop needs the certificate too
    needs_certificate = st.loss == "hinge" and settings.gap_tol is not None

    def gap_within(factor: float = 1.0) -> bool:
        """Whether the certified gap of the current check is within ``factor * gap_tol``."""
        return settings.gap_tol is not None and gap <= factor * settings.gap_tol * max(abs(obj), 1e-300)

    # ``cones``: the slack splitting's s-block; with cone_method="projection" the cones live in
    # the v-step and there is no s-block
    cones, split, project = st.slack, st.split_loss, st.project
    # the first factorization ran before the BLAS thread limit (BLAS-3 work profits from threads)
    n_fact, first_factor_time = first_factor
    last_factor_k = 0
    t_factor = first_factor_time
    t_loop0 = time.perf_counter()
    last_adapt = 0
    hist: dict[str, list[float]] = {
        k: []
        for k in (
            "iteration",
            "objective",
            "primal_residual",
            "dual_residual",
            "eps_primal",
            "eps_dual",
            "rho_u",
            "rho_s",
            "rho_z",
            "time",
            "duality_gap",
        )
    }
    m_primal = U.size + S.size + z.size
    status, message = None, ""
    r_p = r_d = eps_p = eps_d = dual_obj = obj = gap = float("nan")
    best_dual = -math.inf
    last_cert = 0
    nu_cert: np.ndarray | None = None
    k = 0
    printer = _Printer(st) if settings.verbose else None
    if printer is not None:
        printer.header(rho)
    XU = st.X @ U
    buf = np.empty_like(S)
    T = np.empty_like(S)
    S_prev = np.empty_like(S)
    certified = cones and settings.gap_tol is not None  # the slack certificate's buffers
    cert_bufs = [np.empty_like(S), np.empty_like(S)] if certified else [None, None]
    XV_buf = np.empty_like(XU)
    aES2 = alpha * st.ES2 if cones else None
    if cones:  # private copies: S and Nu are updated in place below
        S, Nu = S.copy(), Nu.copy()
    # the v-step's projections may stop early (a budget that grows with k); the certificate's
    # too: any active-set iterate t + B_W^T z (z >= 0) bounds ||Pi_K(t)|| from above
    budget = settings.projection_steps
    aa = _Anderson(settings.anderson, settings.anderson_safeguard) if settings.anderson else None
    shapes = [Zv.shape, Lam.shape, S.shape, Nu.shape, z.shape, mu.shape]
    x_in = None
    for k in range(1, settings.max_iter + 1):
        check = k % settings.check_interval == 0 or k == settings.max_iter
        if aa is not None:
            fx = np.concatenate([a.ravel() for a in (Zv, Lam, S, Nu, z, mu)])
            if x_in is not None:
                x_next = aa.step(x_in, fx)
                if x_next is not fx:
                    # copies: S and Nu are updated in place, x_next may be the accelerator's memory
                    Zv, Lam, S, Nu, z, mu = (a.copy() for a in _unpack(x_next, shapes))
            x_in = np.concatenate([a.ravel() for a in (Zv, Lam, S, Nu, z, mu)])
        # ---- u-update
        R = rho["u"] * (Zv - Lam)
        if cones:
            np.subtract(S, Nu, out=buf)  # in place: fewer passes and allocations of (n, 2P) arrays
            buf *= st.ES2
            R += rho["s"] * (st.X.T @ buf)
        if split:
            R += rho["z"] * st.Ft(z - mu)
        else:
            R += st.Fty
        U = st.solve(R)
        if cones or split:  # X'u feeds the s- and z-steps; the projection splitting never needs it
            np.matmul(st.X, U, out=XU)  # a fixed buffer: no (n, J) allocation (page faults)
        if check:
            Zv_prev, z_prev = Zv, z
            if cones:  # S is updated in place below; keep its value in a fixed buffer
                np.copyto(S_prev, S)
        # ---- v-update (prox of the regularizer), relaxed
        Uh = alpha * U + (1.0 - alpha) * Zv
        if project:  # prox of beta ||.|| + I_K: soft-threshold of the exact cone projection
            # the budget grows, so that projections end up exact (and the ADMM converges)
            Zv = st.projector.prox(Uh + Lam, beta / rho["u"], None if budget is None else budget + k // 10)
        else:
            Zv = st.prox_reg(Uh + Lam, beta / rho["u"])
        Lam = Lam + (Uh - Zv)
        # ---- s-update (projection on the cone slack)
        if cones:
            # in place, no temporaries: T = alpha G u + (1 - alpha) s + nu, s = T_+, nu = T - s
            np.multiply(aES2, XU, out=T)
            if alpha != 1.0:
                np.multiply(S, 1.0 - alpha, out=buf)
                T += buf
            T += Nu
            np.maximum(T, 0.0, out=S)
            np.minimum(T, 0.0, out=Nu)
        # ---- z-update (prox of the loss)
        if split:
            FU = st.Fu_from_XU(XU)
            FUh = alpha * FU + (1.0 - alpha) * z
            z = _prox_loss(st.loss, FUh + mu, st.y, 1.0 / rho["z"], z)
            mu = mu + (FUh - z)
        if not check:
            continue
        # ---- residuals, per constraint block A x - B z: squared norms of A x - B z, A x and B z,
        # the dual change and the scaled multiplier
        parts = {"u": (*_squared_norms(U, Zv), rho["u"] * (Zv - Zv_prev), rho["u"] * Lam)}
        if cones:
            # in the scratch buffers buf and T (rewritten at the next iteration): no (n, 2P)
            # temporaries, which cost more than the products at n = 50 000
            np.subtract(S, S_prev, out=buf)
            buf *= st.ES2
            ds = rho["s"] * (st.X.T @ buf)
            np.multiply(st.ES2, Nu, out=buf)
            ys = rho["s"] * (st.X.T @ buf)
            np.multiply(st.ES2, XU, out=T)  # G u
            ab, zb = _dot(T, T), _dot(S, S)
            T -= S
            parts["s"] = (_dot(T, T), ab, zb, ds, ys)
        if split:
            parts["z"] = (*_squared_norms(FU, z), rho["z"] * st.Ft(z - z_prev), rho["z"] * st.Ft(mu))
        sq_p = sq_ax = sq_bz = 0.0
        dual = ytil = 0.0
        blocks: dict[str, tuple[float, float, float, float]] = {}
        for b, (rb, ab, zb, db, yb) in parts.items():
            sq_p += rb
            sq_ax += ab
            sq_bz += zb
            dual = dual + db
            ytil = ytil + yb
            blocks[b] = (
                math.sqrt(rb),
                math.sqrt(max(ab, zb)),
                float(np.linalg.norm(db)),
                float(np.linalg.norm(yb)),
            )
        r_p = math.sqrt(sq_p)
        r_d = float(np.linalg.norm(dual))
        eps_p = settings.eps_abs * math.sqrt(m_primal) + settings.eps_rel * math.sqrt(max(sq_ax, sq_bz))
        eps_d = settings.eps_abs * math.sqrt(U.size) + settings.eps_rel * float(np.linalg.norm(ytil))
        XV = np.matmul(st.X, Zv, out=XV_buf)
        fv = st.Fu_from_XU(XV)
        obj = st.objective_from(Zv, XV, beta)
        certify = settings.gap_tol is not None and k - last_cert >= settings.certificate_interval
        if certify and project:
            last_cert = k
            dual_obj = st.projected_dual(fv, -rho["z"] * mu if split else None, beta, budget)
        elif certify:
            last_cert = k
            dual_obj, nu_cert = st.refined_dual(
                fv,
                -rho["z"] * mu if split else None,
                -ys if cones else None,
                Nu if cones else None,
                nu_cert,
                beta,
                settings.certificate_steps,
                nu_scale=-rho["s"],
                # the buffer nu_cert does not hold, and buf (free here): no (n, 2P) temporaries
                out=cert_bufs[1] if nu_cert is cert_bufs[0] else cert_bufs[0],
                scratch=buf,
            )
        elif project:  # the bound without cone multipliers (nu = 0) is far too weak: no product
            dual_obj = -math.inf
        else:
            dual_obj = st.dual_objective(fv, -rho["z"] * mu if split else None, -ys if cones else None, beta)
        best_dual = max(best_dual, dual_obj)  # every dual-feasible point bounds the optimum
        gap = obj - best_dual
        now = time.perf_counter()
        hist["duality_gap"].append(gap)
        hist["iteration"].append(k)
        hist["objective"].append(obj)
        hist["primal_residual"].append(r_p)
        hist["dual_residual"].append(r_d)
        hist["eps_primal"].append(eps_p)
        hist["eps_dual"].append(eps_d)
        hist["rho_u"].append(rho["u"])
        hist["rho_s"].append(rho["s"] if cones else float("nan"))
        hist["rho_z"].append(rho["z"] if split else float("nan"))
        hist["time"].append(now - t_start)
        if printer is not None and (k % settings.verbose_interval == 0):
            printer.row(k, obj, gap, r_p, eps_p, r_d, eps_d, rho, now - t_start)
        if not (math.isfinite(r_p) and math.isfinite(r_d) and math.isfinite(obj)) or not np.all(
            np.isfinite(U)
        ):
            status = cp.SOLVER_ERROR
            message = (
                f"ADMM diverged at iteration {k}: non-finite iterates (primal residual {r_p}, dual "
                f"residual {r_d}). Try a different rho, linear_solver, or a CVXPY solver."
            )
            break
        if r_p > 1e20 or r_d > 1e20:
            status = cp.SOLVER_ERROR
            message = f"ADMM diverged at iteration {k}: residuals {r_p:.3g} / {r_d:.3g} exceed 1e20."
            break
        # with cone projections truncated early in the run, only an exact last step may stop
        exact = not project or st.projector.exact
        if exact and r_p <= eps_p and r_d <= eps_d and (gap_within() or not needs_certificate):
            status = cp.OPTIMAL
            message = (
                f"Converged in {k} iterations: primal residual {r_p:.3g} <= {eps_p:.3g}, dual "
                f"residual {r_d:.3g} <= {eps_d:.3g}."
            )
            if settings.gap_tol is not None and math.isfinite(gap) and not gap_within():
                message += (
                    f" The certified gap bound is {gap / max(abs(obj), 1e-300):.2g} relative, above gap_tol "
                    f"= {settings.gap_tol:g}: the objective may be up to that far above the optimum (the "
                    "bound is often loose). A smaller eps_rel makes sure."
                )
            break
        viol_rel_k = st.cone_violation(XV, scratch=buf if cones else None)[1] if certify else float("nan")
        if exact and certify and gap_within():
            if viol_rel_k <= settings.cone_tol:
                status = cp.OPTIMAL
                message = (
                    f"Converged in {k} iterations with a duality-gap certificate: objective - dual bound "
                    f"= {gap:.3g} <= gap_tol * |objective| = {settings.gap_tol * abs(obj):.3g}, relative "
                    f"cone violation {viol_rel_k:.3g} <= cone_tol = {settings.cone_tol:g} (primal "
                    f"residual {r_p:.3g}, dual residual {r_d:.3g})."
                )
                break
        if settings.time_limit is not None and now - t_start >= settings.time_limit:
            status = "time"
            break
        # ---- adaptive penalties (per block residual balancing)
        # (truncated cone projections inflate the primal residual: no balancing on those)
        if settings.adaptive_rho and exact and k - last_adapt >= settings.adaptive_rho_interval:
            new_rho = dict(rho)
            off = False
            cap = settings.adaptive_rho_tolerance
            for b, (rp, sp, rd, sd) in blocks.items():
                rel_p = rp / sp if sp > 0 else (math.inf if rp > 0 else 0.0)
                rel_d = rd / sd if sd > 0 else (math.inf if rd > 0 else 0.0)
                if (rel_p == 0.0 and rel_d == 0.0) or (math.isinf(rel_p) and math.isinf(rel_d)):
                    continue  # no direction to move
                # a zero dual residual (e.g. a penalty so small that v stays 0) raises rho by
                # the cap, a zero primal residual lowers it by the cap
                ratio = math.inf if rel_d == 0.0 or math.isinf(rel_p) else math.sqrt(rel_p / rel_d)
                # within a band of RHO_BAND around the data-derived penalty (never pushed out of
                # it, never pulled into it by more than the cap), and within [1e-8, 1e8]
                lo, hi = band[b]
                step = min(max(ratio, 1.0 / cap), cap)
                moved = rho[b] * step
                moved = max(moved, min(rho[b], lo)) if step < 1.0 else min(moved, max(rho[b], hi))
                new_rho[b] = float(np.clip(moved, 1e-8, 1e8))
                # off balance, and able to move (a penalty held at the band's edge is no update)
                if (ratio > cap or ratio < 1.0 / cap) and new_rho[b] != rho[b]:
                    off = True
            pays = st.factor_cost_in_iterations <= settings.adaptive_rho_fraction * (k - last_factor_k)
            if off and pays:
                Lam *= rho["u"] / new_rho["u"]
                if cones:
                    Nu *= rho["s"] / new_rho["s"]
                if split:
                    mu *= rho["z"] / new_rho["z"]
                rho = new_rho
                if aa is not None:
                    aa.reset()
                    x_in = None
                tf = time.perf_counter()
                if st.factor(rho):
                    n_fact += 1
                t_factor += time.perf_counter() - tf
                last_factor_k = last_adapt = k
                if printer is not None:
                    printer.note(k, rho)
    t_end = time.perf_counter()
    eps_viol = 10.0
    if status is None or status == "time":
        why = "time limit" if status == "time" else "iteration limit"
        close = r_p <= eps_viol * eps_p and r_d <= eps_viol * eps_d
        if needs_certificate:  # the residuals say little about the objective here (above)
            close = close and gap_within(eps_viol)
        status = cp.OPTIMAL_INACCURATE if close else cp.USER_LIMIT
        message = (
            f"ADMM stopped at the {why} after {k} iterations without meeting the tolerances: primal "
            f"residual {r_p:.3g} (tolerance {eps_p:.3g}), dual residual {r_d:.3g} (tolerance "
            f"{eps_d:.3g}) with eps_abs={settings.eps_abs:g}, eps_rel={settings.eps_rel:g}; status "
            f"{status}. Raise max_iter/time_limit, or warm-start from this result."
        )
    # returned point: v (exactly sparse); objective and cone violation evaluated exactly there
    XV = st.X @ Zv
    if status == cp.SOLVER_ERROR:
        objective = float("nan")
        viol = viol_rel = float("nan")
    else:
        objective = st.objective_from(Zv, XV, beta)
        viol, viol_rel = st.cone_violation(XV)
        if project and settings.gap_tol is not None and last_cert != k and np.all(np.isfinite(XV)):
            # with the same step budget: exact projections here cost ~20 % of a solve at
            # (2000, 50, 100) and still leave a first-order (loose) bound
            final_dual = st.projected_dual(st.Fu_from_XU(XV), -rho["z"] * mu if split else None, beta, budget)
            best_dual = max(best_dual, final_dual)
        elif settings.gap_tol is not None and last_cert != k and np.all(np.isfinite(XV)):
            # the reported gap comes from a refined certificate at the returned point
            final_dual, _ = st.refined_dual(
                st.Fu_from_XU(XV),
                -rho["z"] * mu if split else None,
                -rho["s"] * st.Gt(Nu, buf) if cones else None,
                Nu if cones else None,
                nu_cert,
                beta,
                settings.certificate_steps,
                nu_scale=-rho["s"],
                scratch=buf,
            )
            best_dual = max(best_dual, final_dual)
    t_total = time.perf_counter() - t_start
    state = {
        "U": U,
        "Zv": Zv,
        "Lam": Lam,
        "S": S,
        "Nu": Nu,
        "z": z,
        "mu": mu,
        "rho": dict(rho),
        "shape": (st.d, st.J, st.n),
    }
    if printer is not None:
        printer.footer(status, k, objective, t_total)
    return AdmmResult(
        status=status,
        objective=objective,
        values=st.values(Zv),
        primal_residual=r_p,
        dual_residual=r_d,
        eps_primal=eps_p,
        eps_dual=eps_d,
        iterations=k,
        cone_violation=viol,
        cone_violation_rel=viol_rel,
        rho={"u": rho["u"], **({"s": rho["s"]} if cones else {}), **({"z": rho["z"]} if split else {})},
        history={key: np.asarray(v, dtype=float) for key, v in hist.items()},
        timings={
            "setup": t_setup,
            "factor": t_factor,
            "iterate": max(0.0, (t_end - t_loop0) - (t_factor - first_factor_time)),
            "total": t_total,
        },
        linear_solver=st.method,
        n_factorizations=n_fact,
        message=message,
        kind=st.kind,
        loss=st.loss,
        beta=beta,
        dual_objective=best_dual,
        duality_gap=objective - best_dual,
        _state=state,
    )


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """``sum(a * b)`` without an elementwise temporary (contiguous input is not copied)."""
    return float(np.dot(a.ravel(), b.ravel()))


def _squared_norms(ax: np.ndarray, bz: np.ndarray) -> tuple[float, float, float]:
    """``(||ax - bz||^2, ||ax||^2, ||bz||^2)``."""
    diff = ax - bz
    return _dot(diff, diff), _dot(ax, ax), _dot(bz, bz)


def _unpack(x: np.ndarray, shapes: list[tuple[int, ...]]) -> list[np.ndarray]:
    out, start = [], 0
    for shape in shapes:
        size = int(np.prod(shape))
        out.append(x[start : start + size].reshape(shape))
        start += size
    return out


class _Anderson:
    r"""Safeguarded type-II Anderson acceleration of a fixed-point map ``x -> T(x)``.

    With residuals :math:`g_k = x_k - T(x_k)` and the last ``m`` differences
    :math:`\Delta x, \Delta g`, the extrapolation is
    :math:`x_{k+1} = T(x_k) - (\Delta X - \Delta G)\gamma`,
    :math:`\gamma = \arg\min \|g_k - \Delta G\gamma\|` (Tikhonov-regularized normal equations
    with an incrementally updated Gram matrix, so a step costs ``O(m N)``). A step whose own
    residual exceeds ``safeguard`` times the last accepted plain residual is rejected: the plain
    iterate :math:`T(x_k)` is restored and the memory cleared (Zhang, O'Donoghue & Boyd 2020).
    """

    def __init__(self, memory: int, safeguard: float) -> None:
        self.m = memory
        self.safeguard = safeguard
        self.rejected = 0
        self.accepted = 0
        self.reset()

    def reset(self) -> None:
        self.dX: list[np.ndarray] = []
        self.dG: list[np.ndarray] = []
        self.gram = np.zeros((0, 0))
        self.prev_x: np.ndarray | None = None
        self.prev_g: np.ndarray | None = None
        self.pending = False
        self.safe_fx: np.ndarray | None = None
        self.safe_norm = math.inf

    def step(self, x: np.ndarray, fx: np.ndarray) -> np.ndarray:
        g = x - fx
        ng = float(np.linalg.norm(g))
        if self.pending and ng > self.safeguard * self.safe_norm:
            self.rejected += 1
            safe = self.safe_fx
            self.reset()
            return safe if safe is not None else fx
        if self.pending:
            self.accepted += 1
        if self.prev_x is not None:
            dx, dg = x - self.prev_x, g - self.prev_g
            if len(self.dG) == self.m:
                self.dX.pop(0)
                self.dG.pop(0)
                self.gram = self.gram[1:, 1:]
            dots = np.array([float(np.dot(col, dg)) for col in self.dG] + [float(np.dot(dg, dg))])
            k = len(self.dG) + 1
            gram = np.empty((k, k))
            gram[:-1, :-1] = self.gram
            gram[-1, :] = dots
            gram[:, -1] = dots
            self.gram = gram
            self.dX.append(dx)
            self.dG.append(dg)
        self.prev_x, self.prev_g = x, g
        self.safe_fx, self.safe_norm = fx, ng
        if not self.dG:
            self.pending = False
            return fx
        rhs = np.array([float(np.dot(col, g)) for col in self.dG])
        reg = 1e-10 * max(float(np.trace(self.gram)), 1e-300)
        try:
            gamma = np.linalg.solve(self.gram + reg * np.eye(len(rhs)), rhs)
        except np.linalg.LinAlgError:
            self.pending = False
            return fx
        x_new = fx.copy()
        for c, dx_col, dg_col in zip(gamma, self.dX, self.dG, strict=True):
            x_new -= c * (dx_col - dg_col)
        if not np.all(np.isfinite(x_new)):
            self.reset()
            return fx
        self.pending = True
        return x_new


class _Printer:
    """The verbose table: iteration, objective, residuals and their tolerances, penalties, elapsed
    time, certified relative gap (``cvxnn.cli`` parses the first three columns)."""

    def __init__(self, st: _Structure) -> None:
        self.st = st
        self.out = sys.stdout

    def header(self, rho: dict[str, float]) -> None:
        st = self.st
        print(
            f"cvxnn ADMM: kind={st.kind} loss={st.loss} n={st.n} d={st.d} P={st.P} linear_solver={st.method}",
            file=self.out,
        )
        print(
            f"{'iter':>7} {'objective':>14} {'r_prim':>9} {'eps_prim':>9} {'r_dual':>9} "
            f"{'eps_dual':>9} {'rho_u':>8} {'rho_s':>8} {'rho_z':>8} {'time(s)':>8} {'rel_gap':>9}",
            file=self.out,
        )

    def _rho(self, rho: dict[str, float]) -> str:
        st = self.st
        s = f"{rho['s']:8.2g}" if st.slack else f"{'-':>8}"
        z = f"{rho['z']:8.2g}" if st.split_loss else f"{'-':>8}"
        return f"{rho['u']:8.2g} {s} {z}"

    def row(
        self, k: int, obj: float, gap: float, rp: float, ep: float, rd: float, ed: float, rho: dict, t: float
    ) -> None:
        rel = gap / max(abs(obj), 1e-300)
        print(
            f"{k:7d} {obj:14.8g} {rp:9.2e} {ep:9.2e} {rd:9.2e} {ed:9.2e} "
            f"{self._rho(rho)} {t:8.2f} {rel:9.2e}",
            file=self.out,
        )

    def note(self, k: int, rho: dict[str, float]) -> None:
        print(f"{k:7d}   penalties updated -> {self._rho(rho)}", file=self.out)

    def footer(self, status: str, k: int, obj: float, t: float) -> None:
        print(f"status {status} after {k} iterations, objective {obj:.10g}, {t:.3f} s", file=self.out)
