"""Acceptance (issue 13, archives): known pictures in a 7z, a 7z inside a zip
and a RAR5 are found and matched on a scanned disk image, with their
addresses in ``triage ls``; an encrypted 7z (member and headers), a 7z bomb,
a damaged RAR and one volume of a RAR set are recorded, each naming the file
and the inner location, and the rest of the disk is still read."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import require_tools
from tests.ingest.rar5 import write_rar5
from triage.cli import main
from triage.hashmatch.hashset import HashEntry, HashSet
from triage.sample import sevenzip_bytes, zip_bytes
from triage.sample.disk import build_filesystem
from triage.sample.pictures import encode, make_picture

KNOWN = {name: encode(make_picture(seed, 160, 120), "JPEG") for name, seed in
         (("seven", 301), ("nested", 302), ("rar", 303), ("locked", 304),
          ("before_damage", 305))}  # fmt: skip
UNRELATED = encode(make_picture(399, 160, 120), "JPEG")

#: Known picture -> the address it must be found at.
FOUND = {
    "seven": "Archives/pics.7z!DCIM/a.jpg",
    "nested": "Archives/bundle.zip!in/nested.7z!deep/b.jpg",
    "rar": "Archives/photos.rar!Photos/c.jpg",
    "before_damage": "Archives/broken.rar!first.jpg",
}


def _broken_rar() -> bytes:
    data = bytearray(
        write_rar5({"first.jpg": KNOWN["before_damage"], "second.jpg": UNRELATED})
    )
    data[data.index(b"second.jpg")] ^= 0xFF  # header CRC32 no longer fits
    return bytes(data)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    require_tools("mkfs.fat", "mcopy")
    root = tmp_path_factory.mktemp("7z-rar")
    files = {
        "Archives/pics.7z": sevenzip_bytes(
            {"DCIM/a.jpg": KNOWN["seven"], "x.txt": b"x"}
        ),
        "Archives/bundle.zip": zip_bytes(
            {"in/nested.7z": sevenzip_bytes({"deep/b.jpg": KNOWN["nested"]})},
            zipfile.ZIP_STORED,
        ),
        "Archives/photos.rar": write_rar5(
            {"Photos/c.jpg": KNOWN["rar"], "Photos/other.jpg": UNRELATED}
        ),
        "Archives/locked.7z": sevenzip_bytes({"d.jpg": KNOWN["locked"]}, password="pw"),
        "Archives/hidden.7z": sevenzip_bytes(
            {"d.jpg": KNOWN["locked"]}, password="pw", header_encryption=True
        ),
        "Archives/bomb.7z": sevenzip_bytes({"zeros.bin": bytes(32 << 20)}),
        "Archives/broken.rar": _broken_rar(),
        "Archives/set.part1.rar": write_rar5({"e.jpg": UNRELATED}, volume=True),
        "plain.jpg": UNRELATED,
    }
    disk = build_filesystem("fat32", files, root / "archives.img")
    entries = [
        HashEntry(
            f"k-{name}",
            "A",
            None,
            (
                ("md5", hashlib.md5(data).hexdigest()),
                ("sha1", hashlib.sha1(data).hexdigest()),
            ),
        )
        for name, data in KNOWN.items()
    ]
    hashset = root / "known.ths"
    HashSet.from_entries(entries, name="known", kind="known-bad").write(hashset)
    return disk, hashset


SKIPS = {
    "Archives/locked.7z!d.jpg": "encrypted: member content is encrypted",
    "Archives/hidden.7z": "encrypted: 7z headers are encrypted",
    "Archives/bomb.7z": "compression ratio",
    "Archives/broken.rar!first.jpg": "damaged or truncated rar archive after",
    "Archives/set.part1.rar": "one volume of a multi-volume RAR5 archive",
}


def test_scan_matches_pictures_in_7z_and_rar(
    image: tuple[Path, Path], tmp_path: Path
) -> None:
    disk, hashset = image
    db = tmp_path / "case.db"
    result = CliRunner().invoke(
        main,
        [
            "scan",
            str(disk),
            "--hashset",
            str(hashset),
            "--db",
            str(db),
            "--scheduler",
            "sync",
        ],  # fmt: skip
        catch_exceptions=False,
    )
    assert "Traceback" not in result.output
    con = sqlite3.connect(db)
    try:
        matched = dict(
            con.execute(
                "SELECT DISTINCT m.display_path, x.entry_id FROM matches x "
                "JOIN media m USING (device_id, address)"
            ).fetchall()
        )
        sources = dict(
            con.execute(
                "SELECT display_path, source FROM media WHERE display_path LIKE '%!%'"
            ).fetchall()
        )
        skipped = con.execute("SELECT location, reason FROM skipped").fetchall()
    finally:
        con.close()
    assert matched == {path: f"k-{name}" for name, path in FOUND.items()}
    assert {sources[p] for p in FOUND.values()} == {"archive"}
    reasons = dict(skipped)
    for where, reason in SKIPS.items():
        assert reasons[where].startswith(reason), (where, reasons.get(where))


def test_ls_lists_members_with_addresses_and_the_skips(
    image: tuple[Path, Path],
) -> None:
    disk, _ = image
    result = CliRunner().invoke(main, ["ls", "--json", "--no-carve", str(disk)])
    assert result.exit_code == 1  # read, with items skipped
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    listed = [o for o in objects if "skipped" not in o]
    members = {o["display_path"]: o for o in listed if o["archive_path"]}
    for path in FOUND.values():
        assert members[path]["source"] == "archive"
        assert members[path]["media_type"] == "image/jpeg"
    assert "Archives/photos.rar!Photos/other.jpg" in members
    assert "Archives/broken.rar!second.jpg" not in members
    skips = {o["skipped"]["where"]: o["skipped"]["reason"] for o in objects
             if "skipped" in o}  # fmt: skip
    for where, reason in SKIPS.items():
        assert reason in skips[where], (where, skips.get(where))
