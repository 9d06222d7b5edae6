"""Damaged folders that Sleuth Kit lists short without a word (issue 15,
item 2): an NTFS folder whose MFT record has a bad fixup or garbage
attributes, FAT folders with damaged entries, an ext4 folder whose entry
for a subfolder is gone. Each is a recorded skip naming the folder (and
the record); everything else is listed."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from tests.conftest import evidence_state, require_tools
from triage.ingest import iter_files
from triage.records import FileRecord, Skipped
from triage.sample.disk import build_filesystem

FILES = {
    **{f"dir/sub/f{i}.txt": b"x" * (100 + i) for i in range(3)},
    **{f"dir/g{i}.txt": b"y" * 50 for i in range(2)},
    "top.txt": b"t",
}
FAT_FILES = {**{f"DIR/F{i}.TXT": b"x" * (100 + i) for i in range(5)}, "TOP.TXT": b"t"}


def _walk(image: Path) -> tuple[set[str], list[Skipped]]:
    before = evidence_state([image])
    items = list(iter_files(image, carve=False))
    assert evidence_state([image]) == before
    files = {i.path for i in items if isinstance(i, FileRecord)}
    return files, [i for i in items if isinstance(i, Skipped)]


def _mft_record_of(raw: bytes, name: str) -> tuple[int, int]:
    """(record number, byte offset) of the MFT record holding ``name``."""
    sector = struct.unpack_from("<H", raw, 0x0B)[0]
    mft = struct.unpack_from("<q", raw, 0x30)[0] * sector * raw[0x0D]
    # $FILE_NAME: name length, namespace (any), the UTF-16 name
    wanted = [bytes([len(name), ns]) + name.encode("utf-16-le") for ns in range(4)]
    for number in range(16, 4096):
        at = mft + number * 1024
        record = raw[at : at + 1024]
        if record[:4] == b"FILE" and any(w in record for w in wanted):
            return number, at
    pytest.fail(f"no MFT record for {name}")


@pytest.mark.parametrize("damage", ["bad-fixup", "garbage-attributes"])
def test_damaged_ntfs_folder_record_is_a_recorded_skip(
    tmp_path: Path, damage: str
) -> None:
    require_tools("mkntfs", "ntfs-3g")
    source = build_filesystem("ntfs", FILES, tmp_path / "src.img")
    raw = bytearray(source.read_bytes())
    number, at = _mft_record_of(raw, "dir")
    if damage == "bad-fixup":
        raw[at + 510] ^= 0xFF  # sector 1 no longer ends in the update number
    else:
        first = struct.unpack_from("<H", raw, at + 0x14)[0]
        raw[at + first : at + first + 200] = b"\x5a" * 200
    image = tmp_path / "ntfs.img"
    image.write_bytes(bytes(raw))
    files, skips = _walk(image)
    assert "top.txt" in files and not any(f.startswith("dir/") for f in files)
    (skip,) = [s for s in skips if s.where.endswith(":dir")]
    assert f"MFT record {number} of this folder is damaged" in skip.reason
    assert "may be listed under $OrphanFiles" in skip.reason


@pytest.mark.parametrize("damage", ["invalid-name", "reserved-attributes"])
def test_damaged_fat_entries_are_counted_as_skipped(
    tmp_path: Path, damage: str
) -> None:
    require_tools("mkfs.fat", "mcopy")
    raw = bytearray(
        build_filesystem("fat16", FAT_FILES, tmp_path / "s.img").read_bytes()
    )
    at = raw.find(b"F2      TXT")
    if damage == "invalid-name":
        raw[at : at + 11] = b"F2\x01\x02*?  TXT"
    else:
        raw[at + 11] = 0xFF
    image = tmp_path / "fat.img"
    image.write_bytes(bytes(raw))
    files, skips = _walk(image)
    assert {"DIR/F0.TXT", "DIR/F1.TXT", "DIR/F4.TXT", "TOP.TXT"} <= files
    assert "DIR/F2.TXT" not in files
    (skip,) = [s for s in skips if s.where.endswith(":DIR")]
    assert skip.reason == (
        "the folder holds 5 entries, Sleuth Kit listed 4: 1 damaged directory "
        "entry not listed"
    )


def test_ext4_subfolder_entry_gone_is_a_recorded_skip(tmp_path: Path) -> None:
    require_tools("mke2fs")
    raw = bytearray(build_filesystem("ext4", FILES, tmp_path / "s.img").read_bytes())
    at = raw.find(b"\x03\x02sub")  # name length 3, type folder, "sub"
    assert at > 0
    raw[at - 6 : at - 2] = bytes(4)  # its inode number: 0, an unused entry
    image = tmp_path / "ext4.img"
    image.write_bytes(bytes(raw))
    files, skips = _walk(image)
    assert {"dir/g0.txt", "dir/g1.txt", "top.txt"} <= files
    (skip,) = [s for s in skips if s.where.endswith(":dir")]
    assert skip.reason == (
        "the folder holds 1 subfolders, Sleuth Kit listed 0: 1 damaged directory "
        "entry not listed"
    )


@pytest.mark.parametrize("fs", ["fat16", "fat32", "ext4", "ntfs", "exfat", "iso9660"])
def test_healthy_folders_have_no_such_skip(tmp_path: Path, fs: str) -> None:
    require_tools("mkfs.fat", "mke2fs", "mkntfs")
    files = FAT_FILES if fs.startswith("fat") else FILES
    image = build_filesystem(fs, files, tmp_path / "ok.img")
    listed, skips = _walk(image)
    assert set(files) <= listed and skips == []
