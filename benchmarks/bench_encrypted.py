"""Encrypted phone backups: what decrypting in memory costs, in one run.

1. ``read``: one large file (a "video") of an iTunes/Finder backup read in
   1 MiB pieces, plain backup against the same backup encrypted (AES-256-CBC
   through ``cbc.CbcReader``): CPU seconds, MB/s, the ratio, and the peak
   Python memory of the decrypting read (tracemalloc: bounded by the read
   size, not the file's).
2. ``walk``: list and read back every file of the backup (N pictures and the
   video), plain against encrypted, and the same for an Android ``.ab``
   (zlib) against an encrypted one.
3. ``unlock``: the keybag unlocked with real backups' PBKDF2 counts
   (DPIC 10,000,000 + ITER 10,000), once, then again from the per-process
   cache of the derived key.

Usage: python benchmarks/bench_encrypted.py [--pictures N] [--video-mib M]
       [--seed S] [--skip-unlock]
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import shutil
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from triage.ingest import iter_files  # noqa: E402
from triage.ingest.evidence import open_device  # noqa: E402
from triage.ingest.filesystems import itunes_crypto as crypto  # noqa: E402
from triage.ingest.filesystems import open_filesystem  # noqa: E402
from triage.ingest.filesystems.passwords import PASSWORD_ENV  # noqa: E402
from triage.records import FileRecord  # noqa: E402
from triage.sample import phone  # noqa: E402
from triage.sample.pictures import encode, make_picture  # noqa: E402

OUT = Path(__file__).resolve().parent / "out" / "encrypted"
PASSWORD = "bench password"
VIDEO = "CameraRollDomain/Media/DCIM/100APPLE/IMG_0002.MOV"
PIECE = 1 << 20


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _files(pictures: int, video_mib: int, seed: int) -> dict[str, bytes]:
    rand = random.Random(seed)
    files = {
        f"CameraRollDomain/Media/DCIM/100APPLE/IMG_{n:04d}.JPG": encode(
            make_picture(seed + n, 640, 480), "JPEG", 90
        )
        for n in range(3, 3 + pictures)
    }
    files[VIDEO] = b"".join(rand.randbytes(1 << 20) for _ in range(video_mib))
    return files


def _read_whole(path: Path, wanted: str | None) -> int:
    """Bytes read from every record (or the one at ``wanted``), 1 MiB a read."""
    total = 0
    records = [
        r
        for r in iter_files(path, archives=False, carve=False)
        if isinstance(r, FileRecord) and wanted in (None, r.path)
    ]
    with open_device(path) as handle:
        fs = open_filesystem(handle, 0)
        for record in records:
            stream = fs.open_file(record)
            for at in range(0, record.size, PIECE):
                total += len(stream.read_at(at, PIECE))
    return total


def _row(
    name: str, size: int, plain: tuple[Any, float, float], enc: tuple[Any, float, float]
) -> None:
    mb = size / 1e6
    cells = [
        name,
        f"{mb:,.0f} MB",
        f"{plain[2]:.2f} s ({mb / max(plain[2], 1e-9):,.0f} MB/s)",
        f"{enc[2]:.2f} s ({mb / max(enc[2], 1e-9):,.0f} MB/s)",
        f"{enc[2] / max(plain[2], 1e-9):.2f}x",
        f"{plain[1]:.2f} / {enc[1]:.2f} s",
    ]
    print("| " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pictures", type=int, default=500)
    parser.add_argument("--video-mib", type=int, default=256)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--skip-unlock", action="store_true")
    args = parser.parse_args()
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print(
        f"seed {args.seed}; {platform.machine()} {os.cpu_count()} cores; "
        f"Python {platform.python_version()}; {now}; load {os.getloadavg()[0]:.2f}"
    )
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    files = _files(args.pictures, args.video_mib, args.seed)
    size = sum(map(len, files.values()))
    plain = phone.write_itunes_backup(OUT / "plain", files)
    enc = phone.write_itunes_backup(OUT / "enc", files, encrypted=True,
                                    password=PASSWORD)  # fmt: skip
    android = {f"data/media/0/DCIM/Camera/{p.rsplit('/', 1)[1]}": d
               for p, d in files.items()}  # fmt: skip
    ab_plain = phone.write_android_backup(OUT / "plain.ab", android)
    ab_enc = phone.write_android_backup(OUT / "enc.ab", android, encrypted=True,
                                        password=PASSWORD)  # fmt: skip
    os.environ[PASSWORD_ENV] = PASSWORD
    print(
        "\n| what | bytes | plain CPU | encrypted CPU | CPU ratio | wall plain / enc |"
    )
    print("|---|---|---|---|---|---|")
    for warm in (plain, enc, ab_plain, ab_enc):  # imports and page cache
        _read_whole(warm, None)
    video = len(files[VIDEO])
    _row("read the video, 1 MiB reads (iTunes)", video,
         _timed(lambda: _read_whole(plain, VIDEO)),
         _timed(lambda: _read_whole(enc, VIDEO)))  # fmt: skip
    _row("list + read every file (iTunes)", size,
         _timed(lambda: _read_whole(plain, None)),
         _timed(lambda: _read_whole(enc, None)))  # fmt: skip
    _row("list + read every file (.ab, zlib)", size,
         _timed(lambda: _read_whole(ab_plain, None)),
         _timed(lambda: _read_whole(ab_enc, None)))  # fmt: skip
    tracemalloc.start()
    _read_whole(enc, VIDEO)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"\npeak Python memory reading the {video >> 20} MiB video decrypted, "
        f"1 MiB reads: {peak / (1 << 20):.1f} MiB"
    )
    if args.skip_unlock:
        return
    real = phone.write_encrypted_backup(OUT / "real", {VIDEO: b"x"}, password=PASSWORD,
                                        dpic=10_000_000, iterations=10_000)  # fmt: skip
    plist = crypto.load_manifest_plist("real", real)
    first = _timed(lambda: crypto.unlock_keybag("real", "x", plist, PASSWORD))
    again = _timed(lambda: crypto.unlock_keybag("real", "x", plist, PASSWORD))
    print(
        f"keybag unlock, DPIC 10,000,000 + ITER 10,000: first {first[2]:.2f} CPU s "
        f"({first[1]:.2f} s wall), again in the same process {again[2] * 1e3:.2f} "
        f"CPU ms (derived key cached); writing that backup derived it once too"
    )


if __name__ == "__main__":
    main()
