"""A JPEG's own smaller pictures: its EXIF thumbnail and its MPF images.

Cameras and phones store a thumbnail in the EXIF segment (APP1, IFD1's
JPEGInterchangeFormat/Length) and further images after the main one (a
preview or a second frame, listed by the Multi-Picture Format index in APP2).
Editing software often leaves these alone, so a thumbnail can show what the
edited main picture no longer does. Members: ``exif-thumbnail`` and
``mpf-image N`` (N counts the MPF index from 1, the main image being 1).

Parsed by hand over the segments before the image data (at most
``MAX_SEGMENTS`` of them, each at most 64 KiB): every offset is checked
against the segment or the file, so a damaged header is a ``Skipped`` naming
the place, never a long read.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO

from triage.errors import ArchiveError
from triage.ingest.expanders.base import (
    EXPANDERS,
    ArchiveLimits,
    Bounded,
    Expander,
    Expansion,
    source_size,
)
from triage.ingest.expanders.embedded import embedded_item, exhausted, slice_reader
from triage.records import FileRecord, Skipped

#: Header segments read before giving up on reaching the image data.
MAX_SEGMENTS = 64
#: IFD entries believed in one directory (real ones hold a few dozen).
MAX_IFD_ENTRIES = 1000

THUMBNAIL = "exif-thumbnail"
_APP1, _APP2, _SOS, _EOI = 0xE1, 0xE2, 0xDA, 0xD9


@dataclass(frozen=True, slots=True)
class Inner:
    """A picture stored whole inside the JPEG: its name and byte range."""

    name: str
    start: int
    length: int


def _segments(source: IO[bytes]) -> Iterator[tuple[int, int, bytes]]:
    """(marker, offset of its data, data) of each APP1/APP2 segment before the
    image data."""
    source.seek(0)
    if source.read(2) != b"\xff\xd8":
        return
    pos = 2
    for _ in range(MAX_SEGMENTS):
        source.seek(pos)
        head = source.read(4)
        if len(head) < 4 or head[0] != 0xFF or head[1] in (_SOS, _EOI):
            return
        if head[1] == 0xFF:  # fill byte
            pos += 1
            continue
        length = int.from_bytes(head[2:4], "big")
        if length < 2:
            return
        if head[1] in (_APP1, _APP2):
            yield head[1], pos + 4, source.read(length - 2)
        pos += 2 + length


def _ifd(tiff: bytes, order: str, offset: int) -> tuple[dict[int, bytes], int]:
    """The entries (tag -> 12 raw bytes) of the IFD at ``offset`` and the next
    IFD's offset.

    Raises:
        ValueError: the directory runs past the segment.
    """
    if offset < 8 or offset + 2 > len(tiff):
        raise ValueError(f"directory at {offset} outside the segment")
    (count,) = struct.unpack_from(order + "H", tiff, offset)
    end = offset + 2 + 12 * count
    if count > MAX_IFD_ENTRIES or end + 4 > len(tiff):
        raise ValueError(f"directory of {count} entries runs past the segment")
    entries = {
        struct.unpack_from(order + "H", tiff, pos)[0]: tiff[pos : pos + 12]
        for pos in range(offset + 2, end, 12)
    }
    return entries, struct.unpack_from(order + "I", tiff, end)[0]


def _value(entry: bytes, order: str) -> int:
    """A SHORT or LONG entry's first value."""
    kind = struct.unpack_from(order + "H", entry, 2)[0]
    return struct.unpack_from(order + ("H" if kind == 3 else "I"), entry, 8)[0]


def _tiff(data: bytes) -> tuple[bytes, str]:
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or len(data) < 8:
        raise ValueError("no TIFF header")
    return data, order


def _thumbnail(data: bytes, start: int) -> Inner | None:
    """The EXIF thumbnail of an APP1 segment (``data`` at file offset ``start``).

    Raises:
        ValueError: a damaged EXIF structure, or a thumbnail past the segment.
    """
    tiff, order = _tiff(data[6:])
    _, ifd1 = _ifd(tiff, order, struct.unpack_from(order + "I", tiff, 4)[0])
    if ifd1 == 0:
        return None
    entries, _ = _ifd(tiff, order, ifd1)
    if 0x201 not in entries or 0x202 not in entries:
        return None  # no thumbnail, or an uncompressed (strip) one
    offset, length = _value(entries[0x201], order), _value(entries[0x202], order)
    if length == 0 or offset + length > len(tiff):
        raise ValueError(
            f"thumbnail of {length} bytes at {offset} runs past the EXIF "
            f"segment of {len(tiff)} bytes"
        )
    return Inner(THUMBNAIL, start + 6 + offset, length)


