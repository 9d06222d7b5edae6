"""Carve pictures and videos out of unallocated and unpartitioned space.

``unallocated_runs(handle, partition)`` asks the partition's filesystem
backend for its free space (``Filesystem.free_runs``: read from the
filesystem's own allocation map, see ``filesystems/allocation.py``). Regions
outside any partition, and partitions whose filesystem cannot be read, are
one run each.

``carve(handle, partition, offset, length)`` streams a run in aligned blocks,
finds the signatures of the registered carvers (``triage.ingest.carvers``, one
module a format: JPEG, PNG, GIF, BMP, WebP, TIFF, ISO BMFF (MP4, MOV, 3GP,
HEIC), AVI) in one pass (``magic_search``: Hyperscan, or numpy over byte
pairs where it is not installed; never a Python loop per byte), and follows each
candidate's structure to its real end (JPEG markers through the scans to
EOI, PNG chunks and CRCs, GIF blocks, declared sizes, TIFF IFDs). A candidate
whose first segments are not well formed is dropped; one that starts well
but breaks or runs out is still reported with the bytes that parsed and a
``carve_note`` saying why, because it is evidence. On ext and unreadable
filesystems, ext2/3 indirect blocks inside an item are left out
(``blockmap``); a JPEG that breaks is joined to its second piece when one in
free space decodes as its rest (``bifragment``). Scanning resumes after a
complete item, so an EXIF thumbnail inside a carved JPEG is not reported
twice (inside a broken one it is, noted as that picture's thumbnail).
"""

from __future__ import annotations

import bisect
import dataclasses
import struct
from collections import OrderedDict
from collections.abc import Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from triage.errors import EvidenceError, FilesystemError
from triage.ingest.bifragment import overlapping, rest_at_free_starts, second_fragment
from triage.ingest.blockmap import Read, SkipMapBlocks, fs_may_map_blocks
from triage.ingest.carvers import CARVERS, MAX_ITEM, CarveFormat
from triage.ingest.deleted_cover import DeletedJpegs
from triage.ingest.evidence import DeviceHandle
from triage.ingest.filesystems import (
    free_space_types,
    open_filesystem,
    spaceless_types,
)
from triage.ingest.magic_search import find_anywhere_lists, straddling
from triage.records import FileRecord, Partition, Skipped, Source, Stage

__all__ = [
    "BLOCK",
    "CARVERS",
    "DEFAULT_FORMATS",
    "MAX_ITEM",
    "CarveFormat",
    "carve",
    "carve_formats",
    "carve_partition",
    "decodable",
    "unallocated_runs",
    "zeros_hold_nothing",
]

BLOCK = 1 << 20  # read and scan unit; runs are streamed one block at a time
SECTOR = 512  # where a file of any filesystem starts: aligned formats look only there
_CACHE_BLOCKS = 4


class Device(Protocol):
    """What carving needs of a ``DeviceHandle``."""

    @property
    def size(self) -> int: ...

    def read(self, offset: int, size: int) -> bytes: ...


def unallocated_runs(
    handle: DeviceHandle, partition: Partition
) -> Iterator[tuple[int, int]]:
    """Absolute (offset, length) byte runs of ``partition`` that hold no file.

    An unpartitioned region, or a partition with no readable filesystem, is
    one run: all of it. Otherwise the filesystem backend's ``free_runs``
    (read from the filesystem's own allocation map).

    Raises:
        FilesystemError: the filesystem type has no allocation-map reader here
            (UFS, YAFFS2, APFS...; ISO 9660 has no free space), or its map is
            unreadable. Raised before any run is yielded.
    """
    if not partition.allocated or partition.fs_type is None:
        if partition.length > 0:
            yield partition.offset, partition.length
        return
    if partition.fs_type in spaceless_types():
        return  # an extraction or folder: its members are all there is
    known = free_space_types()
    if partition.fs_type not in known:
        raise FilesystemError(
            where=f"{partition.device_id}: partition {partition.index}",
            reason=f"unallocated space of {partition.fs_type} is not carved "
            f"(no allocation-map reader; known: {', '.join(sorted(known))})",
        )
    fs = open_filesystem(handle, partition.offset)
    try:
        runs = list(fs.free_runs(partition))
    except (struct.error, IndexError, ValueError) as exc:
        raise FilesystemError(
            where=f"{partition.device_id}: partition {partition.index}",
            reason=f"allocation map of {partition.fs_type} is unreadable: {exc}",
        ) from exc
    end = partition.offset + partition.length
    for offset, length in runs:
        length = min(length, end - offset)
        if length > 0:
            yield offset, length


