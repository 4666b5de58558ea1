"""Row-sharded ADMM on a local Dask cluster (two worker processes, started and closed here)."""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("distributed")

import dask.array as da
from distributed import Client, LocalCluster

import cvxnn
from cvxnn.distributed import ShardedResult, WorkerLostError, solve_sharded
from cvxnn.exceptions import InvalidInputError

BETA = 0.1
#: Per loss; the hinge program at beta = 0.1 is a hard LP for both solvers (the single-process
#: ADMM ended at its 100 000-iteration limit with a 7e-3 certified gap).
BETAS = {"squared": BETA, "logistic": BETA, "hinge": 3.0}
TIGHT = {"gap_tol": 5e-7, "certificate_interval": 20}


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def _data(loss: str, n: int = 40, d: int = 2, P: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = rng.standard_normal(n)
    if loss != "squared":
        y = np.where(y >= 0, 1.0, -1.0)
    G = rng.standard_normal((d, P))
    G /= np.linalg.norm(G, axis=0)
    return X, y, G


def _reference(X, y, G, loss):
    patterns = cvxnn.ActivationPatterns(D=X @ G >= 0, gates=G)
    program = cvxnn.relu_program(X, y, patterns, beta=BETAS[loss], loss=loss)
    return cvxnn.solve_admm(
        program, {"gap_tol": 1e-10, "eps_abs": 1e-11, "eps_rel": 1e-11, "max_iter": 100000}
    )


def _check_against(result: ShardedResult, ref, X, G) -> None:
    assert result.status == "optimal", result.message
    assert abs(result.objective - ref.objective) <= 1e-6 * abs(ref.objective)
    assert result.duality_gap <= 1e-6 * abs(result.objective)
    S = 2.0 * (X @ G >= 0) - 1.0
    for B in (result.V, result.W):
        assert np.min(S * (X @ B)) >= -1e-4 * np.max(np.abs(X @ B)) - 1e-15
    assert result.network.predict(X).shape == (X.shape[0],)


@pytest.mark.parametrize(
    "loss",
    [
        pytest.param("squared", marks=pytest.mark.slow),
        pytest.param("logistic", marks=pytest.mark.slow),
        "hinge",
    ],
)
def test_agrees_with_single_process(client, loss):
    X, y, G = _data(loss)
    result = solve_sharded(X, y, G, beta=BETAS[loss], loss=loss, client=client, chunk_rows=15, **TIGHT)
    _check_against(result, _reference(X, y, G, loss), X, G)
    assert result.n_shards == 3
    assert len(result.history["iteration"]) > 0


@pytest.mark.slow
@pytest.mark.parametrize("rows", [(1, 19, 20), (10, 10, 10, 10), (39, 1)])
def test_chunkings_dask_input(client, rows):
    X, y, G = _data("squared")
    Xd = da.from_array(X, chunks=(rows, -1))
    yd = da.from_array(y, chunks=(rows,))
    result = solve_sharded(Xd, yd, G, beta=BETA, client=client, **TIGHT)
    assert result.n_shards == len(rows)
    _check_against(result, _reference(X, y, G, "squared"), X, G)


def test_cg_matches_cholesky(client):
    """The distributed CG path solves the same u-steps: the same iterates as the Cholesky path."""
    X, y, G = _data("squared")
    Xd = da.from_array(X, chunks=((1, 25, 14), -1))
    runs = [
        solve_sharded(Xd, y, G, beta=BETA, client=client, linear_solver=m, max_iter=60, adaptive_rho=False)
        for m in ("cholesky", "cg")
    ]
    assert [r.linear_solver for r in runs] == ["cholesky", "cg"]
    assert runs[0].iterations == runs[1].iterations == 60
    for key in ("V", "W"):
        a, b = getattr(runs[0], key), getattr(runs[1], key)
        assert np.linalg.norm(a - b) <= 1e-6 * np.linalg.norm(a)
    assert runs[1].status != "optimal" or runs[1].duality_gap <= 1e-4 * abs(runs[1].objective)


def test_empty_and_mismatched_chunks_refused(client):
    X, y, G = _data("squared")
    Xd = da.from_array(X, chunks=((20, 0, 20), -1))
    with pytest.raises(InvalidInputError, match=r"Row chunk\(s\) \[1\].*empty"):
        solve_sharded(Xd, y, G, beta=BETA, client=client)
    with pytest.raises(InvalidInputError, match="same rows"):
        solve_sharded(
            da.from_array(X, chunks=(20, -1)), da.from_array(y, chunks=(10,)), G, beta=BETA, client=client
        )
    with pytest.raises(InvalidInputError, match="gates"):
        solve_sharded(X, y, G[:1], beta=BETA, client=client)
    with pytest.raises(InvalidInputError, match="Unknown solve_sharded setting"):
        solve_sharded(X, y, G, beta=BETA, client=client, rho_typo=1.0)


def test_nan_reported_with_its_shard(client):
    X, y, G = _data("squared")
    X[27, 1] = np.nan
    with pytest.raises(InvalidInputError, match=r"Shard 2 \(rows 20\.\.29\).*non-finite"):
        solve_sharded(X, y, G, beta=BETA, client=client, chunk_rows=10)
    _, yl, _ = _data("hinge")
    yl[3] = 0.5
    with pytest.raises(InvalidInputError, match=r"Shard 0 .*labels"):
        solve_sharded(_data("hinge")[0], yl, G, beta=BETA, loss="hinge", client=client, chunk_rows=10)


@pytest.mark.slow
def test_killed_worker_recovers_or_raises(client):
    X, y, G = _data("squared")
    ref = _reference(X, y, G, "squared")
    killed = []

    def kill_once(info):
        if not killed and info["iteration"] >= 40:
            worker = sorted(client.scheduler_info()["workers"])[0]
            killed.append(worker)
            try:  # the worker process dies while answering, so the call itself fails
                client.run(os._exit, 1, workers=[worker])
            except Exception:
                pass

    result = solve_sharded(X, y, G, beta=BETA, client=client, chunk_rows=20, callback=kill_once, **TIGHT)
    assert killed
    # recovered (the rows restarted from the driver's point) and still certified
    assert result.recoveries >= 1
    _check_against(result, ref, X, G)
    client.wait_for_workers(2, timeout=60)


@pytest.mark.slow
def test_killed_worker_beyond_max_recoveries_raises(client):
    X, y, G = _data("squared")
    killed = []

    def kill_once(info):
        if not killed and info["iteration"] >= 40:
            worker = sorted(client.scheduler_info()["workers"])[0]
            killed.append(worker)
            try:
                client.run(os._exit, 1, workers=[worker])
            except Exception:
                pass

    with pytest.raises(WorkerLostError, match="max_recoveries=0"):
        solve_sharded(X, y, G, beta=BETA, client=client, chunk_rows=20, callback=kill_once, max_recoveries=0)
    assert killed
    client.wait_for_workers(2, timeout=60)


@pytest.mark.slow
def test_bias_through_activation_patterns(client):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 2))
    y = rng.standard_normal(40)
    G = rng.standard_normal((3, 4))
    G /= np.linalg.norm(G, axis=0)
    patterns = cvxnn.ActivationPatterns(D=np.hstack([X, np.ones((40, 1))]) @ G >= 0, gates=G, bias=True)
    settings = {"gap_tol": 1e-10, "eps_abs": 1e-11, "eps_rel": 1e-11, "max_iter": 100000}
    ref = cvxnn.solve_admm(cvxnn.relu_program(X, y, patterns, beta=BETA), settings)
    result = solve_sharded(X, y, patterns, beta=BETA, client=client, chunk_rows=13, **TIGHT)
    assert result.status == "optimal", result.message
    assert abs(result.objective - ref.objective) <= 1e-6 * abs(ref.objective)
    assert result.V.shape == (3, 4)
    Xa = np.hstack([X, np.ones((40, 1))])
    expected = (np.maximum(Xa @ result.V, 0.0) - np.maximum(Xa @ result.W, 0.0)).sum(axis=1)
    np.testing.assert_allclose(result.network.predict(X), expected, atol=1e-10)


