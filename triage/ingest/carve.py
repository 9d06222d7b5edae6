"""Carve JPEG and PNG pictures out of unallocated and unpartitioned space.

``unallocated_runs(handle, partition)`` turns a filesystem's own allocation map
into absolute byte runs of free space: the FAT (FAT12/16/32), the ``$Bitmap``
file (NTFS, read through Sleuth Kit), the block-group bitmaps (ext2/3/4), the
allocation bitmap (exFAT) and the allocation file (HFS+). Reading the map costs
a few reads per filesystem, where listing every block (``blkls -l``) costs a
line per block. Regions outside any partition, and partitions whose filesystem
cannot be read, are one run each.

``carve(handle, partition, offset, length)`` streams a run in aligned blocks,
finds JPEG (``FF D8 FF``), PNG, GIF, BMP and WebP signatures with
``bytes.find`` (so zeros and random data cost a memchr-speed pass, not a Python
loop per byte), and follows each candidate's structure: JPEG markers and
segment lengths through the entropy-coded scans to EOI, PNG chunks with their
CRCs to IEND, GIF blocks to the trailer, the sizes a BMP header (every field
checked) and a WebP's RIFF chunks declare. A candidate
whose first segments are not well formed is dropped (random ``FF D8 FF`` are
common); one that starts well but breaks or runs out (a fragmented or partly
overwritten picture) is still reported with the bytes that parsed, because it
is evidence. Scanning resumes after a complete item, so an EXIF thumbnail
inside a carved JPEG is not reported twice.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from triage.errors import EvidenceError, FilesystemError
from triage.ingest.volumes import open_filesystem
from triage.records import FileRecord, Partition, Skipped, Source, Stage

BLOCK = 1 << 20  # read and scan unit; runs are streamed one block at a time
MAX_JPEG = 64 << 20  # largest picture followed before it is cut off
MAX_PNG = 128 << 20
MAX_GIF = 64 << 20
MAX_BMP = 256 << 20
MAX_WEBP = 64 << 20
#: The longest item any format follows: how far past a run's end an item that
#: starts in the run may need to be read to come out whole.
MAX_ITEM = max(MAX_JPEG, MAX_PNG, MAX_GIF, MAX_BMP, MAX_WEBP)
_CACHE_BLOCKS = 4


class Device(Protocol):
    """What carving needs of a ``DeviceHandle``."""

    @property
    def size(self) -> int: ...

    def read(self, offset: int, size: int) -> bytes: ...


# --- allocation maps ----------------------------------------------------------


def _runs_from_free(free: np.ndarray) -> Iterator[tuple[int, int]]:
    """(first index, count) of each run of True in a boolean array."""
    if free.size == 0:
        return
    padded = np.concatenate(([False], free, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    for start, stop in zip(edges[0::2], edges[1::2], strict=True):
        yield int(start), int(stop - start)


def _bitmap_free(
    bitmap: bytes, count: int, order: Literal["little", "big"] = "little"
) -> np.ndarray:
    """Bits of an allocation bitmap (least significant bit first unless
    ``order="big"``): True where free."""
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder=order)
    bits = bits[:count]
    free = bits == 0
    if free.size < count:  # a short bitmap: unknown clusters are not claimed free
        free = np.concatenate((free, np.zeros(count - free.size, dtype=bool)))
    return free


def _merge_runs(runs: Iterable[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """Runs in order, adjacent ones joined (a run crossing a chunk or group)."""
    pending: tuple[int, int] | None = None
    for start, count in runs:
        if pending is not None and pending[0] + pending[1] == start:
            pending = (pending[0], pending[1] + count)
            continue
        if pending is not None:
            yield pending
        pending = (start, count)
    if pending is not None:
        yield pending


_MAP_CHUNK = 8 << 20  # bitmap bytes looked at at once: 64 Mi units, 64 MiB of flags


def _bitmap_runs(
    chunks: Iterable[bytes], count: int, order: Literal["little", "big"] = "little"
) -> Iterator[tuple[int, int]]:
    """(first unit, units) of each free run of a bitmap read in chunks, so a
    large volume's map never sits in memory as one array of flags."""

    def pieces() -> Iterator[tuple[int, int]]:
        base = 0
        for chunk in chunks:
            units = min(len(chunk) * 8, count - base)
            if units <= 0:
                return
            for start, run in _runs_from_free(_bitmap_free(chunk, units, order)):
                yield base + start, run
            base += units

    return _merge_runs(pieces())


