"""Free space from a filesystem's own allocation map, read as raw bytes.

Reading the map costs a few reads per filesystem, where listing every block
(``blkls -l``) costs a line per block. These readers are library-free: the FAT
(FAT12/16/32) and the block-group bitmaps (ext2/3/4) are parsed from the
device's bytes; bitmaps kept in metadata files (NTFS ``$Bitmap``, HFS+'s
allocation file, exFAT's allocation bitmap) come in as chunks the backend
reads. A backend's ``free_runs`` picks the reader for its filesystem type.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from typing import Literal

import numpy as np

from triage.errors import FilesystemError
from triage.records import Partition

#: ``read(offset, size)`` of the device's bytes, by absolute offset.
Read = Callable[[int, int], bytes]
MAP_CHUNK = 8 << 20  # bitmap bytes looked at at once: 64 Mi units, 64 MiB of flags


def _runs_from_free(free: np.ndarray) -> Iterator[tuple[int, int]]:
    """(first index, count) of each run of True in a boolean array."""
    if free.size == 0:
        return
    padded = np.concatenate(([False], free, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    for start, stop in zip(edges[0::2], edges[1::2], strict=True):
        yield int(start), int(stop - start)


def bitmap_free(
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


def merge_runs(runs: Iterable[tuple[int, int]]) -> Iterator[tuple[int, int]]:
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


def bitmap_runs(
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
            for start, run in _runs_from_free(bitmap_free(chunk, units, order)):
                yield base + start, run
            base += units

    return merge_runs(pieces())


def to_bytes(
    runs: Iterable[tuple[int, int]], base: int, unit: int
) -> Iterator[tuple[int, int]]:
    for start, count in runs:
        yield base + start * unit, count * unit


def fat_runs(read: Read, partition: Partition) -> Iterator[tuple[int, int]]:
    """Free clusters of a FAT12/16/32 volume, from its first FAT."""
    boot = read(partition.offset, 512)
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
    fat = read(partition.offset + reserved * bps, fatsz * bps)
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
    yield from to_bytes(_runs_from_free(entries == 0), base, spc * bps)


def exfat_runs(
    read: Read, partition: Partition, bitmap: Iterable[bytes]
) -> Iterator[tuple[int, int]]:
    """Free clusters of an exFAT volume, from its allocation bitmap's chunks."""
    boot = read(partition.offset, 512)
    heap_offset, cluster_count = struct.unpack_from("<II", boot, 88)
    sector = 1 << boot[108]
    cluster = sector << boot[109]
    runs = bitmap_runs(bitmap, cluster_count)
    yield from to_bytes(runs, partition.offset + heap_offset * sector, cluster)


def ext_runs(read: Read, partition: Partition) -> Iterator[tuple[int, int]]:
    """Free blocks of an ext2/3/4 volume, from its block-group bitmaps."""
    sb = read(partition.offset + 1024, 1024)
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
    table = read(partition.offset + (first_data + 1) * block, groups * desc_size)

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
            bitmap = read(at, (in_group + 7) // 8)
            for start, run in _runs_from_free(bitmap_free(bitmap, in_group)):
                yield first + start, run

    runs = merge_runs(group_runs())
    yield from to_bytes(runs, partition.offset + first_data * block, block)
