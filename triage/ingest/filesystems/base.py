"""What every filesystem backend offers, and the walk they all share.

A backend (one module, e.g. ``tsk.py`` for The Sleuth Kit) subclasses
``Filesystem`` and registers the class in ``FILESYSTEMS``
(``triage.ingest.filesystems``). It maps its library onto a few primitives:

- ``open(handle, offset)``: recognise and open the filesystem at a byte offset
  of the device (``FilesystemError`` when it is not one it reads);
- ``root`` and ``list_folder(ref)``: a folder's entries as plain ``Entry``
  records (name, file reference, folder or file, deleted, times, streams);
- ``open_file(record)``: a file by reference (inode, plus a named stream such
  as an NTFS ADS in the path's ":stream" suffix) as a seekable ``RecordIO``;
- ``extents(record)``: where a file's bytes lie in the device;
- ``free_runs(partition)``: the byte runs holding no file (for carving);
- ``listing_damage(partition)``: what the listing read that the image could
  not give (damaged E01 chunks; handle-level, so the default fits all).

``iter_entries`` walks the tree from those primitives, depth first, with the
deferral a scan uses for system folders and the loop guard, so a new backend
gets the walk order and its guarantees without writing a walk. Entries carry
addresses, never library objects: nothing of the backend's library leaves
its module.
"""

from __future__ import annotations

import io
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from triage.errors import FilesystemError
from triage.ingest.evidence import DeviceHandle, damage_records
from triage.records import FileRecord, Partition, Skipped, Source, Stage
from triage.registry import Registry

