"""Comparing case databases: what a scan stored, without run ids or times."""

from __future__ import annotations

import sqlite3
from pathlib import Path

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
