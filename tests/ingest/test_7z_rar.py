"""7z and RAR through libarchive: members, read-back, limits, encryption,
volumes and damage.

7z archives are written here with py7zr; a RAR5 holding a generated picture
by ``tests/ingest/rar5.py`` (stored, from the published format); RAR4,
compressed RAR5 and encrypted RARs are libarchive's own test archives
(``tests/data/libarchive``, BSD licence).
"""

from __future__ import annotations

import dataclasses
import io
import os
import random
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.ingest.rar5 import write_rar5
from tests.ingest.test_archives import OUTER, Counting, records, skips, walk
from triage.errors import ArchiveError
from triage.ingest.archives import ArchiveLimits, iter_members, read_member
from triage.ingest.expanders import EXPANDERS, expandable
from triage.ingest.expanders.rar_headers import rar_facts
from triage.records import FileRecord, Skipped
from triage.sample import sevenzip_bytes, zip_bytes
from triage.sample.pictures import encode, make_picture

LIBARCHIVE_TESTS = Path(__file__).parent.parent / "data" / "libarchive"


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return encode(make_picture(71, 96, 64), "JPEG")


@pytest.fixture(scope="module")
def png() -> bytes:
    return encode(make_picture(72, 80, 60), "PNG")


def shipped(name: str) -> bytes:
    return (LIBARCHIVE_TESTS / name).read_bytes()


def test_7z_and_rar_are_expanders_now() -> None:
    assert expandable("7z") and expandable("rar")
    assert EXPANDERS.get("7z").expands and EXPANDERS.get("rar").expands


# --- 7z -------------------------------------------------------------------------


def test_7z_members_are_listed_sniffed_and_read_back(jpeg: bytes, png: bytes) -> None:
    data = sevenzip_bytes({"DCIM/a.jpg": jpeg, "notes.txt": b"hello", "b/c.png": png})
    items = walk(data)
    assert not skips(items)
    got = records(items)
    assert set(got) == {("DCIM/a.jpg",), ("notes.txt",), ("b/c.png",)}
    assert got[("DCIM/a.jpg",)].media_type == "image/jpeg"
    assert got[("b/c.png",)].media_type == "image/png"
    assert got[("notes.txt",)].media_type is None
    assert got[("DCIM/a.jpg",)].display_path == "Users/bob/holiday.zip!DCIM/a.jpg"
    assert got[("DCIM/a.jpg",)].size == len(jpeg)
    # py7zr writes one solid block: read-back streams from the start.
    assert read_member(data, ("b/c.png",)) == png
    assert read_member(data, ("DCIM/a.jpg",)) == jpeg
    assert read_member(data, ("DCIM/a.jpg",), limit=10) == jpeg[:10]


def test_7z_is_read_from_the_source_without_a_copy(jpeg: bytes) -> None:
    noise = random.Random(5).randbytes(1 << 20)  # incompressible
    data = sevenzip_bytes({"a.jpg": jpeg, "noise.bin": noise})
    source = Counting(data)
    got = records(list(iter_members(source, OUTER)))
    assert list(got) == [("a.jpg",), ("noise.bin",)]
    # Read once through callbacks (plus the sniff and the headers at the end).
    assert source.consumed <= len(data) + 128 * 1024


def test_7z_inside_a_zip(jpeg: bytes) -> None:
    inner = sevenzip_bytes({"deep/pic.jpg": jpeg})
    data = zip_bytes({"in/pics.7z": inner}, zipfile.ZIP_STORED)
    got = records(walk(data))
    assert got[("in/pics.7z", "deep/pic.jpg")].media_type == "image/jpeg"
    assert (
        got[("in/pics.7z", "deep/pic.jpg")].display_path
        == "Users/bob/holiday.zip!in/pics.7z!deep/pic.jpg"
    )
    assert read_member(data, ("in/pics.7z", "deep/pic.jpg")) == jpeg


def test_7z_encrypted_member_is_skipped_encrypted(jpeg: bytes) -> None:
    data = sevenzip_bytes({"secret.jpg": jpeg}, password="never asked")
    items = walk(data)
    [member] = records(items).values()
    [skipped] = skips(items)
    assert member.archive_path == ("secret.jpg",) and member.media_type is None
    assert skipped.where == "Users/bob/holiday.zip!secret.jpg"
    assert skipped.reason.startswith("encrypted")
    with pytest.raises(ArchiveError, match="encrypted"):
        read_member(data, ("secret.jpg",))


