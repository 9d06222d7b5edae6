"""Plain data the report and export render: no database handle, no I/O.

``triage.casework`` fills these from the case database; ``report.py`` and
``export.py`` only read them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from triage.ingest.kinds import kind_of_container
from triage.queue.rank import RankedDevice
from triage.queue.score import DeviceMatch
from triage.records import Case, FileRecord


@dataclass(frozen=True, slots=True)
class MatchedMedia:
    """One matched (or known-good) media item with all its matches."""

    device_id: str
    address: str
    path: str
    size: int | None
    digests: tuple[tuple[str, str], ...]  # (exact signal, hex), by name
    deleted: bool
    carved: bool
    archive: bool
    carve_offset: int | None
    media_type: str | None
    record: FileRecord | None
    matches: tuple[DeviceMatch, ...]
    # A carved item: the listed files on the device with the same MD5 (a
    # deleted file whose clusters carving found again, most often).
    same_content_as: tuple[str, ...] = ()

    def digest(self, name: str) -> str | None:
        """The exact digest by signal ``name``, None when not stored."""
        return dict(self.digests).get(name)

    @property
    def md5(self) -> str | None:
        """The content key (as ``MediaHash.md5``)."""
        return self.digest("md5")


@dataclass(frozen=True, slots=True)
class DeviceDetail:
    """What the report shows about one device beyond its queue row."""

    row: RankedDevice
    segments: tuple[str, ...]
    container: str | None
    size: int | None
    stored_digest: str | None
    details: str | None
    scan_seconds: float | None
    media: tuple[MatchedMedia, ...]
    skipped: tuple[tuple[str, str, str], ...]  # location, stage, reason
    runs: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class CaseData:
    """Everything a report or export needs, as plain data."""

    database: str
    database_sha256: str
    meta: dict[str, str]
    generated_at: str
    tool_version: str
    calibration: str
    case_id: str | None
    cases: dict[str, Case]
    devices: tuple[DeviceDetail, ...]  # in queue order


def queue_row_json(row: RankedDevice) -> dict[str, Any]:
    """One ``triage queue --json`` object (fields listed in docs/queue.md)."""
    f, s = row.facts, row.score
    confident = s.confident_items
    categories: dict[str, int] = {}
    for item in confident:
        categories[item.grade.label] = categories.get(item.grade.label, 0) + 1
    worst = s.worst
    return {
        "rank": row.rank,
        "device_id": f.device_id,
        "case_id": f.case_id,
        "status": f.status,
        "tier": row.tier,
        "evidence_kind": kind_of_container(f.container),
        "priority": round(row.priority, 6),
        "evidence": round(s.evidence, 6),
        "likelihood": round(s.likelihood, 6),
        "severity": round(s.severity, 6),
        "worst_category": worst.label if worst else None,
        "safeguarding": round(row.safeguarding, 6),
        "access_to_children": row.case.access_to_children,
        "risk_band": row.case.risk_band,
        "known_items": len(confident),
        "exact_items": sum(1 for i in confident if i.exact),
        "perceptual_items": sum(1 for i in confident if not i.exact),
        "possible_items": len(s.possible_items),
        "categories": categories,
        "matches": sum(1 for m in f.matches if not m.known_good),
        "deleted_only_items": sum(1 for i in confident if i.deleted_only),
        "carved_items": sum(1 for i in confident if i.carved),
        "archive_items": sum(1 for i in confident if i.in_archive),
        "media_count": f.media_count,
        "deleted_media": f.deleted_media,
        "carved_media": f.carved_media,
        "archive_media": f.archive_media,
        "skipped_count": f.skipped_count,
        "attention": list(row.attention),
        "failure": f.failure,
        "first_hit_seconds": f.first_hit_seconds,
        "reason": row.reason,
    }
