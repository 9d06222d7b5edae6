"""Ingest benchmark: how fast ``iter_files`` walks a large image, and how much
of the evidence it reads, against ``fls -r`` and a plain sequential read.

The image (>= 1 GiB, MBR, one ext4 partition with thousands of small
non-media files and some JPEG/PNG pictures, plus a FAT32 partition) is built
once into ``benchmarks/out/`` (git-ignored) and reused by later runs.

Measured in one run, on a warm page cache (the image was just built or read):

- sequential read of the image file, 1 MiB at a time;
- ``fls -r -p -o OFFSET`` over each partition (output discarded);
- ``iter_files(carve=False)``: the walk plus a header sniff of every file;
- the same walk then a full read of every media item (what a scan must read):
  evidence bytes read / (filesystem metadata + media bytes);
- ``iter_files`` with carving of free space.

"Filesystem metadata" is the space each filesystem marks used minus the
blocks of its regular files (inode tables, bitmaps, directories, journal,
FATs): an upper bound on what a walk could need to read.

Usage: python benchmarks/bench_ingest.py [--files N] [--seed S] [--rebuild]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import random
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from triage.ingest import iter_files  # noqa: E402
from triage.ingest.content import iter_chunks  # noqa: E402
from triage.ingest.evidence import open_device  # noqa: E402
from triage.records import FileRecord, Partition, Source  # noqa: E402
from triage.sample.disk import MIB, build_disk, build_filesystem  # noqa: E402
from triage.sample.pictures import encode, make_picture  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
WORDS = b"evidence exhibit ledger invoice meeting notes draft final copy "


def _files(n: int, seed: int) -> dict[str, bytes]:
    """Mostly small text-like files, 4 % pictures, a few larger binaries."""
    rng = random.Random(seed)
    pictures = [
        encode(make_picture(seed + i, 320, 240), "JPEG" if i % 3 else "PNG")
        for i in range(24)
    ]
    files: dict[str, bytes] = {}
    for i in range(n):
        folder = f"d{i % 50:02d}/s{(i // 50) % 20:02d}"
        roll = rng.random()
        if roll < 0.04:
            pic = pictures[i % len(pictures)]
            ext = "png" if pic.startswith(b"\x89PNG") else "jpg"
            files[f"{folder}/img{i:05d}.{ext}"] = pic + i.to_bytes(4, "little")
        elif roll < 0.045:
            files[f"{folder}/blob{i:05d}.bin"] = rng.randbytes(rng.randint(1, 4) * MIB)
        else:
            size = rng.randint(200, 16_000)
            files[f"{folder}/doc{i:05d}.txt"] = (WORDS * (size // len(WORDS) + 1))[
                :size
            ]
    return files


def build(n: int, seed: int, rebuild: bool) -> Path:
    disk = OUT / f"ingest-{n}-{seed}.dd"
    if disk.exists() and not rebuild:
        return disk
    OUT.mkdir(parents=True, exist_ok=True)
    files = _files(n, seed)
    ext4 = build_filesystem("ext4", files, OUT / "bench-ext4.img", size_mb=1024)
    small = {k: v for k, v in list(files.items())[: n // 10] if len(v) < MIB}
    fat = build_filesystem("fat32", small, OUT / "bench-fat32.img", size_mb=128)
    build_disk(disk, [ext4, fat], "mbr")
    ext4.unlink()
    fat.unlink()
    return disk


def _used_bytes(disk: Path, offset: int, fs_type: str) -> int:
    """Bytes the filesystem marks used (fsstat)."""
    out = subprocess.run(
        ["fsstat", "-o", str(offset // 512), str(disk)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def number(pattern: str) -> int:
        found = re.search(pattern, out)
        if found is None:
            raise SystemExit(f"fsstat output lacks {pattern!r}")
        return int(found[1])

    if fs_type.startswith("ext"):
        total = number(r"Block Range: \d+ - (\d+)") + 1
        return (total - number(r"Free Blocks: (\d+)")) * number(r"Block Size: (\d+)")
    total = number(r"Total Range: \d+ - (\d+)") + 1  # sectors
    free = number(r"Free Sector Count \(FS Info\): (\d+)")
    return (total - free) * number(r"Sector Size: (\d+)")


Row = tuple[str, float, str]


@dataclass
class _Walk:
    """What the walk and the media read found and read."""

    records: list[FileRecord]
    seconds: float
    walk_read: int  # evidence bytes read by the walk
    media: list[FileRecord]
    media_bytes: int
    total_read: int  # evidence bytes read by the walk and the media read


def _parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=12_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rebuild", action="store_true")
    return ap.parse_args()


def _print_header(args: argparse.Namespace, disk: Path, built: float) -> None:
    size = disk.stat().st_size
    print(
        f"seed {args.seed}  files {args.files}  image {disk.name} {size / MIB:.0f} MiB"
    )
    print(f"machine {platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
          f"python {platform.python_version()}; date "
          f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M UTC}; "
          f"build/reuse {built:.1f} s")  # fmt: skip


def _sequential_read(disk: Path) -> tuple[Row, float]:
    """The image file read 1 MiB at a time; returns (row, seconds)."""
    size = disk.stat().st_size
    t = time.perf_counter()
    with open(disk, "rb") as fh:
        while fh.read(MIB):
            pass
    seq = time.perf_counter() - t
    on_disk = disk.stat().st_blocks * 512  # the image is sparse: free space is holes
    row = (
        "sequential read of image", seq,
        f"{size / seq / 1e6:.0f} MB/s ({on_disk / MIB:.0f} MiB not holes)",
    )  # fmt: skip
    return row, seq


def _partitions(disk: Path) -> list[Partition]:
    """The image's partitions that hold a filesystem."""
    with open_device(disk) as handle:
        from triage.ingest.volumes import iter_partitions

        return [
            p for p in iter_partitions(handle) if isinstance(p, Partition) and p.fs_type
        ]


