"""Devices: each piece of evidence, its case and its scan state (``devices``)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass

from triage.errors import StoreError
from triage.records import Device
from triage.store.cases import CasesMixin
from triage.store.connection import now
from triage.store.schema import DEVICE_STATUSES


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


class DevicesMixin(CasesMixin):
    """Register devices, move them through their statuses, read them back."""

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
            "size, stored_digest, details, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(device_id) DO UPDATE SET "
            "case_id = COALESCE(excluded.case_id, devices.case_id), "
            "segments = excluded.segments, container = excluded.container, "
            "size = excluded.size, stored_digest = excluded.stored_digest, "
            "details = excluded.details, updated_at = excluded.updated_at",
            (
                device.device_id,
                case_id,
                device.evidence,
                json.dumps(list(device.segments)),
                device.container,
                device.size,
                device.stored_digest,
                device.details,
                now(),
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
            (device_id, case_id, evidence, json.dumps([evidence]), error, now()),
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
            (status, error, first_hit_seconds, scan_seconds, now(), device_id),
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


def _device_row(r: sqlite3.Row) -> DeviceRow:
    return DeviceRow(
        device=Device(
            device_id=r["device_id"],
            segments=tuple(json.loads(r["segments"])),
            container=r["container"] or "",
            size=r["size"] or 0,
            stored_digest=r["stored_digest"],
            details=r["details"],
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
