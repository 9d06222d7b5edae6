"""The scan's walk takes operating-system folders last (``SYSTEM_FOLDERS``):
same entries, once each, users' files first."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_tools
from triage.ingest.evidence import open_device
from triage.ingest.listing import SYSTEM_FOLDERS, iter_entries
from triage.ingest.volumes import iter_partitions
from triage.records import FileRecord, Partition
from triage.sample.disk import build_filesystem

FILES = {
    "Program Files/App/icon.png": b"png" * 10,
    "ProgramData/cache/thumb.jpg": b"jpg" * 10,
    "Users/bob/Pictures/holiday.jpg": b"jpg" * 11,
    "Users/bob/Downloads/x.zip": b"zip" * 12,
    "Windows/Web/wallpaper.jpg": b"jpg" * 13,
    "Windows/System32/a.dll": b"dll" * 14,
    "notes.txt": b"txt" * 15,
    "zz/Windows/not-top-level.jpg": b"jpg" * 16,  # only top-level names count
}


@pytest.mark.parametrize("fs", ["ntfs", "fat32"])
def test_system_folders_come_last_and_nothing_is_lost(fs: str, tmp_path: Path) -> None:
    require_tools(*(("mkntfs", "ntfs-3g") if fs == "ntfs" else ("mkfs.fat", "mcopy")))
    image = build_filesystem(fs, FILES, tmp_path / f"{fs}.img", size_mb=40)

    def listing(defer: frozenset[str]) -> list[str]:
        with open_device(image) as handle:
            (part,) = [p for p in iter_partitions(handle) if isinstance(p, Partition)]
            return [
                e.path
                for e in iter_entries(handle, part, defer=defer)
                if isinstance(e, FileRecord) and not e.path.startswith("$")
            ]

    plain, deferred = listing(frozenset()), listing(SYSTEM_FOLDERS)
    assert sorted(plain) == sorted(deferred) == sorted(FILES)  # once each
    assert plain.index("Program Files/App/icon.png") < plain.index(
        "Users/bob/Pictures/holiday.jpg"
    )  # Sleuth Kit's order: alphabetical here
    system = [p for p in deferred if p.split("/")[0].lower() in SYSTEM_FOLDERS]
    assert sorted(system) == sorted(
        p for p in FILES if p.startswith(("Program", "Windows/"))
    )
    assert deferred[-len(system) :] == system  # all after everything else
    assert deferred.index("zz/Windows/not-top-level.jpg") < len(deferred) - len(system)


def test_the_scan_walks_system_folders_last(tmp_path: Path) -> None:
    require_tools("mkfs.fat", "mcopy")
    from triage.scan.walk import Chunk, Planned, walk_one

    image = build_filesystem("fat32", FILES, tmp_path / "fat.img", size_mb=40)
    planned = Planned(image, str(image), "dev")
    paths = [
        r.path
        for item in walk_one(planned, chunk_files=1, carve_bytes=1 << 20, carving=False)
        if isinstance(item, Chunk)
        for r in item.records
    ]
    system = {p for p in FILES if p.startswith(("Program", "Windows/"))}
    assert len(paths) == len(FILES)
    assert set(paths[-len(system) :]) == system
