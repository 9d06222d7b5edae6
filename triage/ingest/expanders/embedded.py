"""What the inner sources share: pictures cut out of a file that is no archive.

An inner source is an ``Expander`` whose members are pictures held inside
another file (a JPEG's EXIF thumbnail, a PDF's image objects, an SQLite
database's BLOBs). Its members are ``Source.EMBEDDED`` records, addressed by
one string that the expander finds again (``exif-thumbnail``, ``object 12``,
``messages.thumb_image row 12``) and shown after ``!`` like archive members:
``DCIM/x.jpg!exif-thumbnail``. Each reads the outer bytes from the evidence
stream (``source``), never from a copy on disk.
"""

from __future__ import annotations

import functools
import io
import time
from collections.abc import Iterator
from typing import IO

from triage.errors import ArchiveError
from triage.ingest.expanders.base import Bounded, Budget, Expansion, source_size
from triage.ingest.expanders.nesting import one_member
from triage.records import FileRecord, Skipped, Source


class Slice:
    """Sequential reads of ``length`` bytes of ``source`` from ``start``
    (a picture stored whole inside the outer file)."""

    def __init__(self, source: IO[bytes], start: int, length: int) -> None:
        self._source, self._pos, self._end = source, start, start + length

    def read(self, size: int = -1, /) -> bytes:
        left = self._end - self._pos
        size = left if size < 0 else min(size, left)
        if size <= 0:
            return b""
        self._source.seek(self._pos)
        data = self._source.read(size)
        self._pos += len(data)
        return data

    def close(self) -> None:
        """The outer file belongs to the caller."""


def slice_reader(source: IO[bytes], start: int, length: int, name: str) -> Bounded:
    return Bounded(Slice(source, start, length), length, name)


def bytes_reader(data: bytes, name: str) -> Bounded:
    return Bounded(io.BytesIO(data), len(data), name)


def embedded_item(
    job: Expansion, name: str, reader: functools.partial[Bounded], size: int
) -> Iterator[FileRecord | Skipped]:
    """One picture found inside ``record``: counted against the budget, sniffed,
    yielded (and walked, e.g. a JPEG inside a PDF has an EXIF thumbnail)."""
    job.budget.members -= 1
    job.budget.size -= size
    if exhausted(job.budget):
        limits = job.limits
        yield job.skip(
            f"more than {limits.max_members} items or {limits.max_total_size} "
            "bytes inside this file; the rest not listed",
            name,
        )
        return
    yield from one_member(job, name, size, None, reader, Source.EMBEDDED)


def exhausted(budget: Budget) -> bool:
    """Whether the archive tree's budget is spent (callers then stop listing)."""
    return budget.members < 0 or budget.size < 0


class Deadline:
    """A time budget for parsing one file: damaged input must not stall a scan."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    @property
    def passed(self) -> bool:
        return time.monotonic() > self._end


def size_within(source: IO[bytes], limit: int, what: str) -> int:
    """The size of ``source`` (left at its start), when it is at most ``limit``.

    Raises:
        ArchiveError: over ``limit``: the ``what`` is not read at all.
    """
    size = source_size(source)
    if size > limit:
        raise ArchiveError(
            f"{what} of {size} bytes exceeds the {limit}-byte limit "
            f"(over the limit by {size - limit}); not read"
        )
    return size
