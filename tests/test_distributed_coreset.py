"""The driver's core set of cone rows and the shards' row reports (no cluster needed)."""

from __future__ import annotations

import numpy as np
import pytest

from cvxnn.admm.cones import ConeProjector
from cvxnn.distributed.coreset import CoreRows, group_prox
from cvxnn.distributed.shards import ROW_KEY, ShardWorker, expand_compact, make_shard


def _shard(n: int = 60, d: int = 3, P: int = 4, index: int = 2, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    G = rng.standard_normal((d, P))
    shard = make_shard(X, rng.standard_normal(n), G, False, True, index)
    return X, G, ShardWorker(shard, "squared", 1.8, slack=False)


def test_violated_rows_are_exactly_the_violated_ones():
    X, G, worker = _shard()
    V = np.random.default_rng(1).standard_normal((3, 8))
    keys, rows, patterns, worst = worker.violated_rows(V, 1000, 1e-9)
    S = np.hstack([2.0 * (X @ G >= 0) - 1.0] * 2)
    rel = -(S * (X @ V)) / np.linalg.norm(X, axis=1)[:, None] / np.linalg.norm(V, axis=0)
    expected = np.flatnonzero(np.max(rel, axis=1) > 1e-9)
    np.testing.assert_array_equal(keys, 2 * ROW_KEY + expected)
    np.testing.assert_array_equal(rows, X[expected])
    np.testing.assert_array_equal(patterns, (X[expected] @ G >= 0).astype(float))
    assert worst == pytest.approx(rel.max())
    # at most k rows per column, the most violated ones
    keys2, *_ = worker.violated_rows(V, 1, 1e-9)
    top = np.unique(np.argmax(rel, axis=0)[rel.max(axis=0) > 1e-9])
    np.testing.assert_array_equal(keys2, 2 * ROW_KEY + top)
    # a feasible point reports nothing
    keys3, *_, worst3 = worker.violated_rows(np.hstack([G, G]), 5, 1e-9)
    assert keys3.size == 0 and worst3 == 0.0


def test_boundary_rows_are_nearest_the_gates():
    X, G, worker = _shard()
    keys, _, _ = worker.boundary_rows(G, 2)
    dist = np.abs(X @ G) / np.linalg.norm(X, axis=1)[:, None]
    expected = np.unique(np.argsort(dist, axis=0)[:2])
    np.testing.assert_array_equal(keys, 2 * ROW_KEY + expected)


def test_core_with_every_row_projects_like_the_full_projector():
    X, G, worker = _shard()
    core = CoreRows(3, 4)
    assert core.add([worker.boundary_rows(G, 60)]) == 60
    assert core.add([worker.boundary_rows(G, 60)]) == 0  # duplicates ignored
    T = np.random.default_rng(3).standard_normal((3, 8))
    S = np.hstack([2.0 * (X @ G >= 0) - 1.0] * 2)
    full = ConeProjector(X, S)
    np.testing.assert_allclose(core.project(T), full.project(T), atol=1e-10)
    np.testing.assert_allclose(core.prox(T, 0.3), full.prox(T, 0.3), atol=1e-10)


def test_empty_core_is_the_group_soft_threshold():
    T = np.array([[3.0, 0.1], [4.0, 0.0]])
    core = CoreRows(2, 1)
    np.testing.assert_allclose(core.prox(T, 1.0), group_prox(T, 1.0))
    np.testing.assert_allclose(group_prox(T, 1.0), [[2.4, 0.0], [3.2, 0.0]])


@pytest.mark.parametrize("loss", ["logistic", "hinge"])
def test_compact_loss_step_is_the_full_step(loss):
    """``loss_step`` (``U_V - U_W`` in, ``T`` of ``[T, -T]`` out) iterates exactly like ``step``
    with ``U`` (the slack terms switched off by ``rho_s = 0``), and its check call also returns
    the rows that ``violated_rows`` reports."""
    rng = np.random.default_rng(3)
    n, d, P = 50, 3, 4
    X = rng.standard_normal((n, d))
    y = np.where(rng.standard_normal(n) >= 0, 1.0, -1.0)
    G = rng.standard_normal((d, P))
    shard = make_shard(X, y, G, False, True, 1)
    compact = ShardWorker(shard, loss, 1.8, slack=False)
    full = ShardWorker(shard, loss, 1.8, slack=True)
    V0 = rng.standard_normal((d, 2 * P))
    T0 = compact.reset(V0, 0.0, 2.0)
    assert T0.shape == (d, P)
    np.testing.assert_allclose(expand_compact(T0), full.reset(V0, 0.0, 2.0), atol=1e-12)
    for k in range(4):
        U = rng.standard_normal((d, 2 * P))
        check = k % 2 == 1
        V = rng.standard_normal((d, 2 * P))
        got = compact.loss_step(U[:, :P] - U[:, P:], 2.0, check, *((V, 3, 1e-9) if check else ()))
        want = full.step(U, 0.0, 2.0, check)
        np.testing.assert_allclose(compact.z, full.z, atol=1e-12)
        np.testing.assert_allclose(compact.mu, full.mu, atol=1e-12)
        np.testing.assert_allclose(expand_compact(got[0]), want[0], atol=1e-10)
        if check:
            np.testing.assert_allclose(expand_compact(got[1]), want[2], atol=1e-10)  # dual_z
            np.testing.assert_allclose(expand_compact(got[2]), want[4], atol=1e-10)  # F^T mu
            np.testing.assert_allclose(got[3][[1, 4, 5]], want[5][[1, 4, 5]], rtol=1e-12)
            rows = compact.violated_rows(V, 3, 1e-9)
            for a, b in zip(got[4], rows, strict=True):
                np.testing.assert_array_equal(a, b)
            assert got[4][0].size > 0  # a random V violates rows


def test_prune_drops_only_idle_rows_and_keeps_the_projection():
    _, G, worker = _shard()
    core = CoreRows(3, 4)
    core.add([worker.boundary_rows(G, 60)])
    T = np.random.default_rng(4).standard_normal((3, 8))
    before = core.prox(T, 0.3)
    busy = {int(k) for k in core.projector.W[core.projector.W >= 0]}
    assert 0 < len(busy) < 60
    core.tick()
    assert core.prune(2) == 0  # idle for one check only
    core.tick()
    kept = core.keys[sorted(busy)]
    assert core.prune(2) == 60 - len(busy)
    assert core.pruned == 60 - len(busy) and len(core) == len(busy)
    np.testing.assert_array_equal(np.sort(core.keys), np.sort(kept))  # the working sets' rows
    # the working sets carried over (renumbered): the same point, from the first step
    np.testing.assert_allclose(core.prox(T, 0.3), before, atol=1e-12)
    rows = core.projector.W[core.projector.W >= 0]
    np.testing.assert_array_equal(np.sort(core.keys[np.unique(rows)]), np.sort(kept))
