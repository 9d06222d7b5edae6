"""Phone extractions and bare APFS containers as evidence containers.

A phone reaches the examiner as an extraction, not a disk image: a zip or
tar of its whole file system, a Cellebrite UFDR (a zip holding
``report.xml``), an Android ``.ab`` backup, an iTunes/Finder backup folder,
or a folder of files. Each is recognised here by content (a folder by its
structure), never by name, and read as flat bytes (``RawReader``); the
filesystem backend of its kind (``filesystems/extraction.py`` and the
modules beside it) walks its members. A folder is read through its files:
its "bytes" are none (``FolderReader``).

The kinds register before split and raw (a tar or zip may happen to be a
whole number of sectors); UFDR before plain zip.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from triage.ingest.containers.base import (
    CONTAINERS,
    Container,
    RawReader,
    Reader,
    single_file,
)

ZIP_LOCAL = b"PK\x03\x04"
ANDROID_MAGIC = b"ANDROID BACKUP\n"
UFDR_REPORT = "report.xml"
_APFS_MAGIC = b"NXSB"


def _open_flat(segments: Sequence[str]) -> Reader:
    return RawReader(segments)


def _is_zip(head: bytes) -> bool:
    return head.startswith(ZIP_LOCAL) or head.startswith(b"PK\x05\x06")


def _report_entry(path: Path, fh: Any) -> Any:
    """The UFDR report's central-directory entry, streamed (None: none)."""
    from triage.ingest.filesystems.zip_directory import find_entry

    return find_entry(fh, os.fstat(fh.fileno()).st_size, UFDR_REPORT)


def _is_ufdr(path: Path, head: bytes, size: int) -> bool:
    if not _is_zip(head):
        return False
    try:
        with open(path, "rb") as fh:
            return _report_entry(path, fh) is not None
    except OSError:
        return False


def _ufdr_details(segments: Sequence[str]) -> str | None:
    from triage.ingest.filesystems.extraction import local_member
    from triage.ingest.filesystems.phone import ufdr_details

    try:
        with open(segments[0], "rb") as fh:
            entry = _report_entry(Path(segments[0]), fh)
            if entry is None:
                return None
            return ufdr_details(local_member(fh, entry.offset, entry.size))
    except (OSError, ValueError, NotImplementedError):
        return None


def _backup_details(segments: Sequence[str]) -> str | None:
    from triage.ingest.filesystems.phone import backup_details

    return backup_details(Path(segments[0]))


def _is_ffs_zip(path: Path, head: bytes, size: int) -> bool:
    return _is_zip(head)


#: Central-directory entries looked at to tell a document from an
#: extraction (a document's markers are among its first few).
DOCUMENT_ENTRIES = 100_000
#: Root members that make a zip a document or package: OOXML (.docx, .xlsx,
#: .pptx), Java archives and Android packages.
_OOXML, _MANIFEST = "[Content_Types].xml", "META-INF/MANIFEST.MF"
_APP_CODE = frozenset({"classes.dex", "AndroidManifest.xml"})


def is_document_zip(path: Path) -> bool:
    """A zip that is a document or app package, not a phone extraction, by
    content: ``[Content_Types].xml`` at the root (OOXML), a first member
    ``mimetype`` (ODF, EPUB), or ``META-INF/MANIFEST.MF`` with
    ``classes.dex``, ``AndroidManifest.xml`` or ``.class`` files (APK, JAR)."""
    from triage.ingest.filesystems.zip_directory import (
        find_directory,
        iter_directory,
    )

    try:
        with open(path, "rb") as fh:
            head = fh.read(30 + 8)
            if head[:4] == ZIP_LOCAL and head[26:28] == b"\x08\x00":
                if head[30:38] == b"mimetype":
                    return True
            where = find_directory(fh, os.fstat(fh.fileno()).st_size)
            if where is None:
                return False
            manifest = code = False
            for n, entry in enumerate(iter_directory(fh, where)):
                if n >= DOCUMENT_ENTRIES:
                    break
                name = entry.name
                if (n == 0 and name == "mimetype") or name == _OOXML:
                    return True
                manifest = manifest or name == _MANIFEST
                code = code or name in _APP_CODE or name.endswith(".class")
                if manifest and code:
                    return True
    except (OSError, ValueError, struct.error):
        return False
    return False


