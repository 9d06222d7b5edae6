"""A/B timing of one in-process scan, for two (or more) checkouts of triage.

    git worktree add /tmp/base HEAD~2
    python benchmarks/ab_scan.py /tmp/base . [--rounds 3] [--corpus full]

Alternates the checkouts round by round (so a drifting machine does not
favour one), each in a fresh process that imports ``triage`` from that
checkout and times ``scan(..., scheduler="sync")`` of a corpus that
``bench_scan.py`` built (``benchmarks/out/scan/<corpus>``). One process, no
cluster: this compares the code's work, not Dask's. Prints each time and the
minimum per checkout. Not collected by pytest.
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


def _child(root: str, corpus: str) -> None:
    sys.path.insert(0, root)
    import triage

    if not triage.__file__ or not triage.__file__.startswith(root):
        raise SystemExit(f"imported triage from {triage.__file__}, not {root}")
    from triage.hashmatch.kernels import one_blas_thread
    from triage.pipeline import scan

    one_blas_thread()
    manifest = json.loads(
        (REPO / "benchmarks" / "out" / "scan" / corpus / "manifest.json").read_text()
    )
    with tempfile.TemporaryDirectory(prefix="ab-scan-") as tmp:
        start = time.perf_counter()
        scan(
            manifest["devices"],
            [manifest["hashset"]],
            Path(tmp) / "case.db",
            scheduler="sync",
        )
        print(json.dumps({"seconds": time.perf_counter() - start}))


def main() -> None:
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], sys.argv[3])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("roots", nargs="+", help="checkouts of triage to compare")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument(
        "--corpus", default="full", help="full, quick, photos, full-fast, ..."
    )
    args = ap.parse_args()
    roots = [str(Path(r).resolve()) for r in args.roots]
    print(f"# ab_scan corpus={args.corpus} rounds={args.rounds} "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    times: dict[str, list[float]] = {r: [] for r in roots}
    for _ in range(args.rounds):
        for root in roots:
            done = subprocess.run(
                [sys.executable, __file__, "--child", root, args.corpus],
                capture_output=True,
                text=True,
                check=False,
                cwd=tempfile.gettempdir(),
            )
            if done.returncode != 0:
                raise SystemExit(done.stderr[-2000:])
            seconds = json.loads(done.stdout.strip().splitlines()[-1])["seconds"]
            times[root].append(seconds)
            print(f"{root}\t{seconds:.2f} s")
    for root, values in times.items():
        print(f"min {min(values):.2f} s\t{root}\t(all: "
              + ", ".join(f"{v:.2f}" for v in values) + ")")  # fmt: skip


if __name__ == "__main__":
    main()
