"""A known picture whose original is gone survives in a thumbnail cache: a
scan of a disk image finds it in a Windows 10 thumbcache_256.db, an XP
Thumbs.db and an Android .thumbdata4 file, matches it perceptually to the
hash set built from the original, and stores it with its address; a device
of unrelated files (an OLE document, a thumbcache_idx.db, pictures) gives no
item from any cache."""

from __future__ import annotations

import csv
import json
import sqlite3
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from tests.scan.helpers import matched_entries
from triage.casework import build_queue, open_store
from triage.cli import main
from triage.hashmatch.hashing import perceptual_hashes
from triage.hashmatch.hashset import HashEntry, HashSet
from triage.sample import disk
from triage.sample import thumbcaches as tc
from triage.sample.pictures import encode, make_picture
from triage.scan import scan

EXPLORER = "Users/a/AppData/Local/Microsoft/Windows/Explorer"


def _thumb(img: Image.Image, box: int) -> bytes:
    small = img.copy()
    small.thumbnail((box, box), Image.Resampling.LANCZOS)
    return encode(small, "JPEG", 85)


@dataclass
class Case:
    db: Path
    evidence: Path
    negative: Path


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    root = tmp_path_factory.mktemp("thumbs")
    # The originals never reach the device (deleted and overwritten): only
    # the hash set knows them.
    originals = {k: make_picture(seed, 640, 480) for k, seed in
                 (("win10", 61), ("xp", 62), ("android", 63))}  # fmt: skip
    other = make_picture(64, 640, 480)
    files = {
        f"{EXPLORER}/thumbcache_256.db": tc.thumbcache_db(
            [
                ("0000000000000000", b""),
                ("2f4e6a8c0b1d3e5f", _thumb(other, 256)),
                ("1a2b3c4d5e6f7788", _thumb(originals["win10"], 256)),
            ]
        ),
        "Pics/Thumbs.db": tc.thumbs_db(
            [
                ("beach.jpg", _thumb(other, 96)),
                ("holiday.jpg", _thumb(originals["xp"], 96)),
            ]
        ),
        "sdcard/DCIM/.thumbnails/.thumbdata4--1967290299": tc.thumbdata(
            {0: _thumb(other, 96), 2: _thumb(originals["android"], 96)},
            slot_size=17_000,
        ),
        "Pics/kept.jpg": encode(make_picture(65, 320, 240), "JPEG", 90),
    }
    fat = disk.build_filesystem("fat16", files, root / "p1.fat")
    evidence = disk.build_disk(root / "laptop.raw", [fat], "mbr")
    negative_files = {
        f"{EXPLORER}/thumbcache_idx.db": b"IMMM"
        + struct.pack("<II", 32, 0)
        + bytes(8000),
        "Docs/letter.doc": tc.compound_file(
            {"WordDocument": b"\xec\xa5" + bytes(9000), "1Table": bytes(5000)}
        ),
        "Pics/a.jpg": encode(make_picture(66, 320, 240), "JPEG", 90),
        "Pics/b.png": encode(make_picture(67, 160, 120), "PNG"),
        "notes.txt": b"nothing here\n" * 400,
    }
    ext = disk.build_filesystem("ext2", negative_files, root / "neg.ext2")
    negative = disk.build_disk(root / "negative.raw", [ext], "gpt")

    def entry(eid: str, img: Image.Image) -> HashEntry:
        result = perceptual_hashes(encode(img, "PNG"), "image/png", where=eid)
        hashes = tuple((h.algorithm, h.value) for h in result.hashes
                       if h.variant == "original")  # fmt: skip
        return HashEntry(eid, "A", None, hashes)

    known = HashSet.from_entries(
        [entry(f"k-{k}", img) for k, img in originals.items()],
        name="known-bad",
        kind="known-bad",
    )
    known.write(root / "bad.ths")
    db = root / "case.db"
    scan([evidence, negative], [root / "bad.ths"], db, case_id="C", scheduler="sync")
    return Case(db, evidence, negative)


def test_known_pictures_only_in_thumbnail_caches_are_found_and_matched(
    case: Case,
) -> None:
    assert matched_entries(case.db, "laptop.raw") == {
        "k-win10": {f"{EXPLORER}/thumbcache_256.db!entry 3 (1a2b3c4d5e6f7788)"},
        "k-xp": {"Pics/Thumbs.db!entry 2 (holiday.jpg)"},
        "k-android": {"sdcard/DCIM/.thumbnails/.thumbdata4--1967290299!offset 34013"},
    }
    con = sqlite3.connect(f"file:{case.db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT source, COUNT(*) FROM media WHERE device_id = 'laptop.raw' "
            "GROUP BY source"
        ).fetchall()
        skipped = con.execute("SELECT location, reason FROM skipped").fetchall()
    finally:
        con.close()
    assert dict(rows) == {"filesystem": 1, "thumbnail-cache": 6}
    assert skipped == []


def test_device_of_unrelated_files_gives_no_cache_items(case: Case) -> None:
    con = sqlite3.connect(f"file:{case.db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT source, display_path FROM media WHERE device_id = 'negative.raw'"
        ).fetchall()
    finally:
        con.close()
    assert sorted(rows) == [("filesystem", "Pics/a.jpg"), ("filesystem", "Pics/b.png")]
    assert matched_entries(case.db, "negative.raw") == {}


def test_ls_json_shows_the_thumbnail_cache_source(case: Case) -> None:
    result = CliRunner().invoke(
        main, ["ls", "--media-only", "--json", "--no-carve", str(case.evidence)]
    )
    assert result.exit_code == 0, result.output
    items = [json.loads(line) for line in result.stdout.splitlines()]
    cached = {i["display_path"]: i["source"] for i in items if "skipped" not in i}
    assert cached[f"{EXPLORER}/thumbcache_256.db!entry 3 (1a2b3c4d5e6f7788)"] == (
        "thumbnail-cache"
    )
    assert cached["Pics/Thumbs.db!entry 2 (holiday.jpg)"] == "thumbnail-cache"


def test_queue_reason_says_the_items_survive_only_in_thumbnail_caches(
    case: Case,
) -> None:
    with open_store(case.db) as store:
        rows = {r.facts.device_id: r for r in build_queue(store)}
    assert ("3 known images only in a thumbnail cache (viewed on this device; "
            "original not found)") in rows["laptop.raw"].reason  # fmt: skip
    assert "thumbnail" not in rows["negative.raw"].reason


def test_exports_say_each_item_came_from_a_thumbnail_cache(
    case: Case, tmp_path: Path
) -> None:
    runner = CliRunner()
    for fmt in ("json", "csv"):
        out = tmp_path / f"export.{fmt}"
        result = runner.invoke(
            main, ["export", "--db", str(case.db), "--format", fmt, "-o", str(out)]
        )
        assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "export.json").read_text())
    text = json.dumps(doc)
    assert '"source": "thumbnail-cache"' in text
    with open(tmp_path / "export.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {r["source"] for r in rows} == {"thumbnail-cache"}
    assert all("!" in r["path"] for r in rows)  # the address inside the cache


def test_report_and_explain_name_the_thumbnail_cache(
    case: Case, tmp_path: Path
) -> None:
    runner = CliRunner()
    out = tmp_path / "report.html"
    result = runner.invoke(main, ["report", "--db", str(case.db), "-o", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert html.count('<span class="flag inner">thumbnail cache</span>') == 3
    explained = runner.invoke(
        main, ["queue", "--db", str(case.db), "--explain", "laptop.raw"]
    )
    assert explained.exit_code == 0, explained.output
    assert explained.output.count("[thumbnail cache only]") == 3
