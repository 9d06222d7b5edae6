"""Phone extractions with an index of their own, and folders, as file systems.

- Cellebrite UFDR (``ufdr``): a zip holding ``report.xml`` and the extracted
  files. Each ``<file>`` of the report names the phone path (``path``) and
  the member holding it ("Local Path"): the member is walked with the
  phone's path. A file the report lists that the zip lacks is a ``Skipped``
  row "listed in report.xml but not in the UFDR"; members the report does
  not name are walked with their own paths. A malformed ``report.xml``
  is one ``Skipped`` row and the zip is walked by its own paths. Members
  whose names clean to one path are all listed: the first under the
  report's phone path (when named), the others under their zip path. The
  report is parsed in bounded memory (each element is dropped once read),
  and its device details only up to its file list or decoded data.
- iTunes/Finder backup (``itunes-backup``): a folder whose ``Manifest.db``
  (SQLite, table ``Files``) maps each stored file ``xx/<fileID>`` to its
  ``domain/relativePath``. It is opened read-only and immutable (no journal
  is written beside it). An encrypted backup (``Manifest.plist``
  ``IsEncrypted``) is read with ``--password``, decrypted in memory only
  (``itunes_crypto``); without one it is "encrypted backup" naming the
  device, with a wrong one "encrypted backup of NAME: wrong password".
- A folder of files (``folder``): read-only, every regular file under it,
  symbolic links not followed.
"""

from __future__ import annotations

import os
import plistlib
import re
import sqlite3
import stat
import xml.etree.ElementTree as ET
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from triage.errors import FilesystemError
from triage.ingest.evidence import DeviceHandle
from triage.ingest.filesystems import itunes_crypto as crypto
from triage.ingest.filesystems.base import (
    FILESYSTEMS,
    NotThisFilesystem,
    RecordIO,
    pread_file,
    record_where,
)
from triage.ingest.filesystems.cbc import CbcFile
from triage.ingest.filesystems.extraction import (
    ArchiveFilesystem,
    MediaFile,
    ZipExtraction,
    clean_path,
    local_member,
    open_zip,
)
from triage.ingest.filesystems.passwords import given_password
from triage.ingest.filesystems.zip_directory import CentralEntry
from triage.records import FileRecord, Partition, Skipped, Stage

REPORT = "report.xml"


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _file_local_path(elem: ET.Element) -> str | None:
    for item in elem.iter():
        if _local(item.tag) == "item" and item.get("name") == "Local Path":
            return clean_path(item.text or "")
    return None


def _report_ends(fh: Any, stop: frozenset[str] = frozenset()) -> Iterator[ET.Element]:
    """Each element of a report.xml stream at its end. Once handed on, an
    element that is not inside a ``<file>`` is cleared and dropped from its
    parent, so what is held is the path from the root to here (and the
    ``<file>`` being read), whatever the report's size (chats, contacts).
    Ends at the start of an element whose tag is in ``stop``.

    Raises:
        ET.ParseError: the XML is malformed (after what was read before).
    """
    open_: list[ET.Element] = []
    in_file = 0
    for event, elem in ET.iterparse(fh, events=("start", "end")):
        tag = _local(elem.tag)
        if event == "start":
            if tag in stop:
                return
            open_.append(elem)
            in_file += tag == "file"
            continue
        open_.pop()
        yield elem
        in_file -= tag == "file"
        if not in_file:
            elem.clear()
            if open_:
                open_[-1].remove(elem)


def ufdr_files(fh: Any) -> Iterator[tuple[str, str | None]]:
    """(phone path, member path) of each ``<file>`` in a report.xml stream.

    Raises:
        ET.ParseError: the XML is malformed (after what was read before).
    """
    for elem in _report_ends(fh):
        if _local(elem.tag) != "file":
            continue
        path = clean_path(elem.get("path") or "")
        if path:
            yield path, _file_local_path(elem)


#: Where a report's device details have all been given (its file list and
#: decoded data come after them): the details parse ends there.
_DETAILS_END = frozenset({"taggedFiles", "decodedData"})


