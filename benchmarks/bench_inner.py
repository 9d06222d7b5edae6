"""Throughput of the inner sources (pictures inside other files), in memory.

    python benchmarks/bench_inner.py [--count 200]

Builds, from generated pictures (seeded), JPEGs carrying an EXIF thumbnail,
plain JPEGs (no EXIF: the common case the JPEG inner source must not slow
down), PDFs with a JPEG and a Flate image each, and one chat database with
``count`` picture BLOBs among ``10 * count`` rows; then times listing the
members (``iter_members``) and reading each back (``read_member``), as a
scan does. Prints the seed, the machine and a table. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

SEED = 20261203


def _time(files: list[bytes], read_back: bool) -> tuple[float, int]:
    from triage.ingest.archives import iter_members, read_member
    from triage.records import FileRecord

    record = FileRecord("bench", "bench.raw", 0, 0, "f", 0, inode=1)
    items = 0
    start = time.perf_counter()
    for data in files:
        for item in iter_members(io.BytesIO(data), record):
            if isinstance(item, FileRecord):
                items += 1
                if read_back:
                    read_member(data, item.archive_path)
    return time.perf_counter() - start, items


def main() -> None:
    from triage.sample.inner import (
        chat_database,
        jpeg_with_thumbnail,
        pdf_with_pictures,
    )
    from triage.sample.pictures import encode, make_picture

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=200)
    n = ap.parse_args().count

    def jpeg(seed: int, w: int, h: int) -> bytes:
        return encode(make_picture(SEED + seed, w, h), "JPEG", 90)

    thumbs = [jpeg(i, 160, 120) for i in range(n)]
    mains = [jpeg(10_000 + i % 20, 1024, 768) for i in range(n)]
    kinds: dict[str, Callable[[], list[bytes]]] = {
        "plain JPEG": lambda: mains,
        "JPEG + EXIF thumbnail": lambda: [
            jpeg_with_thumbnail(m, t) for m, t in zip(mains, thumbs, strict=True)
        ],
        "PDF (JPEG + Flate image)": lambda: [
            pdf_with_pictures([t, encode(make_picture(SEED + i, 200, 150), "PNG")])
            for i, t in enumerate(thumbs[: max(1, n // 4)])
        ],
        "SQLite, BLOBs": lambda: [
            chat_database(
                {10 * i + 1: t for i, t in enumerate(thumbs)}, filler_rows=10 * n
            )
        ],
    }
    print(f"# bench_inner seed={SEED} count={n} python={platform.python_version()} "
          f"machine={platform.machine()} cpus={os.cpu_count()} "
          f"load={os.getloadavg()[0]:.2f}")  # fmt: skip
    print("| files | MB | items | list s | list MB/s | list+read s | items/s |")
    print("|---|---|---|---|---|---|---|")
    for name, build in kinds.items():
        files = build()
        size = sum(map(len, files)) / 1e6
        listed, items = _time(files, read_back=False)
        both, _ = _time(files, read_back=True)
        print(
            f"| {name} x{len(files)} | {size:.1f} | {items} | {listed:.3f} | "
            f"{size / listed:.0f} | {both:.3f} | {items / both:.0f} |"
        )


if __name__ == "__main__":
    main()
