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

import bz2
import calendar
import gzip
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
from triage.ingest.filesystems.zip_directory import (
    CentralEntry,
    Directory,
    find_directory,
    iter_directory,
    zip64_values,
)
from triage.records import FileRecord, Partition, Skipped, Source, Stage

#: A member of a compressed tar up to this size is kept whole after its first
#: read (the last one only), so that reading its head then its body does not
#: restart the decompression.
MEMBER_CACHE = 64 << 20
_LOCAL = b"PK\x03\x04"
_LOCAL_FMT = "<4sHHHHHIIIHH"  # signature .. extra length (30 bytes)
_DESCRIPTOR = b"PK\x07\x08"
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # read from local headers


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
        for entry in self.entries():
            yield from self._member(partition, entry)

    def _member(
        self, partition: Partition, entry: CentralEntry, path: str | None = None
    ) -> Iterator[FileRecord | Skipped]:
        if entry.is_dir:
            return
        path = path or clean_path(entry.name)
        if entry.encrypted or entry.method not in _METHODS:
            why = "encrypted" if entry.encrypted else f"compression {entry.method}"
            yield Skipped.at_filesystem(
                partition, Stage.INGEST, f"zip member not read: {why}", inner=path
            )
            return
        yield self.record(partition, path, entry.offset, entry.size, _zip_time(entry))

    def _local_members(self, partition: Partition) -> Iterator[FileRecord | Skipped]:
        walker = LocalHeaders(MediaFile(self.handle), self.handle.size)
        for header in walker:
            if header.lost:
                yield Skipped.at_filesystem(
                    partition, Stage.INGEST, header.lost, inner=header.name or "zip"
                )
                continue
            if header.name.endswith("/"):
                continue
            yield self.record(
                partition, clean_path(header.name), header.offset, header.size, None
            )
        yield Skipped.at_filesystem(
            partition,
            Stage.INGEST,
            "central directory missing (truncated zip?): members listed from "
            f"their local headers ({walker.count} found, ending at byte "
            f"{walker.end}); anything after byte {walker.end} is lost",
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
    if where is None and handle.read(0, 4) != _LOCAL:
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


class LocalHeader:
    """One member found by its local header (or ``lost``: why not)."""

    def __init__(
        self, name: str, offset: int, size: int, data_end: int, lost: str = ""
    ) -> None:
        self.name, self.offset, self.size = name, offset, size
        self.data_end, self.lost = data_end, lost


class LocalHeaders:
    """The members of a zip read from its local headers, first to last:
    for a zip whose central directory is gone. A member whose data runs past
    the end comes as ``lost``; the walk ends at the first byte that is not a
    local header (``end``)."""

    def __init__(self, fh: MediaFile, size: int) -> None:
        self._fh, self._size = fh, size
        self.count, self.end = 0, 0

    def __iter__(self) -> Iterator[LocalHeader]:
        at = 0
        while at + 30 <= self._size:
            header = read_local(self._fh, at, self._size)
            if header is None:
                break
            self.end = at = header.data_end
            if header.lost:
                yield header
                break
            self.count += 1
            yield header


def read_local(fh: MediaFile, at: int, total: int) -> LocalHeader | None:
    """The member whose local header is at ``at`` (None: no header there)."""
    fh.seek(at)
    raw = fh.read(30)
    if len(raw) < 30 or raw[:4] != _LOCAL:
        return None
    _, _, flags, method, _, _, _, csize, usize, nlen, xlen = struct.unpack(
        _LOCAL_FMT, raw
    )
    name = fh.read(nlen).decode("utf-8" if flags & 0x800 else "cp437", "replace")
    extra = fh.read(xlen)
    data = at + 30 + nlen + xlen
    try:
        usize, csize, _ = zip64_values(extra, usize, csize, 0)
    except struct.error:  # a zip64 field cut short: the copy ends here
        return LocalHeader(
            name, at, 0, total,
            f"member {name!r} (local header at byte {at}) has a damaged zip64 "
            "field; lost with all after it",
        )  # fmt: skip
    if flags & 0x8:  # sizes in a data descriptor after the data
        if method == zipfile.ZIP_STORED:
            csize = usize = _measure_stored(fh, data, total, _has_zip64(extra))
        else:
            csize, usize = _measure(fh, data, method, total)
        if csize < 0:
            return LocalHeader(
                name, at, 0, total,
                f"member {name!r} (local header at byte {at}) is cut off: "
                "its data runs past the end of the zip; lost",
            )  # fmt: skip
        end = data + csize
        fh.seek(end)
        sizes = 16 if _has_zip64(extra) else 8  # in the descriptor: 2 x 8 or 4
        end += 4 + sizes + (4 if fh.read(4) == _DESCRIPTOR else 0)
    else:
        end = data + csize
    if end > total:
        return LocalHeader(
            name, at, 0, total,
            f"member {name!r} (local header at byte {at}) is cut off at byte "
            f"{total} of its {csize} bytes; lost",
        )  # fmt: skip
    return LocalHeader(name, at, usize, end)


def _has_zip64(extra: bytes) -> bool:
    """Whether a local header's extra fields hold a zip64 one (then its data
    descriptor's sizes are 8 bytes each)."""
    at = 0
    while at + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, at)
        if tag == 0x0001:
            return True
        at += 4 + size
    return False


