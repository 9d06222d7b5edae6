"""Read the bytes of a record: a filesystem file, a carved item or an archive member.

Filesystem files are opened by inode (``FS_Info.open_meta``), never by path,
so deleted and orphan files read exactly as Sleuth Kit can recover them
(``icat`` gives the same bytes). On NTFS a record whose path ends in
":stream" reads that named stream. Carved items are a plain byte range of the
device. Archive members re-open the chain from the outermost archive through
``triage.ingest.archives``.

``open_record`` gives a seekable read-only file object over a filesystem file
or carved item, which the zip reader needs.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable, Iterator
from typing import Any

from triage.errors import FilesystemError
from triage.ingest.evidence import DeviceHandle, Unreadable
from triage.ingest.volumes import failure, open_filesystem
from triage.ingest.walk import ntfs_streams
from triage.records import FileRecord, Source

CHUNK = 1 << 20


def _where(handle: DeviceHandle, record: FileRecord) -> str:
    return f"{handle.device.device_id}: partition {record.partition_index}: " + (
        record.display_path
    )


def _range_reader(
    handle: DeviceHandle, record: FileRecord
) -> tuple[Callable[[int, int], bytes], int]:
    """A ``read(offset, size)`` over the outer bytes of ``record`` and its size."""
    if record.source is Source.CARVED or (
        record.carve_offset is not None and not record.archive_path
    ):
        if record.carve_offset is None:
            raise FilesystemError(
                f"{_where(handle, record)}: carved item has no offset"
            )
        base = record.carve_offset

        def read_carved(offset: int, size: int) -> bytes:
            return handle.read(base + offset, size)

        return read_carved, record.size
    if record.carve_offset is not None:
        raise FilesystemError(
            f"{_where(handle, record)}: members of carved archives cannot be re-read"
        )
    if record.inode is None:
        raise FilesystemError(f"{_where(handle, record)}: record has no inode")
    fs, tsk_file = _open_file(handle, record, record.inode)
    meta = tsk_file.info.meta
    args: tuple[int, ...] = ()
    size = int(meta.size) if meta is not None else 0
    last = record.path.rsplit("/", 1)[-1]
    if ":" in last and int(fs.info.ftype) == int(_ntfs_type()):
        suffix = ":" + last.split(":", 1)[1]
        for stream, stream_size, atype, aid in ntfs_streams(tsk_file):
            if stream == suffix:
                args, size = (atype, aid), stream_size
                break
        else:
            raise FilesystemError(
                f"{_where(handle, record)}: stream {suffix} not found"
            )

    sparse_only = bool(args) and _sparse_only(tsk_file, args[1])

    def read_fs(offset: int, want: int) -> bytes:
        want = min(want, size - offset)
        if want <= 0:
            return b""
        try:
            data = bytes(tsk_file.read_random(offset, want, *args))
        except (OSError, RuntimeError) as exc:  # pytsk3 raises both
            raise FilesystemError(
                f"{_where(handle, record)}: read failed at byte {offset}: "
                + failure(handle, exc)
            ) from exc
        if not data and sparse_only:
            # A stream with no allocated run at all (NTFS $BadClus:$Bad on a
            # healthy disk) is zeros; Sleuth Kit returns nothing for it.
            return bytes(want)
        return data

    return read_fs, size


def _open_file(handle: DeviceHandle, record: FileRecord, inode: int) -> tuple[Any, Any]:
    """(``FS_Info``, ``File``) of the record's filesystem file, by inode."""
    fs = open_filesystem(handle, record.partition_offset)
    try:
        return fs, fs.open_meta(inode=inode)
    except (OSError, RuntimeError) as exc:  # pytsk3 raises both
        raise FilesystemError(
            f"{_where(handle, record)}: cannot open inode {inode}: "
            + failure(handle, exc)
        ) from exc


def _sparse_only(tsk_file: Any, attr_id: int) -> bool:
    """True when the NTFS stream ``attr_id`` has no non-sparse data run."""
    import pytsk3

    sparse = int(pytsk3.TSK_FS_ATTR_RUN_FLAG_SPARSE)
    for attr in tsk_file:
        if int(attr.info.id) == attr_id:
            return all(int(run.flags) & sparse for run in attr)
    return False


def _ntfs_type() -> Any:
    import pytsk3

    return pytsk3.TSK_FS_TYPE_NTFS


class RecordIO(io.RawIOBase):
    """A seekable, read-only file over the outer bytes of a record."""

    def __init__(self, read: Callable[[int, int], bytes], size: int) -> None:
        super().__init__()
        self._read, self._size, self._pos = read, size, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}
        pos = base[whence] + offset
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self._read(self._pos, len(view))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)


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
                f"{_where(handle, record)}: only {offset} of {size} bytes readable"
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
    ranges, from Sleuth Kit's data runs of the file (every non-resident
    attribute, sparse runs left out); for an archive member, those of the
    outermost archive; for a carved item, its own range. None when a file has
    no runs (data stored inside the metadata, e.g. resident NTFS data).

    Raises:
        FilesystemError: the file cannot be opened.
    """
    import pytsk3

    if record.source is Source.CARVED or (
        record.carve_offset is not None and not record.archive_path
    ):
        base = record.carve_offset or 0
        return [(base, base + record.size)]
    if record.inode is None:
        return None
    fs, tsk_file = _open_file(handle, record, record.inode)
    block = int(fs.info.block_size)
    skip = int(pytsk3.TSK_FS_ATTR_RUN_FLAG_SPARSE) | int(
        pytsk3.TSK_FS_ATTR_RUN_FLAG_FILLER
    )
    extents = [
        (
            record.partition_offset + int(run.addr) * block,
            record.partition_offset + (int(run.addr) + int(run.len)) * block,
        )
        for attr in tsk_file
        for run in attr
        if not int(run.flags) & skip and int(run.len) > 0
    ]
    return extents or None


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
