"""Single-file gzip: one member, named as the gzip header stores it.

Its size comes from the trailer (ISIZE), which holds the size modulo 4 GiB
and covers only the last member of a concatenated gzip: such files outgrow
it and are reported unreadable. A gzip holding a tar is the tar expander's.
"""

from __future__ import annotations

import functools
import gzip
import io
import posixpath
from collections.abc import Iterator
from contextlib import ExitStack
from typing import IO

from triage.errors import ArchiveError
from triage.ingest.expanders.base import (
    EXPANDERS,
    ArchiveLimits,
    Bounded,
    Expander,
    Expansion,
    Sniffed,
    is_tar,
    member_record,
    ratio_problem,
    source_size,
)
from triage.ingest.expanders.nesting import one_member
from triage.ingest.media import SNIFF_BYTES
from triage.records import FileRecord, Skipped


def _gzip_name(source: IO[bytes], record: FileRecord) -> str:
    """The original file name a gzip header stores, else the archive's own name
    without ``.gz``."""
    head = source.read(SNIFF_BYTES)
    source.seek(0)
    if len(head) > 10 and head[3] & 0x08:  # FNAME
        pos = 10
        if head[3] & 0x04:  # FEXTRA
            pos += 2 + int.from_bytes(head[10:12], "little")
        end = head.find(b"\0", pos)
        if end > pos:
            return head[pos:end].decode("latin-1")
    own = posixpath.basename(
        record.archive_path[-1] if record.archive_path else record.path
    )
    stem, dot, ext = own.rpartition(".")
    if dot and stem and ext.lower() in ("gz", "gzip"):
        return stem
    return own + ".content"


def _gzip_declared(source: IO[bytes]) -> int:
    """ISIZE from the gzip trailer: the uncompressed size modulo 4 GiB."""
    size = source.seek(0, io.SEEK_END)
    source.seek(max(size - 4, 0))
    trailer = source.read(4)
    source.seek(0)
    return int.from_bytes(trailer, "little") if len(trailer) == 4 else 0


def _open_gzip(source: IO[bytes], declared: int, name: str) -> Bounded:
    return Bounded(gzip.GzipFile(fileobj=source, mode="rb"), declared, name)


class GzipExpander(Expander):
    """A gzip stream holding one file (not a tar)."""

    name = "gzip"
    signatures = ("gzip",)

    def recognise(self, sniffed: Sniffed) -> bool:
        return sniffed.signature == "gzip" and not is_tar(sniffed.inner)

    def members(self, job: Expansion) -> Iterator[FileRecord | Skipped]:
        source, budget = job.source, job.budget
        declared = _gzip_declared(source)
        name = _gzip_name(source, job.record)
        budget.members -= 1
        budget.size -= declared
        problem = ratio_problem(declared, source_size(source), job.limits)
        if problem is None and budget.size < 0:
            problem = (
                f"declares {declared} bytes expanded, over the limit; not expanded"
            )
        if problem is not None:
            yield member_record(job.record, name, declared, None, None)
            yield job.skip(problem, name)
            return
        opener = functools.partial(_open_gzip, source, declared, name)
        yield from one_member(job, name, declared, None, opener)

    def open_member(
        self, source: IO[bytes], name: str, limits: ArchiveLimits, stack: ExitStack
    ) -> tuple[Bounded, object | None]:
        declared = _gzip_declared(source)
        problem = ratio_problem(declared, source_size(source), limits)
        if problem is not None:
            raise ArchiveError(problem)
        return _open_gzip(source, declared, name), None


EXPANDERS.register(GzipExpander())
