"""The case database's tables, as created new (the current version).

Older versions are brought up to this one by ``migrations``; the whole
layout is described in the package docstring (``triage.store``).
"""

from __future__ import annotations

from triage.records import Location

SCHEMA_VERSION = 6

DEVICE_STATUSES: tuple[str, ...] = (
    "awaiting",
    "scanning",
    "scanned",
    "stopped-early",
    "failed",
)
ACCESS_TO_CHILDREN: tuple[str, ...] = (
    "lives-with",
    "works-with",
    "regular-contact",
    "none",
    "unknown",
)


#: The ``skipped`` columns that hold a problem's location (since version 3).
LOCATION_COLUMNS: tuple[str, ...] = (
    "scope",
    "partition_index",
    "path",
    "inner_location",
    "byte_start",
    "byte_end",
)


def location_columns(loc: Location) -> tuple[str | int | None, ...]:
    """A ``Location`` as the values of ``LOCATION_COLUMNS``, in order."""
    return (str(loc.scope), loc.partition, loc.path, loc.inner, loc.start, loc.end)


SCHEMA = """
CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE cases (
    case_id TEXT PRIMARY KEY,
    access_to_children TEXT NOT NULL DEFAULT 'unknown',
    risk_band TEXT,
    note TEXT,
    updated_at TEXT
);
CREATE TABLE devices (
    device_id TEXT PRIMARY KEY,
    case_id TEXT REFERENCES cases(case_id),
    evidence TEXT NOT NULL,
    segments TEXT NOT NULL,
    container TEXT,
    size INTEGER,
    stored_digest TEXT,
    status TEXT NOT NULL DEFAULT 'awaiting' CHECK (status IN
        ('awaiting', 'scanning', 'scanned', 'stopped-early', 'failed')),
    error TEXT,
    first_hit_seconds REAL,
    media_count INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT,
    match_count INTEGER NOT NULL DEFAULT 0,
    skipped_count INTEGER NOT NULL DEFAULT 0,
    bytes_scanned INTEGER NOT NULL DEFAULT 0,
    scan_seconds REAL
);
CREATE INDEX devices_case ON devices(case_id);
CREATE TABLE runs (
    run_id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL REFERENCES devices(device_id),
    tool_version TEXT NOT NULL,
    hashsets TEXT NOT NULL,
    parameters TEXT NOT NULL,
    host TEXT,
    user TEXT,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL DEFAULT 'running',
    pid INTEGER
);
CREATE TABLE chunks (
    device_id TEXT NOT NULL REFERENCES devices(device_id),
    chunk_key TEXT NOT NULL,
    run_id INTEGER REFERENCES runs(run_id),
    items INTEGER NOT NULL,
    done_at TEXT NOT NULL,
    sets_key TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (device_id, chunk_key)
);
CREATE TABLE media (
    device_id TEXT NOT NULL REFERENCES devices(device_id),
    address TEXT NOT NULL,
    path TEXT NOT NULL,
    partition_index INTEGER,
    inode INTEGER,
    size INTEGER,
    source TEXT NOT NULL,
    deleted INTEGER NOT NULL DEFAULT 0,
    orphan INTEGER NOT NULL DEFAULT 0,
    archive_path TEXT NOT NULL DEFAULT '[]',
    carve_offset INTEGER,
    media_type TEXT,
    mtime REAL,
    atime REAL,
    ctime REAL,
    crtime REAL,
    md5 TEXT,
    width INTEGER,
    height INTEGER,
    display_path TEXT,
    chunk_key TEXT,
    known_good INTEGER NOT NULL DEFAULT 0,
    decoded INTEGER NOT NULL DEFAULT 0,
    partition_offset INTEGER,
    carve_runs TEXT,
    carve_note TEXT,
    PRIMARY KEY (device_id, address)
);
CREATE INDEX media_md5 ON media(md5);
CREATE INDEX media_chunk ON media(device_id, chunk_key);
CREATE TABLE digests (
    device_id TEXT NOT NULL,
    address TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (device_id, address, algorithm),
    FOREIGN KEY (device_id, address) REFERENCES media(device_id, address)
        ON DELETE CASCADE
);
CREATE TABLE perceptual (
    device_id TEXT NOT NULL,
    address TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    variant TEXT NOT NULL,
    value TEXT NOT NULL,
    quality INTEGER,
    PRIMARY KEY (device_id, address, algorithm, variant),
    FOREIGN KEY (device_id, address) REFERENCES media(device_id, address)
        ON DELETE CASCADE
);
CREATE TABLE matches (
    device_id TEXT NOT NULL,
    address TEXT NOT NULL,
    set_name TEXT NOT NULL,
    set_digest TEXT NOT NULL,
    entry_id TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    variant TEXT NOT NULL DEFAULT 'original',
    distance INTEGER NOT NULL,
    category TEXT,
    scheme TEXT,
    known_good INTEGER NOT NULL DEFAULT 0,
    item_share REAL,
    known_share REAL,
    at_seconds REAL,
    PRIMARY KEY (device_id, address, set_digest, entry_id, algorithm, variant),
    FOREIGN KEY (device_id, address) REFERENCES media(device_id, address)
        ON DELETE CASCADE
);
CREATE TABLE video_frames (
    device_id TEXT NOT NULL,
    address TEXT NOT NULL,
    frame_number INTEGER NOT NULL,
    timestamp REAL NOT NULL,
    algorithm TEXT NOT NULL,
    variant TEXT NOT NULL,
    value TEXT NOT NULL,
    quality INTEGER,
    PRIMARY KEY (device_id, address, frame_number, algorithm, variant),
    FOREIGN KEY (device_id, address) REFERENCES media(device_id, address)
        ON DELETE CASCADE
);
CREATE TABLE skipped (
    device_id TEXT NOT NULL REFERENCES devices(device_id),
    location TEXT NOT NULL,
    stage TEXT NOT NULL,
    reason TEXT NOT NULL,
    scope TEXT NOT NULL DEFAULT 'file',
    partition_index INTEGER,
    path TEXT,
    inner_location TEXT,
    byte_start INTEGER,
    byte_end INTEGER,
    PRIMARY KEY (device_id, location, stage)
);
"""
