"""``nsrl-rds3``: NSRL RDS v3 SQLite (``FILE`` table: sha256, sha1, md5,
crc32, file_name, file_size, package_id), opened read-only and immutable,
known-good. SHA-1 and MD5 are read, as before SHA-256 was a signal, so sets
imported from it keep their digests."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from triage.errors import HashSetError
from triage.hashmatch.formats.base import HASHSET_FORMATS, HashSetFormat, Lines
from triage.hashmatch.formats.text import parse_hashes
from triage.hashmatch.hashset import HashEntry


def _rds3_sniff(head: bytes) -> bool:
    return head.startswith(b"SQLite format 3\x00")


def _read_rds3(path: Path, lines: Lines) -> Iterator[tuple[int, HashEntry]]:
    uri = f"file:{quote(str(path.resolve()))}?mode=ro&immutable=1"
    try:
        db = sqlite3.connect(uri, uri=True)
    except sqlite3.Error as exc:
        raise HashSetError(f"{path}: cannot open as SQLite: {exc}") from exc
    try:
        try:
            cursor = db.execute("SELECT rowid, sha1, md5, file_name FROM FILE")
        except sqlite3.Error as exc:
            raise HashSetError(
                f"{path}: not an NSRL RDS v3 database (no FILE table with sha1, "
                f"md5, file_name): {exc}"
            ) from exc
        while True:
            try:
                rows = cursor.fetchmany(10_000)
            except sqlite3.Error as exc:
                raise HashSetError(f"{path}: database is damaged: {exc}") from exc
            if not rows:
                break
            for rowid, sha1, md5, file_name in rows:
                pairs = [("sha1", str(sha1 or "")), ("md5", str(md5 or ""))]
                hashes = parse_hashes(
                    lines, rowid, pairs, missing="FILE row without sha1 or md5"
                )
                if hashes is None:
                    continue
                name = str(file_name or "") or None
                yield rowid, HashEntry(f"{lines.label}:{rowid}", None, name, hashes)
    finally:
        db.close()


NSRL_RDS3 = HashSetFormat(
    "nsrl-rds3", "NSRL RDS v3 SQLite", _read_rds3, _rds3_sniff, "known-good", "nsrl"
)
HASHSET_FORMATS.register(NSRL_RDS3)
