"""The signature search at every byte: Hyperscan (where installed) and the
numpy fallback give the same offsets, overlapping and edge hits included."""

from __future__ import annotations

import random

import numpy as np

from triage.ingest import magic_search
from triage.ingest.carve import carve_formats
from triage.ingest.magic_search import find_anywhere, find_anywhere_numpy


def _planted(seed: int, magics: list[bytes]) -> tuple[bytes, list[set[int]]]:
    rng = random.Random(seed)
    data = bytearray(rng.randbytes(1 << 18))
    for n in range(200):
        magic = magics[n % len(magics)]
        at = rng.randrange(0, len(data) - len(magic) + 1)
        data[at : at + len(magic)] = magic
    # Overlapping repeats, and hits at both ends.
    data[1000:1012] = b"GIF8GIF8GIF8"
    data[2000:2005] = b"\xff\xd8\xff\xd8\xff"
    data[: len(magics[0])] = magics[0]
    data[-len(magics[-1]) :] = magics[-1]
    data[-1] = 0xFF  # a magic's first byte cut by the window's end
    raw = bytes(data)
    truth = [{i for i in range(len(raw)) if raw.startswith(m, i)} for m in magics]
    return raw, truth


def test_both_searches_find_every_offset() -> None:
    magics = [f.magic for f in carve_formats() if not f.aligned]
    assert len(magics) >= 3
    data, truth = _planted(3, magics)
    fast = find_anywhere(data, magics)
    slow = find_anywhere_numpy(data, magics)
    for got_fast, got_slow, want in zip(fast, slow, truth, strict=True):
        assert got_fast.tolist() == sorted(want)
        assert got_slow.tolist() == sorted(want)
        assert got_fast.dtype == np.int64


def test_hyperscan_is_used_where_installed() -> None:
    try:
        import hyperscan  # noqa: F401
    except ImportError:
        assert magic_search.ENGINE == "numpy"
    else:
        assert magic_search.ENGINE == "hyperscan"
