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
it decompresses it. A scan reads the media members of an archive in order, so
a solid archive of n pictures costs up to n passes over its solid block,
each bounded by the same limits.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import IO, Any

import libarchive
from libarchive import ffi
from libarchive.read import ArchiveRead, new_archive_read

from triage.errors import ArchiveError
from triage.ingest.expanders.base import (
    EXPANDERS,
    ArchiveLimits,
    Bounded,
    Budget,
    Expander,
    member_record,
    member_where,
    ratio_problem,
    skip,
    source_size,
)
from triage.ingest.expanders.nesting import one_member
from triage.ingest.expanders.rar_headers import RarFacts, rar_facts
from triage.records import FileRecord, Skipped

_BLOCK = 1 << 16
_ARCHIVE_FATAL = -30

_is_data_encrypted = ffi.ffi("entry_is_data_encrypted", [ctypes.c_void_p], ctypes.c_int)


class _Failed(Exception):
    """A libarchive call failed; ``reason`` in words for a Skipped."""

    def __init__(self, reason: str, encrypted: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.encrypted = reason, encrypted


def _failure(exc: libarchive.ArchiveError, caught: list[BaseException]) -> _Failed:
    """What a libarchive error means; an error of the source itself (raised
    inside a callback, e.g. an evidence read) is raised again as it was."""
    if caught:
        raise caught[0] from exc
    message = str(getattr(exc, "msg", None) or "unreadable")
    return _Failed(message, encrypted="encrypt" in message.lower())


@contextmanager
def _reading(source: IO[bytes], format_name: str) -> Iterator[tuple[Any, list]]:
    """libarchive reading ``source`` through callbacks: the archive pointer
    and the list that catches the source's own exceptions."""
    caught: list[BaseException] = []
    buffer = ctypes.create_string_buffer(_BLOCK)
    address = ctypes.cast(buffer, ctypes.c_void_p)

    def read(_archive: int, _context: int, out: Any) -> int:
        try:
            data = source.read(_BLOCK)
        except BaseException as exc:  # noqa: BLE001  (raised again after the call)
            caught.append(exc)
            return _ARCHIVE_FATAL
        ctypes.memmove(buffer, data, len(data))
        ctypes.cast(out, ctypes.POINTER(ctypes.c_void_p))[0] = address
        return len(data)

    def seek(_archive: int, _context: int, offset: int, whence: int) -> int:
        try:
            return source.seek(offset, whence)
        except BaseException as exc:  # noqa: BLE001
            caught.append(exc)
            return _ARCHIVE_FATAL

    # The callbacks must outlive the archive: kept in this frame.
    read_cb, seek_cb = ffi.READ_CALLBACK(read), ffi.SEEK_CALLBACK(seek)
    source.seek(0)
    with new_archive_read(format_name, "none") as archive_p:
        ffi.read_set_seek_callback(archive_p, seek_cb)
        try:
            ffi.read_open(archive_p, None, ffi.NO_OPEN_CB, read_cb, ffi.NO_CLOSE_CB)
        except libarchive.ArchiveError as exc:
            raise _failure(exc, caught) from exc
        yield archive_p, caught


class _EntryStream:
    """The current entry's data, read through libarchive."""

    def __init__(self, archive_p: Any, caught: list[BaseException]) -> None:
        self._archive_p, self._caught = archive_p, caught

    def read(self, size: int = -1, /) -> bytes:
        size = _BLOCK if size < 0 else min(size, 1 << 24)
        buffer = ctypes.create_string_buffer(size)
        try:
            got = ffi.read_data(self._archive_p, buffer, size)
        except libarchive.ArchiveError as exc:
            failed = _failure(exc, self._caught)
            raise ArchiveError(failed.reason) from exc
        return buffer.raw[:got]

    def close(self) -> None:
        """The archive is closed by its reader; the rest is skipped there."""


def _entries(archive_p: Any, caught: list[BaseException]) -> Iterator[Any]:
    """The archive's regular-file entries; a libarchive error as ``_Failed``."""
    entries = iter(ArchiveRead(archive_p))
    while True:
        try:
            entry = next(entries)
        except StopIteration:
            return
        except libarchive.ArchiveError as exc:
            raise _failure(exc, caught) from exc
        if entry.isreg:
            yield entry


def _limit_problem(budget: Budget, limits: ArchiveLimits) -> str | None:
    if budget.members < 0:
        return (
            f"more than {limits.max_members} members (possible bomb); "
            "the rest is not expanded"
        )
    if budget.size < 0:
        return (
            f"members declare more than {limits.max_total_size} bytes "
            "expanded (possible bomb); the rest is not expanded"
        )
    return None


ENCRYPTED_MEMBER = "encrypted: member content is encrypted; no password is asked for"


class LibarchiveExpander(Expander):
    """An archive format libarchive reads (see the module docstring)."""

    #: libarchive's format name.
    format_name: str

    def facts(self, source: IO[bytes]) -> RarFacts | None:
        """What the format's own headers say beyond libarchive (RAR only)."""
        return None

    def refusal(self, facts: RarFacts | None) -> str | None:
        """Why the whole archive is not read, or None."""
        return None

    def _format(self, facts: RarFacts | None) -> str:
        return self.format_name

    def members(
        self,
        source: IO[bytes],
        record: FileRecord,
        limits: ArchiveLimits,
        budget: Budget,
    ) -> Iterator[FileRecord | Skipped]:
        where = member_where(record)
        facts = self.facts(source)
        refusal = self.refusal(facts)
        if refusal is not None:
            yield skip(record, where, refusal)
            return
        compressed = source_size(source)
        last: str | None = None
        try:
            with _reading(source, self._format(facts)) as (archive_p, caught):
                listed = self._list(
                    archive_p, caught, record, facts, limits, budget, compressed
                )
                for item in listed:
                    if isinstance(item, str):
                        last = item
                        continue
                    yield item
        except _Failed as failed:
            yield self._damage(record, last, failed)

    def _list(
        self,
        archive_p: Any,
        caught: list[BaseException],
        record: FileRecord,
        facts: RarFacts | None,
        limits: ArchiveLimits,
        budget: Budget,
        compressed: int,
    ) -> Iterator[FileRecord | Skipped | str]:
        """The members (and each member's name, as a ``str``, once read)."""
        seen: set[str] = set()
        declared = 0
        for entry in _entries(archive_p, caught):
            name = entry.pathname
            if name in seen:
                yield skip(
                    record,
                    member_where(record, name),
                    "duplicate member name; only the first copy is addressable",
                )
                continue
            seen.add(name)
            size = entry.size if entry.size is not None else max(budget.size, 0)
            budget.members -= 1
            budget.size -= size
            declared += size
            problem = _limit_problem(budget, limits) or ratio_problem(
                declared, compressed, limits
            )
            if problem is not None:
                yield skip(record, member_where(record), problem)
                return
            mtime = None if entry.mtime is None else float(entry.mtime)
            if self._encrypted(entry, facts, name):
                yield member_record(record, name, size, mtime, None)
                yield skip(record, member_where(record, name), ENCRYPTED_MEMBER)
                yield name
                continue
            opener = functools.partial(
                Bounded, _EntryStream(archive_p, caught), size, name
            )
            yield from one_member(record, name, size, mtime, opener, limits, budget)
            yield name

    @staticmethod
    def _encrypted(entry: Any, facts: RarFacts | None, name: str) -> bool:
        return bool(_is_data_encrypted(entry._entry_p)) or (
            facts is not None and name in facts.encrypted
        )

    def _damage(self, record: FileRecord, last: str | None, failed: _Failed) -> Skipped:
        """The Skipped for a failure while listing, after member ``last``."""
        if failed.encrypted:
            reason = (
                f"encrypted: {self.name} headers are encrypted ({failed.reason}); "
                "members not listed, no password is asked for"
            )
            return skip(record, member_where(record), reason)
        if last is None:
            reason = f"damaged or truncated {self.name} archive: {failed.reason}"
            return skip(record, member_where(record), reason)
        reason = (
            f"damaged or truncated {self.name} archive after this member: "
            f"{failed.reason}; the members after it are not listed"
        )
        return skip(record, member_where(record, last), reason)

    def open_member(
        self, source: IO[bytes], name: str, limits: ArchiveLimits, stack: ExitStack
    ) -> tuple[Bounded, object | None]:
        facts = self.facts(source)
        refusal = self.refusal(facts)
        if refusal is not None:
            raise ArchiveError(refusal)
        compressed = source_size(source)
        try:
            archive_p, caught = stack.enter_context(
                _reading(source, self._format(facts))
            )
            declared = 0
            for entry in _entries(archive_p, caught):
                size = entry.size or 0
                declared += size
                problem = ratio_problem(declared, compressed, limits)
                if problem is not None:
                    raise ArchiveError(problem)
                if entry.pathname != name:
                    continue
                if self._encrypted(entry, facts, name):
                    raise ArchiveError(ENCRYPTED_MEMBER)
                return Bounded(_EntryStream(archive_p, caught), size, name), None
        except _Failed as failed:
            raise ArchiveError(f"{self.name}: {failed.reason}") from failed
        raise KeyError(f"there is no item named {name!r} in the archive")


class SevenZipExpander(LibarchiveExpander):
    """A 7z archive."""

    name = "7z"
    signatures = ("7z",)
    format_name = "7zip"


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
