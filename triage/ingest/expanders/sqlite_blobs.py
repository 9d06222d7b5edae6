"""Pictures stored in SQLite databases (chat apps, photo libraries): BLOBs.

The database is read from the evidence bytes into memory and opened there
(``sqlite3.Connection.deserialize``), never opened in place, so no journal or
WAL file is touched or created; at most ``MAX_DATABASE`` bytes (a larger one
is a ``Skipped``). A WAL-mode header is read as rollback mode in that copy, so
the committed pages are read (the ``-wal`` file beside it is a file of its own
and is not merged in). Every column of every rowid table is looked at; a BLOB
whose first bytes are a picture's signature is a member, addressed
``table.column row N`` (``messages.thumb_image row 12``).

A corrupt page stops that table: a ``Skipped`` naming the database and the
table (the rows before it are kept), and the other tables are still read. A
``DEADLINE`` per database bounds the time (SQLite's progress handler).
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Iterator
from contextlib import ExitStack, closing
from typing import IO

from triage.errors import ArchiveError
from triage.ingest.expanders.base import (
    EXPANDERS,
    MIB,
    ArchiveLimits,
    Bounded,
    Expander,
    Expansion,
)
from triage.ingest.expanders.embedded import (
    Deadline,
    bytes_reader,
    embedded_item,
    exhausted,
    size_within,
)
from triage.ingest.media import CONTAINER, SNIFF_BYTES, Signature, is_media, register
from triage.ingest.media import sniff as sniff_mime
from triage.records import FileRecord, Skipped

#: Largest database read (it is held in memory while it is read).
MAX_DATABASE = 512 * MIB
#: Seconds spent on one database before the rest is skipped.
DEADLINE = 120.0

_MAGIC = b"SQLite format 3\x00"
register(
    Signature(
        "sqlite", "application/vnd.sqlite3", CONTAINER, lambda h: h.startswith(_MAGIC)
    )
)
#: A database up to this size is kept (as bytes) by the read-back cache, so
#: reading its pictures one by one loads it once.
KEEP_FOR_READS = 32 * MIB


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _read(source: IO[bytes]) -> bytes:
    """The database's bytes (a WAL-mode header read as rollback mode).

    Raises:
        ArchiveError: over ``MAX_DATABASE``.
    """
    size = size_within(source, MAX_DATABASE, "database")
    data = bytearray(source.read(size))
    if data[18:20] == b"\x02\x02":
        data[18:20] = b"\x01\x01"
    return bytes(data)


def _load(data: bytes, deadline: Deadline) -> sqlite3.Connection:
    """The database ``data`` opened in memory, read-only.

    Raises:
        ArchiveError: not a database SQLite opens.
    """
    con = sqlite3.connect(":memory:")
    try:
        con.deserialize(data)
        con.execute("PRAGMA query_only = 1")
        con.set_progress_handler(lambda: int(deadline.passed), 10_000)
    except sqlite3.Error as exc:
        con.close()
        raise ArchiveError(f"database unreadable: {exc}") from exc
    return con


def _tables(con: sqlite3.Connection) -> list[tuple[str, list[str]]]:
    """(table, its columns) of every ordinary table."""
    names = [
        row[0]
        for row in con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' "
            "AND coalesce(sql, '') NOT LIKE 'CREATE VIRTUAL%' ORDER BY name"
        )
    ]
    return [
        (name, [row[1] for row in con.execute(f"PRAGMA table_info({_quote(name)})")])
        for name in names
    ]


def _is_picture(value: object) -> bool:
    return isinstance(value, bytes) and is_media(sniff_mime(value[:SNIFF_BYTES]))


class SqliteBlobs(Expander):
    """The pictures in an SQLite database's BLOBs."""

    inner = True

    name = "sqlite_blobs"
    signatures = ("sqlite",)

    def members(self, job: Expansion) -> Iterator[FileRecord | Skipped]:
        deadline = Deadline(DEADLINE)
        try:
            con = _load(_read(job.source), deadline)
        except ArchiveError as exc:
            yield job.skip(str(exc))
            return
        with closing(con):
            try:
                tables = _tables(con)
            except sqlite3.Error as exc:
                yield job.skip(f"schema unreadable: {exc}")
                return
            for table, columns in tables:
                yield from self._table(job, con, table, columns)
                if exhausted(job.budget):
                    return

    def _table(
        self, job: Expansion, con: sqlite3.Connection, table: str, columns: list[str]
    ) -> Iterator[FileRecord | Skipped]:
        """The pictures of one table; a corrupt page ends it with a Skipped."""
        select = ", ".join(map(_quote, columns))
        rows = 0
        try:
            cursor = con.execute(f"SELECT rowid, {select} FROM {_quote(table)}")
            for rowid, *values in cursor:
                rows += 1
                for column, value in zip(columns, values, strict=True):
                    if not _is_picture(value):
                        continue
                    name = f"{table}.{column} row {rowid}"
                    reader = functools.partial(bytes_reader, value, name)
                    yield from embedded_item(job, name, reader, len(value))
                    if exhausted(job.budget):
                        return
        except sqlite3.Error as exc:
            yield job.skip(
                f"table {table} unreadable after {rows} rows: {exc}; "
                "the other tables are read",
                f"table {table}",
            )

    def open_member(
        self, source: IO[bytes], name: str, limits: ArchiveLimits, stack: ExitStack
    ) -> tuple[Bounded, object | None]:
        data = _read(source)
        kept = data if len(data) <= KEEP_FOR_READS else None
        return _blob(data, name), kept

    def open_indexed(
        self, source: IO[bytes], index: object, name: str, limits: ArchiveLimits
    ) -> Bounded | None:
        return _blob(index, name) if isinstance(index, bytes) else None


def _blob(data: bytes, name: str) -> Bounded:
    """A reader of the BLOB at ``name`` (``table.column row N``) of ``data``.

    Raises:
        ArchiveError: no such BLOB, or the database will not give it.
    """
    place, _, rowid = name.rpartition(" row ")
    with closing(_load(data, Deadline(DEADLINE))) as con:
        try:
            for table, columns in _tables(con):
                column = place.removeprefix(table + ".")
                if place.startswith(table + ".") and column in columns:
                    row = con.execute(
                        f"SELECT {_quote(column)} FROM {_quote(table)} WHERE rowid = ?",
                        (int(rowid),),
                    ).fetchone()
                    if row is not None and isinstance(row[0], bytes):
                        return bytes_reader(row[0], name)
        except (sqlite3.Error, ValueError) as exc:
            raise ArchiveError(f"{name}: unreadable: {exc}") from exc
    raise ArchiveError(f"no {name} in this database")


EXPANDERS.register(SqliteBlobs())
