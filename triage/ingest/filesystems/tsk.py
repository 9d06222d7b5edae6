"""The Sleuth Kit filesystem backend (pytsk3): FAT, exFAT, NTFS, ext, HFS+, ISO.

Listings follow ``fls -r -p`` (the oracle): an entry is a file when its
metadata type is a regular file (``r/r``, ``-/r``), or when its metadata is
gone and its name says regular file (``r/-``, e.g. a deleted name whose inode
is 0). The choices about Sleuth Kit's pseudo-entries, made on purpose:

- ``$OrphanFiles`` is listed as a folder; its files carry paths like
  "$OrphanFiles/OrphanFile-16", exactly as fls prints them.
- The FAT/exFAT volume label, which fls prints as a 0-byte ``r/r`` entry named
  "LABEL (Volume Label Entry)", is *not* a file and is left out.
- Virtual files (``v/v``: $MBR, $FAT1, $FAT2) are not files on the volume and
  are left out, as are links and devices.
- NTFS metafiles ($MFT, $LogFile, $Boot, ...) are real on-disk files, listed
  by fls as ``r/r``: they are kept. On NTFS every $DATA stream and every
  named $INDEX_ROOT other than $I30 is its own record ("name:stream"), as fls
  lists them; alternate data streams can hide content, so they must be seen.
- exFAT's $ALLOC_BITMAP and $UPCASE_TABLE are kept for the same reason.

Files are opened by inode (``FS_Info.open_meta``), never by path, so deleted
and orphan files read exactly as Sleuth Kit can recover them (``icat`` gives
the same bytes); a path ending in ":stream" reads that NTFS stream.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytsk3

from triage.errors import FilesystemError
from triage.ingest._sleuthkit import (
    TSK_ERRORS,
    failure,
    image_of,
    raise_read_error,
    tsk_message,
)
from triage.ingest.evidence import DeviceHandle
from triage.ingest.filesystems import allocation
from triage.ingest.filesystems.base import (
    FILESYSTEMS,
    DamagedEntries,
    Entry,
    Filesystem,
    NotThisFilesystem,
    RecordIO,
    record_where,
)
from triage.ingest.filesystems.fat_direct import DIRECT_TYPES, FatRuns
from triage.ingest.filesystems.folder_claims import (
    exfat_entries_in_use,
    ext_subfolders,
    fat_entries_in_use,
    iso_records_in_use,
    unlisted_message,
)
from triage.records import FileRecord, Partition
from triage.registry import Registry

# Sleuth Kit's filesystem type -> the name ``Partition.fs_type`` carries.
FS_TYPES: dict[int, str] = {
    int(pytsk3.TSK_FS_TYPE_FAT12): "fat12",
    int(pytsk3.TSK_FS_TYPE_FAT16): "fat16",
    int(pytsk3.TSK_FS_TYPE_FAT32): "fat32",
    int(pytsk3.TSK_FS_TYPE_EXFAT): "exfat",
    int(pytsk3.TSK_FS_TYPE_NTFS): "ntfs",
    int(pytsk3.TSK_FS_TYPE_EXT2): "ext2",
    int(pytsk3.TSK_FS_TYPE_EXT3): "ext3",
    int(pytsk3.TSK_FS_TYPE_EXT4): "ext4",
    int(pytsk3.TSK_FS_TYPE_ISO9660): "iso9660",
    int(pytsk3.TSK_FS_TYPE_HFS): "hfs+",
    int(pytsk3.TSK_FS_TYPE_FFS1): "ufs1",
    int(pytsk3.TSK_FS_TYPE_FFS2): "ufs2",
    int(pytsk3.TSK_FS_TYPE_YAFFS2): "yaffs2",
    int(pytsk3.TSK_FS_TYPE_APFS): "apfs",
}
_FAT_TYPES = frozenset({"fat12", "fat16", "fat32", "exfat"})
#: Filesystems whose times are local wall-clock times with no zone, which
#: Sleuth Kit converts with the process's zone (see ``wall_clock_as_utc``).
LOCAL_TIME_TYPES = _FAT_TYPES | {"iso9660"}

_APFS_MAGIC = b"NXSB"  # at byte 32 of an APFS container superblock
_REG = int(pytsk3.TSK_FS_META_TYPE_REG)
_DIR_META = (int(pytsk3.TSK_FS_META_TYPE_DIR), int(pytsk3.TSK_FS_META_TYPE_VIRT_DIR))
_NAME_REG = int(pytsk3.TSK_FS_NAME_TYPE_REG)
_NAME_DIR = int(pytsk3.TSK_FS_NAME_TYPE_DIR)
_VIRT_DIR = int(pytsk3.TSK_FS_META_TYPE_VIRT_DIR)
_VIRT = int(pytsk3.TSK_FS_META_TYPE_VIRT)
_NAME_UNALLOC = int(pytsk3.TSK_FS_NAME_FLAG_UNALLOC)
_META_UNALLOC = int(pytsk3.TSK_FS_META_FLAG_UNALLOC)
_NTFS_DATA = int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA)
_NTFS_IDXROOT = int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_IDXROOT)
_SPARSE = int(pytsk3.TSK_FS_ATTR_RUN_FLAG_SPARSE)
_NO_DATA = _SPARSE | int(pytsk3.TSK_FS_ATTR_RUN_FLAG_FILLER)
_VOLUME_LABEL = "(Volume Label Entry)"


def _decode(raw: bytes | None) -> str:
    return raw.decode("utf-8", "replace") if raw else ""


def wall_clock_as_utc(seconds: int, zone: str | None = None) -> int:
    """Undo Sleuth Kit's ``mktime`` of a zoneless wall-clock time.

    Sleuth Kit turns a FAT, exFAT or ISO 9660 date and time into seconds
    with the process's local zone (``mktime``, DST guessed). ``localtime``
    gives that wall clock back, read as UTC (``timegm``): the time the
    device stored, labelled UTC, whatever the examiner's zone, without
    touching the process's ``TZ``. The same as Sleuth Kit run under
    ``TZ=UTC``, with one edge case: a stored time that falls in the
    examiner's own spring-forward gap (02:30 on the night New York's clocks
    jump to 03:00) does not exist locally, ``mktime`` moves it past the gap,
    and it reads one DST shift (usually an hour) late. Machines whose zone
    has no DST (UTC, Asia/Kolkata) are exact.
    """
    # timegm(localtime(t)) is t plus the local offset in force at t; it is
    # kept per hour when the whole hour has one offset, and per ``zone`` (the
    # caller's ``TZ``: a host that changes it gets fresh offsets).
    key = (zone, seconds // 3600)
    offset = _OFFSETS.get(key)
    if offset is None:
        offset = time.localtime(seconds).tm_gmtoff
        hour = key[1] * 3600
        if time.localtime(hour).tm_gmtoff == offset == _offset_at(hour + 3599):
            if len(_OFFSETS) >= 1 << 16:
                _OFFSETS.clear()
            _OFFSETS[key] = offset
    return seconds + offset


_OFFSETS: dict[tuple[str | None, int], int] = {}


def _offset_at(seconds: int) -> int:
    return time.localtime(seconds).tm_gmtoff


#: ``_time``'s ``zone`` for a filesystem whose times are UTC already.
_UTC = object()


def _time(meta: Any, name: str, zone: object) -> float | None:
    """A time of ``meta``; ``zone`` is the process's ``TZ`` for a local-time
    filesystem (converted, see ``wall_clock_as_utc``), else ``_UTC``."""
    seconds = int(getattr(meta, name, 0) or 0)
    if seconds == 0:
        return None  # Sleuth Kit's "no such time" (FAT has no ctime, ...)
    if zone is not _UTC:
        seconds = wall_clock_as_utc(seconds, zone)  # type: ignore[arg-type]
    nano = int(getattr(meta, f"{name}_nano", 0) or 0)
    return seconds + nano / 1e9


def ntfs_streams(tsk_file: Any) -> list[tuple[str, int, int, int]]:
    """(stream suffix, size, attr type, attr id) for each NTFS stream fls lists.

    The suffix is "" for the unnamed $DATA stream, else ":name".
    """
    streams: list[tuple[str, int, int, int]] = []
    for attr in tsk_file:
        info = attr.info
        atype = int(info.type)
        if atype not in (_NTFS_DATA, _NTFS_IDXROOT):
            continue
        name = _decode(info.name)
        if atype == _NTFS_IDXROOT and name == "$I30":
            name = ""
        suffix = f":{name}" if name else ""
        streams.append((suffix, int(info.size), atype, int(info.id)))
    return streams


def _sparse_only(tsk_file: Any, attr_id: int) -> bool:
    """True when the NTFS stream ``attr_id`` has no non-sparse data run."""
    for attr in tsk_file:
        if int(attr.info.id) == attr_id:
            return all(int(run.flags) & _SPARSE for run in attr)
    return False


#: How to count the entries a folder's own bytes hold, by filesystem type.
_CLAIMED_ENTRIES: dict[str, Callable[[bytes], int]] = {
    "fat12": fat_entries_in_use,
    "fat16": fat_entries_in_use,
    "fat32": fat_entries_in_use,
    "exfat": exfat_entries_in_use,
    "iso9660": iso_records_in_use,
}


def _on_disk(tsk_file: Any, name_info: Any) -> bool:
    """An allocated name stored in the folder (not one of Sleuth Kit's own
    virtual entries such as ``$FAT1`` or ``$OrphanFiles``)."""
    if int(name_info.flags) & _NAME_UNALLOC:
        return False
    meta = tsk_file.info.meta
    return meta is None or int(meta.type) not in (_VIRT, _VIRT_DIR)


class TskFilesystem(Filesystem):
    """A filesystem read through Sleuth Kit's ``FS_Info`` (registered as "tsk")."""

    name = "tsk"
    catch_all = True

    def __init__(self, handle: DeviceHandle, offset: int, fs: Any) -> None:
        ftype = int(fs.info.ftype)
        super().__init__(handle, offset, FS_TYPES.get(ftype, f"tsk-{ftype:#x}"))
        self._fs = fs
        self.block_size = int(fs.info.block_size)
        self.block_count = int(fs.info.block_count)

    @classmethod
    def open(cls, handle: DeviceHandle, offset: int) -> TskFilesystem:
        container = handle.device.container
        if any(container in b.spaceless_types() for b in FILESYSTEMS.values()):
            raise NotThisFilesystem(
                where=handle.device.device_id,
                reason=f"a {container} device is read by its own backend, "
                "not Sleuth Kit",
            )
        if handle.read(offset + 32, 4) == _APFS_MAGIC:
            # Read by the apfs backend (libfsapfs): pytsk3 has no pool API.
            raise NotThisFilesystem(
                where=handle.device.device_id,
                reason=f"APFS container at offset {offset}: not read by Sleuth "
                "Kit (pytsk3 has no pool API)",
            )
        try:
            fs = pytsk3.FS_Info(image_of(handle), offset=offset)
        except TSK_ERRORS as exc:
            raise_read_error(handle, exc)
            raise FilesystemError(
                where=handle.device.device_id,
                reason=f"no readable filesystem at offset {offset}: {tsk_message(exc)}",
            ) from exc
        return cls(handle, offset, fs)

    # --- listing --------------------------------------------------------------

    @property
    def root(self) -> int:
        return int(self._fs.info.root_inum)

    def list_folder(self, ref: int) -> Iterator[Entry]:
        """Raises ``FilesystemError`` for a folder whose record is damaged
        (Sleuth Kit cannot open it, or an NTFS folder without its ``$I30``
        index, whose listing Sleuth Kit would give as empty)."""
        try:
            listing = iter(self._fs.open_dir(inode=ref))
        except TSK_ERRORS as exc:
            raise FilesystemError(
                self._damaged(ref, failure(self.handle, exc))
            ) from exc
        if self.fs_type == "ntfs" and not self._has_index(ref):
            raise FilesystemError(
                self._damaged(ref, "no $I30 index: its attributes are garbage")
            )
        # Looked up once a folder (os.environ is slow to ask per timestamp).
        zone = os.environ.get("TZ") if self.fs_type in LOCAL_TIME_TYPES else _UTC
        return self._entries(listing, ref, zone=zone)

    def _damaged(self, ref: int, why: str) -> str:
        record = "MFT record" if self.fs_type == "ntfs" else "inode"
        return (
            f"{record} {ref} of this folder is damaged ({why}); the files in it "
            "may be listed under $OrphanFiles"
        )

    def _has_index(self, ref: int) -> bool:
        try:
            folder = self._fs.open_meta(inode=ref)
            if int(folder.info.meta.type) == _VIRT_DIR:
                return True  # $OrphanFiles: Sleuth Kit's own, not on disk
            return any(int(a.info.type) == _NTFS_IDXROOT for a in folder)
        except TSK_ERRORS:
            return False

    def _entries(
        self, listing: Iterator[Any], ref: int, zone: object
    ) -> Iterator[Entry]:
        """The folder's entries; at the end, a ``DamagedEntries`` if the
        folder holds entries Sleuth Kit passed over (``folder_claims``)."""
        top = ref == self.root
        is_fat = self.fs_type in _FAT_TYPES
        listed = [0, 0]  # allocated names, allocated folder names
        while True:
            try:
                tsk_file = next(listing)
            except StopIteration:
                if (why := self._unlisted(ref, *listed)) is not None:
                    raise DamagedEntries(why) from None
                return
            except TSK_ERRORS as exc:
                raise FilesystemError(failure(self.handle, exc)) from exc
            name_info = tsk_file.info.name
            name = _decode(name_info.name)
            if name in (".", ".."):
                continue
            if _on_disk(tsk_file, name_info):
                listed[0] += 1
                listed[1] += int(name_info.type) == _NAME_DIR
            entry = self._entry(tsk_file, name_info, name, zone)
            if entry is None:
                continue
            if top and is_fat and not entry.is_folder and name.endswith(_VOLUME_LABEL):
                continue  # the volume label: not a file
            yield entry

    def _unlisted(self, ref: int, names: int, folders: int) -> str | None:
        """Why the folder ``ref`` holds more than was listed, or None."""
        try:
            folder = self._fs.open_meta(inode=ref)
            meta = folder.info.meta
            count = _CLAIMED_ENTRIES.get(self.fs_type)
            if count is not None:
                size = min(int(meta.size), 1 << 24)
                claimed = count(folder.read_random(0, size))
                return unlisted_message("entries", claimed, names)
            if self.fs_type.startswith("ext"):
                subfolders = ext_subfolders(int(meta.nlink))
                if subfolders is not None:
                    return unlisted_message("subfolders", subfolders, folders)
        except TSK_ERRORS:
            return None  # nothing to count with: the listing stands
        return None

    def _entry(
        self, tsk_file: Any, name_info: Any, name: str, zone: object
    ) -> Entry | None:
        """The folder or regular file ``tsk_file`` is, or None for others."""
        meta = tsk_file.info.meta
        inode = int(name_info.meta_addr)
        if meta is None and inode != 0:
            # pytsk3 leaves the metadata of unallocated names unloaded; fls
            # loads it by address (deleted NTFS files, orphans), so do we.
            try:
                tsk_file = self._fs.open_meta(inode=inode)
                meta = tsk_file.info.meta
            except TSK_ERRORS:
                meta = None
        meta_type = int(meta.type) if meta is not None else None
        if meta_type in _DIR_META:
            return Entry(name, inode, is_folder=True)
        if (
            int(name_info.type) == _NAME_DIR
            and inode != 0
            and not int(name_info.flags) & _NAME_UNALLOC
        ):
            # An allocated folder name whose record cannot be read as a
            # folder: the walk tries to open it, and records why it cannot.
            return Entry(name, inode, is_folder=True)
        name_says_file = meta is None and int(name_info.type) == _NAME_REG
        if not (meta_type == _REG or name_says_file):
            return None
        name_unalloc = bool(int(name_info.flags) & _NAME_UNALLOC)
        meta_unalloc = meta is not None and bool(int(meta.flags) & _META_UNALLOC)
        if meta is None:
            return Entry(name, inode, False, deleted=name_unalloc, streams=(("", 0),))
        streams: list[tuple[str, int]] = []
        if self.fs_type == "ntfs":
            streams = [(s, size) for s, size, _, _ in ntfs_streams(tsk_file)]
        return Entry(
            name,
            inode,
            is_folder=False,
            deleted=name_unalloc or meta_unalloc,
            # fls "(realloc)": the name is deleted but its inode is in use again.
            reallocated=name_unalloc and not meta_unalloc,
            mtime=_time(meta, "mtime", zone),
            atime=_time(meta, "atime", zone),
            ctime=_time(meta, "ctime", zone),
            crtime=_time(meta, "crtime", zone),
            streams=tuple(streams) or (("", int(meta.size)),),
        )

    # --- content --------------------------------------------------------------

    def _open_meta(self, record: FileRecord) -> Any:
        inode = record.inode
        if inode is None:
            raise FilesystemError(
                f"{record_where(self.handle, record)}: record has no inode"
            )
        try:
            return self._fs.open_meta(inode=inode)
        except TSK_ERRORS as exc:
            raise FilesystemError(
                f"{record_where(self.handle, record)}: cannot open inode {inode}: "
                + failure(self.handle, exc)
            ) from exc

    def open_file(self, record: FileRecord) -> RecordIO:
        tsk_file = self._open_meta(record)
        meta = tsk_file.info.meta
        args: tuple[int, ...] = ()
        size = int(meta.size) if meta is not None else 0
        last = record.path.rsplit("/", 1)[-1]
        if ":" in last and self.fs_type == "ntfs":
            suffix = ":" + last.split(":", 1)[1]
            for stream, stream_size, atype, aid in ntfs_streams(tsk_file):
                if stream == suffix:
                    args, size = (atype, aid), stream_size
                    break
            else:
                raise FilesystemError(
                    f"{record_where(self.handle, record)}: stream {suffix} not found"
                )
        sparse_only = bool(args) and _sparse_only(tsk_file, args[1])
        return RecordIO(self._reader(record, tsk_file, args, size, sparse_only), size)

    def _reader(
        self,
        record: FileRecord,
        tsk_file: Any,
        args: tuple[int, ...],
        size: int,
        sparse_only: bool,
    ) -> Callable[[int, int], bytes]:
        handle = self.handle
        direct = None
        if not args and self.fs_type in DIRECT_TYPES:
            block = (self.block_size, self.block_count)
            direct = FatRuns(handle, tsk_file, size, self.offset, block)

        def read_fs(offset: int, want: int) -> bytes:  # want: within size
            if direct is not None:
                data = direct.read(offset, want)
                if data is not None:
                    return data
            try:
                data = bytes(tsk_file.read_random(offset, want, *args))
            except TSK_ERRORS as exc:
                raise FilesystemError(
                    f"{record_where(handle, record)}: read failed at byte {offset}: "
                    + failure(handle, exc)
                ) from exc
            if not data and sparse_only:
                # A stream with no allocated run at all (NTFS $BadClus:$Bad on
                # a healthy disk) is zeros; Sleuth Kit returns nothing for it.
                return bytes(want)
            return data

        return read_fs

    def extents(self, record: FileRecord) -> list[tuple[int, int]] | None:
        """From Sleuth Kit's data runs of every non-resident attribute."""
        if record.inode is None:
            return None
        tsk_file = self._open_meta(record)
        block, base = self.block_size, record.partition_offset
        found = [
            (
                base + int(run.addr) * block,
                base + (int(run.addr) + int(run.len)) * block,
            )
            for attr in tsk_file
            for run in attr
            if not int(run.flags) & _NO_DATA and int(run.len) > 0
        ]
        return found or None

    # --- free space -----------------------------------------------------------

    @classmethod
    def free_space_types(cls) -> frozenset[str]:
        return frozenset(ALLOCATION_MAPS.names())

    def free_runs(self, partition: Partition) -> Iterator[tuple[int, int]]:
        """From the filesystem's allocation map (``ALLOCATION_MAPS``)."""
        if self.fs_type not in ALLOCATION_MAPS:
            raise FilesystemError(
                where=f"{partition.device_id}: partition {partition.index}",
                reason=f"unallocated space of {self.fs_type} is not carved (no "
                f"allocation-map reader; known: {', '.join(sorted(ALLOCATION_MAPS))})",
            )
        return ALLOCATION_MAPS.get(self.fs_type)(self, partition)

    def metafile_chunks(
        self, inode: int | None = None, path: str | None = None
    ) -> Iterator[bytes]:
        """A metadata file (an allocation bitmap) in chunks, by inode or path."""
        name = path or f"inode {inode}"
        try:
            entry = (
                self._fs.open_meta(inode=inode)
                if inode is not None
                else self._fs.open(path)
            )
            size = int(entry.info.meta.size)
        except OSError as exc:
            raise FilesystemError(
                f"cannot open the allocation map {name}: {exc}"
            ) from exc
        step = allocation.MAP_CHUNK
        for offset in range(0, size, step):
            try:
                chunk = bytes(entry.read_random(offset, min(step, size - offset)))
            except OSError as exc:
                raise FilesystemError(
                    f"cannot read the allocation map {name} at byte {offset}: {exc}"
                ) from exc
            if not chunk:
                return
            yield chunk


