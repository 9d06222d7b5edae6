"""FAT records local wall-clock time with no zone. Sleuth Kit converts it with
the process's timezone, so without care the same evidence would list other
times on another examiner's machine. triage reads it back as the stored wall
time labelled UTC (``filesystems.tsk.wall_clock_as_utc``), and importing
triage leaves the process's timezone alone."""

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


_LIST_TIMES = """
import json, os, sys, time
zone = os.environ.get("TZ")
import triage
from triage.ingest import iter_files
from triage.records import FileRecord
assert os.environ.get("TZ") == zone, "importing triage changed TZ"
rows = [
    [r.path, r.mtime, r.atime, r.ctime, r.crtime]
    for image in sys.argv[1:]
    for r in iter_files(image, carve=False)
    if isinstance(r, FileRecord)
]
print(json.dumps({"tz": os.environ.get("TZ"), "tzname": time.tzname, "rows": rows}))
"""


def _times_in(zone: str, images: list[Path]) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _LIST_TIMES, *map(str, images)],
        env={**os.environ, "TZ": zone}, capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.fixture(scope="module")
def local_time_images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A FAT and an ISO 9660 image: both keep zoneless local times."""
    require_tools("mkfs.fat", "mcopy", "genisoimage")
    root = tmp_path_factory.mktemp("tz")
    files = {"DCIM/p.jpg": b"\xff\xd8x", "notes.txt": b"hello"}
    return [
        build_filesystem("fat16", files, root / "f.img"),
        build_filesystem("iso9660", files, root / "i.iso"),
    ]


@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata"])
def test_same_times_in_any_zone_and_tz_left_alone(
    zone: str, local_time_images: list[Path]
) -> None:
    utc = _times_in("UTC", local_time_images)
    there = _times_in(zone, local_time_images)
    assert there["tz"] == zone  # importing triage did not touch it
    assert there["tzname"] != utc["tzname"]  # the zone really was in force
    assert there["rows"] == utc["rows"]
    stamps = [t for row in utc["rows"] for t in row[1:] if t is not None]  # type: ignore[union-attr]
    assert FIXED_MTIME in stamps


def test_importing_triage_leaves_tz_unset() -> None:
    env = {k: v for k, v in os.environ.items() if k != "TZ"}
    done = subprocess.run(
        [sys.executable, "-c",
         "import os, triage, triage.ingest, triage.cli; print(os.environ.get('TZ'))"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == "None"


def test_a_wall_time_in_the_local_dst_gap_reads_one_hour_late() -> None:
    """The documented edge case: 02:30 on 10 March 2024 does not exist in New
    York; mktime moves it past the gap, and it reads as 03:30."""
    code = (
        "import calendar, time\n"
        "from triage.ingest.filesystems.tsk import wall_clock_as_utc\n"
        "gap = time.mktime((2024, 3, 10, 2, 30, 0, 0, 0, -1))\n"
        "winter = time.mktime((2024, 1, 10, 2, 30, 0, 0, 0, -1))\n"
        "print(wall_clock_as_utc(int(gap)) - calendar.timegm((2024, 3, 10, 2, 30, 0)),"
        " wall_clock_as_utc(int(winter)) - calendar.timegm((2024, 1, 10, 2, 30, 0)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "TZ": "America/New_York"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.split() == ["3600", "0"]


def test_the_cli_names_the_zone_in_force_only_when_unset() -> None:
    """``keep_local_zone_steady`` (called by the CLI, never on import) sets an
    unset TZ to the zone already in force, and leaves a set one alone."""
    code = (
        "import os, time\n"
        "before = time.localtime(1_700_000_000)\n"
        "from triage.ingest import keep_local_zone_steady\n"
        "keep_local_zone_steady()\n"
        "print(os.environ.get('TZ'), time.localtime(1_700_000_000) == before)"
    )
    unset = {k: v for k, v in os.environ.items() if k != "TZ"}
    for env, expected in (
        (unset, ":/etc/localtime True"),
        ({**unset, "TZ": "Asia/Kolkata"}, "Asia/Kolkata True"),
    ):
        if env is unset and not Path("/etc/localtime").exists():
            continue
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True,
            check=True,
        )  # fmt: skip
        assert done.stdout.strip() == expected
