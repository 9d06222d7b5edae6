"""Calibrate perceptual-hash thresholds on generated copies and unrelated pairs.

For each base picture (seeded ``make_picture`` scenes of several sizes and
aspect ratios, plus the real photos of ``package_photos()``), the "known" file
is its JPEG (quality 90) and the hash set holds that file's *original* hashes
only, as a real set would. Every transformation in ``TRANSFORMS`` makes a copy
(saved as JPEG q90 unless the transform is itself a JPEG recompression); the
copy is hashed the way the pipeline hashes (all variants: PDQ dihedral and
trimmed, pHash/dHash trimmed) and its distance to its base is the minimum over
its variants. Unrelated pairs are every copy against every *other* base, with
the same minimum over variants (variants also raise the false-match rate, so
they are counted). "Disjoint crops" are a further negative: the left and right
45% of the same picture.

Prints a table per algorithm (recall per transformation and false-match rate
at several thresholds) and writes the distance distributions and the
distance -> P(true copy) table to triage/hashmatch/calibration.json.

    python benchmarks/calibrate.py              # 120 generated + package photos
    python benchmarks/calibrate.py --count 30   # quick look
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from triage.hashmatch.algorithms import ALGORITHMS  # noqa: E402
from triage.hashmatch.hashing import perceptual_hashes  # noqa: E402
from triage.sample.pictures import (  # noqa: E402
    TRANSFORMS,
    encode,
    make_picture,
    package_photos,
)

ALGOS = ("pdq", "phash", "dhash")
THRESHOLDS = {
    "pdq": (16, 24, 31, 40, 48, 56, 64, 70),
    "phash": (4, 6, 8, 10, 12, 14, 16, 18),
    "dhash": (4, 6, 8, 10, 12, 14, 16, 18),
}
SIZES = ((640, 480), (1024, 768), (1280, 720), (800, 800), (600, 800), (1600, 1200))
CALIBRATION_JSON = REPO / "triage" / "hashmatch" / "calibration.json"


def hash_all(
    data: bytes, where: str, mime: str = "image/jpeg"
) -> dict[str, list[tuple[str, str, int | None]]]:
    """algorithm -> [(variant, hex, quality)] for one file."""
    result = perceptual_hashes(data, mime, where=where, algorithms=ALGOS)
    out: dict[str, list[tuple[str, str, int | None]]] = defaultdict(list)
    for h in result.hashes:
        out[h.algorithm].append((h.variant, h.value, h.quality))
    return out


def to_bits(values: list[str]) -> np.ndarray:
    """Hex strings -> (n, bits) packed uint8 rows."""
    return np.array([np.frombuffer(bytes.fromhex(v), np.uint8) for v in values])


_POP = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def distances(queries: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """Hamming distance matrix between packed rows."""
    x = np.bitwise_xor(queries[:, None, :], refs[None, :, :])
    return _POP[x].sum(axis=2, dtype=np.int32)


def p_copy_table(true_hist: np.ndarray, false_hist: np.ndarray) -> list[float]:
    """P(true copy | distance) with equal priors, smoothed, non-increasing."""
    n_true, n_false = max(true_hist.sum(), 1), max(false_hist.sum(), 1)
    f_true = (true_hist + 0.5) / (n_true + 0.5 * len(true_hist))
    f_false = (false_hist + 0.5) / (n_false + 0.5 * len(false_hist))
    p = f_true / (f_true + f_false)
    p = np.minimum.accumulate(p)  # closer is never less likely to be a copy
    return [round(float(x), 4) for x in p]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=120, help="generated bases")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-photos", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="do not write JSON")
    args = parser.parse_args()

    started = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    bases: list[tuple[str, Image.Image]] = []
    for i in range(args.count):
        w, h = SIZES[int(rng.integers(len(SIZES)))]
        bases.append((f"gen{args.seed + i}", make_picture(args.seed + i, w, h)))
    if not args.no_photos:
        bases += [(f"photo{i}", p) for i, p in enumerate(package_photos())]

    print(
        f"# calibrate.py seed={args.seed} bases={len(bases)} "
        f"transforms={len(TRANSFORMS)}"
    )
    print(
        f"# machine: {platform.node()} {platform.machine()} cpus={os.cpu_count()} "
        f"python={platform.python_version()} (shared with other work)"
    )
    print(f"# date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}")

    # Reference (hash set) values: original variant of each base's JPEG.
    refs: dict[str, list[str]] = {a: [] for a in ALGOS}
    ref_quality: list[int | None] = []
    # Queries: (base index, transform, algorithm -> all variant values).
    queries: list[tuple[int, str, dict[str, list[str]]]] = []
    disjoint: list[tuple[dict[str, list[str]], dict[str, list[str]]]] = []
    for index, (name, img) in enumerate(bases):
        base_hashes = hash_all(encode(img, "JPEG", 90), name)
        for a in ALGOS:
            refs[a].append(next(v for var, v, _ in base_hashes[a] if var == "original"))
        ref_quality.append(
            next(q for var, _, q in base_hashes["pdq"] if var == "original")
        )
        for tname, transform in TRANSFORMS.items():
            copy = transform(img)
            if "jpeg-q" in tname:
                # already JPEG-degraded by the transform: store it losslessly so
                # the only loss is the one being measured
                data, mime = encode(copy, "PNG"), "image/png"
            else:
                data, mime = encode(copy, "JPEG", 90), "image/jpeg"
            got = hash_all(data, f"{name}/{tname}", mime)
            queries.append(
                (index, tname, {a: [v for _, v, _ in got[a]] for a in ALGOS})
            )
        w, h = img.size
        left = img.crop((0, 0, round(w * 0.45), h))
        right = img.crop((round(w * 0.55), 0, w, h))
        hl = hash_all(encode(left, "JPEG", 90), f"{name}/left")
        hr = hash_all(encode(right, "JPEG", 90), f"{name}/right")
        disjoint.append(
            (
                {a: [v for var, v, _ in hl[a] if var == "original"] for a in ALGOS},
                {a: [v for _, v, _ in hr[a]] for a in ALGOS},
            )
        )
    hashed = time.perf_counter() - started
    print(
        f"# hashed {len(bases) * (len(TRANSFORMS) + 3)} files in {hashed:.1f} s; "
        f"base PDQ quality min {min(q or 0 for q in ref_quality)}"
    )

    report: dict[str, dict[str, object]] = {}
    transform_names = list(TRANSFORMS)
    for a in ALGOS:
        bits = ALGORITHMS[a].bits
        ref_bits = to_bits(refs[a])
        true_d: dict[str, list[int]] = defaultdict(list)
        false_d: list[int] = []
        for index, tname, values in queries:
            d = distances(to_bits(values[a]), ref_bits).min(axis=0)  # per ref
            true_d[tname].append(int(d[index]))
            others = np.delete(d, index)
            false_d.extend(int(x) for x in others)
        disjoint_d = [
            int(distances(to_bits(r[a]), to_bits(left[a])).min())
            for left, r in disjoint
        ]
        all_true = np.array([x for v in true_d.values() for x in v])
        false_arr = np.array(false_d)
        print(f"\n## {a} ({bits} bits): recall per transformation at threshold")
        header = "| transformation | " + " | ".join(f"<={t}" for t in THRESHOLDS[a])
        print(header + " | median d |")
        print("|---" * (len(THRESHOLDS[a]) + 2) + "|")
        for tname in transform_names:
            d = np.array(true_d[tname])
            cells = " | ".join(f"{(d <= t).mean():.2f}" for t in THRESHOLDS[a])
            print(f"| {tname} | {cells} | {int(np.median(d))} |")
        cells = " | ".join(f"{(all_true <= t).mean():.3f}" for t in THRESHOLDS[a])
        print(f"| **all copies** | {cells} | {int(np.median(all_true))} |")
        cells = " | ".join(f"{(false_arr <= t).mean():.1e}" for t in THRESHOLDS[a])
        print(
            f"| false-match rate ({len(false_arr):,} unrelated pairs) | {cells} | "
            f"{int(np.median(false_arr))} |"
        )
        dj = np.array(disjoint_d)
        cells = " | ".join(f"{(dj <= t).mean():.2f}" for t in THRESHOLDS[a])
        print(
            f"| disjoint crops matched ({len(dj)}) | {cells} | {int(np.median(dj))} |"
        )
        print(
            f"# unrelated: min distance {false_arr.min()}, "
            f"0.001% quantile {np.quantile(false_arr, 1e-5):.0f}, "
            f"0.1% quantile {np.quantile(false_arr, 1e-3):.0f}"
        )
        true_hist = np.bincount(all_true, minlength=bits + 1)[: bits + 1]
        false_hist = np.bincount(false_arr, minlength=bits + 1)[: bits + 1]
        report[a] = {
            "bits": bits,
            "default_threshold": ALGORITHMS[a].default_threshold,
            "copies": int(all_true.size),
            "unrelated_pairs": int(false_arr.size),
            "copy_histogram": [int(x) for x in true_hist],
            "unrelated_histogram": [int(x) for x in false_hist],
            "p_copy": p_copy_table(true_hist, false_hist),
        }
    print(f"\n# total {time.perf_counter() - started:.1f} s")

    if not args.no_write:
        doc = {
            "about": (
                "Perceptual-hash calibration written by benchmarks/calibrate.py. "
                "For each algorithm: 'copy_histogram'[d] counts transformed copies "
                "(resize, recompress, greyscale, crop, border, watermark, flip, "
                "rotate; see triage.sample.pictures.TRANSFORMS) at Hamming distance "
                "d from their original, 'unrelated_histogram'[d] counts pairs of "
                "unrelated pictures at distance d (minimum over query variants, as "
                "the matcher sees them). 'p_copy'[d] is the probability that a pair "
                "at distance d is a true copy, assuming equal prior odds, with add-0.5 "
                "smoothing and made non-increasing in d; multiply the odds "
                "p/(1-p) by the real prior odds where known. Lists are indexed by "
                "distance 0..bits. 'version' changes if the layout does."
            ),
            "version": 1,
            "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": "python benchmarks/calibrate.py " + " ".join(sys.argv[1:]),
            "seed": args.seed,
            "bases": len(bases),
            "transforms": transform_names,
            "algorithms": report,
        }
        CALIBRATION_JSON.write_text(json.dumps(doc, indent=1) + "\n")
        print(f"# wrote {CALIBRATION_JSON.relative_to(REPO)}")


if __name__ == "__main__":
    main()
