"""Thumbs.db (an OLE compound file): every thumbnail, named from its Catalog.

Windows XP keeps one stream per thumbnail, named by its index written
backwards ("21" for entry 12), and a ``Catalog`` stream: a 16-byte header
(header length, version, entry count, thumbnail width and height), then per
entry its length, index, modification time (FILETIME) and the original file
name (UTF-16, NUL-terminated). Each entry's stream starts with a small header
(its length in the first four bytes, the picture's length at byte 8) before
the JPEG. Vista and later write Thumbs.db only on network shares, with
streams named by size and hash (``256_1a2b3c4d5e6f7788``) holding a header
and a JPEG, PNG or BMP.

The compound file is read with ``olefile`` from the evidence bytes. Any OLE
file is offered here. One with no thumbnail streams (a Word, PowerPoint or
Excel 97-2003 document, an Outlook .msg) is an OLE document: each of its
streams up to ``MAX_STREAM_SEARCHED`` bytes is searched for whole JPEGs and
PNGs as the in-file signature scan does (``signature_scan.find_pictures``:
a Word document keeps a pasted picture whole in its ``Data`` stream,
PowerPoint in ``Pictures``, an .msg an attached picture in its attachment's
data stream), members ``Data offset 0x200`` with ``source`` ``embedded``.
A stream olefile cannot follow (a broken FAT chain) is a ``Problem`` naming
the entry or stream, and the other streams are still read.
"""

from __future__ import annotations

import io
import re
import struct
from collections.abc import Iterator, Sequence
from typing import IO

import olefile

from triage.errors import ArchiveError
from triage.ingest.expanders.base import EXPANDERS
from triage.ingest.expanders.embedded import Deadline
from triage.ingest.expanders.picture_cache import (
    MAX_THUMBNAIL,
    Cut,
    PictureCache,
    Problem,
)
from triage.ingest.expanders.signature_scan import DEADLINE, address, find_pictures
from triage.ingest.media import ARCHIVE, Signature, _prefix, register
from triage.records import Source

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_SIZED = re.compile(r"\d+_[0-9a-fA-F]+")
_PICTURE_MAGICS = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"BM")
#: Largest stream of an OLE document searched for pictures (held in memory).
MAX_STREAM_SEARCHED = 64 << 20
#: How far into a stream its picture may start (past the stream's header).
MAX_STREAM_HEADER = 64
#: olefile's errors for a damaged file or stream.
OLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    IndexError,
    KeyError,
    struct.error,
    UnicodeDecodeError,
    RecursionError,
)
_STREAM_ERRORS: tuple[type[BaseException], ...] = (*OLE_ERRORS, ArchiveError)


def catalog_names(catalog: bytes) -> dict[int, str]:
    """Index -> original file name, from an XP ``Catalog`` stream."""
    names: dict[int, str] = {}
    if len(catalog) < 16:
        return names
    header_length = struct.unpack_from("<H", catalog, 0)[0] or 16
    count = struct.unpack_from("<I", catalog, 4)[0]
    pos = header_length
    for _ in range(count):
        if pos + 16 > len(catalog):
            break
        size, index = struct.unpack_from("<II", catalog, pos)
        if size < 16 or pos + size > len(catalog):
            break
        raw = catalog[pos + 16 : pos + size]
        end = next((i for i in range(0, len(raw) - 1, 2) if raw[i : i + 2] == b"\0\0"),
                   len(raw) - len(raw) % 2)  # fmt: skip
        names[index] = raw[:end].decode("utf-16-le", "replace")
        pos += size
    return names


def picture_span(stream: bytes) -> tuple[int, int] | None:
    """(offset, length) of the picture in a thumbnail stream, past its header."""
    if len(stream) >= 12:
        header, _, declared = struct.unpack_from("<III", stream, 0)
        if 12 <= header <= MAX_STREAM_HEADER and stream[header:].startswith(
            _PICTURE_MAGICS
        ):
            left = len(stream) - header
            return header, declared if 0 < declared <= left else left
    for at in range(0, min(len(stream), MAX_STREAM_HEADER + 1)):
        if stream.startswith(_PICTURE_MAGICS, at):
            return at, len(stream) - at
    return None


class ThumbsDbExpander(PictureCache):
    """A Thumbs.db: the thumbnails in its streams."""

    name = "thumbs.db"
    signatures = ("ole",)

    def scan(self, source: IO[bytes]) -> Iterator[Cut | Problem]:
        try:
            ole = olefile.OleFileIO(source)
        except OLE_ERRORS as exc:
            yield Problem(None, f"damaged compound file, not read: {exc}")
            return
        with ole:
            streams = [p[0] for p in ole.listdir(streams=True) if len(p) == 1]
            names: dict[int, str] = {}
            if "Catalog" in streams:
                try:
                    names = catalog_names(_stream(ole, "Catalog"))
                except _STREAM_ERRORS as exc:
                    yield Problem("Catalog", f"catalog unreadable: {exc}")
            for stream in streams:
                where = _address(stream, names)
                if where is None:
                    continue
                try:
                    data = _stream(ole, stream)
                except _STREAM_ERRORS as exc:
                    yield Problem(where, f"stream {stream!r} unreadable: {exc}")
                    continue
                span = picture_span(data)
                if span is None:
                    yield Problem(where, f"stream {stream!r} holds no picture")
                    continue
                piece = data[span[0] : span[0] + span[1]]
                pieces = stream_pieces(ole, stream, span[0], span[1])
                yield Cut(where, span[0], span[1], stream, pieces, piece)
            if not any(_address(s, names) for s in streams):
                yield from _document_pictures(ole)

    def read_cut(self, source: IO[bytes], cut: Cut) -> bytes:
        if cut.pieces:
            return super().read_cut(source, cut)
        thumbnail = cut.source is Source.THUMBNAIL_CACHE
        limit = MAX_THUMBNAIL if thumbnail else MAX_STREAM_SEARCHED
        try:
            with olefile.OleFileIO(source) as ole:
                data = _stream(ole, cut.stream or "", limit)
        except OLE_ERRORS as exc:
            raise ArchiveError(f"{cut.name}: stream unreadable: {exc}") from exc
        piece = data[cut.offset : cut.offset + cut.size]
        if len(piece) != cut.size:
            raise ArchiveError(f"{cut.name}: stream shorter than its picture")
        return piece


