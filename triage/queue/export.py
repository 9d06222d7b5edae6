"""Exports for other tools: JSON (everything), CSV (one row per match), VICS.

VICS is Project VIC's OData-based JSON (data model 2.0): a ``value`` list of
``Media`` objects, one per distinct content (by MD5), each with its
``MediaFiles`` (every place it was found). Full-examination tools import it to
pre-categorise what triage found; ``triage hashset import`` reads it back.
Only matched items that count go into VICS (known-good and non-pertinent
matches stay out): it is a list of suspected known material.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from triage.errors import UsageError
from triage.hashmatch.signals import SIGNALS, Signal
from triage.queue.data import CaseData, MatchedMedia, queue_row_json
from triage.queue.rank import video_note
from triage.queue.score import (
    Calibration,
    DeviceMatch,
    grade,
    load_calibration,
    match_probability,
)
from triage.registry import Registry

VICS_CONTEXT = (
    "http://github.com/VICSDATAMODEL/ProjectVic/DataModels/2.0.xml/Default/"
    "$metadata#Media"
)
EXPORT_FORMAT = "triage-export"
EXPORT_VERSION = 1

# VICS Category is an integer whose meaning depends on the category scheme the
# receiving tool is set to (Griffeye, for one, is configured for Project VIC
# or for UK CAID). ``triage hashset import`` (triage.hashmatch.formats) reads
# CAID 1, 2, 3 as A, B, C, so a CAID export writes A/B/C as 1/2/3 and reads
# back exactly with ``--scheme caid``. A VICS export passes VICS categories
# through; CAID-graded items in it become VICS 1 (child abuse material) with
# the CAID letter in ``Comments``.
CAID_TO_NUMBER: dict[str, int] = {"A": 1, "B": 2, "C": 3}
VICS_SCHEMES: tuple[str, ...] = ("auto", "caid", "vics")

#: The exact digests exported for each item (every registered exact signal, in
#: registration order), under their CSV column / VICS field names.
EXACT_SIGNALS = tuple(s for s in SIGNALS.values() if s.is_exact)

CSV_COLUMNS: tuple[str, ...] = (
    "rank",
    "device_id",
    "case_id",
    "tier",
    "path",
    "address",
    *(s.csv_column for s in EXACT_SIGNALS),
    "size",
    "deleted",
    "carved",
    "archive",
    "carve_offset",
    "set_name",
    "set_digest",
    "entry_id",
    "algorithm",
    "variant",
    "distance",
    "category",
    "scheme",
    "known_good",
    "p",
    "source",
    "item_share",
    "known_share",
    "at_seconds",
)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rounded(p: float | None) -> float | None:
    return None if p is None else round(p, 6)


def _digests(
    item: MatchedMedia, column: Callable[[Signal], str]
) -> dict[str, str | None]:
    """The item's exact digests, named by ``column`` of each exact signal."""
    return {column(s): item.digest(s.name) for s in EXACT_SIGNALS}


def _match_fields(m: DeviceMatch) -> dict[str, Any]:
    """What the JSON and CSV exports write alike about one match."""
    return {
        "set_name": m.set_name,
        "set_digest": m.set_digest,
        "entry_id": m.entry_id,
        "algorithm": m.algorithm,
        "variant": m.variant,
        "distance": m.distance,
        "category": m.category,
        "scheme": m.scheme,
        # A known video (vPDQ): percent of the file's frames found in it, and
        # of its frames found in the file; a known picture shown in a video:
        # when, in seconds. None (CSV: empty) otherwise.
        "item_share": m.item_share,
        "known_share": m.known_share,
        "at_seconds": m.at_seconds,
    }


def _source(item: MatchedMedia) -> str | None:
    """How the item was found (``ls --json``'s ``source``: filesystem,
    archive, carved, embedded, thumbnail-cache); None when not recorded."""
    return str(item.record.source) if item.record is not None else None


def _media_json(item: MatchedMedia, cal: Calibration) -> dict[str, Any]:
    return {
        "address": item.address,
        "path": item.path,
        "size": item.size,
        **_digests(item, lambda s: s.csv_column),
        "media_type": item.media_type,
        "deleted": item.deleted,
        "carved": item.carved,
        "archive": item.archive,
        "carve_offset": item.carve_offset,
        "source": _source(item),
        "same_content_as": list(item.same_content_as),
        "matches": [
            {
                **_match_fields(m),
                "known_good": m.known_good,
                "p": _rounded(match_probability(m, cal)),
            }
            for m in item.matches
        ],
    }


