"""Thumbnail caches: thumbcache_*.db, Thumbs.db and Android thumbnail files,
built at test time from the published layouts (``triage.sample.thumbcaches``)
with generated pictures; each picture is found with its address, a damaged
cache gives a recorded skip naming the entry and the rest is still read."""

from __future__ import annotations

import io
import struct
import zipfile

import olefile
import pytest
from PIL import Image

from triage.ingest.archives import iter_members, read_member
from triage.ingest.expanders import EXPANDERS
from triage.ingest.media import SIGNATURES, identify
from triage.records import FileRecord, Skipped, Source
from triage.sample import thumbcaches as tc
from triage.sample.pictures import encode, make_picture

RECORD = FileRecord("dev", "dev.raw", 0, 0, "x/thumbcache_256.db", 0, inode=5)


def _jpeg(seed: int, size: tuple[int, int] = (256, 192)) -> bytes:
    return encode(make_picture(seed, *size), "JPEG", 85)


def _expand(data: bytes) -> tuple[dict[str, FileRecord], list[Skipped]]:
    items = list(iter_members(io.BytesIO(data), RECORD))
    members = {i.archive_path[-1]: i for i in items if isinstance(i, FileRecord)}
    return members, [i for i in items if isinstance(i, Skipped)]


def test_caches_are_registered_expanders_with_content_signatures() -> None:
    for name in ("thumbcache", "thumbs.db", "android-thumbnails"):
        assert EXPANDERS.get(name).expands
    for name in ("thumbcache", "ole", "android-thumbdata", "android-imgcache"):
        assert name in SIGNATURES
    # thumbcache_idx.db ("IMMM") holds no pictures: not recognised, so no junk.
    assert identify(b"IMMM" + struct.pack("<I", 32) + bytes(4088)) is None


@pytest.mark.parametrize("version", sorted(tc.THUMBCACHE_VERSIONS.values()))
def test_thumbcache_entries_of_every_layout(version: int) -> None:
    pictures = [
        ("0000000000000000", b""),  # a placeholder entry: no picture
        ("1a2b3c4d5e6f7788", _jpeg(1)),
        ("00000000000000aa", encode(make_picture(2, 96, 72), "PNG")),
        ("00000000000000bb", encode(make_picture(3, 96, 72), "BMP")),
    ]
    data = tc.thumbcache_db(pictures, version=version)
    members, skipped = _expand(data)
    assert not skipped
    assert {k: m.media_type for k, m in members.items()} == {
        "entry 2 (1a2b3c4d5e6f7788)": "image/jpeg",
        "entry 3 (00000000000000aa)": "image/png",
        "entry 4 (00000000000000bb)": "image/bmp",
    }
    assert {m.source for m in members.values()} == {Source.THUMBNAIL_CACHE}
    for (_, picture), member in zip(pictures[1:], members.values(), strict=True):
        assert member.size == len(picture)
        assert read_member(data, member.archive_path) == picture
    assert members["entry 2 (1a2b3c4d5e6f7788)"].display_path == (
        "x/thumbcache_256.db!entry 2 (1a2b3c4d5e6f7788)"
    )


def _entry_offsets(data: bytes) -> list[int]:
    offsets, at = [], data.find(b"CMMM", 4)
    while at >= 0:
        offsets.append(at)
        at = data.find(b"CMMM", at + 4)
    return offsets


def test_truncated_thumbcache_is_skipped_at_the_entry_and_the_rest_read() -> None:
    data = tc.thumbcache_db(
        [("0000000000000001", _jpeg(1)), ("0000000000000002", _jpeg(2))]
    )
    second = _entry_offsets(data)[1]
    members, skipped = _expand(data[: second + 300])
    assert list(members) == ["entry 1 (0000000000000001)"]
    where = {s.location.inner: s.reason for s in skipped}
    assert "run past the end of the file" in where["entry 2"]
    assert where[None].startswith("truncated: the header says entries run to byte")
    assert all(s.location.path == RECORD.path for s in skipped)


def test_entry_whose_size_runs_past_the_file_is_skipped_and_the_next_read() -> None:
    entries = [(f"000000000000000{n}", _jpeg(n)) for n in (1, 2, 3)]
    data = bytearray(tc.thumbcache_db(entries))
    second = _entry_offsets(bytes(data))[1]
    struct.pack_into("<I", data, second + 4, 0x7FFF_FFF0)  # its entry size
    members, skipped = _expand(bytes(data))
    assert list(members) == ["entry 1 (0000000000000001)", "entry 3 (0000000000000003)"]
    assert [(s.location.inner, s.where) for s in skipped] == [
        ("entry 2", "x/thumbcache_256.db!entry 2")
    ]
    assert "run past the end of the file" in skipped[0].reason
    assert (
        read_member(bytes(data), members["entry 3 (0000000000000003)"].archive_path)
        == entries[2][1]
    )


def test_picture_running_past_its_entry_is_skipped() -> None:
    data = bytearray(
        tc.thumbcache_db(
            [("0000000000000001", _jpeg(1)), ("0000000000000002", _jpeg(2))]
        )
    )
    first = _entry_offsets(bytes(data))[0]
    struct.pack_into("<I", data, first + 24, 0x0100_0000)  # its data size
    members, skipped = _expand(bytes(data))
    assert list(members) == ["entry 2 (0000000000000002)"]
    assert [s.location.inner for s in skipped] == ["entry 1"]
    assert "runs past the entry's own size" in skipped[0].reason


