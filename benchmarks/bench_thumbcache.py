"""Thumbnail caches: entries per second on a thumbcache of 5,000 entries.

    python benchmarks/bench_thumbcache.py               # 5,000 entries
    python benchmarks/bench_thumbcache.py --entries 500 # quicker

Builds (in memory, from ``triage.sample.thumbcaches``) a Windows 10
thumbcache_256.db of N entries (generated 256 px JPEGs, one in 50 a BMP) and
times, over it: listing every entry as a member (``iter_members``: parse,
cut, sniff), reading every member back by its address (``read_member`` with
the parsed index kept, as the scan reads them), and those reads plus hashing
(``hash_media``: MD5, SHA-1, SHA-256, PDQ, pHash, as the scan hashes a
picture). A Thumbs.db of 400 of the same pictures is listed and read back
too (the sample writer has no DIFAT: at most about 7 MiB). Prints the seed,
machine, date and a table. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from triage.hashmatch.policy import hash_media  # noqa: E402
from triage.ingest.archives import iter_members, read_member  # noqa: E402
from triage.records import FileRecord  # noqa: E402
from triage.sample import thumbcaches as tc  # noqa: E402
from triage.sample.pictures import encode, make_picture  # noqa: E402

SEED = 20261203
DISTINCT = 50  # distinct pictures, repeated (identical bytes are still re-read)


def _pictures(n: int) -> list[tuple[str, bytes]]:
    base = []
    for i in range(DISTINCT):
        img = make_picture(SEED + i, 256, 192)
        base.append(encode(img, "BMP") if i == 0 else encode(img, "JPEG", 85))
    return [(f"{SEED + i:016x}", base[i % DISTINCT]) for i in range(n)]


def _timed(label: str, count: int, work: object) -> tuple[str, int, float]:
    start = time.perf_counter()
    done = work()  # type: ignore[operator]
    seconds = time.perf_counter() - start
    assert done == count, (label, done, count)
    return label, count, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=5000)
    args = parser.parse_args()
    entries = _pictures(args.entries)
    data = tc.thumbcache_db(entries)
    record = FileRecord(
        "bench", "bench.raw", 0, 0, "thumbcache_256.db", len(data), inode=1
    )

    def listing() -> int:
        return sum(
            isinstance(m, FileRecord) for m in iter_members(io.BytesIO(data), record)
        )

    names = [m.archive_path for m in iter_members(io.BytesIO(data), record)
             if isinstance(m, FileRecord)]  # fmt: skip

    def reading() -> int:
        for path in names:
            read_member(lambda: io.BytesIO(data), path, cache_key=("bench", 1))
        return len(names)

    def hashing() -> int:
        for path in names:
            picture = read_member(
                lambda: io.BytesIO(data), path, cache_key=("bench", 2)
            )
            hash_media(
                path[-1], picture, "image/jpeg" if picture[:2] != b"BM" else "image/bmp"
            )
        return len(names)

    small = entries[: min(len(entries), 400)]
    thumbs = tc.thumbs_db([(f"p{i}.jpg", p) for i, (_, p) in enumerate(small)])

    def thumbs_listing() -> int:
        return sum(isinstance(m, FileRecord)
                   for m in iter_members(io.BytesIO(thumbs), record))  # fmt: skip

    thumb_names = [m.archive_path for m in iter_members(io.BytesIO(thumbs), record)
                   if isinstance(m, FileRecord)]  # fmt: skip

    def thumbs_reading() -> int:
        for path in thumb_names:
            read_member(lambda: io.BytesIO(thumbs), path, cache_key=("bench", 3))
        return len(thumb_names)

    rows = [
        _timed("thumbcache: list entries", args.entries, listing),
        _timed("thumbcache: read back", args.entries, reading),
        _timed("thumbcache: read back + hash", args.entries, hashing),
        _timed("Thumbs.db: list entries", len(small), thumbs_listing),
        _timed("Thumbs.db: read back", len(small), thumbs_reading),
    ]
    print(f"seed {SEED}; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; "
          f"load {os.getloadavg()[0]:.2f}")  # fmt: skip
    print(
        f"thumbcache_256.db: {args.entries} entries, {len(data) / 2**20:.1f} MiB; "
        f"Thumbs.db: {len(small)} entries, {len(thumbs) / 2**20:.1f} MiB"
    )
    print(f"| {'what':<30} | {'entries':>7} | {'seconds':>8} | {'entries/s':>9} |")
    print(f"|{'-' * 32}|{'-' * 9}|{'-' * 10}|{'-' * 11}|")
    for label, count, seconds in rows:
        print(
            f"| {label:<30} | {count:>7} | {seconds:>8.2f} | {count / seconds:>9,.0f} |"
        )


if __name__ == "__main__":
    main()
