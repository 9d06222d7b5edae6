"""Ingest: open any seized-device image and find every piece of media on it.

``iter_files`` composes the stages for one device: partitions
(:mod:`.volumes`) -> filesystem entries (:mod:`.listing`, through
the backends of :mod:`.filesystems`) -> content signature
and archive expansion (:mod:`.classify`) -> carving of unallocated and
unpartitioned space (:mod:`.carve`). Every stage streams; a problem with one
item or partition is a ``Skipped`` record and the rest goes on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from triage.records import FileRecord, Skipped

if TYPE_CHECKING:
    from triage.ingest.evidence import DeviceHandle

__all__ = ["iter_files", "keep_local_zone_steady"]

#: Where the C library reads the local zone from when ``TZ`` is unset.
_LOCALTIME = "/etc/localtime"


def keep_local_zone_steady() -> None:
    """For applications (the CLI calls it; importing triage never does): when
    ``TZ`` is unset, name the zone already in force (``:/etc/localtime``).

    The zone does not change. Why: with ``TZ`` unset, glibc checks
    ``/etc/localtime`` again on every ``mktime``, and Sleuth Kit calls
    ``mktime`` for each FAT, exFAT and ISO 9660 time it reads (three
    ``stat`` calls a file: a FAT listing ran ~2.5x slower). Child processes
    (the scan's workers) inherit it.
    """
    if "TZ" not in os.environ and os.path.exists(_LOCALTIME):
        os.environ["TZ"] = f":{_LOCALTIME}"
        time.tzset()


def iter_files(
    evidence: Path | str | DeviceHandle,
    device_id: str | None = None,
    *,
    media_only: bool = False,
    archives: bool = True,
    carve: bool = True,
) -> Iterator[FileRecord | Skipped]:
    """Every file, archive member and carved item on one device.

    Per partition: its files (deleted and orphan included) with their media
    type and archive members, then what carving finds in its unallocated
    space; unpartitioned regions are carved whole. ``media_only`` keeps only
    records whose sniffed type is media (``Skipped`` records always pass).
    ``archives=False`` leaves archives unexpanded; ``carve=False`` does not
    search unallocated space. ``evidence`` may be an open ``DeviceHandle``
    (left open; ``device_id`` is then ignored), e.g. to count what is read.

    Raises:
        EvidenceError: the evidence cannot be opened (names file and container).
        FilesystemError: the device has no partition table and no readable
            filesystem.
    """
    # Imported here: the stage modules import this package's submodules, and
    # importing one ingest module should not load them all.
    from triage.ingest.carve import carve_partition
    from triage.ingest.classify import classify
    from triage.ingest.deleted_cover import may_cover
    from triage.ingest.evidence import DeviceHandle, open_device
    from triage.ingest.listing import iter_entries, listing_damage
    from triage.ingest.volumes import iter_partitions, partitions_or_whole

    opened = (
        nullcontext(evidence)
        if isinstance(evidence, DeviceHandle)
        else open_device(evidence, device_id)
    )
    with opened as handle:
        yield from handle.acquisition_skips()
        dev = handle.device
        partitions = (
            partitions_or_whole(handle, dev.device_id, dev.evidence)
            if carve
            else iter_partitions(handle)
        )
        for part in partitions:
            yield from handle.damage_skips()
            if isinstance(part, Skipped):
                yield part
                continue
            deleted: list[FileRecord] = []  # deleted JPEGs: see deleted_cover
            if part.allocated and part.fs_type is not None:
                entries = iter_entries(handle, part)
                for item in classify(handle, entries, archives=archives):
                    if carve and isinstance(item, FileRecord) and may_cover(item):
                        deleted.append(item)
                    if _wanted(item, media_only):
                        yield item
                yield from listing_damage(handle, part)
            if carve:
                for item in carve_partition(handle, part, listed=deleted):
                    if _wanted(item, media_only):
                        yield item
                yield from handle.damage_skips()


def _wanted(item: FileRecord | Skipped, media_only: bool) -> bool:
    return isinstance(item, Skipped) or not media_only or item.is_media
