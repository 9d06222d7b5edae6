"""Video matching through the index against a brute-force oracle: the shares
of frames vPDQ defines, on seeded random frame hashes."""

from __future__ import annotations

import numpy as np

from triage.hashmatch.hashset import HashEntry, HashSet
from triage.hashmatch.matcher import Matcher
from triage.hashmatch.video_match import (
    ITEM_SHARE_THRESHOLD,
    KNOWN_SHARE_THRESHOLD,
)
from triage.records import MediaHash, PerceptualHash, VideoFrame

RNG = np.random.default_rng(16)


def _random_hash() -> bytes:
    return RNG.integers(0, 256, 32, dtype=np.uint8).tobytes()


def _flip(value: bytes, bits: int) -> bytes:
    number = int.from_bytes(value, "big")
    for bit in RNG.choice(256, bits, replace=False):
        number ^= 1 << int(bit)
    return number.to_bytes(32, "big")


def _frames(values: list[bytes], quality: int = 90) -> tuple[VideoFrame, ...]:
    return tuple(
        VideoFrame(n, float(n), (PerceptualHash("pdq", v.hex(), "original", quality),))
        for n, v in enumerate(values)
    )


def _shares(item: list[bytes], known: list[bytes]) -> tuple[float, float]:
    """vPDQ's brute force: distinct values, each side against the other."""
    a, b = list(dict.fromkeys(item)), list(dict.fromkeys(known))

    def close(x: bytes, y: bytes) -> bool:
        return (int.from_bytes(x, "big") ^ int.from_bytes(y, "big")).bit_count() <= 31

    found = sum(any(close(x, y) for y in b) for x in a)
    covered = sum(any(close(x, y) for x in a) for y in b)
    return 100 * found / len(a), 100 * covered / len(b)


def test_shares_equal_brute_force_and_thresholds_decide() -> None:
    known = {f"v{k}": [_random_hash() for _ in range(20)] for k in range(30)}
    hs = HashSet.from_entries(
        [
            HashEntry(name, "A", name, tuple(("vpdq", v.hex()) for v in values))
            for name, values in known.items()
        ],
        name="videos",
        kind="known-bad",
        scheme="caid",
    )
    matcher = Matcher([hs], threads=1)
    base = known["v3"]
    items = {
        "copy, frames re-encoded": [_flip(v, 20) for v in base],
        "40% clip": [_flip(v, 10) for v in base[6:14]],
        "clip in footage": [_random_hash() for _ in range(15)]
        + [_flip(v, 5) for v in base[6:14]]
        + [_random_hash() for _ in range(15)],
        "too far": [_flip(v, 40) for v in base],
        "a few frames only": [_flip(v, 3) for v in base[:3]]
        + [_random_hash() for _ in range(17)],
        "unrelated": [_random_hash() for _ in range(25)],
        "duplicates": [_flip(base[0], 2)] * 10 + [_random_hash()],
    }
    got = matcher.match_many(
        [MediaHash(name, md5="0" * 32, frames=_frames(v)) for name, v in items.items()]
    )
    for (name, values), matches in zip(items.items(), got, strict=True):
        item_share, known_share = _shares(values, base)
        expected = (
            item_share >= ITEM_SHARE_THRESHOLD or known_share >= KNOWN_SHARE_THRESHOLD
        )
        on_v3 = [m for m in matches if m.entry_id == "v3"]
        assert bool(on_v3) == expected, name
        if on_v3:
            (m,) = on_v3
            assert m.algorithm == "vpdq" and m.category == "A"
            assert (m.item_share, m.known_share) == (
                round(item_share, 1),
                round(known_share, 1),
            ), name
        assert all(m.entry_id == "v3" for m in matches), name
    by_name = dict(zip(items, got, strict=True))
    assert by_name["duplicates"][0].item_share == 50.0  # 1 of 2 distinct frames
    assert not by_name["unrelated"] and not by_name["too far"]


def test_frames_of_low_quality_never_match() -> None:
    values = [_random_hash() for _ in range(5)]
    hs = HashSet.from_entries(
        [HashEntry("v", None, "v", tuple(("vpdq", v.hex()) for v in values))],
        name="videos",
        kind="known-bad",
    )
    matcher = Matcher([hs], threads=1)
    low = MediaHash("a", md5="0" * 32, frames=_frames(values, quality=49))
    high = MediaHash("b", md5="0" * 32, frames=_frames(values, quality=50))
    assert matcher.match_many([low, high]) == [[], matcher.match(high)]
    assert matcher.match(high)[0].item_share == 100.0
