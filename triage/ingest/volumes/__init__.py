"""Find the partitions of a device and the filesystem in each.

The first ``VOLUME_SYSTEMS`` entry that recognises the device gives its
slots: Sleuth Kit's MBR (extended and logical partitions included) and GPT
(``tsk.py``), else triage's own MBR/GPT reader for tables Sleuth Kit rejects
(``tables.py``: bad entries named, a damaged GPT read from its backup), else
"none" (``none.py``): a device with no partition table is
one bare filesystem, reported as partition 0. Unpartitioned space comes back
as ``Partition(allocated=False)`` so it can be carved. A partition whose
filesystem cannot be read is a ``Skipped`` record naming the partition and
what the backend said, followed by the partition with ``fs_type=None``
(nothing to walk, but its bytes can still be carved); the others go on.

Partition ``index`` is the volume system's slot number (as ``mmls`` prints
it), so a reader can match what ``triage ls`` says against ``mmls`` and
``fls -o``. A new scheme is a module registering in ``VOLUME_SYSTEMS`` and
its import below; schemes are asked in registration order, bare ones last.
"""

from __future__ import annotations

from collections.abc import Iterator

from triage.errors import FilesystemError
from triage.ingest.evidence import DeviceHandle
from triage.ingest.filesystems import open_filesystem
from triage.ingest.volumes import (  # noqa: I001  (registration order)
    none,  # noqa: F401  (registers none: last)
    tables,  # noqa: F401  (registers tables: after Sleuth Kit's)
    tsk,  # noqa: F401  (registers gpt, mbr, ...)
)
from triage.ingest.volumes.base import VOLUME_SYSTEMS, Slot, VolumeSystem
from triage.records import Partition, Skipped, Stage

__all__ = [
    "VOLUME_SYSTEMS",
    "Slot",
    "VolumeSystem",
    "iter_partitions",
    "partitions_or_whole",
]


def _slots(handle: DeviceHandle) -> tuple[VolumeSystem, list[Slot]]:
    # Bare (no table) last: any device "is" one filesystem.
    for system in sorted(VOLUME_SYSTEMS.values(), key=lambda vs: vs.bare):
        found = system.slots(handle)
        if found is not None:
            return system, found
    raise FilesystemError(
        where=handle.device.device_id,
        reason=f"no volume system answered (known: {', '.join(VOLUME_SYSTEMS)})",
    )


def iter_partitions(handle: DeviceHandle) -> Iterator[Partition | Skipped]:
    """Partitions with their filesystem type, then unpartitioned regions.

    Raises:
        FilesystemError: the device has neither a partition table nor a
            filesystem a backend can read (random bytes, corrupt superblock).
        EvidenceError: the container could not be read.
    """
    dev = handle.device
    system, slots = _slots(handle)
    for slot in slots:
        common = dict(
            device_id=dev.device_id,
            evidence=dev.evidence,
            index=slot.index,
            offset=slot.offset,
            length=slot.length,
            description=slot.description,
        )
        if slot.problem is not None:
            yield Skipped.at_volume(
                dev.device_id,
                slot.index,
                slot.offset,
                Stage.VOLUME,
                slot.problem,
                description=slot.description,
            )
        if slot.length <= 0 or slot.offset >= handle.size:
            continue  # a bad entry with nothing on the device to read
        if not slot.allocated:
            yield Partition(**common, allocated=False)  # type: ignore[arg-type]
            continue
        try:
            fs = open_filesystem(handle, slot.offset)
        except FilesystemError as exc:
            if system.bare:
                raise
            yield Skipped.at_volume(
                dev.device_id,
                slot.index,
                slot.offset,
                Stage.VOLUME,
                exc.reason,
                description=slot.description,
            )
            # Still a region of the device: carving can search it whole.
            yield Partition(**common)  # type: ignore[arg-type]
            continue
        yield Partition(**common, fs_type=fs.fs_type)  # type: ignore[arg-type]


def partitions_or_whole(
    handle: DeviceHandle, device_id: str, evidence: str
) -> Iterator[Partition | Skipped]:
    """``iter_partitions``, but a device with neither a partition table nor a
    readable filesystem (a wiped superblock, random bytes) is one
    ``Skipped`` naming why, then one unreadable region, the whole device, to
    carve (as ``triage ls`` and ``triage scan`` both do when carving)."""
    try:
        yield from iter_partitions(handle)
    except FilesystemError as exc:
        yield Skipped.at_device(device_id, evidence, Stage.VOLUME, exc.reason)
        yield Partition(
            device_id=device_id,
            evidence=evidence,
            index=0,
            offset=0,
            length=int(handle.size),
            description="whole device (no readable volume or filesystem)",
            allocated=False,
        )