def _is_tar(path: Path, head: bytes, size: int) -> bool:
    from triage.ingest.media import sniff

    if head[257:262] == b"ustar":
        return True
    if head[:2] in (b"\x1f\x8b", b"BZ", b"\xfd7") and sniff(head) in (
        "application/gzip",
        "application/x-bzip2",
        "application/x-xz",
    ):
        return _compressed_tar(path)
    return False


def _compressed_tar(path: Path) -> bool:
    """A gzip/bzip2/xz file whose first 512 decompressed bytes are a tar
    header (only those are read: a long-name header's data never is)."""
    import bz2
    import gzip
    import lzma
    import tarfile
    import zlib

    openers: dict[bytes, Any] = {
        b"\x1f\x8b": gzip.open,
        b"BZ": bz2.open,
        b"\xfd7": lzma.open,
    }
    try:
        with open(path, "rb") as raw:
            opener = openers.get(raw.read(2))
        if opener is None:
            return False
        with opener(path, "rb") as fh:
            block = fh.read(tarfile.BLOCKSIZE)
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except (
        tarfile.TarError,
        OSError,
        EOFError,
        ValueError,
        zlib.error,
        lzma.LZMAError,
    ):
        return False
    return True


def _is_android(path: Path, head: bytes, size: int) -> bool:
    return head.startswith(ANDROID_MAGIC)


def _is_apfs(path: Path, head: bytes, size: int) -> bool:
    return head[32:36] == _APFS_MAGIC


# --- folders --------------------------------------------------------------------


class FolderReader:
    """A folder read through its files: no flat bytes (size: the total of
    its files, for progress)."""

    def __init__(self, segments: Sequence[str]) -> None:
        self.size = _tree_size(segments[0])

    def read(self, offset: int, size: int) -> bytes:
        return b""

    def close(self) -> None:
        """Nothing held open."""


def _tree_size(root: str) -> int:
    total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except OSError:
                continue
    return total


def _open_folder(segments: Sequence[str]) -> Reader:
    return FolderReader(segments)


def is_itunes_backup(path: Path) -> bool:
    """A folder with ``Manifest.db`` or ``Manifest.plist`` beside ``Info.plist``
    or ``Status.plist`` (an iTunes/Finder backup of an iPhone)."""
    return path.is_dir() and (
        (path / "Manifest.db").is_file() or (path / "Manifest.plist").is_file()
    )


def _itunes(path: Path, head: bytes, size: int) -> bool:
    return is_itunes_backup(path)


def _plain_folder(path: Path, head: bytes, size: int) -> bool:
    return path.is_dir()


for _container in (
    Container(
        "ufdr",
        "Cellebrite UFDR",
        _is_ufdr,
        single_file,
        _open_flat,
        describe=_ufdr_details,
    ),
    Container(
        "ffs-zip",
        "full-file-system zip",
        _is_ffs_zip,
        single_file,
        _open_flat,
        passed_over=is_document_zip,
    ),
    Container("ffs-tar", "full-file-system tar", _is_tar, single_file, _open_flat),
    Container(
        "android-backup", "Android backup (.ab)", _is_android, single_file, _open_flat
    ),
    Container("apfs", "APFS container", _is_apfs, single_file, _open_flat),
    Container(
        "itunes-backup",
        "iTunes/Finder backup",
        _itunes,
        single_file,
        _open_folder,
        describe=_backup_details,
        folder=True,
    ),
    Container(
        "folder",
        "folder of files",
        _plain_folder,
        single_file,
        _open_folder,
        folder=True,
    ),
):
    CONTAINERS.register(_container)
