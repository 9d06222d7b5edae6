"""Archive benchmark: listing a 7z / RAR5 / zip of N pictures, and reading
every member back one by one as the scan does (``iter_member_chunks`` with a
``cache_key``, in archive order), against a walk from the start per member
(no cache key: what a solid 7z cost before the read-back cursor).

The archives are built in memory from seeded generated pictures (py7zr
writes one solid 7z block; ``tests/ingest/rar5.py`` a stored RAR5).

Usage: python benchmarks/bench_archives.py [--members N] [--seed S]
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


from tests.ingest.rar5 import write_rar5  # noqa: E402
from triage.ingest.archives import iter_member_chunks, iter_members  # noqa: E402
from triage.records import FileRecord  # noqa: E402
from triage.sample import sevenzip_bytes, zip_bytes  # noqa: E402
from triage.sample.pictures import encode, make_picture  # noqa: E402

OUTER = FileRecord("bench", "bench.raw", 0, 0, "a.arc", 0)


def _pictures(n: int, seed: int) -> dict[str, bytes]:
    return {
        f"DCIM/p{i:05d}.jpg": encode(make_picture(seed + i, 320, 240), "JPEG")
        for i in range(n)
    }


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def _read_all(data: bytes, names: list[str], key: object) -> None:
    for name in names:
        for _ in iter_member_chunks(lambda: io.BytesIO(data), (name,), cache_key=key):
            pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--seed", type=int, default=20261203)
    args = parser.parse_args()
    members = _pictures(args.members, args.seed)
    names = list(members)
    print(f"seed {args.seed}; {platform.machine()} {platform.processor() or ''}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")  # fmt: skip
    print(f"{len(members)} JPEG members, {sum(map(len, members.values()))} bytes")
    print(f"{'archive':<10} {'bytes':>10} {'list s':>8} {'read back s':>12} "
          f"{'walk each s':>12}")  # fmt: skip
    for kind, data in (
        ("7z solid", sevenzip_bytes(members)),
        ("rar5", write_rar5(members)),
        ("zip", zip_bytes(members)),
    ):
        listed = _timed(lambda d=data: list(iter_members(io.BytesIO(d), OUTER)))
        cached = _timed(lambda d=data, k=kind: _read_all(d, names, (k, "bench")))
        few = names[: min(50, len(names))]  # a walk each is quadratic: 50 only
        walk = _timed(lambda d=data, f=few: _read_all(d, f, None))
        print(f"{kind:<10} {len(data):>10} {listed:>8.2f} {cached:>12.2f} "
              f"{walk:>9.2f} ({len(few)})")  # fmt: skip


if __name__ == "__main__":
    main()
