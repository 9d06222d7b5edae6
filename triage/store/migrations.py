"""How an older case database becomes the current version.

Opened for writing, a database is migrated in place, every step in one
transaction (``MIGRATIONS``). Opened read-only, it is read *as if* migrated
through TEMP views that shadow the old tables on that connection only
(``READ_AS_NEXT``): the file is never changed. Each step is SQL, or a
function given the connection for what SQL alone cannot do.
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Callable, Iterable

from triage.records import Location, Scope
from triage.store.schema import LOCATION_COLUMNS, location_columns

#: A migration step: SQL, or a function given the connection.
Step = str | Callable[[sqlite3.Connection], None]

# Location text as versions 1 and 2 wrote it, by the stages that wrote each
# form; anything else is a file's display path (or, stage volume, the
# evidence file). Used once, by the 2 -> 3 migration (and by read-only
# readers of an older database).
_LEGACY_FORMS: tuple[tuple[frozenset[str], Scope, re.Pattern[str]], ...] = (
    (
        frozenset({"evidence", "acquisition"}),
        Scope.BYTES,
        re.compile(r"bytes (?P<start>\d+)-(?P<last>\d+)"),
    ),
    (
        frozenset({"volume", "carve"}),
        Scope.VOLUME,
        re.compile(
            r"partition (?P<p>\d+) @ (?P<start>\d+)(?: \((?P<inner>.+)\))?", re.S
        ),
    ),
    (
        frozenset({"ingest"}),
        Scope.FILESYSTEM,
        re.compile(r"partition (?P<p>\d+)(?::(?P<inner>.+))?", re.S),
    ),
    (
        frozenset({"carve"}),
        Scope.POSITION,
        re.compile(r"p(?P<p>\d+) @ (?P<start>\d+)"),
    ),
    (
        frozenset({"filesystem", "carve"}),
        Scope.PARTITION,
        re.compile(
            r"p(?P<p>\d+)(?::(?P<inner>[^@]+))?(?:@(?P<start>\d+)\+(?P<n>\d+))?"
        ),
    ),
)


@functools.lru_cache(maxsize=4096)
def legacy_location(text: str, stage: str) -> Location:
    """The structured location of a version-2 ``skipped.location``. Every
    result renders back to ``text`` exactly (else it is kept as a path)."""
    for stages, scope, pattern in _LEGACY_FORMS:
        m = pattern.fullmatch(text) if stage in stages else None
        if m is None:
            continue
        g = m.groupdict()
        start = int(g["start"]) if g.get("start") else None
        end = None
        if g.get("last"):
            end = int(g["last"]) + 1
        elif g.get("n") and start is not None:
            end = start + int(g["n"])
        part = int(g["p"]) if g.get("p") else None
        loc = Location(scope, part, None, g.get("inner"), start, end)
        if str(loc) == text:
            return loc
    return Location(Scope.DEVICE if stage == "volume" else Scope.FILE, path=text)


def _legacy_part(text: str, stage: str, index: int) -> str | int | None:
    """SQL function for read-only readers: one column of ``legacy_location``."""
    return location_columns(legacy_location(text, stage))[index]


def _fill_locations(db: sqlite3.Connection) -> None:
    """2 -> 3: set the location columns of every skipped row from its text."""
    rows = db.execute("SELECT rowid, location, stage FROM skipped").fetchall()
    db.executemany(
        "UPDATE skipped SET "
        + ", ".join(f"{c} = ?" for c in LOCATION_COLUMNS)
        + " WHERE rowid = ?",
        [(*location_columns(legacy_location(t, s)), r) for r, t, s in rows],
    )


def run_steps(db: sqlite3.Connection, steps: Iterable[Step]) -> None:
    for step in steps:
        if isinstance(step, str):
            db.execute(step)
        else:
            step(db)


def _register_legacy_function(db: sqlite3.Connection) -> None:
    db.create_function("triage_legacy_location", 3, _legacy_part, deterministic=True)


# Versions 1 to 3 kept an item's MD5 and SHA-1 in media columns.
_V3_DIGESTS = (
    "SELECT device_id, address, 'md5' AS algorithm, md5 AS value "
    "FROM main.media WHERE md5 IS NOT NULL UNION ALL "
    "SELECT device_id, address, 'sha1', sha1 FROM main.media WHERE sha1 IS NOT NULL"
)


def _has_digests(db: sqlite3.Connection) -> bool:
    """Whether the file already has the version-4 ``digests`` table."""
    return (
        db.execute(
            "SELECT 1 FROM main.sqlite_master WHERE type = 'table' AND name = 'digests'"
        ).fetchone()
        is not None
    )


def _move_digests(db: sqlite3.Connection) -> None:
    """3 -> 4: copy media.md5/sha1 into ``digests`` and drop media.sha1 (md5
    stays: it is the content key). Nothing to do where the table exists."""
    if _has_digests(db):
        return
    db.execute(
        "CREATE TABLE digests (device_id TEXT NOT NULL, address TEXT NOT NULL, "
        "algorithm TEXT NOT NULL, value TEXT NOT NULL, "
        "PRIMARY KEY (device_id, address, algorithm), "
        "FOREIGN KEY (device_id, address) REFERENCES media(device_id, address) "
        "ON DELETE CASCADE)"
    )
    db.execute(
        f"INSERT INTO digests(device_id, address, algorithm, value) {_V3_DIGESTS}"
    )
    db.execute("ALTER TABLE media DROP COLUMN sha1")


def _view_digests(db: sqlite3.Connection) -> None:
    """Read-only 3 -> 4: ``digests`` as a TEMP view over media.md5/sha1."""
    if not _has_digests(db):
        db.execute(f"CREATE TEMP VIEW digests AS {_V3_DIGESTS}")


_CARVE_COLUMNS = ("carve_runs", "carve_note")  # media columns added by 4 -> 5


def _missing_carve_columns(db: sqlite3.Connection) -> list[str]:
    have = {r[1] for r in db.execute("PRAGMA main.table_info(media)")}
    return [c for c in _CARVE_COLUMNS if c not in have]


def _add_carve_columns(db: sqlite3.Connection) -> None:
    """4 -> 5: ``media.carve_runs`` and ``media.carve_note`` (those missing)."""
    for column in _missing_carve_columns(db):
        db.execute(f"ALTER TABLE media ADD COLUMN {column} TEXT")


def _view_carve_columns(db: sqlite3.Connection) -> None:
    """Read-only 4 -> 5: ``media`` as a TEMP view with the columns as NULL."""
    missing = _missing_carve_columns(db)
    if missing:
        nulls = ", ".join(f"NULL AS {c}" for c in missing)
        db.execute(f"CREATE TEMP VIEW media AS SELECT *, {nulls} FROM main.media")


# Version 6: a video's sampled frames, and what a video match measured.
_VIDEO_FRAMES = (
    "CREATE TABLE IF NOT EXISTS video_frames (device_id TEXT NOT NULL, "
    "address TEXT NOT NULL, "
    "frame_number INTEGER NOT NULL, timestamp REAL NOT NULL, "
    "algorithm TEXT NOT NULL, variant TEXT NOT NULL, value TEXT NOT NULL, "
    "quality INTEGER, "
    "PRIMARY KEY (device_id, address, frame_number, algorithm, variant), "
    "FOREIGN KEY (device_id, address) REFERENCES media(device_id, address) "
    "ON DELETE CASCADE)"
)
_VIDEO_MATCH_COLUMNS = ("item_share", "known_share", "at_seconds")


def _add_video_tables(db: sqlite3.Connection) -> None:
    """5 -> 6: the ``video_frames`` table and the video columns of
    ``matches``; what a file already has is left as it is."""
    db.execute(_VIDEO_FRAMES)
    have = {r[1] for r in db.execute("PRAGMA main.table_info(matches)")}
    for column in _VIDEO_MATCH_COLUMNS:
        if column not in have:
            db.execute(f"ALTER TABLE matches ADD COLUMN {column} REAL")


def _view_video_tables(db: sqlite3.Connection) -> None:
    """Read-only 5 -> 6: ``matches`` with NULL video columns and an empty
    ``video_frames``, as TEMP views, where the file lacks them."""
    have = {r[1] for r in db.execute("PRAGMA main.table_info(matches)")}
    missing = [c for c in _VIDEO_MATCH_COLUMNS if c not in have]
    if missing:
        db.execute(
            "CREATE TEMP VIEW matches AS SELECT *, "
            + ", ".join(f"NULL AS {c}" for c in missing)
            + " FROM main.matches"
        )
    exists = db.execute(
        "SELECT 1 FROM main.sqlite_master WHERE type = 'table' "
        "AND name = 'video_frames'"
    ).fetchone()
    if exists is None:
        db.execute(
            "CREATE TEMP VIEW video_frames AS SELECT '' AS device_id, "
            "'' AS address, 0 AS frame_number, 0.0 AS timestamp, '' AS algorithm, "
            "'' AS variant, '' AS value, NULL AS quality WHERE 0"
        )


#: How to bring a database of version N up to N + 1, in place.
MIGRATIONS: dict[int, tuple[Step, ...]] = {
    1: ("ALTER TABLE runs ADD COLUMN pid INTEGER",),  # 1 -> 2
    2: (  # 2 -> 3: structured locations of skipped rows
        "ALTER TABLE skipped ADD COLUMN scope TEXT NOT NULL DEFAULT 'file'",
        "ALTER TABLE skipped ADD COLUMN partition_index INTEGER",
        "ALTER TABLE skipped ADD COLUMN path TEXT",
        "ALTER TABLE skipped ADD COLUMN inner_location TEXT",
        "ALTER TABLE skipped ADD COLUMN byte_start INTEGER",
        "ALTER TABLE skipped ADD COLUMN byte_end INTEGER",
        _fill_locations,
    ),
    3: (_move_digests,),  # 3 -> 4: exact digests get their own table
    4: (_add_carve_columns,),  # 4 -> 5: carved items' pieces and notes
    5: (_add_video_tables,),  # 5 -> 6: video frames; video match shares, times
}
#: How a read-only reader sees a database of version N as N + 1 without
#: changing it: TEMP views, which shadow the main tables on that connection
#: only. One entry per migration (a test checks).
READ_AS_NEXT: dict[int, tuple[Step, ...]] = {
    1: ("CREATE TEMP VIEW runs AS SELECT *, NULL AS pid FROM main.runs",),
    2: (
        _register_legacy_function,
        "CREATE TEMP VIEW skipped AS SELECT *, "
        + ", ".join(
            f"triage_legacy_location(location, stage, {i}) AS {c}"
            for i, c in enumerate(LOCATION_COLUMNS)
        )
        + " FROM main.skipped",
    ),
    3: (_view_digests,),
    4: (_view_carve_columns,),
    5: (_view_video_tables,),
}
