"""Reading hash-set files into one :class:`~triage.hashmatch.hashset.HashSet`:
choose each file's format, settle the set's kind and category scheme, read and
normalise the entries, and record where they came from."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from triage.errors import HashSetError
from triage.hashmatch.formats.base import (
    BadLine,
    HashSetFormat,
    ImportReport,
    Lines,
    detect_format,
    get_format,
)
from triage.hashmatch.formats.categories import infer_scheme, normalise_category
from triage.hashmatch.hashset import HashEntry, HashSet


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
    lines = Lines(
        path, skip_bad_lines, report if report is not None else ImportReport()
    )
    return (entry for _, entry in chosen.read(path, lines))


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def expand_folders(paths: Sequence[str | Path]) -> list[Path]:
    """``paths`` with each folder replaced by the files in it (sorted, not
    recursive, hidden files left out): a folder of vPDQ files is one set."""
    out: list[Path] = []
    for p in paths:
        path = Path(p)
        if path.is_dir():
            out.extend(
                sorted(
                    f
                    for f in path.iterdir()
                    if f.is_file() and not f.name.startswith(".")
                )
            )
        else:
            out.append(path)
    return out


def _formats_of(paths: Sequence[str | Path], fmt: str) -> list[HashSetFormat]:
    """Each file's format (``auto``: by content).

    Raises:
        HashSetError: no files, a file missing, or no format recognises one.
    """
    if not paths:
        raise HashSetError("no hash set files given")
    formats = []
    for p in paths:
        path = Path(p)
        if not path.is_file():
            raise HashSetError(f"{path}: no such file")
        formats.append(detect_format(path) if fmt == "auto" else get_format(fmt))
    return formats


def _kind_of(formats: Sequence[HashSetFormat], kind: str | None) -> str:
    """The set's kind: as given, else the formats' common default."""
    kinds = {f.kind for f in formats}
    if kind is not None:
        return kind
    if len(kinds) > 1:
        raise HashSetError(
            "the files mix known-good (NSRL) and known-bad formats; import "
            "them into separate sets or give --kind"
        )
    return kinds.pop()


class _Reading:
    """Reads the files in turn, noting each one's source record as it ends."""

    def __init__(
        self,
        paths: Sequence[str | Path],
        formats: Sequence[HashSetFormat],
        report: ImportReport,
        skip_bad_lines: bool,
    ) -> None:
        self.files = [(Path(p), f) for p, f in zip(paths, formats, strict=True)]
        self.report = report
        self.skip_bad_lines = skip_bad_lines
        self.sources: list[dict[str, Any]] = []

    def entries(self) -> Iterator[tuple[HashEntry, Path, int]]:
        """(entry, file, line) of every file, categories as written."""
        for path, chosen in self.files:
            before_ignored = Counter(self.report.ignored)
            lines = Lines(path, self.skip_bad_lines, self.report)
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
            ignored = self.report.ignored - before_ignored
            if ignored:
                source["ignored_hashes"] = dict(sorted(ignored.items()))
            self.sources.append(source)

    def normalised(
        self, entries: Iterable[tuple[HashEntry, Path, int]], scheme: str
    ) -> Iterator[HashEntry]:
        """``entries`` with categories as ``scheme`` names them; a category
        the scheme does not know is a bad line."""
        for entry, path, number in entries:
            try:
                category = normalise_category(scheme, entry.category)
            except ValueError as exc:
                if not self.skip_bad_lines:
                    raise HashSetError(f"{path}:{number}: {exc}") from exc
                self.report.bad_lines.append(BadLine(str(path), number, str(exc)))
                continue
            yield HashEntry(entry.entry_id, category, entry.name, entry.hashes)

    def finished_sources(self) -> tuple[dict[str, Any], ...]:
        """Each file's source record, with its count of bad lines."""
        per_file = Counter(b.file for b in self.report.bad_lines)
        for (path, _), source in zip(self.files, self.sources, strict=True):
            source["bad_lines"] = per_file[str(path)]
        return tuple(self.sources)


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
    paths = expand_folders(paths)
    formats = _formats_of(paths, fmt)
    chosen_kind = _kind_of(formats, kind)
    fixed = {f.scheme for f in formats if f.scheme}
    if scheme is None and len(fixed) > 1:
        raise HashSetError(f"the files use different category schemes: {sorted(fixed)}")
    report = ImportReport()
    reading = _Reading(paths, formats, report, skip_bad_lines)
    entries: Iterable[tuple[HashEntry, Path, int]] = reading.entries()
    if scheme is None and fixed:
        scheme = fixed.pop()
    elif scheme is None:
        # Only a CSV's categories can decide the scheme: read it all first.
        # Give the scheme to stream a large file instead.
        entries = list(entries)
        scheme = infer_scheme(e.category for e, _, _ in entries)
    built = HashSet.from_entries(
        reading.normalised(entries, scheme),
        name=name,
        kind=chosen_kind,
        scheme=scheme,
    )
    built.sources = reading.finished_sources()
    return built, report
