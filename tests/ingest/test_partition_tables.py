"""Partition tables Sleuth Kit rejects or reads in part (issue 15, item 1):
every entry with a readable filesystem is walked, each bad entry is a
recorded skip with its number and reason, a damaged GPT is read from its
backup and the skip says so."""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from tests.conftest import evidence_state, require_tools
from triage.ingest import iter_files
from triage.records import FileRecord, Skipped
from triage.sample.disk import build_disk, build_filesystem

SECTOR = 512


@pytest.fixture(scope="module")
def disks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tools("mkfs.fat", "mcopy", "mke2fs", "sfdisk")
    root = tmp_path_factory.mktemp("tables")
    fs = [
        build_filesystem("fat16", {"a.txt": b"a\n"}, root / "a.img"),
        build_filesystem("fat12", {"b.txt": b"b\n"}, root / "b.img"),
        build_filesystem("ext4", {"c.txt": b"c\n"}, root / "c.img"),
    ]
    return {
        "mbr": build_disk(root / "mbr.dd", fs, "mbr"),
        "ext": build_disk(root / "ext.dd", fs, "mbr", extended=True),
        "gpt": build_disk(root / "gpt.dd", fs, "gpt"),
    }


def _entry(ptype: int, start: int, length: int) -> bytes:
    return struct.pack("<B3sB3sII", 0, bytes(3), ptype, bytes(3), start, length)


def _patched(src: Path, dst: Path, at: int, data: bytes) -> Path:
    shutil.copyfile(src, dst)
    with open(dst, "r+b") as out:
        out.seek(at)
        out.write(data)
    return dst


def _walk(disk: Path) -> tuple[set[str], list[Skipped]]:
    before = evidence_state([disk])
    items = list(iter_files(disk, carve=False))
    assert evidence_state([disk]) == before
    files = {i.path for i in items if isinstance(i, FileRecord)}
    skips = [i for i in items if isinstance(i, Skipped) and i.stage == "volume"]
    return files, skips


def _sectors(disk: Path) -> int:
    return disk.stat().st_size // SECTOR


@pytest.mark.parametrize("entry", [0, 1, 3])
def test_mbr_entry_beyond_the_end(
    disks: dict[str, Path], tmp_path: Path, entry: int
) -> None:
    """Entry 1 or 2 beyond the end makes Sleuth Kit refuse the whole table;
    entry 4 it lists as a partition with "no readable filesystem"."""
    far = _sectors(disks["mbr"]) + 100_000
    disk = _patched(disks["mbr"], tmp_path / "d.dd", 446 + 16 * entry,
                    _entry(0x83, far, 1000))  # fmt: skip
    files, skips = _walk(disk)
    lost = {0: "a.txt", 1: "b.txt", 3: None}[entry]
    assert files == {"a.txt", "b.txt", "c.txt"} - {lost}
    assert len(skips) == 1, skips
    assert skips[0].reason == (
        f"starts at sector {far}, beyond the end of the device "
        f"({_sectors(disk)} sectors)"
    )
    assert skips[0].location.start == far * SECTOR
    if entry < 2:  # read by triage itself: numbered as Linux does
        assert skips[0].location.partition == entry + 1


def test_mbr_overlapping_entry_is_named_and_both_are_read(
    disks: dict[str, Path], tmp_path: Path
) -> None:
    disk = _patched(disks["mbr"], tmp_path / "d.dd", 446 + 16 * 3,
                    _entry(0x83, 10_000, 30_000))  # fmt: skip
    files, skips = _walk(disk)
    assert files == {"a.txt", "b.txt", "c.txt"}
    assert "overlaps entry 1; both are read" in [s.reason for s in skips]


def test_extended_chain_that_loops_back(disks: dict[str, Path], tmp_path: Path) -> None:
    src = disks["ext"]
    table = src.read_bytes()[:SECTOR]
    ext_start = struct.unpack_from("<I", table, 446 + 16 + 8)[0]
    first_ebr = src.read_bytes()[ext_start * SECTOR : (ext_start + 1) * SECTOR]
    second = ext_start + struct.unpack_from("<I", first_ebr, 446 + 16 + 8)[0]
    # the second EBR's link points back at the first: the chain loops
    disk = _patched(src, tmp_path / "d.dd", second * SECTOR + 446 + 16,
                    _entry(0x05, 0, 100))  # fmt: skip
    files, skips = _walk(disk)
    assert files == {"a.txt", "b.txt", "c.txt"}
    assert [s.reason for s in skips] == [
        f"extended chain loops back to sector {ext_start}"
    ]
    assert "dos entry 2" in skips[0].where


@pytest.mark.parametrize("damage", ["header", "entry-array"])
def test_damaged_primary_gpt_is_read_from_its_backup(
    disks: dict[str, Path], tmp_path: Path, damage: str
) -> None:
    at, data = (
        (SECTOR, b"\xff" * 92) if damage == "header" else (2 * SECTOR, b"\xab" * SECTOR)
    )
    disk = _patched(disks["gpt"], tmp_path / "d.dd", at, data)
    files, skips = _walk(disk)
    assert files == {"a.txt", "b.txt", "c.txt"}
    assert len(skips) == 1 and "GPT header" in skips[0].where
    assert skips[0].reason.endswith("partitions read from the backup GPT")
    # both copies damaged: said, and the device is left to carving
    last = (_sectors(disk) - 1) * SECTOR
    both = _patched(disk, tmp_path / "both.dd", last, b"\0" * 8)
    items = list(iter_files(both, carve=False))
    reasons = [i.reason for i in items if isinstance(i, Skipped)]
    assert any(r.startswith("GPT unreadable: ") and "backup" in r for r in reasons)


def test_healthy_tables_are_unchanged(disks: dict[str, Path]) -> None:
    for disk in disks.values():
        files, skips = _walk(disk)
        assert files == {"a.txt", "b.txt", "c.txt"} and skips == []
