"""Acceptance: known pictures hidden inside other files are found by a scan.

A FAT16 image holds a JPEG whose EXIF thumbnail is a known picture (its main
picture unrelated), a PDF with a known JPEG and a known picture stored as
Flate pixels, a DOCX with a known picture, and a chat database with a known
picture in a BLOB, beside a PDF with a looping object graph and a database
with a corrupt page. A second image holds the same kinds of files with
unrelated pictures only. Expected addresses come from how the files were
built; the scan is the in-process one, and its case database is read back.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import require_tools
from tests.scan.corpus import Corpus
from tests.scan.helpers import matched_entries
from triage.casework import build_queue, open_store
from triage.cli import main
from triage.hashmatch.hashing import perceptual_hashes
from triage.hashmatch.hashset import HashEntry, HashSet
from triage.sample import disk, zip_bytes
from triage.sample.inner import chat_database, jpeg_with_thumbnail, pdf_with_pictures
from triage.sample.pictures import encode, make_picture
from triage.scan import scan


def _jpeg(seed: int, size: tuple[int, int] = (160, 120)) -> bytes:
    return encode(make_picture(seed, *size), "JPEG", 90)


def _exact(entry: str, data: bytes) -> HashEntry:
    digests = (
        ("md5", hashlib.md5(data).hexdigest()),
        ("sha1", hashlib.sha1(data).hexdigest()),
    )
    return HashEntry(entry, "A", None, digests)


def _perceptual(entry: str, png: bytes) -> HashEntry:
    result = perceptual_hashes(png, "image/png", where=entry)
    hashes = tuple(
        (h.algorithm, h.value)
        for h in result.hashes
        if h.variant == "original" and h.algorithm in ("pdq", "phash")
    )
    return HashEntry(entry, "B", None, hashes)


def _docx(picture: bytes) -> bytes:
    return zip_bytes({
        "[Content_Types].xml": b"<Types/>",
        "word/document.xml": b"<w:document/>",
        "word/media/image1.jpeg": picture,
    })  # fmt: skip


def _corrupt_page(db: bytes, table: str) -> bytes:
    con = sqlite3.connect(":memory:")
    con.deserialize(db)
    query = "SELECT rootpage FROM sqlite_master WHERE name = ?"
    root = int(con.execute(query, (table,)).fetchone()[0])
    con.close()
    size = int.from_bytes(db[16:18], "big")
    at = (root - 1) * size
    return db[:at] + b"\xa5" * size + db[at + size :]


@pytest.fixture(scope="module")
def inner_case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(device with hidden known pictures, negative device, known-bad set)."""
    require_tools("mkfs.fat", "mcopy")
    root = tmp_path_factory.mktemp("inner")
    known = {name: _jpeg(seed) for name, seed in
             (("thumb", 61), ("pdf", 62), ("docx", 64), ("chat", 65))}  # fmt: skip
    flat = encode(make_picture(63, 200, 150), "PNG")  # in the PDF as pixels
    files = {
        "DCIM/IMG_0001.jpg": jpeg_with_thumbnail(_jpeg(70, (640, 480)), known["thumb"]),
        "Docs/a.pdf": pdf_with_pictures([known["pdf"], flat]),
        "Docs/b.docx": _docx(known["docx"]),
        "chat/msgstore.db": chat_database({12: known["chat"]}, filler_rows=30),
        "Docs/loop.pdf": pdf_with_pictures([_jpeg(71)], looping=True),
        "chat/broken.db": _corrupt_page(
            chat_database({2: _jpeg(72)}, filler_rows=200), "media_keys"
        ),
    }
    device = disk.build_filesystem("fat16", files, root / "inner.raw", size_mb=16)
    unrelated = {
        "DCIM/IMG_0002.jpg": jpeg_with_thumbnail(_jpeg(80, (640, 480)), _jpeg(81)),
        "DCIM/IMG_0003.jpg": _jpeg(82, (640, 480)),
        "Docs/c.pdf": pdf_with_pictures([_jpeg(83), encode(make_picture(84), "PNG")]),
        "Docs/d.docx": _docx(_jpeg(85)),
        "chat/msgstore.db": chat_database({4: _jpeg(86)}, filler_rows=30),
        "chat/empty.db": chat_database({}, filler_rows=30),
        "Docs/notes.txt": b"nothing to see\n" * 100,
    }
    negative = disk.build_filesystem("fat16", unrelated, root / "neg.raw", size_mb=16)
    entries = [_exact(f"k-{name}", data) for name, data in known.items()]
    entries.append(_perceptual("k-flat", flat))
    bad = root / "bad.ths"
    HashSet.from_entries(entries, name="known-bad", kind="known-bad").write(bad)
    return device, negative, bad


