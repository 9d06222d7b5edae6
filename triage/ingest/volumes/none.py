"""No partition table: the whole device is one filesystem (partition 0)."""

from __future__ import annotations

from dataclasses import dataclass

from triage.ingest.evidence import DeviceHandle
from triage.ingest.volumes.base import VOLUME_SYSTEMS, Slot


@dataclass(frozen=True, slots=True)
class WholeDevice:
    """The volume system of last resort: one slot, the whole device."""

    name: str = "none"
    bare: bool = True

    def slots(self, handle: DeviceHandle) -> list[Slot] | None:
        return [Slot(0, 0, handle.size, "whole device (no partition table)", True)]


VOLUME_SYSTEMS.register(WholeDevice())