FreeRuns = Callable[[TskFilesystem, Partition], Iterator[tuple[int, int]]]


def _fat(fs: TskFilesystem, partition: Partition) -> Iterator[tuple[int, int]]:
    return allocation.fat_runs(fs.handle.read, partition)


def _ext(fs: TskFilesystem, partition: Partition) -> Iterator[tuple[int, int]]:
    return allocation.ext_runs(fs.handle.read, partition)


def _ntfs(fs: TskFilesystem, partition: Partition) -> Iterator[tuple[int, int]]:
    bitmap = fs.metafile_chunks(inode=6)  # $Bitmap: one bit per cluster
    runs = allocation.bitmap_runs(bitmap, fs.block_count)
    return allocation.to_bytes(runs, partition.offset, fs.block_size)


def _hfs(fs: TskFilesystem, partition: Partition) -> Iterator[tuple[int, int]]:
    # $AllocationFile (catalog id 6): one bit per block, most significant first.
    bitmap = fs.metafile_chunks(inode=6)
    runs = allocation.bitmap_runs(bitmap, fs.block_count, order="big")
    return allocation.to_bytes(runs, partition.offset, fs.block_size)


def _exfat(fs: TskFilesystem, partition: Partition) -> Iterator[tuple[int, int]]:
    bitmap = fs.metafile_chunks(path="/$ALLOC_BITMAP")
    return allocation.exfat_runs(fs.handle.read, partition, bitmap)


def _none(fs: TskFilesystem, partition: Partition) -> Iterator[tuple[int, int]]:
    return iter(())  # ISO 9660: no free space by design


#: Filesystem type (as ``Partition.fs_type`` names it) -> allocation-map reader.
ALLOCATION_MAPS: Registry[FreeRuns] = Registry("allocation map")
for _names, _reader in (
    (("fat12", "fat16", "fat32"), _fat),
    (("ntfs",), _ntfs),
    (("exfat",), _exfat),
    (("ext2", "ext3", "ext4"), _ext),
    (("hfs+",), _hfs),
    (("iso9660",), _none),
):
    for _name in _names:
        ALLOCATION_MAPS.register(_reader, name=_name)


FILESYSTEMS.register(TskFilesystem)
