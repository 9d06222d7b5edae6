"""Acceptance 3: real images made by other people (dfvfs test data).

For each image Sleuth Kit can read, ``iter_files`` lists what ``fls -r -p``
lists. fls reads raw, split raw and E01 directly; for VMDK, VHD and QCOW2 the
oracle runs on a raw copy made in ``tmp_path`` by reading through the
container library. The rest fail with a clear error naming the container or
filesystem.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_tools
from tests.ingest.fls_oracle import fls_listing, triage_listing
from triage.errors import EvidenceError
from triage.ingest import iter_files
from triage.ingest.content import read_record
from triage.ingest.evidence import find_evidence, open_device
from triage.ingest.volumes import iter_partitions
from triage.records import FileRecord, Partition

EXT2_FILES = {"a_directory/a_file", "a_directory/another_file", "passwords.txt"}

DIRECT = {  # image -> (segments for fls, container)
    "ext2.E01": (("ext2.E01",), "ewf"),
    "ext2.split.E01": (("ext2.split.E01", "ext2.split.E02"), "ewf"),
    "ext2.splitraw.000": (("ext2.splitraw.000", "ext2.splitraw.001"), "split"),
    "hfsplus.raw": (("hfsplus.raw",), "raw"),
    "iso9660.raw": (("iso9660.raw",), "raw"),
}
CONVERTED = {
    "ext2.vmdk": "vmdk",
    "ext2.vhd": "vhd",
    "ext2.qcow2": "qcow",
    "image.vhd": "vhd",
    "windows_volume.qcow2": "qcow",
}


def _fs_offsets(evidence: Path) -> list[int]:
    with open_device(evidence) as handle:
        return [
            p.offset
            for p in iter_partitions(handle)
            if isinstance(p, Partition) and p.allocated and p.fs_type
        ]


@pytest.mark.parametrize("name", sorted(DIRECT))
def test_direct_images_match_fls(dfvfs_dir: Path, name: str) -> None:
    require_tools("fls")
    segments, container = DIRECT[name]
    evidence = dfvfs_dir / name
    with open_device(evidence) as handle:
        assert handle.device.container == container
        assert len(handle.device.segments) == len(segments)
    records = list(iter_files(evidence, carve=False))
    images = [dfvfs_dir / s for s in segments]
    for offset in _fs_offsets(evidence):
        expected = fls_listing(images, offset, "raw" if container == "split" else None)
        assert expected
        assert triage_listing(records, offset) == expected
    if name.startswith("ext2"):
        paths = {r.path for r in records if isinstance(r, FileRecord)}
        assert paths >= EXT2_FILES


@pytest.mark.parametrize("name", sorted(CONVERTED))
def test_container_images_match_fls_on_raw_copy(
    dfvfs_dir: Path, tmp_path: Path, name: str
) -> None:
    require_tools("fls")
    evidence = dfvfs_dir / name
    raw = tmp_path / "copy.raw"
    with open_device(evidence) as handle, open(raw, "wb") as out:
        assert handle.device.container == CONVERTED[name]
        for offset in range(0, handle.size, 1 << 20):
            out.write(handle.read(offset, 1 << 20))
    records = list(iter_files(evidence, carve=False))
    offsets = _fs_offsets(evidence)
    assert offsets
    for offset in offsets:
        expected = fls_listing([raw], offset)
        assert expected
        assert triage_listing(records, offset) == expected
    if name.startswith("ext2"):
        paths = {r.path for r in records if isinstance(r, FileRecord)}
        assert paths >= EXT2_FILES


def test_ext2_content_is_the_same_in_every_container(dfvfs_dir: Path) -> None:
    contents: dict[str, bytes] = {}
    for name in (
        "ext2.E01",
        "ext2.splitraw.000",
        "ext2.vmdk",
        "ext2.vhd",
        "ext2.qcow2",
    ):
        with open_device(dfvfs_dir / name) as handle:
            for r in iter_files(dfvfs_dir / name, carve=False):
                if isinstance(r, FileRecord) and r.path == "passwords.txt":
                    data = read_record(handle, r)
                    contents.setdefault("passwords.txt", data)
                    assert data == contents["passwords.txt"], name
    assert contents["passwords.txt"]


def test_differential_vhd_without_parent_is_a_clear_error(dfvfs_dir: Path) -> None:
    with pytest.raises(EvidenceError, match="differential VHD.*parent"):
        open_device(dfvfs_dir / "fat-differential.vhd")


def test_find_evidence_lists_first_segments_only(dfvfs_dir: Path) -> None:
    names = {p.name for p in find_evidence(dfvfs_dir)}
    assert "ext2.split.E01" in names and "ext2.split.E02" not in names
    assert "ext2.splitraw.000" in names and "ext2.splitraw.001" not in names
    assert "README.md" not in names
    assert names >= set(DIRECT) | set(CONVERTED)
