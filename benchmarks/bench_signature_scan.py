"""What the in-file signature scan and the inner sources cost a whole scan.

    python benchmarks/build_winlike.py --non-media
    python benchmarks/bench_signature_scan.py [--rounds 2] [--skip-scans]

On the Windows-like device with non-media files
(``benchmarks/out/scan/winlike-files``, see ``build_winlike.py``):

1. The search alone: the device's files are listed once, then classified
   (sniffed, archives and inner sources expanded; nothing hashed) with and
   without the ``signature-scan`` expander, alternating, in this process.
   The difference over the bytes the scan searched (and over all non-media
   bytes) is its cost per GB; the evidence is in the page cache (warm).
2. Whole scans (``scheduler="sync"``: one process does all the work, so its
   CPU time is the scan's), each in a fresh process, rounds alternating:
   everything on; the signature scan off; every inner source off
   (``--no-inner-sources``). Prints wall and CPU seconds, media and matches.

Prints the machine, the load and a table. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from triage.ingest.evidence import DeviceHandle
    from triage.records import FileRecord

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
CORPUS = REPO / "benchmarks" / "out" / "scan" / "winlike-files"
CONFIGS = ("all on", "signature scan off", "inner sources off")


def _offs(config: str) -> frozenset[str]:
    from triage.ingest.expanders import inner_sources

    return {
        "all on": frozenset(),
        "signature scan off": frozenset({"signature-scan"}),
        "inner sources off": inner_sources(),
    }[config]


def _child(config: str) -> None:
    from triage.hashmatch.kernels import one_blas_thread
    from triage.scan import ScanParams, scan

    one_blas_thread()
    manifest = json.loads((CORPUS / "manifest.json").read_text())
    with tempfile.TemporaryDirectory(prefix="bench-sigscan-") as tmp:
        db = Path(tmp) / "case.db"
        params = ScanParams(index_cache=str(db) + ".index", expanders_off=_offs(config))
        start, cpu = time.perf_counter(), time.process_time()
        summary = scan(
            manifest["devices"], [manifest["hashset"]], db, scheduler="sync",
            params=params,
        )  # fmt: skip
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    [device] = summary.devices
    print(json.dumps({"wall": wall, "cpu": cpu, "media": device.media,
                      "matches": device.matches}))  # fmt: skip


def _listing() -> tuple[DeviceHandle, list[FileRecord]]:
    from triage.ingest.evidence import open_device
    from triage.ingest.listing import iter_entries
    from triage.ingest.volumes import iter_partitions
    from triage.records import FileRecord, Partition

    manifest = json.loads((CORPUS / "manifest.json").read_text())
    handle = open_device(manifest["devices"][0])
    entries: list[FileRecord] = []
    for part in iter_partitions(handle):
        if isinstance(part, Partition) and part.fs_type is not None:
            entries += [
                e for e in iter_entries(handle, part) if isinstance(e, FileRecord)
            ]
    return handle, entries


def _searched_bytes(
    handle: DeviceHandle, entries: list[FileRecord]
) -> tuple[int, int, int]:
    """(bytes the signature scan searches, bytes of non-media files, files
    searched); NTFS metadata files left out of both."""
    from triage.ingest.content import read_record
    from triage.ingest.expanders.base import UNRECOGNISED, worth_expanding
    from triage.ingest.expanders.signature_scan import is_metafile
    from triage.ingest.media import SNIFF_BYTES, identify, is_media, sniff

    searched = non_media = count = 0
    for record in entries:
        if record.size == 0 or is_metafile(record):  # $BadClus:$Bad is sparse
            continue
        header = read_record(handle, record, limit=SNIFF_BYTES)
        if is_media(sniff(header)):
            continue
        non_media += record.size
        if identify(header) is None and worth_expanding(
            UNRECOGNISED, header, record.size
        ):
            searched += record.size
            count += 1
    return searched, non_media, count


def _search_cost(rounds: int) -> None:
    from triage.ingest.archives import ArchiveLimits
    from triage.ingest.classify import classify
    from triage.records import FileRecord

    handle, entries = _listing()
    searched, non_media, count = _searched_bytes(handle, entries)
    print(f"files {len(entries)}; non-media {non_media / 1e9:.3f} GB; the signature "
          f"scan searches {count} files, {searched / 1e9:.3f} GB")  # fmt: skip
    best: dict[str, tuple[float, float, int]] = {}
    for _ in range(rounds):
        for config in ("all on", "signature scan off"):
            limits = ArchiveLimits(expanders_off=_offs(config))
            start, cpu = time.perf_counter(), time.process_time()
            items = sum(
                isinstance(i, FileRecord)
                for i in classify(handle, entries, limits=limits)
            )
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            old = best.get(config)
            if old is None or cpu < old[1]:
                best[config] = (wall, cpu, items)
            print(f"  classify, {config}: {wall:.2f} s wall, {cpu:.2f} s CPU, "
                  f"{items} records")  # fmt: skip
    (w1, c1, n1), (w0, c0, n0) = best["all on"], best["signature scan off"]
    gb = searched / 1e9
    print(f"| search only (classify, best CPU of {rounds}) | on {c1:.2f} s CPU "
          f"({w1:.2f} s wall) / off {c0:.2f} s CPU ({w0:.2f} s wall) | "
          f"+{n1 - n0} items | {(c1 - c0) / gb:.2f} CPU s/GB searched, "
          f"{(c1 - c0) / (non_media / 1e9):.2f} CPU s/GB of non-media; wall "
          f"{(w1 - w0) / gb:.2f} s/GB searched |")  # fmt: skip


def _whole_scans(rounds: int) -> None:
    results: dict[str, list[dict[str, float]]] = {c: [] for c in CONFIGS}
    for _ in range(rounds):
        for config in CONFIGS:
            done = subprocess.run(
                [sys.executable, __file__, "--child", config],
                capture_output=True, text=True, check=False,
                cwd=tempfile.gettempdir(), env={**os.environ, "PYTHONPATH": str(REPO)},
            )  # fmt: skip
            if done.returncode != 0:
                raise SystemExit(done.stderr[-2000:])
            result = json.loads(done.stdout.strip().splitlines()[-1])
            results[config].append(result)
            print(f"  scan, {config}: {result['wall']:.2f} s wall, "
                  f"{result['cpu']:.2f} s CPU, {result['media']} media, "
                  f"{result['matches']} matches, load "
                  f"{os.getloadavg()[0]:.2f}")  # fmt: skip
    base = min(r["cpu"] for r in results["all on"])
    print("| whole scan | best wall s | best CPU s | CPU vs all on | media | matches |")
    print("|---|---|---|---|---|---|")
    for config, runs in results.items():
        cpu = min(r["cpu"] for r in runs)
        print(f"| {config} | {min(r['wall'] for r in runs):.2f} | {cpu:.2f} | "
              f"{100 * (base - cpu) / cpu:+.1f}% to turn on | {runs[0]['media']} "
              f"| {runs[0]['matches']} |")  # fmt: skip


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--skip-scans", action="store_true", help="the search only")
    args = ap.parse_args()
    if not (CORPUS / "manifest.json").exists():
        raise SystemExit("run python benchmarks/build_winlike.py --non-media first")
    print(f"# bench_signature_scan rounds={args.rounds} "
          f"python={platform.python_version()} machine={platform.machine()} "
          f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.2f} "
          f"date={time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC")  # fmt: skip
    _search_cost(args.rounds)
    if not args.skip_scans:
        _whole_scans(args.rounds)


if __name__ == "__main__":
    main()