def _to_bytes(
    runs: Iterable[tuple[int, int]], base: int, unit: int
) -> Iterator[tuple[int, int]]:
    for start, count in runs:
        yield base + start * unit, count * unit


def _fat_runs(
    handle: Device, partition: Partition, fs: Any
) -> Iterator[tuple[int, int]]:
    boot = handle.read(partition.offset, 512)
    (bps, spc, reserved, nfats, root_entries, total16, _media, fatsz16) = (
        struct.unpack_from("<HBHBHHBH", boot, 11)
    )
    total32, fatsz32 = struct.unpack_from("<II", boot, 32)
    fatsz = fatsz16 or fatsz32
    total = total16 or total32
    if not (bps and spc and fatsz and total) or fatsz * bps > partition.length:
        raise FilesystemError(
            f"FAT boot sector at offset {partition.offset} is not sane"
        )
    first_data = reserved + nfats * fatsz + (root_entries * 32 + bps - 1) // bps
    clusters = (total - first_data) // spc
    fat = handle.read(partition.offset + reserved * bps, fatsz * bps)
    index = np.arange(2, clusters + 2, dtype=np.int64)
    if clusters < 4085:  # FAT12: 1.5 bytes per entry
        raw = np.frombuffer(fat + b"\0\0", dtype=np.uint8).astype(np.uint16)
        at = index * 3 // 2
        word = raw[at] | (raw[at + 1] << 8)
        entries = np.where(index % 2 == 1, word >> 4, word & 0x0FFF)
    elif clusters < 65525:
        entries = np.frombuffer(fat, dtype="<u2")[2 : clusters + 2]
    else:
        entries = np.frombuffer(fat, dtype="<u4")[2 : clusters + 2] & 0x0FFFFFFF
    base = partition.offset + first_data * bps
    yield from _to_bytes(_runs_from_free(entries == 0), base, spc * bps)


def _meta_file_chunks(
    fs: Any, inode: int | None = None, path: str | None = None
) -> Iterator[bytes]:
    """A filesystem metadata file (an allocation bitmap), read through Sleuth
    Kit in chunks."""
    name = path or f"inode {inode}"
    try:
        entry = fs.open_meta(inode=inode) if inode is not None else fs.open(path)
        size = int(entry.info.meta.size)
    except OSError as exc:
        raise FilesystemError(f"cannot open the allocation map {name}: {exc}") from exc
    for offset in range(0, size, _MAP_CHUNK):
        try:
            chunk = bytes(entry.read_random(offset, min(_MAP_CHUNK, size - offset)))
        except OSError as exc:
            raise FilesystemError(
                f"cannot read the allocation map {name} at byte {offset}: {exc}"
            ) from exc
        if not chunk:
            return
        yield chunk


def _ntfs_runs(
    handle: Device, partition: Partition, fs: Any
) -> Iterator[tuple[int, int]]:
    bitmap = _meta_file_chunks(fs, inode=6)  # $Bitmap: one bit per cluster
    runs = _bitmap_runs(bitmap, int(fs.info.block_count))
    yield from _to_bytes(runs, partition.offset, int(fs.info.block_size))


def _hfs_runs(
    handle: Device, partition: Partition, fs: Any
) -> Iterator[tuple[int, int]]:
    # $AllocationFile (catalog id 6): one bit per block, most significant first.
    bitmap = _meta_file_chunks(fs, inode=6)
    runs = _bitmap_runs(bitmap, int(fs.info.block_count), order="big")
    yield from _to_bytes(runs, partition.offset, int(fs.info.block_size))


def _exfat_runs(
    handle: Device, partition: Partition, fs: Any
) -> Iterator[tuple[int, int]]:
    boot = handle.read(partition.offset, 512)
    heap_offset, cluster_count = struct.unpack_from("<II", boot, 88)
    sector = 1 << boot[108]
    cluster = sector << boot[109]
    runs = _bitmap_runs(_meta_file_chunks(fs, path="/$ALLOC_BITMAP"), cluster_count)
    yield from _to_bytes(runs, partition.offset + heap_offset * sector, cluster)


