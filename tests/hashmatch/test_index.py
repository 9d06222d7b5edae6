"""The Hamming index equals brute force: no missed match, nothing extra."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from triage.hashmatch.index import (
    HammingIndex,
    Plan,
    brute_force_search,
    plan_search,
    radii,
)


def _flip(codes: np.ndarray, distances: np.ndarray, rng: np.random.Generator):
    """Copies of ``codes`` with exactly ``distances[i]`` bits flipped."""
    bits = np.unpackbits(codes, axis=1)
    for i, d in enumerate(distances):
        bits[i, rng.choice(bits.shape[1], int(d), replace=False)] ^= 1
    return np.packbits(bits, axis=1)


def _pairs(result) -> set[tuple[int, int, int]]:
    return set(
        zip(
            result.query.tolist(),
            result.code.tolist(),
            result.distance.tolist(),
            strict=True,
        )
    )


def _oracle(codes: np.ndarray, queries: np.ndarray, t: int) -> set:
    """Plain bit counting, independent of the library's popcount code."""
    out = set()
    for qi, q in enumerate(queries):
        dist = np.unpackbits(codes ^ q, axis=1).sum(axis=1)
        out |= {(qi, int(c), int(dist[c])) for c in np.flatnonzero(dist <= t)}
    return out


def _check(codes: np.ndarray, queries: np.ndarray, t: int, plan: Plan | None = None):
    index = HammingIndex(codes, t, plan=plan)
    got = index.search(queries)
    assert _pairs(got) == _oracle(codes, queries, t)
    # sorted by (query, code), no duplicates
    keys = got.query * len(codes) + got.code
    assert np.all(np.diff(keys) > 0)
    return index, got


@pytest.mark.parametrize("t", [0, 1, 7, 31])
def test_uniform_random_with_planted_neighbours_pdq(t: int) -> None:
    rng = np.random.default_rng(100 + t)
    codes = rng.integers(0, 256, (40_000, 32), dtype=np.uint8)
    n_planted = 2 * (t + 2)
    distances = np.arange(n_planted) % (t + 2)  # 0..t and t+1, twice
    planted = _flip(codes[:n_planted], distances, rng)
    queries = np.vstack([planted, rng.integers(0, 256, (50, 32), dtype=np.uint8)])
    index, got = _check(codes, queries, t)
    assert not index.plan.brute_force
    found = _pairs(got)
    for i, d in enumerate(distances):
        assert ((i, i, int(d)) in found) == (d <= t)


def test_clustered_near_duplicates_pdq() -> None:
    """The realistic case: the set holds clusters of near-identical hashes."""
    rng = np.random.default_rng(5)
    centres = rng.integers(0, 256, (800, 32), dtype=np.uint8)
    members = np.repeat(centres, 40, axis=0)
    codes = _flip(members, rng.integers(0, 20, len(members)), rng)
    queries = _flip(centres[:60], rng.integers(0, 40, 60), rng)
    _, got = _check(codes, queries, 31)
    assert len(got) > 60 * 10  # whole clusters come back


def test_biased_bits_fill_some_buckets() -> None:
    """Skewed bits (most codes near zero) make huge buckets: still exact."""
    rng = np.random.default_rng(9)
    bits = (rng.random((20_000, 256)) < 0.05).astype(np.uint8)
    codes = np.packbits(bits, axis=1)
    queries = np.packbits((rng.random((40, 256)) < 0.05).astype(np.uint8), axis=1)
    _check(codes, queries, 31)


@pytest.mark.parametrize("t", [0, 4, 8, 12])
def test_phash_64_bit(t: int) -> None:
    rng = np.random.default_rng(t)
    codes = rng.integers(0, 256, (30_000, 8), dtype=np.uint8)
    planted = _flip(codes[:40], np.arange(40) % (t + 2), rng)
    queries = np.vstack([planted, rng.integers(0, 256, (40, 8), dtype=np.uint8)])
    _check(codes, queries, t)


@pytest.mark.parametrize(
    "widths", [(32,) * 8, (16,) * 16, (24, 24, 24, 23, 23, 23, 23, 23, 23, 23, 23)]
)
def test_explicit_plans_are_exact(widths: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(widths))
    codes = rng.integers(0, 256, (5_000, 32), dtype=np.uint8)
    starts = itertools.accumulate((0, *widths[:-1]))
    plan = Plan(tuple(zip(starts, widths, strict=True)))
    if max(widths) > 24:
        with pytest.raises(ValueError, match="substring"):
            HammingIndex(codes, 31, plan=plan)
        return
    planted = _flip(codes[:33], np.arange(33), rng)
    _check(codes, planted, 31, plan)


