"""Inner sources: pictures inside files that are not archives (EXIF
thumbnails, MPF images, PDF image objects, SQLite BLOBs), and Office files'
media reached through the zip expander. Every file is generated here; damaged
ones are damaged exactly, and each problem must be a ``Skipped`` naming the
file and the place inside it, in bounded time, with the rest still read."""

from __future__ import annotations

import io
import sqlite3
import struct
import time

import numpy as np
import pytest
from PIL import Image

from triage.errors import ArchiveError
from triage.ingest.archives import iter_members, read_member
from triage.ingest.expanders import pdf_images, sqlite_blobs
from triage.ingest.expanders.exif_thumbnail import may_hold_pictures
from triage.ingest.media import sniff
from triage.records import FileRecord, Skipped, Source
from triage.sample import zip_bytes
from triage.sample.inner import (
    chat_database,
    jpeg_with_thumbnail,
    pdf_bytes,
    pdf_with_pictures,
)
from triage.sample.pictures import encode, make_picture

RECORD = FileRecord("dev", "dev.raw", 1, 0, "DCIM/x.jpg", 0, inode=7)


@pytest.fixture(scope="module")
def known() -> bytes:
    return encode(make_picture(21, 160, 120), "JPEG", 90)


@pytest.fixture(scope="module")
def main_jpeg() -> bytes:
    return encode(make_picture(22, 320, 240), "JPEG", 90)


@pytest.fixture(scope="module")
def png() -> bytes:
    return encode(make_picture(23, 96, 64), "PNG")


def walk(data: bytes) -> tuple[dict[tuple[str, ...], FileRecord], list[Skipped]]:
    items = list(iter_members(io.BytesIO(data), RECORD))
    found = {i.archive_path: i for i in items if isinstance(i, FileRecord)}
    return found, [i for i in items if isinstance(i, Skipped)]


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


# --- EXIF thumbnails and MPF images -------------------------------------------------


def test_exif_thumbnail_is_an_embedded_member_read_back_exactly(
    known: bytes, main_jpeg: bytes
) -> None:
    photo = jpeg_with_thumbnail(main_jpeg, known)
    assert Image.open(io.BytesIO(photo)).size == (320, 240)  # still a valid JPEG
    found, skipped = walk(photo)
    assert not skipped
    assert list(found) == [("exif-thumbnail",)]
    member = found[("exif-thumbnail",)]
    assert member.source is Source.EMBEDDED
    assert member.media_type == "image/jpeg" and member.size == len(known)
    assert member.display_path == "DCIM/x.jpg!exif-thumbnail"
    assert read_member(photo, member.archive_path) == known


def test_plain_jpeg_has_no_members(main_jpeg: bytes) -> None:
    assert walk(main_jpeg) == ({}, [])


def test_only_jpegs_with_exif_or_mpf_segments_are_opened(
    known: bytes, main_jpeg: bytes
) -> None:
    xmp = b"http://ns.adobe.com/xap/1.0/\0<x:xmpmeta/>"
    with_xmp = main_jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(xmp) + 2) + xmp
    with_xmp += main_jpeg[2:]
    assert not may_hold_pictures(main_jpeg[:4096])
    assert not may_hold_pictures(with_xmp[:4096])
    assert may_hold_pictures(jpeg_with_thumbnail(main_jpeg, known)[:4096])
    assert may_hold_pictures(main_jpeg[:2])  # too little read to tell: look


def test_mpf_second_image_is_found(known: bytes) -> None:
    out = io.BytesIO()
    first = make_picture(24, 320, 240)
    first.save(out, "MPO", save_all=True, append_images=[Image.open(io.BytesIO(known))])
    data = out.getvalue()
    found, skipped = walk(data)
    assert not skipped and list(found) == [("mpf-image 2",)]
    second = read_member(data, ("mpf-image 2",))
    assert sniff(second) == "image/jpeg"
    # Pillow re-encodes the appended frame: near the known picture, not equal.
    error = np.abs(pixels(second).astype(int) - pixels(known).astype(int)).mean()
    assert error < 8


