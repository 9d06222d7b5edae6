"""What a hash-set import format is, the table of them, and what an import
reports: bad lines (named ``file:line``) and values deliberately ignored."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from triage.errors import HashSetError, UnknownNameError
from triage.hashmatch.hashset import HashEntry
from triage.registry import Registry

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


class Lines:
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
Reader = Callable[[Path, Lines], Iterator[tuple[int, HashEntry]]]


@dataclass(frozen=True, slots=True)
class HashSetFormat:
    """One importable format: how to read it and how to recognise it."""

    name: str
    description: str
    read: Reader
    sniff: Callable[[bytes], bool]
    kind: str = "known-bad"  # default kind of a set made from this format
    scheme: str | None = None  # fixed scheme, or None to infer from categories


#: Every import format, in the order ``auto`` tries their content tests (the
#: most specific first).
HASHSET_FORMATS: Registry[HashSetFormat] = Registry("hash-set format")


def get_format(name: str) -> HashSetFormat:
    """The format called ``name``.

    Raises:
        HashSetError: no such format; the message lists the known ones.
    """
    try:
        return HASHSET_FORMATS.get(name)
    except UnknownNameError:
        known = ", ".join(HASHSET_FORMATS.names())
        raise HashSetError(
            f"unknown hash set format {name!r}; known: auto, {known}"
        ) from None


def detect_format(path: Path) -> HashSetFormat:
    """The format whose content test accepts the start of ``path``."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError as exc:
        raise HashSetError(f"{path}: cannot read: {exc}") from exc
    for fmt in HASHSET_FORMATS.values():  # each format asked in turn
        if fmt.sniff(head):
            return fmt
    raise HashSetError(
        f"{path}: not a recognised hash set format; say which with --format "
        f"({', '.join(HASHSET_FORMATS)})"
    )
