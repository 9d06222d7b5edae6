"""Carving throughput and allocation-map cost, against a plain sequential read.

    python benchmarks/bench_carve.py              # 256 MiB runs
    python benchmarks/bench_carve.py --mib 64     # quicker

Writes (once, reused from ``benchmarks/out/carve/``) raw images of random
bytes, of zeros, and of random bytes with a generated JPEG or PNG planted every
MiB, then measures in one run: a plain sequential read of each image through
the same ``DeviceHandle`` (1 MiB reads), and ``triage.ingest.carve.carve`` over
the whole image as one unpartitioned run, with the default (every
registered format) and with JPEG and PNG only. The page cache is warm for both (the
read runs first), so the numbers compare CPU cost, not the disk. It also times
the signature search alone (``_Signatures`` over 1 MiB blocks) with the
numpy search and with Hyperscan (``magic_search``), in the same process, and
``unallocated_runs`` on a FAT32 and an NTFS filesystem against
``blkls -l`` (Sleuth Kit's per-block listing of the same thing).

Prints the seed, machine, date and a table. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import triage.ingest.carve as carve_module  # noqa: E402
from triage.ingest.carve import (  # noqa: E402
    DEFAULT_FORMATS,
    _Signatures,
    carve,
    carve_formats,
    unallocated_runs,
)
from triage.ingest.evidence import open_device  # noqa: E402
from triage.ingest.magic_search import (  # noqa: E402
    ENGINE,
    find_anywhere_lists,
    find_anywhere_numpy,
)
from triage.ingest.volumes import iter_partitions  # noqa: E402
from triage.records import Partition  # noqa: E402
from triage.sample.disk import build_filesystem  # noqa: E402
from triage.sample.pictures import encode, make_picture  # noqa: E402

OUT = REPO / "benchmarks" / "out" / "carve"
SEED = 20261121
MIB = 1 << 20


def _images(mib: int) -> dict[str, Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    paths = {
        name: OUT / f"{name}-{mib}m.raw" for name in ("random", "zeros", "planted")
    }
    if not paths["random"].exists():
        paths["random"].write_bytes(rng.bytes(mib * MIB))
    if not paths["zeros"].exists():
        with open(paths["zeros"], "wb") as fh:
            fh.truncate(mib * MIB)
    if not paths["planted"].exists():
        data = bytearray(rng.bytes(mib * MIB))
        pictures = [
            encode(make_picture(SEED + i, 320, 240), "JPEG" if i % 2 else "PNG")
            for i in range(8)
        ]
        for n in range(mib - 1):
            blob = pictures[n % len(pictures)]
            at = n * MIB + 4096 + n
            data[at : at + len(blob)] = blob
        paths["planted"].write_bytes(bytes(data))
    return paths


def _read_all(path: Path) -> float:
    with open_device(path) as handle:
        start = time.perf_counter()
        for offset in range(0, handle.size, MIB):
            handle.read(offset, MIB)
        return time.perf_counter() - start


def _carve_all(path: Path, formats: tuple[str, ...] | None) -> tuple[float, int]:
    with open_device(path) as handle:
        part = Partition(
            handle.device.device_id,
            str(path),
            0,
            0,
            handle.size,
            "whole",
            allocated=False,
        )
        start = time.perf_counter()
        found = sum(1 for _ in carve(handle, part, 0, handle.size, formats=formats))
        return time.perf_counter() - start, found


def _numpy_lists(window: bytes, magics: Sequence[bytes]) -> list[list[int]]:
    return [at.tolist() for at in find_anywhere_numpy(window, magics)]


def _search_ms_per_mib(path: Path, engine: str) -> tuple[float, float, int]:
    """Wall and CPU ms a MiB of the signature search alone (every format:
    JPEG, PNG, GIF at every byte, the rest on sectors) over ``path`` read
    in 1 MiB blocks, with ``engine`` ("hyperscan" or "numpy") finding the
    magics looked for at every byte; and how many signatures it found."""
    formats = carve_formats()
    search = find_anywhere_lists if engine == "hyperscan" else _numpy_lists
    saved = carve_module.find_anywhere_lists
    carve_module.find_anywhere_lists = search
    try:
        data = path.read_bytes()
        found = 0
        wall, cpu = time.perf_counter(), time.process_time()
        for at in range(0, len(data), MIB):
            found += len(_Signatures(data[at : at + MIB], formats, at)._offsets)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        carve_module.find_anywhere_lists = saved
    mib = len(data) / MIB
    return wall * 1000 / mib, cpu * 1000 / mib, found


def _alloc_map(fs: str, size_mb: int) -> tuple[float, float, int]:
    files = {f"d/f{i}.bin": bytes([i % 256]) * 40_000 for i in range(200)}
    image = OUT / f"{fs}-{size_mb}m.img"
    if not image.exists():
        build_filesystem(fs, files, image, size_mb=size_mb, deleted=list(files)[::2])
    with open_device(image) as handle:
        [part] = [p for p in iter_partitions(handle) if isinstance(p, Partition)]
        start = time.perf_counter()
        runs = list(unallocated_runs(handle, part))
        ours = time.perf_counter() - start
    start = time.perf_counter()
    subprocess.run(["blkls", "-l", str(image)], capture_output=True, check=True)
    blkls = time.perf_counter() - start
    return ours, blkls, len(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mib", type=int, default=256, help="size of each run")
    args = parser.parse_args()
    print(f"seed {SEED}; {platform.node()} {platform.machine()} {os.cpu_count()} cpus;")
    now = dt.datetime.now(dt.UTC)
    print(f"python {platform.python_version()}; {now:%Y-%m-%d %H:%M} UTC")
    paths = _images(args.mib)
    print(
        f"\n| run ({args.mib} MiB) | plain read MB/s | carve MB/s, default: all "
        f"{len(DEFAULT_FORMATS)} formats | items | carve MB/s, JPEG+PNG only | items |"
    )
    print("|---|---|---|---|---|---|")
    for name, path in paths.items():
        read = _read_all(path)
        took, found = _carve_all(path, None)
        took2, found2 = _carve_all(path, ("jpeg", "png"))
        size = args.mib * MIB / 1e6
        print(
            f"| {name} | {size / read:.0f} | {size / took:.0f} | {found} "
            f"| {size / took2:.0f} | {found2} |"
        )
    engines = ["numpy"] + (["hyperscan"] if ENGINE == "hyperscan" else [])
    print(f"\n| run ({args.mib} MiB) | search engine | ms a MiB, wall | CPU | found |")
    print("|---|---|---|---|---|")
    for name, path in paths.items():
        for engine in engines:
            wall, cpu, found = _search_ms_per_mib(path, engine)
            print(f"| {name} | {engine} | {wall:.2f} | {cpu:.2f} | {found} |")
    print("\n| filesystem | unallocated_runs ms | blkls -l ms | free runs |")
    print("|---|---|---|---|")
    for fs, size_mb in (("fat32", 256), ("ntfs", 256), ("ext4", 256)):
        ours, blkls, runs = _alloc_map(fs, size_mb)
        print(
            f"| {fs} {size_mb} MiB | {ours * 1000:.1f} | {blkls * 1000:.0f} | {runs} |"
        )


if __name__ == "__main__":
    main()
