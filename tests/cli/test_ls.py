"""``triage ls``: files, deleted files, archive members and carved items."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import require_tools
from tests.ingest.fls_oracle import fls_listing
from triage.cli import main
from triage.cli.ls import JSON_FIELDS
from triage.sample import zip_bytes
from triage.sample.disk import (
    MIB,
    build_disk,
    build_filesystem,
    partition_offsets,
    to_ewf,
)
from triage.sample.pictures import encode, make_picture

JPEG = encode(make_picture(11, 128, 96), "JPEG")
PNG = encode(make_picture(12, 64, 64), "PNG")
PLANTED = encode(make_picture(13, 120, 90), "JPEG")


FILES = {
    "notes.txt": b"shopping list\n",
    "photos/cat.jpg": JPEG,
    "photos/album.zip": zip_bytes({"inner/dog.png": PNG, "readme.txt": b"hi"}),
    "old.jpg": JPEG[:2000],
}


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    require_tools("mkfs.fat", "mcopy", "mdel", "mkntfs", "ntfs-3g", "sfdisk", "fls")
    root = tmp_path_factory.mktemp("ls")
    fat = build_filesystem("fat32", FILES, root / "fat.img", deleted=["old.jpg"])
    ntfs = build_filesystem("ntfs", {"x.txt": b"x" * 10}, root / "ntfs.img")
    planted_at = MIB + fat.stat().st_size + 64 * 1024  # in the free gap
    return (
        build_disk(
            root / "disk.dd", [fat, ntfs], "mbr", gap_data={planted_at: PLANTED}
        ),
        planted_at,
    )


def _run(*args: str | Path) -> Any:
    result = CliRunner().invoke(main, ["ls", *map(str, args)])
    assert "Traceback" not in result.output
    return result


def _objects(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_json_fields_and_listing_equal_fls(disk: tuple[Path, int]) -> None:
    path, _ = disk
    result = _run("--json", path)
    assert result.exit_code == 0, result.output
    objects = _objects(result.stdout)
    items = [o for o in objects if "skipped" not in o]
    assert all(tuple(sorted(o)) == tuple(sorted(JSON_FIELDS)) for o in items)
    for offset in partition_offsets(path):
        expected = fls_listing([path], offset)
        got: dict[tuple[str, int, bool], int] = {}
        for o in items:
            if o["source"] == "filesystem" and o["partition_offset"] == offset:
                key = (o["path"], o["size"], o["deleted"])
                got[key] = got.get(key, 0) + 1
        assert got == dict(expected)


def test_members_carved_and_media_types(disk: tuple[Path, int]) -> None:
    path, planted_at = disk
    items = [o for o in _objects(_run("--json", path).stdout) if "skipped" not in o]
    by_display = {o["display_path"]: o for o in items}
    member = by_display["photos/album.zip!inner/dog.png"]
    assert member["source"] == "archive" and member["media_type"] == "image/png"
    assert member["archive_path"] == ["inner/dog.png"] and member["size"] == len(PNG)
    assert by_display["photos/cat.jpg"]["media_type"] == "image/jpeg"
    assert by_display["notes.txt"]["media_type"] is None
    carved = [o for o in items if o["source"] == "carved"]
    assert any(
        o["carve_offset"] == planted_at and o["size"] == len(PLANTED) for o in carved
    )
    deleted = [o for o in items if o["deleted"]]
    assert deleted and all(not o["allocated"] for o in deleted)


def test_switches(disk: tuple[Path, int]) -> None:
    path, _ = disk
    media = _objects(_run("--json", "--media-only", path).stdout)
    assert media and all(o["media_type"] for o in media if "skipped" not in o)
    plain = _objects(_run("--json", "--no-archives", "--no-carve", path).stdout)
    sources = {o["source"] for o in plain if "skipped" not in o}
    assert sources == {"filesystem"}


def test_text_lines(disk: tuple[Path, int]) -> None:
    path, planted_at = disk
    result = _run(path)
    assert result.exit_code == 0
    lines = [line.split("\t") for line in result.stdout.splitlines()]
    assert all(len(fields) == 13 for fields in lines)
    cat = next(f for f in lines if f[-1] == "photos/cat.jpg")
    assert cat[0] == "disk.dd" and cat[2] == "filesystem" and cat[3] == "allocated"
    assert cat[7] == "image/jpeg" and cat[8].endswith("Z")
    assert any(f[-1] == f"<carved @ {planted_at}>" for f in lines)
    assert any(f[-1] == "photos/album.zip!inner/dog.png" for f in lines)


def test_several_devices_and_a_folder(disk: tuple[Path, int], tmp_path: Path) -> None:
    require_tools("ewfacquire")
    path, _ = disk
    to_ewf(path, tmp_path / "case" / "exhibit", segment_size=MIB)
    result = _run("--json", "--no-carve", path, tmp_path / "case")
    assert result.exit_code == 0, result.output
    devices = {o["device_id"] for o in _objects(result.stdout) if "skipped" not in o}
    assert devices == {"disk.dd", "exhibit.E01"}
