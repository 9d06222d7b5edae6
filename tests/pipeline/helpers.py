"""Comparing case databases: what a scan stored, without run ids or times;
and holding up the driver's walk, as a long Sleuth Kit call would."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from triage import pipeline, walking
from triage.pipeline import ScanEvent

# table -> columns that must be identical between equivalent scans
COMPARED: dict[str, tuple[str, ...]] = {
    "devices": ("device_id", "evidence", "container", "size", "status", "error",
                "media_count", "match_count", "skipped_count"),
    "media": ("device_id", "address", "path", "partition_index", "inode", "size",
              "source", "deleted", "orphan", "archive_path", "carve_offset",
              "media_type", "mtime", "md5", "sha1", "width", "height",
              "display_path", "chunk_key", "known_good", "decoded"),
    "perceptual": ("device_id", "address", "algorithm", "variant", "value",
                   "quality"),
    "matches": ("device_id", "address", "set_name", "set_digest", "entry_id",
                "algorithm", "variant", "distance", "category", "scheme",
                "known_good"),
    "skipped": ("device_id", "location", "stage", "reason"),
    "chunks": ("device_id", "chunk_key", "items", "sets_key"),
}  # fmt: skip


def dump(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every compared row of every table, sorted (duplicates would show)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {
            table: sorted(
                con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(),
                key=repr,
            )
            for table, cols in COMPARED.items()
        }
    finally:
        con.close()


def matched_entries(db: Path, device_id: str) -> dict[str, set[str]]:
    """entry id -> display paths of the items that matched it (known-bad only)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT m.entry_id, media.display_path FROM matches m JOIN media "
            "USING (device_id, address) WHERE m.device_id = ? AND m.known_good = 0",
            (device_id,),
        ).fetchall()
    finally:
        con.close()
    out: dict[str, set[str]] = {}
    for entry, path in rows:
        out.setdefault(entry, set()).add(path)
    return out


def hold_walk(
    monkeypatch: pytest.MonkeyPatch, device_id: str, before_entry: int
) -> tuple[threading.Event, list[bool]]:
    """Make the driver's walk of ``device_id`` stop before its entry number
    ``before_entry`` until the returned event is set (at most 30 s), as if
    Sleuth Kit were in a long call there; the list gets whether it was set."""
    release = threading.Event()
    waited: list[bool] = []
    real = walking.iter_entries

    def held(handle: Any, part: Any) -> Iterator[Any]:
        for n, entry in enumerate(real(handle, part)):
            if n == before_entry and handle.device.device_id == device_id:
                waited.append(release.wait(timeout=30))
            yield entry

    monkeypatch.setattr(walking, "iter_entries", held)
    return release, waited


def release_on_first_commit(
    release: threading.Event, device_id: str
) -> pipeline.Progress:
    def progress(event: ScanEvent) -> None:
        if event.kind == "chunk" and event.device_id == device_id:
            release.set()

    return progress
