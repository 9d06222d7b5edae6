"""Helpers the text formats share: reading lines and CSV rows, parsing hash
values, recognising a fixed header, and the signals' names for columns."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from triage.errors import HashSetError
from triage.hashmatch.formats.base import Lines
from triage.hashmatch.hashset import COLUMNS, HashEntry, normalise_hex
from triage.hashmatch.signals import SIGNALS, Signal


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
        for number, raw in enumerate(handle, start=1):
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
    reader: Any, lines: Lines, width: int, *, offset: int
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
        for number, row in csv_rows(reader, lines, len(header), offset=0):
            pairs, name = pick(dict(zip(header, row, strict=True)))
            hashes = parse_hashes(
                lines, number, pairs, missing="no hash value on this line"
            )
            if hashes is None:
                continue
            yield number, HashEntry(f"{lines.label}:{number}", None, name, hashes)