def test_7z_encrypted_headers_are_skipped_encrypted(jpeg: bytes) -> None:
    data = sevenzip_bytes({"secret.jpg": jpeg}, password="pw", header_encryption=True)
    [skipped] = walk(data)
    assert isinstance(skipped, Skipped)
    assert skipped.where == "Users/bob/holiday.zip"
    assert skipped.reason.startswith("encrypted: 7z headers are encrypted")


def test_7z_bomb_is_stopped_by_the_ratio_without_expanding() -> None:
    data = sevenzip_bytes({"zeros.bin": bytes(64 << 20)})  # 64 MiB -> ~10 KiB
    source = Counting(data)
    [skipped] = list(iter_members(source, OUTER))
    assert isinstance(skipped, Skipped) and "possible zip bomb" in skipped.reason
    assert source.consumed <= 2 * len(data)  # headers only: nothing expanded
    with pytest.raises(ArchiveError, match="possible zip bomb"):
        read_member(data, ("zeros.bin",))


def test_7z_limits_are_counted_while_streaming(jpeg: bytes) -> None:
    data = sevenzip_bytes({f"p{i}.jpg": jpeg for i in range(6)})
    few = ArchiveLimits(max_members=3)
    items = walk(data, few)
    assert len(records(items)) == 3
    [stop] = skips(items)
    assert "more than 3 members" in stop.reason
    small = ArchiveLimits(max_total_size=2 * len(jpeg) + 1)
    items = walk(data, small)
    assert len(records(items)) == 2
    assert "bytes expanded" in skips(items)[0].reason


def test_7z_nested_in_7z_counts_depth(jpeg: bytes) -> None:
    level2 = sevenzip_bytes({"x.jpg": jpeg})
    level1 = sevenzip_bytes({"inner.7z": level2})
    items = walk(level1, ArchiveLimits(max_depth=2))
    assert ("inner.7z", "x.jpg") in records(items)
    items = walk(level1, ArchiveLimits(max_depth=1))
    assert "nested deeper than 1 levels" in skips(items)[0].reason


def test_truncated_7z_is_reported(jpeg: bytes) -> None:
    data = sevenzip_bytes({"a.jpg": jpeg, "b.txt": b"b"})
    [skipped] = walk(data[: len(data) - 40])
    assert isinstance(skipped, Skipped)
    assert skipped.reason.startswith("damaged or truncated 7z archive")


# --- RAR ------------------------------------------------------------------------


def test_rar5_written_here_is_read_by_libarchive(jpeg: bytes, tmp_path: Path) -> None:
    data = write_rar5({"Photos/x.jpg": jpeg, "readme.txt": b"hello"})
    got = records(walk(data))
    assert got[("Photos/x.jpg",)].media_type == "image/jpeg"
    assert got[("Photos/x.jpg",)].mtime == 1_700_000_000.0
    assert read_member(data, ("Photos/x.jpg",)) == jpeg
    assert read_member(data, ("readme.txt",)) == b"hello"
    if shutil.which("bsdtar"):  # Debian libarchive-tools, when installed
        path = tmp_path / "x.rar"
        path.write_bytes(data)
        listing = subprocess.run(
            ["bsdtar", "-tf", str(path)], capture_output=True, text=True, check=True
        ).stdout.split()
        assert listing == ["Photos/x.jpg", "readme.txt"]


def test_rar5_damaged_header_keeps_the_members_before(jpeg: bytes) -> None:
    data = bytearray(write_rar5({"a.jpg": jpeg, "b.jpg": jpeg, "c.txt": b"c"}))
    # Flip a byte of the second file header's name: its CRC32 no longer fits.
    at = data.index(b"b.jpg")
    data[at] ^= 0xFF
    items = walk(bytes(data))
    assert list(records(items)) == [("a.jpg",)]
    [damage] = skips(items)
    assert damage.where == "Users/bob/holiday.zip!a.jpg"
    assert damage.reason.startswith("damaged or truncated rar archive after")
    assert "members after it are not listed" in damage.reason
    assert read_member(bytes(data), ("a.jpg",)) == jpeg


