"""Pictures found by signature inside any other file (as bulk_extractor does).

A browser cache entry, an application's own cache or an unknown binary can
hold a whole JPEG or PNG behind a header of its own, where no signature at
the file's start says so. This inner source takes every file that no content
signature names (``UNRECOGNISED``: not media, not an archive, not a file
another inner source reads) up to ``MAX_SCANNED`` bytes, searches it for the
JPEG and PNG signatures and follows each hit with the carvers' own parsers
(``triage.ingest.carvers``: JPEG markers and segment lengths to EOI, PNG
chunks with their CRCs to IEND). Only a picture that parses whole is a
member, so random ``FF D8 FF`` runs and cut pictures are not reported; the
search resumes after each one (a JPEG's EXIF thumbnail is found through the
JPEG, not twice). Members are ``Source.EMBEDDED``, addressed by the byte
offset in hex: ``Cache/data_1!offset 0x2000``.

Not searched (``worth_opening``): programs (PE, ELF, Mach-O: their pictures
are their own icons and splash screens; a Windows device holds gigabytes of
them); text, i.e. a file whose first ``SNIFF_BYTES`` are UTF-8 without NUL
bytes or UTF-16 after a byte-order mark (logs, HTML, XML, JSON, source: a
picture in text is encoded, base64, which a byte search would not find
anyway, and a raw JPEG or PNG is not valid UTF-8); and a file shorter than
``SNIFF_BYTES`` with neither signature in it (its first bytes are all of
it); nor NTFS's own metadata files (``$MFT``, ``$LogFile``, the sparse
``$BadClus:$Bad`` as large as the volume). A file over ``MAX_SCANNED``
bytes is left alone (the page file, a hibernation file, a virtual disk:
carving's ground), and one search stops after ``DEADLINE`` seconds with a
``Skipped`` naming the offset it reached.
"""

from __future__ import annotations

import codecs
import functools
import re
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import ExitStack
from typing import IO

from triage.errors import ArchiveError
from triage.ingest.carvers import CARVERS, CarveFormat
from triage.ingest.expanders.base import (
    EXPANDERS,
    MIB,
    UNRECOGNISED,
    ArchiveLimits,
    Bounded,
    Expander,
    Expansion,
    source_size,
)
from triage.ingest.expanders.embedded import (
    Deadline,
    embedded_item,
    exhausted,
    slice_reader,
)
from triage.ingest.filesystems.base import RecordIO
from triage.ingest.magic_search import find_anywhere_lists, straddling
from triage.ingest.media import SNIFF_BYTES
from triage.records import FileRecord, Skipped

#: Largest file searched; larger ones are not (documented in README).
MAX_SCANNED = 256 * MIB
#: Seconds spent searching one file before the rest is skipped.
DEADLINE = 60.0
#: The carvers whose pictures are looked for (their magics and parsers).
FORMATS = ("jpeg", "png")
#: Programs: Windows PE ("MZ"), ELF, Mach-O (32/64-bit, both byte orders; fat).
PROGRAM_MAGICS = (
    b"MZ",
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
)
#: NTFS's metadata files at the volume's root (``$Extend`` holds the rest);
#: not ``$OrphanFiles`` or ``$Recycle.Bin``, which hold users' files.
NTFS_METAFILES = frozenset(
    {"$MFT", "$MFTMirr", "$LogFile", "$Volume", "$AttrDef", "$Bitmap", "$Boot",
     "$BadClus", "$Secure", "$UpCase", "$Extend"}
)  # fmt: skip
_BLOCK = MIB
_KEPT_BLOCKS = 4
_ADDRESS = re.compile(r"offset 0x([0-9a-f]+)")


def address(offset: int) -> str:
    """A member's name: its byte offset in the file, in hex."""
    return f"offset {offset:#x}"


class _Blocks:
    """``read(offset, size)`` over the first ``end`` bytes of ``source`` in
    aligned blocks with a small LRU: the search and the parsers read each
    byte about once, and a parser's many 4-byte reads cost no system call.
    A buffered file over a ``RecordIO`` (a file of a file system) is read
    through its positional ``read_at``, which hands back the backend's
    bytes uncopied (the buffered reader would copy each block once more)."""

    def __init__(self, source: IO[bytes], end: int) -> None:
        self._source, self.end = source, end
        raw = getattr(source, "raw", None)
        self._read_at = raw.read_at if isinstance(raw, RecordIO) else None
        self._kept: OrderedDict[int, bytes] = OrderedDict()

    def block(self, index: int) -> bytes:
        """Block ``index`` (``_BLOCK`` bytes from ``index * _BLOCK``; short
        at the end), as read: not copied."""
        data = self._kept.get(index)
        if data is None:
            size = min(_BLOCK, self.end - index * _BLOCK)
            if self._read_at is not None:
                data = self._read_at(index * _BLOCK, size)
            else:
                self._source.seek(index * _BLOCK)
                data = self._source.read(size)
            self._kept[index] = data
            if len(self._kept) > _KEPT_BLOCKS:
                self._kept.popitem(last=False)
        else:
            self._kept.move_to_end(index)
        return data

    def read(self, offset: int, size: int) -> bytes:
        stop = min(offset + size, self.end)
        parts = []
        while offset < stop:
            index = offset // _BLOCK
            block = self.block(index)
            piece = block[offset - index * _BLOCK : stop - index * _BLOCK]
            if not piece:
                break  # the file gave less than it said
            parts.append(piece)
            offset += len(piece)
        return parts[0] if len(parts) == 1 else b"".join(parts)


