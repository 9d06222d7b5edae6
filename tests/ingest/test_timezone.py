"""FAT records local wall-clock time with no zone. Sleuth Kit converts it with
the process's timezone, so without care the same evidence would list other
times on another examiner's machine. triage pins TZ=UTC on import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_tools
from triage.ingest import iter_files
from triage.records import FileRecord
from triage.sample.disk import FIXED_MTIME, build_filesystem


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_fat_times_do_not_depend_on_the_examiners_timezone(
    zone: str, tmp_path: Path
) -> None:
    require_tools("mkfs.fat", "mcopy")
    fat = build_filesystem("fat16", {"DCIM/p.jpg": b"\xff\xd8x"}, tmp_path / "f.img")
    (here,) = [
        r for r in iter_files(fat, carve=False) if isinstance(r, FileRecord)
        and r.path == "DCIM/p.jpg"
    ]  # fmt: skip
    assert here.mtime == FIXED_MTIME  # the wall time stored, read as UTC
    done = subprocess.run(
        [sys.executable, "-c", "from triage.cli import main; main()",
         "ls", "--json", "--no-carve", str(fat)],
        env={**os.environ, "TZ": zone}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    (there,) = [r for r in rows if r.get("path") == "DCIM/p.jpg"]
    assert there["mtime"] == "2024-01-01T00:00:00Z"