# --- carving ------------------------------------------------------------------


class _Cached:
    """Aligned block reads of one run with a small LRU, so the scan and the
    parsers read each byte of the device about once. Blocks are clipped to the
    run: a 4 KiB run costs a 4 KiB read, not a whole block."""

    def __init__(self, handle: Device, start: int, end: int) -> None:
        self.handle, self.start, self.end = handle, start, end
        self._blocks: OrderedDict[int, tuple[int, bytes]] = OrderedDict()

    def _block(self, index: int) -> tuple[int, bytes]:
        """(absolute offset, bytes) of block ``index`` clipped to the run."""
        cached = self._blocks.get(index)
        if cached is not None:
            self._blocks.move_to_end(index)
            return cached
        lo = max(index * BLOCK, self.start)
        hi = min((index + 1) * BLOCK, self.end)
        cached = (lo, self.handle.read(lo, hi - lo))
        self._blocks[index] = cached
        if len(self._blocks) > _CACHE_BLOCKS:
            self._blocks.popitem(last=False)
        return cached

    def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at absolute ``offset``, never past the run."""
        stop = min(offset + size, self.end)
        if stop <= offset or offset < self.start:
            return b""
        parts = []
        pos = offset
        while pos < stop:
            index = pos // BLOCK
            lo, data = self._block(index)
            piece = data[pos - lo : stop - lo]
            if not piece:
                break  # the device returned less than asked: its end
            parts.append(piece)
            pos += len(piece)
            if lo + len(data) < min((index + 1) * BLOCK, self.end):
                break
        return parts[0] if len(parts) == 1 else b"".join(parts)


_OVERLAP = max(len(c.magic) for c in CARVERS.values()) - 1
#: How far before its magic an item may start (``CarveFormat.lead``).
_LEAD = max(c.lead for c in CARVERS.values())


def zeros_hold_nothing() -> bool:
    """Whether no registered format's signature starts with a zero byte, so
    that nothing can start inside a run of zeros and a carver may leave such
    runs out (a format whose magic began with 0x00 would turn this off)."""
    return all(fmt.magic[:1] != b"\0" for fmt in CARVERS.values())


#: More sector-start candidates than this for one format in a window
#: (its first byte opening that many sectors) and numpy checks them all at
#: once; fewer (random or zeroed free space: a few a MiB) are checked one by
#: one in Python, which costs less than numpy's fixed cost per call.
_FEW = 64


def _on_sectors(
    window: bytes, fmt: CarveFormat, base: int, heads: dict[int, bytes]
) -> list[int]:
    """Offsets in ``window`` (at ``base`` in the device) where ``fmt``'s
    magic lies whole, for an item that would start on a sector of the device.
    ``heads``: the bytes at each sector start (plus ``lead``) taken so far
    from this window, by where the first one is (shared by the formats)."""
    first = (fmt.lead - base) % SECTOR
    at_heads = heads.get(first)
    if at_heads is None:
        at_heads = heads[first] = window[first::SECTOR]  # a byte a sector
    magic = fmt.magic
    if at_heads.count(magic[0]) > _FEW:
        return _on_sectors_numpy(window, fmt, first)
    out = []
    i = at_heads.find(magic[0])
    while i >= 0:
        at = first + i * SECTOR
        if window.startswith(magic, at):
            out.append(at)
        i = at_heads.find(magic[0], i + 1)
    return out


def _on_sectors_numpy(window: bytes, fmt: CarveFormat, first: int) -> list[int]:
    """:func:`_on_sectors` for many candidates: all checked in one numpy
    pass per magic byte."""
    data = np.frombuffer(window, dtype=np.uint8)
    at = np.flatnonzero(data[first::SECTOR] == fmt.magic[0]) * SECTOR + first
    at = at[at + len(fmt.magic) <= len(data)]
    for k, byte in enumerate(fmt.magic[1:], start=1):
        at = at[data[at + k] == byte]
    out: list[int] = at.tolist()
    return out


class _Signatures:
    """Every signature of ``formats`` in one window, handed out in offset
    order: those looked for at every byte found in one pass
    (``magic_search``: Hyperscan, or numpy over byte pairs), those looked for
    on sectors only by comparing the few bytes there. Several times faster
    than one ``bytes.find`` per format over random-looking data, where a
    magic's first byte turns up every 256 bytes. ``tail``: the bytes after
    the window, for the magics that start in it and end there."""

    def __init__(
        self,
        window: bytes,
        formats: Sequence[CarveFormat],
        base: int = 0,
        tail: bytes = b"",
    ) -> None:
        anywhere = [fmt.magic for fmt in formats if not fmt.aligned]
        found = iter(find_anywhere_lists(window, anywhere))
        heads: dict[int, bytes] = {}
        hits: list[tuple[int, int]] = []
        for number, fmt in enumerate(formats):
            if fmt.aligned:
                # Only where the item would start on a sector of the device
                # (``base`` is the window's offset in it).
                at = _on_sectors(window, fmt, base, heads)
            else:
                at = next(found)
            hits += [(a, number) for a in at]
        if tail:
            for a, number in straddling(window, tail, [f.magic for f in formats]):
                fmt = formats[number]
                if not fmt.aligned or (base + a - fmt.lead) % SECTOR == 0:
                    hits.append((a, number))
        hits.sort()  # at one offset, the formats in their given order
        self._offsets = [a for a, _ in hits]
        self._owners = [n for _, n in hits]
        self._formats = formats
        self._given = 0  # signatures before this index were handed out

    def next(self, cursor: int, limit: int) -> tuple[int, CarveFormat] | None:
        """The first signature at or after ``cursor`` and before ``limit``
        not handed out yet (formats sharing a magic, RIFF's WebP and AVI,
        each get their turn at one offset)."""
        i = max(bisect.bisect_left(self._offsets, cursor), self._given)
        if i == len(self._offsets) or self._offsets[i] >= limit:
            return None
        self._given = i + 1
        return self._offsets[i], self._formats[self._owners[i]]


#: Carved unless a caller asks otherwise: every registered format (JPEG,
#: PNG, GIF, BMP, WebP, TIFF, ISO BMFF videos and HEIF pictures, AVI). The
#: signature search costs one numpy pass per distinct first byte; figures in
#: benchmarks/README.md (``python benchmarks/bench_carve.py``).
DEFAULT_FORMATS: tuple[str, ...] = tuple(CARVERS)


def carve_formats(names: Iterable[str] | None = None) -> tuple[CarveFormat, ...]:
    """The registered formats called ``names`` (:data:`DEFAULT_FORMATS` when
    None; ``CARVERS`` holds them all).

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    if names is None:
        names = DEFAULT_FORMATS
    unknown = sorted(set(names) - set(CARVERS))
    if unknown:
        raise ValueError(
            f"unknown carve format(s) {', '.join(unknown)}; known: {', '.join(CARVERS)}"
        )
    return tuple(CARVERS.get(name) for name in names)