def is_text(header: bytes) -> bool:
    """Whether a file's first bytes are text: UTF-8 without NUL bytes, or
    UTF-16 after its byte-order mark (a raw picture is neither)."""
    if header[:2] in (b"\xff\xfe", b"\xfe\xff"):
        codec = "utf-16-le" if header[:1] == b"\xff" else "utf-16-be"
        body = header[2 : len(header) - len(header) % 2]
        try:
            codecs.getincrementaldecoder(codec)().decode(body, final=False)
        except UnicodeDecodeError:
            return False
        return True
    if b"\x00" in header:
        return False
    try:  # the last character may be cut by the header's end
        codecs.getincrementaldecoder("utf-8")().decode(header, final=False)
    except UnicodeDecodeError:
        return False
    return True


def is_metafile(record: FileRecord) -> bool:
    """Whether ``record`` is one of NTFS's own metadata files (``$MFT``,
    ``$LogFile``, ``$BadClus:$Bad``: sparse, as large as the volume...)."""
    if record.archive_path:
        return False
    top = record.path.split("/", 1)[0].split(":", 1)[0]
    return top in NTFS_METAFILES


def _formats() -> tuple[CarveFormat, ...]:
    return tuple(CARVERS.get(name) for name in FORMATS)


def find_pictures(
    source: IO[bytes], end: int, deadline: Deadline | None = None
) -> Iterator[tuple[int, int] | int]:
    """``(offset, size)`` of every whole picture in the first ``end`` bytes of
    ``source``, in file order; or, when ``deadline`` passes, the offset the
    search reached (and nothing more)."""
    blocks = _Blocks(source, end)
    formats = _formats()
    pos = 0
    while pos < end:
        index = pos // _BLOCK
        block = blocks.block(index)
        window = block[pos - index * _BLOCK :]  # the whole block: not copied
        if not window:
            return
        searched = len(window)
        hits = _hits(window, formats, searched)
        hits += _straddling(blocks, formats, pos, index * _BLOCK + len(block))
        after = pos  # hits before this lie inside a picture already found
        for at, number in sorted(hits):
            start = pos + at
            if start < after:
                continue
            if deadline is not None and deadline.passed:
                yield start
                return
            found = formats[number].parse(blocks.read, start)
            if found is None or not found.complete or start + found.size > end:
                continue
            yield start, found.size
            after = start + found.size
        pos = max(pos + searched, after)
        if deadline is not None and deadline.passed and pos < end:
            yield pos
            return


def _straddling(
    blocks: _Blocks, formats: tuple[CarveFormat, ...], pos: int, stop: int
) -> list[tuple[int, int]]:
    """(offset from ``pos``, format number) of the magics that start before
    ``stop`` (a block's end) and end after it: a few bytes either side
    (``magic_search.straddling``), so the block is never copied to append
    them."""
    overlap = max(len(f.magic) for f in formats) - 1
    lo = max(pos, stop - overlap)
    if stop >= blocks.end or lo >= stop:
        return []
    edge = blocks.read(lo, stop - lo + overlap)
    magics = [f.magic for f in formats]
    return [
        (lo - pos + at, number)
        for at, number in straddling(edge[: stop - lo], edge[stop - lo :], magics)
    ]


def _hits(
    window: bytes, formats: tuple[CarveFormat, ...], searched: int
) -> list[tuple[int, int]]:
    """(offset, format number) of every magic starting in ``window[:searched]``,
    in offset order, found in one pass (``magic_search``: Hyperscan, or numpy
    over byte pairs)."""
    found = find_anywhere_lists(window, [fmt.magic for fmt in formats])
    hits = [(a, number) for number, at in enumerate(found) for a in at if a < searched]
    hits.sort()
    return hits


class SignatureScan(Expander):
    """Whole JPEGs and PNGs inside a file no signature names."""

    name = "signature-scan"
    signatures = (UNRECOGNISED,)
    inner = True
    max_size = MAX_SCANNED

    def worth_opening(self, header: bytes) -> bool:
        if header.startswith(PROGRAM_MAGICS) or is_text(header):
            return False
        if len(header) < SNIFF_BYTES:  # the whole file
            return any(fmt.magic in header for fmt in _formats())
        return True

    def members(self, job: Expansion) -> Iterator[FileRecord | Skipped]:
        size = source_size(job.source)
        header = job.source.read(SNIFF_BYTES)
        if (
            size > MAX_SCANNED
            or is_metafile(job.record)
            or not self.worth_opening(header)
        ):
            return  # not searched (see the module docstring)
        for found in find_pictures(job.source, size, Deadline(DEADLINE)):
            if isinstance(found, int):
                yield job.skip(
                    f"search for pictures stopped after {DEADLINE:.0f} s at "
                    f"offset {found:#x}; the rest of the file not searched"
                )
                return
            offset, length = found
            name = address(offset)
            reader = functools.partial(slice_reader, job.source, offset, length, name)
            yield from embedded_item(job, name, reader, length)
            if exhausted(job.budget):
                return

    def open_member(
        self, source: IO[bytes], name: str, limits: ArchiveLimits, stack: ExitStack
    ) -> tuple[Bounded, object | None]:
        match = _ADDRESS.fullmatch(name)
        if match is None:
            raise KeyError(f"no picture {name!r}: not an offset")
        offset = int(match.group(1), 16)
        blocks = _Blocks(source, min(source_size(source), MAX_SCANNED))
        head = blocks.read(offset, 16)
        for fmt in _formats():
            if head.startswith(fmt.magic):
                found = fmt.parse(blocks.read, offset)
                if found is not None and found.complete:
                    return slice_reader(source, offset, found.size, name), None
        raise ArchiveError(f"{name}: no whole picture at that offset")


EXPANDERS.register(SignatureScan())
