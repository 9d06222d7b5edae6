"""Bytes -> (MD5, SHA-1, PDQ, pHash) per picture: fast path vs naive path.

Naive: full-size decode to RGB, ``imagehash.phash`` on it and
``pdqhash.compute`` on the full array (plus MD5/SHA-1 of the bytes).
Fast: ``triage.hashmatch.policy.hash_media`` (DCT-scaled greyscale decode to a
short side of >= 512 px, border trimming on), with and without the seven PDQ
dihedral variants. All on the same generated pictures, in one run; the time per
picture is the median of ``--repeat`` runs after one warm-up.

    python benchmarks/bench_hashing.py
    python benchmarks/bench_hashing.py --repeat 3    # quicker
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import imagehash
import numpy as np
import pdqhash
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from triage.hashmatch.policy import hash_media  # noqa: E402
from triage.hashmatch.signals import bits_to_hex, hamming  # noqa: E402
from triage.sample.pictures import encode, make_picture  # noqa: E402

CASES = (
    ("640x480 JPEG", (640, 480), "JPEG", "image/jpeg"),
    ("1920x1080 JPEG", (1920, 1080), "JPEG", "image/jpeg"),
    ("4000x3000 JPEG", (4000, 3000), "JPEG", "image/jpeg"),
    ("1920x1080 PNG", (1920, 1080), "PNG", "image/png"),
)


def naive(data: bytes) -> tuple[str, str, str, str]:
    md5 = hashlib.md5(data).hexdigest()
    sha1 = hashlib.sha1(data).hexdigest()
    with Image.open(io.BytesIO(data)) as img:
        rgb = img.convert("RGB")
    phash = str(imagehash.phash(rgb))
    bits, _quality = pdqhash.compute(np.asarray(rgb))
    return md5, sha1, bits_to_hex(bits), phash


def fast(data: bytes, mime: str, dihedral: bool) -> str:
    media = hash_media("bench", data, mime, dihedral=dihedral)
    return next(
        h.value
        for h in media.perceptual
        if h.algorithm == "pdq" and h.variant == "original"
    )


def median_ms(func: Callable[[], object], repeat: int) -> float:
    func()  # warm-up (lazy imports, caches)
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        runs.append(time.perf_counter() - started)
    return statistics.median(runs) * 1000


def drift_table(seed: int) -> None:
    """PDQ drift of DCT-scaled decoding to a short side >= S vs the full decode.

    This is the measurement behind ``DECODE_MIN_SIDE``: generated pictures and
    package photos, resized to several sizes, saved as JPEG q90, q60 and
    greyscale q90; only copies whose full-decode PDQ quality is >= 80 count.
    """
    from triage.hashmatch.decode import decode_full_rgb, decode_luma
    from triage.hashmatch.hashing import pdq_from_luma
    from triage.sample.pictures import package_photos

    sides = (128, 256, 384, 512, 768)
    bases = [(f"gen{seed + i}", make_picture(seed + i, 1600, 1200)) for i in range(8)]
    bases += [(f"photo{i}", p) for i, p in enumerate(package_photos())]
    sizes = ((1024, 768), (1920, 1080), (4000, 3000))
    drift: dict[int, list[int]] = {s: [] for s in sides}
    worst: dict[int, tuple[int, str]] = {s: (0, "") for s in sides}
    for name, img in bases:
        for w, h in sizes:
            resized = img.resize((w, h), Image.Resampling.LANCZOS)
            for label, copy, quality in (
                ("q90", resized, 90),
                ("q60", resized, 60),
                ("grey", resized.convert("L"), 90),
            ):
                data = encode(copy, "JPEG", quality)
                full = np.asarray(decode_full_rgb(data, "image/jpeg", where=name))
                bits, q = pdqhash.compute(full)
                if q < 80:
                    continue
                reference = bits_to_hex(bits)
                for side in sides:
                    luma = decode_luma(data, "image/jpeg", where=name, min_side=side)
                    variants, _quality = pdq_from_luma(
                        np.asarray(luma.luma), dihedral=False
                    )
                    value = variants[0][1]
                    d = hamming(reference, value)
                    drift[side].append(d)
                    if d > worst[side][0]:
                        worst[side] = (d, f"{name} {w}x{h} {label}")
    print(f"\n# PDQ drift vs full decode, {len(drift[sides[0]])} JPEGs (quality>=80)")
    print("| min short side | mean bits | 95th pct | max | worst case |")
    print("|---|---|---|---|---|")
    for side in sides:
        d = np.array(drift[side])
        print(
            f"| {side} | {d.mean():.1f} | {np.percentile(d, 95):.0f} | {d.max()} "
            f"| {worst[side][1]} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument(
        "--drift", action="store_true", help="also measure PDQ drift per decode size"
    )
    args = parser.parse_args()
    print(f"# bench_hashing.py seed={args.seed} repeat={args.repeat} (median)")
    print(
        f"# machine: {platform.node()} {platform.machine()} cpus={os.cpu_count()} "
        f"python={platform.python_version()} (shared with other work)"
    )
    print(f"# date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}")
    print(
        "| picture | bytes | naive ms | fast ms (no dihedral) | fast ms (dihedral) "
        "| speed-up (no dih.) | speed-up (dih.) | PDQ fast vs naive (bits) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, size, fmt, mime in CASES:
        data = encode(make_picture(args.seed, *size), fmt, 90)
        t_naive = median_ms(lambda d=data: naive(d), args.repeat)
        t_plain = median_ms(lambda d=data, m=mime: fast(d, m, False), args.repeat)
        t_dih = median_ms(lambda d=data, m=mime: fast(d, m, True), args.repeat)
        drift = hamming(naive(data)[2], fast(data, mime, True))
        print(
            f"| {label} | {len(data):,} | {t_naive:.1f} | {t_plain:.1f} | {t_dih:.1f} "
            f"| {t_naive / t_plain:.1f}x | {t_naive / t_dih:.1f}x | {drift} |"
        )
    if args.drift:
        drift_table(args.seed)


if __name__ == "__main__":
    main()
