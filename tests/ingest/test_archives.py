"""Zip walking: members, nesting, and every way an archive can be hostile."""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import io
import random
import struct
import subprocess
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tools
from triage.errors import ArchiveError
from triage.ingest.archives import (
    ArchiveLimits,
    iter_member_chunks,
    iter_members,
    read_member,
)
from triage.records import FileRecord, Skipped, Source
from triage.sample.pictures import encode, make_picture

OUTER = FileRecord(
    device_id="dev1",
    evidence="/evidence/dev1.raw",
    partition_index=1,
    partition_offset=1 << 20,
    path="Users/bob/holiday.zip",
    size=0,
    inode=42,
    deleted=True,
)


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return encode(make_picture(7, 96, 64), "JPEG")


@pytest.fixture(scope="module")
def png() -> bytes:
    return encode(make_picture(8, 80, 60), "PNG")


def make_zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


class Counting(io.BytesIO):
    """Bytes that count how much of them is read: a bomb that is not expanded
    is barely read (its compressed stream is a megabyte)."""

    consumed = 0

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self.consumed += len(data)
        return data

    def readinto(self, buffer: Any, /) -> int:
        n = super().readinto(buffer)
        self.consumed += n
        return n


def walk(
    data: bytes, limits: ArchiveLimits | None = None
) -> list[FileRecord | Skipped]:
    args = () if limits is None else (limits,)
    return list(iter_members(io.BytesIO(data), OUTER, *args))


def records(items: list[FileRecord | Skipped]) -> dict[tuple[str, ...], FileRecord]:
    return {i.archive_path: i for i in items if isinstance(i, FileRecord)}


def skips(items: list[FileRecord | Skipped]) -> list[Skipped]:
    return [i for i in items if isinstance(i, Skipped)]


def test_members_become_archive_records_with_sniffed_types(
    jpeg: bytes, png: bytes
) -> None:
    data = make_zip(
        {"DCIM/a.jpg": jpeg, "renamed.dat": png, "noext": jpeg, "notes.txt": b"hi" * 50}
    )
    items = walk(data)
    assert skips(items) == []
    got = records(items)
    assert set(got) == {("DCIM/a.jpg",), ("renamed.dat",), ("noext",), ("notes.txt",)}
    assert got[("DCIM/a.jpg",)].media_type == "image/jpeg"
    assert got[("renamed.dat",)].media_type == "image/png"
    assert got[("noext",)].media_type == "image/jpeg"
    assert got[("notes.txt",)].media_type is None
    member = got[("renamed.dat",)]
    assert member.source is Source.ARCHIVE
    assert member.size == len(png)
    assert (member.path, member.inode, member.deleted) == (OUTER.path, 42, True)
    assert member.display_path == "Users/bob/holiday.zip!renamed.dat"
    assert member.address == "p1:i42:Users/bob/holiday.zip!renamed.dat"
    assert read_member(data, ("renamed.dat",)) == png


def test_stored_and_other_methods(jpeg: bytes) -> None:
    for method in (zipfile.ZIP_STORED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA):
        data = make_zip({"x.bin": jpeg}, method)
        assert records(walk(data))[("x.bin",)].media_type == "image/jpeg"
        assert read_member(lambda d=data: io.BytesIO(d), ("x.bin",)) == jpeg


def test_nested_zips_are_walked_and_read_back(jpeg: bytes) -> None:
    inner = make_zip({"deep/pic.jpg": jpeg})
    middle = make_zip({"inner.zip": inner, "readme.txt": b"x"})
    outer = make_zip({"middle.zip": middle})
    items = walk(outer)
    assert skips(items) == []
    got = records(items)
    path = ("middle.zip", "inner.zip", "deep/pic.jpg")
    assert got[path].media_type == "image/jpeg"
    assert got[("middle.zip",)].media_type is None
    assert got[path].display_path == "Users/bob/holiday.zip!" + "!".join(path)
    assert read_member(outer, path) == jpeg
    assert b"".join(iter_member_chunks(outer, path, chunk_size=100)) == jpeg
    assert read_member(outer, path, limit=10) == jpeg[:10]


