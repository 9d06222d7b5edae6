"""What every thumbnail-cache expander shares: pictures cut out of one file.

A cache (thumbcache_*.db, Thumbs.db, Android .thumbdata and imgcache) is not
an archive: its members are byte ranges of the file (or of one of its OLE
streams) that a parser finds. A ``PictureCache`` subclass only says where
they are (``scan``: ``Cut`` records in file order, and a ``Problem`` for each
part it cannot read); this base turns them into members with
``source=THUMBNAIL_CACHE`` (or the ``Cut``'s own source), counts them
against the archive limits, and cuts one out again by its address for the
read-back (the parsed cuts are the index the read-back cache keeps).
"""

from __future__ import annotations

import dataclasses
import functools
import io
from abc import abstractmethod
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO

from triage.errors import ArchiveError
from triage.ingest.expanders.base import (
    ArchiveLimits,
    Bounded,
    Expander,
    Expansion,
)
from triage.ingest.expanders.nesting import one_member
from triage.records import FileRecord, Skipped, Source

#: The largest thumbnail cut out of a cache (a 2560 px BMP is 26 MB).
MAX_THUMBNAIL = 32 << 20


@dataclass(frozen=True, slots=True)
class Cut:
    """One picture in a cache: its address (``name``) and where its bytes are:
    ``size`` bytes at ``offset`` of the file, or of the OLE ``stream``.
    ``data``: the bytes, when the parser had to read them anyway (never kept
    in the read-back index)."""

    name: str
    offset: int
    size: int
    stream: str | None = None
    #: Where the bytes lie in the file when not in one run: (offset, length)
    #: pieces, in order (an OLE stream's sectors).
    pieces: tuple[tuple[int, int], ...] = ()
    data: bytes | None = dataclasses.field(default=None, repr=False, compare=False)
    #: How the picture was found: kept by the cache (a thumbnail), or
    #: ``EMBEDDED`` (found by signature in an OLE document's stream).
    source: Source = Source.THUMBNAIL_CACHE


@dataclass(frozen=True, slots=True)
class Problem:
    """A part of the cache not read: at ``where`` (an entry; None: the file)."""

    where: str | None
    reason: str


class PictureCache(Expander):
    """A file whose members are pictures cut out of it (see the module doc)."""

    inner = True

    @abstractmethod
    def scan(self, source: IO[bytes]) -> Iterator[Cut | Problem]:
        """Every picture of the cache in ``source``, and every problem met."""

    def read_cut(self, source: IO[bytes], cut: Cut) -> bytes:
        """The bytes of one cut (``scan`` checked they lie inside the file).

        Raises:
            ArchiveError: they do not (the file changed, or a stream is short).
        """
        data = b""
        for offset, length in cut.pieces or ((cut.offset, cut.size),):
            source.seek(offset)
            data += source.read(length)
        if len(data) != cut.size:
            raise ArchiveError(
                f"{cut.name}: only {len(data)} of {cut.size} bytes in the file"
            )
        return data

    def _open_cut(self, source: IO[bytes], cut: Cut) -> Bounded:
        if cut.size > MAX_THUMBNAIL:
            raise ArchiveError(
                f"{cut.name}: {cut.size} bytes, over the {MAX_THUMBNAIL}-byte "
                "limit for a thumbnail; not read"
            )
        data = self.read_cut(source, cut) if cut.data is None else cut.data
        return Bounded(io.BytesIO(data), cut.size, cut.name)

    def members(self, job: Expansion) -> Iterator[FileRecord | Skipped]:
        source, budget, limits = job.source, job.budget, job.limits
        depth = len(job.record.archive_path) + 1
        for found in self.scan(source):
            if isinstance(found, Problem):
                yield job.skip(found.reason, *_parts(found.where))
                continue
            if budget.members <= 0 or budget.size < found.size:
                yield job.skip(
                    f"more pictures than the limit of {limits.max_members} members "
                    f"or {limits.max_total_size} bytes; the rest not read"
                )
                return
            budget.members -= 1
            budget.size -= found.size
            opener = functools.partial(self._open_cut, source, found)
            for item in one_member(job, found.name, found.size, None, opener):
                if isinstance(item, FileRecord) and len(item.archive_path) == depth:
                    item = dataclasses.replace(item, source=found.source)
                yield item

    def _index(self, source: IO[bytes]) -> dict[str, Cut]:
        return {
            c.name: dataclasses.replace(c, data=None)
            for c in self.scan(source)
            if isinstance(c, Cut)
        }

    def open_member(
        self, source: IO[bytes], name: str, limits: ArchiveLimits, stack: ExitStack
    ) -> tuple[Bounded, object | None]:
        index = self._index(source)
        if name not in index:
            raise KeyError(f"no picture {name!r} in the cache")
        return self._open_cut(source, index[name]), index

    def open_indexed(
        self, source: IO[bytes], index: object, name: str, limits: ArchiveLimits
    ) -> Bounded | None:
        if not isinstance(index, dict) or not isinstance(index.get(name), Cut):
            return None
        return self._open_cut(source, index[name])


def _parts(where: str | None) -> tuple[str, ...]:
    return () if where is None else (where,)
