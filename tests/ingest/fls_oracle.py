"""Sleuth Kit's ``fls -r -p -l`` as the oracle for what a walk must list.

Shared by the ingest and CLI tests (not collected: no ``test_`` prefix).
"""

from __future__ import annotations

import hashlib
import subprocess
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from triage.records import FileRecord, Source

Listing = Counter[tuple[str, int, bool]]

# One benign source tree: nested folders, long and non-ASCII names, an empty
# file, multi-cluster files, a generated JPEG and PNG.
SOURCE_FILES: dict[str, bytes] = {}


def source_files(fs: str | None = None) -> dict[str, bytes]:
    """The known source folder (built once; pictures are seeded).

    For FAT the non-ASCII name is left out: mtools cannot write it. NTFS gets
    a PNG in an alternate data stream of readme.txt.
    """
    if not SOURCE_FILES:
        _fill()
    if fs is not None and fs.startswith("fat"):
        return {k: v for k, v in SOURCE_FILES.items() if k.isascii()}
    if fs == "ntfs":  # a picture hidden in an alternate data stream
        hidden = SOURCE_FILES["pictures/chart.png"]
        return {**SOURCE_FILES, "readme.txt:hidden.png": hidden}
    return SOURCE_FILES


def _fill() -> None:
    from triage.sample.pictures import encode, make_picture

    SOURCE_FILES.update(
        {
            "readme.txt": b"benign test file\n",
            "empty.dat": b"",
            "docs/Long File Name Report.txt": b"report line\n" * 700,
            "docs/deep/er/still/data.bin": bytes(range(256)) * 97,
            "pictures/holiday.jpg": encode(make_picture(1, 160, 120), "JPEG"),
            "pictures/chart.png": encode(make_picture(2, 96, 64), "PNG"),
            "pictures/caf\u00e9.txt": "caf\u00e9 \u00fcber\n".encode() * 10,
            "gone.txt": b"deleted but recoverable " * 300,
            "docs/gone2.bin": bytes(reversed(range(256))) * 40,
            "olddir/a.txt": b"in a deleted folder\n" * 50,
            "olddir/sub/b.txt": b"deeper in a deleted folder\n" * 90,
        }
    )


DELETED = ("gone.txt", "docs/gone2.bin")
DELETED_TREE = "olddir"  # a folder deleted with everything in it


def fls_listing(
    images: Sequence[Path | str], offset: int = 0, imgtype: str | None = None
) -> Listing:
    """(path, size, deleted) of every regular file fls lists at ``offset``.

    Same rule as ``triage.ingest.filesystems.tsk``: metadata type ``r``, or no metadata
    and name type ``r``; the FAT volume label entry is not a file.
    """
    args = ["fls", "-r", "-p", "-l", "-o", str(offset // 512)]
    if imgtype:
        args += ["-i", imgtype]
    out = subprocess.run(
        [*args, *map(str, images)], capture_output=True, text=True, check=True
    ).stdout
    listing: Listing = Counter()
    for line in out.splitlines():
        fields = line.split("\t")
        head, name = fields[0], fields[1]
        kinds = head.split()[0]
        name_type, meta_type = kinds.split("/")
        if not (meta_type == "r" or (meta_type == "-" and name_type == "r")):
            continue
        if name.endswith("(Volume Label Entry)") and "/" not in name:
            continue
        name = name.removesuffix(" (realloc)")
        listing[(name, int(fields[6]), "*" in head.split())] += 1
    return listing


def triage_listing(records: Iterable[object], offset: int | None = None) -> Listing:
    """(path, size, deleted) of filesystem records (at one partition offset)."""
    listing: Listing = Counter()
    for r in records:
        if not isinstance(r, FileRecord) or r.source is not Source.FILESYSTEM:
            continue
        if offset is None or r.partition_offset == offset:
            listing[(r.path, r.size, r.deleted)] += 1
    return listing


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
