"""Windows Explorer thumbcache_*.db (Vista, 7, 8, 8.1, 10, 11): every entry.

Layout as published (Joachim Metz, "Windows Explorer Thumbnail Cache database
format"; Eric Kutcher's Thumbcache Viewer), all little-endian. The file
header: "CMMM", format version (20 Vista, 21 Win 7, 26/28/30 Win 8, 31 Win
8.1, 32 Win 10/11), cache type, then the offsets of the first entry and of
the first free byte (Win 8 and later put 4 unknown bytes first; Vista/7 and
Win 8 add an entry count). Each entry: "CMMM", entry size, entry hash (8),
[Vista: extension (8 bytes UTF-16)], identifier length, padding length, data
length, [Win 8+: width, height], unknown (4), data checksum (8), header
checksum (8); then the identifier (UTF-16, the entry hash in hex), padding
and the picture (BMP, JPEG or PNG). An entry with no data (a placeholder) is
no member.

A member is ``entry N (identifier)``, N counting entries from 1 in file order.
An entry whose sizes run past the file or its own length is a ``Problem``
naming it, and the walk goes on at the next "CMMM" (resynchronised by a
search when the entry's own size cannot be trusted). thumbcache_idx.db
("IMMM") holds no pictures and is left alone.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import IO

from triage.ingest.expanders.base import EXPANDERS
from triage.ingest.expanders.picture_cache import Cut, PictureCache, Problem
from triage.ingest.media import ARCHIVE, Signature, register

MAGIC = b"CMMM"
#: Format version -> (name, file header size, entry header size).
VERSIONS: dict[int, tuple[str, int, int]] = {
    20: ("Windows Vista", 24, 56),
    21: ("Windows 7", 24, 48),
    26: ("Windows 8", 28, 56),
    28: ("Windows 8", 28, 56),
    30: ("Windows 8", 28, 56),
    31: ("Windows 8.1", 24, 56),
    32: ("Windows 10", 24, 56),
}
#: Bytes searched for the next "CMMM" after a damaged entry.
RESYNC_WINDOW = 64 << 20


def _header_offsets(version: int, head: bytes) -> tuple[int, int]:
    """(first entry, first free byte) from the file header."""
    at = 12 if version in (20, 21) else 16
    first, free = struct.unpack_from("<II", head, at)
    return first, free


def _recognise(head: bytes) -> bool:
    if len(head) < 28 or head[:4] != MAGIC:
        return False
    version = struct.unpack_from("<I", head, 4)[0]
    return version in VERSIONS


class _Entry:
    """One entry header, decoded for the file's format version."""

    def __init__(self, version: int, raw: bytes) -> None:
        self.size, self.hash = struct.unpack_from("<IQ", raw, 4)
        at = 24 if version == 20 else 16  # Vista keeps the extension first
        self.id_length, self.padding, self.data_size = struct.unpack_from(
            "<III", raw, at
        )


class ThumbcacheExpander(PictureCache):
    """A Windows thumbcache_*.db: its entries' pictures."""

    name = "thumbcache"
    signatures = ("thumbcache",)

    def scan(self, source: IO[bytes]) -> Iterator[Cut | Problem]:
        head = source.read(64)
        file_size = source.seek(0, 2)
        version = struct.unpack_from("<I", head, 4)[0]
        _, _, entry_header = VERSIONS[version]
        first, free = _header_offsets(version, head)
        end = file_size
        if free > file_size:
            yield Problem(
                None,
                f"truncated: the header says entries run to byte {free}, the file "
                f"has {file_size}; the entries present are read",
            )
        elif free >= first:
            end = free
        offset, number = first, 0
        while offset + 4 <= end:
            source.seek(offset)
            raw = source.read(entry_header)
            if raw[:4] != MAGIC:
                offset = _resync(source, offset + 1, end)
                continue
            number += 1
            where = f"entry {number}"
            if len(raw) < entry_header:
                yield Problem(
                    where,
                    f"truncated: entry header at byte {offset} "
                    "cut off by the end of the file",
                )
                return
            entry = _Entry(version, raw)
            start = offset + entry_header + entry.id_length + entry.padding
            bad = _check(entry, offset, entry_header, start, file_size)
            if bad is not None:
                yield Problem(where, bad)
                offset = _next(source, offset, entry, entry_header, end)
                continue
            if entry.data_size:
                source.seek(offset + entry_header)
                ident = source.read(entry.id_length).decode("utf-16-le", "replace")
                ident = ident.rstrip("\0") or f"{entry.hash:016x}"
                yield Cut(f"{where} ({ident})", start, entry.data_size)
            offset += entry.size


def _check(
    entry: _Entry, offset: int, header: int, start: int, file_size: int
) -> str | None:
    """Why an entry's sizes cannot be right, or None."""
    if entry.size < header:
        return f"entry at byte {offset}: size {entry.size} is shorter than its header"
    if start + entry.data_size > offset + entry.size:
        return (
            f"entry at byte {offset}: its picture ({entry.data_size} bytes) runs "
            f"past the entry's own size ({entry.size} bytes)"
        )
    if offset + entry.size > file_size:
        return (
            f"entry at byte {offset}: its {entry.size} bytes run past the end of "
            f"the file ({file_size} bytes)"
        )
    return None


def _next(source: IO[bytes], offset: int, entry: _Entry, header: int, end: int) -> int:
    """Where to look for the entry after a damaged one: after it when its own
    size lands on another entry, else the next "CMMM" found."""
    after = offset + entry.size
    if header <= entry.size and after + 4 <= end:
        source.seek(after)
        if source.read(4) == MAGIC:
            return after
    return _resync(source, offset + 4, end)


def _resync(source: IO[bytes], start: int, end: int) -> int:
    """The offset of the next "CMMM" from ``start`` (``end`` when none)."""
    stop = min(end, start + RESYNC_WINDOW)
    pos = start
    while pos < stop:
        source.seek(pos)
        block = source.read(min(1 << 20, stop - pos) + 3)
        hit = block.find(MAGIC)
        if hit >= 0:
            return pos + hit
        if len(block) <= 3:
            break
        pos += len(block) - 3
    return end


register(
    Signature("thumbcache", "application/x-windows-thumbcache", ARCHIVE, _recognise)
)
EXPANDERS.register(ThumbcacheExpander())
