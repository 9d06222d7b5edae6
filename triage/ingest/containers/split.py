"""Split raw sets (.000/.001/.aa ...): segments read as one raw medium."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from triage.errors import EvidenceError
from triage.ingest.containers.base import (
    CONTAINERS,
    Container,
    RawReader,
    split_names,
)


def _split_segments(path: Path) -> tuple[str, ...]:
    """All segments of a split raw set, refusing a set with a hole in it."""
    naming = split_names(path)
    if naming is None:
        return (str(path),)
    name, _ = naming
    segments: list[str] = []
    i = 0
    while name(i).is_file():
        segments.append(str(name(i)))
        i += 1
    # A later segment after the first missing one means the set has a hole.
    for j in range(i + 1, i + 64):
        if name(j).is_file():
            raise EvidenceError(
                f"{path}: split raw segment {name(i).name} is missing "
                f"(found {name(j).name} after it)"
            )
    _check_split_sizes(path, segments)
    return tuple(segments)


def _check_split_sizes(path: Path, segments: Sequence[str]) -> None:
    """Splitting tools cut every segment but the last to one size. A segment
    of another size (a copy cut short, a file from another set) would shift
    every byte after it, so the set is refused rather than read wrong."""
    if len(segments) < 2:
        return
    size = os.stat(segments[0]).st_size
    for i, segment in enumerate(segments[1:], start=1):
        got = os.stat(segment).st_size
        last = i == len(segments) - 1
        if (got > size) if last else (got != size):
            raise EvidenceError(
                f"{path}: split raw segment {Path(segment).name} is {got} bytes, "
                f"but {Path(segments[0]).name} is {size}: "
                + ("the last segment is larger than the others" if last
                   else "segments before the last must all be the same size")
                + " (truncated copy, or a segment from another set?); "
                "not read, as every byte after it would be misplaced"
            )  # fmt: skip


def _looks_split(path: Path, head: bytes, size: int) -> bool:
    naming = split_names(path)
    # Any later segment makes it a set (a hole is reported when it is opened).
    return naming is not None and any(naming[0](i).is_file() for i in range(1, 64))


CONTAINERS.register(
    Container(
        "split",
        "split raw (.000/.001/.aa)",
        _looks_split,
        _split_segments,
        RawReader,
    )
)