def export_json(data: CaseData, calibration: Calibration | None = None) -> str:
    """Everything: the queue rows, matched media, skipped items, audit trail."""
    cal = calibration or load_calibration()
    doc = {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "generated_at": data.generated_at,
        "tool_version": data.tool_version,
        "database": data.database,
        "database_sha256": data.database_sha256,
        "database_meta": data.meta,
        "calibration": data.calibration,
        "case_filter": data.case_id,
        "cases": [
            {
                "case_id": c.case_id,
                "access_to_children": c.access_to_children,
                "risk_band": c.risk_band,
                "note": c.note,
            }
            for c in data.cases.values()
        ],
        "devices": [
            {
                **queue_row_json(d.row),
                "segments": list(d.segments),
                "container": d.container,
                "size": d.size,
                "stored_digest": d.stored_digest,
                "scan_seconds": d.scan_seconds,
                "media": [_media_json(m, cal) for m in d.media],
                "skipped": [
                    {"location": loc, "stage": stage, "reason": reason}
                    for loc, stage, reason in d.skipped
                ],
                "runs": list(d.runs),
            }
            for d in data.devices
        ],
    }
    return json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n"


def _cell(value: object) -> object:
    """Neutralise spreadsheet formulas in text from evidence (a path starting
    with ``=`` must not run in Excel): prefix a single quote, as OWASP advises.
    The JSON export keeps the exact text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def iter_csv_rows(
    data: CaseData, calibration: Calibration | None = None
) -> Iterator[dict[str, object]]:
    cal = calibration or load_calibration()
    for d in data.devices:
        for item in d.media:
            for m in item.matches:
                p = match_probability(m, cal)
                yield {
                    "rank": d.row.rank,
                    "device_id": d.row.device_id,
                    "case_id": d.row.facts.case_id,
                    "tier": d.row.tier,
                    "path": item.path,
                    "address": item.address,
                    **_digests(item, lambda s: s.csv_column),
                    "size": item.size,
                    "deleted": int(item.deleted),
                    "carved": int(item.carved),
                    "archive": int(item.archive),
                    "carve_offset": item.carve_offset,
                    **_match_fields(m),
                    "known_good": int(m.known_good),
                    "p": "" if p is None else round(p, 6),
                    "source": _source(item),
                }


def export_csv(data: CaseData, calibration: Calibration | None = None) -> str:
    """One row per match (columns ``CSV_COLUMNS``), queue order."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in iter_csv_rows(data, calibration):
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def _letter(category: str | None) -> str:
    return (category or "").strip().upper().removeprefix("CATEGORY ").strip()


def vics_category(
    category: str | None, scheme: str | None, target: str = "vics"
) -> tuple[int, str | None]:
    """(VICS integer category, comment) for a set's category, in the
    ``target`` numbering (``vics`` or ``caid``).

    Raises:
        UsageError: a CAID export of an item with no CAID grade.
    """
    value = _letter(category)
    caid = grade(category, scheme).label in ("category A", "category B", "category C")
    if target == "caid":
        if not caid:
            raise UsageError(
                f"category {category!r} ({scheme or 'no scheme'}) has no CAID "
                "grade; export with --vics-scheme vics"
            )
        return CAID_TO_NUMBER[value], None
    if caid and not value.isdigit():
        return 1, f"CAID category {value}"
    if scheme in ("vics", "local", None) and value.isdigit():
        return int(value), None
    return 1, (
        f"known-bad set category {category!r}" if category else "ungraded known-bad"
    )


def vics_target(data: CaseData, requested: str = "auto") -> str:
    """The numbering a VICS export uses: ``caid`` when every counted match is
    CAID-graded, else ``vics`` (unless ``requested`` says)."""
    if requested != "auto":
        return requested
    labels = {
        grade(m.category, m.scheme).label
        for d in data.devices
        for item in d.media
        for m in item.matches
        if not m.known_good and grade(m.category, m.scheme).counts
    }
    caid = {"category A", "category B", "category C"}
    return "caid" if labels and labels <= caid else "vics"


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    """Leave out what is unknown: VICS writers omit a field rather than
    write null, and typed readers may not take null for a number or date."""
    return {k: v for k, v in fields.items() if v is not None}


def _flag(value: bool) -> str:
    """VICS flags are the strings "true"/"false", as in Project VIC's own
    files; readers that take them as text would read a JSON boolean as null."""
    return "true" if value else "false"


