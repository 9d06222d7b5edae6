"""Deleted files the walk reads whole: no search for a carved JPEG's rest.

A deleted NTFS file keeps its data runs in its MFT record, so the walk
(``iter_files``) reads it through the file system however many pieces it
lies in, and lists it with its bytes. Carving the free space then meets the
same picture's first piece, which breaks where its free run ends; finding
its rest by decoding (``bifragment``'s Python search: ~37 ms for a 1280x960
picture) would only give again what the file system already gives, or
nothing at all when the file lies in three pieces or more.

The rule: the Python join search is skipped for a broken carved JPEG at
offset S when a deleted file listed on the same partition (sniffed as JPEG,
not a reallocated name)

1. has data runs from its own record whose first run starts at S,
2. is longer than that first run (its record says where it goes on), and
3. read through the file system, ends with an end-of-image marker and
   decodes to every MCU its frame header counts without an error (FFmpeg,
   ``jpeg_whole.decodes_every_mcu``: one decode, ~5 ms for 1280x960).

Condition 3 is what keeps a picture from being lost when the record's runs
are wrong: NTFS reuses the clusters of a deleted file, so a run may now
hold another file's bytes (or the carved picture may be a later file
written over the first one's clusters, whose own record is gone); then the
record's read does not decode and the search runs as before. FAT keeps no
runs for a deleted file (Sleuth Kit assumes its clusters follow on, one
run as long as the file), so condition 2 leaves it out. The carved item is
still reported as carving found it (the partial first piece), its note
naming the deleted file that holds the whole picture. When the record
puts the picture in two pieces, the quick way (``bifragment``: FFmpeg's
check of joins at hole starts) still runs, so a join it finds is reported
as before; in three pieces or more (runs that follow on from each other
count as one), no join of two pieces can be the picture, and it does not.
"""

from __future__ import annotations

from collections.abc import Iterable

from triage.errors import EvidenceError, FilesystemError
from triage.ingest.carvers.base import MAX_JPEG
from triage.ingest.content import read_record, record_extents
from triage.ingest.evidence import DeviceHandle
from triage.ingest.jpeg_whole import decodes_every_mcu
from triage.records import FileRecord, Source

__all__ = ["DeletedJpegs", "may_cover"]

_JPEG = "image/jpeg"


def may_cover(record: FileRecord) -> bool:
    """Whether a listed record is one the rule looks at: a deleted JPEG file
    of the file system with an address of its own (not a reallocated name,
    not an archive member), no larger than the largest JPEG carving follows:
    its size comes from the record, and the rule reads it whole."""
    return (
        record.source is Source.FILESYSTEM
        and record.deleted
        and not record.reallocated
        and not record.archive_path
        and record.inode is not None
        and record.media_type == _JPEG
        and 0 < record.size <= MAX_JPEG
    )


class DeletedJpegs:
    """The deleted JPEG files of one partition, looked up by where their
    first data run starts (their runs read once, at the first lookup)."""

    def __init__(self, handle: DeviceHandle, records: Iterable[FileRecord]) -> None:
        self._handle = handle
        self._records = [r for r in records if may_cover(r)]
        self._by_start: dict[int, list[tuple[FileRecord, int]]] | None = None

    def __bool__(self) -> bool:
        return bool(self._records)

    def _index(self) -> dict[int, list[tuple[FileRecord, int]]]:
        if self._by_start is None:
            self._by_start = {}
            for record in self._records:
                try:
                    runs = record_extents(self._handle, record)
                except (FilesystemError, EvidenceError, OSError):
                    continue  # the walk's own read of it reports the error
                if runs and record.size > runs[0][1] - runs[0][0]:
                    entry = (record, _pieces(runs, record.size))
                    self._by_start.setdefault(runs[0][0], []).append(entry)
        return self._by_start

    def claimed_at(self, start: int) -> int | None:
        """The most pieces the records whose runs start at ``start`` put
        their files in; None when there is no such record. Their runs only:
        nothing is read or decoded (``whole_at`` checks)."""
        found = self._index().get(start)
        return max(pieces for _, pieces in found) if found else None

    def whole_at(self, start: int) -> tuple[FileRecord, int] | None:
        """The deleted file whose record's runs start at ``start`` and whose
        read through the file system decodes whole (the rule above), and
        into how many pieces its runs put it (runs that follow on from each
        other are one piece); None when there is none."""
        for record, pieces in self._index().get(start, ()):
            try:
                data = read_record(self._handle, record)
            except (FilesystemError, EvidenceError, OSError):
                continue
            if decodes_every_mcu(data):
                return record, pieces
        return None


def _pieces(runs: list[tuple[int, int]], size: int) -> int:
    """How many separate pieces of the device the first ``size`` bytes of
    ``runs`` lie in (a run that starts where the one before ends goes on
    the same piece)."""
    pieces, end, left = 0, None, size
    for lo, hi in runs:
        if left <= 0:
            break
        if lo != end:
            pieces += 1
        end, left = hi, left - (hi - lo)
    return pieces
