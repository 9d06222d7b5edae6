"""Casework: cases in the database, and the queue, report and export built from it.

This sits at the CLI level: it reads the case database (``triage.store``) and
hands plain records to the pure queue functions (``triage.queue``). Queue,
report and export only read the database.

Skipped rows are split, by their stage and the scope of their location
(columns, never parsed text), into *regions* (a whole partition, filesystem,
unallocated area, the evidence itself, a damaged E01 chunk or sectors the
acquisition could not read: the device cannot be called clean), *conflicts*
(stage ``match``: one hash of an item agrees with a set entry and the other
does not) and *items* (one file, archive member or picture).
"""

from __future__ import annotations

import csv
import datetime as _dt
import hashlib
import json
import re
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from triage import __version__
from triage.errors import TriageError, UsageError
from triage.queue.data import CaseData, DeviceDetail, MatchedMedia
from triage.queue.rank import ACCESS_WEIGHT, RISK_BANDS, RankedDevice, rank
from triage.queue.score import Calibration, DeviceFacts, DeviceMatch, load_calibration
from triage.records import Case, FileRecord, Partition, Scope, Skipped, Source, Stage
from triage.store import Store, record_from_row

# Skipped rows from these stages, or at these kinds of location, are whole
# regions; the rest are items (a file, member, carved item, one position).
REGION_STAGES = frozenset(
    {Stage.EVIDENCE, Stage.ACQUISITION, Stage.VOLUME, Stage.FILESYSTEM}
)
REGION_SCOPES = frozenset(
    {Scope.DEVICE, Scope.BYTES, Scope.VOLUME, Scope.FILESYSTEM, Scope.PARTITION}
)

CASE_FIELDS: tuple[str, ...] = ("case_id", "access_to_children", "risk_band", "note")


def open_store(db: str | Path, *, create: bool = False) -> Store:
    """Open the case database. ``create``: to write case details (created if
    absent, migrated if older). Otherwise read-only, as the queue, report,
    export and case listing open it: they never create, migrate or change the
    file, work while a scan writes it, and read a database on read-only
    storage (a shared case folder).

    Raises:
        StoreError: missing file, not a triage database, other schema.
    """
    if create:
        return Store(db, create=True)
    return Store(db, read_only=True)


# -- cases ------------------------------------------------------------------


def _norm(value: str) -> str:
    return re.sub(r"[\s_]+", "-", value.strip().lower())


def validate_case(
    case_id: str,
    access_to_children: str | None,
    risk_band: str | None,
    note: str | None,
    *,
    where: str,
) -> Case:
    """A ``Case`` from loose text (``Lives with`` -> ``lives-with``).

    Raises:
        UsageError: naming ``where`` (file and line, or the command).
    """
    cid = (case_id or "").strip()
    if not cid:
        raise UsageError(f"{where}: case_id is empty")
    access = _norm(access_to_children) if access_to_children else "unknown"
    if access not in ACCESS_WEIGHT:
        raise UsageError(
            f"{where}: access_to_children {access_to_children!r} is not one of "
            f"{', '.join(ACCESS_WEIGHT)}"
        )
    band = _norm(risk_band) if risk_band and risk_band.strip() else None
    if band is not None and band not in RISK_BANDS:
        raise UsageError(
            f"{where}: risk_band {risk_band!r} is not one of {', '.join(RISK_BANDS)}"
        )
    return Case(cid, access, band, note.strip() if note and note.strip() else None)


def set_case(
    store: Store,
    case_id: str,
    *,
    access_to_children: str | None = None,
    risk_band: str | None = None,
    note: str | None = None,
) -> Case:
    """Create or update a case; options not given keep their stored value."""
    old = {c.case_id: c for c in store.cases()}.get(case_id)
    case = validate_case(
        case_id,
        access_to_children or (old.access_to_children if old else None),
        risk_band if risk_band is not None else (old.risk_band if old else None),
        note if note is not None else (old.note if old else None),
        where=f"case {case_id}",
    )
    store.set_case(case)
    return case