def test_nesting_beyond_max_depth_is_skipped_not_expanded(jpeg: bytes) -> None:
    data = make_zip({"pic.jpg": jpeg})
    for level in range(4):
        data = make_zip({f"level{level}.zip": data})
    items = walk(data)
    got = records(items)
    assert ("level3.zip", "level2.zip", "level1.zip") in got
    assert not any(len(path) > 3 for path in got)
    [skip] = skips(items)
    assert skip.where == "Users/bob/holiday.zip!level3.zip!level2.zip!level1.zip"
    assert "nested deeper than 3 levels" in skip.reason
    # The limit is a setting.
    deeper = records(walk(data, ArchiveLimits(max_depth=5)))
    assert deeper[("level3.zip", "level2.zip", "level1.zip", "level0.zip", "pic.jpg")]
    with pytest.raises(ArchiveError, match="nested deeper than 3"):
        read_member(data, ("level3.zip", "level2.zip", "level1.zip", "level0.zip"))


def _deflated_zeros_zip(total: int, declared: int | None = None) -> bytes:
    """A one-member zip of ``total`` zero bytes, built from repeated deflate
    blocks (full-flush blocks of zeros can be concatenated), optionally with a
    lying declared size."""
    block = 1 << 20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = compressor.compress(bytes(block)) + compressor.flush(zlib.Z_FULL_FLUSH)
    stream = piece * (total // block) + b"\x03\x00"  # empty final static block
    crc = 0
    zeros = bytes(block)
    for _ in range(total // block):
        crc = zlib.crc32(zeros, crc)
    size = total if declared is None else declared
    name = b"zeros.bin"
    local = struct.pack(
        "<IHHHHHIIIHH",
        0x04034B50,
        20,
        0,
        8,
        0,
        0x21,
        crc,
        len(stream),
        size,
        len(name),
        0,
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(stream), size, len(name),
        0, 0, 0, 0, 0, 0,
    )  # fmt: skip
    body = local + name + stream
    directory = central + name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(directory), len(body), 0)
    return body + directory + end


@pytest.fixture(scope="module")
def gigabyte_bomb() -> bytes:
    return _deflated_zeros_zip(1 << 30)


def test_gigabyte_of_zeros_is_a_bomb_reported_without_expanding(
    gigabyte_bomb: bytes, jpeg: bytes
) -> None:
    assert len(gigabyte_bomb) < 2 << 20
    # Sanity: the bomb is a valid zip whose member really is 1 GiB of zeros.
    with zipfile.ZipFile(io.BytesIO(gigabyte_bomb)) as archive:
        assert archive.getinfo("zeros.bin").file_size == 1 << 30
        with archive.open("zeros.bin") as member:
            assert member.read(1 << 16) == bytes(1 << 16)
    source = Counting(gigabyte_bomb)
    items = list(iter_members(source, OUTER))
    assert source.consumed < 64 * 1024  # of a 1 MiB deflate stream: never inflated
    [skip] = skips(items)
    assert skip.where == "Users/bob/holiday.zip!zeros.bin"
    assert "compression ratio" in skip.reason and "zip bomb" in skip.reason
    assert records(items)[("zeros.bin",)].media_type is None
    with pytest.raises(ArchiveError, match="possible zip bomb"):
        read_member(gigabyte_bomb, ("zeros.bin",))
    # Nested inside an ordinary zip, next to a picture: the picture still counts.
    outer = make_zip({"bomb.zip": gigabyte_bomb, "pic.jpg": jpeg}, zipfile.ZIP_STORED)
    items = walk(outer)
    assert records(items)[("pic.jpg",)].media_type == "image/jpeg"
    assert [s.where for s in skips(items)] == [
        "Users/bob/holiday.zip!bomb.zip!zeros.bin"
    ]


def test_total_declared_size_limit_catches_many_moderate_members() -> None:
    data = make_zip({f"f{i}.bin": bytes(1000) for i in range(20)})
    items = walk(data, ArchiveLimits(max_total_size=10_000))
    [skip] = skips(items)
    assert skip.where == "Users/bob/holiday.zip"
    assert "declare 20000 bytes expanded, over the limit of 10000" in skip.reason
    assert records(items) == {}


def test_lying_header_is_caught_while_streaming() -> None:
    # The directory says 100 bytes; the data inflates to 64 MiB of zeros.
    data = _deflated_zeros_zip(64 << 20, declared=100)
    source = Counting(data)
    items = list(iter_members(source, OUTER))
    assert source.consumed < 64 * 1024  # stopped after the declared 100 bytes
    [skip] = skips(items)
    assert "member unreadable" in skip.reason and "zeros.bin" in skip.where
    with pytest.raises(ArchiveError, match="zeros.bin"):
        read_member(data, ("zeros.bin",))


def test_ten_thousand_members_is_not_expanded() -> None:
    data = make_zip({f"{i}.txt": b"" for i in range(10_001)}, zipfile.ZIP_STORED)
    items = walk(data)
    assert len(items) == 1
    [skip] = skips(items)
    assert "10001 members exceed the limit of 10000" in skip.reason


def test_overlapping_members_bomb_is_detected(jpeg: bytes) -> None:
    # Two directory entries sharing one local header and one compressed stream.
    data = make_zip({"a.jpg": jpeg})
    cd_start = data.index(b"PK\x01\x02")
    eocd_start = data.index(b"PK\x05\x06")
    entry = data[cd_start:eocd_start]
    twin = entry.replace(b"a.jpg", b"b.jpg")
    directory = entry + twin
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 2, 2, len(directory), cd_start, 0)
    bomb = data[:cd_start] + directory + end
    items = walk(bomb)
    [skip] = skips(items)
    assert "overlap" in skip.reason and skip.where == "Users/bob/holiday.zip"