def test_rar5_truncated_in_a_member_names_it(jpeg: bytes) -> None:
    data = write_rar5({"a.jpg": jpeg, "b.jpg": jpeg})
    cut = data.index(b"b.jpg") + 100  # inside b.jpg's bytes
    items = walk(data[:cut])
    got = records(items)
    assert set(got) == {("a.jpg",), ("b.jpg",)}
    assert any(s.where.endswith("!b.jpg") for s in skips(items))


def test_rar5_encrypted_member_is_skipped_encrypted(jpeg: bytes) -> None:
    data = write_rar5(
        {"a.jpg": jpeg, "locked.jpg": jpeg}, encrypted=frozenset({"locked.jpg"})
    )
    items = walk(data)
    assert set(records(items)) == {("a.jpg",), ("locked.jpg",)}
    [skipped] = skips(items)
    assert skipped.where == "Users/bob/holiday.zip!locked.jpg"
    assert skipped.reason.startswith("encrypted")
    with pytest.raises(ArchiveError, match="encrypted"):
        read_member(data, ("locked.jpg",))


def test_one_volume_of_a_multi_volume_rar_is_not_expanded(jpeg: bytes) -> None:
    for data, version in (
        (write_rar5({"a.jpg": jpeg}, volume=True), 5),
        (shipped("test_rar_multivolume_single_file.part1.rar"), 4),
    ):
        [skipped] = walk(data)
        assert isinstance(skipped, Skipped) and skipped.where == OUTER.path
        assert skipped.reason == (
            f"one volume of a multi-volume RAR{version} archive; volumes are "
            "not joined, so it is not expanded"
        )


