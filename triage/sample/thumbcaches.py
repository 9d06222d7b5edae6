"""Build benign thumbnail caches at test time, from the published layouts.

- ``thumbcache_db``: a Windows thumbcache_*.db (Windows 10 layout by default;
  Vista, 7, 8 and 8.1 by ``version``), see ``triage.ingest.expanders.thumbcache``.
  Checksums are written as zero (readers do not check them).
- ``thumbs_db``: an XP Thumbs.db (``Catalog`` + one stream per entry) with
  optional Vista-style ``256_<hash>`` streams, in an OLE compound file written
  by ``compound_file`` (version 3, 512-byte sectors; streams under 4,096
  bytes in the mini stream, as Windows writes them).
- ``thumbdata``: an Android ``MiniThumbFile`` (``.thumbdata3/4``) and
  ``imgcache``: a Gallery ``BlobCache`` data file.

The pictures come from ``triage.sample.pictures``; nothing here is evidence.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping, Sequence

THUMBCACHE_VERSIONS = {"vista": 20, "7": 21, "8": 30, "8.1": 31, "10": 32}
_ENDOFCHAIN, _FREESECT, _FATSECT, _NOSTREAM = (
    0xFFFFFFFE,
    0xFFFFFFFF,
    0xFFFFFFFD,
    0xFFFFFFFF,
)
SECTOR = 512
MINI_CUTOFF = 4096
MINI_SECTOR = 64


def thumbcache_db(
    entries: Sequence[tuple[str, bytes]], *, version: int = 32, cache_type: int = 2
) -> bytes:
    """A thumbcache_*.db holding ``entries`` ((identifier, picture) pairs; an
    empty picture makes a placeholder entry, as Windows leaves)."""
    vista_or_7 = version in (20, 21)
    header_size = 28 if version in (26, 28, 30) else 24
    entry_header = 48 if version == 21 else 56
    body = bytearray()
    for ident, data in entries:
        name = ident.encode("utf-16-le")
        used = entry_header + len(name) + len(data)
        padding = -used % 8
        head = bytearray(entry_header)
        struct.pack_into("<4sIQ", head, 0, b"CMMM", used + padding, int(ident, 16))
        at = 24 if version == 20 else 16
        if version == 20:
            head[16:24] = "jpg\0".encode("utf-16-le")
        struct.pack_into("<III", head, at, len(name), padding, len(data))
        if not vista_or_7:
            struct.pack_into("<II", head, 28, 256, 256)  # width, height
        body += head + name + b"\0" * padding + data
    header = bytearray(header_size)
    struct.pack_into("<4sII", header, 0, b"CMMM", version, cache_type)
    first, free = header_size, header_size + len(body)
    if vista_or_7:
        struct.pack_into("<III", header, 12, first, free, len(entries))
    elif header_size == 28:
        struct.pack_into("<IIII", header, 12, 0, first, free, len(entries))
    else:
        struct.pack_into("<III", header, 12, 0, first, free)
    return bytes(header + body)


def _chain(first: int, count: int) -> list[int]:
    return [first + i + 1 for i in range(count - 1)] + [_ENDOFCHAIN]


class _Sectors:
    """The sectors of a compound file being written, and their FAT."""

    def __init__(self) -> None:
        self.fat: list[int] = []
        self.body = bytearray()

    def place(self, blob: bytes) -> int:
        """Append ``blob`` as a chain of sectors; its first sector."""
        count = -(-len(blob) // SECTOR)
        first = len(self.fat)
        self.fat += _chain(first, count)
        self.body += blob + b"\0" * (count * SECTOR - len(blob))
        return first


def compound_file(streams: Mapping[str, bytes]) -> bytes:
    """An OLE compound file (v3) whose root storage holds ``streams``: those
    under 4,096 bytes in the mini stream (64-byte sectors, mini FAT), the
    others in 512-byte sectors of the FAT."""
    names = sorted(streams, key=lambda n: (len(n), n.upper()))
    out, mini = _Sectors(), bytearray()
    minifat: list[int] = []
    starts: dict[str, int] = {}
    for name in names:
        blob = streams[name]
        if not blob:
            starts[name] = _ENDOFCHAIN
        elif len(blob) >= MINI_CUTOFF:
            starts[name] = out.place(blob)
        else:
            count = -(-len(blob) // MINI_SECTOR)
            starts[name] = len(minifat)
            minifat += _chain(len(minifat), count)
            mini += blob + b"\0" * (count * MINI_SECTOR - len(blob))
    root_start = minifat_start = _ENDOFCHAIN
    minifat_sectors = 0
    if mini:
        root_start = out.place(bytes(mini))
        raw = struct.pack(f"<{len(minifat)}I", *minifat)
        raw += b"\xff" * (-len(raw) % SECTOR)  # FREESECT
        minifat_start, minifat_sectors = out.place(raw), len(raw) // SECTOR
    entries = [
        _dir_entry("Root Entry", 5, root_start, len(mini), 1 if names else _NOSTREAM)
    ]
    for i, name in enumerate(names):
        right = i + 2 if i + 1 < len(names) else _NOSTREAM
        size = len(streams[name])
        entries.append(_dir_entry(name, 2, starts[name], size, _NOSTREAM, right))
    directory = b"".join(entries)
    dir_start = out.place(directory + b"\0" * (-len(directory) % SECTOR))
    fat = out.fat
    fat_sectors = 0
    while fat_sectors * (SECTOR // 4) < len(fat) + fat_sectors:
        fat_sectors += 1
    fat_start = len(fat)
    fat += [_FATSECT] * fat_sectors
    fat += [_FREESECT] * (fat_sectors * (SECTOR // 4) - len(fat))
    difat = list(range(fat_start, fat_start + fat_sectors))
    difat += [_FREESECT] * (109 - len(difat))
    header = struct.pack(
        "<8s16sHHHHH6sIIIIIIIII109I",
        b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"\0" * 16, 0x3E, 3, 0xFFFE, 9, 6,
        b"\0" * 6, 0, fat_sectors, dir_start, 0, MINI_CUTOFF, minifat_start,
        minifat_sectors, _ENDOFCHAIN, 0, *difat,
    )  # fmt: skip
    return header + bytes(out.body) + struct.pack(f"<{len(fat)}I", *fat)


def _dir_entry(
    name: str, kind: int, start: int, size: int, child: int, right: int = _NOSTREAM
) -> bytes:
    raw = name.encode("utf-16-le") + b"\0\0"
    return struct.pack(
        "<64sHBBIII16sIQQIQ",
        raw, len(raw), kind, 1, _NOSTREAM, right, child, b"\0" * 16, 0, 0, 0,
        start, size,
    )  # fmt: skip


def thumbs_db(
    entries: Sequence[tuple[str, bytes]], sized: Mapping[str, bytes] | None = None
) -> bytes:
    """An XP Thumbs.db: ``entries`` ((original file name, JPEG) pairs, indexed
    from 1) in a Catalog and per-entry streams, plus ``sized`` Vista-style
    streams ("256_1a2b3c4d5e6f7788" -> picture)."""
    catalog = bytearray(struct.pack("<HHIII", 16, 7, len(entries), 96, 96))
    streams: dict[str, bytes] = {}
    for index, (name, jpeg) in enumerate(entries, start=1):
        raw = name.encode("utf-16-le") + b"\0\0"
        size = 16 + len(raw) + 4
        catalog += struct.pack("<IIQ", size, index, 0x01D0_0000_0000_0000)
        catalog += raw + b"\0" * 4
        streams[str(index)[::-1]] = struct.pack("<III", 12, index, len(jpeg)) + jpeg
    streams["Catalog"] = bytes(catalog)
    for stream, picture in (sized or {}).items():
        streams[stream] = struct.pack("<6I", 24, 1, len(picture), 256, 256, 0) + picture
    return compound_file(streams)


def thumbdata(slots: Mapping[int, bytes], *, slot_size: int = 10_000) -> bytes:
    """An Android MiniThumbFile: JPEG ``slots`` (media id -> JPEG) each at
    id x ``slot_size``: flag 1, 8-byte magic, big-endian length, JPEG."""
    out = bytearray(slot_size * (max(slots) + 1) if slots else 0)
    for media_id, jpeg in slots.items():
        if 13 + len(jpeg) > slot_size:
            raise ValueError(f"slot {media_id}: {len(jpeg)} bytes do not fit")
        record = struct.pack(">BqI", 1, 0x5EED_0000 + media_id, len(jpeg)) + jpeg
        out[media_id * slot_size : media_id * slot_size + len(record)] = record
    return bytes(out)


def imgcache(blobs: Sequence[tuple[str, bytes]]) -> bytes:
    """A Gallery BlobCache data file: each (key, JPEG) a record whose blob is
    the key's bytes followed by the JPEG."""
    out = bytearray(struct.pack("<I", 0xBD248064))
    for key, jpeg in blobs:
        blob = key.encode() + jpeg
        header = struct.pack("<qIii", zlib.crc32(key.encode()), 0, len(out), len(blob))
        out += header + blob
    return bytes(out)
