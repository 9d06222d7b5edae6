"""MBR and GPT read by ``triage`` itself (no Sleuth Kit): every entry on its
own, bad ones named. Used by the ``tables`` volume system (``tables.py``)
and to cross-check Sleuth Kit's DOS tables (``tsk.py``).

Numbering: entries as Linux numbers them, primary MBR entries 1-4, logical
partitions 5 on, GPT entries 1-128 (0: the GPT header itself); unpartitioned
gaps from :data:`GAP_BASE` on.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from dataclasses import dataclass, field, replace

from triage.ingest.evidence import DeviceHandle
from triage.ingest.volumes.base import Slot

SECTOR = 512
#: Slot numbers of unpartitioned gaps start here (entries are below it).
GAP_BASE = 1000
_EXTENDED = (0x05, 0x0F, 0x85)
_MAX_LOGICAL = 128  # a longer extended chain is treated as damaged
#: OEM names of boot sectors that end in 0x55AA without being a table.
_BOOT_SECTOR_IDS = ((3, b"NTFS    "), (3, b"EXFAT   "), (54, b"FAT"), (82, b"FAT32"))


@dataclass(frozen=True, slots=True)
class Entry:
    """One partition entry as the table gives it (sectors)."""

    number: int
    start: int
    length: int
    description: str


@dataclass(slots=True)
class Table:
    """What a table holds: its entries and the problems met reading it."""

    scheme: str
    entries: list[Entry] = field(default_factory=list)
    problems: list[tuple[int, int, str]] = field(default_factory=list)  # n, at, why
    note: str | None = None  # e.g. "read from the backup GPT"


def _sector(handle: DeviceHandle, lba: int, count: int = 1) -> bytes:
    return handle.read(lba * SECTOR, count * SECTOR)


def _mbr_entries(sector: bytes) -> list[tuple[int, int, int, int]] | None:
    """(boot flag, type, first LBA, sectors) of the four entries, or None:
    not a DOS table (no signature, a filesystem boot sector, bad flags)."""
    if len(sector) < SECTOR or sector[510:512] != b"\x55\xaa":
        return None
    if any(sector[at : at + len(oem)] == oem for at, oem in _BOOT_SECTOR_IDS):
        return None
    out = []
    for i in range(4):
        raw = sector[446 + 16 * i : 462 + 16 * i]
        boot, ptype = raw[0], raw[4]
        start, length = struct.unpack_from("<II", raw, 8)
        if boot not in (0x00, 0x80):
            return None
        out.append((boot, ptype, start, length))
    if not any(ptype for _, ptype, _, _ in out):
        return None
    return out


def read_dos(handle: DeviceHandle) -> Table | None:
    """The device's DOS (MBR) table with its logical partitions, or None."""
    entries = _mbr_entries(_sector(handle, 0))
    if entries is None or any(t == 0xEE for _, t, _, _ in entries):
        return None
    table = Table("dos")
    logical = 5
    for number, (_, ptype, start, length) in enumerate(entries, start=1):
        if ptype == 0 or length == 0:
            continue
        if ptype in _EXTENDED:
            logical = _read_chain(handle, table, number, start, length, logical)
            continue
        table.entries.append(Entry(number, start, length, f"DOS 0x{ptype:02x}"))
    _check_bounds(handle, table)
    return table


def _read_chain(
    handle: DeviceHandle, table: Table, number: int, base: int, size: int, logical: int
) -> int:
    """Follow an extended partition's chain of EBRs; returns the next logical
    number. A link out of the device, or back to an EBR already read, is a
    problem of ``number`` and ends the chain (what was read before stays)."""
    sectors = handle.size // SECTOR
    seen: set[int] = set()
    ebr = base
    while True:
        if ebr >= sectors:
            why = f"extended chain links to sector {ebr}, beyond the end"
            table.problems.append((number, ebr, why))
            return logical
        if ebr in seen or len(seen) >= _MAX_LOGICAL:
            why = f"extended chain loops back to sector {ebr}"
            table.problems.append((number, ebr, why))
            return logical
        seen.add(ebr)
        entries = _mbr_entries(_sector(handle, ebr))
        if entries is None:
            why = f"no valid extended boot record at sector {ebr}"
            table.problems.append((number, ebr, why))
            return logical
        _, ptype, start, length = entries[0]
        if ptype and length:
            desc = f"DOS 0x{ptype:02x} (logical)"
            table.entries.append(Entry(logical, ebr + start, length, desc))
            logical += 1
        _, ntype, nstart, nlength = entries[1]
        if ntype not in _EXTENDED or nlength == 0:
            return logical
        ebr = base + nstart


def _check_bounds(handle: DeviceHandle, table: Table) -> None:
    """Move entries that start beyond the device to problems; name overlaps
    (the later entry is the suspect; both are still read)."""
    sectors = handle.size // SECTOR
    kept: list[Entry] = []
    for entry in table.entries:
        end = entry.start + entry.length
        if entry.start >= sectors:
            why = (
                f"starts at sector {entry.start}, beyond the end of the device "
                f"({sectors} sectors)"
            )
            table.problems.append((entry.number, entry.start, why))
            continue
        if end > sectors:
            why = (
                f"ends at sector {end}, beyond the end of the device ({sectors} "
                "sectors); read as far as the device goes"
            )
            table.problems.append((entry.number, entry.start, why))
        for other in kept:
            if entry.start < other.start + other.length and other.start < end:
                why = f"overlaps entry {other.number}; both are read"
                table.problems.append((entry.number, entry.start, why))
                break
        kept.append(entry)
    table.entries = kept


