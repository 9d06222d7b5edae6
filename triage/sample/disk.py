"""Build benign filesystem and disk images at test time, from a dict of bytes.

Tests need evidence whose content is known exactly: the expected listing and
hashes come from the ``files`` dictionary, and Sleuth Kit's ``fls`` is the
oracle for what a reader should list. Every image is made with the ordinary
Debian tools (``mkfs.fat`` + mtools, ``mke2fs -d`` + ``debugfs``, ``mkntfs`` +
the ``ntfs-3g`` FUSE driver, ``mkfs.exfat`` + ``mount.exfat-fuse`` over a loop
device, ``genisoimage``, ``sfdisk``, ``ewfacquire``); nothing is hand-forged
except where a test deliberately corrupts a copy.

Output is as deterministic as the tools allow: fixed volume ids, labels and
UUIDs, fixed file times (``FIXED_MTIME``) and ``E2FSPROGS_FAKE_TIME`` /
``mkntfs -T``. Images are not byte-identical between builds: ``mke2fs -d``
and ``genisoimage`` take files in readdir order, and mtools stamps folders
with the current time. FUSE mounts and loop devices are always released (``finally``).
HFS+ is not built: ``hfsprogs`` is not in Debian bookworm.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

MIB = 1 << 20
SECTOR = 512

# 2024-01-01T00:00:00Z: every source file gets this mtime so images are repeatable.
FIXED_MTIME = 1_704_067_200
VOLUME_ID = "1A2B3C4D"  # FAT / exFAT serial
EXT_UUID = "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
DISK_ID_MBR = "0x5452a9e1"
DISK_GUID = "8D2A7C3E-11B4-4F6A-9C0D-5E4F3A2B1C0D"
LABEL = "TRIAGE"

FILESYSTEMS: tuple[str, ...] = (
    "fat12",
    "fat16",
    "fat32",
    "exfat",
    "ext2",
    "ext3",
    "ext4",
    "ntfs",
    "iso9660",
)
# Filesystems whose builder can delete files after writing them.
DELETABLE: frozenset[str] = frozenset(FILESYSTEMS) - {"iso9660"}

# Smallest sensible size per filesystem (MiB): FAT32 needs >= 65525 clusters.
_DEFAULT_MB = {
    "fat12": 4,
    "fat16": 16,
    "fat32": 40,
    "exfat": 8,
    "ext2": 8,
    "ext3": 16,
    "ext4": 16,
    "ntfs": 16,
    "iso9660": 0,
}
# MBR partition type bytes and GPT type GUIDs (sfdisk understands both).
_MBR_TYPE = {
    "fat12": "01",
    "fat16": "06",
    "fat32": "0c",
    "exfat": "07",
    "ntfs": "07",
    "iso9660": "83",
}
_GPT_BASIC_DATA = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7"
_GPT_LINUX = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"


class BuildError(RuntimeError):
    """A tool used to build a sample image failed; the message has its stderr."""


#: The building tools run in UTC (their environment only, never this
#: process's): mtools and the exFAT driver write file times as local wall
#: clock, so images hold the same times on every machine.
_TOOL_ENV = {"TZ": "UTC"}


def _run(args: Sequence[str], *, env: Mapping[str, str] | None = None) -> str:
    full_env = {**os.environ, **_TOOL_ENV, **(env or {})}
    try:
        done = subprocess.run(
            list(args), capture_output=True, text=True, env=full_env, check=False
        )
    except FileNotFoundError as exc:
        raise BuildError(f"{args[0]}: not installed (run scripts/setup.sh)") from exc
    if done.returncode != 0:
        raise BuildError(
            f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}"
        )
    return done.stdout


def _check_files(files: Mapping[str, bytes], deleted: Iterable[str]) -> list[str]:
    for rel in files:
        parts = PurePosixPath(rel).parts
        if not parts or rel.startswith("/") or ".." in parts:
            raise ValueError(f"sample file path must be relative: {rel!r}")
    gone = list(deleted)
    folders = set(_parents(files))
    for rel in gone:
        if rel not in files and rel not in folders:
            raise ValueError(f"cannot delete {rel!r}: it is not in files")
    return gone


def _tree(files: Iterable[str], folder: str) -> tuple[list[str], list[str]]:
    """Files under ``folder`` and its sub-folders (deepest first)."""
    inside = [rel for rel in files if rel.startswith(f"{folder}/")]
    subs = [d for d in _parents(inside) if d == folder or d.startswith(f"{folder}/")]
    return inside, sorted(subs, key=lambda d: -d.count("/"))


def write_tree(files: Mapping[str, bytes], root: Path) -> None:
    """Write ``files`` under ``root`` with the fixed mtime on files and folders."""
    for rel, data in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for path in sorted(root.rglob("*"), reverse=True):
        os.utime(path, (FIXED_MTIME, FIXED_MTIME))


def _parents(files: Iterable[str]) -> list[str]:
    """Every parent folder of ``files``, shallowest first."""
    dirs: set[str] = set()
    for rel in files:
        dirs.update(str(p) for p in PurePosixPath(rel).parents if str(p) != ".")
    return sorted(dirs, key=lambda d: (d.count("/"), d))


def _size_mb(fs: str, files: Mapping[str, bytes], size_mb: int | None) -> int:
    if size_mb is not None:
        return size_mb
    payload = sum(len(d) for d in files.values()) + 4096 * len(files)
    return _DEFAULT_MB[fs] + math.ceil(payload * 1.3 / MIB)


def build_filesystem(
    fs: str,
    files: Mapping[str, bytes],
    out: Path | str,
    *,
    size_mb: int | None = None,
    deleted: Iterable[str] = (),
    label: str = LABEL,
) -> Path:
    """Make a filesystem image at ``out`` holding ``files``, then delete ``deleted``.

    ``files`` maps relative POSIX paths ("dir/sub/name.jpg") to content. Deleted
    files are written first and removed afterwards with the filesystem's own
    tools, so their directory entries remain as deleted entries; a folder in
    ``deleted`` is deleted with everything in it. On NTFS a
    path "dir/name:stream" is an alternate data stream of "dir/name" (which
    must be in ``files`` too).

    Raises:
        ValueError: unknown ``fs``, bad paths, non-ASCII names on FAT (mtools
            mangles them), or deleting on ISO 9660.
        BuildError: a tool failed (its stderr is in the message).
    """
    if fs not in FILESYSTEMS:
        raise ValueError(f"unknown filesystem {fs!r}; known: {', '.join(FILESYSTEMS)}")
    gone = _check_files(files, deleted)
    streams = [rel for rel in files if ":" in rel.rsplit("/", 1)[-1]]
    if streams and fs != "ntfs":
        raise ValueError(f"{fs}: 'name:stream' paths are NTFS alternate data streams")
    for rel in streams:
        if rel.split(":", 1)[0] not in files:
            raise ValueError(f"stream {rel!r}: its file is not in files")
    if fs.startswith("fat") and not all(rel.isascii() for rel in files):
        # mtools 4.0.32 mangles non-ASCII long names (and vfat is not mountable
        # here), so refuse rather than build an image whose names are wrong.
        raise ValueError(f"{fs}: the FAT builder takes ASCII file names only")
    if gone and fs not in DELETABLE:
        raise ValueError(f"{fs} is read-only: cannot delete files from it")
    out = Path(out)
    if out.exists():
        out.unlink()
    out.parent.mkdir(parents=True, exist_ok=True)
    size = _size_mb(fs, files, size_mb)
    builder = _BUILDERS[fs]
    with tempfile.TemporaryDirectory(prefix="triage-sample-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        write_tree(files, src)
        builder(fs, files, src, out, size, gone, label)
    return out


def _build_fat(
    fs: str,
    files: Mapping[str, bytes],
    src: Path,
    out: Path,
    size: int,
    gone: list[str],
    label: str,
) -> None:
    bits = fs[3:]
    args = ["mkfs.fat", "-C", "-F", bits, "-i", VOLUME_ID, "-n", label[:11]]
    if bits == "32":
        args += ["-s", "1"]
    _run([*args, str(out), str(size * 1024)])
    env = {"MTOOLS_SKIP_CHECK": "1"}
    image = str(out)
    for folder in _parents(files):
        _run(["mmd", "-i", image, f"::/{folder}"], env=env)
    for rel in files:
        _run(["mcopy", "-m", "-i", image, str(src / rel), f"::/{rel}"], env=env)
    for rel in gone:
        tool = "mdel" if rel in files else "mdeltree"
        _run([tool, "-i", image, f"::/{rel}"], env=env)


def _build_ext(
    fs: str,
    files: Mapping[str, bytes],
    src: Path,
    out: Path,
    size: int,
    gone: list[str],
    label: str,
) -> None:
    env = {"E2FSPROGS_FAKE_TIME": str(FIXED_MTIME)}
    _run(
        [
            "mke2fs", "-q", "-F", "-t", fs, "-d", str(src), "-L", label[:16],
            "-U", EXT_UUID, "-E", f"root_owner=0:0,hash_seed={EXT_UUID}",
            "-b", "1024", str(out), f"{size * 1024}",
        ],
        env=env,
    )  # fmt: skip
    for rel in gone:
        if rel in files:
            _run(["debugfs", "-w", "-R", f"rm /{rel}", str(out)], env=env)
            continue
        inside, subs = _tree(files, rel)
        commands = [f"rm /{f}" for f in inside] + [f"rmdir /{d}" for d in subs]
        for command in commands:
            _run(["debugfs", "-w", "-R", command, str(out)], env=env)


@contextmanager
def _fuse_mount(command: Sequence[str], mountpoint: Path) -> Iterator[Path]:
    """Run a FUSE driver in the foreground, yield the mount, always unmount.

    Foreground matters: after ``umount`` we wait for the driver to exit, so every
    write has reached the image before the caller reads it. The driver's output
    goes to a file, never a pipe: ``mount.exfat-fuse -d`` logs every request,
    and a full pipe would block the driver and every process that touches the
    mount (``sync`` included).
    """
    with tempfile.TemporaryFile(mode="w+") as log:
        proc = subprocess.Popen(
            list(command), stdout=log, stderr=log, env={**os.environ, **_TOOL_ENV}
        )
        try:
            deadline = time.monotonic() + 20
            while not os.path.ismount(mountpoint):
                if proc.poll() is not None:
                    log.seek(0)
                    err = log.read()[-2000:].strip()
                    raise BuildError(f"{' '.join(command)} failed: {err}")
                if time.monotonic() > deadline:
                    raise BuildError(f"{' '.join(command)}: mount did not appear")
                time.sleep(0.05)
            yield mountpoint
        finally:
            _unmount(mountpoint, proc)


def _unmount(mountpoint: Path, proc: subprocess.Popen[bytes]) -> None:
    """Unmount and wait for our driver process (by handle) to exit."""
    if os.path.ismount(mountpoint):
        done = subprocess.run(["umount", str(mountpoint)], capture_output=True)
        if done.returncode != 0:  # busy: detach now, the driver exits when idle
            subprocess.run(["umount", "-l", str(mountpoint)], capture_output=True)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _copy_then_delete(
    files: Mapping[str, bytes], src: Path, mnt: Path, gone: list[str]
) -> None:
    for folder in _parents(files):
        (mnt / folder).mkdir(exist_ok=True)
    streams = [rel for rel in files if ":" in rel.rsplit("/", 1)[-1]]
    for rel in files:
        if rel not in streams:
            shutil.copy2(src / rel, mnt / rel)
    for rel in streams:  # ntfs-3g streams_interface=windows: "name:stream"
        (mnt / rel).write_bytes(files[rel])
        os.utime(mnt / rel.split(":", 1)[0], (FIXED_MTIME, FIXED_MTIME))
    for rel in gone:
        if rel in files:
            (mnt / rel).unlink()
        else:
            shutil.rmtree(mnt / rel)
    for folder in reversed(_parents(files)):
        if (mnt / folder).exists():
            os.utime(mnt / folder, (FIXED_MTIME, FIXED_MTIME))


def _build_ntfs(
    fs: str,
    files: Mapping[str, bytes],
    src: Path,
    out: Path,
    size: int,
    gone: list[str],
    label: str,
) -> None:
    with open(out, "wb") as fh:
        fh.truncate(size * MIB)
    _run(["mkntfs", "-F", "-q", "-f", "-T", "-s", "512", "-L", label, str(out)])
    with tempfile.TemporaryDirectory(prefix="triage-mnt-") as mnt_dir:
        mnt = Path(mnt_dir)
        opts = "no_detach,streams_interface=windows"
        cmd = ["ntfs-3g", "-o", opts, str(out), str(mnt)]
        with _fuse_mount(cmd, mnt):
            _copy_then_delete(files, src, mnt, gone)


@contextmanager
def _loop_device(image: Path) -> Iterator[str]:
    dev = _run(["losetup", "-f", "--show", str(image)]).strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev], capture_output=True, check=False)


def _build_exfat(
    fs: str,
    files: Mapping[str, bytes],
    src: Path,
    out: Path,
    size: int,
    gone: list[str],
    label: str,
) -> None:
    with open(out, "wb") as fh:
        fh.truncate(size * MIB)
    _run(["mkfs.exfat", "-L", label[:11], str(out)])
    with tempfile.TemporaryDirectory(prefix="triage-mnt-") as mnt_dir:
        mnt = Path(mnt_dir)
        with _loop_device(out) as dev:
            with _fuse_mount(["mount.exfat-fuse", "-d", dev, str(mnt)], mnt):
                _copy_then_delete(files, src, mnt, gone)


def _build_iso(
    fs: str,
    files: Mapping[str, bytes],
    src: Path,
    out: Path,
    size: int,
    gone: list[str],
    label: str,
) -> None:
    _run(
        ["genisoimage", "-quiet", "-R", "-J", "-V", label, "-o", str(out), str(src)],
        env={"SOURCE_DATE_EPOCH": str(FIXED_MTIME)},
    )


_Builder = Callable[[str, Mapping[str, bytes], Path, Path, int, list[str], str], None]
_BUILDERS: dict[str, _Builder] = {
    "fat12": _build_fat,
    "fat16": _build_fat,
    "fat32": _build_fat,
    "exfat": _build_exfat,
    "ext2": _build_ext,
    "ext3": _build_ext,
    "ext4": _build_ext,
    "ntfs": _build_ntfs,
    "iso9660": _build_iso,
}


def _fs_kind(image: Path) -> str:
    """Guess a built image's filesystem, only to choose a partition type byte."""
    with open(image, "rb") as fh:
        head = fh.read(0x8006)
    if head[3:11] == b"NTFS    ":
        return "ntfs"
    if head[3:11] == b"EXFAT   ":
        return "exfat"
    if head[0x52:0x5A] == b"FAT32   ":
        return "fat32"
    if head[0x36:0x3E] in (b"FAT12   ", b"FAT16   "):
        return "fat12" if head[0x36:0x3E] == b"FAT12   " else "fat16"
    if head[0x8001:0x8006] == b"CD001":
        return "iso9660"
    return "ext"


