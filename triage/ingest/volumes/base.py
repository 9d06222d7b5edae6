"""What every volume system offers: the partition slots of a device.

A volume system (one module per backend) is an object with a ``name`` and
``slots(handle)``: the device's partitions and unpartitioned gaps as plain
``Slot`` records, or None when the device does not hold its kind of table.
It registers in ``VOLUME_SYSTEMS``; ``iter_partitions`` asks each in
registration order and uses the first that answers. A ``bare`` one (the
device is one filesystem, no table) is asked last and always answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from triage.ingest.evidence import DeviceHandle
from triage.registry import Registry


@dataclass(frozen=True, slots=True)
class Slot:
    """One partition (``allocated``) or unpartitioned gap of a device.

    ``index`` is the volume system's own slot number (as ``mmls`` prints it
    for Sleuth Kit), so what ``triage ls`` says can be matched against it.
    """

    index: int
    offset: int  # bytes from the start of the device
    length: int  # bytes
    description: str
    allocated: bool
    #: What is wrong with this table entry (beyond the end of the device,
    #: overlapping another...): recorded as a skip; an entry with a length
    #: on the device is still read.
    problem: str | None = None


class VolumeSystem(Protocol):
    """A partitioning scheme (MBR, GPT, none, ...)."""

    @property
    def name(self) -> str: ...

    @property
    def bare(self) -> bool:
        """True when the whole device is one filesystem (no table): its
        filesystem not opening fails the device, not one partition."""
        ...

    def slots(self, handle: DeviceHandle) -> list[Slot] | None:
        """The device's slots in order, or None: not this scheme.

        Raises:
            EvidenceError: the container could not be read.
        """
        ...


#: Volume systems, asked in registration order, bare ones ("none") last.
VOLUME_SYSTEMS: Registry[VolumeSystem] = Registry("volume system")