def _vics_file(device_id: str, item: MatchedMedia) -> dict[str, Any]:
    """One ``MediaFiles`` entry: where this copy was found. An archive
    member names the archive it was in (``ParentFileName``/``ParentFilePath``)."""
    record = item.record
    members = record.archive_path if record else ()
    name = (members[-1] if members else item.path).replace("\\", "/")
    parent = parent_name = None
    if record and members:
        parent = "!".join((record.path, *members[:-1]))
        parent_name = (members[-2] if len(members) > 1 else record.path).replace(
            "\\", "/"
        )
    return _present(
        {
            "MD5": item.md5.upper() if item.md5 else None,
            "FileName": name.rsplit("/", 1)[-1],
            "FilePath": f"{device_id}/{item.path}",
            "SourceID": device_id,
            "Deleted": _flag(item.deleted),
            "Unallocated": _flag(item.carved),
            "PhysicalLocation": item.carve_offset,
            "ParentFileName": parent_name.rsplit("/", 1)[-1] if parent_name else None,
            "ParentFilePath": f"{device_id}/{parent}" if parent else None,
            "Created": _iso(record.crtime) if record else None,
            "Written": _iso(record.mtime) if record else None,
            "Accessed": _iso(record.atime) if record else None,
        }
    )


def export_vics(
    data: CaseData, scheme: str = "auto", calibration: Calibration | None = None
) -> str:
    """VICS 2.0 JSON of the counted matched media, one Media per MD5."""
    cal = calibration or load_calibration()
    target = vics_target(data, scheme)
    media: dict[str, dict[str, Any]] = {}
    for d in data.devices:
        for item in d.media:
            counted = [m for m in item.matches if match_probability(m, cal) is not None]
            if not counted or not item.md5:
                continue
            worst = max(
                counted,
                key=lambda m: (grade(m.category, m.scheme).order, m.set_name),
            )
            category, comment = vics_category(worst.category, worst.scheme, target)
            notes = [c for c in (comment, *map(video_note, counted)) if c]
            comment = "; ".join(dict.fromkeys(notes)) or None
            key = item.md5.lower()
            entry = media.get(key)
            if entry is None:
                entry = _present(
                    {
                        "MediaID": 0,
                        "Category": category,
                        **{
                            name: (value or "").upper() or None
                            for name, value in _digests(
                                item, lambda s: s.vics_name
                            ).items()
                        },
                        "MediaSize": item.size,
                        "MimeType": item.media_type,
                        "IsPrecategorized": "true",
                        "Comments": comment,
                        "MediaFiles": [],
                    }
                )
                media[key] = entry
            entry["MediaFiles"].append(_vics_file(d.row.device_id, item))
    values = [media[k] for k in sorted(media)]
    for i, entry in enumerate(values, start=1):
        entry["MediaID"] = i
    doc = {"@odata.context": VICS_CONTEXT, "value": values}
    return json.dumps(doc, indent=2) + "\n"


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """What a caller may ask of an export; each format reads what it uses."""

    vics_scheme: str = "auto"  # category numbering of VICS (VICS_SCHEMES)


@dataclass(frozen=True, slots=True)
class Exporter:
    """One export format: its name (a ``triage export --format`` choice), what
    it holds, and the function that writes it as text."""

    name: str
    description: str
    write: Callable[[CaseData, Calibration | None, ExportOptions], str]


# Every export format, in ``--format`` order. A new format is a function that
# writes text from ``CaseData`` plus one ``EXPORTERS.register(Exporter(...))``.
EXPORTERS: Registry[Exporter] = Registry("export format")


def _write_json(data: CaseData, cal: Calibration | None, _: ExportOptions) -> str:
    return export_json(data, cal)


def _write_csv(data: CaseData, cal: Calibration | None, _: ExportOptions) -> str:
    return export_csv(data, cal)


def _write_vics(data: CaseData, cal: Calibration | None, opts: ExportOptions) -> str:
    return export_vics(data, opts.vics_scheme, cal)


EXPORTERS.register(
    Exporter("json", "queue, matched media, skipped items, audit trail", _write_json)
)
EXPORTERS.register(Exporter("csv", "one row per match, queue order", _write_csv))
EXPORTERS.register(
    Exporter("vics", "Project VIC VICS 2.0 JSON of counted matched media", _write_vics)
)


def export(
    data: CaseData,
    fmt: str,
    calibration: Calibration | None = None,
    *,
    vics_scheme: str = "auto",
) -> str:
    """The export in ``fmt`` (a name in ``EXPORTERS``).

    Raises:
        UnknownNameError: no such format (a ``UsageError``; it lists the known).
    """
    exporter = EXPORTERS.get(fmt)
    return exporter.write(data, calibration, ExportOptions(vics_scheme=vics_scheme))
