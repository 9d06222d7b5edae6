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
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from triage.registry import Registry

MIB = 1 << 20
SECTOR = 512

# 2024-01-01T00:00:00Z: every source file gets this mtime so images are repeatable.
FIXED_MTIME = 1_704_067_200
VOLUME_ID = "1A2B3C4D"  # FAT / exFAT serial
EXT_UUID = "6f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
DISK_ID_MBR = "0x5452a9e1"
DISK_GUID = "8D2A7C3E-11B4-4F6A-9C0D-5E4F3A2B1C0D"
LABEL = "TRIAGE"

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
    return SAMPLE_FILESYSTEMS.get(fs).default_mb + math.ceil(payload * 1.3 / MIB)


@dataclass(frozen=True, slots=True)
class _Job:
    """One filesystem build: what every builder is given."""

    fs: str
    files: Mapping[str, bytes]
    src: Path  # ``files`` written out, with FIXED_MTIME
    out: Path
    size: int  # MiB
    gone: Sequence[str]  # files and folders to delete after writing
    label: str


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
    with tempfile.TemporaryDirectory(prefix="triage-sample-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        write_tree(files, src)
        SAMPLE_FILESYSTEMS.get(fs).build(_Job(fs, files, src, out, size, gone, label))
    return out


def _build_fat(job: _Job) -> None:
    """FAT12/16/32 with ``mkfs.fat -C``, filled and pruned with mtools."""
    bits = job.fs[3:]
    args = ["mkfs.fat", "-C", "-F", bits, "-i", VOLUME_ID, "-n", job.label[:11]]
    if bits == "32":
        args += ["-s", "1"]
    _run([*args, str(job.out), str(job.size * 1024)])
    env = {"MTOOLS_SKIP_CHECK": "1"}
    image = str(job.out)
    for folder in _parents(job.files):
        _run(["mmd", "-i", image, f"::/{folder}"], env=env)
    for rel in job.files:
        _run(["mcopy", "-m", "-i", image, str(job.src / rel), f"::/{rel}"], env=env)
    for rel in job.gone:
        tool = "mdel" if rel in job.files else "mdeltree"
        _run([tool, "-i", image, f"::/{rel}"], env=env)


def _build_ext(job: _Job) -> None:
    """ext2/3/4 with ``mke2fs -d``; deletions with ``debugfs``."""
    env = {"E2FSPROGS_FAKE_TIME": str(FIXED_MTIME)}
    _run(
        [
            "mke2fs", "-q", "-F", "-t", job.fs, "-d", str(job.src),
            "-L", job.label[:16], "-U", EXT_UUID,
            "-E", f"root_owner=0:0,hash_seed={EXT_UUID}",
            "-b", "1024", str(job.out), f"{job.size * 1024}",
        ],
        env=env,
    )  # fmt: skip
    for rel in job.gone:
        if rel in job.files:
            _run(["debugfs", "-w", "-R", f"rm /{rel}", str(job.out)], env=env)
            continue
        inside, subs = _tree(job.files, rel)
        commands = [f"rm /{f}" for f in inside] + [f"rmdir /{d}" for d in subs]
        for command in commands:
            _run(["debugfs", "-w", "-R", command, str(job.out)], env=env)


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
    files: Mapping[str, bytes], src: Path, mnt: Path, gone: Sequence[str]
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


def _format_and_fill(
    job: _Job,
    mkfs: Sequence[str],
    mount: Callable[[Path], AbstractContextManager[object]],
) -> None:
    """Format a blank image of ``job.size`` MiB with ``mkfs`` (the image path
    is appended), mount it with ``mount(mountpoint)``, copy the files in and
    delete ``job.gone``: for filesystems only a driver can write."""
    with open(job.out, "wb") as fh:
        fh.truncate(job.size * MIB)
    _run([*mkfs, str(job.out)])
    with tempfile.TemporaryDirectory(prefix="triage-mnt-") as mnt_dir:
        mnt = Path(mnt_dir)
        with mount(mnt):
            _copy_then_delete(job.files, job.src, mnt, job.gone)


def _build_ntfs(job: _Job) -> None:
    """NTFS with ``mkntfs``, filled through the ntfs-3g FUSE driver."""
    mkfs = ["mkntfs", "-F", "-q", "-f", "-T", "-s", "512", "-L", job.label]
    opts = "no_detach,streams_interface=windows"
    _format_and_fill(
        job,
        mkfs,
        lambda mnt: _fuse_mount(["ntfs-3g", "-o", opts, str(job.out), str(mnt)], mnt),
    )


@contextmanager
def _loop_device(image: Path) -> Iterator[str]:
    dev = _run(["losetup", "-f", "--show", str(image)]).strip()
    try:
        yield dev
    finally:
        subprocess.run(["losetup", "-d", dev], capture_output=True, check=False)


@contextmanager
def _exfat_mount(image: Path, mnt: Path) -> Iterator[Path]:
    """Mount an exFAT image with ``mount.exfat-fuse`` over a loop device."""
    with _loop_device(image) as dev:
        with _fuse_mount(["mount.exfat-fuse", "-d", dev, str(mnt)], mnt):
            yield mnt


def _build_exfat(job: _Job) -> None:
    """exFAT with ``mkfs.exfat``, filled through the exfat FUSE driver."""
    mkfs = ["mkfs.exfat", "-L", job.label[:11]]
    _format_and_fill(job, mkfs, lambda mnt: _exfat_mount(job.out, mnt))


def _build_iso(job: _Job) -> None:
    """ISO 9660 with Rock Ridge and Joliet, by ``genisoimage`` (read-only)."""
    _run(
        ["genisoimage", "-quiet", "-R", "-J", "-V", job.label,
         "-o", str(job.out), str(job.src)],
        env={"SOURCE_DATE_EPOCH": str(FIXED_MTIME)},
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class SampleFilesystem:
    """How to build one kind of filesystem image, and what it needs."""

    name: str
    build: Callable[[_Job], None]
    default_mb: int  # smallest sensible size: FAT32 needs >= 65525 clusters
    mbr_type: str  # MBR partition type byte (sfdisk)
    deletable: bool = True  # can its builder delete files after writing them?


# Every filesystem build_filesystem can make, in the order tests list them.
SAMPLE_FILESYSTEMS: Registry[SampleFilesystem] = Registry("sample filesystem")
for _sample in (
    SampleFilesystem("fat12", _build_fat, 4, "01"),
    SampleFilesystem("fat16", _build_fat, 16, "06"),
    SampleFilesystem("fat32", _build_fat, 40, "0c"),
    SampleFilesystem("exfat", _build_exfat, 8, "07"),
    SampleFilesystem("ext2", _build_ext, 8, "83"),
    SampleFilesystem("ext3", _build_ext, 16, "83"),
    SampleFilesystem("ext4", _build_ext, 16, "83"),
    SampleFilesystem("ntfs", _build_ntfs, 16, "07"),
    SampleFilesystem("iso9660", _build_iso, 0, "83", deletable=False),
):
    SAMPLE_FILESYSTEMS.register(_sample)

FILESYSTEMS: tuple[str, ...] = SAMPLE_FILESYSTEMS.names()
# Filesystems whose builder can delete files after writing them.
DELETABLE: frozenset[str] = frozenset(
    f.name for f in SAMPLE_FILESYSTEMS.values() if f.deletable
)


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


@dataclass(frozen=True, slots=True)
class _Layout:
    """Where each partition of a disk goes, in sectors."""

    parts: tuple[tuple[int, int, str], ...]  # (start, sectors, filesystem kind)
    ext_start: int | None  # the extended partition's start (MBR, extended only)
    total_sectors: int


def _check_request(
    images: Sequence[Path], table: str, extended: bool, plant: Mapping[int, bytes]
) -> None:
    """Refuse a table, partition count or option that cannot be built."""
    if table not in ("mbr", "gpt", "none"):
        raise ValueError(f"unknown partition table {table!r}; known: mbr, gpt, none")
    if extended and table != "mbr":
        raise ValueError("extended/logical partitions exist only in an MBR")
    if not images:
        raise ValueError("build_disk needs at least one filesystem image")
    if table == "none" and (len(images) != 1 or plant):
        raise ValueError("table='none' takes exactly one filesystem and no gaps")
    if table == "mbr" and not extended and len(images) > 4:
        raise ValueError("an MBR holds at most 4 primary partitions: use extended")


def _lay_out(images: Sequence[Path], extended: bool, gap: int) -> _Layout:
    """Partitions on 1 MiB boundaries, ``gap`` bytes free after each, room
    for each logical partition's EBR and for the GPT backup header."""
    gap_sectors = max(1, -(-gap // SECTOR))
    parts: list[tuple[int, int, str]] = []
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
        parts.append((start, sectors, kind))
        cursor = _align(start + sectors + gap_sectors)
    return _Layout(tuple(parts), ext_start, cursor + 2048)


def _sfdisk_script(table: str, layout: _Layout, extended: bool) -> list[str]:
    """The ``sfdisk`` input lines that write ``layout`` as an MBR or GPT."""
    if table == "mbr":
        lines = ["label: dos", f"label-id: {DISK_ID_MBR}", "unit: sectors", ""]
        for n, (start, sectors, kind) in enumerate(layout.parts):
            ptype = (
                SAMPLE_FILESYSTEMS.get(kind).mbr_type
                if kind in SAMPLE_FILESYSTEMS
                else "83"
            )
            if extended and n == 1 and layout.ext_start is not None:
                last_start, last_sectors, _ = layout.parts[-1]
                size = last_start + last_sectors - layout.ext_start
                lines.append(f"start={layout.ext_start}, size={size}, type=5")
            lines.append(f"start={start}, size={sectors}, type={ptype}")
        return lines
    lines = ["label: gpt", f"label-id: {DISK_GUID}", "unit: sectors", ""]
    for n, (start, sectors, kind) in enumerate(layout.parts):
        ptype = _GPT_LINUX if kind in ("ext", "iso9660") else _GPT_BASIC_DATA
        uuid = f"{DISK_GUID[:-4]}{n + 1:04X}"
        lines.append(f"start={start}, size={sectors}, type={ptype}, uuid={uuid}")
    return lines


def _check_gap_data(
    plant: Mapping[int, bytes], layout: _Layout, extended: bool
) -> None:
    """Refuse planted bytes outside the free space between partitions."""
    taken = [(s * SECTOR, (s + n) * SECTOR) for s, n, _ in layout.parts]
    for offset, data in plant.items():
        end = offset + len(data)
        if offset < MIB or end > layout.total_sectors * SECTOR - MIB:
            raise ValueError(f"gap_data at {offset} is outside the free space")
        if any(offset < b and end > a for a, b in taken):
            raise ValueError(f"gap_data at {offset} overlaps a partition")
        ebrs = layout.parts[1:]
        if extended and any(offset <= (s - 1) * SECTOR < end for s, _, _ in ebrs):
            raise ValueError(f"gap_data at {offset} overlaps an extended boot record")


def _write_disk(
    out: Path,
    script: list[str],
    layout: _Layout,
    images: Sequence[Path],
    plant: Mapping[int, bytes],
) -> None:
    """Write the partition table with ``sfdisk``, then the filesystems and
    the planted bytes at their offsets."""
    if out.exists():
        out.unlink()
    with open(out, "wb") as fh:
        fh.truncate(layout.total_sectors * SECTOR)
    done = subprocess.run(
        ["sfdisk", "--no-reread", "--no-tell-kernel", "-q", str(out)],
        input="\n".join(script) + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BuildError(f"sfdisk failed: {done.stderr.strip()}")
    with open(out, "r+b") as disk:
        for (start, _, _), image in zip(layout.parts, images, strict=True):
            disk.seek(start * SECTOR)
            with open(image, "rb") as src:
                shutil.copyfileobj(src, disk, MIB)
        for offset, data in plant.items():
            disk.seek(offset)
            disk.write(data)


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
    _check_request(images, table, extended, plant)
    if table == "none":
        shutil.copyfile(images[0], out)
        return out
    layout = _lay_out(images, extended, gap)
    script = _sfdisk_script(table, layout, extended)
    _check_gap_data(plant, layout, extended)
    _write_disk(out, script, layout, images, plant)
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
