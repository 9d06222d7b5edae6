"""Containers: recognised by signature, segments found from the first one."""

from __future__ import annotations

import ctypes
import hashlib
import random
import shutil
from pathlib import Path

import pytest

from tests.conftest import require_tools
from triage.errors import EvidenceError
from triage.ingest.evidence import (
    CONTAINERS,
    Container,
    discover_segments,
    find_evidence,
    identify,
    open_device,
    register,
)
from triage.sample.disk import MIB, build_disk, build_filesystem, to_ewf, to_split_raw

FILES = {"x.txt": b"x" * 3000, "y/z.bin": bytes(range(256)) * 4}


@pytest.fixture(scope="module")
def disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tools("mkfs.fat", "mcopy", "sfdisk")
    root = tmp_path_factory.mktemp("ev")
    fat = build_filesystem("fat16", FILES, root / "fat.img")
    return build_disk(root / "disk.dd", [fat], "mbr")


def test_registry_has_every_container_once() -> None:
    assert set(CONTAINERS) == {"ewf", "vmdk", "vhdx", "vhd", "qcow", "split", "raw",
                               "ufdr", "ffs-zip", "ffs-tar", "android-backup",
                               "apfs", "itunes-backup", "folder"}  # fmt: skip
    with pytest.raises(ValueError, match="already registered"):
        register(CONTAINERS.get("raw"))


def test_raw_opens_and_reads(disk: Path) -> None:
    with open_device(disk) as handle:
        assert handle.device.container == "raw"
        assert handle.device.size == disk.stat().st_size == handle.size
        assert handle.device.segments == (str(disk.absolute()),)
        assert handle.device.device_id == "disk.dd"
        assert handle.read(510, 2) == b"\x55\xaa"
        assert handle.read(handle.size - 10, 100) == disk.read_bytes()[-10:]
        assert handle.read(handle.size + 5, 10) == b""
        assert handle.bytes_read == 12
    with open_device(disk, device_id="EXHIBIT-7") as handle:
        assert handle.device.device_id == "EXHIBIT-7"


@pytest.mark.parametrize("naming", ["000", "001", "aa"])
def test_split_raw_found_from_first_segment(
    disk: Path, tmp_path: Path, naming: str
) -> None:
    segments = to_split_raw(disk, tmp_path, 3 * MIB, naming)
    assert len(segments) >= 2
    assert discover_segments(segments[0]) == tuple(map(str, segments))
    with open_device(segments[0]) as handle:
        assert handle.device.container == "split"
        assert handle.size == disk.stat().st_size
        # A read across a segment boundary joins the pieces.
        assert (
            handle.read(3 * MIB - 7, 14) == disk.read_bytes()[3 * MIB - 7 : 3 * MIB + 7]
        )
    assert find_evidence(tmp_path) == [segments[0]]


def test_ewf_recognised_by_signature_not_name(
    disk: Path, tmp_path: Path, ewf_reader: str
) -> None:
    require_tools("ewfacquire")
    segments = to_ewf(disk, tmp_path / "e" / "img")
    renamed = tmp_path / "exhibit.bin"
    shutil.copy(segments[0], renamed)
    assert identify(renamed).name == "ewf"
    with open_device(renamed) as handle:
        assert handle.device.container == "ewf"
        assert handle.read(0, handle.size) == disk.read_bytes()
        md5 = hashlib.md5(disk.read_bytes()).hexdigest()
        assert handle.device.stored_digest is not None
        assert handle.device.stored_digest.startswith(f"md5:{md5} sha1:")
    # A raw image named like an E01 is still raw.
    fake = tmp_path / "fake.E01"
    shutil.copy(disk, fake)
    assert identify(fake).name == "raw"


