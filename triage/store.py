"""The case database: one SQLite file per case (or batch of cases).

Only the scan driver (``triage.pipeline``) writes during a scan; the queue and
report read. SQLite in WAL mode, so readers never block the writer, with
foreign keys on. The schema is versioned in ``meta`` (``schema_version``); a
database of an older version is migrated in place when opened for writing
(version 1 -> 2: ``runs.pid`` added; 2 -> 3: ``media.sha1`` moved into
``digests``), in one transaction; a newer one, or one
no migration exists for, is refused with a ``StoreError`` that says which
version it has and which this ``triage`` reads.

Readers (queue, report, export, case list) open it read-only
(``Store(path, read_only=True)``): SQLite refuses any write on that
connection, an older database is read through TEMP views as if migrated
(the file keeps its version), and a database on read-only storage (an
investigator's share) opens too.

Every chunk of work is written in ONE transaction (its media, perceptual
hashes, matches, skips and the ``chunks`` row that says it is done), with
``INSERT OR REPLACE`` on natural keys, so a scan killed at any point and run
again never loses or duplicates a row.

Schema (version 3). Times are POSIX seconds (REAL) unless named ``*_at``,
which are ISO-8601 UTC text. JSON columns hold JSON text.

``meta(key PK, value)``
    ``schema_version`` = "3", ``created_at``, ``created_by`` (tool version).

``cases(case_id PK, access_to_children NOT NULL DEFAULT 'unknown', risk_band,
note, updated_at)``
    What investigators know; ``access_to_children`` is one of
    lives-with|works-with|regular-contact|none|unknown.

``devices(device_id PK, case_id -> cases, evidence, segments JSON, container,
size, stored_digest, status, error, first_hit_seconds, media_count,
updated_at, match_count, skipped_count, bytes_scanned, scan_seconds)``
    ``status`` is one of awaiting|scanning|scanned|stopped-early|failed.
    ``error`` says why a device failed. ``first_hit_seconds``: seconds from the
    start of the device's scan to its first confident match (NULL: none yet).
    ``media_count``/``match_count``/``skipped_count`` are totals kept up to
    date after every chunk (``match_count`` counts distinct matched media
    items, known-good excluded). ``scan_seconds`` is wall time of the last run.

``runs(run_id PK autoincrement, device_id -> devices, tool_version, hashsets
JSON [{name, digest, path, kind}], parameters JSON, host, user, started_at,
finished_at, status, pid)``
    One row per device per ``triage scan``; ``status`` running|scanned|
    stopped-early|failed|interrupted (a row left ``running`` was killed; the
    next scan of the device closes it). ``pid``: the scanning process on
    ``host``, so readers can tell a scan in progress from a killed one
    (``Store.interrupted_devices``; a pid reused by a process that started
    after the run is not taken for it), and a second scan on the same host
    leaves a device alone while its first scan is alive
    (``Store.begin_scan``).

``chunks(device_id, chunk_key, run_id -> runs, items, done_at, sets_key,
PK(device_id, chunk_key))``
    A unit of work that is finished. ``chunk_key`` is deterministic
    (``p<partition>:files:<first>+<count>:<digest of addresses>`` or
    ``p<partition>:carve:<offset>+<length>``) so a resumed scan skips it.
    ``sets_key`` identifies the hash sets its media were matched against; a
    later scan with other sets re-matches the stored hashes without re-reading.

``media(device_id, address, path, partition_index, inode, size, source,
deleted, orphan, archive_path JSON, carve_offset, media_type, mtime, atime,
ctime, crtime, md5, width, height, display_path, chunk_key, known_good,
decoded, partition_offset, PK(device_id, address))``
    One row per media item (image/video, by content signature, not by name),
    including deleted files, archive members and carved items. ``address`` is
    ``FileRecord.address``. ``known_good`` = 1: excluded by a known-good set,
    not decoded. ``decoded`` = 1: perceptual hashes were computed (see
    ``perceptual``); 0 with ``known_good`` = 0 means decoding failed and a
    ``skipped`` row says why. ``partition_offset`` (bytes from the start of
    the device) lets a reader re-open the item without the volume system.
    ``md5`` is the content key (indexed): identical content is decoded once
    and carved copies are tied to listed files by it.

``digests(device_id, address, algorithm, value, PK(device_id, address,
algorithm))``
    Exact digests (hex) of media rows, one row per exact signal computed
    (``md5``, ``sha1``, ...): a new exact signal needs no new column.

``perceptual(device_id, address, algorithm, variant, value, quality,
PK(device_id, address, algorithm, variant))``
    Perceptual hashes (hex) of media rows: PDQ and pHash, original, dihedral
    and trimmed variants.

``matches(device_id, address, set_name, set_digest, entry_id, algorithm,
variant, distance, category, scheme, known_good, PK(device_id, address,
set_digest, entry_id, algorithm, variant))``
    A media item matched an entry of a hash set. Re-scanning with a new
    version of a set (same name, other digest) replaces that set's rows.

``skipped(device_id, location, stage, reason, PK(device_id, location, stage))``
    Everything that could not be read or processed, and why (nothing is
    skipped silently). ``location`` is a path, address or partition, or
    ``bytes A-B`` of the device (stage ``evidence``: an E01 chunk failing its
    checksum; ``acquisition``: sectors the acquisition could not read).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from triage import __version__
from triage.errors import DeviceBusy, StoreError
from triage.hashmatch.signals import exact_signals
from triage.records import (
    Case,
    Device,
    FileRecord,
    Match,
    MediaHash,
    PerceptualHash,
    Skipped,
    Source,
)

SCHEMA_VERSION = 3
# Version 2 kept an item's MD5 and SHA-1 in media columns.
_V2_DIGESTS = (
    "SELECT device_id, address, 'md5' AS algorithm, md5 AS value "
    "FROM main.media WHERE md5 IS NOT NULL UNION ALL "
    "SELECT device_id, address, 'sha1', sha1 FROM main.media WHERE sha1 IS NOT NULL"
)
#: How to bring an older database up to the next version, in place.
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: ("ALTER TABLE runs ADD COLUMN pid INTEGER",),  # 1 -> 2
    2: (  # 2 -> 3: exact digests move to their own table (md5 stays the key)
        "CREATE TABLE digests (device_id TEXT NOT NULL, address TEXT NOT NULL, "
        "algorithm TEXT NOT NULL, value TEXT NOT NULL, "
        "PRIMARY KEY (device_id, address, algorithm), "
        "FOREIGN KEY (device_id, address) REFERENCES media(device_id, address) "
        "ON DELETE CASCADE)",
        f"INSERT INTO digests(device_id, address, algorithm, value) {_V2_DIGESTS}",
        "ALTER TABLE media DROP COLUMN sha1",
    ),
}
#: How a read-only reader sees an older database as the next version without
#: changing it: TEMP views, which shadow the main tables on that connection
#: only. One entry per migration (a test checks).
_READ_AS_NEXT: dict[int, tuple[str, ...]] = {
    1: ("CREATE TEMP VIEW runs AS SELECT *, NULL AS pid FROM main.runs",),
    2: (f"CREATE TEMP VIEW digests AS {_V2_DIGESTS}",),
}

DEVICE_STATUSES: tuple[str, ...] = (
    "awaiting",
    "scanning",
    "scanned",
    "stopped-early",
    "failed",
)
ACCESS_TO_CHILDREN: tuple[str, ...] = (
    "lives-with",
    "works-with",
    "regular-contact",
    "none",
    "unknown",
)

_SCHEMA = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE cases (
    case_id TEXT PRIMARY KEY,
    access_to_children TEXT NOT NULL DEFAULT 'unknown',
    risk_band TEXT,
    note TEXT,
    updated_at TEXT
);
CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,
    case_id TEXT REFERENCES cases(case_id),
    evidence TEXT NOT NULL,
    segments TEXT NOT NULL,
    container TEXT,
    size INTEGER,
    stored_digest TEXT,
    status TEXT NOT NULL DEFAULT 'awaiting' CHECK (status IN
        ('awaiting', 'scanning', 'scanned', 'stopped-early', 'failed')),
    error TEXT,
    first_hit_seconds REAL,
    media_count INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT,
    match_count INTEGER NOT NULL DEFAULT 0,
    skipped_count INTEGER NOT NULL DEFAULT 0,
    bytes_scanned INTEGER NOT NULL DEFAULT 0,
    scan_seconds REAL
);
CREATE INDEX devices_case ON devices(case_id);
CREATE TABLE runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL REFERENCES devices(device_id),
    tool_version TEXT NOT NULL,
    hashsets TEXT NOT NULL,
    parameters TEXT NOT NULL,
    host TEXT,
    user TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL DEFAULT 'running',
    pid INTEGER
);
CREATE TABLE chunks (
    device_id TEXT NOT NULL REFERENCES devices(device_id),
    chunk_key TEXT NOT NULL,
    run_id INTEGER REFERENCES runs(run_id),
    items INTEGER NOT NULL,
    done_at TEXT NOT NULL,
    sets_key TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (device_id, chunk_key)
);
CREATE TABLE media (
    device_id TEXT NOT NULL REFERENCES devices(device_id),
    address TEXT NOT NULL,
    path TEXT NOT NULL,
    partition_index INTEGER,
    inode INTEGER,
    size INTEGER,
    source TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    orphan INTEGER NOT NULL DEFAULT 0,
    archive_path TEXT NOT NULL DEFAULT '[]',
    carve_offset INTEGER,
    media_type TEXT,
    mtime REAL,
    atime REAL,
    ctime REAL,
    crtime REAL,
    md5 TEXT,
    width INTEGER,
    height INTEGER,
    display_path TEXT,
    chunk_key TEXT,
    known_good INTEGER NOT NULL DEFAULT 0,
    decoded INTEGER NOT NULL DEFAULT 0,
    partition_offset INTEGER,
    PRIMARY KEY (device_id, address)
);
CREATE INDEX media_md5 ON media(md5);
CREATE INDEX media_chunk ON media(device_id, chunk_key);
CREATE TABLE digests (
    device_id TEXT NOT NULL,
    address TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (device_id, address, algorithm),
    FOREIGN KEY (device_id, address) REFERENCES media(device_id, address)
        ON DELETE CASCADE
);
CREATE TABLE perceptual (
    device_id TEXT NOT NULL,
    address TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    variant TEXT NOT NULL,
    value TEXT NOT NULL,
    quality INTEGER,
    PRIMARY KEY (device_id, address, algorithm, variant),
    FOREIGN KEY (device_id, address) REFERENCES media(device_id, address)
        ON DELETE CASCADE
);
CREATE TABLE matches (
    device_id TEXT NOT NULL,
    address TEXT NOT NULL,
    set_name TEXT NOT NULL,
    set_digest TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    variant TEXT NOT NULL DEFAULT 'original',
    distance INTEGER NOT NULL,
    category TEXT,
    scheme TEXT,
    known_good INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (device_id, address, set_digest, entry_id, algorithm, variant),
    FOREIGN KEY (device_id, address) REFERENCES media(device_id, address)
        ON DELETE CASCADE
);
CREATE TABLE skipped (
    device_id TEXT NOT NULL REFERENCES devices(device_id),
    location TEXT NOT NULL,
    stage TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (device_id, location, stage)
);
"""


