"""Where any of a few magics starts in a block of bytes, at every byte.

Carving looks for the JPEG, PNG and GIF signatures at every byte of free
space (they are found inside other files too), which is most of its time
over data that holds no picture. :func:`find_anywhere` finds them all in one
pass: with Hyperscan (Intel's multi-pattern matcher, the ``hyperscan``
wheel, which bundles the library) where it is installed, else with numpy
over byte pairs (the block seen as 16-bit numbers at even and at odd
offsets). The two give the same offsets; Hyperscan is about twice as fast
(figures in benchmarks/README.md, ``python benchmarks/bench_carve.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

try:
    import hyperscan
except ImportError:  # no wheel for this platform: numpy's byte pairs
    hyperscan = None  # type: ignore[assignment]

__all__ = [
    "ENGINE",
    "find_anywhere",
    "find_anywhere_lists",
    "find_anywhere_numpy",
    "straddling",
]

#: Which search :func:`find_anywhere` uses: "hyperscan" or "numpy".
ENGINE = "numpy" if hyperscan is None else "hyperscan"

_NONE = np.zeros(0, dtype=np.int64)
_NONE.flags.writeable = False  # shared by every search that finds nothing

# A compiled database has one scratch space: one database per thread.
_local = threading.local()


def find_anywhere(window: bytes, magics: Sequence[bytes]) -> list[np.ndarray]:
    """For each of ``magics`` (two bytes or more each), the sorted offsets in
    ``window`` where it starts and ends inside it (``int64`` arrays)."""
    return [
        np.array(at, dtype=np.int64) if at else _NONE
        for at in find_anywhere_lists(window, magics)
    ]


def find_anywhere_lists(window: bytes, magics: Sequence[bytes]) -> list[list[int]]:
    """:func:`find_anywhere` as Python lists: cheaper for the few hits of
    a block of free space (no numpy call per magic)."""
    if hyperscan is None or not magics:
        return [at.tolist() for at in find_anywhere_numpy(window, magics)]
    try:
        database = _database(tuple(magics))
    except hyperscan.HyperscanError:  # e.g. a CPU without the SIMD it needs
        return [at.tolist() for at in find_anywhere_numpy(window, magics)]
    hits: list[list[int]] = [[] for _ in magics]

    def on_match(number: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
        hits[number].append(end)

    database.scan(window, match_event_handler=on_match)
    out = []
    for ends, magic in zip(hits, magics, strict=True):
        ends.sort()
        out.append([end - len(magic) for end in ends])
    return out


def straddling(
    head: bytes, tail: bytes, magics: Sequence[bytes]
) -> list[tuple[int, int]]:
    """(offset in ``head``, magic number) of each of ``magics`` that starts
    in ``head`` and runs on into ``tail`` (the bytes right after it), in
    offset order (at one offset, ``magics`` in their order). Only the last
    few bytes of ``head`` are looked at, in Python: a block searched on its
    own is never copied to append its neighbour's first bytes."""
    longest = max((len(m) for m in magics), default=1)
    edge = max(len(head) - longest + 1, 0)
    near = head[edge:] + tail[: longest - 1]
    out = []
    for number, magic in enumerate(magics):
        if magic[0] not in near:
            continue
        for at in range(max(len(head) - len(magic) + 1, edge), len(head)):
            if near.startswith(magic, at - edge):
                out.append((at, number))
    out.sort()
    return out


def _database(magics: tuple[bytes, ...]) -> Any:
    """The Hyperscan block-mode database of ``magics`` (literal patterns,
    numbered in order), compiled once per thread."""
    cache: dict[tuple[bytes, ...], Any] = _local.__dict__.setdefault("dbs", {})
    database = cache.get(magics)
    if database is None:
        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        database.compile(
            expressions=[b"".join(b"\\x%02x" % b for b in m) for m in magics],
            ids=list(range(len(magics))),
            elements=len(magics),
            flags=[0] * len(magics),
        )
        cache[magics] = database
    return database


def find_anywhere_numpy(window: bytes, magics: Sequence[bytes]) -> list[np.ndarray]:
    """:func:`find_anywhere` with numpy only: candidates by their first two
    bytes in one pass, then the remaining bytes of each magic."""
    data = np.frombuffer(window, dtype=np.uint8)
    heads = sorted({int.from_bytes(m[:2], "little") for m in magics})
    candidates = _two_byte_candidates(window, heads) if heads else data[:0]
    out = []
    for magic in magics:
        at = candidates[data[candidates] == magic[0]]
        at = at[data[at + 1] == magic[1]]
        at = at[at + len(magic) <= len(data)]
        for k, byte in enumerate(magic[2:], start=2):
            at = at[data[at + k] == byte]
        out.append(at.astype(np.int64))
    return out


def _two_byte_candidates(window: bytes, heads: Sequence[int]) -> np.ndarray:
    """Offsets in ``window`` where one of ``heads`` (two bytes read as a
    little-endian 16-bit number) starts, sorted. The window is looked at as
    16-bit numbers twice, at even and at odd offsets (views, no copies), so
    each pass compares half as many items as a byte-wise pass and random
    data gives 1 candidate in 8,000 bytes per head, not 1 in 256."""
    found = []
    for parity in (0, 1):
        count = (len(window) - parity) // 2
        if count <= 0:
            continue
        pairs = np.frombuffer(window, dtype="<u2", offset=parity, count=count)
        mask = pairs == heads[0]
        for head in heads[1:]:
            mask |= pairs == head
        found.append(np.flatnonzero(mask) * 2 + parity)
    if not found:
        return np.zeros(0, dtype=np.int64)
    return np.sort(np.concatenate(found))