def test_thumbnail_running_past_its_segment_is_skipped(
    known: bytes, main_jpeg: bytes
) -> None:
    photo = bytearray(jpeg_with_thumbnail(main_jpeg, known))
    # IFD1's JPEGInterchangeFormatLength entry: make it claim 1 MB.
    at = photo.find(struct.pack("<HHI", 0x202, 4, 1))
    photo[at + 8 : at + 12] = struct.pack("<I", 1_000_000)
    found, skipped = walk(bytes(photo))
    assert found == {}
    assert [s.where for s in skipped] == ["DCIM/x.jpg!exif-thumbnail"]
    assert "runs past the EXIF segment" in skipped[0].reason


def test_truncated_and_mutated_jpegs_never_raise(
    known: bytes, main_jpeg: bytes
) -> None:
    photo = jpeg_with_thumbnail(main_jpeg, known)
    rng = np.random.default_rng(5)
    for cut in (3, 10, 30, 200, len(known) // 2):
        walk(photo[:cut])
    for _ in range(200):
        damaged = bytearray(photo)
        for at in rng.integers(2, 400, size=4):
            damaged[at] = int(rng.integers(0, 256))
        walk(bytes(damaged))


# --- PDF image objects ----------------------------------------------------------------


def test_pdf_jpeg_is_its_bytes_and_flate_image_its_pixels(
    known: bytes, png: bytes
) -> None:
    pdf = pdf_with_pictures([known, png])
    found, skipped = walk(pdf)
    assert not skipped
    assert set(found) == {("object 5",), ("object 6",)}
    assert all(m.source is Source.EMBEDDED for m in found.values())
    assert read_member(pdf, ("object 5",)) == known  # DCTDecode: the JPEG itself
    flate = read_member(pdf, ("object 6",))
    assert sniff(flate) == "image/png" and found[("object 6",)].size == len(flate)
    assert np.array_equal(pixels(flate), pixels(png))


def test_pdf_looping_object_graph_is_bounded(known: bytes) -> None:
    pdf = pdf_with_pictures([known], looping=True)
    started = time.monotonic()
    found, skipped = walk(pdf)
    assert time.monotonic() - started < 5
    assert list(found) == [("object 5",)]  # the rest still read
    assert [s.where for s in skipped] == ["DCIM/x.jpg!object 7"]
    assert skipped[0].reason.startswith("image unreadable")


def test_pdf_gigabyte_stream_is_skipped_unread(known: bytes) -> None:
    pdf = pdf_with_pictures([known, known])
    # Object 6 declares a 1 GiB stream (the bytes are not there: it must not
    # be read, nor memory reserved for it).
    head = b"/Filter /DCTDecode /Length %d" % len(known)
    at = pdf.rfind(head)
    pdf = pdf[:at] + b"/Filter /DCTDecode /Length 1073741824" + pdf[at + len(head) :]
    started = time.monotonic()
    found, skipped = walk(pdf)
    assert time.monotonic() - started < 5
    assert list(found) == [("object 5",)]
    assert [s.where for s in skipped] == ["DCIM/x.jpg!object 6"]
    assert "1073741824 bytes" in skipped[0].reason
    with pytest.raises(ArchiveError, match="object 6"):
        read_member(pdf, ("object 6",))


def test_pdf_over_the_size_cap_is_skipped_unread(
    known: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    pdf = pdf_with_pictures([known])
    monkeypatch.setattr(pdf_images, "MAX_PDF", len(pdf) - 1)
    found, skipped = walk(pdf)
    assert found == {} and [s.where for s in skipped] == ["DCIM/x.jpg"]
    assert "over the" in skipped[0].reason


def test_pdf_without_images_and_garbage_pdf() -> None:
    text = pdf_bytes({1: b"<< /Type /Catalog /Pages 2 0 R >>",
                      2: b"<< /Type /Pages /Kids [] /Count 0 >>"})  # fmt: skip
    assert walk(text) == ({}, [])
    found, skipped = walk(b"%PDF-1.7\n" + bytes(range(256)) * 4)
    assert found == {}
    assert [s.where for s in skipped] == ["DCIM/x.jpg"]


# --- SQLite BLOBs -------------------------------------------------------------------


def test_sqlite_blob_pictures_are_found_with_table_column_and_row(
    known: bytes, png: bytes
) -> None:
    db = chat_database({12: known, 30: png}, filler_rows=40)
    found, skipped = walk(db)
    assert not skipped
    assert set(found) == {
        ("messages.thumb_image row 12",),
        ("messages.thumb_image row 30",),
    }
    member = found[("messages.thumb_image row 12",)]
    assert member.source is Source.EMBEDDED and member.media_type == "image/jpeg"
    assert member.display_path == "DCIM/x.jpg!messages.thumb_image row 12"
    assert read_member(db, member.archive_path) == known
    assert read_member(db, ("messages.thumb_image row 30",)) == png


def test_wal_mode_database_is_read_from_its_bytes(known: bytes) -> None:
    db = bytearray(chat_database({3: known}))
    db[18:20] = b"\x02\x02"  # as a WAL-mode database's header says
    found, skipped = walk(bytes(db))
    assert not skipped and list(found) == [("messages.thumb_image row 3",)]


def _root_page(db: bytes, table: str) -> int:
    con = sqlite3.connect(":memory:")
    con.deserialize(db)
    try:
        query = "SELECT rootpage FROM sqlite_master WHERE name = ?"
        return int(con.execute(query, (table,)).fetchone()[0])
    finally:
        con.close()


def test_sqlite_corrupt_page_skips_that_table_and_reads_the_rest(known: bytes) -> None:
    db = bytearray(chat_database({5: known}, filler_rows=200))
    page_size = int.from_bytes(db[16:18], "big")
    root = _root_page(bytes(db), "media_keys")
    at = (root - 1) * page_size
    db[at : at + page_size] = b"\xa5" * page_size  # not a b-tree page at all
    started = time.monotonic()
    found, skipped = walk(bytes(db))
    assert time.monotonic() - started < 5
    assert list(found) == [("messages.thumb_image row 5",)]
    assert [s.where for s in skipped] == ["DCIM/x.jpg!table media_keys"]
    assert "malformed" in skipped[0].reason


def test_sqlite_over_the_size_cap_is_skipped(
    known: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = chat_database({5: known})
    monkeypatch.setattr(sqlite_blobs, "MAX_DATABASE", len(db) - 1)
    found, skipped = walk(db)
    assert found == {}
    assert "exceeds the" in skipped[0].reason and skipped[0].where == "DCIM/x.jpg"


def test_truncated_database_never_raises(known: bytes) -> None:
    db = chat_database({5: known}, filler_rows=100)
    for cut in (100, 4096, len(db) // 2):
        found, skipped = walk(db[:cut])
        assert skipped  # something is reported, never silence


# --- nesting and Office files -------------------------------------------------------


def test_inner_sources_nest_in_archives_and_in_each_other(
    known: bytes, main_jpeg: bytes
) -> None:
    photo = jpeg_with_thumbnail(main_jpeg, known)
    archive = zip_bytes({"a/photo.jpg": photo, "b.pdf": pdf_with_pictures([photo])})
    found, skipped = walk(archive)
    assert not skipped
    thumbs = [p for p in found if p[-1] == "exif-thumbnail"]
    assert sorted(thumbs) == [
        ("a/photo.jpg", "exif-thumbnail"),
        ("b.pdf", "object 5", "exif-thumbnail"),
    ]
    assert found[("a/photo.jpg",)].source is Source.ARCHIVE
    for path in thumbs:
        assert found[path].source is Source.EMBEDDED
        assert read_member(archive, path) == known


def test_office_and_opendocument_media_are_reached_through_zip(
    known: bytes, png: bytes
) -> None:
    docx = zip_bytes({
        "[Content_Types].xml": b"<Types/>",
        "word/document.xml": b"<w:document/>",
        "word/media/image1.jpeg": known,
    })  # fmt: skip
    odt = zip_bytes({
        "mimetype": b"application/vnd.oasis.opendocument.text",
        "content.xml": b"<office/>",
        "Pictures/10000.png": png,
    })  # fmt: skip
    for data, member, content in (
        (docx, ("word/media/image1.jpeg",), known),
        (odt, ("Pictures/10000.png",), png),
    ):
        found, skipped = walk(data)
        assert not skipped
        assert [p for p, r in found.items() if r.media_type] == [member]
        assert read_member(data, member) == content