def _bench_data(n: int = 1000, d: int = 5, P: int = 10, seed: int = 0):
    """The data of ``benchmarks/sharded.py`` (a ReLU teacher plus noise, beta = 1e-3 n)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal(d), 0.0) + 0.1 * rng.standard_normal(n)
    G = rng.standard_normal((d, P))
    G /= np.linalg.norm(G, axis=0)
    return X, y, G, 1e-3 * n


def test_rowgen_converges_on_benchmark_data(client):
    # regression: the slack splitting ended at user_limit here after 20 000 iterations
    # (objective 267.2 at its repaired point, optimum 157.568); the core-set cones converge
    X, y, G, beta = _bench_data()
    patterns = cvxnn.ActivationPatterns(D=X @ G >= 0, gates=G)
    ref = cvxnn.solve_admm(cvxnn.relu_program(X, y, patterns, beta=beta), {"gap_tol": 1e-7})
    result = solve_sharded(X, y, G, beta=beta, client=client, max_iter=6000)
    assert result.status == "optimal", result.message
    assert abs(result.objective - ref.objective) <= 1e-4 * abs(ref.objective)
    assert result.duality_gap <= 1e-4 * abs(result.objective)
    S = 2.0 * (X @ G >= 0) - 1.0
    for B in (result.V, result.W):
        assert np.min(S * (X @ B)) >= -1e-4 * np.max(np.abs(X @ B))
    assert 0 < result.core_rows < X.shape[0] // 2  # a small part of the rows reached the driver
    assert result.bytes_per_iteration == 0  # squared loss: the driver iterates alone
    assert 0.0 < result.timings["shards"] < result.timings["iterate"]  # violated rows at checks


def test_anderson_acceleration_certifies_where_plain_iterations_stall(client):
    # regression: at (10000, 20, 50) the plain driver iteration ended optimal_inaccurate after
    # 20 000 iterations; at (1500, 8, 16) it needs ~8500, the accelerated one ~940
    X, y, G, beta = _bench_data(1500, 8, 16)
    patterns = cvxnn.ActivationPatterns(D=X @ G >= 0, gates=G)
    ref = cvxnn.solve_admm(cvxnn.relu_program(X, y, patterns, beta=beta), {"gap_tol": 1e-7, "anderson": 10})
    assert ref.status == "optimal"
    result = solve_sharded(X, y, G, beta=beta, client=client, max_iter=1500)
    assert result.status == "optimal", result.message
    assert abs(result.objective - ref.objective) <= 1e-5 * abs(ref.objective)
    plain = solve_sharded(X, y, G, beta=beta, client=client, max_iter=1500, anderson=0)
    assert plain.status != "optimal"


def test_bad_anderson_refused(client):
    X, y, G = _data("squared")
    for bad in (-1, 2.5, True):
        with pytest.raises(InvalidInputError, match="anderson must be an integer >= 0"):
            solve_sharded(X, y, G, beta=BETA, client=client, anderson=bad)


def test_unknown_cone_method_refused(client):
    X, y, G = _data("squared")
    with pytest.raises(InvalidInputError, match="cone_method must be one of"):
        solve_sharded(X, y, G, beta=BETA, client=client, cone_method="projection")


@pytest.mark.slow
def test_rowgen_logistic_on_benchmark_data(client):
    X, y, G, beta = _bench_data()
    y = np.where(y > np.median(y), 1.0, -1.0)
    patterns = cvxnn.ActivationPatterns(D=X @ G >= 0, gates=G)
    ref = cvxnn.solve_admm(cvxnn.relu_program(X, y, patterns, beta=beta, loss="logistic"), {"gap_tol": 1e-7})
    result = solve_sharded(X, y, G, beta=beta, loss="logistic", client=client, max_iter=6000)
    assert result.status == "optimal", result.message
    assert abs(result.objective - ref.objective) <= 1e-4 * abs(ref.objective)
    # U_V - U_W out, the compact share back: 2 d'P numbers per shard, independent of n
    assert result.bytes_per_iteration == 2 * result.n_shards * 8 * G.shape[0] * G.shape[1]


def test_pruned_core_set_gives_the_same_answer(client):
    # rows that left every working set are dropped (rowgen_prune checks idle); the answer and its
    # certificate do not change
    X, y, G, beta = _bench_data(1500, 8, 16)
    kept = solve_sharded(X, y, G, beta=beta, client=client, max_iter=1500)
    pruned = solve_sharded(X, y, G, beta=beta, client=client, max_iter=1500, rowgen_prune=2)
    assert kept.core_rows_pruned == 0
    assert pruned.core_rows_pruned > 0
    assert pruned.core_rows < kept.core_rows
    assert kept.status == pruned.status == "optimal", pruned.message
    assert abs(pruned.objective - kept.objective) <= 1e-6 * abs(kept.objective)
    assert pruned.cone_violation_rel <= 1e-4
