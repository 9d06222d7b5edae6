"""Exact Hamming range search: every known code within distance ``t`` of a query.

An approximate index that can miss a true match is not acceptable here, so
:class:`HammingIndex` is exact by construction, and tested against brute force.

Multi-index hashing (Norouzi, Punjani and Fleet, "Fast search in Hamming space
with multi-index hashing", CVPR 2012). Split the ``B`` code bits into ``m``
disjoint substrings. Write ``t = m * r + a`` with ``0 <= a < m``. If a known
code ``h`` is within ``t`` of the query ``q``, then either one of the first
``a + 1`` substrings of ``h`` is within ``r`` of the same substring of ``q``,
or one of the remaining ``m - a - 1`` is within ``r - 1``. Proof: otherwise the
total distance is at least ``(a + 1)(r + 1) + (m - a - 1) r = m r + a + 1 > t``.
So probing, in table ``k``, every key within its radius of the query's
substring (all masks of at most ``r_k`` bits) finds every true match; each
candidate is then checked on the full code, so nothing false is returned.
Tables whose radius is negative are not needed at all.

Each table is a sorted permutation of the codes by substring key plus a dense
offset array of ``2**b`` buckets (``b <= 24`` bits), so a probe is one array
lookup. The number of substrings is chosen by a cost model (probes plus
candidates, within a memory budget); small sets, or thresholds too large for
MIH to pay off, use a brute-force scan, which is exact too.

faiss's ``IndexBinaryMultiHash`` implements the same idea (exact when its
substrings cover every bit and ``nflip >= t // nhash``; its ``range_search``
keeps distances strictly below the radius) with one ``std::unordered_map`` per
table and equal substring widths. Measured on 1 M PDQ codes at t = 31 (see
benchmarks/HISTORY.md, ``bench_match.py --faiss``): 617 queries per CPU-second
and 314 MiB for faiss, 13,961 and 124 MiB here.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

U8Array = npt.NDArray[np.uint8]
U32Array = npt.NDArray[np.uint32]
I64Array = npt.NDArray[np.int64]

#: Largest substring width: a dense offset table of 2**24 uint32 is 64 MiB.
MAX_SUBSTRING_BITS = 24
#: Memory allowed for all offset tables together.
OFFSET_BUDGET_BYTES = 512 << 20
#: Relative costs used to plan: one probe, one candidate check, one code scanned
#: by brute force (a streaming popcount is much cheaper than a random gather).
_PROBE_COST, _CANDIDATE_COST, _SCAN_COST = 1.0, 3.0, 0.08
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class SearchResult:
    """Matches as parallel arrays, sorted by (query, code index)."""

    query: I64Array  # index of the query in the batch
    code: I64Array  # index of the known code
    distance: npt.NDArray[np.int32]

    def __len__(self) -> int:
        return len(self.query)


@dataclass(frozen=True, slots=True)
class Plan:
    """How an index searches: substring (start bit, width) list, or brute force."""

    substrings: tuple[tuple[int, int], ...]  # empty means brute force

    @property
    def brute_force(self) -> bool:
        return not self.substrings


def radii(m: int, t: int) -> list[int]:
    """Probe radius of each of ``m`` substrings for threshold ``t`` (see module)."""
    r, a = divmod(t, m)
    return [r if k <= a else r - 1 for k in range(m)]


def _ball(bits: int, radius: int) -> int:
    return sum(math.comb(bits, i) for i in range(radius + 1))


def _split(bits: int, m: int) -> tuple[tuple[int, int], ...]:
    base, extra = divmod(bits, m)
    out, start = [], 0
    for k in range(m):
        width = base + (1 if k < extra else 0)
        out.append((start, width))
        start += width
    return tuple(out)


def plan_search(n: int, bits: int, t: int) -> Plan:
    """Choose substrings minimising estimated probes plus candidates per query."""
    best_cost = max(n, 1) * _SCAN_COST
    best: tuple[tuple[int, int], ...] = ()
    if n < 4096:
        return Plan(())
    for m in range(max(1, -(-bits // MAX_SUBSTRING_BITS)), bits + 1):
        parts = _split(bits, m)
        rs = radii(m, t)
        used = [(p, r) for p, r in zip(parts, rs, strict=True) if r >= 0]
        # A dense table much larger than the set wastes memory for nothing.
        if any(w > max(8, math.ceil(math.log2(n)) + 1) for (_, w), _ in used):
            continue
        if sum(4 << w for (_, w), _ in used) > OFFSET_BUDGET_BYTES:
            continue
        cost = 0.0
        for (_, width), r in used:
            probes = _ball(width, r)
            cost += probes * _PROBE_COST + probes * n / (1 << width) * _CANDIDATE_COST
        if cost < best_cost:
            best_cost, best = cost, parts
    return Plan(best)


def _substring_keys(codes: U8Array, start: int, width: int) -> U32Array:
    """The ``width``-bit substring starting at bit ``start`` (MSB first) as uint32."""
    first = start // 8
    shift = 32 - (start % 8) - width
    out = np.empty(len(codes), dtype=np.uint32)
    nbytes = codes.shape[1]
    for lo in range(0, len(codes), _CHUNK):
        block = codes[lo : lo + _CHUNK]
        word = np.zeros(len(block), dtype=np.uint32)
        for i in range(4):
            if first + i < nbytes:
                word |= block[:, first + i].astype(np.uint32) << np.uint32(24 - 8 * i)
        out[lo : lo + len(block)] = (word >> np.uint32(shift)) & np.uint32(
            (1 << width) - 1
        )
    return out


def _masks(width: int, radius: int) -> U32Array:
    masks = [0]
    for r in range(1, radius + 1):
        for bits in itertools.combinations(range(width), r):
            masks.append(sum(1 << b for b in bits))
    return np.array(masks, dtype=np.uint32)


def _as_words(codes: U8Array) -> npt.NDArray[np.uint64]:
    n, nbytes = codes.shape
    if nbytes % 8:
        padded = np.zeros((n, -(-nbytes // 8) * 8), dtype=np.uint8)
        padded[:, :nbytes] = codes
        codes = padded
    return np.ascontiguousarray(codes).view(np.uint64)


def _popcount_distance(
    words: npt.NDArray[np.uint64], query_words: npt.NDArray[np.uint64]
) -> npt.NDArray[np.int32]:
    """Row-wise Hamming distance (column adds: ``sum(axis=1)`` is slow on 4 words)."""
    counts = np.bitwise_count(np.bitwise_xor(words, query_words))
    total = counts[:, 0].astype(np.int32)
    for i in range(1, counts.shape[1]):
        total += counts[:, i]
    return total


class HammingIndex:
    """Exact range search over fixed-width binary codes (``(n, nbytes)`` uint8).

    ``max_distance`` is the largest threshold the index answers exactly; asking
    for more raises ``ValueError`` rather than silently missing matches.
    """

    def __init__(
        self,
        codes: U8Array,
        max_distance: int,
        *,
        plan: Plan | None = None,
        threads: int = 2,
        _tables: list[tuple[int, int, U32Array, U32Array]] | None = None,
    ) -> None:
        codes = np.asarray(codes, dtype=np.uint8)
        if codes.ndim != 2:
            raise ValueError("codes must be a 2-D uint8 array (n, nbytes)")
        self.nbytes = codes.shape[1]
        self.bits = self.nbytes * 8
        if not 0 <= max_distance <= self.bits:
            raise ValueError(f"max_distance must be 0..{self.bits}")
        self.max_distance = max_distance
        self.threads = max(1, threads)
        self._n = len(codes)
        self.plan = (
            plan if plan is not None else plan_search(self._n, self.bits, max_distance)
        )
        self._words = _as_words(codes)
        self._tables: list[tuple[int, int, U32Array, U32Array]] = []
        if _tables is not None:  # opened from a saved index
            self._tables = _tables
            return
        needed = (
            radii(len(self.plan.substrings), max_distance)
            if self.plan.substrings
            else []
        )
        for (start, width), radius in zip(self.plan.substrings, needed, strict=True):
            if radius < 0:  # never probed at this threshold or any smaller one
                continue
            if width > MAX_SUBSTRING_BITS:
                raise ValueError(f"substring of {width} bits > {MAX_SUBSTRING_BITS}")
            keys = _substring_keys(codes, start, width)
            perm = np.argsort(keys, kind="stable").astype(np.uint32)
            offsets = np.zeros((1 << width) + 1, dtype=np.uint32)
            np.cumsum(np.bincount(keys, minlength=1 << width), out=offsets[1:])
            self._tables.append((start, width, offsets, perm))
            del keys

    def __len__(self) -> int:
        return self._n

    def save(self, directory: str | os.PathLike[str], key: str = "") -> None:
        """Write the tables (not the codes) so other processes can map them.

        Written to a temporary folder, then renamed: a reader never sees half
        an index. ``key`` names what the codes are (e.g. set digests).
        """
        target = Path(directory)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".index-", dir=target.parent))
        try:
            for k, (_, _, offsets, perm) in enumerate(self._tables):
                np.save(tmp / f"offsets{k}.npy", offsets)
                np.save(tmp / f"perm{k}.npy", perm)
            meta = {
                "format": "triage-hamming-index",
                "version": 1,
                "key": key,
                "codes": self._n,
                "nbytes": self.nbytes,
                "max_distance": self.max_distance,
                "substrings": [list(p) for p in self.plan.substrings],
                "tables": [[start, width] for start, width, _, _ in self._tables],
            }
            (tmp / "index.json").write_text(json.dumps(meta))
            if target.exists():  # another process saved it first, or a stale one
                shutil.rmtree(target)
            os.replace(tmp, target)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def open(
        cls,
        directory: str | os.PathLike[str],
        codes: U8Array,
        max_distance: int,
        *,
        key: str = "",
        threads: int = 2,
    ) -> HammingIndex | None:
        """A saved index for ``codes`` memory-mapped read-only (pages shared
        between processes), or None if it is absent or was made for other
        codes, key or threshold."""
        folder = Path(directory)
        try:
            meta = json.loads((folder / "index.json").read_text())
            if (
                meta.get("format") != "triage-hamming-index"
                or meta.get("version") != 1
                or meta.get("key") != key
                or meta.get("codes") != len(codes)
                or meta.get("nbytes") != codes.shape[1]
                or meta.get("max_distance") != max_distance
            ):
                return None
            plan = Plan(tuple((int(a), int(b)) for a, b in meta["substrings"]))
            tables = []
            for k, (start, width) in enumerate(meta["tables"]):
                offsets = np.load(folder / f"offsets{k}.npy", mmap_mode="r")
                perm = np.load(folder / f"perm{k}.npy", mmap_mode="r")
                if (
                    offsets.shape != ((1 << width) + 1,)
                    or perm.shape != (len(codes),)
                    or offsets.dtype != np.uint32
                    or perm.dtype != np.uint32
                ):
                    return None
                tables.append((int(start), int(width), offsets, perm))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return cls(codes, max_distance, plan=plan, threads=threads, _tables=tables)

    @property
    def nbytes_used(self) -> int:
        """Bytes held by the index (codes, offsets and permutations)."""
        return int(self._words.nbytes) + sum(
            o.nbytes + p.nbytes for _, _, o, p in self._tables
        )

    def search(
        self, queries: U8Array, max_distance: int | None = None, *, batch: int = 512
    ) -> SearchResult:
        """Every (query, code) pair within ``max_distance`` (default: the index's)."""
        t = self.max_distance if max_distance is None else max_distance
        if not 0 <= t <= self.max_distance:
            raise ValueError(
                f"threshold {t} is outside 0..{self.max_distance}, the range this "
                "index answers exactly"
            )
        queries = np.asarray(queries, dtype=np.uint8)
        if queries.ndim != 2 or queries.shape[1] != self.nbytes:
            raise ValueError(f"queries must be (q, {self.nbytes}) uint8")
        starts = range(0, len(queries), batch)
        if self.threads > 1 and len(queries) > batch:
            with ThreadPoolExecutor(self.threads) as pool:
                parts = list(
                    pool.map(
                        lambda s: self._search_batch(queries[s : s + batch], s, t),
                        starts,
                    )
                )
        else:
            parts = [self._search_batch(queries[s : s + batch], s, t) for s in starts]
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return SearchResult(empty, empty.copy(), np.zeros(0, dtype=np.int32))
        return SearchResult(
            np.concatenate([p[0] for p in parts]),
            np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]),
        )

    def _search_batch(
        self, queries: U8Array, base: int, t: int
    ) -> tuple[I64Array, I64Array, npt.NDArray[np.int32]]:
        qwords = _as_words(queries)
        if self.plan.brute_force:
            return self._brute(qwords, base, t)
        found_q: list[I64Array] = []
        found_c: list[I64Array] = []
        found_d: list[npt.NDArray[np.int32]] = []
        for (start, width, offsets, perm), radius in zip(
            self._tables, radii(len(self.plan.substrings), t), strict=False
        ):
            if radius < 0:
                continue
            # Every index below is in range by construction (keys < 2**width,
            # positions < n), so take(mode="clip") skips the bounds check pass.
            masks = _masks_cached(width, radius)
            keys = _substring_keys(queries, start, width)
            probes = (keys[:, None] ^ masks[None, :]).ravel()
            lo = np.take(offsets, probes, mode="clip").astype(np.int64)
            counts = np.take(offsets, probes + 1, mode="clip").astype(np.int64) - lo
            hit = np.flatnonzero(counts)
            if not len(hit):
                continue
            counts, lo = counts[hit], lo[hit]
            total = int(counts.sum())
            begin = np.cumsum(counts) - counts
            pos = np.arange(total, dtype=np.int64) - np.repeat(begin - lo, counts)
            cand = np.take(perm, pos, mode="clip").astype(np.int64)
            qidx = np.repeat(hit // len(masks), counts)
            dist = _popcount_distance(
                np.take(self._words, cand, axis=0, mode="clip"),
                np.take(qwords, qidx, axis=0, mode="clip"),
            )
            ok = dist <= t
            found_q.append(qidx[ok])
            found_c.append(cand[ok])
            found_d.append(dist[ok])
        if not found_q:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy(), np.zeros(0, dtype=np.int32)
        q = np.concatenate(found_q)
        c = np.concatenate(found_c)
        d = np.concatenate(found_d)
        # A code found through several tables is reported once.
        _, first = np.unique(q * max(self._n, 1) + c, return_index=True)
        return q[first] + base, c[first], d[first]

    def _brute(
        self, qwords: npt.NDArray[np.uint64], base: int, t: int
    ) -> tuple[I64Array, I64Array, npt.NDArray[np.int32]]:
        qs: list[I64Array] = []
        cs: list[I64Array] = []
        ds: list[npt.NDArray[np.int32]] = []
        step = max(1, (1 << 22) // max(self._n, 1))  # bound the (q, n) temporaries
        for lo in range(0, len(qwords), step):
            block = qwords[lo : lo + step]
            dist = np.bitwise_count(block[:, None, :] ^ self._words[None, :, :]).sum(
                axis=2, dtype=np.int32
            )
            q, c = np.nonzero(dist <= t)
            qs.append(q.astype(np.int64) + lo + base)
            cs.append(c.astype(np.int64))
            ds.append(dist[q, c])
        if not qs:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty.copy(), np.zeros(0, dtype=np.int32)
        return np.concatenate(qs), np.concatenate(cs), np.concatenate(ds)


_MASKS: dict[tuple[int, int], U32Array] = {}


def _masks_cached(width: int, radius: int) -> U32Array:
    key = (width, radius)
    if key not in _MASKS:
        _MASKS[key] = _masks(width, radius)
    return _MASKS[key]


def brute_force_search(codes: U8Array, queries: U8Array, t: int) -> SearchResult:
    """The oracle: every pair within ``t`` by scanning everything."""
    index = HammingIndex(codes, t, plan=Plan(()), threads=1)
    return index.search(queries, t)


def describe(index: HammingIndex) -> dict[str, Any]:
    """What the index chose, for logs and benchmarks."""
    return {
        "codes": len(index),
        "bits": index.bits,
        "max_distance": index.max_distance,
        "substrings": [w for _, w in index.plan.substrings] or "brute force",
        "radii": radii(len(index.plan.substrings), index.max_distance)
        if index.plan.substrings
        else [],
        "bytes": index.nbytes_used,
    }