def test_corrupt_and_truncated_zips_are_skipped(jpeg: bytes) -> None:
    good = make_zip({"pic.jpg": jpeg})
    for bad in (good[: len(good) // 2], b"PK\x03\x04" + bytes(200), good[:-30]):
        [skip] = walk(bad)
        assert isinstance(skip, Skipped)
        assert skip.where == "Users/bob/holiday.zip"
        assert skip.reason.startswith("corrupt or unreadable zip")
        with pytest.raises(ArchiveError, match="pic.jpg"):
            read_member(bad, ("pic.jpg",))


def test_corrupt_member_data_skips_that_member_only(jpeg: bytes, png: bytes) -> None:
    data = bytearray(make_zip({"bad.jpg": jpeg, "good.png": png}))
    start = data.index(b"bad.jpg") + len(b"bad.jpg") + 10
    data[start : start + 50] = bytes(50)  # smash the deflate stream
    items = walk(bytes(data))
    got = records(items)
    assert got[("good.png",)].media_type == "image/png"
    assert got[("bad.jpg",)].media_type is None
    [skip] = skips(items)
    assert skip.where == "Users/bob/holiday.zip!bad.jpg"
    assert "member unreadable" in skip.reason


def test_encrypted_member_is_skipped(tmp_path: Path, jpeg: bytes, png: bytes) -> None:
    require_tools("zip")
    (tmp_path / "secret.jpg").write_bytes(jpeg)
    (tmp_path / "open.png").write_bytes(png)
    target = tmp_path / "mixed.zip"
    subprocess.run(
        ["zip", "-q", "-P", "hunter2", str(target), "secret.jpg"],
        cwd=tmp_path,
        check=True,
    )
    subprocess.run(["zip", "-q", str(target), "open.png"], cwd=tmp_path, check=True)
    data = target.read_bytes()
    items = walk(data)
    got = records(items)
    assert got[("open.png",)].media_type == "image/png"
    assert got[("secret.jpg",)].media_type is None
    [skip] = skips(items)
    assert skip.where == "Users/bob/holiday.zip!secret.jpg"
    assert "encrypted" in skip.reason
    with pytest.raises(ArchiveError, match="secret.jpg: member is encrypted"):
        read_member(data, ("secret.jpg",))


def test_unsupported_method_is_skipped(jpeg: bytes) -> None:
    data = bytearray(make_zip({"pic.jpg": jpeg}))
    for magic in (b"PK\x03\x04", b"PK\x01\x02"):
        at = data.index(magic)
        offset = at + (8 if magic == b"PK\x03\x04" else 10)
        data[offset : offset + 2] = struct.pack("<H", 9)  # deflate64
    [member, skip] = walk(bytes(data))
    assert isinstance(member, FileRecord) and isinstance(skip, Skipped)
    assert "unsupported compression method 9 (deflate64)" in skip.reason


def test_other_archive_formats_inside_a_zip_are_reported(jpeg: bytes) -> None:
    cab = b"MSCF\0\0\0\0" + bytes(24)  # 7z and RAR are expanded now
    data = make_zip({"pics.cab": cab, "pic.jpg.bz2": bz2.compress(jpeg), "p.jpg": jpeg})
    items = walk(data)
    assert records(items)[("p.jpg",)].media_type == "image/jpeg"
    assert {(s.where, s.reason) for s in skips(items)} == {
        ("Users/bob/holiday.zip!pics.cab", "cab archive recognised but not expanded"),
        (
            "Users/bob/holiday.zip!pic.jpg.bz2",
            "bzip2 archive recognised but not expanded",
        ),
    }


def make_tar(members: dict[str, bytes], mode: str = "w") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode=mode) as archive:
        folder = tarfile.TarInfo("photos")
        folder.type = tarfile.DIRTYPE
        archive.addfile(folder)  # a directory: not a member of its own
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mtime = len(data), 1_600_000_000
            archive.addfile(info, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_members_plain_and_compressed(mode: str, jpeg: bytes, png: bytes) -> None:
    data = make_tar({"photos/a.jpg": jpeg, "photos/b.dat": png, "x.txt": b"x"}, mode)
    items = walk(data)
    assert skips(items) == []
    got = records(items)
    assert set(got) == {("photos/a.jpg",), ("photos/b.dat",), ("x.txt",)}
    assert got[("photos/a.jpg",)].media_type == "image/jpeg"
    assert got[("photos/b.dat",)].media_type == "image/png"
    assert got[("photos/b.dat",)].size == len(png)
    assert got[("photos/b.dat",)].mtime == 1_600_000_000.0
    assert read_member(data, ("photos/b.dat",)) == png
    assert read_member(data, ("photos/a.jpg",)) == jpeg


def test_single_gzip_file_is_its_content(jpeg: bytes) -> None:
    named = gzip.compress(jpeg, mtime=0)  # no stored name: from the archive's name
    outer = dataclasses.replace(OUTER, path="DCIM/pic.jpg.gz")
    [member] = list(iter_members(io.BytesIO(named), outer))
    assert isinstance(member, FileRecord)
    assert member.archive_path == ("pic.jpg",)
    assert (member.media_type, member.size) == ("image/jpeg", len(jpeg))
    assert read_member(named, ("pic.jpg",)) == jpeg
    out = io.BytesIO()
    with gzip.GzipFile("IMG_0001.JPG", "wb", fileobj=out, mtime=0) as stream:
        stream.write(jpeg)
    [member] = list(iter_members(io.BytesIO(out.getvalue()), outer))
    assert isinstance(member, FileRecord) and member.archive_path == ("IMG_0001.JPG",)


def test_formats_nest_in_each_other(jpeg: bytes) -> None:
    inner_zip = make_zip({"deep.jpg": jpeg})
    tgz = make_tar({"bundle/inner.zip": inner_zip}, "w:gz")
    outer = make_zip({"backup.tgz": tgz})
    items = walk(outer)
    assert skips(items) == []
    path = ("backup.tgz", "bundle/inner.zip", "deep.jpg")
    assert records(items)[path].media_type == "image/jpeg"
    assert read_member(outer, path) == jpeg


def _gzip_of_zeros(total: int, tar_size: int | None = None) -> bytes:
    """A gzip of ``total`` zero bytes (optionally after a tar header declaring
    ``tar_size`` bytes), built from repeated full-flush deflate blocks."""
    block = 1 << 20
    head = b""
    if tar_size is not None:
        info = tarfile.TarInfo("zeros.bin")
        info.size = tar_size
        head = info.tobuf(format=tarfile.USTAR_FORMAT)
    first = zlib.compressobj(6, zlib.DEFLATED, -15)
    stream = first.compress(head) + first.flush(zlib.Z_FULL_FLUSH)
    zeros = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = zeros.compress(bytes(block)) + zeros.flush(zlib.Z_FULL_FLUSH)
    stream += piece * (total // block) + b"\x03\x00"
    crc = zlib.crc32(head)
    for _ in range(total // block):
        crc = zlib.crc32(bytes(block), crc)
    size = len(head) + total
    header = b"\x1f\x8b\x08\x00" + bytes(4) + b"\x00\xff"
    return header + stream + struct.pack("<II", crc, size & 0xFFFFFFFF)


def test_gzip_and_tar_gz_bombs_are_not_expanded() -> None:
    single = _gzip_of_zeros(1 << 30)
    tgz = _gzip_of_zeros(1 << 30, tar_size=1 << 30)
    assert len(single) < 2 << 20 and len(tgz) < 2 << 20
    source = Counting(single)
    member, skip = iter_members(source, OUTER)
    assert isinstance(skip, Skipped) and "possible zip bomb" in skip.reason
    assert isinstance(member, FileRecord) and member.size == 1 << 30
    assert source.consumed < 64 * 1024
    source = Counting(tgz)
    [skip] = iter_members(source, OUTER)
    assert isinstance(skip, Skipped) and skip.where == "Users/bob/holiday.zip"
    assert "compression ratio" in skip.reason
    # Reading the tar header costs one gzip input buffer (128 KiB), no more.
    assert source.consumed <= 3 * 128 * 1024
    with pytest.raises(ArchiveError, match="possible zip bomb"):
        read_member(lambda: Counting(tgz), ("zeros.bin",))


def test_truncated_or_damaged_tars_are_skipped_not_silently_short(jpeg: bytes) -> None:
    data = make_tar({"a.jpg": jpeg, "b.jpg": jpeg, "c.jpg": jpeg}, "w:gz")
    [skip] = walk(data[: len(data) // 2])
    assert isinstance(skip, Skipped) and skip.where == "Users/bob/holiday.zip"
    assert skip.reason.startswith("corrupt or unreadable tar: Compressed file ended")
    # tarfile itself stops listing quietly at a damaged header: we do not.
    plain = bytearray(make_tar({"a.jpg": jpeg, "b.jpg": jpeg, "c.jpg": jpeg}))
    second = 1024 + -(-len(jpeg) // 512) * 512  # dir entry, a.jpg header + data
    assert plain[second + 257 : second + 262] == b"ustar"
    plain[second : second + 100] = b"garbage!" * 12 + b"...."
    items = walk(bytes(plain))
    assert [i.archive_path for i in items if isinstance(i, FileRecord)] == [("a.jpg",)]
    [skip] = skips(items)
    assert skip.reason == (
        f"damaged tar header at byte {second}; members after it are not listed"
    )


def test_member_mtime_from_extended_timestamp(jpeg: bytes) -> None:
    info = zipfile.ZipInfo("pic.jpg", date_time=(2020, 5, 17, 10, 0, 0))
    info.extra = struct.pack("<HHBi", 0x5455, 5, 1, 1_589_709_600)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(info, jpeg)
        archive.writestr("plain.jpg", jpeg)
    got = records(walk(out.getvalue()))
    assert got[("pic.jpg",)].mtime == 1_589_709_600.0
    assert got[("plain.jpg",)].mtime is None  # DOS time has no time zone


def test_read_member_of_missing_name_names_it(jpeg: bytes) -> None:
    with pytest.raises(ArchiveError, match="nope.jpg: cannot open member"):
        read_member(make_zip({"pic.jpg": jpeg}), ("nope.jpg",))
    with pytest.raises(ArchiveError, match="not an archive member"):
        read_member(b"", ())


def test_mutated_archives_never_raise(jpeg: bytes) -> None:
    """Seeded fuzzing: flipped, deleted and inserted bytes in every format give
    records and Skipped, never an exception out of the walk or the read-back."""
    inner = make_zip({"a.jpg": jpeg})
    samples = [
        make_zip({"a.jpg": jpeg, "b/c.txt": b"hello" * 100, "in.zip": inner}),
        make_zip({"a.jpg": jpeg, "in.zip": inner}, zipfile.ZIP_STORED),
        make_tar({"a.jpg": jpeg, "in.zip": inner}),
        make_tar({"a.jpg": jpeg, "in.zip": inner}, "w:gz"),
        make_tar({"a.jpg": jpeg}, "w:xz"),
        gzip.compress(jpeg, mtime=0),
    ]
    rng = random.Random(20261121)
    limits = ArchiveLimits(max_total_size=64 << 20)
    outcomes = {"record": 0, "skipped": 0}
    for data in samples:
        for _ in range(60):
            mutated = bytearray(data)
            for _ in range(rng.randint(1, 8)):
                at = rng.randrange(len(mutated))
                roll = rng.random()
                if roll < 0.6:
                    mutated[at] = rng.randrange(256)
                elif roll < 0.8:
                    del mutated[at : at + rng.randint(1, 50)]
                else:
                    mutated[at:at] = rng.randbytes(rng.randint(1, 50))
            for item in iter_members(io.BytesIO(bytes(mutated)), OUTER, limits):
                if isinstance(item, Skipped):
                    outcomes["skipped"] += 1
                    continue
                outcomes["record"] += 1
                try:
                    read_member(bytes(mutated), item.archive_path, limits)
                except ArchiveError:
                    pass  # a clear, expected refusal
    assert outcomes["record"] > 0 and outcomes["skipped"] > 0


def test_cached_reads_parse_a_directory_once_and_extract_nesting_once(
    jpeg: bytes,
) -> None:
    members = {f"DCIM/IMG_{i:04d}.JPG": jpeg + bytes([i % 256]) for i in range(300)}
    big = make_zip(members, zipfile.ZIP_STORED)
    opened: list[Counting] = []

    def open_big() -> Counting:
        opened.append(Counting(big))
        return opened[-1]

    names = list(members)
    key = ("/evidence/dev1.raw", "p1:i42:big.zip")
    for name in names:
        assert read_member(open_big, (name,), cache_key=key) == members[name]
    cached_bytes = sum(source.consumed for source in opened)
    opened.clear()
    for name in names[:30]:
        assert read_member(open_big, (name,)) == members[name]
    uncached_bytes = sum(source.consumed for source in opened)
    # Without the cache every read parses the whole central directory again
    # (about 20 KiB here); with it, a read costs about the member itself.
    per_cached_read, per_uncached_read = cached_bytes / 300, uncached_bytes / 30
    assert per_cached_read < len(jpeg) + 1024
    assert per_uncached_read > per_cached_read + 15_000
    # Nested: the inner archive is extracted once, then served from the cache.
    outer = make_zip({"backup/inner.zip": big}, zipfile.ZIP_DEFLATED)
    opened.clear()

    def open_outer() -> Counting:
        opened.append(Counting(outer))
        return opened[-1]

    nested_key = ("/evidence/dev1.raw", "p1:i43:outer.zip")
    for name in names[:50]:
        path = ("backup/inner.zip", name)
        assert read_member(open_outer, path, cache_key=nested_key) == members[name]
    # The outer archive is opened for each read (to check its size) but read
    # through only once.
    assert len(opened) == 50
    assert sum(source.consumed for source in opened) < 2 * len(outer)
    # Another archive under another key is not confused with the first.
    other = make_zip({names[0]: b"other bytes"})
    assert read_member(other, (names[0],), cache_key=("/e", "p1:i9:o.zip")) == (
        b"other bytes"
    )


def test_large_nested_archives_are_cached_in_unnamed_files(
    jpeg: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from triage.ingest.archives import _ChainCache  # the read-back cache

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    cache = _ChainCache(nested=1)
    limits = ArchiveLimits(spool_in_memory=1024)
    spools = [io.BytesIO(make_zip({"a.jpg": jpeg})) for _ in range(2)]
    cache.keep_nested("first", spools[0], limits)
    # Nothing with a name: a killed process leaves no evidence-derived file.
    assert list(tmp_path.iterdir()) == []
    kept = cache.open_nested("first")
    other = cache.open_nested("first")
    assert kept is not None and other is not None
    assert kept.read(10) == spools[0].getvalue()[:10]
    assert other.read() == spools[0].getvalue()  # readers do not move each other
    cache.keep_nested("second", spools[1], limits)  # evicts "first"
    assert cache.open_nested("first") is None
    assert kept.read() == spools[0].getvalue()[10:]  # an open reader reads on
    kept.close()
    other.close()
    cache.clear()
    assert cache.open_nested("second") is None
    assert list(tmp_path.iterdir()) == []