def _ext_runs(
    handle: Device, partition: Partition, fs: Any
) -> Iterator[tuple[int, int]]:
    sb = handle.read(partition.offset + 1024, 1024)
    blocks_lo, first_data, log_size, per_group = (
        struct.unpack_from("<I", sb, 4)[0],
        struct.unpack_from("<I", sb, 20)[0],
        struct.unpack_from("<I", sb, 24)[0],
        struct.unpack_from("<I", sb, 32)[0],
    )
    incompat = struct.unpack_from("<I", sb, 96)[0]
    is64 = bool(incompat & 0x80)
    desc_size = struct.unpack_from("<H", sb, 254)[0] if is64 else 32
    blocks = blocks_lo | (struct.unpack_from("<I", sb, 336)[0] << 32 if is64 else 0)
    block = 1024 << min(log_size, 6)
    if not per_group or desc_size < 32 or blocks * block > 2 * partition.length:
        raise FilesystemError(
            f"ext superblock at offset {partition.offset} is not sane"
        )
    if incompat & 0x10:
        raise FilesystemError(
            "ext META_BG group-descriptor layout is not supported for carving"
        )
    groups = (blocks - first_data + per_group - 1) // per_group
    table = handle.read(partition.offset + (first_data + 1) * block, groups * desc_size)

    def group_runs() -> Iterator[tuple[int, int]]:
        for group in range(groups):
            desc = table[group * desc_size : (group + 1) * desc_size]
            bitmap_block = struct.unpack_from("<I", desc, 0)[0]
            if is64 and desc_size >= 64:
                bitmap_block |= struct.unpack_from("<I", desc, 0x20)[0] << 32
            in_group = min(per_group, blocks - first_data - group * per_group)
            first = group * per_group
            if struct.unpack_from("<H", desc, 0x12)[0] & 0x2:
                # BLOCK_UNINIT: the bitmap was never written; Sleuth Kit (and
                # blkls) count the group as free too.
                yield first, in_group
                continue
            at = partition.offset + bitmap_block * block
            bitmap = handle.read(at, (in_group + 7) // 8)
            for start, run in _runs_from_free(_bitmap_free(bitmap, in_group)):
                yield first + start, run

    runs = _merge_runs(group_runs())
    yield from _to_bytes(runs, partition.offset + first_data * block, block)


#: Filesystem type (as ``Partition.fs_type`` names it) -> allocation-map reader.
ALLOCATION_MAPS: dict[
    str, Callable[[Device, Partition, Any], Iterator[tuple[int, int]]]
] = {
    "fat12": _fat_runs,
    "fat16": _fat_runs,
    "fat32": _fat_runs,
    "ntfs": _ntfs_runs,
    "exfat": _exfat_runs,
    "ext2": _ext_runs,
    "ext3": _ext_runs,
    "ext4": _ext_runs,
    "hfs+": _hfs_runs,
    "iso9660": lambda handle, partition, fs: iter(()),  # no free space by design
}


def unallocated_runs(handle: Any, partition: Partition) -> Iterator[tuple[int, int]]:
    """Absolute (offset, length) byte runs of ``partition`` that hold no file.

    An unpartitioned region, or a partition with no readable filesystem, is
    one run: all of it.

    Raises:
        FilesystemError: the filesystem type has no allocation-map reader here
            (UFS, YAFFS2, APFS...; ISO 9660 has no free space), or its map is
            unreadable. Raised before any run is yielded.
    """
    if not partition.allocated or partition.fs_type is None:
        if partition.length > 0:
            yield partition.offset, partition.length
        return
    reader = ALLOCATION_MAPS.get(partition.fs_type)
    if reader is None:
        raise FilesystemError(
            f"{partition.device_id}: partition {partition.index}: unallocated space "
            f"of {partition.fs_type} is not carved (no allocation-map reader; "
            f"known: {', '.join(sorted(ALLOCATION_MAPS))})"
        )
    fs = open_filesystem(handle, partition.offset)
    try:
        runs = list(reader(handle, partition, fs))
    except (struct.error, IndexError, ValueError) as exc:
        raise FilesystemError(
            f"{partition.device_id}: partition {partition.index}: allocation map of "
            f"{partition.fs_type} is unreadable: {exc}"
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


@dataclass(frozen=True, slots=True)
class _Found:
    size: int
    complete: bool


# JPEG markers allowed between SOI and the first scan.
_JPEG_HEADER_MARKERS = (
    set(range(0xE0, 0xF0))  # APPn
    | {0xDB, 0xC4, 0xDD, 0xFE, 0xCC}  # DQT DHT DRI COM DAC
    | {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _parse_jpeg(read: Callable[[int, int], bytes], start: int) -> _Found | None:
    """Follow a JPEG from its SOI; None if it is not a JPEG at all."""
    pos = start + 2
    seen_sof = seen_sos = False
    segments = 0
    while pos - start < MAX_JPEG:
        head = read(pos, 4)
        if len(head) < 2 or head[0] != 0xFF:
            break
        marker = head[1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            if seen_sos:
                return _Found(pos + 2 - start, True)
            break
        if marker not in _JPEG_HEADER_MARKERS and marker != 0xDA:
            break
        if len(head) < 4:
            break
        length = struct.unpack(">H", head[2:4])[0]
        if length < 2:
            break
        if marker in _SOF:
            seen_sof = True
        segments += 1
        pos += 2 + length
        if marker == 0xDA:
            if not seen_sof:
                break
            seen_sos = True
            pos, at_marker = _scan_entropy(read, pos, start + MAX_JPEG)
            if not at_marker:
                break
    if not seen_sos:
        return None  # not enough structure to call it a JPEG
    return _Found(min(pos, start + MAX_JPEG) - start, False)


# 0xFF followed by a byte that ends entropy-coded data: not a stuffed zero, a
# restart marker (RST0-7) or another 0xFF (fill).
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _scan_entropy(
    read: Callable[[int, int], bytes], pos: int, limit: int
) -> tuple[int, bool]:
    """(offset of the first marker after entropy-coded data, True) -- not a
    stuffed 0xFF00 or a restart marker -- or (where the run or the size limit
    ended, False)."""
    step = 1 << 16
    while pos < limit:
        data = read(pos, min(step + 1, limit - pos + 1))
        found = _MARKER.search(data)
        if found is not None:
            return pos + found.start(), True
        if len(data) < 2:
            return pos + len(data), False
        pos += len(data) - 1
    return limit, False


def _parse_png(read: Callable[[int, int], bytes], start: int) -> _Found | None:
    """Follow a PNG chunk by chunk with CRC checks; None if IHDR is not valid."""
    pos = start + 8
    first = True
    while pos - start < MAX_PNG:
        head = read(pos, 8)
        if len(head) < 8:
            break
        length = struct.unpack(">I", head[:4])[0]
        kind = head[4:8]
        if (
            length > 0x7FFFFFFF
            or not kind.isalpha()
            or pos + 12 + length - start > MAX_PNG
        ):
            break
        if first and (kind != b"IHDR" or length != 13):
            return None
        body = read(pos + 4, 4 + length + 4)
        if len(body) < 8 + length:
            break
        (crc,) = struct.unpack(">I", body[-4:])
        if zlib.crc32(body[:-4]) != crc:
            if first:
                return None
            break
        first = False
        pos += 12 + length
        if kind == b"IEND":
            return _Found(pos - start, True)
    if first:
        return None
    return _Found(pos - start, False)


@dataclass(frozen=True, slots=True)
class CarveFormat:
    """A carvable format: its signature, parser and how a carved item is named."""

    name: str
    magic: bytes
    mime: str
    extension: str
    parse: Callable[[Callable[[int, int], bytes], int], _Found | None]


def _parse_gif(read: Callable[[int, int], bytes], start: int) -> _Found | None:
    """Follow a GIF block by block to its trailer; None without one image."""
    head = read(start, 13)
    if len(head) < 13 or head[:6] not in (b"GIF87a", b"GIF89a"):
        return None
    width, height, packed = struct.unpack_from("<HHB", head, 6)
    if not width or not height:
        return None
    pos = start + 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    images = 0
    while pos - start < MAX_GIF:
        kind = read(pos, 1)
        if kind == b"\x3b":  # trailer
            return _Found(pos + 1 - start, True) if images else None
        if kind == b"\x2c":  # image descriptor, local colour table, LZW data
            desc = read(pos, 10)
            if len(desc) < 10:
                break
            table = 3 << ((desc[9] & 7) + 1) if desc[9] & 0x80 else 0
            code_size = read(pos + 10 + table, 1)
            if not code_size or not 1 <= code_size[0] <= 12:
                break
            pos += 10 + table + 1
            images += 1
        elif kind == b"\x21" and len(read(pos, 2)) == 2:  # extension
            pos += 2
        else:
            break
        end = _skip_sub_blocks(read, pos, start + MAX_GIF)
        if end is None:
            break
        pos = end
    return _Found(pos - start, False) if images else None


def _skip_sub_blocks(
    read: Callable[[int, int], bytes], pos: int, limit: int
) -> int | None:
    """The offset after a run of GIF data sub-blocks and its terminator."""
    while pos < limit:
        size = read(pos, 1)
        if not size:
            return None
        if size == b"\x00":
            return pos + 1
        pos += 1 + size[0]
    return None


_BMP_HEADERS = {12, 40, 52, 56, 108, 124}


def _parse_bmp(read: Callable[[int, int], bytes], start: int) -> _Found | None:
    """A BMP is as long as its header says, if every header field is sane."""
    head = read(start, 54)
    if len(head) < 26 or head[:2] != b"BM":
        return None
    size, reserved, pixels, dib = struct.unpack_from("<IIII", head, 2)
    if reserved or dib not in _BMP_HEADERS or not 14 + dib <= pixels < size <= MAX_BMP:
        return None
    if dib == 12:
        width, height, planes, bpp = struct.unpack_from("<HHHH", head, 18)
        compression = 0
    else:
        if len(head) < 54:
            return None
        width, height, planes, bpp, compression = struct.unpack_from("<iiHHI", head, 18)
    if not (0 < width <= 1 << 16 and 0 < abs(height) <= 1 << 16 and planes == 1):
        return None
    if bpp not in (1, 4, 8, 16, 24, 32) or compression > 6:
        return None
    if (
        compression == 0
        and pixels + ((width * bpp + 31) // 32) * 4 * abs(height) > size
    ):
        return None  # an uncompressed bitmap holds all its rows
    return _Found(size, len(read(start + size - 1, 1)) == 1)  # cut by carve()


def _parse_webp(read: Callable[[int, int], bytes], start: int) -> _Found | None:
    """A WebP is a RIFF container: its chunks must tile the declared size."""
    head = read(start, 16)
    if len(head) < 16 or head[8:12] != b"WEBP" or head[12:16] not in _WEBP_CHUNKS:
        return None
    total = 8 + struct.unpack_from("<I", head, 4)[0]
    if total > MAX_WEBP or total < 20:
        return None
    pos = start + 12
    while pos < start + total:
        chunk = read(pos, 8)
        if len(chunk) < 8:
            return _Found(pos - start, False)
        length = struct.unpack_from("<I", chunk, 4)[0]
        if not all(0x20 <= c <= 0x7E for c in chunk[:4]):  # a FourCC is ASCII
            return _Found(pos - start, False) if pos > start + 12 else None
        pos += 8 + length + (length & 1)
    if pos != start + total:
        return None
    return _Found(total, len(read(start + total - 1, 1)) == 1)  # cut by carve()


_WEBP_CHUNKS = {b"VP8 ", b"VP8L", b"VP8X"}

#: Carvable formats by name.
CARVERS: dict[str, CarveFormat] = {
    "jpeg": CarveFormat("jpeg", b"\xff\xd8\xff", "image/jpeg", "jpg", _parse_jpeg),
    "png": CarveFormat("png", b"\x89PNG\r\n\x1a\n", "image/png", "png", _parse_png),
    "gif": CarveFormat("gif", b"GIF8", "image/gif", "gif", _parse_gif),
    "bmp": CarveFormat("bmp", b"BM", "image/bmp", "bmp", _parse_bmp),
    "webp": CarveFormat("webp", b"RIFF", "image/webp", "webp", _parse_webp),
}
_OVERLAP = max(len(c.magic) for c in CARVERS.values()) - 1


def zeros_hold_nothing() -> bool:
    """Whether no registered format's signature starts with a zero byte, so
    that nothing can start inside a run of zeros and a carver may leave such
    runs out (a format whose magic began with 0x00 would turn this off)."""
    return all(fmt.magic[:1] != b"\0" for fmt in CARVERS.values())


class _Signatures:
    """Every signature of ``formats`` in one window, found in one vectorised
    pass (candidates by first byte, then the remaining magic bytes), and
    handed out in offset order: 2-5 times faster than one ``bytes.find`` per
    format over random-looking data, where a magic's first byte turns up every
    256 bytes."""

    def __init__(self, window: bytes, formats: Sequence[CarveFormat]) -> None:
        data = np.frombuffer(window, dtype=np.uint8)
        firsts = sorted({fmt.magic[0] for fmt in formats})
        mask = data == firsts[0]
        for byte in firsts[1:]:
            mask |= data == byte
        candidates = np.flatnonzero(mask)
        offsets: list[np.ndarray] = []
        owners: list[np.ndarray] = []
        for number, fmt in enumerate(formats):
            at = candidates[data[candidates] == fmt.magic[0]]
            at = at[at + len(fmt.magic) <= len(data)]
            for k, byte in enumerate(fmt.magic[1:], start=1):
                at = at[data[at + k] == byte]
            offsets.append(at)
            owners.append(np.full(len(at), number))
        merged = np.concatenate(offsets)
        order = np.argsort(merged, kind="stable")  # ties: formats in given order
        self._offsets = merged[order]
        self._owners = np.concatenate(owners)[order]
        self._formats = formats

    def next(self, cursor: int, limit: int) -> tuple[int, CarveFormat] | None:
        """The first signature at or after ``cursor`` and before ``limit``."""
        i = int(np.searchsorted(self._offsets, cursor))
        if i == len(self._offsets) or self._offsets[i] >= limit:
            return None
        return int(self._offsets[i]), self._formats[int(self._owners[i])]


#: Carved unless a caller asks otherwise: JPEG and PNG, most of what
#: known-image sets hold. The signature search costs one numpy pass per
#: distinct first byte, so all five formats carve at about 750 MB/s against
#: 1,680 MB/s for these two (random bytes, ``python benchmarks/bench_carve.py``);
#: ``formats=`` opts into GIF, BMP and WebP.
DEFAULT_FORMATS: tuple[str, ...] = ("jpeg", "png")


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
    return tuple(CARVERS[name] for name in names)


def carve(
    handle: Device,
    partition: Partition,
    offset: int,
    length: int,
    *,
    formats: Iterable[str] | None = None,
    reach: int = 0,
) -> Iterator[FileRecord | Skipped]:
    """Pictures that start in the byte run ``[offset, offset + length)``.

    ``offset`` is absolute in the device. Items are ``FileRecord(source=CARVED,
    carve_offset=absolute offset, path="$Carved/<offset>.<ext>")``. A read
    error skips one block with a ``Skipped`` and carving goes on. ``formats``
    picks names from :data:`CARVERS` (jpeg, png, gif, bmp, webp; default
    :data:`DEFAULT_FORMATS`). ``reach``: how many bytes past the run an item
    that starts in it may run on (free space cut into pieces: the next piece
    carries on); they are read only to follow such an item, never searched.
    """
    chosen = carve_formats(formats)
    end = min(offset + length, handle.size)
    limit = min(end + max(reach, 0), handle.size)  # where items must stop
    cached = _Cached(handle, offset, limit)
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
            window += cached.read(scan_to, _OVERLAP)
        except (EvidenceError, OSError):
            pass  # the next block's own read reports it
        resume = scan_to
        signatures = _Signatures(window, chosen)
        cursor = 0
        while (hit := signatures.next(cursor, scan_to - pos)) is not None:
            at, fmt = hit
            cursor = at + 1
            start = pos + at
            try:
                found = fmt.parse(cached.read, start)
            except (EvidenceError, OSError) as exc:
                yield _unreadable(partition, start, f"following a {fmt.name}", exc)
                continue
            if found is None:
                continue
            # A segment length can point past what may be read (a cut picture).
            size = min(found.size, limit - start)
            yield FileRecord(
                device_id=partition.device_id,
                evidence=partition.evidence,
                partition_index=partition.index,
                partition_offset=partition.offset,
                path=f"$Carved/{start}.{fmt.extension}",
                size=size,
                source=Source.CARVED,
                inode=None,
                media_type=fmt.mime,
                carve_offset=start,
            )
            if found.complete:
                # Go on after the item, so hits inside it (an EXIF thumbnail)
                # are not reported again. A truncated item is not skipped over:
                # what follows its last good byte may be another picture.
                cursor = start + size - pos
                if start + size >= scan_to:
                    resume = start + size
                    break
        pos = resume


def carve_partition(
    handle: Any, partition: Partition, *, formats: Iterable[str] | None = None
) -> Iterator[FileRecord | Skipped]:
    """Carve every unallocated run of ``partition`` (or all of an unpartitioned
    region); a filesystem whose free space cannot be found is one ``Skipped``."""
    try:
        runs = list(unallocated_runs(handle, partition))
    except FilesystemError as exc:
        yield Skipped.at_volume(
            partition.device_id,
            partition.index,
            partition.offset,
            Stage.CARVE,
            str(exc).split(": ", 2)[-1],
        )
        return
    for offset, length in runs:
        yield from carve(handle, partition, offset, length, formats=formats)


def _unreadable(
    partition: Partition, at: int, what: str, exc: BaseException
) -> Skipped:
    return Skipped.at_position(
        partition, at, Stage.CARVE, f"device unreadable, {what}: {exc}"
    )