def stream_pieces(
    ole: olefile.OleFileIO, name: str, offset: int, size: int
) -> tuple[tuple[int, int], ...]:
    """Where bytes ``offset``..``offset + size`` of a root stream lie in the
    file, from the FAT (or the mini FAT inside the root's chain), merged into
    runs; () when the chain cannot be followed (the stream is then read
    through olefile again)."""
    entry = next((k for k in ole.root.kids if k.name == name), None)
    if entry is None or size <= 0:
        return ()
    big = ole.sectorsize
    if entry.size >= ole.minisectorcutoff:
        spans = _spans(ole.fat, entry.isectStart, big, offset, size)
        return _merge([((s + 1) * big + at, n) for s, at, n in spans])
    ole.loadminifat()
    small = _spans(ole.minifat, entry.isectStart, ole.minisectorsize, offset, size)
    mini_size = ole.root.size
    pieces = []
    for sector, at, length in small:
        start = sector * ole.minisectorsize + at
        if start + length > mini_size:
            return ()
        for s, inner, n in _spans(ole.fat, ole.root.isectStart, big, start, length):
            pieces.append(((s + 1) * big + inner, n))
    return _merge(pieces)


def _spans(
    fat: Sequence[int], start: int, sector: int, offset: int, size: int
) -> list[tuple[int, int, int]]:
    """(sector, offset in it, length) covering ``offset``..``offset + size``
    of the chain from ``start``; [] when the chain breaks first."""
    first, last = offset // sector, (offset + size - 1) // sector
    out: list[tuple[int, int, int]] = []
    current = start
    for index in range(last + 1):
        if not 0 <= current < len(fat):
            return []
        if index >= first:
            lo = max(offset, index * sector)
            hi = min(offset + size, (index + 1) * sector)
            out.append((current, lo - index * sector, hi - lo))
        current = fat[current]
    return out


def _merge(pieces: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for at, length in pieces:
        if merged and merged[-1][0] + merged[-1][1] == at:
            merged[-1] = (merged[-1][0], merged[-1][1] + length)
        else:
            merged.append((at, length))
    return tuple(merged)


def _address(stream: str, names: dict[int, str]) -> str | None:
    """A thumbnail stream's member address; None for other streams."""
    if stream.isdigit():
        index = int(stream[::-1])
        name = names.get(index)
        return f"entry {index} ({name})" if name else f"entry {index}"
    if _SIZED.fullmatch(stream):
        return f"entry {stream}"
    return None


def _document_pictures(ole: olefile.OleFileIO) -> Iterator[Cut | Problem]:
    """Whole JPEGs and PNGs in every stream of an OLE document."""
    for path in ole.listdir(streams=True, storages=False):
        name = "/".join(path)
        try:
            data = _stream(ole, name, MAX_STREAM_SEARCHED)
        except _STREAM_ERRORS as exc:
            yield Problem(name, f"stream unreadable, not searched: {exc}")
            continue
        for found in find_pictures(io.BytesIO(data), len(data), Deadline(DEADLINE)):
            if isinstance(found, int):
                yield Problem(
                    name, f"search stopped after {DEADLINE:.0f} s at {address(found)}"
                )
                break
            at, size = found
            pieces = stream_pieces(ole, name, at, size) if len(path) == 1 else ()
            yield Cut(f"{name} {address(at)}", at, size, name, pieces,
                      data[at : at + size], Source.EMBEDDED)  # fmt: skip


def _stream(ole: olefile.OleFileIO, name: str, limit: int = MAX_THUMBNAIL) -> bytes:
    """A whole stream, refused above ``limit`` bytes."""
    size = ole.get_size(name)
    if size > limit:
        raise ArchiveError(f"stream of {size} bytes, over the {limit}-byte limit")
    with ole.openstream(name) as stream:
        data: bytes = stream.read(size)
    if len(data) < size:  # olefile stops quietly where a FAT chain breaks
        raise ArchiveError(
            f"broken FAT chain: only {len(data)} of {size} bytes can be followed"
        )
    return data


register(Signature("ole", "application/x-ole-storage", ARCHIVE, _prefix(OLE_MAGIC)))
EXPANDERS.register(ThumbsDbExpander())
