"""``csv``: a CSV with a header row naming its columns.

Columns are the signals' CSV names (``md5``, ``sha1``, ``sha256``, ``pdq``,
``phash``, ``dhash``) with their aliases (``SHA-1``, ...), and ``category``,
``name``, ``id`` in any order and case (``filename``, ``MediaID`` accepted);
other columns are ignored. Delimiter: comma, tab or semicolon.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from triage.hashmatch.formats.base import HASHSET_FORMATS, HashSetFormat, Lines
from triage.hashmatch.formats.text import (
    TOO_LONG,
    BoundedLines,
    LineTooLong,
    csv_rows,
    open_text,
    parse_hashes,
    signal_aliases,
)
from triage.hashmatch.hashset import COLUMNS, HashEntry

_CSV_ALIASES = {
    **signal_aliases(lambda s: (s.name, s.csv_column, *s.csv_aliases)),
    "category": "category",
    "cat": "category",
    "name": "name",
    "filename": "name",
    "file_name": "name",
    "id": "id",
    "entry_id": "id",
    "mediaid": "id",
}


def _csv_dialect(header_line: str) -> str:
    return max((",", "\t", ";"), key=header_line.count)


def _csv_sniff(head: bytes) -> bool:
    first = head.decode("utf-8", "replace").lstrip("\ufeff").splitlines()[:1]
    if not first:
        return False
    fields = [
        f.strip().strip('"').lower() for f in first[0].split(_csv_dialect(first[0]))
    ]
    if fields[:2] in (["sha-1", "md5"], ["file_id", "hashset_id"]):
        return False  # NSRL and HashKeeper are CSV too, with their own readers
    return any(_CSV_ALIASES.get(f) in COLUMNS for f in fields)


def _read_csv(path: Path, lines: Lines) -> Iterator[tuple[int, HashEntry]]:
    with open_text(path) as handle:
        source = BoundedLines(handle)
        try:
            header_line = next(source, "")
        except UnicodeDecodeError as exc:
            raise lines.fatal(1, f"not UTF-8 text ({exc.reason})") from exc
        except LineTooLong as exc:
            raise lines.fatal(1, TOO_LONG) from exc
        delimiter = _csv_dialect(header_line)
        header = next(csv.reader([header_line], delimiter=delimiter), [])
        roles = [_CSV_ALIASES.get(h.strip().lower()) for h in header]
        if not any(r in COLUMNS for r in roles):
            raise lines.fatal(
                1, f"no hash column in the header (one of {', '.join(COLUMNS)})"
            )
        duplicated = [r for r, n in Counter(r for r in roles if r).items() if n > 1]
        if duplicated:
            raise lines.fatal(1, f"column {duplicated[0]!r} appears twice")
        reader = csv.reader(source, delimiter=delimiter)
        for number, row in csv_rows(reader, source, lines, len(header)):
            cells = {r: c for r, c in zip(roles, row, strict=True) if r}
            hashes = parse_hashes(
                lines,
                number,
                ((c, cells.get(c, "")) for c in COLUMNS),
                missing="no hash value on this line",
            )
            if hashes is None:
                continue
            yield (
                number,
                HashEntry(
                    cells.get("id", "").strip() or f"{lines.label}:{number}",
                    cells.get("category", "").strip() or None,
                    cells.get("name", "").strip() or None,
                    hashes,
                ),
            )


CSV = HashSetFormat("csv", "CSV with a header row", _read_csv, _csv_sniff)
HASHSET_FORMATS.register(CSV)