@pytest.mark.parametrize("compression", ["empty-block", "fast", "best"])
def test_both_ewf_readers_give_the_same_bytes(
    disk: Path, tmp_path: Path, compression: str
) -> None:
    """The system libewf (default) and pyewf (fallback) read every byte of a
    multi-segment E01, compressed or not, the same, and report the same
    stored digests; an EWF2 image (Ex01) is never given to the system one."""
    import subprocess

    import pyewf

    from triage.ingest.containers import ewf as evidence

    require_tools("ewfacquire")
    if evidence._SystemEwf._library() is None:
        pytest.skip("the system libewf (libewf2) is not installed")
    big = tmp_path / "big.dd"
    noise = random.Random(3).randbytes(3 * MIB)  # does not compress: segments
    big.write_bytes(disk.read_bytes() + noise + (b"evidence text " * 4096) * 40)
    out = tmp_path / "e" / "img"
    out.parent.mkdir()
    subprocess.run(
        ["ewfacquire", "-u", "-q", "-t", str(out), "-f", "encase6", "-c",
         compression, "-S", str(MIB), "-d", "sha1", str(big)],
        check=True, capture_output=True,
    )  # fmt: skip
    segments = pyewf.glob(str(out) + ".E01")
    assert len(segments) >= 2
    with open_device(segments[0]) as system:
        assert isinstance(system._reader._handle, evidence._SystemEwf)  # noqa: SLF001
        got = system.read(0, system.size)
        digest = system.device.stored_digest
    assert got == big.read_bytes()
    handle = pyewf.handle()
    handle.open(segments)
    assert handle.read_buffer_at_offset(handle.get_media_size(), 0) == got
    stored = handle.get_hash_values()
    handle.close()
    assert digest == f"md5:{stored['MD5']} sha1:{stored['SHA1']}"
    # A segment cut short after it was opened: the system libewf reads the
    # lost chunk as zeros and lists it among its checksum errors, so it is
    # reported as damage (pyewf raises instead: a read error, also reported).
    last = Path(segments[-1])
    with open_device(segments[0]) as cut:
        last.write_bytes(last.read_bytes()[: last.stat().st_size // 4])
        assert cut.read(len(got) - 512, 512) == bytes(512)
        ((lo, hi),) = cut.take_damage()
        assert lo <= len(got) - 512 < hi
    # libewf's own words on a failed call, and no call on a closed image.
    lib = evidence._SystemEwf._library()
    closed = evidence._SystemEwf.open(segments)
    assert lib is not None and closed is not None
    closed.close()
    with pytest.raises(OSError, match="closed image"):
        closed.read_buffer_at_offset(512, 0)
    error = ctypes.c_void_p()
    buffer = ctypes.create_string_buffer(8)
    assert lib.libewf_handle_read_random(None, buffer, 8, 0, ctypes.byref(error)) < 0
    assert closed._message(error, "x").startswith("libewf_handle_read_random: ")
    ex01 = tmp_path / "x.Ex01"
    ex01.write_bytes(b"EVF2\r\n\x81\x00" + bytes(100))
    assert evidence._SystemEwf.open([str(ex01)]) is None


def test_pyewf_is_used_where_the_system_libewf_is_missing(
    disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pyewf

    from triage.ingest.containers import ewf as evidence

    require_tools("ewfacquire")
    monkeypatch.setattr(evidence._SystemEwf, "_lib", None)
    monkeypatch.setattr(evidence._SystemEwf, "_missing", True)
    segments = to_ewf(disk, tmp_path / "e" / "img")
    with open_device(segments[0]) as handle:
        assert isinstance(handle._reader._handle, pyewf.handle)  # noqa: SLF001
        assert handle.read(0, handle.size) == disk.read_bytes()


def test_later_ewf_segment_opens_the_whole_set(disk: Path, tmp_path: Path) -> None:
    require_tools("ewfacquire")
    big = tmp_path / "big.dd"
    big.write_bytes(disk.read_bytes() + bytes(range(256)) * (12 * 4096))
    segments = to_ewf(big, tmp_path / "e" / "big", segment_size=MIB)
    assert len(segments) >= 2
    assert discover_segments(segments[1]) == tuple(map(str, segments))
    assert find_evidence(tmp_path / "e") == [segments[0]]


def test_find_evidence_ignores_notes_and_later_segments(
    disk: Path, tmp_path: Path
) -> None:
    shutil.copy(disk, tmp_path / "a.dd")
    (tmp_path / "notes.txt").write_text("exhibit list\n")
    (tmp_path / "hashes.md5").write_bytes(b"0" * 512)  # sector-sized, wrong name
    sub = tmp_path / "sub"
    to_split_raw(disk, sub, 4 * MIB, "001")
    assert find_evidence(tmp_path) == [tmp_path / "a.dd", sub / "disk.001"]
    assert find_evidence(sub) == [sub / "disk.001"]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty file"), (b"hello\n", "not a disk image")],
)
def test_not_evidence(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "thing.dd"
    path.write_bytes(content)
    with pytest.raises(EvidenceError, match=message) as info:
        open_device(path)
    assert str(path) in str(info.value)


def test_folder_and_missing_file(tmp_path: Path) -> None:
    # A folder opened as a device is a folder of files (``--as-device``).
    with open_device(tmp_path) as handle:
        assert handle.device.container == "folder"
    with pytest.raises(EvidenceError, match="no such evidence file"):
        open_device(tmp_path / "gone.E01")


def test_container_is_a_frozen_record() -> None:
    raw = CONTAINERS.get("raw")
    assert isinstance(raw, Container) and raw.description
    with pytest.raises(AttributeError):
        raw.name = "other"  # type: ignore[misc]


def test_block_device_is_raw_evidence(disk: Path) -> None:
    """A write-blocked disk attached as a block device (here a read-only loop)."""
    require_tools("losetup")
    import subprocess

    from triage.ingest import iter_files
    from triage.records import FileRecord

    attach = subprocess.run(
        ["losetup", "-r", "-f", "--show", str(disk)], capture_output=True, text=True
    )
    if attach.returncode != 0:
        pytest.skip(f"cannot attach a loop device here: {attach.stderr.strip()}")
    device = attach.stdout.strip()
    try:
        with open_device(device) as handle:
            assert handle.device.container == "raw"
            assert handle.size == disk.stat().st_size
        from_device = {
            (r.path, r.size) for r in iter_files(device) if isinstance(r, FileRecord)
        }
        from_file = {
            (r.path, r.size) for r in iter_files(disk) if isinstance(r, FileRecord)
        }
        assert from_device == from_file and ("x.txt", 3000) in from_file
    finally:
        subprocess.run(["losetup", "-d", device], capture_output=True, check=False)


def test_zero_runs_keep_long_runs_of_zeros_read_in_order() -> None:
    from triage.ingest.evidence import ZeroRuns

    block = 64 * 1024
    runs = ZeroRuns(min_run=1 << 20, max_runs=2)
    for k in range(32):  # 2 MiB of zeros from 1 MiB on, in 64 KiB reads ...
        runs.saw((1 << 20) + k * block, bytes(block))
        runs.saw(0, b"\x01" * 512)  # ... with other reads in between
        runs.saw((1 << 20) + k * block, bytes(block))  # read again: no change
    runs.saw(8 << 20, bytes(block))  # too short to keep
    runs.saw(9 << 20, b"\x00" * (block - 1) + b"\x01")  # not all zeros
    assert runs.runs() == [(1 << 20, 3 << 20)]
    runs.saw(16 << 20, bytes(1 << 20))
    runs.saw(32 << 20, bytes(2 << 20))  # a third run: over max_runs
    runs.saw(40 << 20, bytes(1 << 20))
    assert runs.runs() == [
        (1 << 20, 3 << 20),
        (16 << 20, 17 << 20),
        (40 << 20, 41 << 20),
    ]