# -- GPT -------------------------------------------------------------------------


def _gpt_at(handle: DeviceHandle, lba: int) -> tuple[list[Entry], int] | str:
    """The entries of the GPT header at ``lba`` and its alternate LBA, or
    why that copy cannot be used."""
    head = _sector(handle, lba)
    if head[:8] != b"EFI PART":
        return f"no GPT header at sector {lba}"
    size = struct.unpack_from("<I", head, 12)[0]
    if not 92 <= size <= SECTOR:
        return f"GPT header at sector {lba}: bad header size {size}"
    crc = struct.unpack_from("<I", head, 16)[0]
    if zlib.crc32(head[:16] + b"\0\0\0\0" + head[20:size]) != crc:
        return f"GPT header at sector {lba}: checksum does not match"
    alternate = struct.unpack_from("<Q", head, 32)[0]
    array_lba, count, entry_size, array_crc = struct.unpack_from("<QIII", head, 72)
    if count > 1024 or entry_size < 128 or entry_size > 4096:
        return f"GPT header at sector {lba}: {count} entries of {entry_size} bytes"
    array = handle.read(array_lba * SECTOR, count * entry_size)
    if zlib.crc32(array) != array_crc:
        return f"GPT entry array at sector {array_lba}: checksum does not match"
    entries = []
    for i in range(count):
        raw = array[i * entry_size : (i + 1) * entry_size]
        if raw[:16] == bytes(16):
            continue
        first, last = struct.unpack_from("<QQ", raw, 32)
        name = raw[56:128].decode("utf-16-le", "replace").split("\0", 1)[0]
        kind = str(uuid.UUID(bytes_le=raw[:16]))
        desc = name or f"GPT {kind}"
        entries.append(Entry(i + 1, first, max(0, last - first + 1), desc))
    return entries, alternate


def read_gpt(handle: DeviceHandle) -> Table | None:
    """The device's GPT (from the backup when the primary is damaged), or
    None when sector 0 is not a protective MBR."""
    entries = _mbr_entries(_sector(handle, 0))
    if entries is None or not any(t == 0xEE for _, t, _, _ in entries):
        return None
    table = Table("gpt")
    primary = _gpt_at(handle, 1)
    if isinstance(primary, tuple):
        table.entries = primary[0]
    else:
        last = handle.size // SECTOR - 1
        backup = _gpt_at(handle, last)
        if isinstance(backup, str):
            why = f"GPT unreadable: {primary}; backup: {backup}"
            table.problems.append((0, 1, why))
        else:
            table.entries = backup[0]
            table.note = f"{primary}: partitions read from the backup GPT"
            table.problems.append((0, 1, table.note))
    _check_bounds(handle, table)
    return table


# -- the volume system -------------------------------------------------------


def _where(table: Table, number: int) -> str:
    return "GPT header" if number == 0 else f"{table.scheme} entry {number}"


def table_slots(handle: DeviceHandle, table: Table) -> list[Slot]:
    """Entries and problems as slots, gaps between entries as unallocated."""
    slots = [
        Slot(n, at * SECTOR, 0, _where(table, n), False, problem=why)
        for n, at, why in table.problems
        if not any(e.number == n for e in table.entries)
    ]
    size = handle.size
    cursor, gap = 0, GAP_BASE
    for entry in sorted(table.entries, key=lambda e: e.start):
        offset = entry.start * SECTOR
        length = min(entry.length * SECTOR, size - offset)
        if offset > cursor:
            slots.append(Slot(gap, cursor, offset - cursor, "Unallocated", False))
            gap += 1
        why = "; ".join(w for n, _, w in table.problems if n == entry.number)
        slots.append(Slot(entry.number, offset, length, entry.description, True,
                          problem=why or None))  # fmt: skip
        cursor = max(cursor, offset + length)
    if cursor < size:
        slots.append(Slot(gap, cursor, size - cursor, "Unallocated", False))
    return slots


#: Problem-only slots added to Sleuth Kit's slots are numbered from here on
#: (plus the entry number), clear of Sleuth Kit's own slot numbers.
PROBLEM_BASE = 900


def cross_check(handle: DeviceHandle, slots: list[Slot]) -> list[Slot]:
    """Sleuth Kit's DOS ``slots`` with this reader's problems: a problem of
    an entry Sleuth Kit lists is put on its slot; one it does not list (a
    chain that loops, a link out of the device) becomes a slot of its own."""
    table = read_dos(handle)
    if table is None or not table.problems:
        return slots
    by_offset = {s.offset: k for k, s in enumerate(slots) if s.allocated}
    out = list(slots)
    for number, at, why in table.problems:
        k = by_offset.get(at * SECTOR)
        if k is None:
            where = _where(table, number)
            out.append(Slot(PROBLEM_BASE + number, at * SECTOR, 0, where, False,
                            problem=why))  # fmt: skip
            continue
        old = out[k].problem
        out[k] = replace(out[k], problem=f"{old}; {why}" if old else why)
    return out
