"""The APFS filesystem backend, through libfsapfs (``pyfsapfs``, libyal, LGPL).

Sleuth Kit's Python binding has no APFS pool API, so an APFS container
(bare, or in a GPT partition) is read here. One container holds several
volumes; the walk shows each as a top-level folder named after the volume
("Data/private/var/...", "apfs_test/passwords.txt"), so every volume is
walked and paths say which one a file is on. A locked (encrypted) volume is
unlocked with the passwords given (``set_passwords``: ``--password`` /
``--recovery-password``); one that stays locked is a ``Skipped`` row
"encrypted volume", and the other volumes are walked.

Each regular file is a record; its resource fork
(``com.apple.ResourceFork``) and any other extended attribute whose first
bytes are a picture or video are records of their own ("path:xattr name"),
as NTFS alternate data streams are. File references pack the volume index
with the file's identifier (``ref``). What libfsapfs cannot do is said in
the README: it lists no deleted files and no snapshots, and exposes no
allocation bitmap, so APFS free space is not carved (a recorded skip). The
snapshots of each volume are counted from the container (``apfs_snapshots``)
and a volume with any is a ``Skipped`` row "N snapshot(s) of volume NAME not
read"; one whose count cannot be read (damaged object map, checksum) says
so. A file the library cannot decompress is a read error, recorded for
that file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pyfsapfs

from triage.errors import EvidenceError, FilesystemError
from triage.ingest.evidence import DeviceHandle
from triage.ingest.filesystems.apfs_snapshots import Unreadable, count_snapshots
from triage.ingest.filesystems.base import (
    FILESYSTEMS,
    DamagedEntries,
    Entry,
    Filesystem,
    NotThisFilesystem,
    RecordIO,
    record_where,
)
from triage.ingest.filesystems.extraction import MediaFile
from triage.ingest.filesystems.passwords import PASSWORD_ENV, RECOVERY_ENV
from triage.ingest.filesystems.passwords import set_passwords as set_passwords
from triage.ingest.media import is_media, sniff
from triage.records import FileRecord, Partition, Skipped, Stage

_APFS_MAGIC = b"NXSB"  # at byte 32 of the container superblock
#: A file reference is ``volume index << _VOLUME_SHIFT | identifier``.
_VOLUME_SHIFT = 48
_ROOT = (1 << 62) - 1  # the container: a folder of volumes
_S_IFMT, _S_IFDIR, _S_IFREG = 0o170000, 0o040000, 0o100000
RESOURCE_FORK = "com.apple.ResourceFork"
#: Bytes of an extended attribute sniffed to tell a picture or video.
_SNIFF = 64
ENCRYPTED = "encrypted volume"
SNAPSHOTS = "snapshot(s)"


def _message(exc: BaseException) -> str:
    """libfsapfs's innermost words (it chains every caller's name)."""
    text = " ".join(str(exc).split())
    parts = [p.split(": ", 1)[-1] for p in text.split(". ") if p]
    return parts[1] if len(parts) > 1 else (parts[0] if parts else text)


def _entry(index: int, child: Any) -> Entry | None:
    """The listing entry of a folder's child (None: neither a folder nor a
    regular file)."""
    mode = child.file_mode & _S_IFMT
    ref = index << _VOLUME_SHIFT | child.identifier
    if mode == _S_IFDIR:
        return Entry(child.name, ref, is_folder=True)
    if mode != _S_IFREG:
        return None
    return Entry(
        child.name,
        ref,
        is_folder=False,
        mtime=_seconds(child, "modification_time"),
        atime=_seconds(child, "access_time"),
        ctime=_seconds(child, "inode_change_time"),
        crtime=_seconds(child, "creation_time"),
        streams=(("", int(child.size)), *_xattr_streams(child)),
    )


def _seconds(entry: Any, name: str) -> float | None:
    try:
        value = getattr(entry, f"get_{name}_as_integer")()
    except (OSError, AttributeError):
        return None
    return value / 1e9 if value else None


def _volume_names(container: Any) -> list[str]:
    """A folder name per volume: its name, made unique by index if need be."""
    names: list[str] = []
    for index in range(container.number_of_volumes):
        try:
            name = container.get_volume(index).name or f"volume {index}"
        except OSError:
            name = f"volume {index}"
        names.append(f"{name} ({index})" if name in names else name)
    return names


class ApfsFilesystem(Filesystem):
    """An APFS container read through libfsapfs (registered as "apfs")."""

    name = "apfs"

    def __init__(self, handle: DeviceHandle, offset: int, container: Any) -> None:
        super().__init__(handle, offset, "apfs")
        self._container = container
        self._names = _volume_names(container)
        self._volumes: dict[int, Any] = {}
        self._locked: dict[int, str] = {}
        self.block_size = 4096

    @classmethod
    def open(cls, handle: DeviceHandle, offset: int) -> ApfsFilesystem:
        dev = handle.device.device_id
        if handle.read(offset + 32, 4) != _APFS_MAGIC:
            raise NotThisFilesystem(
                where=dev, reason=f"no APFS container at offset {offset}"
            )
        container = pyfsapfs.container()
        try:
            container.open_file_object(MediaFile(handle, offset))
        except OSError as exc:
            message = handle.take_read_error()
            if message is not None:
                raise EvidenceError(f"{dev}: {message}") from exc
            raise FilesystemError(
                where=dev,
                reason=f"APFS container at offset {offset} cannot be read: "
                f"{_message(exc)}",
            ) from exc
        return cls(handle, offset, container)

    # --- volumes --------------------------------------------------------------

    def volume(self, index: int) -> Any:
        """Volume ``index``, unlocked when it can be.

        Raises:
            FilesystemError: it cannot be opened, or stays locked (the message
                starts with ``ENCRYPTED``).
        """
        if index in self._volumes:
            return self._volumes[index]
        if index in self._locked:
            raise FilesystemError(self._locked[index])
        try:
            volume = self._container.get_volume(index)
        except OSError as exc:
            raise FilesystemError(
                f"cannot open volume {index}: {_message(exc)}"
            ) from exc
        if volume.is_locked() and not _unlock(volume):
            given = os.environ.get(PASSWORD_ENV) or os.environ.get(RECOVERY_ENV)
            self._locked[index] = f"{ENCRYPTED}: " + (
                "the password given does not unlock it"
                if given
                else "locked; give --password or --recovery-password"
            )
            raise FilesystemError(self._locked[index])
        self._volumes[index] = volume
        return volume

    def iter_entries(
        self, partition: Partition, *, defer: frozenset[str] = frozenset()
    ) -> Iterator[FileRecord | Skipped]:
        """Every volume's files; a volume that will not open is one row
        naming it (``encrypted volume`` when it is locked)."""
        for index, name in enumerate(self._names):
            try:
                self.volume(index)
            except FilesystemError as exc:
                yield Skipped.at_filesystem(
                    partition, Stage.INGEST, str(exc), inner=f"volume {name}"
                )
        for name, reason in self.snapshot_skips():
            yield Skipped.at_filesystem(
                partition, Stage.INGEST, reason, inner=f"volume {name}"
            )
        yield from super().iter_entries(partition, defer=defer)

    def snapshot_skips(self) -> list[tuple[str, str]]:
        """(volume name, reason) for each volume whose snapshots are not
        read: pyfsapfs, libfsapfs' Python binding, has no snapshot API, so
        they are counted from the container (``apfs_snapshots``) and said to
        be left out."""

        def read(offset: int, size: int) -> bytes:
            return self.handle.read(self.offset + offset, size)

        try:
            volumes = count_snapshots(read)
        except (Unreadable, EvidenceError) as exc:
            return [(name, _uncounted(name, str(exc))) for name in self._names]
        found: list[tuple[str, str]] = []
        for vol in volumes:
            # libfsapfs numbers volumes by their nx_fs_oid slot.
            name = self._names[vol.slot] if vol.slot < len(self._names) else vol.name
            if vol.count is None:
                found.append((name, _uncounted(name, vol.problem)))
            elif vol.count > 0:
                found.append((name, f"{vol.count} {SNAPSHOTS} of {_volume_label(name)} "
                              "not read (pyfsapfs has no snapshot API); the "
                              "current state of the volume is walked"))  # fmt: skip
        return found

    # --- listing --------------------------------------------------------------

    @property
    def root(self) -> int:
        return _ROOT

    def list_folder(self, ref: int) -> Iterator[Entry]:
        if ref == _ROOT:
            return self._volume_folders()
        index = ref >> _VOLUME_SHIFT
        volume = self.volume(index)
        try:
            folder = volume.get_file_entry_by_identifier(ref & _MASK)
            count = folder.number_of_sub_file_entries
        except OSError as exc:
            raise FilesystemError(_message(exc)) from exc
        return self._entries(index, folder, count)

    def _volume_folders(self) -> Iterator[Entry]:
        for index, name in enumerate(self._names):
            if index in self._locked:
                continue
            try:
                root = self.volume(index).get_root_directory().identifier
            except (OSError, FilesystemError):
                continue  # already a Skipped row (iter_entries)
            yield Entry(name, index << _VOLUME_SHIFT | root, is_folder=True)

    def _entries(self, index: int, folder: Any, count: int) -> Iterator[Entry]:
        """The folder's entries; one that cannot be read is passed over, and
        at the end a ``DamagedEntries`` names how many were (the first's
        reason), so the rest of the folder is still listed."""
        bad: list[str] = []
        for number in range(count):
            try:
                entry = _entry(index, folder.get_sub_file_entry(number))
            except OSError as exc:
                bad.append(f"entry {number}: {_message(exc)}")
                continue
            if entry is not None:
                yield entry
        if bad:
            raise DamagedEntries(
                f"{len(bad)} of {count} entries of this folder could not be "
                f"read ({bad[0]}); the others are listed"
            )

    # --- content --------------------------------------------------------------

    def _file(self, record: FileRecord) -> Any:
        ref = record.inode
        if ref is None:
            raise FilesystemError(f"{record_where(self.handle, record)}: no inode")
        try:
            return self.volume(ref >> _VOLUME_SHIFT).get_file_entry_by_identifier(
                ref & _MASK
            )
        except (OSError, FilesystemError) as exc:
            raise FilesystemError(
                f"{record_where(self.handle, record)}: cannot open file "
                f"{ref & _MASK}: {_message(exc)}"
            ) from exc

    def open_file(self, record: FileRecord) -> RecordIO:
        entry = self._file(record)
        target = entry
        xattr = _xattr_of(record, entry)
        if xattr is not None:
            try:
                target = entry.get_extended_attribute_by_name(xattr)
            except OSError as exc:
                raise FilesystemError(
                    f"{record_where(self.handle, record)}: extended attribute "
                    f"{xattr}: {_message(exc)}"
                ) from exc
            if target is None:
                raise FilesystemError(
                    f"{record_where(self.handle, record)}: no extended "
                    f"attribute {xattr}"
                )
        size = int(target.size)
        where = record_where(self.handle, record)

        def read(offset: int, want: int) -> bytes:
            want = min(want, size - offset)
            if want <= 0:
                return b""
            try:
                return bytes(target.read_buffer_at_offset(want, offset))
            except OSError as exc:
                raise FilesystemError(
                    f"{where}: read failed at byte {offset} (compressed with a "
                    f"method libfsapfs cannot read?): {_message(exc)}"
                ) from exc

        return RecordIO(read, size)

    def extents(self, record: FileRecord) -> list[tuple[int, int]] | None:
        entry = self._file(record)
        if _xattr_of(record, entry) is not None:
            return None
        found: list[tuple[int, int]] = []
        try:
            for number in range(entry.number_of_extents):
                start, length, _flags = entry.get_extent(number)
                if length > 0:
                    found.append((self.offset + start, self.offset + start + length))
        except OSError:
            return None
        return found or None

    def free_runs(self, partition: Partition) -> Iterator[tuple[int, int]]:
        raise FilesystemError(
            where=f"{partition.device_id}: partition {partition.index}",
            reason="unallocated space of apfs is not carved (libfsapfs does not "
            "expose the container's space manager)",
        )


_MASK = (1 << _VOLUME_SHIFT) - 1


def _volume_label(name: str) -> str:
    """The words "volume Data"; "volume 0" for a volume whose name cannot
    be read (its folder name is then already "volume 0")."""
    return name if name.startswith("volume ") else f"volume {name}"


def _uncounted(name: str, problem: str) -> str:
    return (
        f"{SNAPSHOTS} of {_volume_label(name)} could not be counted ({problem}) and "
        "are not read (pyfsapfs has no snapshot API); the current state of "
        "the volume is walked"
    )


def _xattr_of(record: FileRecord, entry: Any) -> str | None:
    """The extended attribute a record is ("name:xattr"), or None for the
    file's own data (an APFS name may itself hold a colon)."""
    last = record.path.rsplit("/", 1)[-1]
    try:
        name = entry.name or ""
    except OSError:
        name = ""
    if last == name or not last.startswith(f"{name}:"):
        return None
    return last[len(name) + 1 :]


def _unlock(volume: Any) -> bool:
    """Try the passwords from the environment on a locked volume."""
    for env, setter in (
        (PASSWORD_ENV, volume.set_password),
        (RECOVERY_ENV, volume.set_recovery_password),
    ):
        secret = os.environ.get(env)
        if not secret:
            continue
        try:
            setter(secret)
            if volume.unlock():
                return True
        except OSError:
            continue
    return False


def _xattr_streams(entry: Any) -> tuple[tuple[str, int], ...]:
    """The resource fork, and extended attributes holding a picture or video."""
    found: list[tuple[str, int]] = []
    try:
        count = entry.number_of_extended_attributes
        for number in range(count):
            xattr = entry.get_extended_attribute(number)
            name, size = xattr.name, int(xattr.size)
            if size == 0 or name.startswith("com.apple.fs."):
                continue
            if name == RESOURCE_FORK or is_media(
                sniff(bytes(xattr.read_buffer_at_offset(min(size, _SNIFF), 0)))
            ):
                found.append((f":{name}", size))
    except OSError:
        return tuple(found)  # the file's own data is still listed
    return tuple(found)


FILESYSTEMS.register(ApfsFilesystem)