def _process_exists(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (signal 0 probes)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def _process_started(pid: int) -> float | None:
    """When process ``pid`` started (POSIX seconds), from Linux ``/proc``;
    None where that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as fh:
            btime = next(
                int(line.split()[1]) for line in fh if line.startswith(b"btime ")
            )
        return btime + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _run_alive(pid: int | None, started_at: str) -> bool:
    """Whether the process that started a run at ``started_at`` still runs.
    A pid the system has since given to a process that started later is not
    it (pid reuse after a kill)."""
    if pid is None or not _process_exists(pid):
        return False
    started = _process_started(pid)
    if started is None:
        return True  # cannot tell: exists, so assume it is the scan
    run_started = _dt.datetime.fromisoformat(started_at).timestamp()
    return started <= run_started + 2.0  # started_at has whole seconds


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


@dataclass(frozen=True, slots=True)
class DeviceRow:
    """A device as the database knows it: the evidence plus its scan state."""

    device: Device
    case_id: str | None
    status: str
    error: str | None
    first_hit_seconds: float | None
    media_count: int
    match_count: int
    skipped_count: int
    bytes_scanned: int
    scan_seconds: float | None
    updated_at: str | None


def record_from_row(row: sqlite3.Row, device_id: str, evidence: str) -> FileRecord:
    """The ``FileRecord`` a ``media`` row stands for (the address of the item,
    so it can be read back from the evidence)."""
    return FileRecord(
        device_id=device_id,
        evidence=evidence,
        partition_index=row["partition_index"] or 0,
        partition_offset=row["partition_offset"] or 0,
        path=row["path"] or "",
        size=int(row["size"] or 0),
        source=Source(row["source"]),
        inode=row["inode"],
        deleted=bool(row["deleted"]),
        orphan=bool(row["orphan"]),
        mtime=row["mtime"],
        atime=row["atime"],
        ctime=row["ctime"],
        crtime=row["crtime"],
        media_type=row["media_type"],
        archive_path=tuple(json.loads(row["archive_path"] or "[]")),
        carve_offset=row["carve_offset"],
    )


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """A media row: where the item is, and its hashes (perceptual may be empty)."""

    record: FileRecord
    hashes: MediaHash
    known_good: bool
    decoded: bool


@dataclass(frozen=True, slots=True)
class ChunkWrite:
    """Everything one finished chunk adds to the database."""

    device_id: str
    chunk_key: str
    run_id: int | None
    sets_key: str
    media: Sequence[tuple[FileRecord, MediaHash, bool]]  # (record, hashes, known_good)
    matches: Sequence[Match]
    skipped: Sequence[Skipped]
    bytes_read: int = 0


class Store:
    """The case database at ``path`` (created, with the current schema, if absent).

    Raises:
        StoreError: the file is not a triage database, was written by another
            schema version, or cannot be opened.
    """

    def __init__(
        self, path: str | Path, *, create: bool = True, read_only: bool = False
    ) -> None:
        self.path = Path(path)
        self.read_only = read_only
        if not self.path.exists() and (read_only or not create):
            raise StoreError(f"{self.path}: no such case database")
        try:
            self._db = self._connect()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot open database: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA foreign_keys = ON")
            if not read_only:
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")
            self._check_or_create()
        except sqlite3.DatabaseError as exc:
            self._db.close()
            raise StoreError(
                f"{self.path}: not a triage case database ({exc})"
            ) from exc
        except StoreError:
            self._db.close()
            raise

    def _connect(self) -> sqlite3.Connection:
        """Open read-write, or read-only (``mode=ro``: SQLite refuses every
        write on the connection, and never checkpoints or migrates).

        A WAL database on read-only storage cannot be opened ``mode=ro`` unless
        its ``-shm`` file is there (SQLite must create it). When the database
        has no ``-wal`` file, everything is in the main file, so it is opened
        ``immutable=1`` instead; with a ``-wal`` file, that would hide its
        contents, so the error stands.
        """
        if not self.read_only:
            return sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None)
        uri = self.path.resolve().as_uri()
        try:
            db = sqlite3.connect(
                f"{uri}?mode=ro", uri=True, timeout=30.0, isolation_level=None
            )
            db.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return db
        except sqlite3.OperationalError as exc:
            wal = self.path.with_name(self.path.name + "-wal")
            if wal.exists() and wal.stat().st_size > 0:
                raise StoreError(
                    f"{self.path}: cannot open read-only ({exc}); its {wal.name} "
                    "holds changes not yet in the main file, and SQLite needs to "
                    "write beside it to read them: open it once where it is "
                    "writable (any triage command), or copy all its files there"
                ) from exc
        return sqlite3.connect(
            f"{uri}?mode=ro&immutable=1", uri=True, isolation_level=None
        )

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check_or_create(self) -> None:
        tables = {
            row[0]
            for row in self._db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            )
        }
        if not tables:
            if self.read_only:
                raise StoreError(f"{self.path}: empty file, not a triage case database")
            with self._transaction():
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.executemany(
                    "INSERT INTO meta(key, value) VALUES (?, ?)",
                    [
                        ("schema_version", str(SCHEMA_VERSION)),
                        ("created_at", _now()),
                        ("created_by", f"triage {__version__}"),
                    ],
                )
            return
        if "meta" not in tables:
            raise StoreError(
                f"{self.path}: not a triage case database (no meta table; "
                f"tables: {', '.join(sorted(tables))})"
            )
        row = self._db.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: case database has no schema_version")
        try:
            version = int(row[0])
        except ValueError as exc:
            raise StoreError(
                f"{self.path}: bad schema_version {row[0]!r} in case database"
            ) from exc
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: case database has schema version {version}, newer "
                f"than this triage {__version__} reads ({SCHEMA_VERSION}); "
                "upgrade triage"
            )
        if version < SCHEMA_VERSION:
            if self.read_only:
                self._read_as_current(version)
            else:
                self._migrate(version)

    def _read_as_current(self, version: int) -> None:
        """Let a read-only connection read an older database as the current
        schema (TEMP views over the old tables); the file is not changed.

        Raises:
            StoreError: no migration exists from ``version``.
        """
        if any(v not in _READ_AS_NEXT for v in range(version, SCHEMA_VERSION)):
            raise StoreError(
                f"{self.path}: case database has schema version {version}, older "
                f"than {SCHEMA_VERSION} and no migration exists for it"
            )
        for step in range(version, SCHEMA_VERSION):
            for statement in _READ_AS_NEXT[step]:
                self._db.execute(statement)

    def _migrate(self, version: int) -> None:
        """Bring a database of an older schema ``version`` up to date, in one
        transaction (all steps or none).

        Raises:
            StoreError: no migration exists from ``version``.
        """
        if any(v not in _MIGRATIONS for v in range(version, SCHEMA_VERSION)):
            raise StoreError(
                f"{self.path}: case database has schema version {version}, older "
                f"than {SCHEMA_VERSION} and no migration exists for it"
            )
        with self._transaction():
            for step in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[step]:
                    self._db.execute(statement)
            self._db.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'",
                (str(SCHEMA_VERSION),),
            )

    class _Tx:
        def __init__(self, db: sqlite3.Connection) -> None:
            self._db = db

        def __enter__(self) -> None:
            self._db.execute("BEGIN IMMEDIATE")

        def __exit__(
            self,
            exc_type: type[BaseException] | None,
            exc: BaseException | None,
            tb: TracebackType | None,
        ) -> None:
            if exc_type is None:
                self._db.execute("COMMIT")
            else:
                self._db.execute("ROLLBACK")

    def _transaction(self) -> Store._Tx:
        return Store._Tx(self._db)

    def schema_version(self) -> int:
        row = self._db.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
        return int(row[0])

    # -- cases ---------------------------------------------------------------

    def ensure_case(self, case_id: str) -> None:
        """Create the case row if absent (access to children 'unknown')."""
        self._db.execute(
            "INSERT OR IGNORE INTO cases(case_id, updated_at) VALUES (?, ?)",
            (case_id, _now()),
        )

    def set_case(self, case: Case) -> None:
        """Insert or update what investigators know about a case."""
        if case.access_to_children not in ACCESS_TO_CHILDREN:
            raise StoreError(
                f"case {case.case_id}: access_to_children "
                f"{case.access_to_children!r} is not one of "
                f"{', '.join(ACCESS_TO_CHILDREN)}"
            )
        self._db.execute(
            "INSERT INTO cases(case_id, access_to_children, risk_band, note, "
            "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT(case_id) DO UPDATE SET "
            "access_to_children = excluded.access_to_children, "
            "risk_band = excluded.risk_band, note = excluded.note, "
            "updated_at = excluded.updated_at",
            (
                case.case_id,
                case.access_to_children,
                case.risk_band,
                case.note,
                _now(),
            ),
        )

    def cases(self) -> list[Case]:
        return [
            Case(r["case_id"], r["access_to_children"], r["risk_band"], r["note"])
            for r in self._db.execute("SELECT * FROM cases ORDER BY case_id")
        ]

    # -- devices -------------------------------------------------------------

    def register_device(self, device: Device, case_id: str | None) -> None:
        """Add a device (status 'awaiting'), or refresh its evidence details.

        Raises:
            StoreError: the device id is already used by other evidence.
        """
        if case_id is not None:
            self.ensure_case(case_id)
        row = self._db.execute(
            "SELECT evidence, case_id FROM devices WHERE device_id = ?",
            (device.device_id,),
        ).fetchone()
        if row is not None and row["evidence"] != device.evidence:
            raise StoreError(
                f"device id {device.device_id!r} already names {row['evidence']} in "
                f"{self.path}; choose another --device-id for {device.evidence}"
            )
        self._db.execute(
            "INSERT INTO devices(device_id, case_id, evidence, segments, container, "
            "size, stored_digest, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(device_id) DO UPDATE SET "
            "case_id = COALESCE(excluded.case_id, devices.case_id), "
            "segments = excluded.segments, container = excluded.container, "
            "size = excluded.size, stored_digest = excluded.stored_digest, "
            "updated_at = excluded.updated_at",
            (
                device.device_id,
                case_id,
                device.evidence,
                json.dumps(list(device.segments)),
                device.container,
                device.size,
                device.stored_digest,
                _now(),
            ),
        )

    def register_failed(
        self, device_id: str, evidence: str, case_id: str | None, error: str
    ) -> None:
        """Record evidence that could not be opened at all, so it is not lost.

        Raises:
            StoreError: the device id is already used by other evidence.
        """
        row = self._db.execute(
            "SELECT evidence FROM devices WHERE device_id = ?", (device_id,)
        ).fetchone()
        if row is not None and row["evidence"] != evidence:
            raise StoreError(
                f"device id {device_id!r} already names {row['evidence']} in "
                f"{self.path}; choose another --device-id for {evidence}"
            )
        if case_id is not None:
            self.ensure_case(case_id)
        self._db.execute(
            "INSERT INTO devices(device_id, case_id, evidence, segments, status, "
            "error, updated_at) VALUES (?, ?, ?, ?, 'failed', ?, ?) "
            "ON CONFLICT(device_id) DO UPDATE SET status = 'failed', "
            "error = excluded.error, updated_at = excluded.updated_at",
            (device_id, case_id, evidence, json.dumps([evidence]), error, _now()),
        )

    def set_device_status(
        self,
        device_id: str,
        status: str,
        *,
        error: str | None = None,
        first_hit_seconds: float | None = None,
        scan_seconds: float | None = None,
    ) -> None:
        """Move a device to ``status``; ``error`` is cleared unless given."""
        if status not in DEVICE_STATUSES:
            raise StoreError(f"device {device_id}: unknown status {status!r}")
        self._db.execute(
            "UPDATE devices SET status = ?, error = ?, "
            "first_hit_seconds = COALESCE(?, first_hit_seconds), "
            "scan_seconds = COALESCE(?, scan_seconds), updated_at = ? "
            "WHERE device_id = ?",
            (status, error, first_hit_seconds, scan_seconds, _now(), device_id),
        )

    def device(self, device_id: str) -> DeviceRow | None:
        row = self._db.execute(
            "SELECT * FROM devices WHERE device_id = ?", (device_id,)
        ).fetchone()
        return None if row is None else _device_row(row)

    def devices(self, case_id: str | None = None) -> list[DeviceRow]:
        if case_id is None:
            rows = self._db.execute("SELECT * FROM devices ORDER BY device_id")
        else:
            rows = self._db.execute(
                "SELECT * FROM devices WHERE case_id = ? ORDER BY device_id",
                (case_id,),
            )
        return [_device_row(r) for r in rows]

    def device_for_evidence(self, evidence: str) -> str | None:
        """The device id already given to this evidence file, if any."""
        row = self._db.execute(
            "SELECT device_id FROM devices WHERE evidence = ? ORDER BY device_id",
            (evidence,),
        ).fetchone()
        return None if row is None else str(row[0])

    # -- runs ----------------------------------------------------------------

    def start_run(
        self,
        device_id: str,
        *,
        hashsets: Sequence[dict[str, str]],
        parameters: dict[str, Any],
        host: str,
        user: str,
        tool_version: str = __version__,
    ) -> int:
        """Record that a scan of ``device_id`` starts; returns the run id."""
        cur = self._db.execute(
            "INSERT INTO runs(device_id, tool_version, hashsets, parameters, host, "
            "user, started_at, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                device_id,
                tool_version,
                json.dumps(list(hashsets), sort_keys=True),
                json.dumps(parameters, sort_keys=True, default=str),
                host,
                user,
                _now(),
                os.getpid(),
            ),
        )
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    def begin_scan(
        self,
        device_id: str,
        *,
        hashsets: Sequence[dict[str, str]],
        parameters: dict[str, Any],
        host: str,
        user: str,
    ) -> int:
        """Start a scan of ``device_id`` in one transaction: mark it
        'scanning', close the runs a killed scan left 'running' (as
        'interrupted') and record the new run; returns its id.

        Raises:
            DeviceBusy: a scan of the device is running now in another live
                process on ``host`` (two scans would do the same work twice
                and each would call the other's run interrupted). A run left
                'running' on another machine cannot be checked from here and
                is taken to be a killed scan.
        """
        with self._transaction():
            for run_id, pid, started in self._db.execute(
                "SELECT run_id, pid, started_at FROM runs WHERE device_id = ? "
                "AND status = 'running' AND host = ?",
                (device_id, host),
            ).fetchall():
                if pid != os.getpid() and _run_alive(pid, started):
                    raise DeviceBusy(  # callers name the device
                        f"already being scanned by process {pid} on {host} "
                        f"(run {run_id}, started {started}) into {self.path}; "
                        "not scanned twice: run this again when that scan has "
                        "finished or been stopped"
                    )
            self.set_device_status(device_id, "scanning")
            self.close_stale_runs(device_id)
            return self.start_run(
                device_id,
                hashsets=hashsets,
                parameters=parameters,
                host=host,
                user=user,
            )

    def interrupted_devices(self, host: str | None = None) -> set[str]:
        """Devices marked 'scanning' whose scan is no longer running: their
        last run is still 'running' but its process on this ``host`` (default:
        this machine) is gone, e.g. killed. A scan on another machine cannot be
        checked from here and is taken to be running."""
        here = host or socket.gethostname()
        gone = set()
        for device_id, run_host, pid, started in self._db.execute(
            "SELECT d.device_id, r.host, r.pid, r.started_at FROM devices d JOIN "
            "runs r ON r.run_id = (SELECT MAX(run_id) FROM runs WHERE device_id = "
            "d.device_id) WHERE d.status = 'scanning' AND r.status = 'running'"
        ):
            if run_host == here and pid is not None and not _run_alive(pid, started):
                gone.add(device_id)
        return gone

    def close_stale_runs(self, device_id: str) -> int:
        """Mark runs of ``device_id`` still 'running' (their scan was killed) as
        'interrupted'; call before starting a new run. Returns how many."""
        cur = self._db.execute(
            "UPDATE runs SET status = 'interrupted' WHERE device_id = ? AND "
            "status = 'running'",
            (device_id,),
        )
        return cur.rowcount

    def finish_run(self, run_id: int, status: str) -> None:
        self._db.execute(
            "UPDATE runs SET finished_at = ?, status = ? WHERE run_id = ?",
            (_now(), status, run_id),
        )

    def runs(self, device_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM runs"
        args: tuple[str, ...] = ()
        if device_id is not None:
            sql += " WHERE device_id = ?"
            args = (device_id,)
        out = []
        for r in self._db.execute(sql + " ORDER BY run_id", args):
            d = dict(r)
            d["hashsets"] = json.loads(d["hashsets"])
            d["parameters"] = json.loads(d["parameters"])
            out.append(d)
        return out

    # -- chunks --------------------------------------------------------------

    def done_chunks(self, device_id: str) -> dict[str, str]:
        """Finished chunk keys of a device -> the ``sets_key`` they were matched
        against."""
        return {
            r[0]: r[1]
            for r in self._db.execute(
                "SELECT chunk_key, sets_key FROM chunks WHERE device_id = ?",
                (device_id,),
            )
        }

    def write_chunk(self, chunk: ChunkWrite) -> None:
        """Write one finished chunk atomically and idempotently."""
        dev = chunk.device_id
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO media(device_id, address, path, "
                "partition_index, inode, size, source, deleted, orphan, archive_path,"
                " carve_offset, media_type, mtime, atime, ctime, crtime, md5, "
                "width, height, display_path, chunk_key, known_good, decoded, "
                "partition_offset) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        dev,
                        rec.address,
                        rec.path,
                        rec.partition_index,
                        rec.inode,
                        rec.size,
                        str(rec.source),
                        int(rec.deleted),
                        int(rec.orphan),
                        json.dumps(list(rec.archive_path)),
                        rec.carve_offset,
                        rec.media_type,
                        rec.mtime,
                        rec.atime,
                        rec.ctime,
                        rec.crtime,
                        mh.md5 or None,
                        mh.width,
                        mh.height,
                        rec.display_path,
                        chunk.chunk_key,
                        int(known_good),
                        int(bool(mh.perceptual)),
                        rec.partition_offset,
                    )
                    for rec, mh, known_good in chunk.media
                ],
            )
            addresses = [(dev, rec.address) for rec, _, _ in chunk.media]
            # Replace, never merge: a re-run of the chunk is the whole truth.
            self._db.executemany(
                "DELETE FROM perceptual WHERE device_id = ? AND address = ?", addresses
            )
            self._db.executemany(
                "DELETE FROM digests WHERE device_id = ? AND address = ?", addresses
            )
            self._db.executemany(
                "INSERT INTO digests(device_id, address, algorithm, value) "
                "VALUES (?, ?, ?, ?)",
                [
                    (dev, mh.address, name, value)
                    for _, mh, _ in chunk.media
                    for name, value in mh.digests
                ],
            )
            self._db.executemany(
                "INSERT OR REPLACE INTO perceptual(device_id, address, algorithm, "
                "variant, value, quality) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (dev, mh.address, p.algorithm, p.variant, p.value, p.quality)
                    for _, mh, _ in chunk.media
                    for p in mh.perceptual
                ],
            )
            self._write_matches(dev, chunk.matches)
            self._db.executemany(
                "INSERT OR REPLACE INTO skipped(device_id, location, stage, reason) "
                "VALUES (?, ?, ?, ?)",
                [(dev, s.where, s.stage, s.reason) for s in chunk.skipped],
            )
            self._db.execute(
                "INSERT OR REPLACE INTO chunks(device_id, chunk_key, run_id, items, "
                "done_at, sets_key) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    dev,
                    chunk.chunk_key,
                    chunk.run_id,
                    len(chunk.media),
                    _now(),
                    chunk.sets_key,
                ),
            )
            self._db.execute(
                "UPDATE devices SET bytes_scanned = bytes_scanned + ? "
                "WHERE device_id = ?",
                (chunk.bytes_read, dev),
            )
            self._refresh_counts(dev)

    def write_skipped(self, device_id: str, skipped: Iterable[Skipped]) -> None:
        """Record skips found outside a chunk (e.g. an unreadable partition)."""
        skipped = list(skipped)
        if not skipped:
            return
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO skipped(device_id, location, stage, reason) "
                "VALUES (?, ?, ?, ?)",
                [(device_id, s.where, s.stage, s.reason) for s in skipped],
            )
            self._refresh_counts(device_id)

    def rematch_chunk(
        self,
        device_id: str,
        chunk_key: str,
        run_id: int | None,
        sets_key: str,
        set_names: Iterable[str],
        matches: Sequence[Match],
    ) -> None:
        """Replace a stored chunk's matches after matching its stored hashes
        against other hash sets (no re-reading, no re-decoding).

        Matches from sets of the same name but another digest (an older
        version) are dropped; matches from other sets are kept. An item an
        exact known-good match now covers is marked ``known_good``.
        """
        names = sorted(set(set_names))
        exact = [signal.name for signal in exact_signals()]
        with self._transaction():
            placeholders = ",".join("?" * len(names))
            if names:
                self._db.execute(
                    "DELETE FROM matches WHERE device_id = ? AND address IN "
                    "(SELECT address FROM media WHERE device_id = ? AND chunk_key = ?)"
                    f" AND set_name IN ({placeholders})",
                    (device_id, device_id, chunk_key, *names),
                )
            self._write_matches(device_id, matches)
            # An item a newer known-good set now covers is excluded, as a
            # fresh scan would exclude it (its stored hashes stay).
            self._db.execute(
                "UPDATE media SET known_good = EXISTS (SELECT 1 FROM matches m "
                "  WHERE m.device_id = media.device_id AND m.address = media.address"
                "  AND m.known_good = 1 AND m.algorithm IN "
                f"  ({','.join('?' * len(exact))})) "
                "WHERE device_id = ? AND chunk_key = ?",
                (*exact, device_id, chunk_key),
            )
            self._db.execute(
                "UPDATE chunks SET run_id = ?, sets_key = ?, done_at = ? "
                "WHERE device_id = ? AND chunk_key = ?",
                (run_id, sets_key, _now(), device_id, chunk_key),
            )
            self._refresh_counts(device_id)

    def _write_matches(self, device_id: str, matches: Iterable[Match]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO matches(device_id, address, set_name, set_digest,"
            " entry_id, algorithm, variant, distance, category, scheme, known_good) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    device_id,
                    m.address,
                    m.set_name,
                    m.set_digest,
                    m.entry_id,
                    m.algorithm,
                    m.variant,
                    m.distance,
                    m.category,
                    m.scheme,
                    int(m.known_good),
                )
                for m in matches
            ],
        )

    def _refresh_counts(self, device_id: str) -> None:
        self._db.execute(
            "UPDATE devices SET "
            "media_count = (SELECT COUNT(*) FROM media WHERE device_id = ?1), "
            "match_count = (SELECT COUNT(DISTINCT address) FROM matches "
            "  WHERE device_id = ?1 AND known_good = 0), "
            "skipped_count = (SELECT COUNT(*) FROM skipped WHERE device_id = ?1), "
            "updated_at = ?2 WHERE device_id = ?1",
            (device_id, _now()),
        )

    # -- reading back --------------------------------------------------------

    def chunk_media(self, device_id: str, chunk_key: str) -> list[StoredMedia]:
        """The stored media (with hashes) of one finished chunk."""
        rows = self._db.execute(
            "SELECT * FROM media WHERE device_id = ? AND chunk_key = ? "
            "ORDER BY address",
            (device_id, chunk_key),
        ).fetchall()
        return self._stored_media(device_id, rows)

    def media(self, device_id: str) -> Iterator[StoredMedia]:
        """Every media row of a device, in address order, with its hashes."""
        cur = self._db.execute(
            "SELECT * FROM media WHERE device_id = ? ORDER BY address", (device_id,)
        )
        while True:
            rows = cur.fetchmany(500)
            if not rows:
                return
            yield from self._stored_media(device_id, rows)

    def _stored_media(
        self, device_id: str, rows: Sequence[sqlite3.Row]
    ) -> list[StoredMedia]:
        if not rows:
            return []
        by_address: dict[str, list[PerceptualHash]] = {r["address"]: [] for r in rows}
        placeholders = ",".join("?" * len(by_address))
        for p in self._db.execute(
            "SELECT address, algorithm, variant, value, quality FROM perceptual "
            f"WHERE device_id = ? AND address IN ({placeholders}) "
            "ORDER BY address, algorithm, variant",
            (device_id, *by_address),
        ):
            by_address[p["address"]].append(
                PerceptualHash(p["algorithm"], p["value"], p["variant"], p["quality"])
            )
        digests = self.digests(device_id, by_address)
        device = self._db.execute(
            "SELECT evidence FROM devices WHERE device_id = ?", (device_id,)
        ).fetchone()
        out = []
        for r in rows:
            record = record_from_row(r, device_id, device["evidence"])
            hashes = MediaHash(
                r["address"],
                r["md5"],
                perceptual=tuple(by_address[r["address"]]),
                width=r["width"],
                height=r["height"],
                digests=digests[r["address"]],
            )
            out.append(
                StoredMedia(record, hashes, bool(r["known_good"]), bool(r["decoded"]))
            )
        return out

    def digests(
        self, device_id: str, addresses: Iterable[str]
    ) -> dict[str, list[tuple[str, str]]]:
        """Exact digests ``(algorithm, hex)`` of the media at ``addresses``."""
        wanted = list(addresses)
        out: dict[str, list[tuple[str, str]]] = {a: [] for a in wanted}
        for start in range(0, len(wanted), 500):
            batch = wanted[start : start + 500]
            for d in self._db.execute(
                "SELECT address, algorithm, value FROM digests WHERE device_id = ? "
                f"AND address IN ({','.join('?' * len(batch))}) "
                "ORDER BY address, algorithm",
                (device_id, *batch),
            ):
                out[d["address"]].append((d["algorithm"], d["value"]))
        return out

    def matches(self, device_id: str) -> list[Match]:
        return [
            Match(
                address=r["address"],
                set_name=r["set_name"],
                set_digest=r["set_digest"],
                entry_id=r["entry_id"],
                algorithm=r["algorithm"],
                distance=r["distance"],
                category=r["category"],
                scheme=r["scheme"],
                known_good=bool(r["known_good"]),
                variant=r["variant"],
            )
            for r in self._db.execute(
                "SELECT * FROM matches WHERE device_id = ? ORDER BY address, "
                "set_digest, entry_id, algorithm, variant",
                (device_id,),
            )
        ]

    def skipped(self, device_id: str) -> list[Skipped]:
        return [
            Skipped(device_id, r["location"], r["stage"], r["reason"])
            for r in self._db.execute(
                "SELECT * FROM skipped WHERE device_id = ? ORDER BY location, stage",
                (device_id,),
            )
        ]

    def perceptual_for_digest(self, md5: str) -> tuple[PerceptualHash, ...] | None:
        """Perceptual hashes already computed for content with this MD5 (any
        device), so identical content is decoded once per database."""
        row = self._db.execute(
            "SELECT device_id, address FROM media WHERE md5 = ? AND decoded = 1 "
            "LIMIT 1",
            (md5,),
        ).fetchone()
        if row is None:
            return None
        return tuple(
            PerceptualHash(p["algorithm"], p["value"], p["variant"], p["quality"])
            for p in self._db.execute(
                "SELECT algorithm, variant, value, quality FROM perceptual WHERE "
                "device_id = ? AND address = ? ORDER BY algorithm, variant",
                (row["device_id"], row["address"]),
            )
        )

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a read query (for the queue, report and tests)."""
        return self._db.execute(sql, tuple(args)).fetchall()


def _device_row(r: sqlite3.Row) -> DeviceRow:
    return DeviceRow(
        device=Device(
            device_id=r["device_id"],
            segments=tuple(json.loads(r["segments"])),
            container=r["container"] or "",
            size=r["size"] or 0,
            stored_digest=r["stored_digest"],
        ),
        case_id=r["case_id"],
        status=r["status"],
        error=r["error"],
        first_hit_seconds=r["first_hit_seconds"],
        media_count=r["media_count"],
        match_count=r["match_count"],
        skipped_count=r["skipped_count"],
        bytes_scanned=r["bytes_scanned"],
        scan_seconds=r["scan_seconds"],
        updated_at=r["updated_at"],
    )
