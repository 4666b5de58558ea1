"""Activation patterns: exact enumeration counts, sampling, the scenario bound, the a-posteriori check."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import cvxnn
from cvxnn import (
    ActivationPatterns,
    InvalidInputError,
    PatternLimitError,
    enumerate_patterns,
    pattern_sample_size,
    sample_patterns,
)


def general_position_count(n: int, d: int) -> int:
    """Cells of a central arrangement of n hyperplanes in general position in R^d."""
    return 2 * sum(math.comb(n - 1, k) for k in range(d))


@pytest.mark.parametrize(("n", "d"), [(5, 1), (6, 2), (9, 2), (7, 3), (10, 3), (8, 4)])
def test_exact_count_general_position(n, d):
    X = np.random.default_rng(n * 10 + d).standard_normal((n, d))
    patterns = enumerate_patterns(X)
    assert patterns.exact
    assert patterns.n_patterns == general_position_count(n, d)


@pytest.mark.parametrize(("n", "d"), [(6, 1), (8, 2), (7, 3)])
def test_exact_count_with_bias(n, d):
    # [X, 1] is in general position in R^{d+1} for Gaussian X
    X = np.random.default_rng(7 + n).standard_normal((n, d))
    patterns = enumerate_patterns(X, bias=True)
    assert patterns.bias
    assert patterns.n_patterns == general_position_count(n, d + 1)
    Xa = np.hstack([X, np.ones((n, 1))])
    np.testing.assert_array_equal(Xa @ patterns.gates >= 0, patterns.D)


def test_rank_deficient_data_counts_cells_of_the_row_space():
    rng = np.random.default_rng(3)
    Z = rng.standard_normal((9, 2))
    X = np.column_stack([Z[:, 0], Z[:, 1], Z[:, 0] - 2 * Z[:, 1]])  # rank 2 in R^3
    assert enumerate_patterns(X).n_patterns == general_position_count(9, 2)


def test_zero_rows_are_always_active_and_duplicates_collapse():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((6, 2))
    X_aug = np.vstack([X, np.zeros((1, 2)), X[:2]])  # a zero row and two duplicate rows
    patterns = enumerate_patterns(X_aug)
    assert patterns.n_patterns == general_position_count(6, 2)
    assert patterns.D[6].all()
    np.testing.assert_array_equal(patterns.D[7:9], patterns.D[:2])


def test_exact_patterns_are_distinct_and_generated_by_their_gates():
    X = np.random.default_rng(5).standard_normal((10, 3))
    patterns = enumerate_patterns(X)
    assert np.unique(patterns.D, axis=1).shape[1] == patterns.n_patterns
    np.testing.assert_array_equal(X @ patterns.gates >= 0, patterns.D)
    np.testing.assert_allclose(np.linalg.norm(patterns.gates, axis=0), 1.0)


def test_enumeration_reports_progress_per_hyperplane():
    X = np.random.default_rng(5).standard_normal((10, 3))
    X[4] = 0.0  # a zero row is no hyperplane
    calls = []
    patterns = enumerate_patterns(X, progress=lambda *args: calls.append(args))
    assert [done for done, _, _ in calls] == list(range(1, 10))
    assert {total for _, total, _ in calls} == {9}
    cells = [c for _, _, c in calls]
    assert cells == sorted(cells) and cells[0] == 2 and cells[-1] == patterns.n_patterns
    with pytest.raises(InvalidInputError, match="progress must be None or a callable"):
        enumerate_patterns(X, progress="yes")


def test_enumeration_cap_is_a_clear_error():
    X = np.random.default_rng(6).standard_normal((12, 3))
    with pytest.raises(PatternLimitError, match="max_patterns=20"):
        enumerate_patterns(X, max_patterns=20)


@given(seed=st.integers(0, 10_000), n=st.integers(4, 9), d=st.integers(1, 3), bias=st.booleans())
def test_every_sampled_pattern_is_an_exact_pattern(seed, n, d, bias):
    X = np.random.default_rng(seed).standard_normal((n, d))
    exact = enumerate_patterns(X, bias=bias)
    sampled = sample_patterns(X, 60, random_state=seed, bias=bias)
    assert exact.contains(sampled.D).all()
    assert sampled.n_patterns <= exact.n_patterns


@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 30),
    d=st.integers(1, 6),
    n_patterns=st.integers(1, 40),
    bias=st.booleans(),
)
def test_sampling_shapes_dedup_and_reproducibility(seed, n, d, n_patterns, bias):
    X = np.random.default_rng(seed).standard_normal((n, d))
    p = sample_patterns(X, n_patterns, random_state=seed, bias=bias)
    assert p.D.dtype == bool and p.D.shape == (n, p.n_patterns)
    assert 1 <= p.n_patterns <= n_patterns and p.n_requested == n_patterns
    assert p.gates.shape == (d + bias, p.n_patterns)
    assert np.unique(p.D, axis=1).shape[1] == p.n_patterns
    Xa = np.hstack([X, np.ones((n, 1))]) if bias else X
    np.testing.assert_array_equal(Xa @ p.gates >= 0, p.D)
    again = sample_patterns(X, n_patterns, random_state=seed, bias=bias)
    np.testing.assert_array_equal(again.D, p.D)
    np.testing.assert_array_equal(again.gates, p.gates)


def test_patterns_are_immutable():
    p = sample_patterns(np.eye(3), 5, random_state=0)
    with pytest.raises(ValueError):
        p.D[0, 0] = not p.D[0, 0]
    with pytest.raises(AttributeError):
        p.exact = True  # type: ignore[misc]


def test_union_removes_duplicates_and_keeps_exactness():
    X = np.random.default_rng(8).standard_normal((8, 2))
    a = sample_patterns(X, 5, random_state=1)
    b = sample_patterns(X, 5, random_state=2)
    u = a.union(b)
    assert u.n_patterns == np.unique(np.hstack([a.D, b.D]), axis=1).shape[1]
    assert u.union(enumerate_patterns(X)).exact


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_patterns": 0}, "n_patterns"),
        ({"n_patterns": 2.5}, "n_patterns"),
        ({"n_patterns": True}, "n_patterns"),
        ({"n_patterns": 3, "random_state": "seed"}, "random_state"),
    ],
)
def test_sampling_bad_input(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        sample_patterns(np.ones((3, 2)), **kwargs)


def test_zero_patterns_refused():
    with pytest.raises(InvalidInputError, match="at least one pattern"):
        ActivationPatterns(D=np.zeros((4, 0), dtype=bool))


def test_sample_size_bound_matches_formula():
    n, psi, xi = 100, 0.05, 0.01
    expected = math.ceil(min(n / (psi * xi) - 1, (2 / psi) * (n - 1 + math.log(1 / xi))))
    assert pattern_sample_size(n, psi=psi, xi=xi) == expected
    # tighter requirements never ask for fewer patterns
    assert pattern_sample_size(n, psi=0.01, xi=0.01) >= expected
    assert pattern_sample_size(n, psi=0.05, xi=0.001) >= expected
    # for tiny n*psi*xi the first branch is the smaller one
    assert pattern_sample_size(2, psi=0.9, xi=0.9) == math.ceil(2 / 0.81 - 1)
    with pytest.raises(InvalidInputError, match="psi"):
        pattern_sample_size(10, psi=0.0, xi=0.1)
    with pytest.raises(InvalidInputError, match="xi"):
        pattern_sample_size(10, psi=0.1, xi=1.5)


def test_a_posteriori_check_finds_violations_for_too_few_patterns():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((30, 4))
    y = np.sin(X @ rng.standard_normal(4)) + 0.1 * rng.standard_normal(30)
    few = cvxnn.relu_program(X, y, sample_patterns(X, 2, random_state=0), beta=0.05)
    few.solve()
    check_few = cvxnn.a_posteriori_check(few, 100, random_state=1)
    many = cvxnn.relu_program(X, y, sample_patterns(X, 400, random_state=0), beta=0.05)
    many.solve(tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    check_many = cvxnn.a_posteriori_check(many, 100, random_state=1)
    assert check_few.violation_rate > 0.5
    assert check_many.violation_rate < 0.1
    assert check_many.violation_rate < check_few.violation_rate
    assert check_few.values.shape == (100,)


def test_a_posteriori_check_on_exact_program_finds_nothing():
    rng = np.random.default_rng(12)
    X = rng.standard_normal((9, 2))
    y = np.abs(X[:, 0]) - X[:, 1]
    prog = cvxnn.relu_program(X, y, enumerate_patterns(X), beta=0.1)
    prog.solve(tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    check = cvxnn.a_posteriori_check(prog, 200, random_state=3)
    assert check.n_violating == 0
    assert check.values.max() <= 0.1 * (1 + 1e-3)


def test_a_posteriori_check_refuses_hinge_and_unsolved():
    X = np.random.default_rng(0).standard_normal((6, 2))
    y = np.sign(X[:, 0]) + (X[:, 0] == 0)
    prog = cvxnn.relu_program(X, y, sample_patterns(X, 4, random_state=0), beta=0.1, loss="hinge")
    with pytest.raises(cvxnn.NotSolvedError):
        cvxnn.a_posteriori_check(prog)
    prog.solve()
    with pytest.raises(cvxnn.UnsupportedProblemError, match="differentiable"):
        cvxnn.a_posteriori_check(prog)
    with pytest.raises(InvalidInputError, match="rtol"):
        cvxnn.a_posteriori_check(prog, rtol=-1.0)


# --------------------------------------------------------------------------- argument bounds
@pytest.mark.parametrize("tol", [float("nan"), float("inf"), 1.0, 2.0, -1e-3, "0.1", True])
def test_enumerate_patterns_refuses_bad_tol(tol):
    with pytest.raises(cvxnn.InvalidInputError, match="tol"):
        cvxnn.enumerate_patterns(np.eye(3), tol=tol)


@pytest.mark.parametrize(
    ("n", "psi", "xi"),
    [(10, 1e-200, 1e-200), (10, 5e-324, 0.5), (10**400, 0.1, 0.1), (2**62, 0.1, 0.1), (10, 1e-300, 0.5)],
)
def test_pattern_sample_size_refuses_unusable_bounds(n, psi, xi):
    with pytest.raises(cvxnn.InvalidInputError, match="2\\^53"):
        cvxnn.pattern_sample_size(n, psi=psi, xi=xi)


def test_pattern_sample_size_small_and_large_values():
    assert cvxnn.pattern_sample_size(100, psi=0.05, xi=0.01) == math.ceil(2 / 0.05 * (99 + math.log(100)))
    assert cvxnn.pattern_sample_size(10**12, psi=0.5, xi=0.5) == math.ceil(4 * (10**12 - 1 + math.log(2)))
    with pytest.raises(cvxnn.InvalidInputError, match="psi"):
        cvxnn.pattern_sample_size(10, psi=True, xi=0.5)


def test_n_patterns_has_an_upper_bound():
    with pytest.raises(cvxnn.InvalidInputError, match="at most"):
        cvxnn.sample_patterns(np.eye(3), 10**9)


def test_sampling_memory_follows_the_kept_patterns(rng):
    """2 * 10^5 gates of a 20 x 3 matrix keep at most 382 patterns; drawing them all at once took
    ~40 MB (the (n, P) product and mask, the gates), the chunked draw stays a few MB."""
    import tracemalloc

    X = rng.standard_normal((20, 3))
    tracemalloc.start()
    try:
        pats = cvxnn.sample_patterns(X, 200_000, random_state=0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert pats.n_patterns <= cvxnn.patterns.max_cells(20, 3) and pats.n_requested == 200_000
    assert peak < 8 * 2**20


def test_chunked_sampling_equals_one_draw_and_stops_at_the_cell_bound(rng):
    X = rng.standard_normal((6, 2))
    small = cvxnn.sample_patterns(X, 50, random_state=3)
    G = np.random.default_rng(3).standard_normal((2, 50))  # one chunk: the draws of one matrix
    D = X @ G >= 0
    _, first = np.unique(np.packbits(D, axis=0).T, axis=0, return_index=True)
    assert np.array_equal(small.D, D[:, np.sort(first)])
    full = cvxnn.sample_patterns(X, 10**8, random_state=0)  # returns once all 2*C(5,0)+2*C(5,1) are in
    assert full.n_patterns == cvxnn.patterns.max_cells(6, 2) == 12
    assert np.array_equal(np.sort(full.D.sum(axis=0)), np.sort(cvxnn.enumerate_patterns(X).D.sum(axis=0)))


def test_pattern_sample_size_with_the_tiniest_xi():
    assert cvxnn.pattern_sample_size(10, psi=0.5, xi=5e-324) == math.ceil(4 * (9 - math.log(5e-324)))