def _rows(db: Path, query: str, *args: object) -> list[tuple[object, ...]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(query, args).fetchall()
    finally:
        con.close()


def test_pictures_inside_other_files_are_found_and_matched(
    inner_case: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    device, negative, bad = inner_case
    db = tmp_path / "case.db"
    scan([device, negative], [bad], db, case_id="C", scheduler="sync")
    assert matched_entries(db, "inner.raw") == {
        "k-thumb": {"DCIM/IMG_0001.jpg!exif-thumbnail"},
        "k-pdf": {"Docs/a.pdf!object 5"},
        "k-flat": {"Docs/a.pdf!object 6"},
        "k-docx": {"Docs/b.docx!word/media/image1.jpeg"},
        "k-chat": {"chat/msgstore.db!messages.thumb_image row 12"},
    }
    embedded = _rows(
        db,
        "SELECT display_path, archive_path FROM media WHERE device_id = ? "
        "AND source = 'embedded' ORDER BY display_path",
        "inner.raw",
    )
    assert [p for p, _ in embedded] == [
        "DCIM/IMG_0001.jpg!exif-thumbnail",
        "Docs/a.pdf!object 5",
        "Docs/a.pdf!object 6",
        "Docs/loop.pdf!object 5",
        "chat/broken.db!messages.thumb_image row 2",
        "chat/msgstore.db!messages.thumb_image row 12",
    ]
    assert embedded[0][1] == '["exif-thumbnail"]'
    skipped = _rows(
        db, "SELECT location, reason FROM skipped WHERE device_id = ?", "inner.raw"
    )
    where = {location: reason for location, reason in skipped}
    assert set(where) == {"Docs/loop.pdf!object 7", "chat/broken.db!table media_keys"}
    assert "malformed" in where["chat/broken.db!table media_keys"]
    assert matched_entries(db, "neg.raw") == {}
    with open_store(db) as store:
        rows = {r.facts.device_id: r for r in build_queue(store)}
    # The DOCX picture is a zip member ("in archives"); the other four have
    # no copy but inside another file.
    reason = rows["inner.raw"].reason
    assert "1 in archives" in reason, reason
    assert (
        "4 known images only inside other files (EXIF thumbnails, documents or "
        "databases; original not found)"
    ) in reason, reason
    assert "inside other files" not in rows["neg.raw"].reason


def test_no_embedded_items_on_the_negative_device_of_the_scan_corpus(
    corpus: Corpus, tmp_path: Path
) -> None:
    db = tmp_path / "case.db"
    summary = scan([corpus.dev3], [corpus.bad_set], db, case_id="C", scheduler="sync")
    assert summary.devices[0].matches == 0
    rows = _rows(db, "SELECT count(*) FROM media WHERE source = 'embedded'")
    assert rows == [(0,)]


def test_ls_json_shows_the_embedded_source(inner_case: tuple[Path, Path, Path]) -> None:
    device, _, _ = inner_case
    result = CliRunner().invoke(main, ["ls", str(device), "--media-only", "--json"])
    items = [json.loads(line) for line in result.output.splitlines()]
    thumb = [i for i in items if i.get("display_path", "").endswith("exif-thumbnail")]
    assert len(thumb) == 1
    assert thumb[0]["source"] == "embedded"
    assert thumb[0]["archive_path"] == ["exif-thumbnail"]
    assert thumb[0]["media_type"] == "image/jpeg"
    skipped = [i["skipped"]["where"] for i in items if "skipped" in i]
    assert sorted(skipped) == [
        "Docs/loop.pdf!object 7",
        "chat/broken.db!table media_keys",
    ]
