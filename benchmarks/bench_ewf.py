"""How fast libewf (pyewf) reads E01 images, by kind of content and compression.

    python benchmarks/bench_ewf.py [--mib 96]

Builds a raw image of three equal regions (zeros; random bytes, which do not
compress, like JPEG data; compressible text), acquires it with ``ewfacquire``
twice (``-c empty-block``, as the test and benchmark images are made, and
``-c fast``, deflate on every chunk as many acquisitions are), and reads each
region through ``pyewf`` in 64 KiB calls (what The Sleuth Kit asks for) and in
1 MiB calls, through ``pyewf`` and through the system libewf
(``triage.ingest.containers.ewf._SystemEwf``, what triage reads E01 with when it is
installed). For reference: the raw image read with ``os.pread``, and zlib
inflating the same 32 KiB chunks compressed at level 1 (what a libewf linked
to zlib would do for ``-c fast``). Warm page cache throughout: this measures
the CPU cost of the container, not the disk. Prints machine, date and a
table. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

SEED = 20261121
CHUNK = 32 * 1024  # ewfacquire's default: 64 sectors
WORDS = (
    b"the quick brown fox jumps over the lazy dog evidence exhibit seized "
    b"device report examiner photo video archive deleted carved partition "
).split()


def _text(rng: np.random.Generator, size: int) -> bytes:
    """Compressible, not trivially: random words from a small vocabulary."""
    out = bytearray()
    while len(out) < size:
        picks = rng.integers(0, len(WORDS), 4096)
        out += b" ".join(WORDS[i] for i in picks) + b"\n"
    return bytes(out[:size])


def _mbps(size: int, seconds: float) -> float:
    return size / seconds / 1e6


def _read_all(read: object, start: int, size: int, block: int) -> float:
    t = time.perf_counter()
    offset = start
    while offset < start + size:
        data = read(min(block, start + size - offset), offset)  # type: ignore[operator]
        offset += len(data)
    return time.perf_counter() - t


def _best(fn: object, repeat: int) -> float:
    return min(fn() for _ in range(repeat))  # type: ignore[operator]


Row = tuple[str, str, float, float]


def _parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mib", type=int, default=96, help="size of each region")
    ap.add_argument("--repeat", type=int, default=3)
    return ap.parse_args()


def _regions(region: int) -> dict[str, bytes]:
    """The three regions of the image, ``region`` bytes each, from ``SEED``."""
    rng = np.random.default_rng(SEED)
    return {
        "zeros": bytes(region),
        "random": rng.integers(0, 256, region, dtype=np.uint8).tobytes(),
        "text": _text(rng, region),
    }


def _print_header(pyewf_version: str, mib: int) -> None:
    print(f"# bench_ewf seed={SEED} machine={platform.node()} {platform.machine()}")
    print(f"# python {platform.python_version()} pyewf {pyewf_version}")
    print(f"# {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC} cores={os.cpu_count()}")
    print(f"# load average {os.getloadavg()[0]:.2f}; {mib} MiB per region")


def _raw_rows(raw: Path, names: list[str], region: int, repeat: int) -> list[Row]:
    """Each region of the raw image read with ``os.pread``, 1 MiB at a time."""
    rows: list[Row] = []
    fd = os.open(raw, os.O_RDONLY)
    try:
        for i, name in enumerate(names):
            seconds = _best(
                lambda i=i: _read_all(
                    lambda n, o: os.pread(fd, n, o), i * region, region, 1 << 20
                ),
                repeat,
            )
            rows.append(("raw file, os.pread 1 MiB", name, _mbps(region, seconds), 0))
    finally:
        os.close(fd)
    return rows


def _reader_rows(
    label: str, handle: Any, names: list[str], region: int, repeat: int
) -> list[Row]:
    """Each region read through ``handle`` in 64 KiB and in 1 MiB calls; closes
    ``handle``."""
    rows: list[Row] = []
    try:
        for i, name in enumerate(names):
            per = []
            for block in (64 << 10, 1 << 20):
                seconds = _best(
                    lambda b=block, i=i, h=handle: _read_all(
                        h.read_buffer_at_offset,
                        i * region,
                        region,
                        b,
                    ),
                    repeat,
                )
                per.append(_mbps(region, seconds))
            rows.append((label, name, per[0], per[1]))
    finally:
        handle.close()
    return rows


def _ewf_rows(
    raw: Path, tmp: str, names: list[str], region: int, repeat: int
) -> list[Row]:
    """``raw`` acquired ``-c empty-block`` then ``-c fast``, each read through
    ``pyewf`` and (when installed) the system libewf."""
    import pyewf

    from triage.ingest.containers.ewf import _SystemEwf

    rows: list[Row] = []
    for compression in ("empty-block", "fast"):
        base = Path(tmp) / f"ewf-{compression}"
        args_c = ["-c", compression]
        segments = [str(p) for p in _acquire(raw, base, args_c)]
        pyewf_handle = pyewf.handle()
        pyewf_handle.open(segments)
        readers: list[tuple[str, Any]] = [("pyewf", pyewf_handle)]
        system = _SystemEwf.open(segments)
        if system is not None:
            readers.append(("system libewf", system))
        for label, handle in readers:
            rows += _reader_rows(
                f"{label}, -c {compression}", handle, names, region, repeat
            )
    return rows


def _zlib_rows(regions: dict[str, bytes], region: int, repeat: int) -> list[Row]:
    """zlib inflating each region's 32 KiB chunks, compressed at level 1."""
    rows: list[Row] = []
    for name, data in regions.items():
        chunks = [
            zlib.compress(data[o : o + CHUNK], 1) for o in range(0, region, CHUNK)
        ]

        def inflate(chunks: list[bytes] = chunks) -> float:
            t = time.perf_counter()
            for c in chunks:
                zlib.decompress(c)
            return time.perf_counter() - t

        seconds = _best(inflate, repeat)
        ratio = region / sum(len(c) for c in chunks)
        rows.append(
            (
                f"zlib inflate level-1 chunks ({ratio:.1f}:1)",
                name,
                _mbps(region, seconds),
                0,
            )
        )
    return rows


