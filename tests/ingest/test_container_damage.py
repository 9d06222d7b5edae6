"""Damage to each container and filesystem that had no damage test (issue
15, acceptance 2): VMDK, VHD and QCOW2 with a corrupt header or a grain /
block / cluster table pointing nowhere; exFAT, HFS+ and ISO 9660 with a
corrupt directory. Each gives a clear error naming the file, or recorded
skips with the rest of the device read. The containers, HFS+ and ISO 9660
are copies of the dfvfs test images (shared beside the repository)."""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import evidence_state, require_tools
from triage.errors import TriageError
from triage.ingest import iter_files
from triage.records import FileRecord, Skipped
from triage.sample.disk import build_filesystem

EXT2 = {"a_directory/a_file", "a_directory/another_file", "passwords.txt"}
DAMAGED_BLOCK = "a VMDK/VHD/QCOW2 block cannot be read (damaged image): read as zeros"


def _vmdk_grain_table(raw: bytearray, first: int) -> None:
    """Grain-table entries from ``first`` on point beyond the file."""
    directory = struct.unpack_from("<Q", raw, 56)[0] * 512
    table = struct.unpack_from("<I", raw, directory)[0] * 512
    for k in range(first, 512):
        if struct.unpack_from("<I", raw, table + 4 * k)[0]:
            struct.pack_into("<I", raw, table + 4 * k, 0xEEEEEEEE)


def _qcow_l2_table(raw: bytearray, first: int) -> None:
    """L2 entries from ``first`` on point at a cluster beyond the file."""
    l1 = struct.unpack_from(">Q", raw, 40)[0]
    l2 = struct.unpack_from(">Q", raw, l1)[0] & 0x00FFFFFFFFFFFE00
    for k in range(first, 64):
        if struct.unpack_from(">Q", raw, l2 + 8 * k)[0]:
            struct.pack_into(">Q", raw, l2 + 8 * k, 0x80000000EEEEEE00)


def _vhd_block_map(raw: bytearray) -> None:
    """The block allocation table: garbage."""
    bat = struct.unpack_from(">Q", raw, 512 + 16)[0]
    raw[bat : bat + 64] = b"\xee" * 64


def _patch(at: int, data: bytes) -> Callable[[bytearray], None]:
    def patch(raw: bytearray) -> None:
        raw[at : at + len(data)] = data

    return patch


#: name -> (dfvfs image, damage, what must come out: an error's words, or
#: the files still listed and a skip reason).
ERRORS = {
    "vmdk-header": ("ext2.vmdk", _patch(0, b"XXXX"), "no readable filesystem"),
    "vmdk-grain-directory": ("ext2.vmdk", lambda r: _vmdk_grain_table(r, 0),
                             "unable to read grain"),
    "vhd-dynamic-header": ("ext2.vhd", _patch(512, b"XXXXXXXX"),
                           "cannot open as Virtual PC VHD"),
    "vhd-block-map": ("ext2.vhd", _vhd_block_map, "cannot read"),
    "qcow2-header": ("ext2.qcow2", _patch(0, b"XXXX"), "no readable filesystem"),
}  # fmt: skip
PARTIAL = {
    "vmdk-grain-table": ("ext2.vmdk", lambda r: _vmdk_grain_table(r, 3)),
    "qcow2-cluster-table": ("ext2.qcow2", lambda r: _qcow_l2_table(r, 8)),
}


def _damaged(dfvfs_dir: Path, tmp_path: Path, image: str, damage: Callable) -> Path:
    raw = bytearray((dfvfs_dir / image).read_bytes())
    damage(raw)
    out = tmp_path / f"damaged-{image}"
    out.write_bytes(bytes(raw))
    return out


def _walk(path: Path) -> tuple[set[str], list[Skipped]]:
    before = evidence_state([path])
    items = list(iter_files(path, carve=False))
    assert evidence_state([path]) == before
    return (
        {i.path for i in items if isinstance(i, FileRecord)},
        [i for i in items if isinstance(i, Skipped)],
    )


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_unreadable_container_is_one_clear_error(
    dfvfs_dir: Path, tmp_path: Path, case: str
) -> None:
    image, damage, words = ERRORS[case]
    path = _damaged(dfvfs_dir, tmp_path, image, damage)
    with pytest.raises(TriageError) as caught:
        _walk(path)
    assert path.name in str(caught.value) and words in str(caught.value)


@pytest.mark.parametrize("case", sorted(PARTIAL))
def test_table_pointing_nowhere_is_skipped_and_the_rest_read(
    dfvfs_dir: Path, tmp_path: Path, case: str
) -> None:
    """A grain / cluster table entry pointing beyond the file: those bytes
    are recorded as damaged and read as zeros; the rest of the device is
    read (before, the first such read failed the whole device)."""
    image, damage = PARTIAL[case]
    path = _damaged(dfvfs_dir, tmp_path, image, damage)
    files, skips = _walk(path)
    damaged = [s for s in skips if s.stage == "evidence"]
    assert damaged and all(DAMAGED_BLOCK in s.reason for s in damaged)
    assert all(s.where.startswith("bytes ") for s in damaged)
    assert files == EXT2  # listed; their data lies in the lost grain/cluster
    assert any("what the image cannot give" in s.reason for s in skips)


def test_corrupt_iso9660_directory_record(dfvfs_dir: Path, tmp_path: Path) -> None:
    def record_garbage(raw: bytearray) -> None:
        at = raw.find(b"A_FILE.;1") - 33
        raw[at : at + 34] = b"\xff" * 34

    path = _damaged(dfvfs_dir, tmp_path, "iso9660.raw", record_garbage)
    files, skips = _walk(path)
    assert files == {"A_DIRECTORY/ANOTHER_FILE", "PASSWORDS.TXT"}
    (skip,) = skips
    assert skip.where.endswith(":A_DIRECTORY")
    assert "1 damaged directory entry not listed" in skip.reason


def test_corrupt_hfs_plus_catalog_node(dfvfs_dir: Path, tmp_path: Path) -> None:
    def node_garbage(raw: bytearray) -> None:
        node = raw.find("a_file".encode("utf-16-be")) // 4096 * 4096
        raw[node + 14 : node + 512] = b"\xee" * 498

    path = _damaged(dfvfs_dir, tmp_path, "hfsplus.raw", node_garbage)
    files, skips = _walk(path)
    assert not {f for f in files if not f.startswith("$")}
    assert [s.where for s in skips] == ["partition 0:/"]
    assert "cannot read the root folder" in skips[0].reason


def test_corrupt_exfat_directory_entry_set(tmp_path: Path) -> None:
    require_tools("mkfs.exfat", "mount.exfat-fuse")
    files = {**{f"dir/f{i}.txt": b"x" * (100 + i) for i in range(4)}, "top.txt": b"t"}
    raw = bytearray(build_filesystem("exfat", files, tmp_path / "s.img").read_bytes())
    name_entry = raw.find("f2.txt".encode("utf-16-le")) - 2
    assert raw[name_entry - 32] == 0xC0  # the stream extension entry
    raw[name_entry - 32] = 0x7F  # no longer a known entry type
    path = tmp_path / "exfat.img"
    path.write_bytes(bytes(raw))
    listed, skips = _walk(path)
    assert set(files) - {"dir/f2.txt"} <= listed and "dir/f2.txt" not in listed
    (skip,) = skips
    assert skip.where.endswith(":dir")
    assert "1 damaged directory entry not listed" in skip.reason
