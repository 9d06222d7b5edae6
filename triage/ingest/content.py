"""Read the bytes of a record: a filesystem file, a carved item or an archive member.

Filesystem files are opened by reference through their filesystem backend
(``Filesystem.open_file``: by inode, never by path, so deleted and orphan
files read as the backend can recover them; on NTFS a path ending in
":stream" reads that named stream). Carved items are a plain byte range of
the device, or the pieces ``carve_runs`` lists. Archive members re-open the
chain from the outermost archive through ``triage.ingest.archives``.

``open_record`` gives a seekable read-only file object over a filesystem file
or carved item, which the zip reader needs.
"""

from __future__ import annotations

import bisect
import dataclasses
import io
from collections.abc import Callable, Iterator

from triage.errors import FilesystemError
from triage.ingest.evidence import DeviceHandle, Unreadable
from triage.ingest.filesystems import open_filesystem
from triage.ingest.filesystems.base import RecordIO, record_where
from triage.records import FileRecord, Source

CHUNK = 1 << 20


def _range_reader(
    handle: DeviceHandle, record: FileRecord
) -> tuple[Callable[[int, int], bytes], int]:
    """A ``read(offset, size)`` over the outer bytes of ``record`` and its size."""
    if record.source is Source.CARVED or (
        record.carve_offset is not None and not record.archive_path
    ):
        if record.carve_offset is None:
            raise FilesystemError(
                f"{record_where(handle, record)}: carved item has no offset"
            )
        if record.carve_runs:
            return _runs_reader(handle, record.carve_runs), record.size
        base = record.carve_offset

        def read_carved(offset: int, size: int) -> bytes:
            return handle.read(base + offset, size)

        return read_carved, record.size
    if record.carve_offset is not None:
        raise FilesystemError(
            f"{record_where(handle, record)}: members of carved archives cannot "
            "be re-read"
        )
    if record.inode is None:
        raise FilesystemError(f"{record_where(handle, record)}: record has no inode")
    stream = open_filesystem(handle, record.partition_offset).open_file(record)
    return stream.read_at, stream.size


def _runs_reader(
    handle: DeviceHandle, runs: tuple[tuple[int, int], ...]
) -> Callable[[int, int], bytes]:
    """A ``read(offset, size)`` over the pieces ``runs`` (absolute (start,
    end) ranges) read one after the other."""
    starts = [0]
    for lo, hi in runs:
        starts.append(starts[-1] + hi - lo)

    def read_runs(offset: int, size: int) -> bytes:
        parts = []
        index = max(bisect.bisect_right(starts, offset) - 1, 0)
        while size > 0 and index < len(runs):
            lo, hi = runs[index]
            at = lo + offset - starts[index]
            data = handle.read(at, min(size, hi - at))
            parts.append(data)
            if len(data) < min(size, hi - at):
                break
            offset += len(data)
            size -= len(data)
            index += 1
        return b"".join(parts)

    return read_runs


def open_record(handle: DeviceHandle, record: FileRecord) -> io.BufferedReader:
    """A seekable binary file over a filesystem file or carved item.

    For an archive member this is the *outermost* archive's bytes.

    Raises:
        FilesystemError: the file cannot be opened (names device and path).
    """
    read, size = _range_reader(handle, record)
    return io.BufferedReader(RecordIO(read, size), buffer_size=CHUNK)


def iter_chunks(
    handle: DeviceHandle, record: FileRecord, chunk_size: int = CHUNK
) -> Iterator[bytes]:
    """The record's bytes in order, ``chunk_size`` at a time.

    Raises:
        FilesystemError: a filesystem read failed (names device and path).
        ArchiveError: an archive member could not be re-read.
    """
    if record.archive_path:
        from triage.ingest.archives import iter_member_chunks

        outer = dataclasses.replace(record, archive_path=(), source=Source.FILESYSTEM)
        yield from iter_member_chunks(
            lambda: open_record(handle, outer),
            record.archive_path,
            chunk_size=chunk_size,
            # One archive's members are read one by one: parse its directory
            # and extract its nested archives once, not once per member.
            cache_key=(record.evidence, outer.address),
        )
        return
    read, size = _range_reader(handle, record)
    offset = 0
    while offset < size:
        data = read(offset, min(chunk_size, size - offset))
        if not data:
            raise FilesystemError(
                f"{record_where(handle, record)}: only {offset} of {size} bytes "
                "readable"
            )
        offset += len(data)
        yield data


def read_record(
    handle: DeviceHandle, record: FileRecord, limit: int | None = None
) -> bytes:
    """The record's bytes (at most ``limit``): a header sniff or a whole file.

    A filesystem file or carved item is read in one call of its size (or of
    ``limit``), so its bytes are not copied again here (``join`` hands back a
    single piece as it is); an archive member is joined from its
    decompressed pieces."""
    whole = CHUNK if record.archive_path else max(CHUNK, record.size)
    chunk = whole if limit is None else max(1, min(whole, limit))
    parts: list[bytes] = []
    got = 0
    for data in iter_chunks(handle, record, chunk):
        parts.append(data)
        got += len(data)
        if limit is not None and got >= limit:
            break
    out = b"".join(parts)
    return out if limit is None else out[:limit]


def record_extents(
    handle: DeviceHandle, record: FileRecord
) -> list[tuple[int, int]] | None:
    """Where the record's bytes lie in the device: absolute (start, end) byte
    ranges, from the filesystem backend's data runs of the file (sparse runs
    left out); for an archive member, those of the
    outermost archive; for a carved item, its own range. None when a file has
    no runs (data stored inside the metadata, e.g. resident NTFS data).

    Raises:
        FilesystemError: the file cannot be opened.
    """
    if record.source is Source.CARVED or (
        record.carve_offset is not None and not record.archive_path
    ):
        if record.carve_runs:
            return list(record.carve_runs)
        base = record.carve_offset or 0
        return [(base, base + record.size)]
    if record.inode is None:
        return None
    return open_filesystem(handle, record.partition_offset).extents(record)


def record_unreadable(
    handle: DeviceHandle, record: FileRecord, head: int | None = None
) -> list[Unreadable] | None:
    """The parts of the record's bytes (or of its first ``head`` bytes) that
    the image cannot give: damaged E01 chunks found so far and acquisition
    gaps, clipped to the record. Empty at once when the device has neither
    (the common case, no lookup); None when the record's place cannot be told
    (no data runs)."""
    if not handle.has_unreadable():
        return []
    extents = record_extents(handle, record)
    if extents is None:
        return None
    if head is not None:
        cut, left = [], head
        for lo, hi in extents:
            if left <= 0:
                break
            cut.append((lo, min(hi, lo + left)))
            left -= hi - lo
        extents = cut
    return handle.unreadable_within(extents)
