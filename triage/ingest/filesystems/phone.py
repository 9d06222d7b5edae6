"""Phone extractions with an index of their own, and folders, as file systems.

- Cellebrite UFDR (``ufdr``): a zip holding ``report.xml`` and the extracted
  files. Each ``<file>`` of the report names the phone path (``path``) and
  the member holding it ("Local Path"): the member is walked with the
  phone's path. A file the report lists that the zip lacks is a ``Skipped``
  row "listed in report.xml but not in the UFDR"; members the report does
  not name are walked with their own paths. A malformed ``report.xml``
  is one ``Skipped`` row and the zip is walked by its own paths.
- iTunes/Finder backup (``itunes-backup``): a folder whose ``Manifest.db``
  (SQLite, table ``Files``) maps each stored file ``xx/<fileID>`` to its
  ``domain/relativePath``. It is opened read-only and immutable (no journal
  is written beside it). An encrypted backup (``Manifest.plist``
  ``IsEncrypted``) cannot be read: "encrypted backup" naming the device.
- A folder of files (``folder``): read-only, every regular file under it,
  symbolic links not followed.
"""

from __future__ import annotations

import os
import plistlib
import sqlite3
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from triage.errors import FilesystemError
from triage.ingest.evidence import DeviceHandle
from triage.ingest.filesystems.base import (
    FILESYSTEMS,
    NotThisFilesystem,
    RecordIO,
    record_where,
)
from triage.ingest.filesystems.extraction import (
    ArchiveFilesystem,
    MediaFile,
    ZipExtraction,
    clean_path,
    local_member,
    open_zip,
)
from triage.records import FileRecord, Partition, Skipped, Stage

REPORT = "report.xml"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _file_local_path(elem: ET.Element) -> str | None:
    for item in elem.iter():
        if _local(item.tag) == "item" and item.get("name") == "Local Path":
            return clean_path(item.text or "")
    return None


def ufdr_files(fh: Any) -> Iterator[tuple[str, str | None]]:
    """(phone path, member path) of each ``<file>`` in a report.xml stream.

    Raises:
        ET.ParseError: the XML is malformed (after what was read before).
    """
    for _, elem in ET.iterparse(fh, events=("end",)):
        if _local(elem.tag) != "file":
            continue
        path = clean_path(elem.get("path") or "")
        if path:
            yield path, _file_local_path(elem)
        elem.clear()


def ufdr_details(fh: Any) -> str | None:
    """ "model=..; os=..; extraction=.." from a report.xml stream (None: none)."""
    found: dict[str, str] = {}
    try:
        for _, elem in ET.iterparse(fh, events=("end",)):
            tag, name = _local(elem.tag), elem.get("name") or ""
            if tag == "extractionInfo" and elem.get("type"):
                found.setdefault("extraction", elem.get("type") or "")
            elif tag == "item" and elem.text:
                key = _DETAIL_ITEMS.get(name)
                if key:
                    found.setdefault(key, elem.text.strip())
            elif tag == "file":
                elem.clear()
    except ET.ParseError:
        pass
    if not found:
        return None
    return "; ".join(f"{k}={v}" for k, v in sorted(found.items()))


_DETAIL_ITEMS = {
    "DeviceInfoDetectedModel": "model",
    "DeviceInfoSelectedModel": "model",
    "DeviceInfoOSVersion": "os",
    "DeviceInfoOSType": "os",
    "DeviceInfoExtractionType": "extraction",
}


