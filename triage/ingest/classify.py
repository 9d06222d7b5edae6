"""Sniff each file's content type and expand the archives among them.

A file costs one read of :data:`~triage.ingest.media.SNIFF_BYTES` (a
non-media file is never read in full, except a binary file no signature names:
the in-file signature scan, ``expanders.signature_scan``, searches it for
whole JPEGs and PNGs, up to its size limit). Media get ``media_type`` set; a zip is
yielded and then its members (already classified, nested zips walked, bombs
reported) through :mod:`triage.ingest.archives` over a seekable read-only view
of its bytes; other archive formats are recognised and reported as not
expanded (with the reason their ``EXPANDERS`` entry gives), so an examiner
knows they are there. Any file whose signature an expander takes is walked the
same way: the inner sources (a JPEG's EXIF thumbnail, a PDF's images, an
SQLite database's BLOBs, and any file no signature names: the in-file
signature scan) are expanders too, and their items come out as
``Source.EMBEDDED`` members.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator

from triage.errors import ArchiveError, EvidenceError
from triage.ingest.archives import DEFAULT_LIMITS, ArchiveLimits, iter_members
from triage.ingest.content import open_record, read_record, record_unreadable
from triage.ingest.evidence import DeviceHandle
from triage.ingest.expanders import expandable, not_expanded_reason
from triage.ingest.expanders.base import UNRECOGNISED, worth_expanding
from triage.ingest.media import ARCHIVE, SNIFF_BYTES, identify, is_media, sniff
from triage.records import FileRecord, Skipped, Stage


def _skip(record: FileRecord, reason: str) -> Skipped:
    return Skipped.at_file(record, Stage.INGEST, reason)


def classify(
    handle: DeviceHandle,
    records: Iterable[FileRecord | Skipped],
    *,
    archives: bool = True,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> Iterator[FileRecord | Skipped]:
    """Each record with ``media_type`` from its content, plus archive members.

    ``Skipped`` records pass through, and so do reallocated names, unread. A
    file that cannot be read is yielded unclassified, followed by a
    ``Skipped`` saying why. ``archives=False``
    leaves zips unexpanded (they are still yielded), and inner sources too;
    ``limits.expanders_off`` names expanders not used (no skip is recorded
    for a file only they would have opened).
    """
    for item in records:
        if isinstance(item, Skipped) or item.size == 0 or item.reallocated:
            # A reallocated name's bytes are another file's, which is listed
            # (and classified) under its own name.
            yield item
            continue
        try:
            header = read_record(handle, item, limit=SNIFF_BYTES)
            unreadable = record_unreadable(handle, item, len(header))
        except (EvidenceError, ArchiveError) as exc:
            yield item
            yield _skip(item, f"unreadable, not classified: {exc}")
            continue
        if unreadable:
            yield item
            yield _skip(
                item,
                "its first bytes lie in what the image cannot give ("
                + ", ".join(map(str, unreadable))
                + "), which reads as zeros: its type cannot be told",
            )
            continue
        mime = sniff(header)
        record = dataclasses.replace(item, media_type=mime if is_media(mime) else None)
        yield record
        signature = identify(header)
        name = UNRECOGNISED if signature is None else signature.name
        if expandable(name):
            off = limits.expanders_off
            if archives and worth_expanding(name, header, record.size, off):
                yield from _expand(handle, record, limits)
        elif signature is not None and signature.kind == ARCHIVE:
            yield _skip(record, not_expanded_reason(signature.name))


def _expand(
    handle: DeviceHandle, record: FileRecord, limits: ArchiveLimits
) -> Iterator[FileRecord | Skipped]:
    try:
        with open_record(handle, record) as source:
            yield from iter_members(source, record, limits)
    except EvidenceError as exc:  # the device failed under the zip reader
        yield _skip(record, f"archive unreadable: {exc}")
