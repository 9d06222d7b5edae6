"""Walk a filesystem's directory tree and yield every regular file, as fls does.

The oracle is ``fls -r -p`` (Sleuth Kit): an entry is listed when its metadata
type is a regular file (``r/r``, ``-/r``), or when its metadata is gone and its
name says regular file (``r/-``, e.g. a deleted name whose inode is 0). Paths
follow ``fls -p``: "dir/sub/name", no leading slash. The choices about Sleuth
Kit's pseudo-entries, made on purpose:

- ``$OrphanFiles`` is walked as a folder; its files carry ``orphan=True`` and
  paths like "$OrphanFiles/OrphanFile-16", exactly as fls prints them.
- The FAT/exFAT volume label, which fls prints as a 0-byte ``r/r`` entry named
  "LABEL (Volume Label Entry)", is *not* a file and is left out.
- Virtual files (``v/v``: $MBR, $FAT1, $FAT2) are not files on the volume and
  are left out, as are directories, links and devices.
- NTFS metafiles ($MFT, $LogFile, $Boot, ...) are real on-disk files, listed
  by fls as ``r/r``: they are kept. On NTFS every $DATA stream and every
  named $INDEX_ROOT other than $I30 is its own record ("name:stream"), as fls
  lists them; alternate data streams can hide content, so they must be seen.
- exFAT's $ALLOC_BITMAP and $UPCASE_TABLE are kept for the same reason.

A directory is entered once (a map of visited directory inodes), so a corrupt
tree that points a folder back at its parent cannot loop: the second visit is
a ``Skipped`` ("directory loop" when the folder is its own ancestor).
Entries stream out one directory at a time; nothing holds the whole listing.

The order is Sleuth Kit's, depth first, except that top-level folders named in
``defer`` (``SYSTEM_FOLDERS`` for a scan) are walked after all the rest: a
triage scan reaches users' files before the operating system's thousands of
icons and wallpapers. Every entry is still listed, once.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytsk3

from triage.errors import FilesystemError
from triage.ingest.evidence import DeviceHandle, damage_records
from triage.ingest.volumes import failure, open_filesystem
from triage.records import FileRecord, Partition, Skipped, Source, Stage

_REG = int(pytsk3.TSK_FS_META_TYPE_REG)
_DIR_META = (int(pytsk3.TSK_FS_META_TYPE_DIR), int(pytsk3.TSK_FS_META_TYPE_VIRT_DIR))
_NAME_REG = int(pytsk3.TSK_FS_NAME_TYPE_REG)
_NAME_UNALLOC = int(pytsk3.TSK_FS_NAME_FLAG_UNALLOC)
_META_UNALLOC = int(pytsk3.TSK_FS_META_FLAG_UNALLOC)
_NTFS_DATA = int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_DATA)
_NTFS_IDXROOT = int(pytsk3.TSK_FS_ATTR_TYPE_NTFS_IDXROOT)
_VOLUME_LABEL = "(Volume Label Entry)"
ORPHAN_DIR = "$OrphanFiles"
#: Top-level folders of operating systems and installed programs (lower case):
#: a scan walks them last. Users' folders, the recycle bin, orphan files and
#: everything else come first; iOS and Android user data (``private``,
#: ``data``, ``media``) are not here.
SYSTEM_FOLDERS = frozenset(
    {
        # Windows
        "windows", "program files", "program files (x86)", "programdata",
        "$windows.~bt", "$windows.~ws", "$winreagent", "perflogs", "recovery",
        "msocache", "intel", "amd", "nvidia", "drivers",
        # Linux and other Unix systems
        "usr", "lib", "lib32", "lib64", "libx32", "bin", "sbin", "boot", "etc",
        "opt", "snap", "srv", "var", "proc", "sys", "dev", "run",
        # macOS
        "system", "library", "applications", "cores",
    }
)  # fmt: skip


def _decode(raw: bytes | None) -> str:
    return raw.decode("utf-8", "replace") if raw else ""


def _time(meta: Any, name: str) -> float | None:
    seconds = int(getattr(meta, name, 0) or 0)
    if seconds == 0:
        return None  # Sleuth Kit's "no such time" (FAT has no ctime, ...)
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


def _skip(partition: Partition, where: str, reason: str) -> Skipped:
    return Skipped.at_filesystem(partition, Stage.INGEST, reason, inner=where)


def iter_entries(
    handle: DeviceHandle, partition: Partition, *, defer: frozenset[str] = frozenset()
) -> Iterator[FileRecord | Skipped]:
    """Every regular file of the partition's filesystem, deleted and orphan too.

    Metadata only: no file content is read. A partition with no readable
    filesystem yields one ``Skipped``; an unreadable folder yields a
    ``Skipped`` for that folder and the walk goes on.
    """
    dev = handle.device
    if not partition.allocated or partition.fs_type is None:
        return
    try:
        fs = open_filesystem(handle, partition.offset)
    except FilesystemError as exc:
        yield Skipped.at_filesystem(partition, Stage.INGEST, str(exc))
        return
    is_ntfs = partition.fs_type == "ntfs"
    is_fat = partition.fs_type in ("fat12", "fat16", "fat32", "exfat")
    root = int(fs.info.root_inum)
    visited: dict[int, str] = {root: "/"}  # directory inode -> where first seen
    # Depth-first, one open directory per level: (entries, path prefix, inode).
    stack: list[tuple[Iterator[Any], str, int]] = []
    later: list[tuple[str, int]] = []  # deferred top-level folders: (path, inode)

    def enter(path: str, inode: int) -> Skipped | None:
        """Open a folder's listing on top of the stack, or say why not."""
        try:
            stack.append((iter(fs.open_dir(inode=inode)), f"{path}/", inode))
        except (OSError, RuntimeError) as exc:  # pytsk3 raises both
            why = failure(handle, exc)
            return _skip(partition, path, f"cannot open folder: {why}")
        return None

    try:
        stack.append((iter(fs.open_dir(inode=root)), "", root))
    except (OSError, RuntimeError) as exc:  # pytsk3 raises both
        why = failure(handle, exc)
        yield _skip(partition, "/", f"cannot read the root folder: {why}")
        return
    while stack or later:
        if not stack:
            if (skip := enter(*later.pop(0))) is not None:
                yield skip
            continue
        entries, prefix, _ = stack[-1]
        try:
            tsk_file = next(entries)
        except StopIteration:
            stack.pop()
            continue
        except (OSError, RuntimeError) as exc:  # pytsk3 raises both
            stack.pop()
            why = failure(handle, exc)
            yield _skip(partition, prefix or "/", f"folder listing stopped: {why}")
            continue
        name_info = tsk_file.info.name
        name = _decode(name_info.name)
        if name in (".", ".."):
            continue
        path = f"{prefix}{name}"
        meta = tsk_file.info.meta
        name_type = int(name_info.type)
        inode = int(name_info.meta_addr)
        if meta is None and inode != 0:
            # pytsk3 leaves the metadata of unallocated names unloaded; fls
            # loads it by address (deleted NTFS files, orphans), so do we.
            try:
                tsk_file = fs.open_meta(inode=inode)
                meta = tsk_file.info.meta
            except (OSError, RuntimeError):
                meta = None
        meta_type = int(meta.type) if meta is not None else None

        if meta_type in _DIR_META:
            if inode in visited:
                if any(inode == up for _, _, up in stack):
                    reason = (
                        f"directory loop: folder (inode {inode}) contains itself "
                        f"(first seen as {visited[inode]}); not walked again"
                    )
                else:
                    reason = (
                        f"folder (inode {inode}) already walked as "
                        f"{visited[inode]}; not walked again"
                    )
                yield _skip(partition, path, reason)
                continue
            visited[inode] = path
            if not prefix and name.lower() in defer:
                later.append((path, inode))
            elif (skip := enter(path, inode)) is not None:
                yield skip
            continue
        if not (meta_type == _REG or (meta is None and name_type == _NAME_REG)):
            continue
        if is_fat and not prefix and name.endswith(_VOLUME_LABEL):
            continue
        name_unalloc = bool(int(name_info.flags) & _NAME_UNALLOC)
        meta_unalloc = meta is not None and bool(int(meta.flags) & _META_UNALLOC)
        deleted = name_unalloc or meta_unalloc
        # fls "(realloc)": the name is deleted but its inode is in use again.
        reallocated = name_unalloc and meta is not None and not meta_unalloc
        orphan = path.startswith(f"{ORPHAN_DIR}/")
        mtime, atime, ctime, crtime = (
            _time(meta, k) if meta is not None else None
            for k in ("mtime", "atime", "ctime", "crtime")
        )
        streams: list[tuple[str, int]]
        if is_ntfs and meta is not None:
            streams = [(s, size) for s, size, _, _ in ntfs_streams(tsk_file)]
            if not streams:
                streams = [("", int(meta.size))]
        else:
            streams = [("", int(meta.size) if meta is not None else 0)]
        for suffix, size in streams:
            yield FileRecord(
                device_id=dev.device_id,
                evidence=dev.evidence,
                partition_index=partition.index,
                partition_offset=partition.offset,
                path=path + suffix,
                size=size,
                source=Source.FILESYSTEM,
                inode=inode,
                deleted=deleted,
                orphan=orphan,
                reallocated=reallocated,
                mtime=mtime,
                atime=atime,
                ctime=ctime,
                crtime=crtime,
            )


def listing_damage(handle: DeviceHandle, partition: Partition) -> list[Skipped]:
    """After listing ``partition``: the damaged E01 chunks the listing read
    (as zeros), one ``evidence`` row each, and one row for the partition
    (``partition N:listing``) saying the listing may miss what was stored
    there. Empty when nothing was damaged."""
    ranges = handle.take_damage()
    if not ranges:
        return []
    where = ", ".join(f"{lo}-{hi - 1}" for lo, hi in ranges)
    return [
        *damage_records(partition.device_id, ranges),
        _skip(
            partition,
            "listing",
            f"the listing read {len(ranges)} damaged E01 chunk(s) as zeros "
            f"(bytes {where}): entries or files stored there may be missing",
        ),
    ]
