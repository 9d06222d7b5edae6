"""Ingest: open any seized-device image and find every piece of media on it.

``iter_files`` composes the stages for one device: partitions
(:mod:`.volumes`) -> filesystem entries (:mod:`.walk`) -> content signature
and archive expansion (:mod:`.classify`) -> carving of unallocated and
unpartitioned space (:mod:`.carve`). Every stage streams; a problem with one
item or partition is a ``Skipped`` record and the rest goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from triage.records import FileRecord, Partition, Skipped, Source

if TYPE_CHECKING:
    from triage.ingest.evidence import DeviceHandle

__all__ = ["iter_files"]


def iter_files(
    evidence: Path | str,
    device_id: str | None = None,
    *,
    media_only: bool = False,
    archives: bool = True,
    carve: bool = True,
) -> Iterator[FileRecord | Skipped]:
    """Every file, archive member and carved item on one device.

    ``media_only`` keeps only records whose sniffed type is media (``Skipped``
    records always pass). ``archives=False`` leaves archives unexpanded;
    ``carve=False`` does not search unallocated space.

    Raises:
        EvidenceError: the evidence cannot be opened (names file and container).
        FilesystemError: the device has no partition table and no readable
            filesystem.
    """
    # Imported here so that importing any ingest module stays cheap and the
    # package has no import cycle with its own stages.
    from triage.ingest.evidence import open_device
    from triage.ingest.volumes import iter_partitions
    from triage.ingest.walk import iter_entries

    classify = _classifier()
    with open_device(evidence, device_id) as handle:
        for part in iter_partitions(handle):
            if isinstance(part, Skipped):
                yield part
                continue
            if part.allocated and part.fs_type is not None:
                entries = iter_entries(handle, part)
                for item in classify(handle, entries, archives):
                    if _wanted(item, media_only):
                        yield item
            if carve:
                yield from _carve_partition(handle, part, media_only)


def _wanted(item: FileRecord | Skipped, media_only: bool) -> bool:
    return isinstance(item, Skipped) or not media_only or item.is_media


def _classifier() -> Callable[..., Iterator[FileRecord | Skipped]]:
    try:
        from triage.ingest.classify import classify
    except ModuleNotFoundError as exc:
        if exc.name != "triage.ingest.classify":
            raise

        def unclassified(
            handle: DeviceHandle,
            entries: Iterator[FileRecord | Skipped],
            archives: bool,
        ) -> Iterator[FileRecord | Skipped]:
            return entries

        return unclassified

    def classified(
        handle: DeviceHandle, entries: Iterator[FileRecord | Skipped], archives: bool
    ) -> Iterator[FileRecord | Skipped]:
        for item in classify(handle, entries):
            if (
                archives
                or isinstance(item, Skipped)
                or item.source is not Source.ARCHIVE
            ):
                yield item

    return classified


def _carve_partition(
    handle: DeviceHandle, part: Partition, media_only: bool
) -> Iterator[FileRecord | Skipped]:
    try:
        from triage.ingest.carve import carve_partition
    except ModuleNotFoundError as exc:
        if exc.name != "triage.ingest.carve":
            raise
        return
    # carve_partition turns "no allocation map for this filesystem" into a Skipped.
    for item in carve_partition(handle, part):
        if _wanted(item, media_only) and (
            isinstance(item, Skipped) or item.source is Source.CARVED
        ):
            yield item
