"""The in-file signature scan: whole JPEGs and PNGs inside files no signature
names (a browser cache entry, an unknown binary), found with the carvers'
parsers so that junk is not reported, addressed by offset, read back exactly;
programs, text and files over the size limit left alone; a search bounded in
time. Every file is generated here."""

from __future__ import annotations

import io
import time

import pytest

from triage.ingest.archives import ArchiveLimits, iter_members, read_member
from triage.ingest.expanders import EXPANDERS, inner_sources, signature_scan
from triage.ingest.expanders.base import UNRECOGNISED, expander_for, sniff_source
from triage.ingest.media import SNIFF_BYTES
from triage.records import FileRecord, Skipped, Source
from triage.sample import zip_bytes
from triage.sample.binaries import cache_entry, program, random_binary, unrelated_files
from triage.sample.inner import jpeg_with_thumbnail
from triage.sample.pictures import encode, make_picture

RECORD = FileRecord("dev", "dev.raw", 1, 0, "Cache/f_0001_0", 0, inode=9)


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return encode(make_picture(31, 200, 150), "JPEG", 90)


@pytest.fixture(scope="module")
def png() -> bytes:
    return encode(make_picture(32, 120, 90), "PNG")


DEFAULT = ArchiveLimits()


def walk(
    data: bytes, limits: ArchiveLimits = DEFAULT
) -> tuple[dict[tuple[str, ...], FileRecord], list[Skipped]]:
    items = list(iter_members(io.BytesIO(data), RECORD, limits))
    found = {i.archive_path: i for i in items if isinstance(i, FileRecord)}
    return found, [i for i in items if isinstance(i, Skipped)]


def test_registered_as_an_inner_source_for_unrecognised_files() -> None:
    scan = EXPANDERS.get("signature-scan")
    assert scan.signatures == (UNRECOGNISED,) and scan.inner
    assert "signature-scan" in inner_sources()
    sniffed = sniff_source(io.BytesIO(random_binary(1, 5000)))
    assert expander_for(sniffed) is scan
    assert expander_for(sniffed, frozenset({"signature-scan"})) is None


def test_browser_cache_entry_picture_is_found_and_read_back(
    jpeg: bytes, png: bytes
) -> None:
    entry = cache_entry(jpeg)
    data = entry + random_binary(2, 3000) + png + random_binary(3, 500)
    found, skipped = walk(data)
    at_jpeg, at_png = data.index(jpeg), data.index(png)
    assert list(found) == [(f"offset {at_jpeg:#x}",), (f"offset {at_png:#x}",)]
    assert not skipped
    first, second = found.values()
    assert first.source is Source.EMBEDDED and first.media_type == "image/jpeg"
    assert first.size == len(jpeg) and second.size == len(png)
    assert second.media_type == "image/png"
    assert first.display_path == f"Cache/f_0001_0!offset {at_jpeg:#x}"
    assert read_member(data, first.archive_path) == jpeg
    assert read_member(data, second.archive_path) == png


def test_a_picture_across_the_search_blocks_is_found(jpeg: bytes) -> None:
    # The JPEG's signature straddles the 1 MiB block boundary.
    data = random_binary(4, (1 << 20) - 1) + jpeg + random_binary(5, 100)
    found, _ = walk(data)
    assert list(found) == [(f"offset {(1 << 20) - 1:#x}",)]


@pytest.mark.parametrize("back", [1, 2, 7, 8, 9])
@pytest.mark.parametrize("buffered", [True, False])
def test_a_magic_across_a_block_of_a_file_system_file_is_found(
    jpeg: bytes, png: bytes, back: int, buffered: bool
) -> None:
    """Read through a ``RecordIO`` (a file of a file system: its blocks
    uncopied), or a plain file object: a PNG or JPEG whose magic ends ``back``
    bytes into the second block or less is found, once, and the other."""
    from triage.ingest.filesystems.base import RecordIO

    at = (1 << 20) - back
    data = random_binary(8, at) + png + random_binary(9, 3000) + jpeg + b"\0" * 50
    source: io.IOBase = (
        io.BufferedReader(RecordIO(lambda o, n: data[o : o + n], len(data)))
        if buffered
        else io.BytesIO(data)
    )
    found = list(signature_scan.find_pictures(source, len(data)))  # type: ignore[arg-type]
    assert found == [(at, len(png)), (data.index(jpeg), len(jpeg))]


def test_exif_thumbnail_of_a_found_jpeg_is_not_reported_twice(jpeg: bytes) -> None:
    thumb = encode(make_picture(33, 96, 72), "JPEG", 85)
    inner = jpeg_with_thumbnail(jpeg, thumb)
    data = random_binary(6, 4000) + inner + random_binary(7, 4000)
    found, _ = walk(data)
    outer = f"offset {4000:#x}"
    assert list(found) == [(outer,), (outer, "exif-thumbnail")]
    assert read_member(data, (outer, "exif-thumbnail")) == thumb


