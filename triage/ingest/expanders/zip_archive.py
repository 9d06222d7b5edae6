"""Zip archives (stored, deflate, bzip2, lzma members).

The central directory is checked before anything is expanded (member count,
declared total size, compression ratio, overlapping members, as Fifield's
non-recursive bomb needs); each member is bounded by its declared size while
it is decompressed. The parsed directory is the index the read-back cache
keeps, so reading a 3,000-member zip member by member parses it once.
"""

from __future__ import annotations

import functools
import struct
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from typing import IO

from triage.errors import ArchiveError
from triage.ingest.expanders.base import (
    EXPANDERS,
    ZIP_ERRORS,
    ArchiveLimits,
    Bounded,
    Budget,
    Expander,
    Expansion,
    member_record,
)
from triage.ingest.expanders.nesting import one_member
from triage.records import FileRecord, Skipped

_METHOD_NAMES = {
    9: "deflate64",
    10: "implode",
    12: "bzip2",
    14: "lzma",
    93: "zstd",
    95: "xz",
    96: "jpeg",
    97: "wavpack",
    98: "ppmd",
    99: "aes",
}

_SUPPORTED_METHODS = frozenset(
    (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
)


def _is_encrypted(info: zipfile.ZipInfo) -> bool:
    return bool(info.flag_bits & 0x1)


def _check_directory(
    infos: Sequence[zipfile.ZipInfo], limits: ArchiveLimits, budget: Budget
) -> str | None:
    """Why the central directory says this zip must not be expanded, or None."""
    files = [i for i in infos if not i.is_dir()]
    if len(files) > budget.members:
        return (
            f"{len(files)} members exceed the limit of {limits.max_members} "
            "(possible zip bomb); not expanded"
        )
    declared = sum(i.file_size for i in files)
    if declared > budget.size:
        return (
            f"members declare {declared} bytes expanded, over the limit of "
            f"{limits.max_total_size} bytes (possible zip bomb); not expanded"
        )
    # Fifield's non-recursive bomb reuses one compressed stream for many
    # entries: local headers must not overlap each other's data.
    spans = sorted(
        (i.header_offset, i.header_offset + 30 + i.compress_size) for i in infos
    )
    for (_, end), (next_start, _) in zip(spans, spans[1:], strict=False):
        if next_start < end:
            return (
                "members overlap each other's data (zip bomb construction); "
                "not expanded"
            )
    return None


def _member_problem(info: zipfile.ZipInfo, limits: ArchiveLimits) -> str | None:
    """Why one member must not be read, or None."""
    if _is_encrypted(info):
        return "member is encrypted; content not readable without the password"
    if info.flag_bits & 0x20:
        return "member holds compressed patched data (not supported)"
    if info.compress_type not in _SUPPORTED_METHODS:
        name = _METHOD_NAMES.get(info.compress_type, "unknown")
        return f"unsupported compression method {info.compress_type} ({name})"
    if info.file_size > limits.ratio_floor:
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.max_ratio:
            return (
                f"compression ratio {ratio:.0f}:1 ({info.compress_size} -> "
                f"{info.file_size} bytes) exceeds {limits.max_ratio:.0f}:1 "
                "(possible zip bomb); not expanded"
            )
    return None


def _zip_mtime(info: zipfile.ZipInfo) -> float | None:
    """The member's UTC mtime from the extended-timestamp extra field (0x5455).

    The DOS date/time every zip carries is local time of an unknown zone, so
    it is not reported as a POSIX time.
    """
    extra, pos = info.extra, 0
    while pos + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + size]
        if tag == 0x5455 and len(body) >= 5 and body[0] & 0x1:
            return float(struct.unpack_from("<i", body, 1)[0])
        pos += 4 + size
    return None


def _open_zip_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Bounded:
    return Bounded(archive.open(info), info.file_size, info.filename)


def _open_at(source: IO[bytes], info: zipfile.ZipInfo) -> Bounded:
    """A zip member read straight from its local header, given its directory
    entry (so a cached directory saves re-parsing the central directory)."""
    source.seek(info.header_offset)
    header = source.read(30)
    if len(header) < 30 or header[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"{info.filename}: bad local file header")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    encoding = "utf-8" if info.flag_bits & 0x800 else "cp437"
    local_name = source.read(name_length).decode(encoding, "replace")
    if local_name != info.orig_filename:  # as ZipFile.open checks
        raise zipfile.BadZipFile(
            f"file name in directory {info.orig_filename!r} and header "
            f"{local_name!r} differ"
        )
    source.seek(info.header_offset + 30 + name_length + extra_length)
    member = zipfile.ZipExtFile(source, "r", info, None, False)
    return Bounded(member, info.file_size, info.filename)


def _open_zip_info(
    source: IO[bytes], info: zipfile.ZipInfo, limits: ArchiveLimits
) -> Bounded:
    problem = _member_problem(info, limits)
    if problem is not None:
        raise ArchiveError(problem)
    return _open_at(source, info)


class ZipExpander(Expander):
    """A zip archive."""

    name = "zip"
    signatures = ("zip",)

    def members(self, job: Expansion) -> Iterator[FileRecord | Skipped]:
        source, record, limits = job.source, job.record, job.limits
        try:
            archive = zipfile.ZipFile(source)
            infos = archive.infolist()
        except ZIP_ERRORS as exc:
            yield job.skip(f"corrupt or unreadable zip: {exc}")
            return
        with archive:
            problem = _check_directory(infos, limits, job.budget)
            if problem is not None:
                yield job.skip(problem)
                return
            seen: set[str] = set()
            for info in infos:
                if info.is_dir():
                    continue
                name = info.filename
                repeated = job.repeated(name, seen, "last")
                if repeated is not None:
                    yield repeated
                    continue
                job.budget.members -= 1
                job.budget.size -= info.file_size
                mtime = _zip_mtime(info)
                member_problem = _member_problem(info, limits)
                if member_problem is not None:
                    yield member_record(record, name, info.file_size, mtime, None)
                    yield job.skip(member_problem, name)
                    continue
                opener = functools.partial(_open_zip_member, archive, info)
                yield from one_member(job, name, info.file_size, mtime, opener)

    def open_member(
        self, source: IO[bytes], name: str, limits: ArchiveLimits, stack: ExitStack
    ) -> tuple[Bounded, object | None]:
        with zipfile.ZipFile(source) as archive:
            # Like ZipFile.getinfo: the last of duplicate names wins.
            infos = {i.filename: i for i in archive.infolist()}
        return _open_zip_info(source, infos[name], limits), infos

    def open_indexed(
        self, source: IO[bytes], index: object, name: str, limits: ArchiveLimits
    ) -> Bounded | None:
        if not isinstance(index, dict) or name not in index:
            return None
        try:
            return _open_zip_info(source, index[name], limits)
        except zipfile.BadZipFile:
            return None  # the kept directory does not fit: read it again


EXPANDERS.register(ZipExpander())
