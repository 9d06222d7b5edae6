"""Find the partitions of a device and the filesystem in each.

The Sleuth Kit's volume system reader handles MBR (extended and logical
partitions included) and GPT. A device with no partition table is one bare
filesystem, reported as partition 0. Unpartitioned space comes back as
``Partition(allocated=False)`` so it can be carved. A partition whose
filesystem cannot be read is a ``Skipped`` record naming the partition and
what Sleuth Kit said, followed by the partition with ``fs_type=None`` (nothing
to walk, but its bytes can still be carved); the other partitions go on.

Partition ``index`` is Sleuth Kit's slot number (as ``mmls`` prints it), so a
reader can match what ``triage ls`` says against ``mmls`` and ``fls -o``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytsk3

from triage.errors import EvidenceError, FilesystemError
from triage.ingest.evidence import DeviceHandle
from triage.records import Partition, Skipped, Stage

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

_APFS_MAGIC = b"NXSB"  # at byte 32 of an APFS container superblock


def tsk_message(exc: BaseException) -> str:
    """Sleuth Kit's own words, without the C function names it prefixes."""
    text = " ".join(str(exc).split())
    if "with error: " in text:  # pytsk3's wrapper around Sleuth Kit's message
        text = text.split("with error: ", 1)[1]
    return text.split(": ", 1)[-1] if text.startswith("tsk_") else text


def open_filesystem(handle: DeviceHandle, offset: int) -> Any:
    """The ``pytsk3.FS_Info`` at ``offset`` (cached on the handle).

    Raises:
        FilesystemError: naming the device and offset, with Sleuth Kit's reason.
    """
    cached = handle.fs_cache.get(offset)
    if cached is not None:
        return cached
    if handle.read(offset + 32, 4) == _APFS_MAGIC:
        raise FilesystemError(
            f"{handle.device.device_id}: APFS container at offset {offset}: APFS "
            "is not supported by this Sleuth Kit build (pytsk3 has no pool API)"
        )
    try:
        fs = pytsk3.FS_Info(handle.img_info, offset=offset)
    except (OSError, RuntimeError) as exc:  # pytsk3 raises both
        _raise_read_error(handle, exc)
        raise FilesystemError(
            f"{handle.device.device_id}: no readable filesystem at offset "
            f"{offset}: {tsk_message(exc)}"
        ) from exc
    handle.fs_cache[offset] = fs
    return fs


def fs_type_name(fs: Any) -> str:
    ftype = int(fs.info.ftype)
    return FS_TYPES.get(ftype, f"tsk-{ftype:#x}")


def failure(handle: DeviceHandle, exc: BaseException) -> str:
    """Why a pytsk3 call failed: the container's read error, else Sleuth Kit's."""
    return handle.take_read_error() or tsk_message(exc)


def _raise_read_error(handle: DeviceHandle, exc: BaseException) -> None:
    """If Sleuth Kit failed because the container could not be read, say so."""
    message = handle.take_read_error()
    if message is not None:
        raise EvidenceError(f"{handle.device.device_id}: {message}") from exc


def _volume_system(handle: DeviceHandle) -> Any | None:
    try:
        return pytsk3.Volume_Info(handle.img_info)
    except (OSError, RuntimeError) as exc:  # pytsk3 raises both
        _raise_read_error(handle, exc)
        return None  # no partition table: a bare filesystem (or nothing)


def iter_partitions(handle: DeviceHandle) -> Iterator[Partition | Skipped]:
    """Partitions with their filesystem type, then unpartitioned regions.

    Raises:
        FilesystemError: the device has neither a partition table nor a
            filesystem Sleuth Kit can read (random bytes, corrupt superblock).
    """
    dev = handle.device
    volumes = _volume_system(handle)
    if volumes is None:
        fs = open_filesystem(handle, 0)
        yield Partition(
            device_id=dev.device_id,
            evidence=dev.evidence,
            index=0,
            offset=0,
            length=handle.size,
            description="whole device (no partition table)",
            fs_type=fs_type_name(fs),
        )
        return
    block = int(volumes.info.block_size)
    for part in volumes:
        flags = int(part.flags)
        offset = int(part.start) * block
        length = int(part.len) * block
        desc = part.desc.decode("utf-8", "replace") if part.desc else ""
        common = dict(
            device_id=dev.device_id,
            evidence=dev.evidence,
            index=int(part.addr),
            offset=offset,
            length=length,
            description=desc,
        )
        if flags & pytsk3.TSK_VS_PART_FLAG_UNALLOC:
            yield Partition(**common, allocated=False)  # type: ignore[arg-type]
        elif flags & pytsk3.TSK_VS_PART_FLAG_ALLOC:
            try:
                fs = open_filesystem(handle, offset)
            except FilesystemError as exc:
                yield Skipped.at_volume(
                    dev.device_id,
                    int(part.addr),
                    offset,
                    Stage.VOLUME,
                    str(exc).split(": ", 1)[-1],
                    description=desc,
                )
                # Still a region of the device: carving can search it whole.
                yield Partition(**common)  # type: ignore[arg-type]
                continue
            yield Partition(**common, fs_type=fs_type_name(fs))  # type: ignore[arg-type]
