"""PDQ and pHash kernels against the libraries they replace, per picture size.

    python benchmarks/bench_kernels.py [--repeat 200]

For greyscale pictures of the sizes the decoder hands over, times
``triage.hashmatch.kernels.pdq`` (8 dihedral variants) against
``pdqhash.compute_dihedral`` and ``kernels.phash`` against ``imagehash.phash``
on the same pixels, and checks that the values agree. Prints seed, machine,
date and a table. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SEED = 20261121
SIZES = [(640, 480), (683, 512), (960, 540), (800, 600), (1000, 750), (1090, 512)]


def _ms(fn: Callable[[], Any], repeat: int) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1000


def main() -> None:
    import imagehash
    import pdqhash
    from PIL import Image

    from triage.hashmatch import kernels
    from triage.hashmatch.signals import bits_to_hex
    from triage.sample.pictures import make_picture

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    kernels.one_blas_thread()  # as the CLI and scan workers run; pdqhash is 1 thread
    print(
        f"seed {SEED}  machine {platform.node()} {platform.machine()} "
        f"{os.cpu_count()} cores  python {platform.python_version()}  "
        "BLAS threads 1  "
        f"date {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}"
    )
    print(
        "\n| picture | pdqhash ms | kernels.pdq ms | same PDQ | "
        "imagehash pHash ms | kernels.phash ms | same pHash |"
    )
    print("|---|---:|---:|---|---:|---:|---|")
    for i, (width, height) in enumerate(SIZES):
        luma = np.asarray(make_picture(SEED + i, width, height).convert("L"))
        rgb = np.ascontiguousarray(np.broadcast_to(luma[..., None], (*luma.shape, 3)))
        picture = Image.fromarray(luma)
        ref_pdq = [bits_to_hex(v) for v in pdqhash.compute_dihedral(rgb)[0]]
        same_pdq = kernels.pdq(luma)[0] == ref_pdq
        same_phash = kernels.phash(luma) == str(imagehash.phash(picture))
        times = [
            _ms(lambda: pdqhash.compute_dihedral(rgb), args.repeat),  # noqa: B023
            _ms(lambda: kernels.pdq(luma), args.repeat),  # noqa: B023
            _ms(lambda: imagehash.phash(picture), args.repeat),  # noqa: B023
            _ms(lambda: kernels.phash(luma), args.repeat),  # noqa: B023
        ]
        print(
            f"| {width}x{height} | {times[0]:.2f} | {times[1]:.2f} "
            f"| {'yes' if same_pdq else 'NO'} | {times[2]:.2f} | {times[3]:.2f} "
            f"| {'yes' if same_phash else 'NO'} |"
        )


if __name__ == "__main__":
    main()
