"""What a folder says it holds, to set against what Sleuth Kit lists.

Sleuth Kit passes over a directory entry it cannot parse (a FAT short entry
with invalid characters or reserved attribute bits, an ext4 entry with a
broken record length) without a word, so a listing can be short with
nothing to show for it. Where the on-disk format lets us count, these
functions count what the folder claims; the Sleuth Kit backend records the
difference as a skip of the folder.

* FAT12/16/32: the 32-byte entries of the folder's own bytes that are in use
  (not free, not deleted, not long-name parts, not ``.``/``..``), a
  long-name slot with reserved attribute bits counted as a damaged entry.
* exFAT: file entry sets (type 0x85) and the allocation bitmap, up-case
  table and volume label entries, which Sleuth Kit lists too.
* ISO 9660: the directory records in the folder's sectors (not ``.``,
  ``..``, nor the non-final parts of a multi-extent file), a record whose
  length cannot be right counted as a damaged one.
* ext2/3/4: the folder's link count says how many subfolders it has
  (2 + subfolders; 1 when the ``dir_nlink`` feature stopped counting).
"""

from __future__ import annotations

_ENTRY = 32
_LFN = 0x0F
_RESERVED_ATTRS = 0xC0


def fat_entries_in_use(raw: bytes) -> int:
    """Entries of a FAT folder's bytes in use: files, folders and volume
    labels, each once (long-name slots are parts of the entry after them)."""
    count = 0
    for at in range(0, len(raw) - _ENTRY + 1, _ENTRY):
        first, attr = raw[at], raw[at + 11]
        if first == 0x00:
            break  # the end of the folder
        if first == 0xE5:
            continue  # deleted
        if attr & _RESERVED_ATTRS:
            count += 1  # no valid entry has these bits: a damaged one
            continue
        if attr & 0x3F == _LFN:
            continue
        if raw[at : at + 11] in (b".          ", b"..         "):
            continue
        count += 1
    return count


_EXFAT_LISTED = (0x81, 0x82, 0x83, 0x85)  # bitmap, up-case, label, file
_ISO_SECTOR = 2048


def exfat_entries_in_use(raw: bytes) -> int:
    """Entries of an exFAT folder's bytes Sleuth Kit lists one name for."""
    count = 0
    for at in range(0, len(raw) - _ENTRY + 1, _ENTRY):
        kind = raw[at]
        if kind == 0x00:
            break  # the end of the folder
        count += kind in _EXFAT_LISTED
    return count


def iso_records_in_use(raw: bytes) -> int:
    """Directory records of an ISO 9660 folder's sectors, as names."""
    count = 0
    for sector in range(0, len(raw), _ISO_SECTOR):
        block = raw[sector : sector + _ISO_SECTOR]
        at = 0
        while at < len(block) and block[at]:
            size = block[at]
            if not _iso_record_ok(block, at, size):
                count += 1  # a damaged record: the rest of the sector is lost
                break
            ident = block[at + 33 : at + 33 + block[at + 32]]
            final = not block[at + 25] & 0x80
            count += final and ident not in (b"\x00", b"\x01")
            at += size
    return count


def _iso_record_ok(block: bytes, at: int, size: int) -> bool:
    """A directory record's length fits its name, and its both-endian
    extent and size fields agree with themselves."""
    if size < 34 or at + size > len(block) or 33 + block[at + 32] > size:
        return False
    record = block[at : at + size]
    return record[2:6] == record[6:10][::-1] and record[10:14] == record[14:18][::-1]


def ext_subfolders(nlink: int) -> int | None:
    """Subfolders an ext folder's link count claims, or None (not counted)."""
    return nlink - 2 if nlink >= 2 else None


def unlisted_message(kind: str, claimed: int, listed: int) -> str | None:
    """The skip reason when a folder claims more than was listed, else None."""
    if claimed <= listed:
        return None
    return (
        f"the folder holds {claimed} {kind}, Sleuth Kit listed {listed}: "
        f"{claimed - listed} damaged directory entr"
        f"{'y' if claimed - listed == 1 else 'ies'} not listed"
    )
