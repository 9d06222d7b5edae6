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
distance -> P(true copy) table to triage/hashmatch/calibration.json (its
"about" key documents the layout).

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
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from triage.hashmatch.hashing import perceptual_hashes  # noqa: E402
from triage.hashmatch.signals import SIGNALS  # noqa: E402
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


def smooth(hist: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Gaussian-smoothed copy of a histogram (same length, same total)."""
    radius = int(3 * sigma)
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-(x**2) / (2 * sigma**2))
    kernel /= kernel.sum()
    padded = np.pad(hist.astype(float), radius, mode="reflect")
    return np.convolve(padded, kernel, mode="valid")


def fit(
    bits: int, by_transform: dict[str, dict[int, int]], unrelated: np.ndarray
) -> dict[str, object]:
    """Copy and unrelated distributions -> P(true copy | distance).

    Copies of transformations the algorithm cannot see at all (median distance
    >= 40% of the bits: flips and rotations for pHash/dHash, which only PDQ's
    dihedral variants catch) are left out: they sit among unrelated pairs and
    would only blur the table. The unrelated density is the larger of the
    smoothed histogram and a normal fitted to it, so it never drops to zero
    where no pair was observed. Equal prior odds; non-increasing in distance.
    """
    index = np.arange(bits + 1)
    kept, left_out = [], []
    copy_hist = np.zeros(bits + 1)
    for name, counts in by_transform.items():
        values = np.repeat(
            np.array(list(counts), int), np.array(list(counts.values()), int)
        )
        if np.median(values) >= 0.4 * bits:
            left_out.append(name)
            continue
        kept.append(name)
        for d, n in counts.items():
            copy_hist[int(d)] += n
    n_unrelated = unrelated.sum()
    mean = float((index * unrelated).sum() / n_unrelated)
    sd = float(np.sqrt(((index - mean) ** 2 * unrelated).sum() / n_unrelated))
    normal = np.exp(-((index - mean) ** 2) / (2 * sd**2)) / (sd * np.sqrt(2 * np.pi))
    f_unrelated = np.maximum(smooth(unrelated) / n_unrelated, normal)
    # two scales: the narrow one keeps the shape, the wide one bridges gaps in
    # the sparse far tail (a gap would otherwise pin p to 0 from there on)
    f_copy = np.maximum(smooth(copy_hist), smooth(copy_hist, 6.0)) / copy_hist.sum()
    f_copy = np.maximum(f_copy, 1e-300)
    log10_lr = np.minimum.accumulate(
        np.clip(np.log10(f_copy) - np.log10(np.maximum(f_unrelated, 1e-300)), -99, 99)
    )
    p = 1.0 / (1.0 + 10.0 ** (-log10_lr))
    return {
        "copy_transforms": kept,
        "left_out_transforms": left_out,
        "copy_histogram": [int(x) for x in copy_hist],
        "copies": int(copy_hist.sum()),
        "unrelated_histogram": [int(x) for x in unrelated],
        "unrelated_pairs": int(n_unrelated),
        "unrelated_normal_fit": {"mean": round(mean, 2), "sd": round(sd, 2)},
        "log10_likelihood_ratio": [round(float(x), 3) for x in log10_lr],
        "p_copy": [round(float(x), 4) for x in p],
    }


ABOUT = (
    "Perceptual-hash calibration written by benchmarks/calibrate.py. For each "
    "algorithm, lists are indexed by Hamming distance 0..bits. "
    "'copy_histogram'[d] counts transformed copies (resize, recompress, "
    "greyscale, crop, border, watermark, flip, rotate: "
    "triage.sample.pictures.TRANSFORMS) at distance d from their original, "
    "minimum over the copy's variants as the matcher sees them; "
    "'copies_by_transform' gives the same per transformation ({distance: count}); "
    "transformations the algorithm cannot see (median distance >= 40% of the "
    "bits, listed in 'left_out_transforms') are not in copy_histogram. "
    "'unrelated_histogram'[d] counts pairs of unrelated pictures at distance d. "
    "'log10_likelihood_ratio'[d] is log10 of density(copies)/density(unrelated), "
    "both Gaussian-smoothed (copies: the larger of sigma 1.5 and 6 bits; "
    "unrelated: sigma 1.5 bits), the unrelated density floored by a "
    "normal fit ('unrelated_normal_fit') so it is never zero, made "
    "non-increasing in d. 'p_copy'[d] = 1/(1 + 10^-log10_likelihood_ratio[d]) "
    "is the probability that a pair at distance d is a true copy at EVEN prior "
    "odds; for other prior odds o, p = 1/(1 + 10^-(log10_likelihood_ratio + "
    "log10 o)). The unrelated pictures are generated scenes and a few package "
    "photos: real collections hold near-duplicates (bursts, similar scenes) "
    "this set lacks, so treat p_copy as an upper bound far from 0. 'version' "
    "changes if the layout does."
)


def write_json(
    report: dict[str, dict[str, object]],
    *,
    seed: int,
    bases: int,
    transforms: list[str],
    command: str,
) -> None:
    doc = {
        "about": ABOUT,
        "version": 1,
        "generated": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "seed": seed,
        "bases": bases,
        "transforms": transforms,
        "algorithms": report,
    }
    CALIBRATION_JSON.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"# wrote {CALIBRATION_JSON.relative_to(REPO)}")


def refit() -> None:
    """Recompute the fitted tables from the histograms already in the file."""
    doc = json.loads(CALIBRATION_JSON.read_text())
    report = {}
    for name, table in doc["algorithms"].items():
        by_transform = {
            t: {int(d): n for d, n in counts.items()}
            for t, counts in table["copies_by_transform"].items()
        }
        report[name] = {
            "bits": table["bits"],
            "default_threshold": SIGNALS.get(name).default_threshold,
            "copies_by_transform": table["copies_by_transform"],
            **fit(table["bits"], by_transform, np.array(table["unrelated_histogram"])),
        }
    write_json(
        report,
        seed=doc["seed"],
        bases=doc["bases"],
        transforms=doc["transforms"],
        command=doc["command"],
    )


Hashes = dict[str, list[str]]  # algorithm -> hex values


@dataclass
class _Hashed:
    """The hashes of every base, its copies and its disjoint crops."""

    # Reference (hash set) values: original variant of each base's JPEG.
    refs: dict[str, list[str]] = field(default_factory=lambda: {a: [] for a in ALGOS})
    ref_quality: list[int | None] = field(default_factory=list)
    # Queries: (base index, transform, algorithm -> all variant values).
    queries: list[tuple[int, str, Hashes]] = field(default_factory=list)
    # (left crop's original values, right crop's values of every variant)
    disjoint: list[tuple[Hashes, Hashes]] = field(default_factory=list)


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=120, help="generated bases")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--no-photos", action="store_true")
    parser.add_argument("--no-write", action="store_true", help="do not write JSON")
    parser.add_argument(
        "--refit",
        action="store_true",
        help="only recompute p_copy from the histograms already in the JSON",
    )
    return parser.parse_args()


def _bases(count: int, seed: int, photos: bool) -> list[tuple[str, Image.Image]]:
    """``count`` seeded generated scenes of sizes drawn from ``SIZES``, then
    (with ``photos``) the package photos."""
    rng = np.random.default_rng(seed)
    bases: list[tuple[str, Image.Image]] = []
    for i in range(count):
        w, h = SIZES[int(rng.integers(len(SIZES)))]
        bases.append((f"gen{seed + i}", make_picture(seed + i, w, h)))
    if photos:
        bases += [(f"photo{i}", p) for i, p in enumerate(package_photos())]
    return bases


def _print_header(seed: int, bases: int) -> None:
    print(f"# calibrate.py seed={seed} bases={bases} transforms={len(TRANSFORMS)}")
    print(
        f"# machine: {platform.node()} {platform.machine()} cpus={os.cpu_count()} "
        f"python={platform.python_version()} (shared with other work)"
    )
    print(f"# date: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}")


def _hash_copies(index: int, name: str, img: Image.Image, hashed: _Hashed) -> None:
    """Hash every ``TRANSFORMS`` copy of one base into ``hashed.queries``."""
    for tname, transform in TRANSFORMS.items():
        copy = transform(img)
        if "jpeg-q" in tname:
            # already JPEG-degraded by the transform: store it losslessly so
            # the only loss is the one being measured
            data, mime = encode(copy, "PNG"), "image/png"
        else:
            data, mime = encode(copy, "JPEG", 90), "image/jpeg"
        got = hash_all(data, f"{name}/{tname}", mime)
        hashed.queries.append(
            (index, tname, {a: [v for _, v, _ in got[a]] for a in ALGOS})
        )


def _hash_disjoint(name: str, img: Image.Image) -> tuple[Hashes, Hashes]:
    """The left and right 45% of one base, hashed."""
    w, h = img.size
    left = img.crop((0, 0, round(w * 0.45), h))
    right = img.crop((round(w * 0.55), 0, w, h))
    hl = hash_all(encode(left, "JPEG", 90), f"{name}/left")
    hr = hash_all(encode(right, "JPEG", 90), f"{name}/right")
    return (
        {a: [v for var, v, _ in hl[a] if var == "original"] for a in ALGOS},
        {a: [v for _, v, _ in hr[a]] for a in ALGOS},
    )


def _hash_bases(bases: list[tuple[str, Image.Image]]) -> _Hashed:
    """Each base's JPEG (its original hashes go to the set), its copies and its
    disjoint crops, hashed in that order."""
    hashed = _Hashed()
    for index, (name, img) in enumerate(bases):
        base_hashes = hash_all(encode(img, "JPEG", 90), name)
        for a in ALGOS:
            hashed.refs[a].append(
                next(v for var, v, _ in base_hashes[a] if var == "original")
            )
        hashed.ref_quality.append(
            next(q for var, _, q in base_hashes["pdq"] if var == "original")
        )
        _hash_copies(index, name, img, hashed)
        hashed.disjoint.append(_hash_disjoint(name, img))
    return hashed


def _distances(
    a: str, names: list[str], hashed: _Hashed
) -> tuple[dict[str, list[int]], dict[str, list[str]], list[int], list[int]]:
    """For algorithm ``a``: (copy distances per transformation, misses at the
    default threshold per transformation as "base:distance", unrelated-pair
    distances, disjoint-crop distances)."""
    ref_bits = to_bits(hashed.refs[a])
    true_d: dict[str, list[int]] = defaultdict(list)
    misses: dict[str, list[str]] = defaultdict(list)
    false_d: list[int] = []
    for index, tname, values in hashed.queries:
        d = distances(to_bits(values[a]), ref_bits).min(axis=0)  # per ref
        true_d[tname].append(int(d[index]))
        if d[index] > SIGNALS.get(a).default_threshold:
            misses[tname].append(f"{names[index]}:{int(d[index])}")
        others = np.delete(d, index)
        false_d.extend(int(x) for x in others)
    disjoint_d = [
        int(distances(to_bits(r[a]), to_bits(left[a])).min())
        for left, r in hashed.disjoint
    ]
    return true_d, misses, false_d, disjoint_d


def _print_recall(
    a: str,
    bits: int | None,
    true_d: dict[str, list[int]],
    false_arr: np.ndarray,
    disjoint_d: list[int],
) -> None:
    """The recall table of algorithm ``a`` and its unrelated-pair quantiles."""
    all_true = np.array([x for v in true_d.values() for x in v])
    print(f"\n## {a} ({bits} bits): recall per transformation at threshold")
    header = "| transformation | " + " | ".join(f"<={t}" for t in THRESHOLDS[a])
    print(header + " | median d |")
    print("|---" * (len(THRESHOLDS[a]) + 2) + "|")
    for tname in TRANSFORMS:
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
    print(f"| disjoint crops matched ({len(dj)}) | {cells} | {int(np.median(dj))} |")
    print(
        f"# unrelated: min distance {false_arr.min()}, "
        f"0.001% quantile {np.quantile(false_arr, 1e-5):.0f}, "
        f"0.1% quantile {np.quantile(false_arr, 1e-3):.0f}"
    )


def _print_misses(
    a: str, true_d: dict[str, list[int]], misses: dict[str, list[str]]
) -> None:
    limit = SIGNALS.get(a).default_threshold
    print(f"# misses at the default threshold {limit} (base:distance), up to 8:")
    for tname in TRANSFORMS:
        if misses[tname] and len(misses[tname]) < len(true_d[tname]) / 2:
            print(f"#   {tname}: {', '.join(misses[tname][:8])}")


def _calibrate(a: str, names: list[str], hashed: _Hashed) -> dict[str, object]:
    """Print algorithm ``a``'s tables; return its entry of the JSON report."""
    bits = SIGNALS.get(a).bits
    true_d, misses, false_d, disjoint_d = _distances(a, names, hashed)
    false_arr = np.array(false_d)
    _print_recall(a, bits, true_d, false_arr, disjoint_d)
    _print_misses(a, true_d, misses)
    false_hist = np.bincount(false_arr, minlength=bits + 1)[: bits + 1]
    by_transform = {
        t: {
            int(d): int(n)
            for d, n in zip(*np.unique(v, return_counts=True), strict=True)
        }
        for t, v in true_d.items()
    }
    return {
        "bits": bits,
        "default_threshold": SIGNALS.get(a).default_threshold,
        "copies_by_transform": {
            t: {str(d): n for d, n in c.items()} for t, c in by_transform.items()
        },
        **fit(bits, by_transform, false_hist),
    }


def main() -> None:
    args = _parse_args()
    if args.refit:
        refit()
        return

    started = time.perf_counter()
    bases = _bases(args.count, args.seed, not args.no_photos)
    _print_header(args.seed, len(bases))
    hashed = _hash_bases(bases)
    print(
        f"# hashed {len(bases) * (len(TRANSFORMS) + 3)} files in "
        f"{time.perf_counter() - started:.1f} s; "
        f"base PDQ quality min {min(q or 0 for q in hashed.ref_quality)}"
    )

    names = [name for name, _ in bases]
    report = {a: _calibrate(a, names, hashed) for a in ALGOS}
    print(f"\n# total {time.perf_counter() - started:.1f} s")

    if not args.no_write:
        write_json(
            report,
            seed=args.seed,
            bases=len(bases),
            transforms=list(TRANSFORMS),
            command="python benchmarks/calibrate.py " + " ".join(sys.argv[1:]),
        )


if __name__ == "__main__":
    main()
