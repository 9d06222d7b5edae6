"""A zip's central directory read as a stream, one entry at a time.

``zipfile.ZipFile`` holds every entry in memory (about 700 bytes each: a
phone extraction of a million files would cost most of a GiB in the scan's
driver and in every worker). Here the end records (zip64 too) give where the
directory is, and ``iter_directory`` yields its entries from 1 MiB reads,
keeping none, so listing a zip costs the same memory whatever its member
count. Members are then read from their local headers
(``extraction.local_member``), which needs nothing from the directory.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any, NamedTuple

_EOCD = b"PK\x05\x06"
_EOCD64_LOCATOR = b"PK\x06\x07"
_EOCD64 = b"PK\x06\x06"
_CENTRAL = b"PK\x01\x02"
_CENTRAL_FMT = "<4s4H2H3I5H2I"  # 46 bytes
_READ = 1 << 20


class CentralEntry(NamedTuple):
    """One central-directory entry: what a listing needs."""

    name: str
    flags: int
    method: int
    compressed: int
    size: int
    offset: int  # of the member's local header
    date_time: tuple[int, int, int, int, int, int]

    @property
    def is_dir(self) -> bool:
        return self.name.endswith("/")

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & 0x1)


class Directory(NamedTuple):
    """Where the central directory is, and how many entries it says it has."""

    offset: int
    size: int
    entries: int


def find_directory(fh: Any, total: int) -> Directory | None:
    """Where the central directory is, from the end records (None: no end
    record whose directory is where it says, as in a truncated zip).

    The last end record in the file's final 64 KiB whose directory lies
    before it and starts with an entry signature (none: an empty zip) is
    taken. A truncated copy may end inside a stored member that is a zip
    itself (an APK, a document): its inner end record points elsewhere,
    and is passed over."""
    tail = min(total, 22 + 0xFFFF)
    base = total - tail
    fh.seek(base)
    data = fh.read(tail)
    at = data.rfind(_EOCD)
    while at >= 0:
        where = _directory_of(fh, data, at, base + at)
        if where is not None:
            return where
        at = data.rfind(_EOCD, 0, at)
    return None


def _directory_of(fh: Any, data: bytes, at: int, end: int) -> Directory | None:
    """The directory the end record at ``data[at:]`` (byte ``end`` of the
    file) gives, if it checks out (see ``find_directory``)."""
    if len(data) - at < 22:
        return None
    _, _, _, _, count, size, offset, _ = struct.unpack_from("<4s4H2IH", data, at)
    if 0xFFFFFFFF in (size, offset) or count == 0xFFFF:
        locator = at - 20
        if locator >= 0 and data[locator : locator + 4] == _EOCD64_LOCATOR:
            (end64,) = struct.unpack_from("<Q", data, locator + 8)
            if end64 < end:
                fh.seek(end64)
                record = fh.read(56)
                if record[:4] == _EOCD64 and len(record) == 56:
                    count, size, offset = struct.unpack_from("<3Q", record, 32)
                    end = end64
    if offset + size > end:
        return None
    if count:
        fh.seek(offset)
        if fh.read(4) != _CENTRAL:
            return None
    return Directory(offset, size, count)


def iter_directory(fh: Any, where: Directory) -> Iterator[CentralEntry]:
    """Every entry of the central directory, read in 1 MiB pieces.

    Raises:
        ValueError: an entry is not where the one before it ended, or the
            directory is cut short.
    """
    window = _Window(fh, where.offset, where.offset + where.size)
    while window.fill(46):
        fields = struct.unpack_from(_CENTRAL_FMT, window.buf, window.pos)
        if fields[0] != _CENTRAL:
            raise ValueError(f"bad central directory entry at byte {window.at}")
        flags, method, mtime, mdate = fields[3], fields[4], fields[5], fields[6]
        csize, usize, nlen, xlen, clen = fields[8:13]
        need = 46 + nlen + xlen + clen
        if not window.fill(need):
            raise ValueError("central directory cut short")
        start = window.pos + 46
        raw_name = window.buf[start : start + nlen]
        extra = window.buf[start + nlen : start + nlen + xlen]
        window.pos += need
        usize, csize, offset = zip64_values(extra, usize, csize, fields[16])
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437", "replace")
        stamp = (
            (mdate >> 9) + 1980, (mdate >> 5) & 15, mdate & 31,
            mtime >> 11, (mtime >> 5) & 63, (mtime & 31) * 2,
        )  # fmt: skip
        yield CentralEntry(name, flags, method, csize, usize, offset, stamp)


class _Window:
    """The unread part of a byte range, read ahead in 1 MiB pieces."""

    def __init__(self, fh: Any, start: int, end: int) -> None:
        self.fh, self.next, self.end = fh, start, end
        self.buf, self.pos = b"", 0

    @property
    def at(self) -> int:
        """Absolute offset of the next unread byte."""
        return self.next - (len(self.buf) - self.pos)

    def fill(self, need: int) -> bool:
        """Have at least ``need`` unread bytes (False: the range ends first)."""
        while len(self.buf) - self.pos < need and self.next < self.end:
            take = min(_READ, self.end - self.next)
            self.buf = self.buf[self.pos :] + _read(self.fh, self.next, take)
            self.pos, self.next = 0, self.next + take
        return len(self.buf) - self.pos >= need


def _read(fh: Any, at: int, size: int) -> bytes:
    fh.seek(at)
    return bytes(fh.read(size))


def zip64_values(
    extra: bytes, usize: int, csize: int, offset: int
) -> tuple[int, int, int]:
    """Sizes and offset from the zip64 extra field (tag 1), where the entry
    says so (0xFFFFFFFF); the same for a central directory entry and a local
    header (which gives no offset: pass any other value)."""
    at = 0
    while at + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, at)
        if tag == 0x0001:
            values = list(struct.unpack_from(f"<{length // 8}Q", extra, at + 4))
            if usize == 0xFFFFFFFF and values:
                usize = values.pop(0)
            if csize == 0xFFFFFFFF and values:
                csize = values.pop(0)
            if offset == 0xFFFFFFFF and values:
                offset = values.pop(0)
            break
        at += 4 + length
    return usize, csize, offset


def find_entry(fh: Any, total: int, wanted: str) -> CentralEntry | None:
    """The entry whose name (case-insensitive, no leading "/") is ``wanted``,
    by one pass over the directory (None: no such entry, or no directory)."""
    where = find_directory(fh, total)
    if where is None:
        return None
    try:
        for entry in iter_directory(fh, where):
            if entry.name.lstrip("/").lower() == wanted:
                return entry
    except (ValueError, struct.error):
        return None
    return None
