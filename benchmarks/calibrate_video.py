"""Calibrate the video match thresholds (``triage.hashmatch.video_match``).

Generates known videos (benign scenes of ``make_picture``), and of each: a
re-encode to MPEG-4 Part 2 in AVI at 1.5x the size, a resize to half the size
(H.264), a 40% clip, and that clip between unrelated footage; plus unrelated
videos. Every device video is compared with every known video as vPDQ does
(frames of quality >= 50, duplicates removed, PDQ distance <= 31): the share of
the device video's frames found in the known one (``item``) and of the known
one's frames found in the device video (``known``). Prints, per variant, the
smallest shares of true pairs, and the largest shares of unrelated pairs, so
thresholds can sit in the gap.

    python benchmarks/calibrate_video.py [--known 10] [--unrelated 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import io
import itertools
import platform
import time
from collections.abc import Iterator

import numpy as np

from triage.hashmatch.video import hash_video
from triage.hashmatch.video_match import (
    ITEM_SHARE_THRESHOLD,
    KNOWN_SHARE_THRESHOLD,
    usable_features,
)
from triage.sample.videos import encode_video, video_frames

SECONDS, FPS, SIZE = 10, 10, (320, 240)
DISTANCE = 31


def _features(data: bytes) -> np.ndarray:
    frames = hash_video(io.BytesIO(data), where="calibration").frames
    values = list(usable_features(frames))
    bits = np.unpackbits(
        np.frombuffer(b"".join(bytes.fromhex(v) for v in values), np.uint8)
    )
    return bits.reshape(len(values), 256).astype(bool)


def _shares(item: np.ndarray, known: np.ndarray) -> tuple[float, float]:
    if not len(item) or not len(known):
        return 0.0, 0.0
    close = (item[:, None, :] != known[None, :, :]).sum(axis=2) <= DISTANCE
    return 100 * close.any(axis=1).mean(), 100 * close.any(axis=0).mean()


def _frames(seed: int, seconds: float = SECONDS) -> Iterator[np.ndarray]:
    return video_frames(seed, seconds=seconds, fps=FPS, width=SIZE[0], height=SIZE[1])


def _variants(seed: int, filler: int) -> dict[str, bytes]:
    clip = (30, 70)  # 40% of 100 frames, from 3 s

    def clipped() -> Iterator[np.ndarray]:
        return itertools.islice(_frames(seed), *clip)

    return {
        "re-encode mpeg4/avi 1.5x": encode_video(
            _frames(seed), codec="mpeg4", container="avi", size=(480, 360)
        ),
        "resize 0.5x h264": encode_video(_frames(seed), size=(160, 120)),
        "clip 40%": encode_video(clipped()),
        "clip 40% in unrelated footage": encode_video(
            itertools.chain(_frames(filler, 6), clipped(), _frames(filler + 1, 6))
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--known", type=int, default=10)
    parser.add_argument("--unrelated", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    start, cpu = time.perf_counter(), time.process_time()
    base = 1000 + args.seed * 10_000
    known = [base + k for k in range(args.known)]
    known_features = [_features(encode_video(_frames(s))) for s in known]
    true: dict[str, list[tuple[float, float]]] = {}
    false: list[tuple[float, float]] = []
    for k, seed in enumerate(known):
        for name, data in _variants(seed, base + 5000 + 2 * k).items():
            feats = _features(data)
            for j, other in enumerate(known_features):
                pair = _shares(feats, other)
                (true.setdefault(name, []) if j == k else false).append(pair)
    for u in range(args.unrelated):
        feats = _features(encode_video(_frames(base + 8000 + u, 8)))
        false.extend(_shares(feats, other) for other in known_features)
    print(f"# calibrate_video.py seed {args.seed}: {args.known} known videos, "
          f"{args.unrelated} unrelated; {platform.machine()} "
          f"{platform.python_version()}")  # fmt: skip
    print(f"# thresholds in use: item >= {ITEM_SHARE_THRESHOLD:g}% or known >= "
          f"{KNOWN_SHARE_THRESHOLD:g}%")  # fmt: skip
    print("| pairs | n | item share min / median | known share min / median |"
          " matched |")  # fmt: skip
    print("|---|---|---|---|---|")

    def matched(p: tuple[float, float]) -> bool:
        return p[0] >= ITEM_SHARE_THRESHOLD or p[1] >= KNOWN_SHARE_THRESHOLD

    for name, pairs in true.items():
        item = [p[0] for p in pairs]
        kn = [p[1] for p in pairs]
        print(f"| {name} | {len(pairs)} | {min(item):.0f} / {np.median(item):.0f} "
              f"| {min(kn):.0f} / {np.median(kn):.0f} | "
              f"{sum(map(matched, pairs))}/{len(pairs)} |")  # fmt: skip
    item = [p[0] for p in false]
    kn = [p[1] for p in false]
    print(f"| unrelated (max / 99th pct) | {len(false)} | {max(item):.0f} / "
          f"{np.percentile(item, 99):.0f} | {max(kn):.0f} / "
          f"{np.percentile(kn, 99):.0f} | "
          f"{sum(map(matched, false))}/{len(false)} |")  # fmt: skip
    print(f"# {time.perf_counter() - start:.1f} s wall, "
          f"{time.process_time() - cpu:.1f} s CPU")  # fmt: skip


if __name__ == "__main__":
    main()