#: Signatures that may follow a member's data descriptor.
_NEXT_HEADERS = (_LOCAL, b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06")


def _measure_stored(fh: MediaFile, data: int, total: int, zip64: bool) -> int:
    """Size of a stored member with no sizes in its header (-1: none found):
    where the first data descriptor that agrees with the bytes before it
    follows them. A descriptor agrees when both its sizes equal their count
    and its CRC-32 theirs; it is found by its own signature, or (written
    without one) 12 or 20 bytes before the next header's signature or the
    end. Read forward once, 1 MiB at a time, the CRC carried along."""
    sizes = "<QQ" if zip64 else "<II"
    length = 4 + struct.calcsize(sizes)  # CRC-32 and two sizes
    crc, at = 0, data  # the CRC-32 of the bytes from data to at
    while at < total:
        fh.seek(at)
        step = min(1 << 20, total - at)
        block = fh.read(step + length + 8)  # a descriptor starting inside is whole
        done = 0  # crc covers block[:done]: carried from candidate to candidate
        for end in _descriptor_starts(block, step, length, at + len(block) >= total):
            fields = block[end : end + 4 + length]
            fields = fields[4:] if fields[:4] == _DESCRIPTOR else fields[:length]
            if len(fields) < length:
                continue
            csize, usize = struct.unpack(sizes, fields[4:])
            if not csize == usize == at - data + end:
                continue
            crc, done = zlib.crc32(block[done:end], crc), end
            if fields[:4] == struct.pack("<I", crc):
                return csize
        crc = zlib.crc32(block[done:step], crc)
        at += step
    return -1


def _descriptor_starts(block: bytes, step: int, length: int, last: bool) -> list[int]:
    """Offsets below ``step`` in ``block`` where a data descriptor could
    start: its signature, or ``length`` bytes before a header's (or before
    the end of the zip, when ``block`` reaches it), in order."""
    found = set()
    for signature in (_DESCRIPTOR, *_NEXT_HEADERS):
        at = block.find(signature)
        while at >= 0:
            start = at if signature == _DESCRIPTOR else at - length
            if 0 <= start < step:
                found.add(start)
            at = block.find(signature, at + 1)
    if last and 0 <= len(block) - length < step:
        found.add(len(block) - length)
    return sorted(found)


def _measure(fh: MediaFile, data: int, method: int, total: int) -> tuple[int, int]:
    """(compressed, uncompressed) size of a deflated member with no sizes in
    its header, by inflating it to its end; (-1, -1) when it is cut off."""
    if method != zipfile.ZIP_DEFLATED:
        return -1, -1
    inflate = zlib.decompressobj(-15)
    fh.seek(data)
    used = out = 0
    while not inflate.eof:
        block = fh.read(1 << 20)
        if not block:
            return -1, -1
        try:  # counted 1 MiB at a time: a bomb is never held
            out += len(inflate.decompress(block, 1 << 20))
            while inflate.unconsumed_tail and not inflate.eof:
                out += len(inflate.decompress(inflate.unconsumed_tail, 1 << 20))
        except zlib.error:
            return -1, -1
        used += len(block) - len(inflate.unused_data)
    return used, out


class _LocalMember:
    """A member read from its local header: stored or deflated, forward
    with restart."""

    def __init__(self, fh: Any, method: int, data: int, size: int) -> None:
        self._fh, self._method, self._data, self._size = fh, method, data, size
        self._at, self._inflate, self._pos = data, zlib.decompressobj(-15), 0
        self._pending = b""

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int) -> None:
        if self._method == zipfile.ZIP_STORED:
            self._pos = offset
            return
        if offset < self._pos:
            self._at, self._pos, self._pending = self._data, 0, b""
            self._inflate = zlib.decompressobj(-15)
        while self._pos < offset:
            if not self.read(min(offset - self._pos, 1 << 20)):
                break

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = self._size - self._pos
        size = max(0, min(size, self._size - self._pos))
        if self._method == zipfile.ZIP_STORED:
            self._fh.seek(self._data + self._pos)
            data = bytes(self._fh.read(size))
            self._pos += len(data)
            return data
        while len(self._pending) < size and not self._inflate.eof:
            block = self._inflate.unconsumed_tail
            if not block:
                self._fh.seek(self._at)
                block = bytes(self._fh.read(1 << 16))
                if not block:
                    break
                self._at += len(block)
            # Bounded output: memory stays at what was asked for.
            want = max(size - len(self._pending), 1 << 16)
            self._pending += self._inflate.decompress(block, want)
        data, self._pending = self._pending[:size], self._pending[size:]
        self._pos += len(data)
        return data


