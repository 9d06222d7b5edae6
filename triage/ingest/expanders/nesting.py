"""Walk a file's members through the expanders, nested to a bounded depth.

``walk`` picks the expander for a file (``expander_for``) and lists its
members; each expander hands every member to ``one_member``, which sniffs it,
yields it, and walks it in turn when it is an archive itself, up to
``ArchiveLimits.max_depth`` levels. Nested archives are spilled to an
anonymous temporary file (in memory when small), never to the evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO, BinaryIO

from triage.errors import ArchiveError
from triage.ingest.expanders.base import (
    ZIP_ERRORS,
    ArchiveLimits,
    Bounded,
    Budget,
    expandable,
    expander_for,
    kind_of,
    member_record,
    member_where,
    not_expanded_reason,
    read_up_to,
    skip,
    sniff_source,
    spill,
    worth_expanding,
)
from triage.ingest.media import ARCHIVE, SNIFF_BYTES, identify, sniff
from triage.records import FileRecord, Skipped, Source


def walk(
    source: BinaryIO | IO[bytes],
    record: FileRecord,
    limits: ArchiveLimits,
    budget: Budget,
) -> Iterator[FileRecord | Skipped]:
    """The members of the archive ``record`` whose bytes ``source`` holds."""
    where = member_where(record)
    if len(record.archive_path) >= limits.max_depth:
        yield skip(
            record,
            where,
            f"archive nested deeper than {limits.max_depth} levels; not expanded",
        )
        return
    try:
        sniffed = sniff_source(source)
    except ArchiveError as exc:
        yield skip(record, where, str(exc))
        return
    expander = expander_for(sniffed)
    if expander is None:
        kind = kind_of(sniffed, None)
        yield skip(record, where, f"{kind} archive recognised but not expanded")
        return
    yield from expander.members(source, record, limits, budget)


def one_member(
    record: FileRecord,
    name: str,
    size: int,
    mtime: float | None,
    open_member: Callable[[], Bounded],
    limits: ArchiveLimits,
    budget: Budget,
    source: Source = Source.ARCHIVE,
) -> Iterator[FileRecord | Skipped]:
    """Sniff one member, yield it, and walk it if it holds files itself (an
    archive, or a file an inner source expands: a JPEG, a PDF...)."""
    where = member_where(record, name)
    try:
        reader = open_member()
    except ZIP_ERRORS + (ArchiveError,) as exc:
        yield member_record(record, name, size, mtime, None, source)
        yield skip(record, where, f"member unreadable: {exc}")
        return
    with reader:
        try:
            header = read_up_to(reader, SNIFF_BYTES)
        except ZIP_ERRORS + (ArchiveError,) as exc:
            yield member_record(record, name, size, mtime, None, source)
            yield skip(record, where, f"member unreadable: {exc}")
            return
        mime = sniff(header)
        member = member_record(record, name, size, mtime, mime, source)
        yield member
        signature = identify(header)
        if signature is None:
            return
        if not expandable(signature.name):
            if signature.kind == ARCHIVE:
                yield skip(record, where, not_expanded_reason(signature.name))
            return
        if not worth_expanding(signature.name, header):
            return
        if len(member.archive_path) >= limits.max_depth:
            if member.is_media:
                # A picture's own thumbnails past the depth limit: the
                # picture itself is listed and hashed; nothing else is lost.
                return
            yield skip(
                record,
                where,
                f"archive nested deeper than {limits.max_depth} levels; not expanded",
            )
            return
        try:
            spool = spill(reader, limits, header)
        except ZIP_ERRORS + (ArchiveError,) as exc:
            yield skip(record, where, f"nested archive unreadable: {exc}")
            return
    with spool:
        yield from walk(spool, member, limits, budget)
