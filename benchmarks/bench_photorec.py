"""Carving side by side with PhotoRec, on generated images, in one run.

    python benchmarks/bench_photorec.py            # seed 17
    python benchmarks/bench_photorec.py --seed 5 --keep /tmp/bench-photorec
    python benchmarks/bench_photorec.py --rounds 3  # least time of 3, in turn

Needs ``photorec`` (Debian ``testdisk``: ``apt-get install testdisk``; not
installed by scripts/setup.sh: only this benchmark uses it), mke2fs, mtools,
mkntfs and ntfs-3g. Builds, from benign generated pictures and videos
(``triage.sample.carve_set``):

- ``ext2-wiped`` / ``ext3-wiped``: ext2 / ext3 with 1 KiB blocks holding one
  item of each format (the large ones cross one indirect block, or the
  double-indirect pair), half of them deleted, the primary superblock zeroed;
- ``fat32-frag`` / ``ntfs-frag``: a full FAT32 (512 B clusters) / NTFS
  (4 KiB clusters) on which pictures were written into two holes (so each
  lies in two fragments), then deleted; plus deleted whole pictures;
- ``camera-card``: a bare FAT32 card with ``DCIM/100CAMERA`` pictures and
  videos, some deleted.

Then, per image: ``triage`` lists it (``iter_files``: the filesystem, its
deleted files, and carving) and reads each listed picture or video
(filesystem and carved items); ``photorec /d OUT /cmd IMAGE
partition_none,options,mode_ext2,fileopt,everything,enable,search`` (without
``mode_ext2`` on FAT/NTFS) recovers files. For each tool: items equal to an
original (MD5), partial items (an original's first 512 bytes, not all of
it; or all of a shorter item), junk (media items that are neither), wall
and CPU time (with ``--rounds N``, the least of N runs of each, taken in
turn, and their CPU ratio). Each ratio is given twice: as measured, and
less each tool's fixed cost (its least CPU on a 1 MiB image of zeros, taken
first): PhotoRec's run is a process of its own, whose start (some 5-10 ms)
is in its time, while triage runs in this process, imported before the
timings (a fresh ``import triage.cli`` costs over a second of CPU, printed
once, left out of both ratios). Originals are
every picture and video written, live or deleted. Prints seed, machine and
the table. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from triage.ingest import iter_files, jpeg_entropy  # noqa: E402
from triage.ingest.content import read_record  # noqa: E402
from triage.ingest.evidence import open_device  # noqa: E402
from triage.records import FileRecord, Source  # noqa: E402
from triage.sample.carve_set import carve_originals, make_video  # noqa: E402
from triage.sample.disk import build_filesystem  # noqa: E402
from triage.sample.fragmented import Step, build_in_order  # noqa: E402
from triage.sample.pictures import encode, make_picture  # noqa: E402

MEDIA_EXTENSIONS = {
    "jpg", "png", "gif", "bmp", "webp", "tif", "heic", "mp4", "mov", "3gp", "avi",
}  # fmt: skip
PREFIX = 512  # bytes (at most) an item must share with an original: "partial"


@dataclass
class Score:
    exact: int = 0
    partial: int = 0
    junk: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    missed: tuple[str, ...] = ()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def score(originals: Mapping[str, bytes], found: list[bytes]) -> Score:
    """Exact / partial / junk counts of ``found`` against ``originals``."""
    by_md5 = {_md5(v): k for k, v in originals.items()}

    def start_of(data: bytes) -> str | None:
        """The original whose first bytes ``data`` starts with (up to 512)."""
        n = min(len(data), PREFIX)
        if n < 16:
            return None
        return next((k for k, v in originals.items() if v[:n] == data[:n]), None)

    exact = {by_md5[_md5(d)] for d in found if _md5(d) in by_md5}
    heads = [start_of(d) for d in found if _md5(d) not in by_md5]
    partial = {k for k in heads if k is not None} - exact
    junk = sum(1 for k in heads if k is None)
    missed = tuple(sorted(set(originals) - exact))
    return Score(len(exact), len(partial), junk, missed=missed)


# --- the images ---------------------------------------------------------------


def _ext_image(fs: str, seed: int, root: Path) -> tuple[Path, dict[str, bytes]]:
    # No AVI: its header's zeroed 3 KiB index reserve is stored by mke2fs -d
    # as a hole, so its bytes are on no disk to be carved.
    originals = {
        k: v for k, v in carve_originals(seed).items() if not k.endswith(".avi")
    }
    files = {f"pics/{k}": v for k, v in originals.items()}
    gone = [k for i, k in enumerate(files) if i % 2 == 0]
    image = build_filesystem(fs, files, root / f"{fs}-wiped.img", deleted=gone)
    with open(image, "r+b") as fh:
        fh.seek(1024)  # the primary superblock
        fh.write(bytes(1024))
    return image, originals


def _fragmented_steps(
    originals: Mapping[str, bytes], cluster: int, rng: random.Random
) -> list[Step]:
    """Steps that leave every original in two pieces, then delete it."""
    steps: list[Step] = []
    holes = []
    for n, data in enumerate(originals.values()):
        first = max(cluster, (len(data) // 2) // cluster * cluster)
        second = -(-(len(data) - first) // cluster) * cluster  # exactly the rest
        steps.append(("write", f"docs/sep{n}a.bin", rng.randbytes(3 * cluster)))
        steps.append(("write", f"docs/hole{n}a.bin", rng.randbytes(first)))
        steps.append(("write", f"docs/sep{n}b.bin", rng.randbytes(5 * cluster)))
        steps.append(("write", f"docs/hole{n}b.bin", rng.randbytes(second)))
        holes += [f"docs/hole{n}a.bin", f"docs/hole{n}b.bin"]
    # Empty files by the pictures' names first: the folder grows now, not
    # into a hole once the volume is full.
    steps += [("write", f"pics/{k}", b"") for k in originals]
    steps.append(("fill", "filler.bin"))
    steps += [("delete", h) for h in holes]
    steps += [("delete", f"pics/{k}") for k in originals]
    steps += [("write", f"pics/{k}", v) for k, v in originals.items()]
    steps += [("delete", f"pics/{k}") for k in originals]
    return steps


def _frag_image(fs: str, seed: int, root: Path) -> tuple[Path, dict[str, bytes]]:
    every = carve_originals(seed)
    keys = ["one_ind.jpg", "two_ind.jpg", "one_ind.png", "one_ind.gif"]
    keys += ["one_ind.bmp", "one_ind.mp4"]
    originals = {f"frag_{k}": every[k] for k in keys}
    cluster = 512 if fs == "fat32" else 4096
    steps = _fragmented_steps(originals, cluster, random.Random(seed))
    whole = {"whole_small.jpg": every["small.jpg"], "whole.mov": every["one_ind.mov"]}
    first: list[Step] = [("write", f"pics/{k}", v) for k, v in whole.items()]
    steps = first + steps
    steps += [("delete", f"pics/{k}") for k in whole]
    originals.update(whole)
    size = 48 if fs == "fat32" else 24
    image = build_in_order(
        fs, steps, root / f"{fs}-frag.img", size_mb=size, cluster=cluster
    )
    return image, originals


def _camera_card(
    seed: int, root: Path, pictures: int = 8, name: str = "camera-card"
) -> tuple[Path, dict[str, bytes]]:
    originals: dict[str, bytes] = {}
    for n in range(pictures):
        picture = make_picture(seed * 1000 + n, 1024, 768)
        originals[f"DCIM/100CAMERA/IMG_{n:04d}.JPG"] = encode(picture, "JPEG", 92)
    originals["DCIM/100CAMERA/MOV_9998.MOV"] = make_video("mov", seed + 8, frames=30)
    originals["DCIM/100CAMERA/MOV_9999.MP4"] = make_video("mp4", seed + 9, frames=30)
    gone = [k for i, k in enumerate(originals) if i % 3 != 2]
    image = build_filesystem("fat32", originals, root / f"{name}.img", deleted=gone)
    return image, originals


def _random_planted(seed: int, root: Path, mib: int) -> tuple[Path, dict[str, bytes]]:
    """``mib`` MiB of random bytes (no filesystem) with one of each format
    planted at a sector every few MiB: carving speed over data that is not
    pictures, the common case of free space."""
    data = bytearray(np.random.default_rng(seed).bytes(mib << 20))
    originals = {}
    for n, (name, content) in enumerate(carve_originals(seed).items()):
        at = (n * 4 + 1) << 20
        data[at : at + len(content)] = content
        originals[name] = content
    image = root / f"random-{mib}.img"
    image.write_bytes(data)
    return image, originals


def _best(
    before: tuple[Score, float, float] | None,
    originals: Mapping[str, bytes],
    found: list[bytes],
    wall: float,
    cpu: float,
) -> tuple[Score, float, float]:
    """The score of the first round, with the least wall and CPU time of
    the rounds so far."""
    if before is None:
        return score(originals, found), wall, cpu
    return before[0], min(before[1], wall), min(before[2], cpu)


# --- the tools ----------------------------------------------------------------


def run_triage(image: Path) -> tuple[list[bytes], list[bytes], float, float]:
    """Every listed picture or video, the carved ones, wall and CPU time.
    Each run builds its JPEG Huffman lookups anew, as a fresh process would
    (PhotoRec is one: rounds after the first must not find them made)."""
    jpeg_entropy._built.cache_clear()
    wall, cpu = time.perf_counter(), time.process_time()
    found, carved = [], []
    with open_device(image) as handle:
        for item in iter_files(handle, media_only=True):
            if not isinstance(item, FileRecord):
                continue
            if item.source not in (Source.FILESYSTEM, Source.CARVED):
                continue
            if item.reallocated:
                continue
            try:
                found.append(read_record(handle, item))
            except Exception as exc:  # noqa: BLE001 - a benchmark: note, go on
                print(f"  triage could not read {item.display_path}: {exc}")
                continue
            if item.source is Source.CARVED:
                carved.append(found[-1])
    return found, carved, time.perf_counter() - wall, time.process_time() - cpu


def run_photorec(
    image: Path, ext2: bool, out: Path
) -> tuple[list[bytes], float, float]:
    out.mkdir(parents=True, exist_ok=True)
    options = "partition_none,options,"
    options += "mode_ext2," if ext2 else ""
    options += "fileopt,everything,enable,search"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = time.perf_counter()
    subprocess.run(
        ["photorec", "/d", str(out / "recup"), "/cmd", str(image), options],
        cwd=out,
        capture_output=True,
        check=True,
    )
    wall = time.perf_counter() - wall
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    found = [
        p.read_bytes()
        for p in sorted(out.glob("recup*/*"))
        if p.suffix.lower().lstrip(".") in MEDIA_EXTENSIONS
    ]
    return found, wall, cpu


def fixed_costs(root: Path, rounds: int) -> tuple[float, float]:
    """Least CPU seconds of each tool on a 1 MiB image of zeros (nothing to
    find): what a run costs before any work (PhotoRec: starting a process,
    its report; triage, already imported: opening the image, looking for a
    volume and file system)."""
    image = root / "zeros-1m.img"
    image.write_bytes(bytes(1 << 20))
    out = root / "photorec-zeros"
    triage_cpu, photorec_cpu = [], []
    for _ in range(rounds):
        triage_cpu.append(run_triage(image)[3])
        shutil.rmtree(out, ignore_errors=True)
        photorec_cpu.append(run_photorec(image, False, out)[2])
    return min(triage_cpu), min(photorec_cpu)


def _triage_start_ms() -> float:
    """CPU ms of a fresh Python process that imports ``triage.cli`` (what
    ``triage ls`` pays before reading anything; the timings leave it out)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-c", "import triage.cli"],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        check=True,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return 1000 * (
        (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--keep", type=Path, help="build the images here, keep them")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="time each tool this many times per image (in turn) and keep "
        "each one's least wall and CPU time",
    )
    args = parser.parse_args()
    if shutil.which("photorec") is None:
        sys.exit("photorec is not installed: apt-get install testdisk")
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-photorec-"))
    root.mkdir(parents=True, exist_ok=True)
    print(
        f"seed {args.seed}; {platform.node()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load {os.getloadavg()}"
    )
    builds = {
        "ext2-wiped": lambda: _ext_image("ext2", args.seed, root),
        "ext3-wiped": lambda: _ext_image("ext3", args.seed + 1, root),
        "fat32-frag": lambda: _frag_image("fat32", args.seed + 2, root),
        "ntfs-frag": lambda: _frag_image("ntfs", args.seed + 3, root),
        "camera-card": lambda: _camera_card(args.seed + 4, root),
        "card-large": lambda: _camera_card(args.seed + 5, root, 150, "card-large"),
        "random-256": lambda: _random_planted(args.seed + 6, root, 256),
    }
    warm = root / "warm.img"  # imports and first-use costs, out of the timings
    build_filesystem(
        "fat12", {"a.jpg": carve_originals(1, videos=False)["small.jpg"]}, warm
    )
    run_triage(warm)
    fixed = fixed_costs(root, max(args.rounds, 7))
    print(
        "fixed cost, least CPU on a 1 MiB image of zeros: "
        f"triage {fixed[0] * 1000:.1f} ms "
        f"(in this process; its start, not timed: {_triage_start_ms():.0f} ms), "
        f"PhotoRec {fixed[1] * 1000:.1f} ms (a process of its own)"
    )
    head = (
        f"{'image':12} {'MiB':>4} {'items':>5} | {'tool':8} {'exact':>5} "
        f"{'partial':>7} {'junk':>4} {'wall s':>7} {'cpu s':>6} | missed"
    )
    print(head)
    print("-" * len(head))
    for name, build in builds.items():
        image, originals = build()
        mib = image.stat().st_size / (1 << 20)
        results: dict[str, tuple[Score, float, float]] = {}
        out = root / f"photorec-{name}"
        for _ in range(args.rounds):  # the tools in turn; each one's best time
            found, carved, wall, cpu = run_triage(image)
            results["triage"] = _best(
                results.get("triage"), originals, found, wall, cpu
            )
            results["(carved)"] = (score(originals, carved), 0.0, 0.0)
            shutil.rmtree(out, ignore_errors=True)
            found, wall, cpu = run_photorec(image, name.startswith("ext"), out)
            results["photorec"] = _best(
                results.get("photorec"), originals, found, wall, cpu
            )
        ratio = results["triage"][2] / max(results["photorec"][2], 1e-9)
        net = (results["triage"][2] - fixed[0]) / max(
            results["photorec"][2] - fixed[1], 1e-9
        )
        print(
            f"{name:12} CPU triage / PhotoRec: {ratio:.2f}x; "
            f"less each one's fixed cost: {net:.2f}x"
        )
        for tool, (s, wall, cpu) in results.items():
            missed = ", ".join(m.rsplit("/", 1)[-1] for m in s.missed) or "-"
            print(
                f"{name:12} {mib:4.0f} {len(originals):5} | {tool:8} {s.exact:5} "
                f"{s.partial:7} {s.junk:4} {wall:7.3f} {cpu:6.3f} | {missed}"
            )
    if args.keep is None:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
