"""Acceptance 1: what ``iter_files`` lists equals what ``fls -r -p`` lists.

Images are built at test time from one known source folder in every
filesystem we can build, behind MBR (with logical partitions), GPT and no
table, as raw, split raw and E01. Every file's SHA-256 read through triage
equals the source file's, deleted files included where they were recovered.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import require_tools
from tests.ingest.fls_oracle import (
    DELETED,
    DELETED_TREE,
    fls_listing,
    sha256,
    source_files,
    triage_listing,
)
from triage.ingest import iter_files
from triage.ingest.content import iter_chunks, read_record
from triage.ingest.evidence import open_device
from triage.records import FileRecord, Source
from triage.sample.disk import (
    DELETABLE,
    FILESYSTEMS,
    build_disk,
    build_filesystem,
    partition_offsets,
    to_ewf,
    to_split_raw,
)

MIB = 1 << 20
TOOLS = ("fls", "mkfs.fat", "mcopy", "mke2fs", "debugfs", "mkntfs", "ntfs-3g",
         "mkfs.exfat", "mount.exfat-fuse", "losetup", "genisoimage", "sfdisk",
         "ewfacquire")  # fmt: skip


@dataclass(frozen=True)
class Case:
    evidence: Path  # what triage opens (first segment)
    fls_images: tuple[Path, ...]  # what fls reads
    imgtype: str | None
    partitions: tuple[tuple[int, str], ...]  # (offset, fs) of each filesystem


@pytest.fixture(scope="session")
def fs_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tools(*TOOLS)
    root = tmp_path_factory.mktemp("fs")
    return {
        fs: build_filesystem(
            fs,
            source_files(fs),
            root / f"{fs}.img",
            deleted=(*DELETED, DELETED_TREE) if fs in DELETABLE else (),
        )
        for fs in FILESYSTEMS
    }


@pytest.fixture(scope="session")
def cases(
    fs_images: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Case]:
    root = tmp_path_factory.mktemp("disks")
    out: dict[str, Case] = {}
    for fs, image in fs_images.items():
        out[f"bare-{fs}-raw"] = Case(image, (image,), None, ((0, fs),))

    def disk(name: str, fss: list[str], table: str, extended: bool = False) -> Case:
        path = build_disk(
            root / f"{name}.dd", [fs_images[f] for f in fss], table, extended=extended
        )
        offsets = partition_offsets(path)
        assert len(offsets) == len(fss)
        return Case(path, (path,), None, tuple(zip(offsets, fss, strict=True)))

    mbr_ext = disk("mbr-ext", ["fat16", "ext4", "ntfs"], "mbr", extended=True)
    mbr = disk("mbr", ["fat32", "exfat"], "mbr")
    gpt = disk("gpt", ["ext3", "ntfs", "fat12"], "gpt")
    out.update({"mbr-extended-raw": mbr_ext, "mbr-raw": mbr, "gpt-raw": gpt})

    def split(name: str, case: Case, naming: str) -> Case:
        segs = to_split_raw(case.evidence, root / name, 4 * MIB, naming)
        assert len(segs) > 1
        return Case(segs[0], tuple(segs), "raw", case.partitions)

    def ewf(name: str, case: Case) -> Case:
        segs = to_ewf(case.evidence, root / name / "image", segment_size=MIB)
        return Case(segs[0], tuple(segs), None, case.partitions)

    out["mbr-extended-split001"] = split("s1", mbr_ext, "001")
    out["gpt-splitaa"] = split("s2", gpt, "aa")
    out["bare-ext2-split000"] = split("s3", out["bare-ext2-raw"], "000")
    out["mbr-extended-e01"] = ewf("e1", mbr_ext)
    out["mbr-e01"] = ewf("e2", mbr)
    out["bare-iso9660-e01"] = ewf("e3", out["bare-iso9660-raw"])
    return out


CASE_NAMES = [f"bare-{fs}-raw" for fs in FILESYSTEMS] + [
    "mbr-extended-raw",
    "mbr-raw",
    "gpt-raw",
    "mbr-extended-split001",
    "gpt-splitaa",
    "bare-ext2-split000",
    "mbr-extended-e01",
    "mbr-e01",
    "bare-iso9660-e01",
]


@pytest.mark.parametrize("name", CASE_NAMES)
def test_listing_equals_fls(cases: dict[str, Case], name: str) -> None:
    case = cases[name]
    records = list(iter_files(case.evidence, carve=False, archives=False))
    assert records, "nothing listed"
    for offset, fs in case.partitions:
        expected = fls_listing(case.fls_images, offset, case.imgtype)
        got = triage_listing(records, offset)
        assert got == expected, f"{name}: {fs} at {offset}"
        paths = {path for path, _, _ in got}
        assert "readme.txt" in paths  # the oracle is not trivially empty


@pytest.mark.parametrize("name", CASE_NAMES)
def test_content_equals_source(cases: dict[str, Case], name: str) -> None:
    case = cases[name]
    records = [
        r
        for r in iter_files(case.evidence, carve=False, archives=False)
        if isinstance(r, FileRecord) and r.source is Source.FILESYSTEM
    ]
    with open_device(case.evidence) as handle:
        for offset, fs in case.partitions:
            here = [r for r in records if r.partition_offset == offset]
            live = {r.path: r for r in here if not r.deleted}
            files = source_files(fs)
            for rel, data in files.items():
                gone = rel in DELETED or rel.startswith(f"{DELETED_TREE}/")
                if gone and fs in DELETABLE:
                    continue
                record = live[rel]
                assert record.size == len(data)
                assert sha256(read_record(handle, record)) == sha256(data), rel
                streamed = b"".join(iter_chunks(handle, record, chunk_size=4096))
                assert streamed == data
            if fs not in DELETABLE:
                continue
            for rel in DELETED:
                # FAT keeps a deleted name without its first character.
                folder, _, base = rel.rpartition("/")
                match = [
                    r
                    for r in here
                    if r.deleted
                    and r.path.rpartition("/")[0] == folder
                    and r.path.rpartition("/")[2][1:] == base[1:]
                ]
                assert len(match) == 1, (fs, rel, [r.path for r in here])
                assert sha256(read_record(handle, match[0])) == sha256(files[rel])


def test_deleted_files_are_flagged(cases: dict[str, Case]) -> None:
    for fs in ("fat12", "fat32", "ntfs", "ext4", "exfat"):
        records = list(iter_files(cases[f"bare-{fs}-raw"].evidence, carve=False))
        deleted = {r.path for r in records if isinstance(r, FileRecord) and r.deleted}
        assert {p.rpartition("/")[2][1:] for p in deleted} >= {"one.txt", "one2.bin"}


def test_files_of_a_deleted_folder_are_found(cases: dict[str, Case]) -> None:
    files = source_files()
    for fs in sorted(DELETABLE):
        evidence = cases[f"bare-{fs}-raw"].evidence
        found = [
            r
            for r in iter_files(evidence, carve=False)
            if isinstance(r, FileRecord)
            and r.deleted
            and r.path.split("/")[0][1:] == DELETED_TREE[1:]  # FAT: "_lddir"
        ]
        assert len(found) == 2, (fs, [r.path for r in found])
        wanted = {
            sha256(files[f"{DELETED_TREE}/a.txt"]),
            sha256(files[f"{DELETED_TREE}/sub/b.txt"]),
        }
        with open_device(evidence) as handle:
            assert {sha256(read_record(handle, r)) for r in found} == wanted, fs


def test_ewf_stored_digest_is_recorded(cases: dict[str, Case]) -> None:
    with open_device(cases["mbr-extended-e01"].evidence) as handle:
        digest = handle.device.stored_digest
        assert handle.device.container == "ewf"
        assert len(handle.device.segments) > 1
    assert digest is not None
    md5 = digest.split()[0]
    raw = cases["mbr-extended-raw"].evidence.read_bytes()
    import hashlib

    assert md5 == "md5:" + hashlib.md5(raw).hexdigest()
    assert f"sha1:{hashlib.sha1(raw).hexdigest()}" in digest


def test_partitions_and_unallocated_regions(cases: dict[str, Case]) -> None:
    from triage.ingest.volumes import iter_partitions
    from triage.records import Partition

    case = cases["mbr-extended-raw"]
    with open_device(case.evidence) as handle:
        parts = [p for p in iter_partitions(handle) if isinstance(p, Partition)]
    allocated = [(p.offset, p.fs_type) for p in parts if p.allocated]
    assert allocated == list(case.partitions)
    gaps = [p for p in parts if not p.allocated]
    assert gaps and all(p.fs_type is None for p in gaps)
    # Free space follows every partition (the builder leaves a 1 MiB gap).
    for offset, _ in case.partitions:
        assert any(g.offset > offset for g in gaps)


def test_ntfs_alternate_data_stream_is_listed_and_read(cases: dict[str, Case]) -> None:
    hidden = source_files("ntfs")["readme.txt:hidden.png"]
    for name in ("bare-ntfs-raw", "gpt-raw"):
        case = cases[name]
        streams = [
            r
            for r in iter_files(case.evidence, carve=False)
            if isinstance(r, FileRecord) and r.path == "readme.txt:hidden.png"
        ]
        assert len(streams) == 1
        assert streams[0].media_type == "image/png"  # sniffed from the stream
        with open_device(case.evidence) as handle:
            assert read_record(handle, streams[0]) == hidden


def test_timestamps_come_from_the_filesystem(cases: dict[str, Case]) -> None:
    from triage.sample.disk import FIXED_MTIME

    for fs in ("ext4", "ntfs", "fat32", "exfat"):
        records = [
            r
            for r in iter_files(cases[f"bare-{fs}-raw"].evidence, carve=False)
            if isinstance(r, FileRecord) and r.path == "readme.txt"
        ]
        assert len(records) == 1
        assert records[0].mtime is not None
        assert abs(records[0].mtime - FIXED_MTIME) <= 2, fs  # FAT: 2 s steps


def test_a_reallocated_deleted_name_is_flagged_and_not_classified(
    tmp_path: Path,
) -> None:
    """fls "(realloc)": a deleted name whose inode a new file took over. Its
    size, times and bytes are the new file's; reading it as the deleted file
    would put the new file's picture at the deleted path."""
    require_tools("mke2fs", "debugfs", "fls")
    import subprocess

    from triage.sample.pictures import encode, make_picture

    src = tmp_path / "src"
    (src / "d1").mkdir(parents=True)
    (src / "d1" / "old.txt").write_bytes(b"the deleted file's own text\n" * 100)
    (src / "keep.txt").write_bytes(b"kept\n" * 50)
    picture = tmp_path / "new.jpg"
    picture.write_bytes(encode(make_picture(5, 64, 48), "JPEG"))
    image = tmp_path / "ext2.img"
    with open(image, "wb") as fh:
        fh.truncate(4 << 20)
    quiet = {"capture_output": True, "check": True}
    subprocess.run(["mke2fs", "-q", "-t", "ext2", "-d", str(src), str(image)], **quiet)
    # The name stays in d1 (merged into the entry before it) with its inode
    # number; the new file in the root reuses that free inode.
    subprocess.run(["debugfs", "-w", "-R", "rm /d1/old.txt", str(image)], **quiet)
    subprocess.run(
        ["debugfs", "-w", "-R", f"write {picture} new.jpg", str(image)], **quiet
    )
    fls = subprocess.run(["fls", "-r", "-p", str(image)], text=True, **quiet).stdout
    assert "(realloc):\td1/old.txt" in fls  # the case this test is about

    found = {
        r.path: r for r in iter_files(image, carve=False) if isinstance(r, FileRecord)
    }
    old, new = found["d1/old.txt"], found["new.jpg"]
    assert old.deleted and old.reallocated and old.inode == new.inode
    assert old.media_type is None  # never read as the deleted file
    assert new.media_type == "image/jpeg" and not new.reallocated
    assert not found["keep.txt"].reallocated