def test_first_part_of_a_split_7z_is_not_expanded_with_its_reason(
    jpeg: bytes,
) -> None:
    data = sevenzip_bytes({f"p{i}.jpg": jpeg + bytes([i]) for i in range(8)})
    part1 = data[: len(data) // 2]  # what 7-Zip's -v switch writes as .001
    split = dataclasses.replace(OUTER, path="Users/bob/holiday.7z.001")
    [skipped] = list(iter_members(io.BytesIO(part1), split))
    assert isinstance(skipped, Skipped) and skipped.where == split.path
    assert skipped.reason.startswith("first part of a split 7z archive")
    assert "parts are not joined, so it is not expanded" in skipped.reason
    # Named otherwise, the same bytes are a truncated 7z; a whole .001 is read.
    [truncated] = walk(part1)
    assert truncated.reason.startswith("damaged or truncated 7z archive")
    whole = list(iter_members(io.BytesIO(data), split))
    assert len(records(whole)) == 8


def test_rar4_from_libarchive_tests_is_read() -> None:
    data = shipped("test_read_format_rar.rar")
    items = walk(data)
    assert not skips(items)
    assert set(records(items)) == {("test.txt",), ("testdir/test.txt",)}
    assert read_member(data, ("testdir/test.txt",)) == b"test text document\r\n"


def test_compressed_rar5_from_libarchive_tests_is_read() -> None:
    data = shipped("test_read_format_rar5_compressed.rar")
    [member] = records(walk(data)).values()
    # libarchive's test writes k*k - 3k + 1 (at least 0) for k = 1..300.
    expected = b"".join(
        struct.pack("<I", max(k * k - 3 * k + 1, 0)) for k in range(1, 301)
    )
    assert member.size == len(expected)
    assert read_member(data, ("test.bin",)) == expected


@pytest.mark.parametrize(
    ("name", "where", "reason"),
    [
        (
            "test_read_format_rar_encryption_header.rar",
            [""],
            "encrypted: RAR4 headers are encrypted",
        ),
        (
            "test_read_format_rar_encryption_data.rar",
            ["!foo.txt", "!bar.txt"],
            "encrypted: member content is encrypted",
        ),
        (
            "test_read_format_rar5_encrypted.rar",
            ["!b.txt", "!d.txt"],
            "encrypted: member content is encrypted",
        ),
    ],
)
def test_encrypted_rars_from_libarchive_tests(
    name: str, where: list[str], reason: str
) -> None:
    found = skips(walk(shipped(name)))
    assert [s.where for s in found] == [OUTER.path + w for w in where]
    assert all(s.reason.startswith(reason) for s in found)


def test_rar_facts_read_only_headers() -> None:
    facts = rar_facts(io.BytesIO(shipped("test_read_format_rar5_encrypted.rar")))
    assert facts is not None and facts.version == 5
    assert facts.encrypted == {"b.txt", "d.txt"} and not facts.volume
    assert rar_facts(io.BytesIO(b"PK\x03\x04")) is None


def test_a_read_error_of_the_source_is_not_hidden(jpeg: bytes) -> None:
    """An error of the evidence itself (raised in libarchive's read callback)
    comes out as it was, not as a damaged archive."""
    data = sevenzip_bytes({"a.jpg": jpeg})

    class Failing(io.BytesIO):
        def read(self, size: int | None = -1, /) -> bytes:
            if self.tell() > 0:
                raise OSError("device gone")
            return super().read(size)

    with pytest.raises(OSError, match="device gone"):
        list(iter_members(Failing(data), OUTER))


def test_member_record_is_a_plain_file_record(jpeg: bytes) -> None:
    [member] = records(walk(sevenzip_bytes({"a.jpg": jpeg}))).values()
    assert isinstance(member, FileRecord) and member.inode == OUTER.inode


# --- reading members back -----------------------------------------------------------


class SharedCount:
    """Fresh files over the same bytes, counting what all of them read."""

    def __init__(self, data: bytes) -> None:
        self.data, self.consumed = data, 0

    def open(self) -> io.BytesIO:
        outer = self

        class Counted(io.BytesIO):
            def read(self, size: int | None = -1, /) -> bytes:
                got = super().read(size)
                outer.consumed += len(got)
                return got

        return Counted(self.data)


def _solid(count: int) -> tuple[bytes, dict[str, bytes]]:
    noise = random.Random(9)
    members = {f"p{i:03d}.bin": noise.randbytes(32 * 1024) for i in range(count)}
    return sevenzip_bytes(members), members


def test_solid_7z_read_back_in_order_is_one_pass() -> None:
    data, members = _solid(40)
    shared = SharedCount(data)
    for name, content in members.items():
        got = read_member(shared.open, (name,), cache_key=("solid", 1))
        assert got == content
    # A walk from the start per member would read ~20 times the archive.
    assert shared.consumed <= 3 * len(data)


def test_read_back_out_of_order_and_from_threads_is_still_right() -> None:
    from concurrent.futures import ThreadPoolExecutor

    data, members = _solid(12)
    names = list(members)
    shuffled = names[::-1] + names[::2]
    for name in shuffled:
        assert read_member(data, (name,), cache_key=("solid", 2)) == members[name]

    def read(name: str) -> bool:
        return read_member(data, (name,), cache_key=("solid", 3)) == members[name]

    with ThreadPoolExecutor(4) as pool:
        assert all(pool.map(read, names * 3))


def test_many_archives_read_back_at_once_evict_cursors(jpeg: bytes) -> None:
    from triage.ingest.expanders.libarchive_formats import MAX_CURSORS

    archives = [
        sevenzip_bytes({"a.jpg": jpeg, f"{i}.txt": b"%d" % i}) for i in range(8)
    ]
    assert len(archives) > MAX_CURSORS
    for round_ in range(2):
        for i, data in enumerate(archives):
            got = read_member(data, (f"{i}.txt",), cache_key=("many", i))
            assert got == b"%d" % i, round_


def test_without_libarchive_7z_and_rar_are_reported_not_expanded() -> None:
    """libarchive-c loads the library named by $LIBARCHIVE: a missing one
    leaves triage running, with 7z and RAR recorded as not expanded."""
    import sys

    code = (
        "from triage.ingest.expanders import EXPANDERS, not_expanded_reason\n"
        "assert not EXPANDERS.get('7z').expands\n"
        "print(not_expanded_reason('rar'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={
            **os.environ,
            "LIBARCHIVE": "/nonexistent/libarchive.so.13",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("rar archive not expanded: libarchive is not")
