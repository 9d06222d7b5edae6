"""7z and RAR (RAR4 and RAR5) archives, read through libarchive.

libarchive (``libarchive-c`` over the system ``libarchive13``) reads the
archive from the seekable source through read and seek callbacks: nothing is
copied to a temporary file. libarchive has no limits of its own, so they are
counted here while the headers stream past (members, declared bytes, the
ratio of declared bytes to the archive's size, depth through ``nesting``),
and each member is bounded by its declared size while it is read.

An encrypted member or encrypted headers are a ``Skipped`` "encrypted" (no
password is ever asked for); one volume of a multi-volume RAR is not
expanded (``rar_headers`` tells, since libarchive would read a cut member as
empty); a damaged header or a truncated archive is a ``Skipped`` naming the
last member read, and the members before it are kept.

Reading a member back (``open_member``) walks the headers from the start:
for a non-solid archive that seeks over the data before it, for a solid one
it decompresses it. So that reading n members of a solid archive one by one
is not n walks (quadratic: 40 s for 200 pictures in a 3.5 MB solid 7z), the
walk is kept, as the read-back cache's index, as a ``_Cursor`` left after
the member read: a scan asks for an archive's members in archive order, and
each read carries on from there (one pass in all). Out of order, or while
another thread holds it, a read walks from the start again: never wrong,
only slower. At most ``MAX_CURSORS`` per process hold libarchive's state.
"""

from __future__ import annotations

import functools
import io
import re
import struct
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import ExitStack
from typing import IO, Any

from triage.errors import ArchiveError
from triage.ingest.expanders.base import (
    EXPANDERS,
    ArchiveLimits,
    Bounded,
    Expander,
    Expansion,
    member_record,
    ratio_problem,
    source_size,
)
from triage.ingest.expanders.libarchive_reading import (
    Failed,
    Reading,
    is_data_encrypted,
)
from triage.ingest.expanders.nesting import one_member
from triage.ingest.expanders.rar_headers import RarFacts, rar_facts
from triage.records import FileRecord, Skipped

ENCRYPTED_MEMBER = "encrypted: member content is encrypted; no password is asked for"

#: Read-back cursors kept alive per process (each holds libarchive's state,
#: a solid block's dictionary included: tens of MiB at most each).
MAX_CURSORS = 4
_CURSORS: OrderedDict[int, _Cursor] = OrderedDict()
_CURSORS_LOCK = threading.Lock()


class _Cursor:
    """A reading of one archive left just after the member last read back.

    The scan reads an archive's media members one by one, in archive order:
    each read carries on from here (over the caller's fresh file of the same
    bytes) instead of walking the archive from its start, which for a solid
    archive would decompress everything before the member again. One reader
    at a time: busy, passed (a member already behind it) or evicted, it
    declines and the caller walks from the start.
    """

    def __init__(self, reading: Reading, facts: RarFacts | None) -> None:
        self.reading, self.facts = reading, facts
        self.passed: set[str] = set()
        self.declared = 0
        self.lock = threading.Lock()
        with _CURSORS_LOCK:
            _CURSORS[id(self)] = self
            while len(_CURSORS) > MAX_CURSORS:
                _, old = _CURSORS.popitem(last=False)
                old.evict()

    def _release(self) -> None:
        """Done with the caller's file: let it go, and the cursor with it."""
        self.reading.feed.source = io.BytesIO()
        self.lock.release()

    def evict(self) -> None:
        """Free libarchive's state now, unless a member is being read."""
        if self.lock.acquire(blocking=False):
            self.reading.close()
            self.lock.release()

    def open(
        self,
        source: IO[bytes],
        name: str,
        limits: ArchiveLimits,
        encrypted: Any,
    ) -> Bounded | None:
        """A reader of member ``name`` from where the cursor is, or None."""
        if not self.lock.acquire(blocking=False):
            return None
        try:
            if self.reading.closed or name in self.passed:
                self._release()
                return None
            self.reading.feed.source = source
            compressed = source_size(source)
            for entry in self.reading.entries():
                size = entry.size or 0
                self.declared += size
                self.passed.add(entry.pathname)
                problem = ratio_problem(self.declared, compressed, limits)
                if problem is not None:
                    raise ArchiveError(problem)
                if entry.pathname != name:
                    continue
                if encrypted(entry, self.facts, name):
                    raise ArchiveError(ENCRYPTED_MEMBER)
                return Bounded(self.reading.stream(self._release), size, name)
        except Failed as failed:
            self._release()
            raise ArchiveError(failed.reason) from failed
        except BaseException:
            self._release()
            raise
        self._release()
        return None  # not after the cursor: a walk from the start says so