def _align(sector: int, to: int = 2048) -> int:
    return -(-sector // to) * to


def build_disk(
    out: Path | str,
    filesystems: Sequence[Path | str],
    table: str = "mbr",
    *,
    extended: bool = False,
    gap: int = MIB,
    gap_data: Mapping[int, bytes] | None = None,
) -> Path:
    """Put filesystem images into one disk image behind an MBR or GPT.

    Partitions start on 1 MiB boundaries with at least ``gap`` bytes of free,
    unpartitioned space after each one. With ``extended=True`` (MBR only) the
    first filesystem is a primary partition and the rest are logical partitions
    inside one extended partition. ``gap_data`` plants bytes at absolute
    offsets, which must fall in unpartitioned space (a test can then look for
    them there). ``table="none"`` copies a single filesystem as the whole disk.

    Returns ``out``. Raises ``ValueError`` for a bad layout, ``BuildError`` if
    ``sfdisk`` fails.
    """
    out = Path(out)
    images = [Path(p) for p in filesystems]
    plant = dict(gap_data or {})
    if table not in ("mbr", "gpt", "none"):
        raise ValueError(f"unknown partition table {table!r}; known: mbr, gpt, none")
    if extended and table != "mbr":
        raise ValueError("extended/logical partitions exist only in an MBR")
    if not images:
        raise ValueError("build_disk needs at least one filesystem image")
    if table == "none":
        if len(images) != 1 or plant:
            raise ValueError("table='none' takes exactly one filesystem and no gaps")
        shutil.copyfile(images[0], out)
        return out
    if table == "mbr" and not extended and len(images) > 4:
        raise ValueError("an MBR holds at most 4 primary partitions: use extended")

    gap_sectors = max(1, -(-gap // SECTOR))
    layout: list[tuple[int, int, str]] = []  # (start, sectors, kind)
    lines: list[str] = []
    cursor = 2048
    ext_start: int | None = None
    for n, image in enumerate(images):
        sectors = -(-image.stat().st_size // SECTOR)
        kind = _fs_kind(image)
        if extended and n == 1:
            ext_start = cursor
            cursor += 2048  # room for the first EBR
        elif extended and n > 1:
            cursor = _align(cursor + 1)  # room for the next EBR
        start = cursor
        layout.append((start, sectors, kind))
        cursor = _align(start + sectors + gap_sectors)
    total_sectors = cursor + 2048  # room for the GPT backup header

    if table == "mbr":
        lines += ["label: dos", f"label-id: {DISK_ID_MBR}", "unit: sectors", ""]
        for n, (start, sectors, kind) in enumerate(layout):
            ptype = _MBR_TYPE.get(kind, "83")
            if extended and n == 1 and ext_start is not None:
                ext_end = layout[-1][0] + layout[-1][1]
                lines.append(f"start={ext_start}, size={ext_end - ext_start}, type=5")
            lines.append(f"start={start}, size={sectors}, type={ptype}")
    else:
        lines += ["label: gpt", f"label-id: {DISK_GUID}", "unit: sectors", ""]
        for n, (start, sectors, kind) in enumerate(layout):
            ptype = _GPT_LINUX if kind in ("ext", "iso9660") else _GPT_BASIC_DATA
            uuid = f"{DISK_GUID[:-4]}{n + 1:04X}"
            lines.append(f"start={start}, size={sectors}, type={ptype}, uuid={uuid}")

    taken = [(s * SECTOR, (s + n) * SECTOR) for s, n, _ in layout]
    for offset, data in plant.items():
        end = offset + len(data)
        if offset < MIB or end > total_sectors * SECTOR - MIB:
            raise ValueError(f"gap_data at {offset} is outside the free space")
        if any(offset < b and end > a for a, b in taken):
            raise ValueError(f"gap_data at {offset} overlaps a partition")
        if extended and any(offset <= (s - 1) * SECTOR < end for s, _, _ in layout[1:]):
            raise ValueError(f"gap_data at {offset} overlaps an extended boot record")

    if out.exists():
        out.unlink()
    with open(out, "wb") as fh:
        fh.truncate(total_sectors * SECTOR)
    done = subprocess.run(
        ["sfdisk", "--no-reread", "--no-tell-kernel", "-q", str(out)],
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BuildError(f"sfdisk failed: {done.stderr.strip()}")
    with open(out, "r+b") as disk:
        for (start, _, _), image in zip(layout, images, strict=True):
            disk.seek(start * SECTOR)
            with open(image, "rb") as src:
                shutil.copyfileobj(src, disk, MIB)
        for offset, data in plant.items():
            disk.seek(offset)
            disk.write(data)
    return out


def partition_offsets(disk: Path | str) -> list[int]:
    """Byte offsets of the data partitions ``build_disk`` wrote (via ``sfdisk``)."""
    import json

    table = json.loads(_run(["sfdisk", "--json", str(disk)]))["partitiontable"]
    return [
        p["start"] * SECTOR
        for p in table["partitions"]
        if p.get("type") not in ("5", "f", "85")
    ]


def to_split_raw(
    disk: Path | str, out_dir: Path | str, segment_size: int, naming: str = "001"
) -> list[Path]:
    """Cut ``disk`` into raw segments: ``.000``/``.001`` numbering or ``.aa``."""
    disk, out_dir = Path(disk), Path(out_dir)
    if naming not in ("000", "001", "aa"):
        raise ValueError(f"unknown split naming {naming!r}; known: 000, 001, aa")
    if segment_size <= 0 or segment_size % SECTOR:
        raise ValueError("segment_size must be a positive multiple of 512")
    out_dir.mkdir(parents=True, exist_ok=True)

    def name(i: int) -> str:
        if naming == "aa":
            return f"{disk.stem}.{chr(97 + i // 26)}{chr(97 + i % 26)}"
        return f"{disk.stem}.{i + int(naming):03d}"

    segments: list[Path] = []
    with open(disk, "rb") as src:
        while True:
            first = src.read(min(segment_size, MIB))
            if not first:
                break
            path = out_dir / name(len(segments))
            with open(path, "wb") as dst:
                dst.write(first)
                left = segment_size - len(first)
                while left:
                    block = src.read(min(left, MIB))
                    if not block:
                        break
                    dst.write(block)
                    left -= len(block)
            segments.append(path)
    return segments


def to_ewf(
    disk: Path | str, out_base: Path | str, *, segment_size: int | None = None
) -> list[Path]:
    """Acquire ``disk`` into EWF (E01) with ``ewfacquire``; return the segments.

    MD5 and SHA-1 of the media are stored in the image, as a real acquisition
    would. ``segment_size`` is in bytes (``ewfacquire`` takes at least 1 MiB).
    """
    out_base = Path(out_base)
    out_base.parent.mkdir(parents=True, exist_ok=True)
    for old in out_base.parent.glob(f"{out_base.name}.[Ee]??"):
        old.unlink()
    args = [
        "ewfacquire", "-u", "-q", "-t", str(out_base), "-f", "encase6",
        "-c", "empty-block", "-d", "sha1", "-C", "sample", "-D", "triage sample",
        "-e", "triage", "-E", "1", "-N", "benign generated test image",
        "-m", "fixed", "-M", "physical",
    ]  # fmt: skip
    if segment_size is not None:
        args += ["-S", str(segment_size)]
    _run([*args, str(disk)])
    import pyewf

    first = out_base.parent / f"{out_base.name}.E01"
    return [Path(p) for p in pyewf.glob(str(first))]
