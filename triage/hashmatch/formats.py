"""Importers for published hash set formats, in one registry: :data:`FORMATS`.

Each format reads a file into :class:`~triage.hashmatch.hashset.HashEntry`
records and can recognise its own content (``auto`` never trusts a file name):

``csv``
    Header-driven: columns ``md5``, ``sha1``, ``pdq``, ``phash``, ``dhash``,
    ``category``, ``name``, ``id`` in any order and case (aliases such as
    ``SHA-1``, ``filename``, ``MediaID`` accepted; other columns ignored).
``vics``
    Project VIC VICS JSON: v1.x (``odata.metadata``) and v2.0
    (``@odata.context``). ``value[]`` holds media with ``MediaID``,
    ``Category``, ``MD5``, ``SHA1``; ``AlternativeHashes`` (on the media or its
    ``MediaFiles``) are ``HashName``/``HashValue`` pairs: PDQ, pHash, MD5, SHA1
    are taken, others (PhotoDNA, ...) are counted as ignored. Streamed: a
    multi-gigabyte export is read one media object at a time.
``md5sum`` / ``sha1sum``
    GNU (``<hex>  name``, ``<hex> *name``) and BSD (``MD5 (name) = <hex>``).
``hashkeeper``
    HashKeeper ``.hsh``: CSV with ``file_id,hashset_id,file_name,directory,
    hash,file_size,...``; ``hash`` is an MD5.
``nsrl``
    NSRL RDS legacy ``NSRLFile.txt`` (``"SHA-1","MD5","CRC32","FileName",...``),
    known-good.
``nsrl-rds3``
    NSRL RDS v3 SQLite (``FILE`` table: sha256, sha1, md5, crc32, file_name,
    file_size, package_id), opened read-only and immutable, known-good.

Categories keep their scheme. ``caid`` (UK Child Abuse Image Database): A, B,
C (also ``Cat A``/``Category A``, any case) and, by our choice, the numbers 1,
2, 3 read as A, B, C (most to least severe, the order CAID numbers them);
anything else is refused. ``vics``: 0-4 kept as given. ``nsrl``: none.
``local``: any label. When no scheme is given: VICS files are ``vics``, NSRL
``nsrl``; a file whose categories are all A/B/C is ``caid``; anything else is
``local`` (numeric categories in a CSV need ``scheme="vics"`` or ``"caid"``
said explicitly, because 1 means something different in each).

Every malformed line raises :class:`HashSetError` naming ``file:line`` and
what is wrong; with ``skip_bad_lines`` each is collected as a :class:`BadLine`
and the rest is read.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

from triage.errors import HashSetError
from triage.hashmatch.hashset import COLUMNS, HashEntry, HashSet, normalise_hex
from triage.hashmatch.signals import SIGNALS, Signal

SNIFF_BYTES = 1 << 16


@dataclass(frozen=True, slots=True)
class BadLine:
    """One line of a hash set file that could not be imported, and why."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass(slots=True)
class ImportReport:
    """What one import read: bad lines skipped and values deliberately ignored."""

    bad_lines: list[BadLine] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)  # e.g. PhotoDNA hashes


class _Lines:
    """Reports problems at a line: raise, or collect when skipping bad lines."""

    def __init__(self, path: Path, skip: bool, report: ImportReport) -> None:
        self.path = path
        self.label = path.name  # entry ids are "<file name>:<line>"
        self.skip = skip
        self.report = report

    def bad(self, line: int, reason: str) -> None:
        if not self.skip:
            raise HashSetError(f"{self.path}:{line}: {reason}")
        self.report.bad_lines.append(BadLine(str(self.path), line, reason))

    def fatal(self, line: int, reason: str) -> HashSetError:
        return HashSetError(f"{self.path}:{line}: {reason}")


#: A reader yields (line number, entry); the line names the entry in errors.
Reader = Callable[[Path, _Lines], Iterator[tuple[int, HashEntry]]]


@dataclass(frozen=True, slots=True)
class HashSetFormat:
    """One importable format: how to read it and how to recognise it."""

    name: str
    description: str
    read: Reader
    sniff: Callable[[bytes], bool]
    kind: str = "known-bad"  # default kind of a set made from this format
    scheme: str | None = None  # fixed scheme, or None to infer from categories


FORMATS: dict[str, HashSetFormat] = {}


