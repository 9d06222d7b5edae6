"""Opening a case database: create, check the version, migrate, transactions.

``StoreBase`` holds the connection every per-concern part of ``Store`` uses
(``cases``, ``devices``, ``runs``, ``results``, ``queries``).
"""

from __future__ import annotations

import datetime as _dt
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from triage import __version__
from triage.errors import StoreError
from triage.resources import Closing
from triage.store.checked import CheckedConnection
from triage.store.migrations import MIGRATIONS, READ_AS_NEXT, Step, run_steps
from triage.store.schema import SCHEMA, SCHEMA_VERSION


def now() -> str:
    """The current time as stored: ISO-8601 UTC, whole seconds."""
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class StoreBase(Closing):
    """One open case database: its connection, created or checked (and
    migrated, or read as migrated) on opening. ``Store`` is the whole API.

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
        self._db.where = str(self.path)
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

    def _connect(self) -> CheckedConnection:
        """Open read-write, or read-only (``mode=ro``: SQLite refuses every
        write on the connection, and never checkpoints or migrates).

        A WAL database on read-only storage cannot be opened ``mode=ro`` unless
        its ``-shm`` file is there (SQLite must create it). When the database
        has no ``-wal`` file, everything is in the main file, so it is opened
        ``immutable=1`` instead; with a ``-wal`` file, that would hide its
        contents, so the error stands.
        """
        if not self.read_only:
            return sqlite3.connect(
                str(self.path),
                timeout=30.0,
                isolation_level=None,
                factory=CheckedConnection,
            )
        uri = self.path.resolve().as_uri()
        try:
            db = sqlite3.connect(
                f"{uri}?mode=ro",
                uri=True,
                timeout=30.0,
                isolation_level=None,
                factory=CheckedConnection,
            )
            db.where = str(self.path)
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
            f"{uri}?mode=ro&immutable=1",
            uri=True,
            isolation_level=None,
            factory=CheckedConnection,
        )

    # -- lifecycle -----------------------------------------------------------

    def close(self) -> None:
        self._db.close()

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
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        self._db.execute(statement)
                self._db.executemany(
                    "INSERT INTO meta(key, value) VALUES (?, ?)",
                    [
                        ("schema_version", str(SCHEMA_VERSION)),
                        ("created_at", now()),
                        ("created_by", f"triage {__version__}"),
                    ],
                )
            return
        if "meta" not in tables:
            raise StoreError(
                f"{self.path}: not a triage case database (no meta table; "
                f"tables: {', '.join(sorted(tables))})"
            )
        version = self.schema_version()
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
        for steps in self._steps_from(version, READ_AS_NEXT):
            run_steps(self._db, steps)

    def _migrate(self, version: int) -> None:
        """Bring a database of an older schema ``version`` up to date, in one
        transaction (all steps or none).

        Raises:
            StoreError: no migration exists from ``version``.
        """
        migrations = self._steps_from(version, MIGRATIONS)
        with self._transaction():
            for steps in migrations:
                run_steps(self._db, steps)
            self._db.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'",
                (str(SCHEMA_VERSION),),
            )

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """``with self._transaction():`` all of it, or (on an error) none:
        BEGIN IMMEDIATE ... COMMIT, or ROLLBACK."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _steps_from(
        self, version: int, table: dict[int, tuple[Step, ...]]
    ) -> list[tuple[Step, ...]]:
        """The steps of ``table`` (``MIGRATIONS`` or ``READ_AS_NEXT``) that take
        schema ``version`` to the current one, in order.

        Raises:
            StoreError: no migration exists from ``version``.
        """
        if any(v not in table for v in range(version, SCHEMA_VERSION)):
            raise StoreError(
                f"{self.path}: case database has schema version {version}, older "
                f"than {SCHEMA_VERSION} and no migration exists for it"
            )
        return [table[v] for v in range(version, SCHEMA_VERSION)]

    def schema_version(self) -> int:
        """The schema version the file holds (``meta``).

        Raises:
            StoreError: it has none, or one that is not a number.
        """
        row = self._db.execute(
            "SELECT value FROM meta WHERE key = 'schema_version'"
        ).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: case database has no schema_version")
        try:
            return int(row[0])
        except ValueError as exc:
            raise StoreError(
                f"{self.path}: bad schema_version {row[0]!r} in case database"
            ) from exc