def read_cases_file(path: str | Path) -> list[Case]:
    """Cases from CSV (header row with ``case_id``, ``access_to_children``,
    ``risk_band``, ``note``) or JSON (a list of such objects, or
    ``{"cases": [...]}``). Every row is checked before any is used.

    Raises:
        UsageError: the file cannot be read, or a row is invalid (named by line
            for CSV, by index for JSON).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{p}: cannot read cases file: {exc}") from exc
    rows: list[tuple[str, Mapping[str, Any]]] = []
    if p.suffix.lower() == ".json" or text.lstrip().startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{p}: not valid JSON: {exc}") from exc
        if isinstance(data, dict):
            data = data.get("cases")
        if not isinstance(data, list):
            raise UsageError(f'{p}: expected a list of cases or {{"cases": [...]}}')
        for i, obj in enumerate(data):
            if not isinstance(obj, dict):
                raise UsageError(f"{p}: case #{i + 1} is not an object")
            rows.append((f"{p}: case #{i + 1}", obj))
    else:
        reader = csv.DictReader(text.splitlines())
        fields = [f.strip() for f in reader.fieldnames or []]
        if "case_id" not in fields:
            raise UsageError(
                f"{p}: line 1: CSV header must name case_id (and optionally "
                f"{', '.join(CASE_FIELDS[1:])}); got {fields}"
            )
        unknown = sorted(set(fields) - set(CASE_FIELDS))
        if unknown:
            raise UsageError(f"{p}: line 1: unknown column(s) {unknown}")
        for row in reader:
            clean = {(k or "").strip(): v for k, v in row.items()}
            if None in row:
                raise UsageError(f"{p}: line {reader.line_num}: too many fields")
            rows.append((f"{p}: line {reader.line_num}", clean))
    cases: list[Case] = []
    seen: dict[str, str] = {}
    for where, obj in rows:
        unknown = sorted(set(obj) - set(CASE_FIELDS))
        if unknown:
            raise UsageError(f"{where}: unknown field(s) {unknown}")
        for key in CASE_FIELDS:
            if obj.get(key) is not None and not isinstance(obj[key], str):
                raise UsageError(f"{where}: {key} must be text")
        case = validate_case(
            obj.get("case_id") or "",
            obj.get("access_to_children"),
            obj.get("risk_band"),
            obj.get("note"),
            where=where,
        )
        if case.case_id in seen:
            raise UsageError(
                f"{where}: case {case.case_id} repeats {seen[case.case_id]}"
            )
        seen[case.case_id] = where
        cases.append(case)
    return cases


def import_cases(store: Store, path: str | Path) -> list[Case]:
    """Read and check a cases file, then write every case (all or none)."""
    cases = read_cases_file(path)
    for case in cases:
        store.set_case(case)
    return cases


# -- facts ------------------------------------------------------------------


def is_region(skipped: Skipped) -> bool:
    """Whether a skipped row is a whole region (see the module docstring)."""
    return skipped.stage in REGION_STAGES or skipped.location.scope in REGION_SCOPES


def _device_match(r: sqlite3.Row) -> DeviceMatch:
    """A ``matches`` row joined with its ``media`` row, as the queue sees it."""
    return DeviceMatch(
        address=r["address"],
        set_name=r["set_name"],
        entry_id=str(r["entry_id"]),
        algorithm=r["algorithm"],
        distance=int(r["distance"] or 0),
        category=r["category"],
        scheme=r["scheme"],
        known_good=bool(r["known_good"]),
        set_digest=r["set_digest"] or "",
        variant=r["variant"] or "original",
        path=r["display_path"] or r["path"] or r["address"],
        deleted=bool(r["deleted"]),
        carved=r["source"] == Source.CARVED,
        in_archive=r["source"] == Source.ARCHIVE
        or (
            r["archive_path"] not in (None, "[]")
            and r["source"] not in (Source.THUMBNAIL_CACHE, Source.EMBEDDED)
        ),
        thumbnail_cache=r["source"] == Source.THUMBNAIL_CACHE,
        embedded=r["source"] == Source.EMBEDDED,
        item_share=r["item_share"],
        known_share=r["known_share"],
        at_seconds=r["at_seconds"],
        video=(r["media_type"] or "").startswith("video/"),
    )


def load_facts(store: Store, case_id: str | None = None) -> list[DeviceFacts]:
    """``DeviceFacts`` for every device (of one case), in device-id order."""
    devices = store.device_facts_rows(case_id)
    matches: dict[str, list[DeviceMatch]] = {}
    for r in store.match_rows(case_id):
        matches.setdefault(r["device_id"], []).append(_device_match(r))
    skipped = store.skipped_by_device(case_id)
    interrupted = store.interrupted_devices()
    out = []
    for d in devices:
        dev = d["device_id"]
        skips = skipped.get(dev, [])
        out.append(
            DeviceFacts(
                device_id=dev,
                case_id=d["case_id"],
                # A killed scan leaves 'scanning' behind; say what happened.
                status="interrupted" if dev in interrupted else d["status"],
                evidence=d["evidence"],
                media_count=max(int(d["media_count"] or 0), int(d["n_media"])),
                deleted_media=int(d["n_deleted"]),
                carved_media=int(d["n_carved"]),
                archive_media=int(d["n_archive"]),
                skipped_count=len(skips),
                unreadable=tuple(
                    f"{s.where}: {s.reason}" for s in skips if is_region(s)
                ),
                conflicts=tuple(
                    f"{s.where}: {s.reason}" for s in skips if s.stage is Stage.MATCH
                ),
                failure=d["error"],
                first_hit_seconds=d["first_hit_seconds"],
                matches=tuple(matches.get(dev, ())),
            )
        )
    return out


def load_cases(store: Store) -> dict[str, Case]:
    return {c.case_id: c for c in store.cases()}


def build_queue(
    store: Store,
    case_id: str | None = None,
    calibration: Calibration | None = None,
) -> list[RankedDevice]:
    """The ranked queue of the database's devices (or one case's).

    Raises:
        UsageError: ``case_id`` is not a case in the database.
    """
    cases = load_cases(store)
    if case_id is not None and case_id not in cases:
        raise UsageError(
            f"no case {case_id!r} in {store.path} (cases: "
            f"{', '.join(sorted(cases)) or 'none'})"
        )
    return rank(load_facts(store, case_id), cases, calibration or load_calibration())


# -- report and export data -------------------------------------------------


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _matched_media(store: Store, device_id: str, evidence: str) -> list[MatchedMedia]:
    by_address: dict[str, list[DeviceMatch]] = {}
    rows: dict[str, Any] = {}
    for r in store.matched_media_rows(device_id):
        addr = r["address"]
        rows.setdefault(addr, r)
        by_address.setdefault(addr, []).append(_device_match(r))
    digests = store.digests(device_id, by_address)
    out = []
    for addr, ms in by_address.items():
        r = rows[addr]
        record = None
        if r["source"] is not None:
            record = record_from_row(r, device_id, evidence)
        out.append(
            MatchedMedia(
                device_id=device_id,
                address=addr,
                path=ms[0].path,
                size=r["size"],
                digests=tuple(digests[addr]),
                deleted=bool(r["deleted"]),
                carved=r["source"] == Source.CARVED,
                archive=r["source"] == Source.ARCHIVE,
                carve_offset=r["carve_offset"],
                media_type=r["media_type"],
                record=record,
                matches=tuple(ms),
            )
        )
    return _note_carved_copies(out)


def _note_carved_copies(items: list[MatchedMedia]) -> list[MatchedMedia]:
    """Carved items whose content is also a listed file (by MD5) name those
    files, so one picture found twice (a deleted file, and its clusters carved
    from free space) reads as one."""
    listed: dict[str, list[str]] = {}
    for item in items:
        if item.md5 and not item.carved:
            listed.setdefault(item.md5, []).append(
                item.path + (" (deleted)" if item.deleted else "")
            )
    return [
        replace(item, same_content_as=tuple(listed[item.md5]))
        if item.carved and item.md5 in listed
        else item
        for item in items
    ]


def case_data(
    store: Store,
    case_id: str | None = None,
    calibration: Calibration | None = None,
) -> CaseData:
    """Queue plus per-device detail and audit trail, as plain data."""
    cal = calibration or load_calibration()
    queue = build_queue(store, case_id, cal)
    details = []
    for row in queue:
        dev = row.device_id
        d = store.device_columns(dev)
        skipped = tuple((s.where, str(s.stage), s.reason) for s in store.skipped(dev))
        details.append(
            DeviceDetail(
                row=row,
                segments=tuple(json.loads(d["segments"] or "[]")),
                container=d["container"],
                size=d["size"],
                stored_digest=d["stored_digest"],
                scan_seconds=d["scan_seconds"] if "scan_seconds" in d.keys() else None,
                media=tuple(_matched_media(store, dev, d["evidence"])),
                skipped=skipped,
                runs=tuple(store.runs(dev)),
            )
        )
    meta = store.meta()
    return CaseData(
        database=str(store.path),
        database_sha256=_file_sha256(store.path),
        meta=meta,
        generated_at=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        tool_version=__version__,
        calibration=cal.source,
        case_id=case_id,
        cases=load_cases(store),
        devices=tuple(details),
    )


# -- previews ---------------------------------------------------------------


def _read_device_items(
    evidence: str,
    device_id: str,
    items: list[tuple[MatchedMedia, FileRecord]],
    max_bytes: int,
) -> Iterator[tuple[MatchedMedia, bytes | str]]:
    """Read items back from one device, opened once, read-only, via
    ``triage.ingest``; each failure becomes that item's reason."""
    from triage.ingest.content import read_record
    from triage.ingest.evidence import open_device
    from triage.ingest.volumes import iter_partitions

    try:
        handle = open_device(evidence, device_id)
    except (TriageError, OSError) as exc:
        for item, _ in items:
            yield item, f"cannot read back: {exc}"
        return
    with handle:
        failure = ""
        try:
            offsets = {
                part.index: part.offset
                for part in iter_partitions(handle)
                if isinstance(part, Partition)
            }
        except (TriageError, OSError) as exc:
            offsets, failure = {}, f"cannot read back: {exc}"
        for item, record in items:
            if record.source is not Source.CARVED:  # carve offsets are absolute
                if record.partition_index not in offsets:
                    yield (
                        item,
                        failure
                        or (
                            f"cannot read back: partition {record.partition_index} "
                            "not found again"
                        ),
                    )
                    continue
                record = replace(
                    record, partition_offset=offsets[record.partition_index]
                )
            try:
                blob = read_record(handle, record, limit=max_bytes)
            except (TriageError, OSError) as exc:
                yield item, f"cannot read back: {exc}"
                continue
            if item.md5 and hashlib.md5(blob).hexdigest() != item.md5.lower():
                yield item, "content read back does not match the stored MD5"
                continue
            yield item, blob


