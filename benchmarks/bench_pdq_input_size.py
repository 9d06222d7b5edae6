"""PDQ cost and drift when the hashing input is box-reduced below the decode size.

Why: PDQ's cost grows faster than the pixel count (its Jarosz filter window
grows with the image), so hashing a smaller picture would be much cheaper.
This measures what that does to agreement with the full-decode reference
(``pdqhash.compute`` on the full-size RGB decode), on the same pictures as
``bench_hashing.py --drift``: 8 generated pictures and the scikit-image photos,
at 1024x768, 1920x1080 and 4000x3000, as JPEG q90, q60 and greyscale q90,
counting only copies whose full-decode PDQ quality is >= 80.

Run: ``python benchmarks/bench_pdq_input_size.py``
"""

from __future__ import annotations

import platform
import time
from datetime import UTC, datetime

import numpy as np
import pdqhash
from PIL import Image

from triage.hashmatch.decode import decode_full_rgb, decode_luma, reduce_to
from triage.hashmatch.hashing import pdq_from_luma
from triage.hashmatch.signals import bits_to_hex, hamming
from triage.sample.pictures import encode, make_picture, package_photos

SEED = 2026
TARGETS = (None, 320, 256, 192)  # None: the decode as triage hashes it today
SIZES = ((1024, 768), (1920, 1080), (4000, 3000))


def main() -> None:
    print(f"seed {SEED}; {platform.machine()} {platform.python_version()}; "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")  # fmt: skip
    bases = [(f"gen{SEED + i}", make_picture(SEED + i, 1600, 1200)) for i in range(8)]
    bases += [(f"photo{i}", p) for i, p in enumerate(package_photos())]
    drift: dict[int | None, list[int]] = {t: [] for t in TARGETS}
    cost: dict[int | None, list[float]] = {t: [] for t in TARGETS}
    for name, img in bases:
        for w, h in SIZES:
            resized = img.resize((w, h), Image.Resampling.LANCZOS)
            for copy, quality in ((resized, 90), (resized, 60),
                                  (resized.convert("L"), 90)):  # fmt: skip
                data = encode(copy, "JPEG", quality)
                full = np.asarray(decode_full_rgb(data, "image/jpeg", where=name))
                bits, full_quality = pdqhash.compute(full)
                if full_quality < 80:
                    continue
                reference = bits_to_hex(bits)
                luma = decode_luma(data, "image/jpeg", where=name).luma
                for target in TARGETS:
                    start = time.perf_counter()
                    pic = luma if target is None else reduce_to(luma, target)
                    variants, _ = pdq_from_luma(np.asarray(pic), dihedral=True)
                    cost[target].append(time.perf_counter() - start)
                    drift[target].append(hamming(reference, variants[0][1]))
    print(f"\n{len(drift[None])} JPEGs")
    print(
        "| PDQ input short side | mean bits | 95th pct | max | > 10 bits "
        "| PDQ+dihedral ms |"
    )
    print("|---|---|---|---|---|---|")
    for target in TARGETS:
        d = np.array(drift[target])
        label = "decode (>= 512)" if target is None else f"box-reduced to >= {target}"
        print(f"| {label} | {d.mean():.1f} | {np.percentile(d, 95):.0f} | {d.max()} "
              f"| {(d > 10).sum()} | {np.mean(cost[target]) * 1000:.2f} |")  # fmt: skip


if __name__ == "__main__":
    main()
