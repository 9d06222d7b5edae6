"""The test-image builder itself: layouts, planted data, segments, errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.conftest import require_tools
from triage.sample.disk import (
    DELETABLE,
    FILESYSTEMS,
    MIB,
    SAMPLE_FILESYSTEMS,
    build_disk,
    build_filesystem,
    partition_offsets,
    to_ewf,
    to_split_raw,
)

FILES = {"one.txt": b"1" * 1000, "dir/two.bin": b"\x02" * 70000}


@pytest.fixture(scope="module")
def fs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tools("mkfs.fat", "mcopy", "mke2fs", "mkntfs", "ntfs-3g", "sfdisk")
    root = tmp_path_factory.mktemp("builder")
    return {
        name: build_filesystem(name, FILES, root / f"{name}.img")
        for name in ("fat12", "ext2", "ntfs")
    }


def _fsstat_type(image: Path, offset: int = 0) -> str:
    out = subprocess.run(
        ["fsstat", "-o", str(offset // 512), "-t", str(image)],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_each_filesystem_is_what_it_claims(fs: dict[str, Path]) -> None:
    require_tools("fsstat")
    assert _fsstat_type(fs["fat12"]) == "fat12"
    assert _fsstat_type(fs["ext2"]) == "ext2"
    assert _fsstat_type(fs["ntfs"]) == "ntfs"


def test_ext_build_fixes_ids_and_times(tmp_path: Path) -> None:
    # Byte-identical rebuilds are not possible: mke2fs -d takes files in the
    # source folder's readdir order, which the host filesystem decides.
    require_tools("mke2fs")
    import uuid

    from triage.ingest import iter_files
    from triage.records import FileRecord
    from triage.sample.disk import EXT_UUID, FIXED_MTIME, LABEL

    image = build_filesystem("ext4", FILES, tmp_path / "a.img")
    sb = image.read_bytes()[1024:2048]
    assert sb[0x38:0x3A] == b"\x53\xef"  # ext magic
    assert uuid.UUID(bytes=sb[0x68:0x78]) == uuid.UUID(EXT_UUID)
    assert sb[0x78:0x88].rstrip(b"\0").decode() == LABEL
    assert int.from_bytes(sb[0x108:0x10C], "little") == FIXED_MTIME  # mkfs time
    times = {
        r.path: r.mtime
        for r in iter_files(image, carve=False)
        if isinstance(r, FileRecord)
    }
    assert times == {path: FIXED_MTIME for path in FILES}


def test_mbr_with_logical_partitions_and_planted_gap(
    fs: dict[str, Path], tmp_path: Path
) -> None:
    require_tools("mmls")
    first_end = MIB + fs["fat12"].stat().st_size
    plant = {first_end + 4096: b"PLANTED-IN-THE-GAP"}
    disk = build_disk(
        tmp_path / "d.dd",
        [fs["fat12"], fs["ext2"], fs["ntfs"]],
        "mbr",
        extended=True,
        gap_data=plant,
    )
    offsets = partition_offsets(disk)
    assert len(offsets) == 3 and offsets[0] == MIB
    raw = disk.read_bytes()
    for offset, image in zip(
        offsets, (fs["fat12"], fs["ext2"], fs["ntfs"]), strict=True
    ):
        assert raw[offset : offset + image.stat().st_size] == image.read_bytes()
    ((where, data),) = plant.items()
    assert raw[where : where + len(data)] == data
    mmls = subprocess.run(["mmls", str(disk)], capture_output=True, text=True).stdout
    assert mmls.count("Extended Table") == 2  # two logical partitions, two EBRs
    assert "Unallocated" in mmls


def test_gpt_layout(fs: dict[str, Path], tmp_path: Path) -> None:
    disk = build_disk(tmp_path / "g.dd", [fs["ext2"], fs["fat12"]], "gpt", gap=2 * MIB)
    offsets = partition_offsets(disk)
    assert offsets[0] == MIB
    assert offsets[1] >= MIB + fs["ext2"].stat().st_size + 2 * MIB
    assert disk.read_bytes()[512:520] == b"EFI PART"


def test_bad_layouts_are_refused(fs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "x.dd"
    with pytest.raises(ValueError, match="overlaps a partition"):
        build_disk(out, [fs["fat12"]], "mbr", gap_data={MIB + 512: b"x"})
    with pytest.raises(ValueError, match="only in an MBR"):
        build_disk(out, [fs["fat12"]], "gpt", extended=True)
    with pytest.raises(ValueError, match="at most 4"):
        build_disk(out, [fs["fat12"]] * 5, "mbr")
    with pytest.raises(ValueError, match="unknown partition table"):
        build_disk(out, [fs["fat12"]], "apm")
    bare = build_disk(out, [fs["fat12"]], "none")
    assert bare.read_bytes() == fs["fat12"].read_bytes()


def test_bad_filesystem_requests_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown filesystem"):
        build_filesystem("zfs", FILES, tmp_path / "z.img")
    with pytest.raises(ValueError, match="ASCII"):
        build_filesystem("fat16", {"caf\u00e9.txt": b"x"}, tmp_path / "f.img")
    with pytest.raises(ValueError, match="cannot delete"):
        build_filesystem("iso9660", FILES, tmp_path / "i.iso", deleted=["one.txt"])
    with pytest.raises(ValueError, match="relative"):
        build_filesystem("ext2", {"/abs.txt": b"x"}, tmp_path / "e.img")
    with pytest.raises(ValueError, match="not in files"):
        build_filesystem("ext2", FILES, tmp_path / "e.img", deleted=["nope"])
    assert "iso9660" in FILESYSTEMS and "exfat" in FILESYSTEMS


def test_one_table_of_sample_filesystems() -> None:
    assert FILESYSTEMS == SAMPLE_FILESYSTEMS.names()
    assert FILESYSTEMS[:3] == ("fat12", "fat16", "fat32")
    assert DELETABLE == frozenset(FILESYSTEMS) - {"iso9660"}
    for name, sample in SAMPLE_FILESYSTEMS.items():
        assert sample.name == name and sample.default_mb >= 0
        assert len(sample.mbr_type) == 2  # one hex byte, as sfdisk takes it


@pytest.mark.parametrize(("naming", "names"), [
    ("000", ["d.000", "d.001", "d.002"]),
    ("001", ["d.001", "d.002", "d.003"]),
    ("aa", ["d.aa", "d.ab", "d.ac"]),
])  # fmt: skip
def test_split_raw_naming(tmp_path: Path, naming: str, names: list[str]) -> None:
    disk = tmp_path / "d.dd"
    disk.write_bytes(bytes(range(256)) * 4096 * 2 + b"\x07" * 512)  # 2 MiB + 512
    segments = to_split_raw(disk, tmp_path / "out", MIB, naming)
    assert [s.name for s in segments] == names
    assert b"".join(s.read_bytes() for s in segments) == disk.read_bytes()
    assert segments[-1].stat().st_size == 512


def test_ewf_round_trip(tmp_path: Path) -> None:
    require_tools("ewfacquire", "ewfverify")
    disk = tmp_path / "d.dd"
    disk.write_bytes(bytes(range(256)) * 4096 * 3)
    segments = to_ewf(disk, tmp_path / "e" / "d", segment_size=MIB)
    assert segments[0].name == "d.E01" and len(segments) >= 2
    verify = subprocess.run(
        ["ewfverify", "-q", str(segments[0])], capture_output=True, text=True
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr
