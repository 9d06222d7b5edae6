"""Where a two-piece JPEG's join costs, in one process.

    python benchmarks/bench_bifragment.py            # seed 17, 3 rounds

Builds the FAT32 and NTFS images of ``bench_photorec.py`` (pictures written
into two holes, then deleted) and times, for each broken JPEG that carving
hands to ``bifragment.second_fragment``, the search with its quick way
(FFmpeg's check of joins at hole starts, ``jpeg_whole``) and with the Python
search only, in turn, best of ``--rounds``. Then the Python entropy decoder
(several codes a lookup) against the one-code-a-lookup reference of
``tests/ingest/test_jpeg_entropy.py`` on a 1280x960 picture, and FFmpeg's
whole-picture check of it. Prints seed, machine and tables. Needs mtools,
mkfs.fat, mkntfs and ntfs-3g (as ``bench_photorec.py``); not collected by
pytest.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bench_photorec import _frag_image, run_triage  # noqa: E402

import triage.ingest.bifragment as bifragment  # noqa: E402
import triage.ingest.carve as carve_module  # noqa: E402
from tests.ingest.test_jpeg_entropy import _reference  # noqa: E402
from triage.ingest.jpeg_entropy import State, decode, read_layout, unstuff  # noqa: E402
from triage.ingest.jpeg_whole import decodes_whole  # noqa: E402
from triage.sample.carve_set import carve_originals  # noqa: E402


def _best(work: Callable[[], object], rounds: int) -> float:
    """The least CPU ms of ``rounds`` runs of ``work``."""
    times = []
    for _ in range(rounds):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return min(times) * 1000


def _joins(image: Path, rounds: int) -> None:
    calls: list[tuple[str, int, float, bool]] = []
    search = bifragment.second_fragment
    quick = bifragment._at_hole_starts
    mode = "quick"

    def timed(read, start, broken, free):
        began = time.process_time()
        found = search(read, start, broken, free)
        calls.append((mode, start, time.process_time() - began, found is not None))
        return found

    carve_module.second_fragment = timed
    try:
        for _ in range(rounds):
            for mode in ("quick", "python"):
                bifragment._at_hole_starts = (
                    quick if mode == "quick" else lambda *args: None
                )
                run_triage(image)
    finally:
        carve_module.second_fragment = search
        bifragment._at_hole_starts = quick
    for start in sorted({c[1] for c in calls}):
        row = []
        for way in ("quick", "python"):
            mine = [c for c in calls if c[0] == way and c[1] == start]
            joined = "joined" if mine[0][3] else "not found"
            row.append(f"{min(c[2] for c in mine) * 1000:.1f} ms ({joined})")
        print(f"| {image.stem} | {start} | {row[0]} | {row[1]} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(
        f"seed {args.seed}; {platform.node()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load {os.getloadavg()}"
    )
    root = Path(tempfile.mkdtemp(prefix="bench-bifragment-"))
    print("\n| image | JPEG at | quick way first, CPU | Python search only, CPU |")
    print("|---|---|---|---|")
    for fs, seed in (("fat32", args.seed + 2), ("ntfs", args.seed + 3)):
        image, _ = _frag_image(fs, seed, root)
        _joins(image, args.rounds)
    picture = carve_originals(args.seed + 2, videos=False)["two_ind.jpg"]
    layout = read_layout(picture[: 64 << 10])
    assert layout is not None
    data, _ = unstuff(picture[layout.scan_start : -2])
    print(
        f"\n| 1280x960 JPEG, {len(data)} entropy-coded bytes | CPU ms, best of "
        f"{args.rounds} |"
    )
    print("|---|---|")
    ref = _best(lambda: _reference(data, layout, None), args.rounds)
    new = _best(lambda: decode(data, layout, State()), args.rounds)
    ffmpeg = _best(lambda: decodes_whole(picture), args.rounds)
    print(f"| Python, one code a lookup (reference) | {ref:.1f} |")
    print(f"| Python, several codes a lookup (jpeg_entropy) | {new:.1f} |")
    print(f"| FFmpeg, whole-picture check (jpeg_whole: two decodes) | {ffmpeg:.1f} |")


if __name__ == "__main__":
    main()
