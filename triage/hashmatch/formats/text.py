"""Helpers the text formats share: reading lines and CSV rows, parsing hash
values, recognising a fixed header, and the signals' names for columns.

Every line is read with a bound (:data:`MAX_LINE`): a longer line (or a
quoted CSV record spanning lines that together pass it) is a bad line named
``file:line`` and is read past in small pieces, so a file of tens of
megabytes without a newline never sits in memory whole.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from triage.errors import HashSetError
from triage.hashmatch.formats.base import Lines
from triage.hashmatch.hashset import COLUMNS, HashEntry, normalise_hex
from triage.hashmatch.signals import SIGNALS, Signal

T = TypeVar("T")

#: The longest line any text format accepts, in characters (bytes for the
#: checksum listings): 64 KiB, hundreds of times a real hash-set line.
MAX_LINE = 64 * 1024


class LineTooLong(Exception):
    """Raised by :class:`BoundedLines` after reading past an overlong line."""

    def __init__(self, number: int) -> None:
        super().__init__(f"line {number} is longer than {MAX_LINE} characters")
        self.number = number


class BoundedLines:
    """The lines of an open file, none held longer than :data:`MAX_LINE`.

    ``number`` is the line number of the last line returned (``start`` before
    the first). An overlong line is consumed in pieces and raises
    :class:`LineTooLong`; iteration can go on after it. :meth:`mark` starts a
    record: the lines since the last mark count together against the bound,
    so a CSV quoted field cannot grow without end across short lines.
    """

    def __init__(self, handle: IO[Any], start: int = 0) -> None:
        self.handle = handle
        self.number = start
        self.since_mark = 0

    def __iter__(self) -> BoundedLines:
        return self

    def mark(self) -> None:
        self.since_mark = 0

    def __next__(self) -> Any:
        line = self.handle.readline(MAX_LINE + 1)
        if not line:
            raise StopIteration
        self.number += 1
        self.since_mark += len(line)
        if len(line) > MAX_LINE and not _ends_line(line):
            while line and not _ends_line(line):  # read past it, bounded
                line = self.handle.readline(MAX_LINE)
            self.since_mark = 0
            raise LineTooLong(self.number)
        if self.since_mark > MAX_LINE + 2:
            self.since_mark = 0
            raise LineTooLong(self.number)
        return line


def _ends_line(line: str | bytes) -> bool:
    last = line[-1:]
    return last in ("\n", "\r") if isinstance(line, str) else last == b"\n"


#: The reason given for an overlong line.
TOO_LONG = f"line longer than {MAX_LINE} characters (the limit for a hash-set line)"


def within_bound(
    items: Iterator[T], lines: Lines, *, before: Callable[[], object] | None = None
) -> Iterator[T]:
    """``items`` (lines or rows read through ``BoundedLines``) without the
    overlong lines, each reported as a bad line; ``before`` runs before each
    item is read."""
    while True:
        if before is not None:
            before()
        try:
            item = next(items)
        except StopIteration:
            return
        except LineTooLong as exc:
            lines.bad(exc.number, TOO_LONG)
            continue
        yield item


def open_text(path: Path) -> IO[str]:
    try:
        return open(path, encoding="utf-8-sig", errors="strict", newline="")
    except OSError as exc:
        raise HashSetError(f"{path}: cannot read: {exc}") from exc


def text_lines(path: Path, lines: Lines) -> Iterator[tuple[int, str]]:
    """(line number, text) with undecodable lines reported, not fatal."""
    try:
        handle = open(path, "rb")
    except OSError as exc:
        raise HashSetError(f"{path}: cannot read: {exc}") from exc
    with handle:
        source = BoundedLines(handle)
        for raw in within_bound(source, lines):
            number = source.number
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                lines.bad(number, f"not UTF-8 text ({exc.reason})")
                continue
            yield number, text.rstrip("\r\n")


def parse_hashes(
    lines: Lines,
    number: int,
    pairs: Iterable[tuple[str, str]],
    *,
    missing: str | None = None,
) -> tuple[tuple[str, str], ...] | None:
    """Normalised (column, hex) pairs, or None after reporting a bad value;
    with ``missing``, a line with no hash value at all is also a bad line,
    reported with that reason."""
    out: list[tuple[str, str]] = []
    for column, value in pairs:
        if not value or not value.strip():
            continue
        try:
            out.append((column, normalise_hex(column, value)))
        except ValueError as exc:
            lines.bad(number, str(exc))
            return None
    if not out and missing is not None:
        lines.bad(number, missing)
        return None
    return tuple(out)


def signal_aliases(names: Callable[[Signal], Iterable[str]]) -> dict[str, str]:
    """Lowercase spelling -> hash column, for every registered signal."""
    return {
        spelling.lower(): signal.name
        for signal in SIGNALS.values()
        if signal.name in COLUMNS
        for spelling in names(signal)
    }


def csv_rows(
    reader: Any, source: BoundedLines, lines: Lines, width: int
) -> Iterator[tuple[int, list[str]]]:
    """Non-blank data rows of ``reader`` (reading ``source``) with their line
    numbers.

    An unreadable row ends the import (``fatal``); an overlong line or a row
    with another field count than the header's ``width`` is a bad line and is
    left out.
    """
    try:
        for row in within_bound(reader, lines, before=source.mark):
            number = source.number
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != width:
                lines.bad(number, f"{len(row)} fields, the header has {width}")
                continue
            yield number, row
    except (csv.Error, UnicodeDecodeError) as exc:
        raise lines.fatal(source.number + 1, f"unreadable CSV: {exc}") from exc


def header_sniff(expected: list[str]) -> Callable[[bytes], bool]:
    def sniff(head: bytes) -> bool:
        first = head.decode("utf-8", "replace").lstrip("\ufeff").splitlines()[:1]
        if not first:
            return False
        fields = [f.strip().strip('"').lower() for f in first[0].split(",")]
        return fields[: len(expected)] == expected

    return sniff


def fixed_csv(
    path: Path,
    lines: Lines,
    expected: list[str],
    pick: Callable[[dict[str, str]], tuple[list[tuple[str, str]], str | None]],
) -> Iterator[tuple[int, HashEntry]]:
    with open_text(path) as handle:
        source = BoundedLines(handle)
        reader = csv.reader(source)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise lines.fatal(1, "empty file") from None
        except LineTooLong as exc:
            raise lines.fatal(1, TOO_LONG) from exc
        except (csv.Error, UnicodeDecodeError) as exc:
            raise lines.fatal(1, f"unreadable header: {exc}") from exc
        if header[: len(expected)] != expected:
            raise lines.fatal(
                1, f"header does not start with {','.join(expected)}: {header[:6]}"
            )
        for number, row in csv_rows(reader, source, lines, len(header)):
            pairs, name = pick(dict(zip(header, row, strict=True)))
            hashes = parse_hashes(
                lines, number, pairs, missing="no hash value on this line"
            )
            if hashes is None:
                continue
            yield number, HashEntry(f"{lines.label}:{number}", None, name, hashes)
