"""Acceptance 2: bad input gives one clear line naming the device and problem.

Each broken piece of evidence is a modified COPY of an image built here. In one
``triage ls`` call with a good device, each bad one prints a single error line
naming it (no traceback), exits non-zero, and the good device is still listed.
"""

from __future__ import annotations

import json
import random
import shutil
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import damage_ewf_chunk, require_tools
from triage.cli import main
from triage.errors import EvidenceError, FilesystemError
from triage.ingest import iter_files
from triage.records import FileRecord, Skipped, Source, Stage
from triage.sample.disk import MIB, build_disk, build_filesystem, to_ewf, to_split_raw

GOOD_FILES = {"hello.txt": b"hello\n", "sub/data.bin": bytes(range(256)) * 8}


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tools("mkfs.fat", "mcopy", "mke2fs", "mkntfs", "ntfs-3g", "sfdisk")
    require_tools("ewfacquire")
    root = tmp_path_factory.mktemp("bad")
    noise = random.Random(7).randbytes(3 * MIB)  # incompressible: real segments
    fat = build_filesystem("fat16", {**GOOD_FILES, "noise.bin": noise}, root / "f.img")
    disk = build_disk(root / "disk.dd", [fat], "mbr")
    out = {
        "good": build_filesystem("fat12", GOOD_FILES, root / "good.img"),
        "disk": disk,
        "ext4": build_filesystem("ext4", GOOD_FILES, root / "ext4.img"),
        "ntfs": build_filesystem("ntfs", GOOD_FILES, root / "ntfs.img"),
        "loop": build_filesystem(
            "fat16", {"a/b/c.txt": b"c", "top.txt": b"t"}, root / "loop-src.img"
        ),
    }
    ewf = to_ewf(disk, root / "ewf" / "disk", segment_size=MIB)
    assert len(ewf) >= 3
    out["ewf"] = ewf[0]
    split = to_split_raw(disk, root / "split", 2 * MIB, "001")
    assert len(split) >= 3
    out["split"] = split[0]
    return out


def _copy_set(first: Path, dest: Path) -> Path:
    """Copy every file beside ``first`` that shares its stem."""
    dest.mkdir()
    for path in first.parent.glob(f"{first.stem}.*"):
        shutil.copy(path, dest / path.name)
    return dest / first.name


def _ls(*args: str | Path, carve: bool = False) -> tuple[int, str, str]:
    options = [] if carve else ["--no-carve"]
    result = CliRunner().invoke(main, ["ls", *options, *map(str, args)])
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        result.exception
    )
    return result.exit_code, result.stdout, result.stderr


def _assert_one_error(
    bad: Path, good: Path, needle: str, *, name: str | None = None
) -> None:
    code, out, err = _ls(good, bad)
    assert code == 3
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("triage: error: ")
    assert (name or bad.name) in lines[0] and needle in lines[0], lines[0]
    assert "Traceback" not in out + err
    assert "hello.txt" in out  # the good device is still listed