def _fls(disk: Path, parts: list[Partition]) -> tuple[Row, float, int]:
    """``fls -r -p`` over each partition; returns (row, seconds, entries)."""
    t = time.perf_counter()
    fls_lines = 0
    for p in parts:
        out = subprocess.run(
            ["fls", "-r", "-p", "-o", str(p.offset // 512), str(disk)],
            capture_output=True,
            check=True,
        ).stdout
        fls_lines += out.count(b"\n")
    fls_s = time.perf_counter() - t
    row = ("fls -r -p (all partitions)", fls_s, f"{fls_lines / fls_s:.0f} entries/s")
    return row, fls_s, fls_lines


def _walk(disk: Path) -> tuple[list[Row], _Walk]:
    """``iter_files(carve=False)``, then a full read of every filesystem media
    item through the same handle."""
    rows: list[Row] = []
    with open_device(disk) as handle:
        t = time.perf_counter()
        records = [
            r for r in iter_files(handle, carve=False) if isinstance(r, FileRecord)
        ]
        walk = time.perf_counter() - t
        walk_read = handle.bytes_read
        listed = sum(r.size for r in records)
        rows.append((
            "iter_files(carve=False)", walk,
            f"{len(records) / walk:.0f} files/s, "
            f"{listed / walk / 1e6:.0f} MB/s listed, "
            f"{walk_read / walk / 1e6:.0f} MB/s read",
        ))  # fmt: skip
        media = [r for r in records if r.is_media and r.source is Source.FILESYSTEM]
        media_bytes = sum(r.size for r in media)
        t = time.perf_counter()
        for r in media:
            for _ in iter_chunks(handle, r):
                pass
        media_s = time.perf_counter() - t
        total_read = handle.bytes_read
        rows.append((
            f"+ full read of {len(media)} media", media_s,
            f"{media_bytes / media_s / 1e6:.0f} MB/s",
        ))  # fmt: skip
    return rows, _Walk(records, walk, walk_read, media, media_bytes, total_read)


def _metadata(disk: Path, parts: list[Partition], records: list[FileRecord]) -> int:
    """Filesystem metadata bytes: used space minus the regular files' blocks."""
    file_blocks = {p.offset: 0 for p in parts}
    for r in records:
        if r.source is Source.FILESYSTEM and r.partition_offset in file_blocks:
            file_blocks[r.partition_offset] += -(-r.size // 4096) * 4096
    return sum(
        max(0, _used_bytes(disk, p.offset, p.fs_type or "") - file_blocks[p.offset])
        for p in parts
    )


def _carve(disk: Path) -> tuple[Row, int]:
    """``iter_files`` with carving; returns (row, evidence bytes read)."""
    with open_device(disk) as handle:
        t = time.perf_counter()
        carved = sum(
            1
            for r in iter_files(handle)
            if isinstance(r, FileRecord) and r.source is Source.CARVED
        )
        full = time.perf_counter() - t
        row = (
            "iter_files (with carving)", full,
            f"{carved} carved, {handle.bytes_read / full / 1e6:.0f} MB/s read",
        )  # fmt: skip
        return row, handle.bytes_read


def _print_report(
    rows: list[Row],
    walked: _Walk,
    *,
    fls_lines: int,
    fls_s: float,
    seq: float,
    metadata: int,
    carve_read: int,
) -> None:
    print()
    print(f"| {'step':38} | {'seconds':>8} | rate |")
    print(f"|{'-' * 40}|{'-' * 10}|------|")
    for name, secs, rate in rows:
        print(f"| {name:38} | {secs:8.2f} | {rate} |")
    print()
    print(
        f"files listed: {len(walked.records)} ({len(walked.media)} media, "
        f"{walked.media_bytes / MIB:.1f} MiB); fls entries: {fls_lines}"
    )
    print(
        f"evidence read by walk: {walked.walk_read / MIB:.1f} MiB; walk + media: "
        f"{walked.total_read / MIB:.1f} MiB; with carving: {carve_read / MIB:.1f} MiB"
    )
    print(f"filesystem metadata (used - file blocks): {metadata / MIB:.1f} MiB")
    ratio = walked.total_read / (metadata + walked.media_bytes)
    print(f"read / (metadata + media) = {ratio:.2f}")
    print(f"walk speed vs fls: {fls_s / walked.seconds:.2f}x fls's rate; "
          f"walk time / sequential read time: {walked.seconds / seq:.2f}")  # fmt: skip


def main() -> None:
    args = _parse_args()

    t = time.perf_counter()
    disk = build(args.files, args.seed, args.rebuild)
    built = time.perf_counter() - t
    _print_header(args, disk, built)

    seq_row, seq = _sequential_read(disk)
    parts = _partitions(disk)
    fls_row, fls_s, fls_lines = _fls(disk, parts)
    walk_rows, walked = _walk(disk)
    metadata = _metadata(disk, parts, walked.records)
    carve_row, carve_read = _carve(disk)

    _print_report(
        [seq_row, fls_row, *walk_rows, carve_row],
        walked,
        fls_lines=fls_lines,
        fls_s=fls_s,
        seq=seq,
        metadata=metadata,
        carve_read=carve_read,
    )


if __name__ == "__main__":
    main()
