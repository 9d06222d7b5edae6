"""TIFF (and the camera raw files built on it): as far as its IFDs reach.

A TIFF has no end marker: its length is the furthest byte any of its parts
uses. The IFD chain is walked (with the EXIF, GPS and sub-IFDs it points
at), and the item ends after the last IFD, out-of-line value, strip or
tile. Every IFD must be sane (entry count, types, offsets inside
``MAX_TIFF``) and the first must describe a picture (width, height and
strips or tiles), so random ``II*\\0`` is not carved.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from triage.ingest.carvers.base import CARVERS, MAX_TIFF, CarveFormat, Found

_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4,
               12: 8, 13: 4}  # fmt: skip
_SUB_IFDS = {330, 34665, 34853, 40965}  # SubIFDs, EXIF, GPS, interoperability
_PAIRS = ((273, 279), (324, 325), (513, 514))  # strips, tiles, JPEG thumbnail
_MAX_IFDS = 64
_MAX_ENTRIES = 1000


class _Tiff:
    """One TIFF being measured (byte order, reader, furthest byte seen)."""

    def __init__(self, read: Callable[[int, int], bytes], start: int, order: str):
        self.read, self.start, self.order = read, start, order
        self.end = 8
        self.pictures = 0

    def values(self, kind: int, count: int, field: bytes) -> list[int] | None:
        """The integer values of an entry (inline or out of line)."""
        size = _TYPE_SIZES[kind] * count
        if size <= 4:
            data = field[:size]
        else:
            at = struct.unpack(self.order + "I", field)[0]
            if at + size > MAX_TIFF:
                return None
            data = self.read(self.start + at, size)
            if len(data) < size:
                return None
            self.end = max(self.end, at + size)
        if kind in (3, 8):
            return list(struct.unpack(f"{self.order}{count}H", data))
        if kind in (4, 9, 13):
            return list(struct.unpack(f"{self.order}{count}I", data))
        return None

    def ifd(self, at: int) -> tuple[int, list[int]] | None:
        """Walk the IFD at ``at``: (next IFD offset, sub-IFD offsets)."""
        head = self.read(self.start + at, 2)
        if len(head) < 2:
            return None
        count = struct.unpack(self.order + "H", head)[0]
        if not 0 < count <= _MAX_ENTRIES or at + 6 + 12 * count > MAX_TIFF:
            return None
        table = self.read(self.start + at + 2, 12 * count + 4)
        if len(table) < 12 * count + 4:
            return None
        self.end = max(self.end, at + 6 + 12 * count)
        tags: dict[int, list[int]] = {}
        subs: list[int] = []
        for i in range(count):
            tag, kind, n = struct.unpack_from(self.order + "HHI", table, 12 * i)
            if kind not in _TYPE_SIZES or n > MAX_TIFF:
                return None
            field = table[12 * i + 8 : 12 * i + 12]
            got = self.values(kind, n, field) if n <= 1 << 16 else None
            if got is None and _TYPE_SIZES[kind] * n > 4:
                at_value = struct.unpack(self.order + "I", field)[0]
                if at_value + _TYPE_SIZES[kind] * n > MAX_TIFF:
                    return None
                self.end = max(self.end, at_value + _TYPE_SIZES[kind] * n)
            if got is not None:
                tags[tag] = got
                if tag in _SUB_IFDS:
                    subs.extend(got)
        for offsets, counts in _PAIRS:
            if offsets in tags and counts in tags:
                for o, c in zip(tags[offsets], tags[counts], strict=False):
                    if o + c > MAX_TIFF:
                        return None
                    self.end = max(self.end, o + c)
        if 256 in tags and 257 in tags and (273 in tags or 324 in tags):
            self.pictures += 1
        (following,) = struct.unpack_from(self.order + "I", table, 12 * count)
        return following, subs


def _parse_tiff(read: Callable[[int, int], bytes], start: int) -> Found | None:
    """Measure a TIFF by its IFDs; None unless its first IFD is a picture."""
    head = read(start, 8)
    if len(head) < 8:
        return None
    order = "<" if head[:2] == b"II" else ">"
    first = struct.unpack(order + "I", head[4:8])[0]
    if not 8 <= first < MAX_TIFF:
        return None
    tiff = _Tiff(read, start, order)
    todo: list[int] = [first]
    seen: set[int] = set()
    while todo and len(seen) < _MAX_IFDS:
        at = todo.pop(0)
        if at in seen or not 8 <= at < MAX_TIFF:
            continue
        seen.add(at)
        walked = tiff.ifd(at)
        if walked is None:
            if at == first:
                return None
            break
        following, subs = walked
        todo.extend(subs)
        if following:
            todo.append(following)
        if at == first and not tiff.pictures:
            return None
    whole = len(read(start + tiff.end - 1, 1)) == 1
    return Found(tiff.end, whole)


CARVERS.register(
    CarveFormat("tiff", b"II*\x00", "image/tiff", "tif", _parse_tiff, aligned=True)
)
CARVERS.register(
    CarveFormat("tiff-be", b"MM\x00*", "image/tiff", "tif", _parse_tiff, aligned=True)
)
