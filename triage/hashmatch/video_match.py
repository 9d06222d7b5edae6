"""Match a video's sampled frames: against known videos (vPDQ), and against
known pictures (a picture shown in the video).

Known videos, as vPDQ's matcher does it: the item's frames of quality >= 50,
duplicate hashes removed, are looked up in the ``vpdq`` index of every set at
once (one batched search for all the videos of a chunk, never a scan of the
known set per frame). For each known video met:

- ``item_share``: the percentage of the item's frames within distance 31 of
  one of the known video's frames (the item is a copy, re-encode or clip of
  it);
- ``known_share``: the percentage of the known video's frames within 31 of
  one of the item's (the known video, or a clip of it, is inside the item).

It is a match when ``item_share >= ITEM_SHARE_THRESHOLD`` or ``known_share >=
KNOWN_SHARE_THRESHOLD``, thresholds calibrated on generated videos
(``benchmarks/calibrate_video.py``; figures in benchmarks/README.md). The
match's distance is the median distance of the item's matched frames.

Known pictures: each sampled frame's PDQ (with its dihedral variants) and
pHash go through the picture index like a picture's; a known picture found
in several frames is one match, at the first frame that shows it, with its
smallest distance, and ``at_seconds`` says when.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from statistics import median_low
from typing import Any

import numpy as np
import numpy.typing as npt

from triage.hashmatch.signals.vpdq import VPDQ
from triage.records import Match, PerceptualHash, VideoFrame

#: Share (percent) of the item's usable frames found in a known video above
#: which the item is that video (a copy, re-encode, resize or clip of it).
ITEM_SHARE_THRESHOLD = 50.0
#: Share (percent) of a known video's frames found in the item above which
#: the item holds that video or a clip of it (inside longer footage).
KNOWN_SHARE_THRESHOLD = 30.0

#: (set index, entry row) -> Match: how the matcher names a found entry.
MakeMatch = Callable[[int, int, str, int, str], Match]


def usable_features(frames: Sequence[VideoFrame]) -> dict[str, VideoFrame]:
    """The item's vPDQ features: PDQ hex -> first frame with it, frames of
    quality >= 50 only, duplicates removed (vPDQ's prepare step)."""
    out: dict[str, VideoFrame] = {}
    for frame in frames:
        h = frame.pdq
        if h is None or not VPDQ.usable(h.quality):
            continue
        out.setdefault(h.value, frame)
    return out


def entry_sizes(
    tables: Sequence[tuple[npt.NDArray[np.uint8], Any]], sets: Sequence[int]
) -> list[npt.NDArray[np.int64]]:
    """Number of distinct vPDQ frames of every entry, per set (``tables``:
    each set's ``vpdq`` hashes and entry rows; ``sets``: entries per set)."""
    return [
        np.bincount(np.asarray(rows, dtype=np.int64), minlength=n)
        for (_, rows), n in zip(tables, sets, strict=True)
    ]


def match_videos(
    items: Sequence[Sequence[VideoFrame]],
    search: Callable[[npt.NDArray[np.uint8]], Any],
    owner: Callable[[int], tuple[int, int]],
    sizes: Sequence[npt.NDArray[np.int64]],
    make: MakeMatch,
    exclude: Sequence[set[tuple[int, int]]],
) -> list[list[Match]]:
    """Known-video matches of each item's frames (see the module docstring).

    ``search(queries)`` is the ``vpdq`` index's search (query, code,
    distance arrays); ``owner(code)`` the (set, row) of a code; ``sizes``
    from :func:`entry_sizes`; ``exclude`` the entries matched exactly per item.
    """
    features = [list(usable_features(frames)) for frames in items]
    owners = [i for i, f in enumerate(features) for _ in f]
    out: list[list[Match]] = [[] for _ in items]
    if not owners:
        return out
    queries = np.frombuffer(
        b"".join(bytes.fromhex(v) for f in features for v in f), dtype=np.uint8
    ).reshape(-1, VPDQ.width or 32)
    found = search(queries)
    # per item, per (set, row): {query -> best distance}, {known codes}
    hits: list[dict[tuple[int, int], tuple[dict[int, int], set[int]]]] = [
        {} for _ in items
    ]
    for q, code, distance in zip(
        found.query.tolist(), found.code.tolist(), found.distance.tolist(), strict=True
    ):
        item = owners[q]
        key = owner(code)
        if key in exclude[item]:
            continue
        per_query, codes = hits[item].setdefault(key, ({}, set()))
        held = per_query.get(q)
        per_query[q] = distance if held is None else min(held, distance)
        codes.add(code)
    for item, per_entry in enumerate(hits):
        total = len(features[item])
        for (set_index, row), (per_query, codes) in sorted(per_entry.items()):
            item_share = 100.0 * len(per_query) / total
            known = int(sizes[set_index][row]) or 1
            known_share = 100.0 * min(len(codes), known) / known
            if (
                item_share < ITEM_SHARE_THRESHOLD
                and known_share < KNOWN_SHARE_THRESHOLD
            ):
                continue
            match = make(
                set_index, row, VPDQ.name, median_low(per_query.values()), "original"
            )
            out[item].append(
                replace(
                    match,
                    item_share=round(item_share, 1),
                    known_share=round(known_share, 1),
                )
            )
    return out


def merge_frame_matches(
    frames: Sequence[VideoFrame], per_frame: Sequence[Sequence[Match]]
) -> list[Match]:
    """One match per known picture over all frames: the smallest distance,
    ``at_seconds`` the first frame showing it."""
    best: dict[tuple[str, str], Match] = {}
    for frame, matches in zip(frames, per_frame, strict=True):
        for m in matches:
            key = (m.set_digest, m.entry_id)
            held = best.get(key)
            if held is None:
                best[key] = replace(m, at_seconds=frame.timestamp)
            elif m.distance < held.distance:
                best[key] = replace(m, at_seconds=held.at_seconds)
    return list(best.values())


def frame_items(
    address: str, frames: Sequence[VideoFrame]
) -> list[tuple[str, tuple[PerceptualHash, ...]]]:
    """Each frame as an item of the picture matcher."""
    return [(address, frame.hashes) for frame in frames]
