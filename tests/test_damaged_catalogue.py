"""Acceptance 3 of issue 15: ``triage ls`` and ``triage scan`` on every kind
of damaged image the test suite builds (partition tables, folders,
containers, E01 and split raw sets, filesystems, hostile names): no
traceback, each command under 60 s and 1 GiB of memory (maximum resident
set of its process), every evidence file's digest and mtime unchanged.
Each command runs in its own process, as a user runs it. Slow: about fifty
processes."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, SHARED_TESTDATA, damage_ewf_chunk, evidence_state
from tests.ingest.test_partition_tables import _entry
from triage.hashmatch.hashset import HashEntry, HashSet
from triage.sample.disk import MIB, build_disk, build_filesystem, to_ewf, to_split_raw
from triage.sample.pictures import encode, make_picture

pytestmark = pytest.mark.slow

LIMIT_SECONDS = 60
LIMIT_BYTES = 1 << 30
PICTURE = encode(make_picture(5, 96, 72))
FILES = {
    "dir/sub/pic.jpg": PICTURE,
    "dir/a.txt": b"a" * 100,
    "dir/b.txt": b"b" * 200,
    "top.txt": b"t",
}
FAT = {"DIR/PIC.JPG": PICTURE, **{f"DIR/F{i}.TXT": bytes([i]) * 90 for i in range(4)}}


def _patch(src: Path, dst: Path, *edits: tuple[int, bytes]) -> Path:
    raw = bytearray(src.read_bytes())
    for at, data in edits:
        raw[at : at + len(data)] = data
    dst.write_bytes(bytes(raw))
    return dst


def _mft(raw: bytes, name: str) -> int:
    sector = struct.unpack_from("<H", raw, 0x0B)[0]
    mft = struct.unpack_from("<q", raw, 0x30)[0] * sector * raw[0x0D]
    wanted = [bytes([len(name), ns]) + name.encode("utf-16-le") for ns in range(4)]
    for number in range(16, 4096):
        at = mft + number * 1024
        if raw[at : at + 4] == b"FILE" and any(
            w in raw[at : at + 1024] for w in wanted
        ):
            return at
    raise AssertionError(name)


def _segments(first: Path) -> list[Path]:
    return sorted(p for p in first.parent.glob(f"{first.stem}.*") if p.is_file())


def _copy_set(first: Path, dest: Path) -> Path:
    dest.mkdir()
    for path in _segments(first):
        shutil.copy(path, dest / path.name)
    return dest / first.name


Builder = Callable[[Path], Path]


def _catalogue(root: Path) -> dict[str, Path]:
    """Every damaged image, by name; built once."""
    out: dict[str, Path] = {}
    fat = build_filesystem("fat16", FAT, root / "fat.img")
    ext = build_filesystem("ext4", FILES, root / "ext.img")
    ntfs = build_filesystem("ntfs", FILES, root / "ntfs.img")
    mbr = build_disk(root / "mbr.dd", [fat, ext], "mbr")
    gpt = build_disk(root / "gpt.dd", [fat, ext], "gpt")
    ext_mbr = build_disk(root / "ext-mbr.dd", [fat, ext, fat], "mbr", extended=True)
    far = mbr.stat().st_size // 512 + 100_000
    out["mbr-entry-beyond-end"] = _patch(mbr, root / "t1.dd",
                                         (446, _entry(0x83, far, 1000)))  # fmt: skip
    out["mbr-overlap"] = _patch(mbr, root / "t2.dd",
                                (446 + 48, _entry(0x83, 3000, 40_000)))  # fmt: skip
    raw = ext_mbr.read_bytes()
    base = struct.unpack_from("<I", raw, 446 + 16 + 8)[0]
    second = base + struct.unpack_from("<I", raw, base * 512 + 446 + 16 + 8)[0]
    loop = (second * 512 + 462, _entry(5, 0, 100))  # the chain back to its start
    out["mbr-extended-loop"] = _patch(ext_mbr, root / "t3.dd", loop)
    out["gpt-primary-header"] = _patch(gpt, root / "t4.dd", (512, b"\xff" * 92))
    size = gpt.stat().st_size
    out["gpt-both-headers"] = _patch(gpt, root / "t5.dd", (512, b"\xff" * 92),
                                     (size - 512, bytes(8)))  # fmt: skip
    raw = ntfs.read_bytes()
    at = _mft(raw, "dir")
    out["ntfs-folder-fixup"] = _patch(ntfs, root / "n1.img", (at + 510, b"\x00\x00"))
    sector = struct.unpack_from("<H", raw, 0x0B)[0]
    mft = struct.unpack_from("<q", raw, 0x30)[0] * sector * raw[0x0D]
    out["ntfs-mft-gone"] = _patch(ntfs, root / "n2.img", (mft, bytes(4096)))
    at = fat.read_bytes().find(b"F2      TXT")
    out["fat-entry-invalid-name"] = _patch(fat, root / "f1.img", (at, b"F2\x01\x02*?"))
    at = ext.read_bytes().find(b"\x03\x02sub")
    out["ext4-subfolder-entry"] = _patch(ext, root / "e1.img", (at - 6, bytes(4)))
    out["ext4-superblock"] = _patch(ext, root / "e2.img", (1024, bytes(1024)))
    junk = root / "junk.img"
    junk.write_bytes(random.Random(3).randbytes(2 * MIB))
    out["random-bytes"] = junk
    (root / "empty.img").write_bytes(b"")
    out["zero-length"] = root / "empty.img"
    noise = random.Random(7).randbytes(3 * MIB)
    big = build_filesystem("fat16", {**FAT, "noise.bin": noise}, root / "big.img")
    disk = build_disk(root / "disk.dd", [big], "mbr")
    ewf = to_ewf(disk, root / "ewf" / "disk", segment_size=MIB)[0]
    first = _copy_set(ewf, root / "ewf-truncated")
    last = _segments(first)[-1]
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])
    out["e01-truncated"] = first
    first = _copy_set(ewf, root / "ewf-missing")
    (first.parent / "disk.E02").unlink()
    out["e01-segment-missing"] = first
    first = _copy_set(ewf, root / "ewf-chunk")
    damage_ewf_chunk(_segments(first), noise[:4096])
    out["e01-damaged-chunk"] = first
    split = to_split_raw(disk, root / "split", 2 * MIB, "001")[0]
    middle = split.parent / "disk.002"
    middle.write_bytes(middle.read_bytes()[:-4096])
    out["split-raw-short-segment"] = split
    hostile = {"<script>x</script>\x1b[2J.jpg": PICTURE, "a\nb\t=cmd.jpg": PICTURE}
    out["hostile-names"] = build_filesystem("ext2", hostile, root / "h.img", size_mb=4)
    dfvfs = SHARED_TESTDATA / "dfvfs"
    if dfvfs.is_dir():
        from tests.ingest.test_container_damage import ERRORS, PARTIAL

        for name, (image, damage, *_) in {**ERRORS, **PARTIAL}.items():
            raw = bytearray((dfvfs / image).read_bytes())
            damage(raw)
            path = root / f"{name}{Path(image).suffix}"
            path.write_bytes(bytes(raw))
            out[name] = path
    return out


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tests.conftest import require_tools

    require_tools("mkfs.fat", "mke2fs", "mkntfs", "sfdisk", "ewfacquire")
    return _catalogue(tmp_path_factory.mktemp("damaged"))


@pytest.fixture(scope="module")
def hashset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("set") / "known.ths"
    md5 = hashlib.md5(PICTURE).hexdigest()
    entry = HashEntry("known-1", "A", None, (("md5", md5),))
    HashSet.from_entries([entry], name="known", kind="known-bad").write(path)
    return path


def _measured(args: list[str]) -> tuple[int, str, float, int]:
    """Run the CLI; (exit code, output, wall seconds, max RSS in bytes)."""
    code, output, seconds, rss, _ = measured_with_cpu(args)
    return code, output, seconds, rss


def measured_with_cpu(args: list[str]) -> tuple[int, str, float, int, float]:
    """``_measured`` and the process's CPU seconds (user + system)."""
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-c", "from triage.cli import main; main()", *args],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
    )  # fmt: skip
    assert proc.stdout is not None
    output = proc.stdout.read().decode("utf-8", "replace")
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    cpu = usage.ru_utime + usage.ru_stime
    return proc.returncode, output, seconds, usage.ru_maxrss * 1024, cpu