#: Where a walk puts files the filesystem no longer links to any folder
#: (Sleuth Kit's virtual folder, as ``fls`` prints it).
ORPHAN_DIR = "$OrphanFiles"


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of a folder listing: a folder or a regular file.

    ``ref`` is the backend's file reference (inode, MFT entry, catalog id).
    ``streams`` are a file's (name suffix, size) pairs: ``("", size)`` for
    its content, plus ``(":name", size)`` per named stream a backend lists
    as its own record (NTFS alternate data streams).
    """

    name: str
    ref: int
    is_folder: bool
    deleted: bool = False
    reallocated: bool = False
    mtime: float | None = None
    atime: float | None = None
    ctime: float | None = None
    crtime: float | None = None
    streams: tuple[tuple[str, int], ...] = ()


class RecordIO(io.RawIOBase):
    """A seekable, read-only file of ``size`` bytes over a positional
    ``read(offset, size)`` (a record's bytes, a device from an offset on, a
    decrypted file). ``read`` is never asked for bytes past ``size``.

    ``read_at(offset, size)`` hands back the backend's bytes uncopied (a
    whole-file read for hashing is one call).
    """

    def __init__(self, read: Callable[[int, int], bytes], size: int) -> None:
        super().__init__()
        self._read, self.size, self._pos = read, size, 0

    def read_at(self, offset: int, size: int) -> bytes:
        size = min(size, self.size - offset)
        return self._read(offset, size) if size > 0 else b""

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self.size - self._pos
        data = self.read_at(self._pos, size)
        self._pos += len(data)
        return bytes(data)

    def get_size(self) -> int:
        """The size (libyal bindings ask file objects for it)."""
        return self.size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}
        pos = base[whence] + offset
        if pos < 0:
            raise ValueError(f"negative seek position {pos}")
        self._pos = pos
        return pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read_at(self._pos, len(view))
        view[: len(data)] = data
        self._pos += len(data)
        return len(data)


def pread_file(path: Path, where: str) -> Callable[[int, int], bytes]:
    """``read(offset, size)`` of a file of a folder, opened read-only (links
    not followed) at each read, so nothing stays open; errors name ``where``."""

    def read(offset: int, size: int) -> bytes:
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                return os.pread(fd, size, offset)
            finally:
                os.close(fd)
        except OSError as exc:
            raise FilesystemError(
                where=where, reason=f"cannot read: {exc.strerror}"
            ) from exc

    return read


class NotThisFilesystem(FilesystemError):
    """A backend's ``open``: what is there is not of its kind at all (no
    APFS signature, another evidence kind). When every backend fails,
    these are left out of the message if another backend recognised the
    filesystem and said why it could not read it."""


def record_where(handle: DeviceHandle, record: FileRecord) -> str:
    """ "device: partition N: path", how read errors name a record."""
    return f"{handle.device.device_id}: partition {record.partition_index}: " + (
        record.display_path
    )


class DamagedEntries(FilesystemError):
    """A folder listing that ran to its end, but the folder holds entries
    the backend could not read (named by the message)."""


def _skip(partition: Partition, where: str, reason: str) -> Skipped:
    return Skipped.at_filesystem(partition, Stage.INGEST, reason, inner=where)


class Filesystem(ABC):
    """One opened filesystem of a device, at a byte offset.

    Subclasses set ``name`` (the backend's registered name) and, once
    opened, ``fs_type`` ("ntfs", "fat32", ... as ``Partition.fs_type``
    names it) and ``block_size``.
    """

    name: ClassVar[str]
    #: True for a backend that reads many formats and so is tried after the
    #: ones that read one (Sleuth Kit after a dedicated APFS backend).
    catch_all: ClassVar[bool] = False

    def __init__(self, handle: DeviceHandle, offset: int, fs_type: str) -> None:
        self.handle = handle
        self.offset = offset
        self.fs_type = fs_type
        self.block_size = 0

    @classmethod
    @abstractmethod
    def open(cls, handle: DeviceHandle, offset: int) -> Filesystem:
        """The filesystem at ``offset``.

        Raises:
            FilesystemError: none this backend reads (naming device, offset).
            EvidenceError: the container could not be read there.
        """

    @property
    @abstractmethod
    def root(self) -> int:
        """The root folder's file reference."""

    @abstractmethod
    def list_folder(self, ref: int) -> Iterator[Entry]:
        """The folders and regular files in folder ``ref`` (no "." or "..").

        The folder is opened at the call; iterating yields its entries.

        Raises:
            FilesystemError: the folder cannot be opened, or its listing
                stops (raised from the iterator); the message says why.
        """

    @abstractmethod
    def open_file(self, record: FileRecord) -> RecordIO:
        """The bytes of a file of this filesystem, found by reference.

        Raises:
            FilesystemError: it cannot be opened (names device and path).
        """

    @abstractmethod
    def extents(self, record: FileRecord) -> list[tuple[int, int]] | None:
        """Absolute (start, end) byte ranges of the file's data, sparse runs
        left out; None when it has none (data inside its metadata).

        Raises:
            FilesystemError: the file cannot be opened.
        """

    @classmethod
    def free_space_types(cls) -> frozenset[str]:
        """The filesystem types whose free space ``free_runs`` can find
        (asked before opening anything, so a device is not read in vain)."""
        return frozenset()

    @classmethod
    def spaceless_types(cls) -> frozenset[str]:
        """The filesystem types that have no free space at all (an
        extraction archive, a folder): nothing to carve, nothing to say."""
        return frozenset()

    @abstractmethod
    def free_runs(self, partition: Partition) -> Iterator[tuple[int, int]]:
        """Absolute (offset, length) runs of the partition holding no file.

        Raises:
            FilesystemError: this filesystem's free space cannot be found.
        """

    def listing_damage(self, partition: Partition) -> list[Skipped]:
        """After listing ``partition``: the damaged E01 chunks the listing
        read (as zeros), one ``evidence`` row each, and one row for the
        partition (``partition N:listing``) saying the listing may miss what
        was stored there. Empty when nothing was damaged."""
        return listing_damage(self.handle, partition)

    def iter_entries(
        self, partition: Partition, *, defer: frozenset[str] = frozenset()
    ) -> Iterator[FileRecord | Skipped]:
        """Every regular file, depth first; top-level folders named in
        ``defer`` (lower case) after all the rest. See ``_Walk``."""
        return _Walk(self, partition, defer).run()


#: Filesystem backends, tried in registration order on each partition (the
#: ``catch_all`` ones last): the first whose ``open`` succeeds reads it.
FILESYSTEMS: Registry[type[Filesystem]] = Registry("filesystem")


def listing_damage(handle: DeviceHandle, partition: Partition) -> list[Skipped]:
    """``Filesystem.listing_damage`` for any backend reading through ``handle``."""
    ranges = handle.take_damage()
    if not ranges:
        return []
    where = ", ".join(f"{lo}-{hi - 1}" for lo, hi in ranges)
    return [
        *damage_records(partition.device_id, ranges),
        _skip(
            partition,
            "listing",
            f"the listing read {len(ranges)} damaged image chunk(s) as zeros "
            f"(bytes {where}): entries or files stored there may be missing",
        ),
    ]


class _Walk:
    """A depth-first walk with one open folder listing per level.

    A folder is entered once (a map of visited folder references), so a
    corrupt tree that points a folder back at its parent cannot loop: the
    second visit is a ``Skipped`` ("directory loop" when the folder is its
    own ancestor). Top-level folders named in ``defer`` are walked after
    everything else, still once. Entries stream one folder at a time.
    """

    def __init__(
        self, fs: Filesystem, partition: Partition, defer: frozenset[str]
    ) -> None:
        self.fs, self.partition, self.defer = fs, partition, defer
        # Open listings: (entries, path prefix, folder reference).
        self.stack: list[tuple[Iterator[Entry], str, int]] = []
        self.later: list[tuple[str, int]] = []  # deferred top-level folders
        self.visited: dict[int, str] = {}  # folder reference -> where first seen

    def enter(self, path: str, ref: int) -> Skipped | None:
        """Open a folder's listing on top of the stack, or say why not."""
        try:
            self.stack.append((self.fs.list_folder(ref), f"{path}/", ref))
        except FilesystemError as exc:
            return _skip(self.partition, path, f"cannot open folder: {exc}")
        return None

    def run(self) -> Iterator[FileRecord | Skipped]:
        root = self.fs.root
        self.visited[root] = "/"
        try:
            self.stack.append((self.fs.list_folder(root), "", root))
        except FilesystemError as exc:
            yield _skip(self.partition, "/", f"cannot read the root folder: {exc}")
            return
        while self.stack or self.later:
            if not self.stack:
                if (skip := self.enter(*self.later.pop(0))) is not None:
                    yield skip
                continue
            entries, prefix, _ = self.stack[-1]
            try:
                entry = next(entries)
            except StopIteration:
                self.stack.pop()
                continue
            except DamagedEntries as exc:
                self.stack.pop()
                yield _skip(self.partition, prefix.rstrip("/") or "/", str(exc))
                continue
            except FilesystemError as exc:
                self.stack.pop()
                yield _skip(
                    self.partition, prefix or "/", f"folder listing stopped: {exc}"
                )
                continue
            path = f"{prefix}{entry.name}"
            if entry.is_folder:
                if (skip := self.folder(entry, prefix, path)) is not None:
                    yield skip
                continue
            yield from self.records(entry, path)

    def folder(self, entry: Entry, prefix: str, path: str) -> Skipped | None:
        """Enter (or defer) a folder not seen before; a seen one is skipped."""
        ref = entry.ref
        if ref in self.visited:
            if any(ref == up for _, _, up in self.stack):
                reason = (
                    f"directory loop: folder (inode {ref}) contains itself "
                    f"(first seen as {self.visited[ref]}); not walked again"
                )
            else:
                reason = (
                    f"folder (inode {ref}) already walked as "
                    f"{self.visited[ref]}; not walked again"
                )
            return _skip(self.partition, path, reason)
        self.visited[ref] = path
        if not prefix and entry.name.lower() in self.defer:
            self.later.append((path, ref))
            return None
        return self.enter(path, ref)

    def records(self, entry: Entry, path: str) -> Iterator[FileRecord]:
        """One record per stream of a regular file."""
        part, dev = self.partition, self.fs.handle.device
        orphan = path.startswith(f"{ORPHAN_DIR}/")
        for suffix, size in entry.streams:
            yield FileRecord(
                device_id=dev.device_id,
                evidence=dev.evidence,
                partition_index=part.index,
                partition_offset=part.offset,
                path=path + suffix,
                size=size,
                source=Source.FILESYSTEM,
                inode=entry.ref,
                deleted=entry.deleted,
                orphan=orphan,
                reallocated=entry.reallocated,
                mtime=entry.mtime,
                atime=entry.atime,
                ctime=entry.ctime,
                crtime=entry.crtime,
            )