def test_unrelated_binaries_give_no_item(jpeg: bytes) -> None:
    started = time.monotonic()
    for path, data in unrelated_files(40, jpeg).items():
        found, skipped = walk(data)
        assert found == {} and skipped == [], path
    assert time.monotonic() - started < 10


def test_programs_text_and_small_files_are_not_opened(jpeg: bytes) -> None:
    scan = signature_scan.SignatureScan()
    text = ("Notes: " + "é" * 3000).encode()  # UTF-8, cut inside a character
    assert len(text[:SNIFF_BYTES]) == SNIFF_BYTES
    assert not scan.worth_opening(text[:SNIFF_BYTES])
    assert not scan.worth_opening(program(8, 1 << 16, jpeg)[:SNIFF_BYTES])
    assert not scan.worth_opening(b"\xff\xfe" + "text".encode("utf-16-le") * 600)
    assert not scan.worth_opening(random_binary(9, 3000))  # whole, no signature
    assert scan.worth_opening(random_binary(10, 3000) + jpeg[:50])
    assert scan.worth_opening(random_binary(11, SNIFF_BYTES))


def test_files_over_the_size_limit_are_not_searched(
    jpeg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = cache_entry(jpeg)
    monkeypatch.setattr(signature_scan, "MAX_SCANNED", len(data) - 1)
    assert walk(data) == ({}, [])


def test_a_search_past_its_deadline_is_recorded_with_the_offset(
    jpeg: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signature_scan, "DEADLINE", 0.0)
    found, skipped = walk(cache_entry(jpeg))
    assert found == {}
    [stop] = skipped
    assert stop.where == "Cache/f_0001_0"
    assert stop.reason.startswith("search for pictures stopped after 0 s at offset 0x")


def test_members_of_archives_are_searched_too(jpeg: bytes) -> None:
    entry = cache_entry(jpeg)
    data = zip_bytes({"Cache/f_0002_0": entry, "readme.txt": b"hello"})
    found, _ = walk(data)
    at = entry.index(jpeg)
    path = ("Cache/f_0002_0", f"offset {at:#x}")
    assert path in found and found[path].source is Source.EMBEDDED
    assert read_member(data, path) == jpeg


def test_turned_off_by_name(jpeg: bytes) -> None:
    off = ArchiveLimits(expanders_off=frozenset({"signature-scan"}))
    data = zip_bytes({"Cache/f_0002_0": cache_entry(jpeg)})
    found, skipped = walk(data, off)
    assert list(found) == [("Cache/f_0002_0",)] and skipped == []


def test_many_hits_are_bounded_by_the_member_limit(jpeg: bytes) -> None:
    data = b"".join(random_binary(k, 300) + jpeg for k in range(5))
    found, skipped = walk(data, ArchiveLimits(max_members=3))
    assert len(found) == 3
    assert "the rest not listed" in skipped[0].reason


def test_reading_back_an_offset_without_a_whole_picture_fails(jpeg: bytes) -> None:
    from triage.errors import ArchiveError

    data = cache_entry(jpeg)
    with pytest.raises(ArchiveError, match="no whole picture"):
        read_member(data, ("offset 0x10",))
    with pytest.raises(ArchiveError):
        read_member(data, ("row 3",))


def test_ntfs_metadata_files_are_not_searched_but_orphans_are(jpeg: bytes) -> None:
    import dataclasses

    data = cache_entry(jpeg)
    for path, expected in (("$LogFile", 0), ("$BadClus:$Bad", 0),
                           ("$Extend/$UsnJrnl:$J", 0), ("$OrphanFiles/f_01", 1),
                           ("$Recycle.Bin/S-1-5-21/$RAB12CD", 1)):  # fmt: skip
        record = dataclasses.replace(RECORD, path=path)
        found = [
            i
            for i in iter_members(io.BytesIO(data), record)
            if isinstance(i, FileRecord)
        ]
        assert len(found) == expected, path


def test_an_unknown_binary_past_the_depth_limit_is_no_skip(jpeg: bytes) -> None:
    inner = zip_bytes({"Cache/f_0003_0": cache_entry(jpeg)})
    data = zip_bytes({"in.zip": inner})
    found, skipped = walk(data, ArchiveLimits(max_depth=2))
    assert ("in.zip", "Cache/f_0003_0") in found and skipped == []
    found, _ = walk(data, ArchiveLimits(max_depth=3))
    assert len(found) == 3  # in.zip, the entry, the picture inside it
