"""Where a cluster scan's workers wait: each worker's busy time and idle gaps.

    python benchmarks/timeline_scan.py [--workers 2] [--corpus full]

Runs ``scan()`` of a corpus ``bench_scan.py`` built
(``benchmarks/out/scan/<corpus>``) on a local cluster, records Dask's task
stream (``distributed.get_task_stream``), and prints per worker: tasks, busy
seconds (sum of task durations), span (first start to last end) and every
gap of more than 50 ms between two of its tasks, with when it began (seconds
after the first task started). Also when the cluster was up and the scan's
total. A gap means the worker had nothing to do: the driver was not
submitting (before the driver's walk had a thread of its own, every worker
waited out the FAT orphan search of ``dev2.E01``, ~1 s). Not collected by
pytest.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

GAP = 0.05


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--corpus", default="full")
    args = ap.parse_args()

    from distributed import get_task_stream

    from triage.scan import scan
    from triage.scan.dask_runner import DaskRunner

    manifest = json.loads(
        (REPO / "benchmarks" / "out" / "scan" / args.corpus / "manifest.json")
        .read_text()
    )  # fmt: skip
    marks: dict[str, float] = {}
    stream: list[dict[str, Any]] = []
    runner_init = DaskRunner.__init__
    runner_close = DaskRunner.close

    def init(self: Any, *a: Any, **k: Any) -> None:
        runner_init(self, *a, **k)
        marks["cluster up"] = time.time()
        self._stream = get_task_stream(self._client)
        self._stream.__enter__()

    def close(self: Any) -> None:
        self._stream.__exit__(None, None, None)
        stream.extend(self._stream.data)
        runner_close(self)

    DaskRunner.__init__ = init  # type: ignore[method-assign]
    DaskRunner.close = close  # type: ignore[method-assign]
    with tempfile.TemporaryDirectory(prefix="timeline-") as tmp:
        marks["start"] = time.time()
        summary = scan(
            manifest["devices"],
            [manifest["hashset"]],
            Path(tmp) / "case.db",
            workers=args.workers,
        )
    spans: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for task in stream:
        for part in task["startstops"]:
            if part["action"] == "compute":
                spans[task["worker"]].append((part["start"], part["stop"]))
    first = min(start for runs in spans.values() for start, _ in runs)
    print(f"# timeline corpus={args.corpus} workers={args.workers}")
    print(f"scan {summary.seconds:.2f} s; cluster up after "
          f"{marks['cluster up'] - marks['start']:.2f} s; first task at "
          f"{first - marks['start']:.2f} s")  # fmt: skip
    for worker, runs in sorted(spans.items()):
        runs.sort()
        busy = sum(stop - start for start, stop in runs)
        gaps = [
            (runs[i][1] - first, runs[i + 1][0] - runs[i][1])
            for i in range(len(runs) - 1)
            if runs[i + 1][0] - runs[i][1] > GAP
        ]
        where = ", ".join(f"{g:.2f} s at {at:.2f} s" for at, g in gaps) or "none"
        print(f"{worker}: {len(runs)} tasks, busy {busy:.2f} s, span "
              f"{runs[-1][1] - runs[0][0]:.2f} s, gaps > {GAP * 1000:.0f} ms: "
              f"{where}")  # fmt: skip


if __name__ == "__main__":
    main()