def _print_table(rows: list[Row]) -> None:
    print()
    print("| reader | region | MB/s (64 KiB reads) | MB/s (1 MiB reads) |")
    print("|---|---|---:|---:|")
    for reader, name, small, large in rows:
        large_s = f"{large:,.0f}" if large else "-"
        print(f"| {reader} | {name} | {small:,.0f} | {large_s} |")


def main() -> None:
    args = _parse_args()

    import pyewf

    region = args.mib << 20
    regions = _regions(region)
    names = list(regions)
    _print_header(pyewf.get_version(), args.mib)

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="bench-ewf-") as tmp:
        raw = Path(tmp) / "image.raw"
        with open(raw, "wb") as fh:
            for data in regions.values():
                fh.write(data)
        rows += _raw_rows(raw, names, region, args.repeat)
        rows += _ewf_rows(raw, tmp, names, region, args.repeat)
        rows += _zlib_rows(regions, region, args.repeat)
    _print_table(rows)


def _acquire(raw: Path, base: Path, extra: list[str]) -> list[Path]:
    """``ewfacquire`` as ``triage.sample.disk.to_ewf`` runs it, with the
    compression in ``extra``."""
    import subprocess

    import pyewf

    args = [
        "ewfacquire", "-u", "-q", "-t", str(base), "-f", "encase6", *extra,
        "-C", "bench", "-D", "bench_ewf", "-e", "triage", "-E", "1",
        "-N", "benign generated bytes", "-m", "fixed", "-M", "physical", str(raw),
    ]  # fmt: skip
    subprocess.run(args, check=True, capture_output=True)
    return [Path(p) for p in pyewf.glob(str(base) + ".E01")]


if __name__ == "__main__":
    main()
