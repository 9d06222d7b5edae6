"""Acceptance: a planted (generated, benign) picture is found wherever it hides.

One MBR disk is built at test time: a FAT16 partition and an NTFS partition
holding the picture renamed, extensionless, zipped, zipped twice, in a tar.gz,
deleted, and only in free clusters (a deleted file whose directory entry is
wiped; bytes written into clusters NTFS marks free), plus a copy in
unpartitioned space, next to a zip bomb, a too-deep nest, a corrupt zip and an
encrypted member. It is scanned once through ``iter_files`` and once through
``triage ls --media-only --json``; expected offsets come from searching the
image bytes and from Sleuth Kit's ``blkls``, not from the code under test.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from tests.conftest import require_tools
from tests.ingest.test_archives import _deflated_zeros_zip
from triage.ingest import iter_files
from triage.ingest.content import read_record
from triage.ingest.evidence import open_device
from triage.records import FileRecord, Skipped, Source
from triage.sample.disk import MIB, build_disk, build_filesystem, partition_offsets
from triage.sample.pictures import encode, make_picture


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


def make_zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def make_tar_gz(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


def encrypted_zip(tmp: Path, jpeg: bytes) -> bytes:
    (tmp / "secret.jpg").write_bytes(jpeg)
    target = tmp / "locked.zip"
    subprocess.run(
        ["zip", "-q", "-P", "pw", str(target), "secret.jpg"], cwd=tmp, check=True
    )
    return target.read_bytes()


def free_run(image: Path, unit: int, need: int) -> int:
    """Byte offset of ``need`` bytes of free space, by ``blkls`` (the oracle)."""
    listing = subprocess.run(
        ["blkls", "-l", str(image)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    free = sorted(
        int(line.split("|")[0]) for line in listing[3:] if line.endswith("|f")
    )
    blocks = -(-need // unit)
    # A run in the middle of the free space, well clear of anything recently freed.
    for i in range(len(free) // 2, len(free) - blocks):
        if free[i + blocks - 1] - free[i] == blocks - 1:
            return free[i] * unit
    raise AssertionError("no free run large enough")


@dataclass
class Scene:
    disk: Path
    jpeg: bytes  # the planted picture
    png: bytes  # a second planted picture
    fat_offset: int
    fat_end: int
    ntfs_offset: int
    free_at: int  # absolute offset of the PNG in NTFS free clusters
    gap_at: int  # absolute offset of the JPEG in unpartitioned space
    items: list[FileRecord | Skipped]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Scene:
    require_tools("mkfs.fat", "mcopy", "mkntfs", "ntfs-3g", "sfdisk", "blkls", "zip")
    tmp = tmp_path_factory.mktemp("planted")
    jpeg = encode(make_picture(2026, 120, 90), "JPEG")
    png = encode(make_picture(2027, 100, 75), "PNG")
    deep = jpeg
    for level in range(4):
        deep = make_zip({f"level{level}.zip" if level else "pic.jpg": deep})
    corrupt = make_zip({"pic.jpg": jpeg})
    corrupt = corrupt[: len(corrupt) - 40]
    fat_files = {
        "DCIM/holiday.dat": jpeg,
        "DCIM/noextension": jpeg,
        "Docs/album.zip": make_zip({"photos/one.jpg": jpeg, "notes.txt": b"x" * 100}),
        "Docs/nested.zip": make_zip({"inner.zip": make_zip({"two.jpg": jpeg})}),
        "Docs/backup.tar.gz": make_tar_gz({"home/pics/three.jpg": jpeg}),
        "Docs/bomb.zip": _deflated_zeros_zip(256 * MIB),
        "Docs/deep.zip": deep,
        "Docs/corrupt.zip": corrupt,
        "Docs/locked.zip": encrypted_zip(tmp, jpeg),
        "Trash/gone.jpg": jpeg,
        "PLANTED.JPG": jpeg,  # deleted, then its directory entry is wiped
        "readme.txt": b"nothing to see\n" * 10,
    }
    fat = build_filesystem(
        "fat16",
        fat_files,
        tmp / "fat.img",
        size_mb=24,
        deleted=["Trash/gone.jpg", "PLANTED.JPG"],
    )
    raw = bytearray(fat.read_bytes())
    entry = raw.find(b"\xe5LANTED JPG")
    assert entry > 0 and raw.count(b"\xe5LANTED JPG") == 1
    raw[entry : entry + 32] = bytes(32)
    fat.write_bytes(bytes(raw))

    ntfs = build_filesystem(
        "ntfs", {"Users/bob/del.jpg": jpeg, "keep.txt": b"k"}, tmp / "ntfs.img",
        size_mb=16, deleted=["Users/bob/del.jpg"],
    )  # fmt: skip
    free_in_fs = free_run(ntfs, 4096, len(png))
    with open(ntfs, "r+b") as fh:
        fh.seek(free_in_fs)
        fh.write(png)

    fat_size = fat.stat().st_size
    gap_at = MIB + -(-fat_size // MIB) * MIB + 8192
    disk = build_disk(tmp / "disk.raw", [fat, ntfs], "mbr", gap_data={gap_at: jpeg})
    fat_offset, ntfs_offset = partition_offsets(disk)
    items = list(iter_files(disk, "suspect-1", media_only=True))
    return Scene(
        disk=disk,
        jpeg=jpeg,
        png=png,
        fat_offset=fat_offset,
        fat_end=fat_offset + fat_size,
        ntfs_offset=ntfs_offset,
        free_at=ntfs_offset + free_in_fs,
        gap_at=gap_at,
        items=items,
    )


def media(scene: Scene) -> dict[str, FileRecord]:
    return {i.display_path: i for i in scene.items if isinstance(i, FileRecord)}


def skipped(scene: Scene) -> dict[str, Skipped]:
    return {s.where: s for s in scene.items if isinstance(s, Skipped)}


def read(scene: Scene, record: FileRecord) -> bytes:
    with open_device(scene.disk, "suspect-1") as handle:
        return read_record(handle, record)


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("DCIM/holiday.dat", Source.FILESYSTEM),
        ("DCIM/noextension", Source.FILESYSTEM),
        ("Docs/album.zip!photos/one.jpg", Source.ARCHIVE),
        ("Docs/nested.zip!inner.zip!two.jpg", Source.ARCHIVE),
        ("Docs/backup.tar.gz!home/pics/three.jpg", Source.ARCHIVE),
    ],
)
def test_renamed_and_zipped_picture_is_media(
    scene: Scene, path: str, source: Source
) -> None:
    record = media(scene)[path]
    assert record.media_type == "image/jpeg" and record.source is source
    assert record.partition_offset == scene.fat_offset
    assert read(scene, record) == scene.jpeg


@pytest.mark.parametrize("fs", ["fat", "ntfs"])
def test_deleted_picture_is_media(scene: Scene, fs: str) -> None:
    [record] = [
        r
        for r in media(scene).values()
        if r.deleted
        and r.source is Source.FILESYSTEM
        and r.partition_offset
        == (scene.fat_offset if fs == "fat" else scene.ntfs_offset)
    ]
    # Sleuth Kit shows a deleted FAT name's lost first letter as "_".
    assert record.path == ("Trash/_one.jpg" if fs == "fat" else "Users/bob/del.jpg")
    assert record.media_type == "image/jpeg"
    assert np.array_equal(pixels(read(scene, record)), pixels(scene.jpeg))


def carved_at(scene: Scene, offset: int) -> FileRecord:
    found = [r for r in media(scene).values() if r.carve_offset == offset]
    assert found, f"nothing carved at {offset}"
    [record] = found
    return record


def test_picture_only_in_fat_free_clusters_is_carved(scene: Scene) -> None:
    raw = scene.disk.read_bytes()
    carved = {
        r.carve_offset
        for r in media(scene).values()
        if r.source is Source.CARVED and r.partition_offset == scene.fat_offset
    }
    # Every copy of the picture in the FAT partition's bytes...
    copies, at = [], raw.find(scene.jpeg, scene.fat_offset, scene.fat_end)
    while at >= 0:
        copies.append(at)
        at = raw.find(scene.jpeg, at + 1, scene.fat_end)
    assert len(copies) == 4  # holiday.dat, noextension, gone.jpg, PLANTED.JPG
    # ... and those Sleuth Kit's blkls says lie in free sectors: the deleted ones.
    listing = subprocess.run(
        ["blkls", "-l", "-o", str(scene.fat_offset // 512), str(scene.disk)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    free = {int(line.split("|")[0]) for line in listing[3:] if line.endswith("|f")}
    in_free = {c for c in copies if (c - scene.fat_offset) // 512 in free}
    assert len(in_free) == 2
    assert carved & set(copies) == in_free
    # One of them is reachable by no directory entry at all: only carving finds it.
    names = [r.path for r in media(scene).values() if r.source is Source.FILESYSTEM]
    assert not any("LANTED" in n for n in names)
    for offset in in_free:
        record = carved_at(scene, offset)
        assert record.size == len(scene.jpeg) and record.media_type == "image/jpeg"
        assert record.path == f"$Carved/{offset}.jpg"
        assert np.array_equal(pixels(read(scene, record)), pixels(scene.jpeg))


def test_picture_written_into_ntfs_free_clusters_is_carved(scene: Scene) -> None:
    record = carved_at(scene, scene.free_at)
    assert record.media_type == "image/png" and record.size == len(scene.png)
    assert record.partition_offset == scene.ntfs_offset
    assert record.path == f"$Carved/{scene.free_at}.png"
    assert np.array_equal(pixels(read(scene, record)), pixels(scene.png))


def test_picture_in_unpartitioned_space_is_carved(scene: Scene) -> None:
    record = carved_at(scene, scene.gap_at)
    assert record.source is Source.CARVED and record.size == len(scene.jpeg)
    assert np.array_equal(pixels(read(scene, record)), pixels(scene.jpeg))


@pytest.mark.parametrize(
    ("where", "reason"),
    [
        ("Docs/bomb.zip!zeros.bin", "possible zip bomb"),
        ("Docs/deep.zip!level3.zip!level2.zip!level1.zip", "nested deeper than 3"),
        ("Docs/corrupt.zip", "corrupt or unreadable zip"),
        ("Docs/locked.zip!secret.jpg", "encrypted"),
    ],
)
def test_hostile_archives_are_skipped_and_the_scan_goes_on(
    scene: Scene, where: str, reason: str
) -> None:
    skip = skipped(scene)[where]
    assert reason in skip.reason and skip.device_id == "suspect-1"
    # ... and everything after them on the device was still found.
    assert scene.gap_at in {r.carve_offset for r in media(scene).values()}


def test_triage_ls_media_only_json_lists_the_same(scene: Scene) -> None:
    from triage.cli import main

    result = CliRunner().invoke(
        main, ["ls", "--media-only", "--json", str(scene.disk)], catch_exceptions=False
    )
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    listed = {d["display_path"]: d for d in lines if "skipped" not in d}
    skips = {d["skipped"]["where"] for d in lines if "skipped" in d}
    expected = {r.display_path for r in media(scene).values()}
    assert set(listed) == expected
    assert listed[f"<carved @ {scene.gap_at}>"]["carve_offset"] == scene.gap_at
    assert listed["Docs/nested.zip!inner.zip!two.jpg"]["archive_path"] == [
        "inner.zip",
        "two.jpg",
    ]
    assert all(d["media_type"].startswith("image/") for d in listed.values())
    assert {"Docs/bomb.zip!zeros.bin", "Docs/corrupt.zip"} <= skips