def _mpf_images(data: bytes, start: int, size: int) -> Iterator[Inner]:
    """The images an MPF index (APP2 ``data`` at ``start``) lists after the
    main one.

    Raises:
        ValueError: a damaged index, or an image past the end of the file.
    """
    tiff, order = _tiff(data[4:])
    entries, _ = _ifd(tiff, order, struct.unpack_from(order + "I", tiff, 4)[0])
    if 0xB002 not in entries:
        return
    count = struct.unpack_from(order + "I", entries[0xB002], 4)[0] // 16
    table = struct.unpack_from(order + "I", entries[0xB002], 8)[0]
    if table + 16 * count > len(tiff):
        raise ValueError(f"MP index of {count} images runs past the segment")
    for number in range(2, count + 1):
        length, offset = struct.unpack_from(
            order + "II", tiff, table + 16 * number - 12
        )
        first = start + 4 + offset
        if length == 0 or first + length > size:
            raise ValueError(
                f"mpf-image {number} of {length} bytes at {first} runs past the "
                f"end of the file ({size} bytes)"
            )
        yield Inner(f"mpf-image {number}", first, length)


def inner_pictures(source: IO[bytes]) -> tuple[list[Inner], list[tuple[str, str]]]:
    """Every picture stored inside the JPEG in ``source``, and the problems
    found (place, reason)."""
    size = source_size(source)
    found: list[Inner] = []
    problems: list[tuple[str, str]] = []
    for marker, start, data in list(_segments(source)):
        try:
            if marker == _APP1 and data.startswith(b"Exif\0\0"):
                thumbnail = _thumbnail(data, start)
                found += [thumbnail] if thumbnail else []
            elif marker == _APP2 and data.startswith(b"MPF\0"):
                found += list(_mpf_images(data, start, size))
        except (ValueError, struct.error) as exc:
            place = THUMBNAIL if marker == _APP1 else "mpf index"
            problems.append((place, f"damaged {place}: {exc}; not read"))
    return found, problems


def may_hold_pictures(header: bytes) -> bool:
    """Whether the segments in a JPEG's first bytes leave room for an EXIF or
    MPF segment (False once the image's own tables start without one)."""
    pos = 2
    for _ in range(MAX_SEGMENTS):
        if pos + 4 > len(header):
            return True  # the segments run on past what was read: look
        if header[pos] != 0xFF:
            return False
        marker = header[pos + 1]
        if marker == 0xFF:
            pos += 1
            continue
        label = header[pos + 4 : pos + 10]
        if marker == _APP1 and b"Exif\0\0".startswith(label[:6]):
            return True
        if marker == _APP2 and b"MPF\0".startswith(label[:4]):
            return True
        if not 0xE0 <= marker <= 0xEF and marker != 0xFE:
            return False  # tables or image data: no more APP segments
        pos += 2 + int.from_bytes(header[pos + 2 : pos + 4], "big")
    return True


class ExifThumbnails(Expander):
    """The pictures a JPEG holds besides its main image."""

    inner = True

    name = "jpeg_inner"
    signatures = ("jpeg",)

    def worth_opening(self, header: bytes) -> bool:
        return may_hold_pictures(header)

    def members(self, job: Expansion) -> Iterator[FileRecord | Skipped]:
        found, problems = inner_pictures(job.source)
        for place, reason in problems:
            yield job.skip(reason, place)
        for inner in found:
            reader = functools.partial(
                slice_reader, job.source, inner.start, inner.length, inner.name
            )
            yield from embedded_item(job, inner.name, reader, inner.length)
            if exhausted(job.budget):
                return

    def open_member(
        self, source: IO[bytes], name: str, limits: ArchiveLimits, stack: ExitStack
    ) -> tuple[Bounded, object | None]:
        for inner in inner_pictures(source)[0]:
            if inner.name == name:
                return slice_reader(source, inner.start, inner.length, name), None
        raise ArchiveError(f"no {name} in this JPEG")


EXPANDERS.register(ExifThumbnails())