def register_format(fmt: HashSetFormat) -> HashSetFormat:
    if fmt.name in FORMATS:
        raise ValueError(f"hash set format {fmt.name!r} is already registered")
    FORMATS[fmt.name] = fmt
    return fmt


def get_format(name: str) -> HashSetFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise HashSetError(
            f"unknown hash set format {name!r}; known: auto, {', '.join(FORMATS)}"
        ) from None


def detect_format(path: Path) -> HashSetFormat:
    """The format whose content test accepts the start of ``path``."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as exc:
        raise HashSetError(f"{path}: cannot read: {exc}") from exc
    for fmt in FORMATS.values():
        if fmt.sniff(head):
            return fmt
    raise HashSetError(
        f"{path}: not a recognised hash set format; say which with --format "
        f"({', '.join(FORMATS)})"
    )


# --- categories ----------------------------------------------------------------

_CAID = re.compile(r"^(?:cat(?:egory)?[\s_-]*)?([abc123])$", re.IGNORECASE)


def normalise_category(scheme: str, raw: object) -> str | None:
    """The category as the scheme names it; None when there is none.

    Raises:
        ValueError: the value is not a category of ``scheme``.
    """
    text = "" if raw is None else str(raw).strip()
    if not text:
        return None
    if scheme == "caid":
        found = _CAID.match(text)
        if not found:
            raise ValueError(f"{text!r} is not a CAID category (A, B, C or 1, 2, 3)")
        return {"1": "A", "2": "B", "3": "C"}.get(found[1], found[1].upper())
    if scheme == "vics":
        if text not in {"0", "1", "2", "3", "4"}:
            raise ValueError(f"{text!r} is not a VICS category (0-4)")
        return text
    if scheme == "nsrl":
        raise ValueError(f"NSRL sets carry no categories, got {text!r}")
    if len(text) > 64:
        raise ValueError(f"category longer than 64 characters: {text[:64]!r}...")
    return text


def infer_scheme(categories: Iterable[str | None]) -> str:
    """``caid`` if every category reads as A/B/C letters, else ``local``."""
    seen = {c.strip() for c in categories if c and c.strip()}
    if seen and all(_CAID.match(c) and not c[-1].isdigit() for c in seen):
        return "caid"
    return "local"


# --- text helpers -------------------------------------------------------------


def _open_text(path: Path) -> IO[str]:
    try:
        return open(path, encoding="utf-8-sig", errors="strict", newline="")
    except OSError as exc:
        raise HashSetError(f"{path}: cannot read: {exc}") from exc


def _text_lines(path: Path, lines: _Lines) -> Iterator[tuple[int, str]]:
    """(line number, text) with undecodable lines reported, not fatal."""
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise HashSetError(f"{path}: cannot read: {exc}") from exc
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                lines.bad(number, f"not UTF-8 text ({exc.reason})")
                continue
            yield number, text.rstrip("\r\n")


def _hashes(lines: _Lines, number: int, pairs: Iterable[tuple[str, str]]):
    """Normalised (column, hex) pairs, or None after reporting a bad value."""
    out = []
    for column, value in pairs:
        if not value or not value.strip():
            continue
        try:
            out.append((column, normalise_hex(column, value)))
        except ValueError as exc:
            lines.bad(number, str(exc))
            return None
    return tuple(out)


# --- CSV ----------------------------------------------------------------------


def _signal_aliases(names: Callable[[Signal], Iterable[str]]) -> dict[str, str]:
    """Lowercase spelling -> hash column, for every registered signal."""
    return {
        spelling.lower(): signal.name
        for signal in SIGNALS.values()
        if signal.name in COLUMNS
        for spelling in names(signal)
    }


_CSV_ALIASES = {
    **_signal_aliases(lambda s: (s.name, s.csv_column, *s.csv_aliases)),
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


def _csv_rows(
    reader: Any, lines: _Lines, width: int, *, offset: int
) -> Iterator[tuple[int, list[str]]]:
    """Non-blank data rows of ``reader`` with their line numbers.

    An unreadable row ends the import (``fatal``); a row with another field
    count than the header's ``width`` is a bad line and is left out.
    ``offset`` is added to the reader's line count (1 when the header line was
    read outside the reader).
    """
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except (csv.Error, UnicodeDecodeError) as exc:
            raise lines.fatal(reader.line_num + 1, f"unreadable CSV: {exc}") from exc
        number = reader.line_num + offset
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != width:
            lines.bad(number, f"{len(row)} fields, the header has {width}")
            continue
        yield number, row


def _read_csv(path: Path, lines: _Lines) -> Iterator[tuple[int, HashEntry]]:
    with _open_text(path) as handle:
        try:
            header_line = handle.readline()
        except UnicodeDecodeError as exc:
            raise lines.fatal(1, f"not UTF-8 text ({exc.reason})") from exc
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
        reader = csv.reader(handle, delimiter=delimiter)
        # The header line was read outside the reader: line numbers are one on.
        for number, row in _csv_rows(reader, lines, len(header), offset=1):
            cells = {r: c for r, c in zip(roles, row, strict=True) if r}
            hashes = _hashes(lines, number, ((c, cells.get(c, "")) for c in COLUMNS))
            if hashes is None:
                continue
            if not hashes:
                lines.bad(number, "no hash value on this line")
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


# --- md5sum / sha1sum -----------------------------------------------------------

_GNU = re.compile(r"^\\?([0-9A-Fa-f]+) [ *](.*)$")
_BSD = re.compile(r"^(MD5|SHA1) ?\((.*)\) ?= ?([0-9A-Fa-f]+)$")


def _sum_sniff(width: int) -> Callable[[bytes], bool]:
    def sniff(head: bytes) -> bool:
        for line in head.decode("utf-8", "replace").splitlines()[:5]:
            if not line.strip():
                continue
            gnu = _GNU.match(line)
            bsd = _BSD.match(line)
            value = gnu[1] if gnu else bsd[3] if bsd else ""
            return len(value) == width
        return False

    return sniff


def _sum_reader(column: str) -> Reader:
    def read(path: Path, lines: _Lines) -> Iterator[tuple[int, HashEntry]]:
        for number, text in _text_lines(path, lines):
            if not text.strip():
                continue
            gnu, bsd = _GNU.match(text), _BSD.match(text)
            if gnu:
                value, name = gnu[1], gnu[2]
                if text.startswith("\\"):  # GNU escapes \\ and \n in names
                    name = name.replace("\\n", "\n").replace("\\\\", "\\")
            elif bsd and bsd[1].lower() == column:
                value, name = bsd[3], bsd[2]
            else:
                lines.bad(number, f"not a {column}sum line: {text[:80]!r}")
                continue
            hashes = _hashes(lines, number, [(column, value)])
            if hashes:
                entry = HashEntry(f"{lines.label}:{number}", None, name or None, hashes)
                yield number, entry

    return read


# --- HashKeeper and NSRL legacy (fixed-header CSV) ------------------------------

_HSH_HEADER = ["file_id", "hashset_id", "file_name", "directory", "hash", "file_size"]
_NSRL_HEADER = ["sha-1", "md5", "crc32", "filename", "filesize", "productcode"]


def _header_sniff(expected: list[str]) -> Callable[[bytes], bool]:
    def sniff(head: bytes) -> bool:
        first = head.decode("utf-8", "replace").lstrip("\ufeff").splitlines()[:1]
        if not first:
            return False
        fields = [f.strip().strip('"').lower() for f in first[0].split(",")]
        return fields[: len(expected)] == expected

    return sniff


def _fixed_csv(
    path: Path,
    lines: _Lines,
    expected: list[str],
    pick: Callable[[dict[str, str]], tuple[list[tuple[str, str]], str | None]],
) -> Iterator[tuple[int, HashEntry]]:
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise lines.fatal(1, "empty file") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise lines.fatal(1, f"unreadable header: {exc}") from exc
        if header[: len(expected)] != expected:
            raise lines.fatal(
                1, f"header does not start with {','.join(expected)}: {header[:6]}"
            )
        for number, row in _csv_rows(reader, lines, len(header), offset=0):
            pairs, name = pick(dict(zip(header, row, strict=True)))
            hashes = _hashes(lines, number, pairs)
            if hashes is None:
                continue
            if not hashes:
                lines.bad(number, "no hash value on this line")
                continue
            yield number, HashEntry(f"{lines.label}:{number}", None, name, hashes)


def _read_hashkeeper(path: Path, lines: _Lines) -> Iterator[tuple[int, HashEntry]]:
    def pick(row: dict[str, str]) -> tuple[list[tuple[str, str]], str | None]:
        name = "/".join(p for p in (row["directory"], row["file_name"]) if p)
        return [("md5", row["hash"])], name or None

    return _fixed_csv(path, lines, _HSH_HEADER, pick)


def _read_nsrl(path: Path, lines: _Lines) -> Iterator[tuple[int, HashEntry]]:
    def pick(row: dict[str, str]) -> tuple[list[tuple[str, str]], str | None]:
        return [("sha1", row["sha-1"]), ("md5", row["md5"])], row["filename"] or None

    return _fixed_csv(path, lines, _NSRL_HEADER, pick)


# --- NSRL RDS v3 (SQLite) --------------------------------------------------------


def _rds3_sniff(head: bytes) -> bool:
    return head.startswith(b"SQLite format 3\x00")


def _read_rds3(path: Path, lines: _Lines) -> Iterator[tuple[int, HashEntry]]:
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
                hashes = _hashes(lines, rowid, pairs)
                if hashes is None:
                    continue
                if not hashes:
                    lines.bad(rowid, "FILE row without sha1 or md5")
                    continue
                name = str(file_name or "") or None
                yield rowid, HashEntry(f"{lines.label}:{rowid}", None, name, hashes)
    finally:
        db.close()


# --- Project VIC VICS JSON -----------------------------------------------------


def _vics_sniff(head: bytes) -> bool:
    text = head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    return text.startswith("{") and (
        '"odata.metadata"' in text
        or '"@odata.context"' in text
        or ('"value"' in text and '"MediaID"' in text)
    )


class _JsonStream:
    """Reads a JSON document incrementally, keeping line numbers."""

    def __init__(self, handle: IO[str], lines: _Lines) -> None:
        self.handle = handle
        self.lines = lines
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.line = 1  # line number at self.counted
        self.counted = 0
        self.decoder = json.JSONDecoder()

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.handle.read(1 << 20)
        except UnicodeDecodeError as exc:
            raise self.lines.fatal(self.line_at(self.pos), f"not UTF-8: {exc}") from exc
        if not chunk:
            self.eof = True
            return False
        # Drop what has been consumed, keeping the line count.
        self.line_at(self.pos)
        self.buf = self.buf[self.pos :] + chunk
        self.counted -= self.pos
        self.pos = 0
        return True

    def line_at(self, pos: int) -> int:
        if pos > self.counted:
            self.line += self.buf.count("\n", self.counted, pos)
            self.counted = pos
        return self.line

    def peek(self) -> str:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def expect(self, chars: str) -> str:
        found = self.peek()
        if not found or found not in chars:
            raise self.lines.fatal(
                self.line_at(self.pos),
                f"malformed JSON: expected {' or '.join(repr(c) for c in chars)}, "
                f"found {found or 'end of file'!r}",
            )
        self.pos += 1
        return found

    def value(self) -> tuple[int, Any]:
        self.peek()
        while True:
            try:
                obj, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if self._fill():
                    continue
                line = self.line_at(min(exc.pos, len(self.buf)))
                raise self.lines.fatal(line, f"malformed JSON: {exc.msg}") from exc
            # A number at the very end of the buffer may continue in the next chunk.
            if end == len(self.buf) and not self.eof and self._fill():
                continue
            line = self.line_at(self.pos)
            self.pos = end
            return line, obj


#: ``AlternativeHashes`` names taken (others, such as PhotoDNA, are counted).
_VICS_ALT = _signal_aliases(lambda s: (s.name, s.vics_name, *s.vics_aliases))
#: Exact digests VICS carries as fields of a media object (``MD5``, ``SHA1``).
_VICS_FIELDS = tuple(
    (s.vics_name, s.name) for s in SIGNALS.values() if s.is_exact and s.vics_name
)


def _ci(obj: dict[str, Any], key: str) -> Any:
    """Case-insensitive member lookup (exports differ in key case)."""
    if key in obj:
        return obj[key]
    lower = key.lower()
    for k, v in obj.items():
        if k.lower() == lower:
            return v
    return None


def _vics_media(media: Any, number: int, path: Path, lines: _Lines) -> HashEntry | None:
    if not isinstance(media, dict):
        lines.bad(number, "a value[] item is not a JSON object")
        return None
    media_id = _ci(media, "MediaID")
    if media_id is None or str(media_id).strip() == "":
        lines.bad(number, "media without MediaID")
        return None
    pairs: list[tuple[str, str]] = []
    names: list[str] = []
    holders = [media]
    files = _ci(media, "MediaFiles")
    if isinstance(files, list):
        holders.extend(f for f in files if isinstance(f, dict))
    for holder in holders:
        for key, column in _VICS_FIELDS:
            value = _ci(holder, key)
            if isinstance(value, str) and value.strip():
                pairs.append((column, value))
        file_name = _ci(holder, "FileName") or _ci(holder, "Name")
        if isinstance(file_name, str) and file_name:
            names.append(file_name)
        alternatives = _ci(holder, "AlternativeHashes")
        if alternatives is None:
            continue
        if not isinstance(alternatives, list):
            lines.bad(number, f"MediaID {media_id}: AlternativeHashes is not a list")
            return None
        for alt in alternatives:
            hash_name = _ci(alt, "HashName") if isinstance(alt, dict) else None
            hash_value = _ci(alt, "HashValue") if isinstance(alt, dict) else None
            if not isinstance(hash_name, str) or not isinstance(hash_value, str):
                lines.bad(
                    number,
                    f"MediaID {media_id}: alternative hash without "
                    "HashName/HashValue strings",
                )
                return None
            alt_column = _VICS_ALT.get(hash_name.strip().lower())
            if alt_column is None:
                lines.report.ignored[hash_name.strip()] += 1  # PhotoDNA etc.
            else:
                pairs.append((alt_column, hash_value))
    hashes = _hashes(lines, number, pairs)
    if hashes is None:
        return None
    if not hashes:
        lines.bad(number, f"MediaID {media_id}: no MD5, SHA1, PDQ or pHash")
        return None
    category = _ci(media, "Category")
    return HashEntry(
        str(media_id).strip(),
        None if category is None else str(category),
        names[0] if names else None,
        tuple(dict.fromkeys(hashes)),  # MediaFiles often repeat the media hashes
    )


def _read_vics(path: Path, lines: _Lines) -> Iterator[tuple[int, HashEntry]]:
    with _open_text(path) as handle:
        stream = _JsonStream(handle, lines)
        stream.expect("{")
        saw_value = False
        if stream.peek() == "}":
            raise lines.fatal(1, "no value[] array: not a VICS export")
        while True:
            key_line, key = stream.value()
            if not isinstance(key, str):
                raise lines.fatal(
                    key_line, "malformed JSON: object key is not a string"
                )
            stream.expect(":")
            if key == "value":
                saw_value = True
                yield from _vics_array(stream, path, lines)
            else:
                stream.value()  # odata.metadata / @odata.context and the like
            if stream.expect(",}") == "}":
                break
        if not saw_value:
            raise lines.fatal(stream.line_at(stream.pos), "no value[] array")


def _vics_array(
    stream: _JsonStream, path: Path, lines: _Lines
) -> Iterator[tuple[int, HashEntry]]:
    stream.expect("[")
    if stream.peek() == "]":
        stream.pos += 1
        return
    while True:
        number, item = stream.value()
        nested = _ci(item, "Media") if isinstance(item, dict) else None
        if isinstance(nested, list) and _ci(item, "MediaID") is None:
            for media in nested:  # v2.0 case exports: value[] of cases with Media[]
                entry = _vics_media(media, number, path, lines)
                if entry is not None:
                    yield number, entry
        else:
            entry = _vics_media(item, number, path, lines)
            if entry is not None:
                yield number, entry
        if stream.expect(",]") == "]":
            return


# --- registry -----------------------------------------------------------------

# Order matters for ``auto``: the most specific content tests first.
register_format(
    HashSetFormat(
        "nsrl-rds3", "NSRL RDS v3 SQLite", _read_rds3, _rds3_sniff, "known-good", "nsrl"
    )
)
register_format(
    HashSetFormat(
        "vics",
        "Project VIC VICS JSON 1.x/2.0",
        _read_vics,
        _vics_sniff,
        "known-bad",
        "vics",
    )
)
register_format(
    HashSetFormat(
        "nsrl",
        "NSRL RDS legacy NSRLFile.txt",
        _read_nsrl,
        _header_sniff(_NSRL_HEADER),
        "known-good",
        "nsrl",
    )
)
register_format(
    HashSetFormat(
        "hashkeeper", "HashKeeper .hsh", _read_hashkeeper, _header_sniff(_HSH_HEADER)
    )
)
register_format(HashSetFormat("csv", "CSV with a header row", _read_csv, _csv_sniff))
register_format(
    HashSetFormat(
        "md5sum", "md5sum / BSD MD5 output", _sum_reader("md5"), _sum_sniff(32)
    )
)
register_format(
    HashSetFormat(
        "sha1sum", "sha1sum / BSD SHA1 output", _sum_reader("sha1"), _sum_sniff(40)
    )
)


# --- import -------------------------------------------------------------------


def read_entries(
    path: str | Path,
    fmt: str = "auto",
    *,
    skip_bad_lines: bool = False,
    report: ImportReport | None = None,
) -> Iterator[HashEntry]:
    """Entries of one file, categories as written (not yet normalised)."""
    path = Path(path)
    chosen = detect_format(path) if fmt == "auto" else get_format(fmt)
    lines = _Lines(
        path, skip_bad_lines, report if report is not None else ImportReport()
    )
    return (entry for _, entry in chosen.read(path, lines))


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def import_files(
    paths: Sequence[str | Path],
    fmt: str = "auto",
    *,
    name: str,
    kind: str | None = None,
    scheme: str | None = None,
    skip_bad_lines: bool = False,
) -> tuple[HashSet, ImportReport]:
    """Read hash set files into one :class:`HashSet`.

    ``kind`` and ``scheme`` default from the formats (NSRL is known-good with
    scheme ``nsrl``; VICS is ``vics``) or, for the scheme, from the categories.

    Raises:
        HashSetError: a file cannot be read or (without ``skip_bad_lines``) has
            a malformed line; files of conflicting kinds or schemes.
    """
    if not paths:
        raise HashSetError("no hash set files given")
    report = ImportReport()
    formats = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise HashSetError(f"{path}: no such file")
        formats.append(detect_format(path) if fmt == "auto" else get_format(fmt))
    kinds = {f.kind for f in formats}
    if kind is None:
        if len(kinds) > 1:
            raise HashSetError(
                "the files mix known-good (NSRL) and known-bad formats; import "
                "them into separate sets or give --kind"
            )
        kind = kinds.pop()
    fixed = {f.scheme for f in formats if f.scheme}
    if scheme is None and len(fixed) > 1:
        raise HashSetError(f"the files use different category schemes: {sorted(fixed)}")
    sources: list[dict[str, Any]] = []

    def read_all() -> Iterator[tuple[HashEntry, Path, int]]:
        for p, chosen in zip(paths, formats, strict=True):
            path = Path(p)
            before_ignored = Counter(report.ignored)
            lines = _Lines(path, skip_bad_lines, report)
            count = 0
            for number, entry in chosen.read(path, lines):
                yield entry, path, number
                count += 1
            source: dict[str, Any] = {
                "file": path.name,
                "format": chosen.name,
                "sha256": _file_sha256(path),
                "entries": count,
            }
            ignored = report.ignored - before_ignored
            if ignored:
                source["ignored_hashes"] = dict(sorted(ignored.items()))
            sources.append(source)

    entries: Iterable[tuple[HashEntry, Path, int]] = read_all()
    if scheme is None and fixed:
        scheme = fixed.pop()
    elif scheme is None:
        # Only a CSV's categories can decide the scheme: read it all first.
        # Give the scheme to stream a large file instead.
        entries = list(entries)
        scheme = infer_scheme(e.category for e, _, _ in entries)
    chosen_scheme: str = scheme

    def normalised() -> Iterator[HashEntry]:
        for entry, path, number in entries:
            try:
                category = normalise_category(chosen_scheme, entry.category)
            except ValueError as exc:
                if not skip_bad_lines:
                    raise HashSetError(f"{path}:{number}: {exc}") from exc
                report.bad_lines.append(BadLine(str(path), number, str(exc)))
                continue
            yield HashEntry(entry.entry_id, category, entry.name, entry.hashes)

    built = HashSet.from_entries(
        normalised(), name=name, kind=kind, scheme=chosen_scheme
    )
    per_file = Counter(b.file for b in report.bad_lines)
    for p, source in zip(paths, sources, strict=True):
        source["bad_lines"] = per_file[str(Path(p))]
    built.sources = tuple(sources)
    return built, report