class Ufdr(ZipExtraction):
    """A Cellebrite UFDR: members with the paths ``report.xml`` gives them.

    The zip's member names are held while the report is read (to tell the
    files it lists from the ones the zip lacks), so memory grows with the
    member count here, unlike a full-file-system zip."""

    name = container = "ufdr"

    @classmethod
    def open(cls, handle: DeviceHandle, offset: int) -> Ufdr:
        if offset != 0 or handle.device.container != cls.container:
            raise NotThisFilesystem(f"{handle.device.device_id}: not a UFDR")
        where = open_zip(handle)
        if where is None:
            raise FilesystemError(
                f"{handle.device.device_id}: UFDR zip has no central directory"
            )
        return cls(handle, where)

    def members(self, partition: Partition) -> Iterator[FileRecord | Skipped]:
        infos = {clean_path(e.name): e for e in self.entries()}
        report = next((n for n in infos if n.lower() == REPORT), None)
        used: set[str] = {report} if report else set()
        if report is not None:
            fh = local_member(
                MediaFile(self.handle), infos[report].offset, infos[report].size
            )
            try:
                for phone_path, local in ufdr_files(fh):
                    entry = infos.get(local or "")
                    if entry is None:
                        yield Skipped.at_filesystem(
                            partition, Stage.INGEST,
                            "listed in report.xml but not in the UFDR"
                            + (f" (as {local})" if local else ""),
                            inner=phone_path,
                        )  # fmt: skip
                        continue
                    used.add(local or "")
                    yield from self._member(partition, entry, phone_path)
            except (ET.ParseError, zlib.error) as exc:
                yield Skipped.at_filesystem(
                    partition, Stage.INGEST,
                    f"report.xml is malformed ({exc}): the files it did not "
                    "name before that point are listed by their paths in "
                    "the zip", inner=REPORT,
                )  # fmt: skip
        for path, entry in infos.items():
            if path not in used:
                yield from self._member(partition, entry, path)


class FolderDevice(ArchiveFilesystem):
    """A folder of files as one device (read-only, links not followed)."""

    name = container = "folder"

    @classmethod
    def open(cls, handle: DeviceHandle, offset: int) -> FolderDevice:
        if offset != 0 or handle.device.container != cls.container:
            raise NotThisFilesystem(f"{handle.device.device_id}: not a folder device")
        return cls(handle, 0, cls.container)

    @property
    def folder(self) -> Path:
        return Path(self.handle.device.evidence)

    def members(self, partition: Partition) -> Iterator[FileRecord | Skipped]:
        root = self.folder
        stack = [root]
        while stack:
            here = stack.pop()
            try:
                entries = sorted(os.scandir(here), key=lambda e: e.name)
            except OSError as exc:
                yield Skipped.at_filesystem(
                    partition, Stage.INGEST, f"cannot list folder: {exc.strerror}",
                    inner=str(here.relative_to(root)) or "/",
                )  # fmt: skip
                continue
            folders = []
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    folders.append(Path(entry.path))
                elif entry.is_file(follow_symlinks=False):
                    yield self._file(partition, root, entry)
            stack.extend(reversed(folders))

    def _file(
        self, partition: Partition, root: Path, entry: os.DirEntry[str]
    ) -> FileRecord | Skipped:
        rel = Path(entry.path).relative_to(root).as_posix()
        try:
            rel.encode("utf-8")
        except UnicodeEncodeError:
            shown = rel.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            return Skipped.at_filesystem(
                partition, Stage.INGEST,
                "file name is not valid UTF-8: not read", inner=shown,
            )  # fmt: skip
        st = entry.stat(follow_symlinks=False)
        return self.record(partition, rel, st.st_ino, st.st_size, st.st_mtime)

    def open_file(self, record: FileRecord) -> RecordIO:
        return _file_reader(self.handle, record, self.folder / record.path)


def _file_reader(handle: DeviceHandle, record: FileRecord, path: Path) -> RecordIO:
    """A read-only file of a folder device (opened at each read, so nothing
    stays open, and by ``os.pread``)."""
    where = record_where(handle, record)
    size = record.size

    def read(offset: int, want: int) -> bytes:
        want = min(want, size - offset)
        if want <= 0:
            return b""
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
            try:
                return os.pread(fd, want, offset)
            finally:
                os.close(fd)
        except OSError as exc:
            raise FilesystemError(f"{where}: cannot read: {exc.strerror}") from exc

    return RecordIO(read, size)


# --- iTunes / Finder backups --------------------------------------------------------