def local_member(fh: Any, at: int, size: int) -> _LocalMember:
    """The member whose local header is at ``at``, ``size`` bytes once read
    (from the central directory or the record), as a forward stream.

    Raises:
        ValueError: no local header there.
        NotImplementedError: a compression other than stored or deflate.
    """
    fh.seek(at)
    raw = fh.read(30)
    if len(raw) < 30 or raw[:4] != _LOCAL:
        raise ValueError(f"no local header at byte {at}")
    fields = struct.unpack(_LOCAL_FMT, raw)
    method, nlen, xlen = fields[3], fields[9], fields[10]
    if method not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise NotImplementedError(f"compression method {method} (local header)")
    return _LocalMember(fh, method, at + 30 + nlen + xlen, size)


# --- tar and Android backups ------------------------------------------------------


class _Stream:
    """The decompressed tar of a compressed tar or ``.ab``: forward, with
    restart for a seek back; one per filesystem (per reader)."""

    def __init__(self, start: Callable[[], Any]) -> None:
        self._start = start
        self._fh = start()
        self.lock = threading.Lock()
        self.cached: tuple[int, bytes] | None = None

    def read_at(self, offset: int, size: int) -> bytes:
        if self._fh.tell() > offset:
            self._fh.close()
            self._fh = self._start()
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
        return cls(handle, _Stream(lambda: opener(MediaFile(handle))))

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
    the members before the damage and records where it stopped."""
    try:
        tar = tarfile.open(fileobj=fileobj, mode="r:")
    except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise FilesystemError(
            f"{fs.handle.device.device_id}: not a readable tar: {exc}"
        ) from exc
    last = "(start)"
    while True:
        try:
            info = tar.next()
        except (tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError) as exc:
            yield Skipped.at_filesystem(
                partition, Stage.INGEST,
                f"tar stops after member {last!r}: {exc}; the rest is lost",
                inner="tar",
            )  # fmt: skip
            return
        if info is None:
            return
        tar.members.clear()  # type: ignore[attr-defined]
        last = info.name
        if info.isreg() and not info.issparse():
            yield fs.record(
                partition, clean_path(info.name), info.offset_data, info.size,
                float(info.mtime) if info.mtime else None,
            )  # fmt: skip
        elif info.issparse():
            yield Skipped.at_filesystem(
                partition, Stage.INGEST, "sparse tar member: not read",
                inner=clean_path(info.name),
            )  # fmt: skip


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


class _Inflate:
    """A zlib stream (``.ab`` data) as a forward-only readable file; what is
    inflated ahead of the reads stays under a few MiB, whatever the ratio."""

    def __init__(self, fh: MediaFile) -> None:
        self._fh, self._z, self._pos = fh, zlib.decompressobj(), 0
        self._buf, self._at = b"", 0  # inflated, and how much of it is read

    def _more(self, want: int) -> bool:
        """Inflate up to ``want`` bytes more (at least 64 KiB, at most
        16 MiB); False at the end of the stream."""
        if self._z.eof:
            return False
        block = self._z.unconsumed_tail or self._fh.read(1 << 20)
        if not block:
            return False
        more = self._z.decompress(block, min(max(want, 1 << 16), 1 << 24))
        self._buf, self._at = self._buf[self._at :] + more, 0
        return True

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
        while self._pos < offset:
            if not self.read(min(offset - self._pos, 1 << 20)):
                break
        return self._pos

    def close(self) -> None:
        """Nothing of its own to close."""


for _backend in (ZipExtraction, TarExtraction, AndroidBackup):
    FILESYSTEMS.register(_backend)
