"""``vpdq``: the files Meta's ``vpdq`` tool writes, one per video.

One line per sampled frame: ``frame_number,quality,pdq_hex,timestamp``
(frame number and quality integers, quality 0-100, PDQ as 64 hex digits,
timestamp in seconds). The file is one entry, named after the file; its
frames of quality >= 50 become its ``vpdq`` values (lower ones never match,
as in vPDQ's own matcher, and are counted as ignored). A folder of such
files imports as one set (``triage hashset import FOLDER``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from triage.hashmatch.formats.base import HASHSET_FORMATS, HashSetFormat, Lines
from triage.hashmatch.formats.text import text_lines
from triage.hashmatch.hashset import HashEntry
from triage.hashmatch.signals.vpdq import VPDQ

_LINE = re.compile(
    r"^\s*(\d+)\s*,\s*(\d+)\s*,\s*([0-9A-Fa-f]{64})\s*,\s*(\d+(?:\.\d*)?)\s*$"
)
#: What the ignored count calls frames below the quality floor.
LOW_QUALITY = "vPDQ (quality < 50)"


def _sniff(head: bytes) -> bool:
    for line in head.decode("utf-8", "replace").splitlines()[:5]:
        if line.strip():
            return _LINE.match(line) is not None
    return False


def _read(path: Path, lines: Lines) -> Iterator[tuple[int, HashEntry]]:
    frames: list[tuple[str, str]] = []
    first = 0
    for number, text in text_lines(path, lines):
        if not text.strip():
            continue
        m = _LINE.match(text)
        if m is None:
            lines.bad(
                number,
                f"not a vPDQ line (frame_number,quality,pdq_hex,timestamp): "
                f"{text.strip()[:80]!r}",
            )
            continue
        quality = int(m[2])
        if quality > 100:
            lines.bad(number, f"quality {quality} is not 0-100")
            continue
        first = first or number
        if not VPDQ.usable(quality):
            lines.report.ignored[LOW_QUALITY] += 1
            continue
        frames.append(("vpdq", m[3].lower()))
    if first:
        yield first, HashEntry(path.name, None, path.name, tuple(frames))


VPDQ_FORMAT = HashSetFormat(
    name="vpdq",
    description="Meta vpdq output: one file per video, frame,quality,pdq,timestamp",
    read=_read,
    sniff=_sniff,
)
HASHSET_FORMATS.register(VPDQ_FORMAT)
