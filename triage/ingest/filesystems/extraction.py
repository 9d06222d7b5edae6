"""Extraction archives walked as a file system: the archive *is* the device.

A phone's full-file-system extraction (zip, zip64, tar, tar.gz/bz2/xz) or
Android backup (``.ab``: a header, then a zlib stream of a tar) is opened as
the device's only filesystem (partition 0, fs type ``ffs-zip``, ``ffs-tar``,
``android-backup``). Its members are its files, with the paths they have
inside the extraction, in the archive's own order; no archive-bomb limit
applies at this outer level (a 200 GB extraction is normal), while archives
found inside still keep theirs. The walk streams: members are records as
they are read, in chunks like a disk image's files, resumable the same way.

How members are read back (a worker reopens the device and reads records by
reference, ``FileRecord.inode``):

- zip: by the central directory, random access (the reference is the
  member's local header offset). A zip whose central directory is missing
  (a truncated copy) is walked by its local headers instead, and what is
  lost at the cut is recorded.
- plain tar: random access (the reference is the member's data offset).
- compressed tar and ``.ab``: one forward stream per reader; the reference
  is the data offset in the decompressed tar. Members read in order (as a
  scan reads them) cost one decompression pass per worker; reading back
  earlier bytes restarts the stream (a member up to ``MEMBER_CACHE`` bytes
  is held whole after its first read, so a member's head and body cost one
  pass).
"""

from __future__ import annotations

import bisect
import bz2
import calendar
import gzip
import itertools
import lzma
import os
import struct
import tarfile
import threading
import zipfile
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from triage.errors import FilesystemError
from triage.ingest.evidence import DeviceHandle
from triage.ingest.filesystems import android_crypto
from triage.ingest.filesystems.base import (
    FILESYSTEMS,
    Entry,
    Filesystem,
    NotThisFilesystem,
    RecordIO,
    record_where,
)
from triage.ingest.filesystems.passwords import given_password
from triage.ingest.filesystems.tar_walk import TarLost, open_tar, walk_tar
from triage.ingest.filesystems.zip_directory import (
    CentralEntry,
    Directory,
    find_directory,
    iter_directory,
)
from triage.ingest.filesystems.zip_local import (
    LOCAL,
    METHODS,
    LocalHeaders,
    after_data,
    data_start,
    local_member,
)
from triage.records import FileRecord, Partition, Skipped, Source, Stage

#: A member of a compressed tar up to this size is kept whole after its first
#: read (the last one only), so that reading its head then its body does not
#: restart the decompression.
MEMBER_CACHE = 64 << 20


class MediaFile(RecordIO):
    """A read-only file object over the device from a byte offset on."""

    def __init__(self, handle: DeviceHandle, offset: int = 0) -> None:
        def read(at: int, size: int) -> bytes:
            return handle.read_media(offset + at, size)

        super().__init__(read, handle.size - offset)


class ArchiveFilesystem(Filesystem):
    """A device that is one archive: ``members`` streams its files. Not a
    tree of folders to list, so the walk is ``members`` itself."""

    container: str  # the container name this backend reads

    @classmethod
    def spaceless_types(cls) -> frozenset[str]:
        return frozenset({cls.container})  # members only: nothing to carve

    def free_runs(self, partition: Partition) -> Iterator[tuple[int, int]]:
        return iter(())

    @property
    def root(self) -> int:
        return 0

    def list_folder(self, ref: int) -> Iterator[Entry]:
        raise FilesystemError(f"{self.fs_type}: members are not listed by folder")

    def extents(self, record: FileRecord) -> list[tuple[int, int]] | None:
        return None

    def members(self, partition: Partition) -> Iterator[FileRecord | Skipped]:
        raise NotImplementedError

    def iter_entries(
        self, partition: Partition, *, defer: frozenset[str] = frozenset()
    ) -> Iterator[FileRecord | Skipped]:
        return self.members(partition)

    def record(
        self, partition: Partition, path: str, ref: int, size: int, mtime: float | None
    ) -> FileRecord:
        dev = self.handle.device
        return FileRecord(
            device_id=dev.device_id,
            evidence=dev.evidence,
            partition_index=partition.index,
            partition_offset=partition.offset,
            path=path,
            size=size,
            source=Source.FILESYSTEM,
            inode=ref,
            mtime=mtime,
        )


