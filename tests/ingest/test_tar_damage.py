"""Damaged and hostile tar extractions (plain and gzip): a bad header in the
middle is recorded and walked past, a huge long-name header is never read
into memory, hard links keep their second path. Inputs are made here."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from triage.ingest import iter_files
from triage.ingest.content import read_record
from triage.ingest.evidence import identify, open_device
from triage.ingest.filesystems import tar_walk
from triage.records import FileRecord, Skipped
from triage.sample import phone

FILES = {
    "a/one.jpg": b"\xff\xd8\xff" + bytes(range(256)) * 70,
    "b/two.jpg": b"\xff\xd8\xff" + b"second" * 3000,
    "c/three.bin": bytes(range(256)) * 400,
}


def _walk(path: Path) -> tuple[dict[str, FileRecord], list[Skipped]]:
    items = list(iter_files(path, carve=False, archives=False))
    records = {i.path: i for i in items if isinstance(i, FileRecord)}
    return records, [i for i in items if isinstance(i, Skipped)]


def _read(path: Path, record: FileRecord) -> bytes:
    with open_device(path) as handle:
        return read_record(handle, record)


def _offsets(raw: bytes) -> list[int]:
    with tarfile.open(fileobj=io.BytesIO(raw)) as tar:
        return [m.offset for m in tar]


def _write(path: Path, raw: bytes, gz: bool) -> Path:
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


@pytest.mark.parametrize("gz", [False, True], ids=["tar", "tgz"])
def test_a_damaged_header_is_recorded_and_walked_past(tmp_path: Path, gz: bool) -> None:
    raw = bytearray(phone.write_ffs_tar(tmp_path / "x.tar", FILES).read_bytes())
    second, third = _offsets(bytes(raw))[1:3]
    raw[second + 100 : second + 110] = b"XXXXXXXXXX"  # the mode field: bad
    path = _write(tmp_path / ("bad.tgz" if gz else "bad.tar"), bytes(raw), gz)
    records, skips = _walk(path)
    assert sorted(records) == ["a/one.jpg", "c/three.bin"]
    assert _read(path, records["c/three.bin"]) == FILES["c/three.bin"]
    reasons = [s.reason for s in skips]
    assert any(
        f"tar header at byte {second} is invalid" in r and f"byte {third}" in r
        for r in reasons
    ), reasons


@pytest.mark.parametrize("gz", [False, True], ids=["tar", "tgz"])
def test_a_damaged_last_header_says_the_rest_is_lost(tmp_path: Path, gz: bool) -> None:
    raw = bytearray(phone.write_ffs_tar(tmp_path / "x.tar", FILES).read_bytes())
    third = _offsets(bytes(raw))[2]
    raw[third + 148 : third + 156] = b"99999999"  # the checksum: wrong
    path = _write(tmp_path / ("bad.tgz" if gz else "bad.tar"), bytes(raw), gz)
    records, skips = _walk(path)
    assert sorted(records) == ["a/one.jpg", "b/two.jpg"]
    assert [s.reason for s in skips] == [
        f"tar stops at byte {third}: invalid header; the rest is lost"
    ]


def test_a_zero_block_in_the_middle_is_walked_past(tmp_path: Path) -> None:
    raw = bytearray(phone.write_ffs_tar(tmp_path / "x.tar", FILES).read_bytes())
    second = _offsets(bytes(raw))[1]
    raw[second : second + 512] = bytes(512)
    records, skips = _walk(_write(tmp_path / "zero.tar", bytes(raw), False))
    assert sorted(records) == ["a/one.jpg", "c/three.bin"]
    assert len(skips) == 1 and "end-of-archive block at byte" in skips[0].reason


def test_a_header_cut_off_is_recorded(tmp_path: Path) -> None:
    raw = phone.write_ffs_tar(tmp_path / "x.tar", FILES).read_bytes()
    third = _offsets(raw)[2]
    records, skips = _walk(_write(tmp_path / "cut.tar", raw[: third + 200], False))
    assert sorted(records) == ["a/one.jpg", "b/two.jpg"]
    assert [s.reason for s in skips] == [
        f"tar cut off at byte {third + 200} inside a header; lost"
    ]


def _long_name_tgz(path: Path, size: int, kind: bytes) -> Path:
    """A tgz: a long-name (or pax) header declaring ``size`` bytes of
    zeros, then a member ``x.jpg``, then a member ``y.jpg``."""
    head = tarfile.TarInfo("././@LongLink")
    head.type, head.size = kind, size
    out = io.BytesIO()
    out.write(head.tobuf(format=tarfile.GNU_FORMAT)[:512])
    out.write(bytes(size + (-size) % 512))
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in (("x.jpg", b"\xff\xd8\xffx"), ("y.jpg", b"\xff\xd8\xffy")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(gzip.compress(out.getvalue(), 1))
    return path


@pytest.mark.parametrize(
    "kind", [tarfile.GNUTYPE_LONGNAME, tarfile.XHDTYPE], ids=["gnu", "pax"]
)
def test_a_huge_long_name_header_is_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: bytes
) -> None:
    path = _long_name_tgz(tmp_path / "long.tgz", 3 << 20, kind)
    assert identify(path).name == "ffs-tar"
    read: list[int] = []
    real = tar_walk._Tape.read

    def spy(self: tar_walk._Tape, size: int = -1) -> bytes:
        read.append(size)
        return real(self, size)

    monkeypatch.setattr(tar_walk._Tape, "read", spy)
    records, skips = _walk(path)
    assert sorted(records) == ["x.jpg", "y.jpg"]
    assert _read(path, records["y.jpg"]) == b"\xff\xd8\xffy"
    assert max(read) <= tar_walk.HEADER_LIMIT  # never the header's 3 MiB
    assert len(skips) == 1 and f"of {3 << 20} bytes at byte 0 not read" in (
        skips[0].reason
    )
    assert skips[0].location.inner == "x.jpg"


@pytest.mark.parametrize("gz", [False, True], ids=["tar", "tgz"])
def test_a_hard_link_is_listed_with_its_target_data(tmp_path: Path, gz: bool) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in FILES.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (("d/again.jpg", "./b/two.jpg"), ("d/gone", "x/nope")):
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.LNKTYPE, target
            tar.addfile(link)
    path = _write(tmp_path / "links.tar", out.getvalue(), gz)
    records, skips = _walk(path)
    assert sorted(records) == ["a/one.jpg", "b/two.jpg", "c/three.bin", "d/again.jpg"]
    assert _read(path, records["d/again.jpg"]) == FILES["b/two.jpg"]
    assert [(s.location.inner, "hard link to 'x/nope'" in s.reason) for s in skips] == [
        ("d/gone", True)
    ]


def test_a_bad_header_after_a_long_name_is_walked_past(tmp_path: Path) -> None:
    out = io.BytesIO()
    long = "d/" + "n" * 150 + ".jpg"  # a GNU long-name header, then its own
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, data in ((long, b"lost"), ("e/after.jpg", b"\xff\xd8\xffe")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = bytearray(out.getvalue())
    raw[1024 + 148 : 1024 + 156] = b"99999999"  # the member header after it
    path = _write(tmp_path / "long.tar", bytes(raw), False)
    records, skips = _walk(path)
    assert sorted(records) == ["e/after.jpg"]
    assert _read(path, records["e/after.jpg"]) == b"\xff\xd8\xffe"
    assert len(skips) == 1 and skips[0].reason.startswith(
        "tar header at byte 0 cannot be read ("
    ), skips[0].reason


def test_a_tgz_with_a_bad_crc_keeps_its_members(tmp_path: Path) -> None:
    raw = bytearray(
        phone.write_ffs_tar(tmp_path / "x.tgz", FILES, gz=True).read_bytes()
    )
    raw[-8:-4] = bytes(4)  # the gzip trailer's CRC-32: read at the very end
    records, skips = _walk(_write(tmp_path / "crc.tgz", bytes(raw), False))
    assert sorted(records) == sorted(FILES)
    assert len(skips) == 1 and "CRC check failed" in skips[0].reason, skips


def test_a_damaged_first_header_is_walked_past(tmp_path: Path) -> None:
    raw = bytearray(phone.write_ffs_tar(tmp_path / "x.tar", FILES).read_bytes())
    second = _offsets(bytes(raw))[1]
    raw[148:156] = b"99999999"  # the first header's checksum
    records, skips = _walk(_write(tmp_path / "first.tar", bytes(raw), False))
    assert sorted(records) == ["b/two.jpg", "c/three.bin"]
    assert [s.reason[:37] for s in skips] == ["tar header at byte 0 cannot be read ("]
    assert f"next valid header, byte {second}" in skips[0].reason