def test_truncated_e01(images: dict[str, Path], tmp_path: Path) -> None:
    first = _copy_set(images["ewf"], tmp_path / "t")
    last = sorted(first.parent.iterdir())[-1]
    with open(last, "r+b") as fh:
        fh.truncate(last.stat().st_size // 2)
    with pytest.raises(EvidenceError, match="truncated"):
        list(iter_files(first))
    _assert_one_error(first, images["good"], "truncated")


def test_missing_e01_segment(images: dict[str, Path], tmp_path: Path) -> None:
    first = _copy_set(images["ewf"], tmp_path / "m")
    (first.parent / "disk.E02").unlink()
    with pytest.raises(EvidenceError, match="segment 2 is missing"):
        list(iter_files(first))
    _assert_one_error(first, images["good"], "segment 2 is missing")


def test_missing_last_e01_segment(images: dict[str, Path], tmp_path: Path) -> None:
    first = _copy_set(images["ewf"], tmp_path / "m")
    sorted(first.parent.iterdir())[-1].unlink()
    _assert_one_error(first, images["good"], "is missing")


def test_missing_split_raw_segment(images: dict[str, Path], tmp_path: Path) -> None:
    first = _copy_set(images["split"], tmp_path / "s")
    (first.parent / "disk.002").unlink()
    with pytest.raises(EvidenceError, match=r"disk\.002 is missing"):
        list(iter_files(first))
    _assert_one_error(first, images["good"], "disk.002 is missing")


def test_split_raw_segment_of_the_wrong_size(
    images: dict[str, Path], tmp_path: Path
) -> None:
    """A middle segment cut short (a bad copy) would shift every byte after
    it: the set is refused, naming the segment; so is an oversized last one."""
    first = _copy_set(images["split"], tmp_path / "short")
    middle = first.parent / "disk.002"
    middle.write_bytes(middle.read_bytes()[:-4096])
    with pytest.raises(EvidenceError, match=r"disk\.002 is \d+ bytes, but disk\.001"):
        list(iter_files(first))
    _assert_one_error(first, images["good"], "must all be the same size")

    first = _copy_set(images["split"], tmp_path / "long")
    last = sorted(first.parent.glob("disk.0*"))[-1]
    last.write_bytes(last.read_bytes() + bytes(3 * MIB))
    _assert_one_error(first, images["good"], "last segment is larger")


def _assert_carved_instead(bad: Path, good: Path, needle: str) -> None:
    """A device with no partition table and no readable filesystem: the
    error is one skipped item (stage volume) and the device is carved whole
    (``triage ls`` still exits 3: a device could not be read)."""
    with pytest.raises(FilesystemError, match=needle):
        list(iter_files(bad, carve=False))
    found = list(iter_files(bad))
    assert isinstance(found[0], Skipped) and found[0].stage is Stage.VOLUME
    assert needle in found[0].reason and found[0].where == str(bad)
    assert all(isinstance(f, FileRecord) for f in found[1:])
    assert all(f.source is Source.CARVED for f in found[1:])  # type: ignore[union-attr]
    _assert_one_error(bad, good, needle)  # --no-carve: nothing to list
    code, out, err = _ls(good, bad, carve=True)
    assert code == 3
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("triage: skipped: ")
    assert bad.name in lines[0] and needle in lines[0], lines[0]
    assert "Traceback" not in out + err
    assert "hello.txt" in out  # the good device is still listed


def test_corrupt_ext4_superblock(images: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "ext4-bad.img"
    shutil.copy(images["ext4"], bad)
    with open(bad, "r+b") as fh:
        fh.seek(1024)  # the primary superblock
        fh.write(b"\xa5" * 1024)
    _assert_carved_instead(bad, images["good"], "no readable filesystem at offset 0")


def test_corrupt_ntfs_mft(images: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "ntfs-bad.img"
    shutil.copy(images["ntfs"], bad)
    with open(bad, "r+b") as fh:
        boot = fh.read(512)
        sector = struct.unpack_from("<H", boot, 0x0B)[0]
        cluster = sector * boot[0x0D]
        mft = struct.unpack_from("<q", boot, 0x30)[0] * cluster
        fh.seek(mft)
        fh.write(b"\x00" * 4096)  # $MFT's own records, "FILE" signatures gone
    _assert_carved_instead(bad, images["good"], "no readable filesystem")


def test_unknown_filesystem(images: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "random.dd"
    bad.write_bytes(random.Random(1).randbytes(MIB))
    _assert_carved_instead(bad, images["good"], "no readable filesystem")


def _fat16_dir_entry(image: bytes, directory: int, name: bytes) -> int:
    """Byte offset of the 8.3 entry ``name`` in the FAT16 directory at cluster."""
    sector = struct.unpack_from("<H", image, 11)[0]
    per_cluster = image[13]
    reserved = struct.unpack_from("<H", image, 14)[0]
    fats, root_entries = image[16], struct.unpack_from("<H", image, 17)[0]
    fat_sectors = struct.unpack_from("<H", image, 22)[0]
    root = (reserved + fats * fat_sectors) * sector
    data = root + root_entries * 32
    start = root if directory == 0 else data + (directory - 2) * per_cluster * sector
    size = root_entries * 32 if directory == 0 else per_cluster * sector
    for off in range(start, start + size, 32):
        if image[off : off + 11] == name:
            return off
    raise AssertionError(f"{name!r} not found")


def test_directory_loop(images: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "loop.img"
    shutil.copy(images["loop"], bad)
    raw = bytearray(bad.read_bytes())
    a = _fat16_dir_entry(raw, 0, b"A          ")
    a_cluster = struct.unpack_from("<H", raw, a + 26)[0]
    b = _fat16_dir_entry(raw, a_cluster, b"B          ")
    struct.pack_into("<H", raw, b + 26, a_cluster)  # a/b now points back at a
    bad.write_bytes(bytes(raw))

    items = list(iter_files(bad, carve=False))  # terminates
    paths = {i.path for i in items if isinstance(i, FileRecord)}
    assert "top.txt" in paths
    loops = [i for i in items if isinstance(i, Skipped) and "loop" in i.reason]
    assert len(loops) == 1 and "a/b" in loops[0].where

    code, out, err = _ls(images["good"], bad)
    assert code != 0
    assert "Traceback" not in out + err
    assert "hello.txt" in out and "top.txt" in out
    assert "directory loop" in err and "loop.img" in err


def test_zero_length_file(images: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "empty.dd"
    bad.write_bytes(b"")
    _assert_one_error(bad, images["good"], "empty file")


def test_text_file_is_not_evidence(images: dict[str, Path], tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("suspect said the files are on the blue USB stick\n")
    _assert_one_error(bad, images["good"], "not a disk image")


def test_folder_without_evidence(images: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "paperwork"
    folder.mkdir()
    (folder / "notes.txt").write_text("nothing here\n")
    _assert_one_error(folder, images["good"], "no evidence found", name="paperwork")


def test_missing_path(images: dict[str, Path], tmp_path: Path) -> None:
    _assert_one_error(tmp_path / "nope.E01", images["good"], "no such evidence file")


def test_json_mode_reports_skips_and_errors(
    images: dict[str, Path], tmp_path: Path
) -> None:
    bad = tmp_path / "random.dd"
    bad.write_bytes(random.Random(2).randbytes(MIB))
    result = CliRunner().invoke(main, ["ls", "--json", str(images["good"]), str(bad)])
    assert result.exit_code == 3
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert any(o.get("path") == "hello.txt" for o in objects)
    skips = [o["skipped"] for o in objects if "skipped" in o]
    assert [s["stage"] for s in skips] == ["volume"]
    assert skips[0]["device_id"] == "random.dd"
    assert "no readable filesystem" in skips[0]["reason"]
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(
    images: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.argv", ["triage", "--debug", "ls"])  # as DebugGroup reads
    bad = tmp_path / "random.dd"
    bad.write_bytes(random.Random(3).randbytes(MIB))
    result = CliRunner().invoke(main, ["--debug", "ls", "--no-carve", str(bad)])
    assert isinstance(result.exception, FilesystemError)


def test_unreadable_partition_beside_a_good_one(
    images: dict[str, Path], tmp_path: Path
) -> None:
    junk = tmp_path / "junk.img"
    junk.write_bytes(random.Random(4).randbytes(2 * MIB))
    disk = build_disk(tmp_path / "mixed.dd", [images["good"], junk], "gpt")
    items = list(iter_files(disk, carve=False))
    assert "hello.txt" in {i.path for i in items if isinstance(i, FileRecord)}
    skips = [i for i in items if isinstance(i, Skipped) and i.stage == "volume"]
    assert len(skips) == 1 and "partition" in skips[0].where
    assert "no readable filesystem" in skips[0].reason

    code, out, err = _ls(disk)
    assert code == 3 and "hello.txt" in out
    assert "mixed.dd" in err and "no readable filesystem" in err
    assert "Traceback" not in out + err


@pytest.mark.parametrize("fs", ["fat16", "ntfs", "exfat"])
def test_randomly_corrupted_copies_fail_cleanly(fs: str, tmp_path: Path) -> None:
    """Seeded corruption of the metadata area: every problem is a TriageError
    or a Skipped, never another exception, and every item read is bounded."""
    require_tools("mkfs.fat", "mkntfs", "ntfs-3g", "mkfs.exfat", "mount.exfat-fuse")
    from triage.errors import TriageError
    from triage.ingest.content import read_record
    from triage.ingest.evidence import open_device

    files = {f"d{i % 4}/f{i}.txt": bytes([i]) * (400 * i + 1) for i in range(24)}
    source = build_filesystem(fs, files, tmp_path / "src.img", deleted=["d1/f1.txt"])
    clean = source.read_bytes()
    for seed in range(8):
        rng = random.Random(seed)
        data = bytearray(clean)
        for _ in range(8):
            at = rng.randrange(0, min(len(data), 2 * MIB))
            data[at : at + 64] = rng.randbytes(64)
        case = tmp_path / f"case{seed}.img"
        case.write_bytes(bytes(data))
        try:
            with open_device(case) as handle:
                for item in iter_files(handle):
                    if isinstance(item, FileRecord) and item.size <= 4 * MIB:
                        try:
                            assert len(read_record(handle, item)) <= item.size
                        except TriageError:
                            pass
        except TriageError:
            pass


def test_damaged_e01_chunk_is_reported_not_silently_zeros(
    images: dict[str, Path], tmp_path: Path, ewf_reader: str
) -> None:
    """A byte flipped inside an E01 chunk: libewf reads the chunk as zeros and
    says nothing (checked first: that is why triage asks it). Listing goes on
    and reports the damaged chunk by its byte range; reading a file there
    reports it too."""
    import pyewf

    from triage.ingest.content import read_record
    from triage.ingest.evidence import DAMAGE_REASON, open_device

    first = _copy_set(images["ewf"], tmp_path / "damaged")
    with open_device(first) as handle:
        (noise,) = [
            r
            for r in iter_files(handle, carve=False)
            if isinstance(r, FileRecord) and r.path == "noise.bin"
        ]
        content = read_record(handle, noise)
    probe = content[MIB : MIB + 64]  # inside a chunk stored as-is (incompressible)
    with open_device(images["ewf"]) as clean:
        where = clean.read(0, clean.size).find(probe)
    damage_ewf_chunk(list(first.parent.glob("disk.E*")), probe, flip_at=10)
    chunk = 32 * 1024
    lo = where - where % chunk
    damaged = f"bytes {lo}-{lo + chunk - 1}"

    ewf = pyewf.handle()
    ewf.open([str(p) for p in sorted(first.parent.glob("disk.E*"))])
    assert ewf.read_buffer_at_offset(64, where) == bytes(64)  # libewf: zeros, silent
    ewf.close()

    items = list(iter_files(first, carve=False))
    files = {i.path: i for i in items if isinstance(i, FileRecord)}
    assert {"hello.txt", "sub/data.bin", "noise.bin"} <= set(files)
    # Sleuth Kit's filesystem detection happens to read that chunk too.
    assert damaged in {i.where for i in items if isinstance(i, Skipped)}
    with open_device(first) as handle:
        read_record(handle, files["sub/data.bin"])  # opens the filesystem
        handle.take_damage()
        assert read_record(handle, files["hello.txt"]) == b"hello\n"
        assert handle.take_damage() == []
        assert read_record(handle, files["noise.bin"])[MIB : MIB + 64] == bytes(64)
        (skip,) = handle.damage_skips()
        assert (skip.where, skip.stage, skip.reason) == (
            damaged,
            "evidence",
            DAMAGE_REASON,
        )
        assert handle.take_damage() == []  # each read reports what it touched
        handle.read(where, 1)
        assert handle.take_damage() == [(lo, lo + chunk)]


def test_damaged_directory_chunk_is_reported_by_the_listing(
    images: dict[str, Path], tmp_path: Path, ewf_reader: str
) -> None:
    """Damage under a directory's entries: Sleuth Kit lists zeros there, so
    entries may be missing; the listing says so for the partition, naming the
    damaged bytes."""
    first = _copy_set(images["ewf"], tmp_path / "dir")
    # The 8.3 entry of sub/data.bin, in the "sub" directory's cluster.
    damage_ewf_chunk(list(first.parent.glob("disk.E*")), b"DATA    BIN")
    items = list(iter_files(first, carve=False))
    skips = [i for i in items if isinstance(i, Skipped)]
    (listing,) = [s for s in skips if s.where.endswith(":listing")]
    assert "damaged image chunk(s) as zeros" in listing.reason
    assert "may be missing" in listing.reason
    damaged = [s for s in skips if s.stage == "evidence"]
    assert damaged and all(d.where[len("bytes ") :] in listing.reason for d in damaged)
    assert "sub/data.bin" not in {i.path for i in items if isinstance(i, FileRecord)}
