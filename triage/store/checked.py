"""A SQLite connection whose failures name the case database.

A damaged file (a malformed page met half-way through a query), a disk that
fills up, or an I/O error raise ``sqlite3.DatabaseError`` wherever the query
happens to be; :class:`CheckedConnection` turns those three into one
:class:`~triage.errors.StoreError` that names the file and says what to do,
so no command shows a traceback for them. Other SQLite errors (a constraint,
a locked database) pass through unchanged for the code that handles them.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from triage.errors import StoreError

# SQLite primary result codes (the low byte of an extended code).
SQLITE_IOERR = 10
SQLITE_CORRUPT = 11
SQLITE_FULL = 13
SQLITE_NOTADB = 26


class DatabaseDamaged(StoreError):
    """The case database file is corrupt, truncated or not SQLite."""


class DatabaseFull(StoreError):
    """The disk (or file system) holding the case database is full."""


def translate(where: str, exc: sqlite3.DatabaseError) -> StoreError | None:
    """The ``StoreError`` for a damaged, full or failing database, else None."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code == SQLITE_NOTADB:
        return DatabaseDamaged(
            f"{where}: not a triage case database: not an SQLite file, or its "
            f"header is damaged ({exc}); triage left it as it is"
        )
    if code == SQLITE_CORRUPT:
        return DatabaseDamaged(
            f"{where}: the case database is damaged ({exc}); triage left it "
            "as it is. Keep a copy, then restore it from a backup or recover "
            "what it holds (`sqlite3 DB .recover`); a new --db starts afresh"
        )
    if code == SQLITE_FULL:
        return DatabaseFull(
            f"{where}: the disk holding the case database is full ({exc}); "
            "nothing was half-written (each chunk is one transaction) and "
            "finished chunks are kept. Free some space and run the same command "
            "again to resume"
        )
    if code == SQLITE_IOERR:
        return StoreError(
            f"{where}: cannot read or write the case database ({exc}); "
            "finished chunks are kept. Check the disk, then run the same "
            "command again to resume"
        )
    return None


@contextmanager
def _named(where: str) -> Iterator[None]:
    try:
        yield
    except sqlite3.DatabaseError as exc:
        error = translate(where, exc)
        if error is None:
            raise
        raise error from exc


class CheckedCursor(sqlite3.Cursor):
    """A cursor whose fetches and executes name the database on failure."""

    where = "case database"

    def execute(self, sql: str, parameters: Any = (), /) -> CheckedCursor:
        with _named(self.where):
            super().execute(sql, parameters)
        return self

    def executemany(self, sql: str, seq: Any, /) -> CheckedCursor:
        with _named(self.where):
            super().executemany(sql, seq)
        return self

    def __next__(self) -> Any:
        with _named(self.where):
            return super().__next__()

    def fetchone(self) -> Any:
        with _named(self.where):
            return super().fetchone()

    def fetchmany(self, size: int | None = None) -> list[Any]:
        with _named(self.where):
            if size is None:
                return super().fetchmany()
            return super().fetchmany(size)

    def fetchall(self) -> list[Any]:
        with _named(self.where):
            return super().fetchall()


class CheckedConnection(sqlite3.Connection):
    """``sqlite3.connect(..., factory=CheckedConnection)``; set ``where``
    (the file's name) after connecting."""

    where = "case database"

    def cursor(self, factory: Any = None) -> Any:
        cur = super().cursor(factory or CheckedCursor)
        if isinstance(cur, CheckedCursor):
            cur.where = self.where
        return cur

    def execute(self, sql: str, parameters: Any = (), /) -> Any:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, seq: Any, /) -> Any:
        return self.cursor().executemany(sql, seq)

    def executescript(self, script: str, /) -> Any:
        with _named(self.where):
            return super().executescript(script)

    def commit(self) -> None:
        with _named(self.where):
            super().commit()
