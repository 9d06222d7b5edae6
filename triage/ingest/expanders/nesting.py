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
    UNRECOGNISED,
    ZIP_ERRORS,
    ArchiveLimits,
    Bounded,
    Budget,
    Expansion,
    expandable,
    expander_for,
    kind_of,
    member_record,
    not_expanded_reason,
    read_up_to,
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
    job = Expansion(source, record, limits, budget)
    if len(record.archive_path) >= limits.max_depth:
        yield _too_deep(job)
        return
    try:
        sniffed = sniff_source(source)
    except ArchiveError as exc:
        yield job.skip(str(exc))
        return
    expander = expander_for(sniffed, limits.expanders_off)
    if expander is None:
        kind = kind_of(sniffed, None)
        yield job.skip(f"{kind} archive recognised but not expanded")
        return
    yield from expander.members(job)


def _too_deep(job: Expansion, *member: str) -> Skipped:
    depth = job.limits.max_depth
    reason = f"archive nested deeper than {depth} levels; not expanded"
    return job.skip(reason, *member)


def one_member(
    job: Expansion,
    name: str,
    size: int,
    mtime: float | None,
    open_member: Callable[[], Bounded],
    source: Source = Source.ARCHIVE,
) -> Iterator[FileRecord | Skipped]:
    """Sniff one member of ``job``'s file, yield it, and walk it if it holds
    files itself (an archive, or a file an inner source expands: a JPEG, a
    PDF...)."""
    record = job.record
    try:
        reader = open_member()
    except ZIP_ERRORS + (ArchiveError,) as exc:
        yield member_record(record, name, size, mtime, None, source)
        yield job.skip(f"member unreadable: {exc}", name)
        return
    with reader:
        try:
            header = read_up_to(reader, SNIFF_BYTES)
        except ZIP_ERRORS + (ArchiveError,) as exc:
            yield member_record(record, name, size, mtime, None, source)
            yield job.skip(f"member unreadable: {exc}", name)
            return
        mime = sniff(header)
        member = member_record(record, name, size, mtime, mime, source)
        yield member
        signature = identify(header)
        kind = UNRECOGNISED if signature is None else signature.name
        if not expandable(kind):
            if signature is not None and signature.kind == ARCHIVE:
                yield job.skip(not_expanded_reason(kind), name)
            return
        if not worth_expanding(kind, header, size, job.limits.expanders_off):
            return
        if len(member.archive_path) >= job.limits.max_depth:
            if not member.is_media and signature is not None:
                # A picture's own thumbnails past the depth limit are not
                # looked for: the picture itself is listed and hashed; nor
                # is a file no signature names searched for pictures.
                yield _too_deep(job, name)
            return
        try:
            spool = spill(reader, job.limits, header)
        except ZIP_ERRORS + (ArchiveError,) as exc:
            yield job.skip(f"nested archive unreadable: {exc}", name)
            return
    with spool:
        yield from walk(spool, member, job.limits, job.budget)