def ufdr_details(fh: Any) -> str | None:
    """ "model=..; os=..; extraction=.." from a report.xml stream (None:
    none), read up to ``_DETAILS_END`` or until all three are found."""
    found: dict[str, str] = {}
    try:
        for elem in _report_ends(fh, _DETAILS_END):
            tag, name = _local(elem.tag), elem.get("name") or ""
            if tag == "extractionInfo" and elem.get("type"):
                found.setdefault("extraction", elem.get("type") or "")
            elif tag == "item" and elem.text:
                key = _DETAIL_ITEMS.get(name)
                if key:
                    found.setdefault(key, elem.text.strip())
            if len(found) == len(_DETAIL_KEYS):
                break
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
_DETAIL_KEYS = frozenset(_DETAIL_ITEMS.values())


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
        infos: dict[str, list[CentralEntry]] = {}
        for entry in self.entries():  # every member, a name held twice too
            infos.setdefault(clean_path(entry.name), []).append(entry)
        report = next((n for n in infos if n.lower() == REPORT), None)
        used: set[str] = {report} if report else set()
        if report is not None:
            try:
                for phone_path, local in self._listed(infos[report][0]):
                    entries = infos.get(local or "")
                    if entries is None:
                        yield Skipped.at_filesystem(
                            partition, Stage.INGEST,
                            "listed in report.xml but not in the UFDR"
                            + (f" (as {local})" if local else ""),
                            inner=phone_path,
                        )  # fmt: skip
                        continue
                    used.add(local or "")
                    yield from self._member(partition, entries[0], phone_path)
            except (ET.ParseError, zlib.error, ValueError, NotImplementedError) as exc:
                yield Skipped.at_filesystem(
                    partition, Stage.INGEST,
                    f"report.xml is malformed ({exc}): the files it did not "
                    "name before that point are listed by their paths in "
                    "the zip", inner=REPORT,
                )  # fmt: skip
        for path, entries in infos.items():
            # A member the report named is listed with its phone path; any
            # other member of the same name, and every unnamed one, with
            # its path in the zip.
            for entry in entries[1:] if path in used else entries:
                yield from self._member(partition, entry, path)

    def _listed(self, report: CentralEntry) -> Iterator[tuple[str, str | None]]:
        """(path on the phone, member name) of each file ``report.xml`` lists,
        read from its member as it streams. Raises, at the first item,
        ``ValueError`` (no local header where the directory says) or
        ``NotImplementedError`` (a compression other than stored or deflate)."""
        yield from ufdr_files(
            local_member(MediaFile(self.handle), report.offset, report.size)
        )


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
    return RecordIO(pread_file(path, record_where(handle, record)), record.size)


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
        if not isinstance(plist, dict):
            continue  # not the dictionary these files are
        lockdown = plist.get("Lockdown")
        lockdown = lockdown if isinstance(lockdown, dict) else {}
        for key, label in keys:
            value = plist.get(key, lockdown.get(key.replace(" ", "")))
            if value is not None:
                found.setdefault(label, str(value))
    if not found:
        return None
    return "; ".join(f"{k}={v}" for k, v in sorted(found.items()))


#: Where the files of a backup folder that ``Manifest.db`` does not name are
#: listed (by their stored names ``xx/<file ID>``): no iOS domain is spelt so.
UNLISTED = "(not in Manifest.db)"
_FILE_ID = re.compile(r"[0-9a-f]{40}")
_STORED = re.compile(r"[0-9a-f]{2}/[0-9a-f]{40}")
_HEX2 = re.compile(r"[0-9a-f]{2}")


