"""The read queries the queue, report, export and case list need.

Each is named for what it gives; none writes. Rows come back as
``sqlite3.Row`` (read by column name, the columns each method names) where
the caller maps them onto its own records, or as records where the store
owns the mapping (``Skipped``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from triage.errors import StoreError
from triage.records import Skipped
from triage.store.connection import StoreBase
from triage.store.results import skipped_from_row


def _case_filter(case_id: str | None) -> tuple[str, tuple[str, ...]]:
    if case_id is None:
        return "", ()
    return " WHERE d.case_id = ?", (case_id,)


class QueriesMixin(StoreBase):
    """Reads for the queue, report, export and case list."""

    def device_facts_rows(self, case_id: str | None = None) -> list[sqlite3.Row]:
        """Every device (of one case), in device-id order: the ``devices``
        columns plus its media counted (``n_media``, ``n_deleted``,
        ``n_carved``, ``n_archive``)."""
        where, args = _case_filter(case_id)
        return self._db.execute(
            "SELECT d.*, "
            "(SELECT COUNT(*) FROM media m WHERE m.device_id = d.device_id) "
            "AS n_media,"
            " (SELECT COUNT(*) FROM media m WHERE m.device_id = d.device_id "
            "AND m.deleted = 1) AS n_deleted,"
            " (SELECT COUNT(*) FROM media m WHERE m.device_id = d.device_id "
            "AND m.source = 'carved') AS n_carved,"
            " (SELECT COUNT(*) FROM media m WHERE m.device_id = d.device_id "
            "AND m.source = 'archive') AS n_archive "
            f"FROM devices d{where} ORDER BY d.device_id",
            args,
        ).fetchall()

    def match_rows(self, case_id: str | None = None) -> list[sqlite3.Row]:
        """Every match of every device (of one case): the ``matches`` columns
        and, of the matched item's ``media`` row (NULL if none),
        ``display_path``, ``path``, ``deleted``, ``source``, ``archive_path``,
        ``media_type``; ordered by device, address, set, entry, algorithm and
        variant."""
        where, args = _case_filter(case_id)
        return self._db.execute(
            "SELECT x.*, m.display_path, m.path, m.deleted, m.source, "
            "m.archive_path, m.media_type FROM matches x "
            "JOIN devices d ON d.device_id = x.device_id "
            "LEFT JOIN media m ON m.device_id = x.device_id AND m.address = x.address"
            f"{where} ORDER BY x.device_id, x.address, x.set_name, x.entry_id, "
            "x.algorithm, x.variant",
            args,
        ).fetchall()

    def matched_media_rows(self, device_id: str) -> list[sqlite3.Row]:
        """A device's matches with the whole address and hashes of each matched
        item: the ``matches`` columns plus the item's ``media`` columns that
        ``results.record_from_row`` reads and ``size``, ``md5``,
        ``display_path`` (NULL if no media row), by address, set, entry,
        algorithm and variant. Exact digests: ``digests``."""
        return self._db.execute(
            "SELECT x.*, m.display_path, m.path, m.deleted, m.source, "
            "m.archive_path, m.size, m.md5, m.carve_offset, m.media_type, "
            "m.partition_index, m.partition_offset, m.inode, m.orphan, m.mtime, "
            "m.atime, m.ctime, m.crtime, m.carve_runs, m.carve_note "
            "FROM matches x LEFT JOIN media m ON m.device_id = x.device_id "
            "AND m.address = x.address WHERE x.device_id = ? "
            "ORDER BY x.address, x.set_name, x.entry_id, x.algorithm, x.variant",
            (device_id,),
        ).fetchall()

    def device_columns(self, device_id: str) -> sqlite3.Row:
        """The ``devices`` row of a device as stored (NULLs kept).

        Raises:
            StoreError: no such device in the database.
        """
        row: sqlite3.Row | None = self._db.execute(
            "SELECT * FROM devices WHERE device_id = ?", (device_id,)
        ).fetchone()
        if row is None:
            raise StoreError(f"{self.path}: no device {device_id!r}")
        return row

    def skipped_by_device(self, case_id: str | None = None) -> dict[str, list[Skipped]]:
        """Every device's (of one case) skipped rows, in location order."""
        where, args = _case_filter(case_id)
        out: dict[str, list[Skipped]] = {}
        for r in self._db.execute(
            "SELECT s.* FROM skipped s JOIN devices d ON d.device_id = s.device_id"
            f"{where} ORDER BY s.device_id, s.location, s.stage",
            args,
        ):
            out.setdefault(r["device_id"], []).append(skipped_from_row(r))
        return out

    def meta(self) -> dict[str, str]:
        """The ``meta`` table: schema version, when and by what created."""
        return {
            r["key"]: r["value"]
            for r in self._db.execute("SELECT key, value FROM meta")
        }

    def device_status_counts(self) -> dict[str, dict[str, int]]:
        """Case id ("" for none) -> device status -> how many devices."""
        counts: dict[str, dict[str, int]] = {}
        for r in self._db.execute(
            "SELECT case_id, status, COUNT(*) AS n FROM devices "
            "GROUP BY case_id, status"
        ):
            counts.setdefault(r["case_id"] or "", {})[r["status"]] = r["n"]
        return counts

    def case_updated_at(self) -> dict[str, str | None]:
        """Case id -> when its details last changed."""
        return {
            r["case_id"]: r["updated_at"]
            for r in self._db.execute("SELECT case_id, updated_at FROM cases")
        }

    def execute(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        """Run a raw read query: for tests and debugging only. triage's own
        code outside this package uses the named queries above."""
        return self._db.execute(sql, tuple(args)).fetchall()