def test_thumbs_db_catalog_names_and_sized_streams() -> None:
    holiday, other, sized = _jpeg(1, (96, 72)), _jpeg(2, (96, 72)), _jpeg(3)
    data = tc.thumbs_db(
        [("holiday.jpg", holiday)] + [(f"f{n}.jpg", other) for n in range(2, 13)],
        {"256_1a2b3c4d5e6f7788": sized},
    )
    members, skipped = _expand(data)
    assert not skipped
    assert "entry 1 (holiday.jpg)" in members
    assert "entry 12 (f12.jpg)" in members  # stream "21": the index backwards
    assert "entry 256_1a2b3c4d5e6f7788" in members
    assert len(members) == 13
    assert read_member(data, ("entry 1 (holiday.jpg)",)) == holiday
    assert read_member(data, ("entry 256_1a2b3c4d5e6f7788",)) == sized
    assert {m.media_type for m in members.values()} == {"image/jpeg"}


def test_ole_file_without_thumbnails_has_no_members() -> None:
    doc = tc.compound_file(
        {"WordDocument": b"\xec\xa5" + bytes(6000), "1Table": bytes(5000)}
    )
    assert _expand(doc) == ({}, [])


def test_thumbs_db_broken_fat_chain_is_skipped_and_the_rest_read() -> None:
    big = _jpeg(1, (320, 240))
    data = bytearray(tc.thumbs_db([("a.jpg", big), ("b.jpg", _jpeg(2, (96, 72)))]))
    with olefile.OleFileIO(bytes(data)) as ole:
        start = ole.direntries[ole._find("1")].isectStart
    fat_sector = struct.unpack_from("<I", data, 76)[0]
    struct.pack_into("<I", data, 512 + fat_sector * 512 + 4 * start, 0x00FF_FFF0)
    members, skipped = _expand(bytes(data))
    assert list(members) == ["entry 2 (b.jpg)"]
    assert [s.location.inner for s in skipped] == ["entry 1 (a.jpg)"]
    assert "unreadable" in skipped[0].reason


def test_android_thumbdata_and_imgcache_jpegs_by_signature() -> None:
    one, two = _jpeg(1, (96, 96)), _jpeg(2, (96, 96))
    data = tc.thumbdata({0: one, 5: two})
    # Junk that starts like a JPEG but is none is not reported.
    data = data[:40_000] + b"\xff\xd8\xff\xe0" + bytes(20) + data[40_024:]
    members, skipped = _expand(data)
    assert not skipped
    assert list(members) == ["offset 13", "offset 50013"]
    assert read_member(data, ("offset 50013",)) == two
    cache = tc.imgcache([("/sdcard/DCIM/a.jpg+0+1", one)])
    members, _ = _expand(cache)
    assert [read_member(cache, m.archive_path) for m in members.values()] == [one]


def test_thumbnails_decode_as_the_pictures_they_are() -> None:
    data = tc.thumbcache_db([("1a2b3c4d5e6f7788", _jpeg(7))])
    picture = read_member(data, ("entry 1 (1a2b3c4d5e6f7788)",))
    assert Image.open(io.BytesIO(picture)).size == (256, 192)


def test_a_cache_inside_a_zip_is_found_by_content() -> None:
    picture = _jpeg(9)
    cache = tc.thumbcache_db([("1a2b3c4d5e6f7788", picture)])
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("backup/renamed.bin", cache)
    data = buffer.getvalue()
    items = [
        i for i in iter_members(io.BytesIO(data), RECORD) if isinstance(i, FileRecord)
    ]
    assert [(i.archive_path, i.source) for i in items] == [
        (("backup/renamed.bin",), Source.ARCHIVE),
        (("backup/renamed.bin", "entry 1 (1a2b3c4d5e6f7788)"), Source.THUMBNAIL_CACHE),
    ]
    assert read_member(data, items[1].archive_path) == picture


def test_pictures_pasted_into_ole_documents_are_found_in_their_streams() -> None:
    pasted = _jpeg(5, (200, 150))
    other = encode(make_picture(6, 120, 90), "PNG")
    tiny = encode(make_picture(8, 16, 12), "PNG")
    assert len(tiny) < 4000
    # A Word 97 document keeps a pasted picture whole in its Data stream,
    # behind a picture header (PICF) and an OfficeArt BLIP header.
    data_stream = b"\x44\x00\x00\x00" + bytes(60) + b"\x1d\xf0" + bytes(20) + pasted
    doc = tc.compound_file({
        "WordDocument": b"\xec\xa5" + bytes(9000),
        "1Table": bytes(5000),
        "Data": data_stream + bytes(300),
        "Pictures": bytes(40) + other,
        "\x01Ole10Native": b"\x10\x00\x00\x00" + tiny,  # in the mini stream
    })  # fmt: skip
    members, skipped = _expand(doc)
    assert not skipped
    at = data_stream.index(pasted)
    assert set(members) == {
        f"Data offset {at:#x}",
        "Pictures offset 0x28",
        "\x01Ole10Native offset 0x4",
    }
    assert read_member(doc, ("\x01Ole10Native offset 0x4",)) == tiny
    found = members[f"Data offset {at:#x}"]
    assert found.source is Source.EMBEDDED and found.media_type == "image/jpeg"
    assert read_member(doc, (f"Data offset {at:#x}",)) == pasted
    assert read_member(doc, ("Pictures offset 0x28",)) == other


def test_a_thumbs_db_is_not_searched_as_a_document() -> None:
    data = tc.thumbs_db([("a.jpg", _jpeg(7, (96, 72)))])
    members, _ = _expand(data)
    assert list(members) == ["entry 1 (a.jpg)"]
    assert members["entry 1 (a.jpg)"].source is Source.THUMBNAIL_CACHE