def backup_details(folder: Path) -> str | None:
    """Device name, model and iOS version from ``Info.plist``, and whether
    ``Manifest.plist`` says the backup is encrypted."""
    found: dict[str, str] = {}
    for name, keys in (
        ("Info.plist", (("Device Name", "name"), ("Product Type", "model"),
                        ("Product Version", "os"))),
        ("Manifest.plist", (("IsEncrypted", "encrypted"),)),
    ):  # fmt: skip
        try:
            with open(folder / name, "rb") as fh:
                plist = plistlib.load(fh)
        except (OSError, plistlib.InvalidFileException, ValueError):
            continue
        lockdown = plist.get("Lockdown") or {}
        for key, label in keys:
            value = plist.get(key, lockdown.get(key.replace(" ", "")))
            if value is not None:
                found.setdefault(label, str(value))
    if not found:
        return None
    return "; ".join(f"{k}={v}" for k, v in sorted(found.items()))


class ItunesBackup(ArchiveFilesystem):
    """An iTunes/Finder backup folder, through its ``Manifest.db``."""

    name = container = "itunes-backup"

    def __init__(self, handle: DeviceHandle, db: sqlite3.Connection) -> None:
        super().__init__(handle, 0, self.container)
        self._db = db

    @property
    def folder(self) -> Path:
        return Path(self.handle.device.evidence)

    @classmethod
    def open(cls, handle: DeviceHandle, offset: int) -> ItunesBackup:
        dev = handle.device.device_id
        if offset != 0 or handle.device.container != cls.container:
            raise NotThisFilesystem(f"{dev}: not an iTunes backup")
        folder = Path(handle.device.evidence)
        details = backup_details(folder) or ""
        if "encrypted=True" in details:
            raise FilesystemError(
                f"{dev}: encrypted backup of "
                f"{_detail(details, 'name') or 'an unnamed device'}: not read "
                "(no password support)"
            )
        return cls(handle, _manifest(dev, folder / "Manifest.db"))

    def members(self, partition: Partition) -> Iterator[FileRecord | Skipped]:
        rows = self._db.execute(
            "SELECT rowid, fileID, domain, relativePath FROM Files "
            "WHERE flags = 1 ORDER BY rowid"
        )
        for rowid, file_id, domain, relative in rows:
            path = clean_path(f"{domain}/{relative}")
            stored = self.folder / str(file_id)[:2] / str(file_id)
            try:
                st = stored.lstat()
            except OSError:
                yield Skipped.at_filesystem(
                    partition, Stage.INGEST,
                    f"listed in Manifest.db but missing from the backup folder "
                    f"(as {file_id[:2]}/{file_id})", inner=path,
                )  # fmt: skip
                continue
            yield self.record(partition, path, rowid, st.st_size, st.st_mtime)

    def open_file(self, record: FileRecord) -> RecordIO:
        row = self._db.execute(
            "SELECT fileID FROM Files WHERE rowid = ?", (record.inode,)
        ).fetchone()
        if row is None:
            raise FilesystemError(
                f"{record_where(self.handle, record)}: not in Manifest.db"
            )
        file_id = str(row[0])
        return _file_reader(self.handle, record, self.folder / file_id[:2] / file_id)


def _detail(details: str, key: str) -> str | None:
    for part in details.split("; "):
        if part.startswith(f"{key}="):
            return part[len(key) + 1 :]
    return None


def _manifest(dev: str, path: Path) -> sqlite3.Connection:
    """``Manifest.db`` opened read-only and immutable, its table checked.

    Raises:
        FilesystemError: missing, not SQLite, or without the ``Files`` table.
    """
    if not path.is_file():
        raise FilesystemError(f"{dev}: Manifest.db is missing (older backup?)")
    with open(path, "rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            raise FilesystemError(
                f"{dev}: Manifest.db is not an SQLite database (encrypted or damaged)"
            )
    db = sqlite3.connect(
        f"{path.absolute().as_uri()}?mode=ro&immutable=1",
        uri=True,
        check_same_thread=False,
    )
    try:
        db.execute("SELECT rowid, fileID, domain, relativePath, flags FROM Files "
                   "LIMIT 1").fetchall()  # fmt: skip
    except sqlite3.DatabaseError as exc:
        db.close()
        raise FilesystemError(
            f"{dev}: Manifest.db has no usable Files table: {exc}"
        ) from exc
    return db


for _backend in (Ufdr, FolderDevice, ItunesBackup):
    FILESYSTEMS.register(_backend)
