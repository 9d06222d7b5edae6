"""Acceptance (issue 13): a known picture held in a browser-cache-like file
(binary header + JPEG + trailer) is found by the in-file signature scan of a
scanned disk image, matched, and stored with its offset (and one pasted into
a Word 97 document, in its Data stream); a device of
unrelated non-media files (noise, stray signatures, a cut, compressed or
mangled copy of the picture, a program holding it, text) gives no item; and
``--no-inner-sources`` leaves the inner sources out."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import require_tools
from tests.scan.helpers import matched_entries
from triage.cli import main
from triage.hashmatch.hashset import HashEntry, HashSet
from triage.sample import disk
from triage.sample.binaries import cache_entry, random_binary, unrelated_files
from triage.sample.pictures import encode, make_picture
from triage.sample.thumbcaches import compound_file
from triage.scan import scan

CACHE = "Users/a/AppData/Local/Chrome/Default/Cache/Cache_Data"


def _rows(db: Path, query: str, *args: object) -> list[tuple[object, ...]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(query, args).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def devices(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, int]:
    """(device, negative device, known-bad set, the JPEG's offset in its entry)."""
    require_tools("mkfs.fat", "mcopy")
    root = tmp_path_factory.mktemp("sigscan")
    known = encode(make_picture(91, 320, 240), "JPEG", 88)
    entry = cache_entry(known, "https://example.invalid/p/91.jpg")
    pasted = encode(make_picture(96, 240, 180), "JPEG", 85)
    letter = compound_file({
        "WordDocument": b"\xec\xa5" + bytes(9000),
        "Data": b"\x44\x00\x00\x00" + bytes(90) + pasted,
    })  # fmt: skip
    files = {
        f"{CACHE}/4f2a9c1be0d37a51_0": entry,
        f"{CACHE}/index-dir/the-real-index": random_binary(92, 600),
        f"{CACHE}/77aa01c2d3e4f506_0": cache_entry(
            encode(make_picture(93, 160, 120), "PNG"), "https://example.invalid/x.png"
        ),
        "Users/a/Pictures/kept.jpg": encode(make_picture(94, 320, 240), "JPEG", 90),
        "Users/a/Documents/letter.doc": letter,
    }
    device = disk.build_filesystem("fat16", files, root / "cache.raw", size_mb=16)
    negative = disk.build_filesystem(
        "fat16", unrelated_files(95, known), root / "unrelated.raw", size_mb=32
    )
    entries = [
        HashEntry(name, "A", None, (("md5", hashlib.md5(data).hexdigest()),))
        for name, data in (("k-cache", known), ("k-doc", pasted))
    ]
    bad = root / "bad.ths"
    HashSet.from_entries(entries, name="known-bad", kind="known-bad").write(bad)
    return device, negative, bad, entry.index(known)


def test_known_picture_in_a_browser_cache_entry_is_found_and_matched(
    devices: tuple[Path, Path, Path, int], tmp_path: Path
) -> None:
    device, negative, bad, at = devices
    db = tmp_path / "case.db"
    scan([device, negative], [bad], db, case_id="C", scheduler="sync")
    where = f"{CACHE}/4f2a9c1be0d37a51_0!offset {at:#x}"
    assert matched_entries(db, "cache.raw") == {
        "k-cache": {where},
        "k-doc": {"Users/a/Documents/letter.doc!Data offset 0x5e"},
    }
    rows = _rows(
        db,
        "SELECT display_path, source, archive_path, media_type FROM media "
        "WHERE device_id = 'cache.raw' AND source = 'embedded' ORDER BY 1",
    )
    assert [r[0] for r in rows] == [
        f"{CACHE}/4f2a9c1be0d37a51_0!offset {at:#x}",
        f"{CACHE}/77aa01c2d3e4f506_0!offset 0x35",  # 24-byte header + URL
        "Users/a/Documents/letter.doc!Data offset 0x5e",
    ]
    assert rows[0][1:] == ("embedded", json.dumps([f"offset {at:#x}"]), "image/jpeg")
    assert _rows(db, "SELECT location, reason FROM skipped") == []
    # Nothing at all from the device of unrelated files: no item, no match.
    assert _rows(db, "SELECT path FROM media WHERE device_id = 'unrelated.raw'") == []
    assert matched_entries(db, "unrelated.raw") == {}
    explained = CliRunner().invoke(
        main, ["queue", "--db", str(db), "--explain", "cache.raw"]
    )
    assert explained.exit_code == 0, explained.output
    assert "[inside other files only]" in explained.output
    report = tmp_path / "report.html"
    done = CliRunner().invoke(main, ["report", "--db", str(db), "-o", str(report)])
    assert done.exit_code == 0, done.output
    assert '<span class="flag inner">inside another file</span>' in report.read_text()


def test_no_inner_sources_leaves_the_cache_unsearched(
    devices: tuple[Path, Path, Path, int], tmp_path: Path
) -> None:
    device, _, bad, _ = devices
    db = tmp_path / "off.db"
    result = CliRunner().invoke(
        main,
        ["scan", str(device), "--hashset", str(bad), "--db", str(db),
         "--scheduler", "sync", "--no-inner-sources", "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert matched_entries(db, "cache.raw") == {}
    assert _rows(db, "SELECT count(*) FROM media WHERE source = 'embedded'") == [(0,)]
    [(parameters,)] = _rows(db, "SELECT parameters FROM runs")
    assert "signature-scan" in json.loads(parameters)["expanders_off"]


def test_ls_json_shows_the_offset_and_source(
    devices: tuple[Path, Path, Path, int],
) -> None:
    device, _, _, at = devices
    result = CliRunner().invoke(main, ["ls", str(device), "--media-only", "--json"])
    assert result.exit_code == 0, result.output
    items = [json.loads(line) for line in result.output.splitlines()]
    [found] = [i for i in items if i.get("archive_path") == [f"offset {at:#x}"]]
    assert found["source"] == "embedded"
    assert found["display_path"] == f"{CACHE}/4f2a9c1be0d37a51_0!offset {at:#x}"
