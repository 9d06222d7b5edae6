"""A/B timing of one in-process scan, for two (or more) checkouts of triage.

    git worktree add /tmp/base HEAD~2
    python benchmarks/ab_scan.py /tmp/base . [--rounds 3] [--corpus full]
        [--workers N] [--cold] [--stop-after N]

Alternates the checkouts round by round (so a drifting machine does not
favour one), each in a fresh process that imports ``triage`` from that
checkout and times ``scan()`` of a corpus that ``bench_scan.py`` built
(``benchmarks/out/scan/<corpus>``). By default ``scheduler="sync"``: one
process, no cluster, which compares the code's work, not Dask's. With
``--workers N`` the scan runs on a local cluster of N workers (cluster
start-up included, as in ``bench_scan.py``); with ``--cold`` the evidence
files' pages are dropped from the page cache before every scan; with
``--stop-after N`` it times triage mode (the whole run, cluster close
included). Prints each time and the minimum per checkout, and the same for
the CPU time of the scanning process (with the default sync scan, all of
the work: steadier than wall time when the machine is shared). Not collected by
pytest.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _child(root: str, corpus: str, workers: int, stop_after: int) -> None:
    sys.path.insert(0, root)
    import triage

    if not triage.__file__ or not triage.__file__.startswith(root):
        raise SystemExit(f"imported triage from {triage.__file__}, not {root}")
    from triage.hashmatch.kernels import one_blas_thread

    try:
        from triage.scan import scan
    except ImportError:  # a checkout from before triage/scan/ (issue 12)
        from triage.pipeline import scan  # type: ignore[no-redef]

    one_blas_thread()
    manifest = json.loads(
        (REPO / "benchmarks" / "out" / "scan" / corpus / "manifest.json").read_text()
    )
    with tempfile.TemporaryDirectory(prefix="ab-scan-") as tmp:
        start = time.perf_counter()
        cpu = time.process_time()
        scan(
            manifest["devices"],
            [manifest["hashset"]],
            Path(tmp) / "case.db",
            scheduler="sync" if workers == 0 else None,
            workers=workers or None,
            stop_after=stop_after or None,
        )
        result = {
            "seconds": time.perf_counter() - start,
            # CPU of this process (all of the work with --workers 0): the
            # code's cost, steadier than wall time on a shared machine.
            "cpu": time.process_time() - cpu,
        }
        print(json.dumps(result))


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("roots", nargs="+", help="checkouts of triage to compare")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--corpus", default="full", help="full, quick, photos, full-fast, ..."
    )
    ap.add_argument(
        "--workers", type=int, default=0, help="local cluster of N (0: sync)"
    )
    ap.add_argument("--cold", action="store_true", help="drop evidence pages first")
    ap.add_argument(
        "--stop-after", type=int, default=0, help="triage mode: stop after N hits"
    )
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "benchmarks"))
    from bench_scan import _evidence_files, drop_from_cache

    manifest = json.loads(
        (
            REPO / "benchmarks" / "out" / "scan" / args.corpus / "manifest.json"
        ).read_text()
    )
    files = _evidence_files(manifest)
    roots = [str(Path(r).resolve()) for r in args.roots]
    print(f"# ab_scan corpus={args.corpus} rounds={args.rounds} "
          f"workers={args.workers or 'sync'} cold={args.cold} "
          f"stop_after={args.stop_after or None} "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    times: dict[str, list[float]] = {r: [] for r in roots}
    cpus: dict[str, list[float]] = {r: [] for r in roots}
    for _ in range(args.rounds):
        for root in roots:
            if args.cold:
                drop_from_cache(files)
            child = [root, args.corpus, str(args.workers), str(args.stop_after)]
            done = subprocess.run(
                [sys.executable, __file__, "--child", *child],
                capture_output=True,
                text=True,
                check=False,
                cwd=tempfile.gettempdir(),
                # Workers fork from a forkserver that imports triage before
                # any sys.path change reaches it (Python 3.11 drops it): only
                # the environment makes them import this checkout's triage.
                env={**os.environ, "PYTHONPATH": root},
            )
            if done.returncode != 0:
                raise SystemExit(done.stderr[-2000:])
            result = json.loads(done.stdout.strip().splitlines()[-1])
            times[root].append(result["seconds"])
            cpus[root].append(result["cpu"])
            wall, cpu = result["seconds"], result["cpu"]
            print(f"{root}\t{wall:.2f} s\t(driver CPU {cpu:.2f} s)")
    for root, values in times.items():
        print(f"min {min(values):.2f} s\t{root}\t(all: "
              + ", ".join(f"{v:.2f}" for v in values) + ")")  # fmt: skip
    for root, values in cpus.items():
        print(f"min CPU {min(values):.2f} s\t{root}\t(all: "
              + ", ".join(f"{v:.2f}" for v in values) + ")")  # fmt: skip


if __name__ == "__main__":
    main()
