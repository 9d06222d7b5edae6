"""Partition tables read by The Sleuth Kit: MBR (extended and logical
partitions included), GPT, and BSD, Sun and Mac labels.

Each scheme is its own ``VOLUME_SYSTEMS`` entry, but which one a device holds
is decided once per device by Sleuth Kit's own detection, because its rules
need to see all of them: a GPT disk's protective MBR is not an MBR disk, and
a bare FAT or NTFS boot sector (which ends in the MBR signature) is not a
partition table. Opening one scheme by force would bypass both rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytsk3

from triage.ingest._sleuthkit import TSK_ERRORS, image_of, raise_read_error
from triage.ingest.evidence import DeviceHandle
from triage.ingest.volumes.base import VOLUME_SYSTEMS, Slot
from triage.ingest.volumes.partition_tables import cross_check

_CACHE_KEY = "tsk volume system"


def _detected(handle: DeviceHandle) -> Any | None:
    """Sleuth Kit's ``Volume_Info`` of the device (detected once), or None."""
    if _CACHE_KEY not in handle.cache:
        try:
            handle.cache[_CACHE_KEY] = pytsk3.Volume_Info(image_of(handle))
        except TSK_ERRORS as exc:
            raise_read_error(handle, exc)
            handle.cache[_CACHE_KEY] = None  # no partition table Sleuth Kit reads
    return handle.cache[_CACHE_KEY]


@dataclass(frozen=True, slots=True)
class TskVolumeSystem:
    """One Sleuth Kit partitioning scheme."""

    name: str
    tsk_type: int
    bare: bool = False

    def slots(self, handle: DeviceHandle) -> list[Slot] | None:
        volumes = _detected(handle)
        if volumes is None or int(volumes.info.vstype) != self.tsk_type:
            return None
        block = int(volumes.info.block_size)
        found: list[Slot] = []
        parts = list(volumes)
        if self.tsk_type == int(pytsk3.TSK_VS_TYPE_DOS) and any(
            b"(0xee)" in (p.desc or b"") for p in parts
        ):
            return None  # a GPT Sleuth Kit could not read: tables.py reads it
        for part in parts:
            flags = int(part.flags)
            # Neither allocated nor unallocated: the tables themselves
            # (Sleuth Kit's "meta" slots), which hold no data to list or carve.
            if flags & pytsk3.TSK_VS_PART_FLAG_UNALLOC:
                allocated = False
            elif flags & pytsk3.TSK_VS_PART_FLAG_ALLOC:
                allocated = True
            else:
                continue
            desc = part.desc.decode("utf-8", "replace") if part.desc else ""
            found.append(
                Slot(
                    index=int(part.addr),
                    offset=int(part.start) * block,
                    length=int(part.len) * block,
                    description=desc,
                    allocated=allocated,
                )
            )
        if self.tsk_type == int(pytsk3.TSK_VS_TYPE_DOS):
            return cross_check(handle, found)
        return found


for _name, _type in (
    ("gpt", pytsk3.TSK_VS_TYPE_GPT),
    ("mbr", pytsk3.TSK_VS_TYPE_DOS),
    ("bsd", pytsk3.TSK_VS_TYPE_BSD),
    ("sun", pytsk3.TSK_VS_TYPE_SUN),
    ("mac", pytsk3.TSK_VS_TYPE_MAC),
):
    VOLUME_SYSTEMS.register(TskVolumeSystem(_name, int(_type)))
