"""``tables``: MBR and GPT read by ``triage`` itself, for the tables Sleuth
Kit rejects or reads only in part.

Sleuth Kit refuses a whole DOS table when one of its first two entries
starts beyond the end of the device, and reads a GPT whose primary header
or entry array is damaged as a bare protective MBR: either way the healthy
partitions would never be walked. This volume system, asked after Sleuth
Kit's and before "no table", takes every entry on its own
(``partition_tables.py``): each that lies on the device is a slot (its
filesystem opened as any other), and each bad one is a slot with a
``problem`` (its number and what is wrong: beyond the end of the device,
overlapping another entry, an extended-partition chain that loops). A GPT
whose primary copy is damaged is read from its backup (the last sector), and
a problem on the GPT header says so. Sleuth Kit's own DOS tables are
cross-checked with the same reader (``partition_tables.cross_check``).
"""

from __future__ import annotations

from dataclasses import dataclass

from triage.ingest.evidence import DeviceHandle
from triage.ingest.volumes.base import VOLUME_SYSTEMS, Slot
from triage.ingest.volumes.partition_tables import read_dos, read_gpt, table_slots


@dataclass(frozen=True, slots=True)
class OwnTables:
    """MBR/GPT read here: answers only when Sleuth Kit's volume systems did
    not (they are registered, and so asked, first)."""

    name: str = "tables"
    bare: bool = False

    def slots(self, handle: DeviceHandle) -> list[Slot] | None:
        table = read_gpt(handle) or read_dos(handle)
        if table is None:
            return None
        if not table.entries and not table.problems:
            return None
        return table_slots(handle, table)


VOLUME_SYSTEMS.register(OwnTables())