def iter_preview_sources(
    data: CaseData, max_bytes: int
) -> Iterator[tuple[MatchedMedia, bytes | str]]:
    """Each matched (not known-good) item with its bytes, or why it cannot be
    shown; the bytes are checked against the stored MD5 so a preview never
    shows the wrong thing. Each device is opened once."""
    for detail in data.devices:
        wanted: list[tuple[MatchedMedia, FileRecord]] = []
        for item in detail.media:
            if all(m.known_good for m in item.matches) or item.record is None:
                continue
            if item.size is not None and item.size > max_bytes:
                yield item, f"too large to preview ({item.size} bytes)"
                continue
            wanted.append((item, item.record))
        if wanted:
            evidence = (
                detail.segments[0] if detail.segments else detail.row.facts.evidence
            )
            yield from _read_device_items(
                evidence, detail.row.device_id, wanted, max_bytes
            )


def case_list(store: Store) -> list[dict[str, Any]]:
    """``triage case list`` rows: each case with its device counts."""
    counts = store.device_status_counts()
    updated = store.case_updated_at()
    out = []
    for case in store.cases():
        c = counts.get(case.case_id, {})
        out.append(
            {
                "case_id": case.case_id,
                "access_to_children": case.access_to_children,
                "risk_band": case.risk_band,
                "note": case.note,
                "devices": sum(c.values()),
                "device_status": dict(sorted(c.items())),
                "updated_at": updated.get(case.case_id),
            }
        )
    return out