class LibarchiveExpander(Expander):
    """An archive format libarchive reads (see the module docstring)."""

    #: libarchive's format name.
    format_name: str
    #: Read members through rather than skip them (``Reading``'s ``drain``).
    drain: bool = False

    def facts(self, source: IO[bytes]) -> RarFacts | None:
        """What the format's own headers say beyond libarchive (RAR only)."""
        return None

    def refusal(self, facts: RarFacts | None) -> str | None:
        """Why the whole archive is not read, or None."""
        return None

    def _format(self, facts: RarFacts | None) -> str:
        return self.format_name

    def members(self, job: Expansion) -> Iterator[FileRecord | Skipped]:
        facts = self.facts(job.source)
        refusal = self.refusal(facts)
        if refusal is not None:
            yield job.skip(refusal)
            return
        last: str | None = None
        try:
            with Reading(job.source, self._format(facts), drain=self.drain) as reading:
                for item in self._list(reading, job, facts):
                    if isinstance(item, str):
                        last = item
                        continue
                    yield item
        except Failed as failed:
            yield self._damage(job, last, failed)

    def _list(
        self, reading: Reading, job: Expansion, facts: RarFacts | None
    ) -> Iterator[FileRecord | Skipped | str]:
        """The members (and each member's name, as a ``str``, once read)."""
        limits, budget = job.limits, job.budget
        compressed = source_size(job.source)
        seen: set[str] = set()
        declared = 0
        for entry in reading.entries():
            name = entry.pathname
            repeated = job.repeated(name, seen, "first")
            if repeated is not None:
                yield repeated
                continue
            size = entry.size if entry.size is not None else max(budget.size, 0)
            budget.members -= 1
            budget.size -= size
            declared += size
            problem = budget.overspent(limits) or ratio_problem(
                declared, compressed, limits
            )
            if problem is not None:
                yield job.skip(problem)
                return
            mtime = None if entry.mtime is None else float(entry.mtime)
            if self._encrypted(entry, facts, name):
                yield member_record(job.record, name, size, mtime, None)
                yield job.skip(ENCRYPTED_MEMBER, name)
                yield name
                continue
            opener = functools.partial(Bounded, reading.stream(), size, name)
            yield from one_member(job, name, size, mtime, opener)
            yield name

    @staticmethod
    def _encrypted(entry: Any, facts: RarFacts | None, name: str) -> bool:
        return bool(is_data_encrypted(entry._entry_p)) or (
            facts is not None and name in facts.encrypted
        )

    def _damage(self, job: Expansion, last: str | None, failed: Failed) -> Skipped:
        """The Skipped for a failure while listing, after member ``last``."""
        if failed.encrypted:
            return job.skip(
                f"encrypted: {self.name} headers are encrypted ({failed.reason}); "
                "members not listed, no password is asked for"
            )
        if last is None:
            return job.skip(
                f"damaged or truncated {self.name} archive: {failed.reason}"
            )
        return job.skip(
            f"damaged or truncated {self.name} archive after this member: "
            f"{failed.reason}; the members after it are not listed",
            last,
        )

    def open_member(
        self, source: IO[bytes], name: str, limits: ArchiveLimits, stack: ExitStack
    ) -> tuple[Bounded, object | None]:
        """Walk from the start to ``name``; the reading, left there, is the
        index the read-back cache keeps (a ``_Cursor``)."""
        facts = self.facts(source)
        refusal = self.refusal(facts)
        if refusal is not None:
            raise ArchiveError(refusal)
        try:
            reading = Reading(source, self._format(facts), drain=self.drain)
        except Failed as failed:
            raise ArchiveError(f"{self.name}: {failed.reason}") from failed
        cursor = _Cursor(reading, facts)
        try:
            found = cursor.open(source, name, limits, self._encrypted)
        except BaseException:
            reading.close()
            raise
        if found is None:
            reading.close()
            raise KeyError(f"there is no item named {name!r} in the archive")
        return found, cursor

    def open_indexed(
        self, source: IO[bytes], index: object, name: str, limits: ArchiveLimits
    ) -> Bounded | None:
        if not isinstance(index, _Cursor):
            return None
        return index.open(source, name, limits, self._encrypted)


class SevenZipExpander(LibarchiveExpander):
    """A 7z archive; the first part of a split one (``x.7z.001``) is not
    expanded (the rest of it is in files the scan cannot join)."""

    name = "7z"
    signatures = ("7z",)
    format_name = "7zip"
    drain = True

    def members(self, job: Expansion) -> Iterator[FileRecord | Skipped]:
        name = job.record.archive_path[-1] if job.record.archive_path else None
        split = split_7z_part(job.source, name or job.record.path)
        if split is not None:
            yield job.skip(split)
            return
        yield from super().members(job)


_SPLIT_PART = re.compile(r"\.0*1$")


def split_7z_part(source: IO[bytes], name: str) -> str | None:
    """Why a 7z is not expanded when it is the first part of a split archive
    (named ``*.001`` and its end header lies past the file's end), or None."""
    if _SPLIT_PART.search(name) is None:
        return None
    source.seek(0)
    head = source.read(32)
    size = source_size(source)
    if len(head) < 32:
        return None
    offset, length = struct.unpack_from("<QQ", head, 12)
    end = 32 + offset + length
    if end <= size:
        return None
    return (
        f"first part of a split 7z archive (its header lies at byte {end}, past "
        f"this part's {size} bytes); parts are not joined, so it is not expanded"
    )


class RarExpander(LibarchiveExpander):
    """A RAR archive, RAR4 (1.5-4.x) or RAR5; one volume of several is not
    expanded (its members may continue in files the scan cannot join)."""

    name = "rar"
    signatures = ("rar",)
    format_name = "rar"

    def facts(self, source: IO[bytes]) -> RarFacts | None:
        return rar_facts(source)

    def refusal(self, facts: RarFacts | None) -> str | None:
        if facts is not None and facts.volume:
            return (
                f"one volume of a multi-volume RAR{facts.version} archive; "
                "volumes are not joined, so it is not expanded"
            )
        if facts is not None and facts.headers_encrypted:
            return (
                f"encrypted: RAR{facts.version} headers are encrypted; members "
                "not listed, no password is asked for"
            )
        return None

    def _format(self, facts: RarFacts | None) -> str:
        return "rar5" if facts is not None and facts.version == 5 else "rar"


EXPANDERS.register(SevenZipExpander())
EXPANDERS.register(RarExpander())