def _names() -> Iterator[str]:
    yield from (
        "mbr-entry-beyond-end", "mbr-overlap", "mbr-extended-loop",
        "gpt-primary-header", "gpt-both-headers", "ntfs-folder-fixup",
        "ntfs-mft-gone", "fat-entry-invalid-name", "ext4-subfolder-entry",
        "ext4-superblock", "random-bytes", "zero-length", "e01-truncated",
        "e01-segment-missing", "e01-damaged-chunk", "split-raw-short-segment",
        "hostile-names", "vmdk-header", "vmdk-grain-directory", "vmdk-grain-table",
        "vhd-dynamic-header", "vhd-block-map", "qcow2-header", "qcow2-cluster-table",
    )  # fmt: skip


@pytest.mark.parametrize("name", list(_names()))
def test_ls_and_scan_on_a_damaged_image(
    damaged: dict[str, Path], hashset: Path, tmp_path: Path, name: str
) -> None:
    if name not in damaged:
        pytest.skip("the dfvfs test images are not shared beside the repository")
    evidence = damaged[name]
    files = (
        _segments(evidence) if evidence.suffix not in (".img", ".dd") else [evidence]
    )
    before = evidence_state(files)
    for args in (
        ["ls", str(evidence)],
        ["scan", str(evidence), "--hashset", str(hashset), "--db",
         str(tmp_path / "case.db"), "--scheduler", "sync"],
    ):  # fmt: skip
        code, output, seconds, rss = _measured(args)
        assert "Traceback" not in output, output[-2000:]
        # 0 all read, 1 (ls) items skipped, 3 a device or partition failed
        assert code in (0, 1, 3), (code, output[-2000:])
        assert seconds < LIMIT_SECONDS and rss < LIMIT_BYTES, (args[0], seconds, rss)
    assert evidence_state(files) == before
