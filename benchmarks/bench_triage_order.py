"""Triage of a batch whose first device has no known images: when is the
second device's first hit, devices one at a time against several at once?

    python benchmarks/bench_triage_order.py [--rounds 3] [--workers 2]

Uses the two corpora ``bench_scan.py`` builds (run it, and ``--photos``,
first): the small-picture corpus' ``dev1.raw`` (1.3 GB, none of the photo
set's pictures) given before the photo corpus' ``dev2.E01`` (planted known
photos), scanned against the photo corpus' hash set with ``--stop-after 1``
on a local cluster. Each round runs ``devices_at_once=1`` and then the
default of triage mode (``TRIAGE_DEVICES_AT_ONCE``), and prints, from the
start of ``scan()``: the time of the photo device's first hit (the first
chunk stored with a confident match) and of the whole run, and the negative
device's matches (0 expected). Not collected by pytest.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _round(
    devices: list[str], hashset: str, workers: int, at_once: int
) -> tuple[float, float, int]:
    from triage.scan import ScanEvent, scan

    first: dict[str, float] = {}
    start = time.perf_counter()

    def progress(event: ScanEvent) -> None:
        if event.kind == "chunk" and event.matches:
            first.setdefault(event.device_id, time.perf_counter() - start)

    with tempfile.TemporaryDirectory(prefix="triage-order-") as tmp:
        summary = scan(devices, [hashset], Path(tmp) / "case.db", workers=workers,
                       stop_after=1, devices_at_once=at_once,
                       progress=progress)  # fmt: skip
    whole = time.perf_counter() - start
    negative, positive = summary.devices
    return first.get(positive.device_id, float("nan")), whole, negative.matches


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    from triage.hashmatch.kernels import one_blas_thread
    from triage.scan import TRIAGE_DEVICES_AT_ONCE

    one_blas_thread()
    out = REPO / "benchmarks" / "out" / "scan"
    photos = json.loads((out / "photos" / "manifest.json").read_text())
    full = json.loads((out / "full" / "manifest.json").read_text())
    devices = [full["devices"][0], photos["devices"][1]]
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    print(f"# {platform.node()} {os.cpu_count()} cores  date {now}  "
          f"load average {os.getloadavg()[0]:.2f}  workers {args.workers}\n"
          f"# devices {devices}\n# hash set {photos['hashset']}")  # fmt: skip
    print("devices at once | photo device's first hit | whole run | "
          "negative device's matches")  # fmt: skip
    for _ in range(args.rounds):
        for at_once in (1, TRIAGE_DEVICES_AT_ONCE):
            hit, whole, negative = _round(
                devices, photos["hashset"], args.workers, at_once
            )
            print(f"{at_once} | {hit:.2f} s | {whole:.2f} s | {negative}")


if __name__ == "__main__":
    main()