def carve(
    handle: Device,
    partition: Partition,
    offset: int,
    length: int,
    *,
    formats: Iterable[str] | None = None,
    reach: int = 0,
    free: Sequence[tuple[int, int]] | None = None,
    deleted: DeletedJpegs | None = None,
) -> Iterator[FileRecord | Skipped]:
    """Pictures that start in the byte run ``[offset, offset + length)``.

    ``offset`` is absolute in the device. Items are ``FileRecord(source=CARVED,
    carve_offset=absolute offset, path="$Carved/<offset>.<ext>")``. A read
    error skips one block with a ``Skipped`` and carving goes on. ``formats``
    picks names from :data:`CARVERS` (jpeg, png, gif, bmp, webp; default
    :data:`DEFAULT_FORMATS`). ``reach``: how many bytes past the run an item
    that starts in it may run on (free space cut into pieces: the next piece
    carries on); they are read only to follow such an item, never searched.
    ``free``: absolute ``(start, end)`` ranges of free space, sorted, where
    the rest of a JPEG broken in two pieces is looked for (``bifragment``);
    default: the run and its reach. ``deleted``: the partition's deleted
    JPEG files as the walk lists them; a broken JPEG that one of them reads
    whole through the file system is not searched for its rest
    (``deleted_cover`` states the rule).
    """
    chosen = carve_formats(formats)
    mapped = fs_may_map_blocks(partition.fs_type)
    end = min(offset + length, handle.size)
    limit = min(end + max(reach, 0), handle.size)  # where items must stop
    cached = _Cached(handle, max(offset - _LEAD, 0), limit)
    spaces = free if free is not None else ((offset, limit),)  # read, not copied
    pos = offset
    while pos < end:
        scan_to = min((pos // BLOCK + 1) * BLOCK, end)  # stay block-aligned
        try:
            window = cached.read(pos, scan_to - pos)
        except (EvidenceError, OSError) as exc:
            yield _unreadable(partition, pos, f"{scan_to - pos} bytes not carved", exc)
            pos = scan_to
            continue
        try:  # a signature may straddle the block boundary
            tail = cached.read(scan_to, _OVERLAP)
        except (EvidenceError, OSError):
            tail = b""  # the next block's own read reports it
        resume = yield from _carve_window(
            _Window(
                cached,
                partition,
                _Signatures(window, chosen, pos, tail),
                pos,
                scan_to,
                handle,
                spaces,
                deleted if deleted else None,
            ),
            limit,
            mapped,
        )
        pos = resume


@dataclass(slots=True)
class _Window:
    """One block of a run being carved: its signatures, from ``pos`` to
    ``scan_to``."""

    cached: _Cached
    partition: Partition
    signatures: _Signatures
    pos: int
    scan_to: int
    handle: Device
    free: Sequence[tuple[int, int]]  # where a JPEG's second piece may be
    deleted: DeletedJpegs | None = None  # files the walk reads whole


def _carve_window(
    w: _Window, limit: int, mapped: bool
) -> Generator[FileRecord | Skipped, None, int]:
    """Carve the items whose signatures are in one window; returns where the
    next window starts (past an item that ran over this one's end)."""
    cursor = 0
    broken: tuple[int, int] | None = None  # (start, stop) of a broken item
    while (hit := w.signatures.next(cursor, w.scan_to - w.pos)) is not None:
        at, fmt = hit
        cursor = at  # other formats with this magic still get their turn
        start = w.pos + at - fmt.lead
        if start < w.cached.start:
            continue
        try:
            item = _follow(w.cached.read, w.partition, fmt, start, limit, mapped)
        except (EvidenceError, OSError) as exc:
            yield _unreadable(w.partition, start, f"following a {fmt.name}", exc)
            continue
        if item is None:
            continue
        record, complete = item
        resume_at = None  # a joined item: on after its first piece
        if not complete and fmt.name in ("jpeg", "png") and not record.carve_runs:
            try:
                record, complete = _join_pieces(w, record, fmt)
            except (EvidenceError, OSError) as exc:
                yield _unreadable(w.partition, start, "following a JPEG's rest", exc)
            if complete:
                resume_at = record.carve_runs[0][1]
        stop = record.carve_runs[-1][1] if record.carve_runs else start + record.size
        if complete and broken is not None and broken[0] < start and stop <= broken[1]:
            # A whole picture inside a broken one: its EXIF thumbnail, the
            # one part of the picture that still decodes. Reported on its own.
            note = f"thumbnail of the broken picture at {broken[0]}"
            record = dataclasses.replace(record, carve_note=note)
        yield record
        if not complete:
            # Not skipped over: what follows its last good byte may be
            # another picture (or its own thumbnail).
            broken = (start, stop)
            continue
        # Go on after the item, so hits inside it (an EXIF thumbnail) are not
        # reported again; after the first piece of a joined one, since what
        # lies between its pieces is another file's and may hold a picture.
        on = stop if resume_at is None else resume_at
        cursor = on - w.pos
        if on >= w.scan_to:
            return on
    return w.scan_to


def _join_pieces(
    w: _Window, record: FileRecord, fmt: CarveFormat
) -> tuple[FileRecord, bool]:
    """``record`` (a broken JPEG or PNG) whole, from its first piece and a
    second one found in free space (``bifragment``), and True; or as it was
    (its note naming the deleted file that holds it whole, if one does:
    ``deleted_cover``) and False."""
    start = record.carve_offset or 0
    covered = _Covered(w.deleted, start)

    def read(offset: int, size: int) -> bytes:  # the run's own bytes: cached
        if w.cached.start <= offset and offset + size <= w.cached.end:
            return w.cached.read(offset, size)
        return w.handle.read(offset, size)

    if fmt.name == "png":
        # The first piece ends where its free run does; CRCs check the rest.
        around = overlapping(w.free, start, start + 1)
        ends = [hi for lo, hi in around if lo <= start < hi]
        pieces = (
            rest_at_free_starts(read, start, ends[0], w.free, fmt.parse)
            if ends and ends[0] > start + record.size
            else None
        )
    else:
        pieces = second_fragment(
            read, start, start + record.size, w.free, covered=covered
        )
    if pieces is None:
        return covered.noted(record), False
    size = sum(hi - lo for lo, hi in pieces)
    joined = dataclasses.replace(record, size=size, carve_runs=pieces, carve_note=None)
    return joined, True


class _Covered:
    """Whether a deleted file the walk reads whole covers the broken JPEG at
    ``start`` (``deleted_cover``; ``bifragment.Cover``): its decode done at
    most once; and the note then."""

    def __init__(self, deleted: DeletedJpegs | None, start: int) -> None:
        self._deleted, self._start = deleted, start
        self.by: FileRecord | None = None
        self._pieces: int | None = None
        self._checked = False

    def claimed(self) -> int | None:
        """The most pieces the runs of deleted files starting here say."""
        if self._deleted is None:
            return None
        return self._deleted.claimed_at(self._start)

    def pieces(self) -> int | None:
        """Into how many pieces the covering file's record puts the picture
        (None: no file covers it)."""
        if self._deleted is None:
            return None
        if not self._checked:
            self._checked = True
            found = self._deleted.whole_at(self._start)
            if found is not None:
                self.by, self._pieces = found
        return self._pieces

    def noted(self, record: FileRecord) -> FileRecord:
        """``record``, its note saying which deleted file holds it whole."""
        if self.by is None:
            return record
        note = (
            f"{record.carve_note}; not searched for its rest: the deleted "
            f"file {self.by.path} reads whole through the file system"
        )
        return dataclasses.replace(record, carve_note=note)


def _follow(
    read: Read,
    partition: Partition,
    fmt: CarveFormat,
    start: int,
    limit: int,
    mapped: bool,
) -> tuple[FileRecord, bool] | None:
    """The item of ``fmt`` starting at ``start`` (and whether it came out
    whole), or None when it is not one. With ``mapped``, ext2/3 map blocks
    met inside it are left out (``blockmap``)."""
    logical = SkipMapBlocks(read, start) if mapped else None
    found = fmt.parse(logical.read if logical else read, start)
    if found is None:
        return None
    runs: tuple[tuple[int, int], ...] = ()
    if logical is not None and logical.gaps:
        # What may be read stops at ``limit`` (physical); a cut item keeps
        # the pieces that are there.
        runs = tuple(
            (lo, min(hi, limit)) for lo, hi in logical.runs(found.size) if lo < limit
        )
        size = sum(hi - lo for lo, hi in runs)
    else:
        # A segment length can point past what may be read (a cut picture).
        size = min(found.size, limit - start)
    record = FileRecord(
        device_id=partition.device_id,
        evidence=partition.evidence,
        partition_index=partition.index,
        partition_offset=partition.offset,
        path=f"$Carved/{start}.{found.extension or fmt.extension}",
        size=size,
        source=Source.CARVED,
        inode=None,
        media_type=found.mime or fmt.mime,
        carve_offset=start,
        carve_runs=runs,
    )
    complete = found.complete and size == found.size
    if not complete:
        why = found.why or f"the {fmt.name} structure breaks after {size} bytes"
        if size < found.size:
            why = f"cut at byte {size} of {found.size}: the rest cannot be read here"
        record = dataclasses.replace(record, carve_note=f"partial: {why}")
    return record, complete


def decodable(record: FileRecord, data: bytes) -> bytes:
    """The bytes to decode for ``record``'s perceptual hashes: ``data`` itself,
    except for a partial carved JPEG, which is given the end-of-image marker
    it lost, so the decoder keeps the rows it has (the rest is grey) instead
    of refusing the picture. Exact digests stay those of ``data``."""
    partial = record.carve_note is not None and record.carve_note.startswith("partial")
    if partial and record.media_type == "image/jpeg" and data[-2:] != b"\xff\xd9":
        return data + b"\xff\xd9"
    return data


def carve_partition(
    handle: Any,
    partition: Partition,
    *,
    formats: Iterable[str] | None = None,
    listed: Iterable[FileRecord] = (),
) -> Iterator[FileRecord | Skipped]:
    """Carve every unallocated run of ``partition`` (or all of an unpartitioned
    region); a filesystem whose free space cannot be found is one ``Skipped``.
    ``listed``: what the walk listed on it (its deleted JPEG files spare a
    broken carved JPEG the search for its rest: ``deleted_cover``)."""
    try:
        runs = list(unallocated_runs(handle, partition))
    except FilesystemError as exc:
        yield Skipped.at_volume(
            partition.device_id,
            partition.index,
            partition.offset,
            Stage.CARVE,
            exc.reason,
        )
        return
    free = [(offset, offset + length) for offset, length in runs]
    deleted = DeletedJpegs(handle, listed)
    for offset, length in runs:
        yield from carve(
            handle,
            partition,
            offset,
            length,
            formats=formats,
            free=free,
            deleted=deleted,
        )


def _unreadable(
    partition: Partition, at: int, what: str, exc: BaseException
) -> Skipped:
    return Skipped.at_position(
        partition, at, Stage.CARVE, f"device unreadable, {what}: {exc}"
    )