def test_smaller_threshold_at_query_time_and_larger_refused() -> None:
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, (20_000, 32), dtype=np.uint8)
    queries = _flip(codes[:32], np.arange(32), rng)
    index = HammingIndex(codes, 31)
    for t in (0, 5, 16, 30):
        assert _pairs(index.search(queries, t)) == _pairs(
            brute_force_search(codes, queries, t)
        )
    with pytest.raises(ValueError, match="answers exactly"):
        index.search(queries, 32)


def test_threads_and_batches_give_the_same_answer() -> None:
    rng = np.random.default_rng(4)
    codes = rng.integers(0, 256, (20_000, 32), dtype=np.uint8)
    queries = _flip(codes[:300], np.arange(300) % 33, rng)
    one = HammingIndex(codes, 31, threads=1).search(queries, batch=37)
    two = HammingIndex(codes, 31, threads=2).search(queries, batch=64)
    assert _pairs(one) == _pairs(two)
    assert np.array_equal(one.query, two.query) and np.array_equal(one.code, two.code)


def test_small_and_empty_sets_use_brute_force() -> None:
    assert plan_search(100, 256, 31).brute_force
    empty = HammingIndex(np.zeros((0, 32), np.uint8), 31)
    assert len(empty.search(np.zeros((3, 32), np.uint8))) == 0
    index = HammingIndex(np.zeros((1, 32), np.uint8), 31)
    assert len(index.search(np.zeros((0, 32), np.uint8))) == 0


def test_radii_satisfy_the_pigeonhole_bound() -> None:
    """Sum of (radius + 1) over probed substrings is t + 1: a match cannot hide."""
    for m, t in itertools.product(range(1, 40), range(0, 70)):
        rs = radii(m, t)
        assert sum(r + 1 for r in rs if r >= 0) == t + 1, (m, t)
        assert max(rs) - min(rs) <= 1


def test_library_oracle_agrees_with_an_independent_one() -> None:
    rng = np.random.default_rng(11)
    codes = rng.integers(0, 256, (3_000, 32), dtype=np.uint8)
    queries = _flip(codes[:20], np.arange(20) * 2, rng)
    assert _pairs(brute_force_search(codes, queries, 31)) == _oracle(codes, queries, 31)


def test_saved_index_opens_mapped_and_answers_the_same(tmp_path) -> None:
    rng = np.random.default_rng(12)
    codes = rng.integers(0, 256, (30_000, 32), dtype=np.uint8)
    queries = _flip(codes[:40], np.arange(40), rng)
    built = HammingIndex(codes, 31)
    built.save(tmp_path / "idx", key="set-digest")
    opened = HammingIndex.open(tmp_path / "idx", codes, 31, key="set-digest")
    assert opened is not None and opened.plan == built.plan
    assert all(isinstance(p, np.memmap) for _, _, _, p in opened._tables)
    assert _pairs(opened.search(queries)) == _oracle(codes, queries, 31)
    # another key, threshold or code count is not this index
    assert HammingIndex.open(tmp_path / "idx", codes, 31, key="other") is None
    assert HammingIndex.open(tmp_path / "idx", codes, 30, key="set-digest") is None
    assert HammingIndex.open(tmp_path / "idx", codes[:-1], 31, key="set-digest") is None
    assert HammingIndex.open(tmp_path / "missing", codes, 31) is None
    (tmp_path / "idx" / "perm0.npy").write_bytes(b"damaged")
    assert HammingIndex.open(tmp_path / "idx", codes, 31, key="set-digest") is None


@pytest.mark.slow
def test_one_million_clustered_codes_sample_equals_brute_force() -> None:
    """The benchmark's realistic case at full planned size (run with -m slow)."""
    rng = np.random.default_rng(2026)
    n = 1_000_000
    centres = rng.integers(0, 256, (n // 20, 32), dtype=np.uint8)
    clustered = np.repeat(centres, 10, axis=0)
    flips = rng.integers(0, 256, (len(clustered), 8))
    for j in range(8):  # up to 8 bits from the centre
        clustered[np.arange(len(clustered)), flips[:, j] // 8] ^= (
            1 << (flips[:, j] % 8)
        ).astype(np.uint8)
    codes = np.vstack([clustered, rng.integers(0, 256, (n // 2, 32), dtype=np.uint8)])
    picks = rng.integers(0, n, 100)
    queries = _flip(codes[picks], rng.integers(0, 40, 100), rng)
    index = HammingIndex(codes, 31)
    got = _pairs(index.search(queries))
    words = codes.view(np.uint64)
    want = set()
    for qi, qw in enumerate(queries.view(np.uint64)):
        dist = np.bitwise_count(words ^ qw).sum(axis=1)
        want |= {(qi, int(c), int(dist[c])) for c in np.flatnonzero(dist <= 31)}
    assert got == want and len(want) > 100