def clean_path(name: str) -> str:
    """A member name as a path inside the extraction ("a/b", no leading "/")."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    return "/".join(parts)


def _open_check(handle: DeviceHandle, offset: int, container: str) -> None:
    if offset != 0 or handle.device.container != container:
        raise NotThisFilesystem(
            f"{handle.device.device_id}: not a {container} device at offset {offset}"
        )


# --- zip ------------------------------------------------------------------------


def _zip_time(entry: CentralEntry) -> float | None:
    try:
        return float(calendar.timegm((*entry.date_time, 0, 0, 0)))
    except (ValueError, OverflowError):
        return None


class ZipExtraction(ArchiveFilesystem):
    """A full-file-system zip (zip64 too), by its central directory, read as
    a stream (``zip_directory``), or by its local headers when that is
    missing. Members are read from their local headers: stored or deflated
    (others are recorded as not read)."""

    name = container = "ffs-zip"

    def __init__(self, handle: DeviceHandle, directory: Directory | None) -> None:
        super().__init__(handle, 0, self.container)
        self.directory = directory
        self._lock = threading.Lock()

    @classmethod
    def open(cls, handle: DeviceHandle, offset: int) -> ZipExtraction:
        _open_check(handle, offset, cls.container)
        return cls(handle, open_zip(handle))

    def entries(self) -> Iterator[CentralEntry]:
        """The central directory's entries, streamed.

        Raises:
            FilesystemError: the directory is damaged (naming where).
        """
        assert self.directory is not None
        try:
            yield from iter_directory(MediaFile(self.handle), self.directory)
        except (ValueError, struct.error) as exc:
            raise FilesystemError(
                f"{self.handle.device.device_id}: zip central directory: {exc}"
            ) from exc

    def members(self, partition: Partition) -> Iterator[FileRecord | Skipped]:
        if self.directory is None:
            yield from self._local_members(partition)
            return
        last: CentralEntry | None = None  # the furthest member named so far
        try:
            for entry in iter_directory(MediaFile(self.handle), self.directory):
                if last is None or entry.offset > last.offset:
                    last = entry
                yield from self._member(partition, entry)
        except (ValueError, struct.error) as exc:
            # The members after the damage are still there: walk them by
            # their local headers, from the end of the last one named.
            yield from self._local_members(
                partition, self._after(last), f"central directory damaged ({exc})"
            )

    def _after(self, entry: CentralEntry | None) -> int:
        """Where the member after ``entry`` starts, by its size in the
        directory (0: no member named)."""
        if entry is None:
            return 0
        fh, total = MediaFile(self.handle), self.handle.size
        data = data_start(fh, entry.offset)
        if data is None:
            return entry.offset
        return after_data(fh, min(data + entry.compressed, total), total)

    def _member(
        self, partition: Partition, entry: CentralEntry, path: str | None = None
    ) -> Iterator[FileRecord | Skipped]:
        if entry.is_dir:
            return
        path = path or clean_path(entry.name)
        if entry.encrypted or entry.method not in METHODS:
            why = "encrypted" if entry.encrypted else f"compression {entry.method}"
            yield Skipped.at_filesystem(
                partition, Stage.INGEST, f"zip member not read: {why}", inner=path
            )
            return
        yield self.record(partition, path, entry.offset, entry.size, _zip_time(entry))

    def _local_members(
        self,
        partition: Partition,
        start: int = 0,
        why: str = "central directory missing (truncated zip?)",
    ) -> Iterator[FileRecord | Skipped]:
        walker = LocalHeaders(MediaFile(self.handle), self.handle.size, start)
        for header in walker:
            if header.lost:
                yield Skipped.at_filesystem(
                    partition, Stage.INGEST, header.lost, inner=header.name or "zip"
                )
                continue
            if header.name.endswith("/"):
                continue
            if header.unread:
                yield Skipped.at_filesystem(
                    partition,
                    Stage.INGEST,
                    f"zip member not read: {header.unread}",
                    inner=clean_path(header.name),
                )
                continue
            yield self.record(
                partition, clean_path(header.name), header.offset, header.size, None
            )
        yield Skipped.at_filesystem(
            partition,
            Stage.INGEST,
            f"{why}: members listed from their local headers"
            + (f" from byte {start}" if start else "")
            + f" ({walker.count} found, ending at byte {walker.end}); "
            + (
                "they reach the central directory"
                if self.directory is not None and walker.end >= self.directory.offset
                else f"anything after byte {walker.end} is lost"
            ),
            inner="central directory",
        )

    def open_file(self, record: FileRecord) -> RecordIO:
        where = record_where(self.handle, record)
        try:
            stream = local_member(
                MediaFile(self.handle), record.inode or 0, record.size
            )
        except (OSError, NotImplementedError, ValueError, struct.error) as exc:
            raise FilesystemError(f"{where}: cannot open zip member: {exc}") from exc
        read = _positional(stream, where, self._lock, record.size)
        return RecordIO(read, record.size)


def open_zip(handle: DeviceHandle) -> Directory | None:
    """Where the zip's central directory is, or None when it has none
    (truncated).

    Raises:
        FilesystemError: not a zip at all (no local header at byte 0).
    """
    where = find_directory(MediaFile(handle), handle.size)
    if where is None and handle.read(0, 4) != LOCAL:
        raise FilesystemError(
            f"{handle.device.device_id}: not a readable zip (no central directory "
            "and no local header at byte 0)"
        )
    return where


def _positional(
    stream: Any, where: str, lock: threading.Lock, total: int
) -> Callable[[int, int], bytes]:
    """``read(offset, size)`` over a forward stream that can seek (back by
    starting again), up to ``total`` bytes."""

    def read(offset: int, size: int) -> bytes:
        size = min(size, total - offset)
        if size <= 0:
            return b""
        with lock:
            try:
                if stream.tell() != offset:
                    stream.seek(offset)
                return bytes(stream.read(size))
            except (zipfile.BadZipFile, OSError, zlib.error, EOFError) as exc:
                raise FilesystemError(
                    f"{where}: read failed at byte {offset}: {exc}"
                ) from exc

    return read


class _Stream:
    """The decompressed tar of a compressed tar or ``.ab``: forward, with
    restart for a seek back; one per filesystem (per reader). ``reader``
    (default ``start``) makes the stream members are read from: one that can
    ``rewind`` (a gzip tar's ``_Inflate``) goes back to its nearest
    checkpoint instead of restarting from the archive's first byte."""

    def __init__(
        self, start: Callable[[], Any], reader: Callable[[], Any] | None = None
    ) -> None:
        self._start = start
        self._reader = reader or start
        self._fh = self._reader()
        self.lock = threading.Lock()
        self.cached: tuple[int, bytes] | None = None

    def read_at(self, offset: int, size: int) -> bytes:
        if self._fh.tell() > offset:
            rewind = getattr(self._fh, "rewind", None)
            if rewind is None or not rewind(offset):
                self._fh.close()
                self._fh = self._reader()
        self._fh.seek(offset)
        return self._fh.read(size)

    def file(self) -> Any:
        """A fresh decompressed stream from the start (for the listing)."""
        return self._start()


class TarExtraction(ArchiveFilesystem):
    """A full-file-system tar, plain or gzip/bzip2/xz-compressed."""

    name = container = "ffs-tar"

    def __init__(self, handle: DeviceHandle, stream: _Stream | None) -> None:
        super().__init__(handle, 0, self.container)
        self._stream = stream

    @classmethod
    def open(cls, handle: DeviceHandle, offset: int) -> TarExtraction:
        _open_check(handle, offset, cls.container)
        head = handle.read(0, 6)
        opener = _DECOMPRESSORS.get(head[:2]) or _DECOMPRESSORS.get(head[:3])
        if opener is None:
            return cls(handle, None)
        start = lambda: opener(MediaFile(handle))  # noqa: E731
        if head[:2] == b"\x1f\x8b":  # members read from a rewindable stream
            return cls(handle, _Stream(start, lambda: _Inflate(MediaFile(handle), 31)))
        return cls(handle, _Stream(start))

    def _tar_file(self) -> Any:
        return self._stream.file() if self._stream else MediaFile(self.handle)

    def members(self, partition: Partition) -> Iterator[FileRecord | Skipped]:
        return tar_members(self, partition, self._tar_file())

    def open_file(self, record: FileRecord) -> RecordIO:
        where = record_where(self.handle, record)
        base = record.inode or 0
        if self._stream is None:
            read = _slice_reader(self.handle, base, record.size)
        else:
            read = _stream_reader(self._stream, base, record.size, where)
        return RecordIO(read, record.size)


def _slice_reader(
    handle: DeviceHandle, base: int, size: int
) -> Callable[[int, int], bytes]:
    def read(offset: int, want: int) -> bytes:
        want = min(want, size - offset)
        return handle.read(base + offset, want) if want > 0 else b""

    return read


def _stream_reader(
    stream: _Stream, base: int, size: int, where: str
) -> Callable[[int, int], bytes]:
    def read(offset: int, want: int) -> bytes:
        want = min(want, size - offset)
        if want <= 0:
            return b""
        with stream.lock:
            cached = stream.cached
            if cached is not None and cached[0] == base:
                return cached[1][offset : offset + want]
            try:
                if size <= MEMBER_CACHE:
                    whole = stream.read_at(base, size)
                    stream.cached = (base, whole)
                    return whole[offset : offset + want]
                return stream.read_at(base + offset, want)
            except (OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
                raise FilesystemError(
                    f"{where}: read failed at byte {offset}: {exc}"
                ) from exc

    return read


_DECOMPRESSORS: dict[bytes, Callable[[MediaFile], Any]] = {
    b"\x1f\x8b": lambda fh: gzip.GzipFile(fileobj=fh, mode="rb"),
    b"BZ": lambda fh: bz2.BZ2File(fh, "rb"),
    b"\xfd7z": lambda fh: lzma.LZMAFile(fh, "rb"),  # type: ignore[arg-type]
}


def tar_members(
    fs: ArchiveFilesystem, partition: Partition, fileobj: Any
) -> Iterator[FileRecord | Skipped]:
    """Regular members of a tar stream, without keeping their headers (a
    tar of millions of members stays small); a damaged or cut-off tar keeps
    the members before the damage, goes on past a damaged header where a
    valid one follows, and records where it stopped (``tar_walk``)."""
    errors = (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError)
    try:
        tar, tape = open_tar(fileobj)
        items = walk_tar(tar, tape, errors)
        first = next(items, None)  # raises when there is no header at all
    except errors as exc:
        raise FilesystemError(
            f"{fs.handle.device.device_id}: not a readable tar: {exc}"
        ) from exc
    for item in itertools.chain([first] if first else [], items):
        if isinstance(item, TarLost):
            inner = clean_path(item.name) if item.name is not None else "tar"
            yield Skipped.at_filesystem(
                partition, Stage.INGEST, item.reason, inner=inner or "tar"
            )
        else:
            yield fs.record(
                partition, clean_path(item.name), item.offset, item.size, item.mtime
            )


class AndroidBackup(ArchiveFilesystem):
    """An Android ``adb backup`` file: header lines, then a tar, zlib-compressed
    or not. An encrypted one is decrypted as it is read with ``--password``
    (``android_crypto``); without one, opening it says "encrypted Android
    backup", with a wrong one "encrypted Android backup: wrong password"."""

    name = container = "android-backup"

    def __init__(self, handle: DeviceHandle, stream: _Stream) -> None:
        super().__init__(handle, 0, self.container)
        self._stream = stream

    @classmethod
    def open(cls, handle: DeviceHandle, offset: int) -> AndroidBackup:
        _open_check(handle, offset, cls.container)
        data_at, compressed, raw = android_header(handle)
        if compressed:
            return cls(handle, _Stream(lambda: _Inflate(raw())))
        return cls(handle, _Stream(raw))

    def members(self, partition: Partition) -> Iterator[FileRecord | Skipped]:
        return tar_members(self, partition, self._stream.file())

    def open_file(self, record: FileRecord) -> RecordIO:
        where = record_where(self.handle, record)
        read = _stream_reader(self._stream, record.inode or 0, record.size, where)
        return RecordIO(read, record.size)


def android_header(handle: DeviceHandle) -> tuple[int, bool, Callable[[], Any]]:
    """(offset of the data, compressed?, a maker of fresh readable files of
    the data: decrypted when the backup is encrypted) from an ``.ab`` header.

    Raises:
        FilesystemError: a bad header, or an encrypted backup with no or a
            wrong password.
    """
    dev = handle.device.device_id
    head = handle.read(0, 4096)
    lines = head.split(b"\n", 4)
    if len(lines) < 5 or lines[0] != b"ANDROID BACKUP":
        raise FilesystemError(
            where=dev, reason="bad Android backup header (first lines)"
        )
    version, compressed, encryption = lines[1], lines[2], lines[3]
    if not version.isdigit() or compressed not in (b"0", b"1"):
        raise FilesystemError(
            where=dev,
            reason=f"bad Android backup header: version {version[:16]!r}, "
            f"compression flag {compressed[:16]!r}",
        )
    data_at = sum(len(line) + 1 for line in lines[:4])
    if encryption == b"none":
        return data_at, compressed == b"1", lambda: MediaFile(handle, data_at)
    shown = encryption[:32].decode("latin-1")
    password = given_password()
    if encryption != android_crypto.ENCRYPTION:
        raise FilesystemError(
            where=dev,
            reason=f"encrypted Android backup ({shown}): not read (unknown cipher)",
        )
    if not password:
        raise FilesystemError(
            where=dev,
            reason=f"encrypted Android backup ({shown}): not read (give --password)",
        )
    header = android_crypto.read_header(dev, head, data_at, int(version))
    key, iv = android_crypto.master_key(dev, header, password)
    at, size = header.data_at, handle.size - header.data_at

    def read(offset: int, want: int) -> bytes:
        return bytes(handle.read_media(at + offset, want))

    return at, compressed == b"1", lambda: android_crypto.payload(read, size, key, iv)


#: Output between two checkpoints of a rewindable ``_Inflate``: a seek back
#: inflates at most this much again (about 45 KB of zlib state each: 36 MB
#: for 100 GB of tar).
CHECKPOINT = 128 << 20


class _Inflate:
    """A zlib stream (``.ab`` data; ``wbits`` 31: gzip, members one after
    another) as a forward readable file; what is inflated ahead of the reads
    stays under a few MiB, whatever the ratio. A gzip one keeps a copy of
    zlib's state every ``CHECKPOINT`` bytes of output, so ``rewind`` goes
    back to the nearest one before an offset (its input is re-read from the
    device; the evidence is only read)."""

    def __init__(self, fh: MediaFile, wbits: int = 15) -> None:
        self._fh, self._gzip = fh, wbits == 31
        self._z = zlib.decompressobj(wbits)
        self._buf, self._at, self._pos = b"", 0, 0  # inflated; read of it; offset
        self._raw = 0  # bytes of input read so far
        self.inflated = 0  # bytes inflated in all, rewinds included
        # (made, raw, zlib state): the first at the start, so that a gzip
        # stream always rewinds (and keeps its later checkpoints)
        self._marks: list[tuple[int, int, Any]] = []
        if self._gzip:
            self._marks.append((0, 0, self._z.copy()))
        self._next_mark = CHECKPOINT

    def _more(self, want: int) -> bool:
        """Inflate up to ``want`` bytes more (at least 64 KiB, at most
        16 MiB); False at the end of the stream."""
        if self._z.eof:  # a gzip member's output first, then what follows
            return self._next_member()
        block = self._z.unconsumed_tail
        if not block:
            block = self._fh.read(1 << 16 if self._gzip else 1 << 20)
            self._raw += len(block)
        if not block:
            if self._gzip:  # as gzip.GzipFile says of a cut stream
                raise EOFError(
                    "Compressed file ended before the end-of-stream marker was reached"
                )
            return False
        self._take(self._z.decompress(block, min(max(want, 1 << 16), 1 << 24)))
        made = self._made()
        if self._gzip and not self._z.unconsumed_tail and made >= self._next_mark:
            self._marks.append((made, self._raw, self._z.copy()))
            self._next_mark = made + CHECKPOINT
        return True

    def _made(self) -> int:
        """Bytes inflated so far: the offset just after the buffer."""
        return self._pos + len(self._buf) - self._at

    def _take(self, inflated: bytes) -> None:
        """Put newly inflated bytes after the unread ones."""
        self._buf, self._at = self._buf[self._at :] + inflated, 0
        self.inflated += len(inflated)

    def _next_member(self) -> bool:
        """After a gzip member, the next one (False: none follows)."""
        if not self._gzip:
            return False
        rest = self._z.unused_data
        if len(rest) < 2:
            more = self._fh.read(1 << 16)
            self._raw += len(more)
            rest += more
        if rest[:2] != b"\x1f\x8b":
            return False
        self._z = zlib.decompressobj(31)
        self._take(self._z.decompress(rest, 1 << 24))
        return True

    def rewind(self, offset: int) -> bool:
        """Go back to the last checkpoint at or before ``offset`` (False:
        none, start again)."""
        mark = self._mark_before(offset)
        if mark is None:
            return False
        self._restore(mark)
        return True

    def _mark_before(self, offset: int) -> tuple[int, int, Any] | None:
        """The last checkpoint at or before ``offset`` (checkpoints are made
        in order of output)."""
        at = bisect.bisect_right(self._marks, offset, key=lambda m: m[0])
        return self._marks[at - 1] if at else None

    def _restore(self, mark: tuple[int, int, Any]) -> None:
        made, raw, state = mark
        self._fh.seek(raw)
        self._z, self._raw = state.copy(), raw
        self._buf, self._at, self._pos = b"", 0, made

    def read(self, size: int = -1) -> bytes:
        want = size if size >= 0 else 1 << 62
        while len(self._buf) - self._at < want and self._more(
            want - (len(self._buf) - self._at)
        ):
            pass
        data = self._buf[self._at : self._at + want]
        self._at += len(data)
        self._pos += len(data)
        return data

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            offset += self._pos
        if offset < self._pos:
            raise OSError("zlib stream cannot seek back")
        mark = self._mark_before(offset)
        if mark is not None and mark[0] > self._pos:  # passed once: jump to it
            self._restore(mark)
        while self._pos < offset:
            if not self.read(min(offset - self._pos, 1 << 20)):
                break
        return self._pos

    def close(self) -> None:
        """Nothing of its own to close."""


for _backend in (ZipExtraction, TarExtraction, AndroidBackup):
    FILESYSTEMS.register(_backend)
