"""Filesystem images whose files are fragmented, built by the ordinary tools.

``build_in_order(fs, steps, out)`` formats an image and runs ``steps`` in
order: ``("write", name, data)``, ``("delete", name)`` or ``("fill",
name)`` (a file of seeded random bytes taking all the free space). Both
drivers allocate next-fit, so with the disk filled, holes deleted and a
file written that is larger than the first hole, the file lies in two
pieces (the hole, then the next hole), as on a used card: FAT32 with
``mkfs.fat`` + mtools (no mount), NTFS with ``mkntfs`` through the ntfs-3g
FUSE driver. Used by the carving benchmark and tests.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path

from triage.sample.disk import MIB, VOLUME_ID, _fuse_mount, _run

Step = tuple[str, str] | tuple[str, str, bytes]


def build_in_order(
    fs: str, steps: Sequence[Step], out: Path | str, *, size_mb: int, cluster: int
) -> Path:
    """Make a ``fs`` ("fat32" or "ntfs") image of ``size_mb`` MiB with
    ``cluster``-byte clusters at ``out`` and run ``steps`` on it in order.

    Raises:
        ValueError: an unknown ``fs`` or step.
        BuildError: a tool failed.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "wb") as fh:
        fh.truncate(size_mb * MIB)
    if fs == "fat32":
        _fat_steps(out, steps, cluster)
    elif fs == "ntfs":
        _ntfs_steps(out, steps, cluster)
    else:
        raise ValueError(f"unknown filesystem {fs!r}; known: fat32, ntfs")
    return out


def _fat_steps(image: Path, steps: Sequence[Step], cluster: int) -> None:
    out = str(image)
    _run(["mkfs.fat", "-F", "32", "-s", str(cluster // 512), "-i", VOLUME_ID, out])
    env = {"MTOOLS_SKIP_CHECK": "1"}
    made: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="triage-frag-") as tmp:
        for step in steps:
            name = step[1]
            folder = name.rsplit("/", 1)[0] if "/" in name else ""
            if step[0] == "write" and len(step) == 3:
                if folder and folder not in made:
                    for depth in range(1, folder.count("/") + 2):
                        part = "/".join(folder.split("/")[:depth])
                        if part not in made:
                            _run(["mmd", "-i", out, f"::/{part}"], env=env)
                            made.add(part)
                src = Path(tmp) / "f"
                src.write_bytes(step[2])
                _run(["mcopy", "-o", "-i", out, str(src), f"::/{name}"], env=env)
            elif step[0] == "delete":
                _run(["mdel", "-i", out, f"::/{name}"], env=env)
            elif step[0] == "fill":
                listing = _run(["mdir", "-i", out, "::/"], env=env)
                free = re.search(r"([\d ]+) bytes free", listing)
                if free is None:
                    raise ValueError(f"mdir gave no free space: {listing!r}")
                size = int(free.group(1).replace(" ", ""))
                src = Path(tmp) / "f"
                src.write_bytes(random.Random(size).randbytes(size))
                _run(["mcopy", "-o", "-i", out, str(src), f"::/{name}"], env=env)
            else:
                raise ValueError(f"unknown step {step[0]!r}")


def _ntfs_steps(image: Path, steps: Sequence[Step], cluster: int) -> None:
    _run(["mkntfs", "-F", "-q", "-f", "-T", "-c", str(cluster), str(image)])
    with tempfile.TemporaryDirectory(prefix="triage-mnt-") as mnt_dir:
        mnt = Path(mnt_dir)
        command = ["ntfs-3g", "-o", "no_detach", str(image), str(mnt)]
        with _fuse_mount(command, mnt):
            for step in steps:
                target = mnt / step[1]
                if step[0] == "write" and len(step) == 3:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    with open(target, "wb") as fh:
                        fh.write(step[2])
                        fh.flush()
                        os.fsync(fh.fileno())
                elif step[0] == "delete":
                    target.unlink()
                elif step[0] == "fill":
                    _fill(target)
                else:
                    raise ValueError(f"unknown step {step[0]!r}")


def _fill(target: Path) -> None:
    """Write seeded random bytes to ``target`` until the volume is full."""
    rng = random.Random(1)
    with open(target, "wb") as fh:
        try:
            while True:
                fh.write(rng.randbytes(1 << 16))
                fh.flush()
        except OSError:  # ENOSPC: the volume is full
            pass
        try:
            os.fsync(fh.fileno())
        except OSError:
            pass