class ItunesBackup(ArchiveFilesystem):
    """An iTunes/Finder backup folder, through its ``Manifest.db``; an
    encrypted one through its keybag (``keys``) as well. The stored files
    ``Manifest.db`` does not name (an interrupted backup, an older
    ``Manifest.db``), or all of them when an unencrypted backup's
    ``Manifest.db`` is unusable (``db`` None, ``why``), are listed by their
    stored names under ``UNLISTED``."""

    name = container = "itunes-backup"

    def __init__(
        self,
        handle: DeviceHandle,
        db: sqlite3.Connection | None,
        keys: Any = None,
        why: str = "",
    ) -> None:
        super().__init__(handle, 0, self.container)
        self._db, self._keys, self._why = db, keys, why

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
            name = _detail(details, "name") or "an unnamed device"
            return cls._open_encrypted(handle, folder, name)
        try:
            return cls(handle, _manifest(dev, folder / "Manifest.db"))
        except FilesystemError as exc:  # its stored files are still plain
            return cls(handle, None, why=exc.reason or str(exc))

    @classmethod
    def _open_encrypted(
        cls, handle: DeviceHandle, folder: Path, name: str
    ) -> ItunesBackup:
        dev = handle.device.device_id
        password = given_password()
        if not password:
            raise FilesystemError(
                where=dev,
                reason=f"encrypted backup of {name}: not read (give --password)",
            )
        plist = crypto.load_manifest_plist(dev, folder)
        keys = crypto.unlock_keybag(dev, name, plist, password)
        db = crypto.decrypted_manifest(dev, folder / "Manifest.db", plist, keys)
        if db is None:  # no ManifestKey (before iOS 10.2): not encrypted
            return cls(handle, _manifest(dev, folder / "Manifest.db"), keys)
        return cls(handle, _with_files(dev, db), keys)

    def _stored(self, file_id: str) -> Path:
        """Where the file ``file_id`` is kept in the backup folder.

        Raises:
            FilesystemError: ``file_id`` is not one (40 hex digits): a
                crafted ``Manifest.db`` must not reach outside the folder.
        """
        if not _FILE_ID.fullmatch(file_id):
            raise FilesystemError(
                where=self.handle.device.device_id,
                reason=f"file ID {file_id[:80]!r} in Manifest.db is not a stored "
                "file name (40 hex digits): not read",
            )
        return self.folder / file_id[:2] / file_id

    def members(self, partition: Partition) -> Iterator[FileRecord | Skipped]:
        seen: set[str] = set()  # file IDs listed through Manifest.db
        whole = self._db is not None
        if self._db is not None:
            try:
                yield from self._listed(partition, seen)
            except FilesystemError as exc:  # damaged part-way: the rest below
                whole = False
                yield Skipped.at_filesystem(
                    partition, Stage.INGEST, exc.reason or str(exc),
                    inner="Manifest.db",
                )  # fmt: skip
        # Its own list of IDs may still read whole when its rows do not (an
        # index of its own): only the files listed count as named then.
        yield from self._unlisted(partition, self._others() | seen if whole else seen)

    def _unlisted(
        self, partition: Partition, named: set[str]
    ) -> Iterator[FileRecord | Skipped]:
        """The stored files not in ``named`` (those ``Manifest.db`` names)
        by their stored names; one skip says how many and why. They are read
        by inode 0 (a rowid is 1 or more)."""
        count = 0
        for sub in sorted(self.folder.iterdir()):
            if not _HEX2.fullmatch(sub.name) or not sub.is_dir() or sub.is_symlink():
                continue
            for stored in sorted(sub.iterdir()):
                file_id = stored.name
                if not _FILE_ID.fullmatch(file_id) or file_id in named:
                    continue
                try:
                    st = stored.lstat()
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                count += 1
                if self._keys is None:
                    path = f"{UNLISTED}/{sub.name}/{file_id}"
                    yield self.record(partition, path, 0, st.st_size, st.st_mtime)
        if count:
            why = (
                f"Manifest.db unusable ({self._why}): {count} stored file(s)"
                if self._db is None
                else f"{count} stored file(s) not named in Manifest.db (or not "
                "read from it)"
            )
            yield Skipped.at_filesystem(
                partition,
                Stage.INGEST,
                f"{why}: "
                + (
                    f"listed by their stored names under '{UNLISTED}/' (no "
                    "domain or path on the phone)"
                    if self._keys is None
                    else "not read (their keys are in Manifest.db)"
                ),
                inner=UNLISTED,
            )

    def _others(self) -> set[str]:
        """The file IDs of ``Manifest.db``'s rows that are not files (folders,
        links): the listing names the files' own."""
        if self._db is None:
            return set()
        named: set[str] = set()
        try:
            for (file_id,) in self._db.execute(
                "SELECT fileID FROM Files WHERE flags IS NOT 1"
            ):
                named.add(str(file_id))
        except sqlite3.DatabaseError:
            pass  # damaged part-way: the listing's own skip says so
        return named

    def _listed(
        self, partition: Partition, seen: set[str]
    ) -> Iterator[FileRecord | Skipped]:
        for rowid, file_id, domain, relative, blob in self._files():
            seen.add(str(file_id))
            path = clean_path(f"{domain}/{relative}")
            file_id = str(file_id)
            try:
                st = self._stored(file_id).lstat()
            except FilesystemError as exc:
                yield Skipped.at_filesystem(
                    partition, Stage.INGEST, exc.reason, inner=path
                )
                continue
            except OSError:
                yield Skipped.at_filesystem(
                    partition, Stage.INGEST,
                    f"listed in Manifest.db but missing from the backup folder "
                    f"(as {file_id[:2]}/{file_id})", inner=path,
                )  # fmt: skip
                continue
            if self._keys is None:
                yield self.record(partition, path, rowid, st.st_size, st.st_mtime)
            else:
                yield self._encrypted(partition, path, rowid, file_id, blob, st)

    def _files(self) -> Iterator[tuple[Any, ...]]:
        """The rows of ``Manifest.db``'s files.

        Raises:
            FilesystemError: the database is damaged part-way through.
        """
        assert self._db is not None
        try:
            yield from self._db.execute(
                "SELECT rowid, fileID, domain, relativePath, file FROM Files "
                "WHERE flags = 1 ORDER BY rowid"
            )
        except sqlite3.DatabaseError as exc:
            raise FilesystemError(
                where=self.handle.device.device_id,
                reason=f"Manifest.db is damaged: {exc}",
            ) from exc

    def _encrypted(
        self, partition: Partition, path: str, rowid: int, file_id: str,
        blob: bytes | None, st: os.stat_result,
    ) -> FileRecord | Skipped:  # fmt: skip
        """The record of one file of an encrypted backup, its size the
        decrypted one."""
        try:
            info = crypto.stored_file(blob)
            size = st.st_size
            if info.key_blob is not None:
                size = crypto.plain_size(
                    info, st.st_size, lambda: self._reader(file_id, info, path)
                )
        except (ValueError, FilesystemError) as exc:
            why = exc.reason if isinstance(exc, FilesystemError) else str(exc)
            return Skipped.at_filesystem(
                partition, Stage.INGEST,
                f"encrypted backup file {file_id[:2]}/{file_id} not read: {why}",
                inner=path,
            )  # fmt: skip
        return self.record(partition, path, rowid, size, info.mtime or st.st_mtime)

    def _reader(
        self, file_id: str, info: crypto.StoredFile, where: str
    ) -> crypto.CbcReader:
        assert info.key_blob is not None
        dev = self.handle.device.device_id
        key = crypto.class_key_unwrap(dev, self._keys, info.key_blob, where)
        stored = self._stored(file_id)
        read = pread_file(stored, f"{dev}: {where}")
        return crypto.file_reader(read, stored.lstat().st_size, key)

    def open_file(self, record: FileRecord) -> RecordIO:
        tail = record.path[len(UNLISTED) + 1 :]
        if record.inode == 0 and record.path.startswith(f"{UNLISTED}/"):
            if not _STORED.fullmatch(tail):  # listed by its stored name only
                raise FilesystemError(
                    where=record_where(self.handle, record),
                    reason="not a stored file name",
                )
            return _file_reader(self.handle, record, self.folder / tail)
        assert self._db is not None
        row = self._db.execute(
            "SELECT fileID, file FROM Files WHERE rowid = ?", (record.inode,)
        ).fetchone()
        where = record_where(self.handle, record)
        if row is None:
            raise FilesystemError(where=where, reason="not in Manifest.db")
        file_id = str(row[0])
        if self._keys is not None:
            try:
                info = crypto.stored_file(row[1])
            except ValueError as exc:
                raise FilesystemError(where=where, reason=str(exc)) from exc
            if info.key_blob is not None:
                try:
                    reader = self._reader(file_id, info, record.path)
                except OSError as exc:
                    raise FilesystemError(
                        where=where, reason=str(exc.strerror)
                    ) from exc
                return CbcFile(reader, record.size)
        return _file_reader(self.handle, record, self._stored(file_id))


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
        raise FilesystemError(
            where=dev, reason="Manifest.db is missing (older backup?)"
        )
    with open(path, "rb") as fh:
        if fh.read(16) != b"SQLite format 3\x00":
            raise FilesystemError(
                where=dev,
                reason="Manifest.db is not an SQLite database (encrypted or damaged)",
            )
    db = sqlite3.connect(
        f"{path.absolute().as_uri()}?mode=ro&immutable=1",
        uri=True,
        check_same_thread=False,
    )
    return _with_files(dev, db)


def _with_files(dev: str, db: sqlite3.Connection) -> sqlite3.Connection:
    """``db`` once its ``Files`` table answers (closed, and an error, if not).

    Raises:
        FilesystemError: no usable ``Files`` table.
    """
    try:
        db.execute("SELECT rowid, fileID, domain, relativePath, flags FROM Files "
                   "LIMIT 1").fetchall()  # fmt: skip
    except sqlite3.DatabaseError as exc:
        db.close()
        raise FilesystemError(
            where=dev, reason=f"Manifest.db has no usable Files table: {exc}"
        ) from exc
    return db


for _backend in (Ufdr, FolderDevice, ItunesBackup):
    FILESYSTEMS.register(_backend)
