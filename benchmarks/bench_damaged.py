"""Time, CPU and peak memory of ``triage ls`` and ``triage scan`` on every
damaged image of ``tests/test_damaged_catalogue.py`` (issue 15, acceptance
3: each under 60 s and 1 GiB).

    python benchmarks/bench_damaged.py

Builds the images in a temporary folder (the Debian tools of
``scripts/setup.sh`` are needed; the dfvfs test images beside the repository
for the container cases), runs each command in its own process as a user
would, and prints the machine, date, load and, per command, the slowest wall
time, the most CPU and the largest maximum resident set. Not collected by
pytest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import platform
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests import test_damaged_catalogue as catalogue  # noqa: E402
from triage.hashmatch.hashset import HashEntry, HashSet  # noqa: E402


def main() -> None:
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores")
    print(f"date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()}")
    root = Path(tempfile.mkdtemp(prefix="bench-damaged-"))
    images = catalogue._catalogue(root / "images")
    known = root / "known.ths"
    md5 = hashlib.md5(catalogue.PICTURE).hexdigest()
    entry = HashEntry("known-1", "A", None, (("md5", md5),))
    HashSet.from_entries([entry], name="known", kind="known-bad").write(known)
    worst: dict[str, list[tuple[float, str]]] = {}
    for name, evidence in images.items():
        db = root / f"{name}.db"
        commands = {
            "ls": ["ls", str(evidence)],
            "scan": ["scan", str(evidence), "--hashset", str(known), "--db",
                     str(db), "--scheduler", "sync"],
        }  # fmt: skip
        for command, args in commands.items():
            _, _, seconds, rss, cpu = catalogue.measured_with_cpu(args)
            rows = worst.setdefault(command, [(0.0, ""), (0.0, ""), (0.0, "")])
            values: tuple[float, ...] = (seconds, cpu, rss / 2**20)
            for k, value in enumerate(values):
                if value > rows[k][0]:
                    rows[k] = (value, name)
    print(f"{len(images)} damaged images")
    print("| command | slowest wall s | most CPU s | largest max RSS MiB |")
    print("|---|---|---|---|")
    for command, ((wall, w), (most, c), (peak, r)) in worst.items():
        print(f"| {command} | {wall:.1f} ({w}) | {most:.1f} ({c}) | {peak:.0f} ({r}) |")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
