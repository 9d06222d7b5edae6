"""Tar archives, plain or compressed with gzip, bzip2 or xz.

Headers are checked one by one as the stream reaches them (member count,
running total, ratio of declared sizes to the compressed archive); a member
that outgrows its header fails while it is read. ``tarfile`` ends quietly at
a damaged or truncated header, so where the listing stopped is looked at
afterwards and reported.
"""

from __future__ import annotations

import functools
import tarfile
from collections.abc import Iterator
from contextlib import ExitStack
from typing import IO, cast

from triage.errors import ArchiveError
from triage.ingest.expanders.base import (
    DECOMPRESSORS,
    EXPANDERS,
    MIB,
    ZIP_ERRORS,
    ArchiveLimits,
    Bounded,
    Budget,
    Expander,
    Expansion,
    Sniffed,
    Stream,
    is_tar,
    ratio_problem,
    sniff_source,
    source_size,
)
from triage.ingest.expanders.nesting import one_member
from triage.records import FileRecord, Skipped


class _Tail:
    """A sequential stream that remembers its most recent bytes, so the block
    where ``tarfile`` stopped listing can be looked at afterwards (tarfile
    ends quietly at a damaged or truncated header)."""

    def __init__(self, raw: Stream, keep: int = 1 << 16) -> None:
        self._raw, self._keep = raw, keep
        self._buf = bytearray()
        self._start = self.pos = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self._raw.read(size)
        self._buf += data
        self.pos += len(data)
        if len(self._buf) > self._keep:
            cut = len(self._buf) - self._keep
            del self._buf[:cut]
            self._start += cut
        return data

    def block(self, offset: int, size: int = 512) -> bytes | None:
        """The ``size`` bytes at ``offset`` if still remembered and complete."""
        if offset < self._start or offset + size > self.pos:
            return None
        at = offset - self._start
        return bytes(self._buf[at : at + size])


def _tar_end_problem(tail: _Tail, offset: int) -> str | None:
    """Why the tar did not end cleanly at ``offset`` (where listing stopped)."""
    block = tail.block(offset)
    if block is None:
        return f"tar truncated at byte {offset}; members after it are missing"
    if any(block):
        return f"damaged tar header at byte {offset}; members after it are not listed"
    drained = 0  # the rest should be zero padding; a compressed stream is verified
    while drained < 16 * MIB and (chunk := tail.read(MIB)):
        drained += len(chunk)
    return None


def _limit_problem(
    budget: Budget, declared: int, compressed: int, limits: ArchiveLimits
) -> str | None:
    """Why listing must stop at this member (budget spent, ratio), or None."""
    return budget.overspent(limits) or ratio_problem(declared, compressed, limits)


class TarExpander(Expander):
    """A tar, or a gzip/bzip2/xz stream whose content is a tar."""

    name = "tar"
    signatures = ("tar", *DECOMPRESSORS.names())

    def recognise(self, sniffed: Sniffed) -> bool:
        return sniffed.signature == "tar" or (
            sniffed.signature in DECOMPRESSORS and is_tar(sniffed.inner)
        )

    def members(self, job: Expansion) -> Iterator[FileRecord | Skipped]:
        source, limits, budget = job.source, job.limits, job.budget
        compressed = source_size(source)
        declared = 0
        seen: set[str] = set()
        decompressor: Stream | None = None
        try:
            compression = sniff_source(source).signature
            if compression in DECOMPRESSORS:
                decompressor = DECOMPRESSORS.get(compression)(source)
            tail = _Tail(decompressor or source)
            stream_io = cast(IO[bytes], tail)  # stream mode only calls read()
            with tarfile.open(fileobj=stream_io, mode="r|") as archive:
                for info in archive:
                    if not info.isfile():
                        continue  # folders, links, devices: no content of their own
                    name = info.name
                    repeated = job.repeated(name, seen, "first")
                    if repeated is not None:
                        yield repeated
                        continue
                    budget.members -= 1
                    budget.size -= info.size
                    declared += info.size
                    problem = _limit_problem(budget, declared, compressed, limits)
                    if problem is not None:
                        yield job.skip(problem)
                        return
                    stream = archive.extractfile(info)
                    if stream is None:
                        continue
                    opener = functools.partial(Bounded, stream, info.size, name)
                    yield from one_member(
                        job, name, info.size, float(info.mtime), opener
                    )
                end_problem = _tar_end_problem(tail, archive.offset)
        except ZIP_ERRORS as exc:
            yield job.skip(f"corrupt or unreadable tar: {exc}")
            return
        finally:
            if decompressor is not None:  # closes the decompressor, not ``source``
                decompressor.close()
        if end_problem is not None:
            yield job.skip(end_problem)

    def open_member(
        self, source: IO[bytes], name: str, limits: ArchiveLimits, stack: ExitStack
    ) -> tuple[Bounded, object | None]:
        compressed = source_size(source)
        tar = stack.enter_context(tarfile.open(fileobj=source, mode="r|*"))
        declared = 0
        for entry in tar:
            if not entry.isfile():
                continue
            declared += entry.size
            problem = ratio_problem(declared, compressed, limits)
            if problem is not None:
                raise ArchiveError(problem)
            if entry.name == name:
                stream = tar.extractfile(entry)
                if stream is None:
                    break
                return Bounded(stream, entry.size, name), None
        raise KeyError(f"there is no item named {name!r} in the archive")


EXPANDERS.register(TarExpander())
