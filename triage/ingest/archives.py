"""Walk zip archives, nested to a bounded depth, without ever expanding a bomb.

Signatures used by the other ingest modules:

- ``iter_members(source, record, limits=DEFAULT_LIMITS)`` -- ``source`` is a
  seekable read-only binary file holding the bytes of ``record`` (a zip);
  yields one ``FileRecord`` per member (``source=ARCHIVE``, ``media_type``
  already sniffed, nested zips expanded) or a ``Skipped``.
- ``read_member(open_outer, archive_path, limits=DEFAULT_LIMITS) -> bytes`` and
  ``iter_member_chunks(open_outer, archive_path, limits, chunk_size)`` --
  ``open_outer`` is the outermost archive: its bytes, or a callable returning a
  fresh seekable binary file over them; ``archive_path`` is the record's
  ``archive_path``. Raises ``ArchiveError`` naming the member.

A zip's central directory is checked before anything is expanded (member
count, declared total size, compression ratio, overlapping members) and the
same limits are enforced again while decompressing, because headers can lie.
Nested archives are spilled to an anonymous temporary file, never to the
evidence, and never held whole in memory.
"""

from __future__ import annotations

import dataclasses
import io
import lzma
import struct
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, BinaryIO

from triage.errors import ArchiveError
from triage.ingest.media import SNIFF_BYTES, identify, is_expandable, is_media, sniff
from triage.records import FileRecord, Skipped, Source

GIB = 1 << 30
MIB = 1 << 20

# Everything zipfile and its decompressors raise for a corrupt, truncated,
# encrypted or unsupported archive. No catch-all: anything else is a bug.
ZIP_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    ValueError,  # bz2 data errors, negative seeks from corrupt offsets
    struct.error,
    NotImplementedError,  # unsupported compression method (deflate64, AES)
    RuntimeError,  # zipfile's "is encrypted, password required"
    UnicodeDecodeError,
    KeyError,
)


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


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """How much an archive may expand before it is treated as a bomb.

    ``max_depth`` counts archive levels: 3 walks a zip inside a zip inside a
    zip found on disk. ``max_ratio`` applies to members larger than
    ``ratio_floor`` (a small file of zeros legitimately compresses very well).
    Totals count every member of an archive tree, nested levels included.
    """

    max_members: int = 10_000
    max_total_size: int = 8 * GIB
    max_ratio: float = 200.0
    ratio_floor: int = MIB
    max_depth: int = 3
    # Nested archives larger than this are spilled to disk, smaller in memory.
    spool_in_memory: int = 16 * MIB


DEFAULT_LIMITS = ArchiveLimits()


class _Budget:
    """Members and expanded bytes left for one archive tree."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.members = limits.max_members
        self.size = limits.max_total_size


def _where(record: FileRecord, *inner: str) -> str:
    return "!".join((record.display_path, *inner))


def _skip(record: FileRecord, where: str, reason: str) -> Skipped:
    return Skipped(
        device_id=record.device_id, where=where, stage="ingest", reason=reason
    )


def _is_encrypted(info: zipfile.ZipInfo) -> bool:
    return bool(info.flag_bits & 0x1)


def _check_directory(
    infos: Sequence[zipfile.ZipInfo], limits: ArchiveLimits, budget: _Budget
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


def _stream(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, chunk_size: int, limit: int | None
) -> Iterator[bytes]:
    """Decompress a member in chunks, stopping if it outgrows its declared size."""
    produced = 0
    with archive.open(info) as member:
        while True:
            want = chunk_size if limit is None else min(chunk_size, limit - produced)
            chunk = member.read(want) if want > 0 else b""
            if not chunk:
                return
            produced += len(chunk)
            if produced > info.file_size:
                raise ArchiveError(
                    f"{info.filename}: expands beyond its declared size of "
                    f"{info.file_size} bytes (lying header); not expanded"
                )
            yield chunk


def _spill(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limits: ArchiveLimits
) -> IO[bytes]:
    """A nested archive member copied to a temporary file (in memory if small)."""
    spool = tempfile.SpooledTemporaryFile(max_size=limits.spool_in_memory)
    try:
        for chunk in _stream(archive, info, MIB, None):
            spool.write(chunk)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool


def _member_record(
    base: FileRecord, info: zipfile.ZipInfo, mime: str | None
) -> FileRecord:
    return dataclasses.replace(
        base,
        source=Source.ARCHIVE,
        archive_path=(*base.archive_path, info.filename),
        size=info.file_size,
        mtime=_zip_mtime(info),
        atime=None,
        ctime=None,
        crtime=None,
        media_type=mime,
    )


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


def iter_members(
    source: BinaryIO | IO[bytes],
    record: FileRecord,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> Iterator[FileRecord | Skipped]:
    """Every member of the zip in ``source`` (whose record is ``record``).

    Members are yielded with ``media_type`` sniffed from their first
    :data:`SNIFF_BYTES` (a member costs a partial decompression, not a full
    one); a member that is itself a zip is yielded and then walked in turn, up
    to ``limits.max_depth`` levels. A bomb, a corrupt or truncated zip, an
    encrypted or unsupported member each become a ``Skipped`` naming the
    archive or member, and the walk goes on where it can.
    """
    yield from _walk(source, record, limits, _Budget(limits))


def _walk(
    source: BinaryIO | IO[bytes],
    record: FileRecord,
    limits: ArchiveLimits,
    budget: _Budget,
) -> Iterator[FileRecord | Skipped]:
    where = _where(record)
    if len(record.archive_path) >= limits.max_depth:
        yield _skip(
            record,
            where,
            f"archive nested deeper than {limits.max_depth} levels; not expanded",
        )
        return
    try:
        archive = zipfile.ZipFile(source)
        infos = archive.infolist()
    except ZIP_ERRORS as exc:
        yield _skip(record, where, f"corrupt or unreadable zip: {exc}")
        return
    with archive:
        problem = _check_directory(infos, limits, budget)
        if problem is not None:
            yield _skip(record, where, problem)
            return
        seen: set[str] = set()
        for info in infos:
            if info.is_dir():
                continue
            member_where = _where(record, info.filename)
            if info.filename in seen:
                yield _skip(
                    record,
                    member_where,
                    "duplicate member name; only the last copy is addressable",
                )
                continue
            seen.add(info.filename)
            budget.members -= 1
            budget.size -= info.file_size
            member_problem = _member_problem(info, limits)
            if member_problem is not None:
                yield _member_record(record, info, None)
                yield _skip(record, member_where, member_problem)
                continue
            try:
                header = b"".join(_stream(archive, info, SNIFF_BYTES, SNIFF_BYTES))
            except ZIP_ERRORS + (ArchiveError,) as exc:
                yield _member_record(record, info, None)
                yield _skip(record, member_where, f"member unreadable: {exc}")
                continue
            mime = sniff(header)
            member = _member_record(record, info, mime if is_media(mime) else None)
            yield member
            signature = identify(header)
            if signature is not None and signature.kind == "archive":
                if not is_expandable(mime):
                    yield _skip(
                        record,
                        member_where,
                        f"{signature.name} archive recognised but not expanded",
                    )
                    continue
                yield from _walk_nested(archive, info, member, limits, budget)


def _walk_nested(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    member: FileRecord,
    limits: ArchiveLimits,
    budget: _Budget,
) -> Iterator[FileRecord | Skipped]:
    if len(member.archive_path) >= limits.max_depth:
        yield _skip(
            member,
            _where(member),
            f"archive nested deeper than {limits.max_depth} levels; not expanded",
        )
        return
    try:
        spool = _spill(archive, info, limits)
    except ZIP_ERRORS + (ArchiveError,) as exc:
        yield _skip(member, _where(member), f"nested archive unreadable: {exc}")
        return
    with spool:
        yield from _walk(spool, member, limits, budget)


def _open_source(
    open_outer: Callable[[], BinaryIO | IO[bytes]] | bytes,
) -> BinaryIO | IO[bytes]:
    if isinstance(open_outer, bytes | bytearray | memoryview):
        return io.BytesIO(open_outer)
    return open_outer()


def iter_member_chunks(
    open_outer: Callable[[], BinaryIO | IO[bytes]] | bytes,
    archive_path: Sequence[str],
    limits: ArchiveLimits = DEFAULT_LIMITS,
    chunk_size: int = MIB,
) -> Iterator[bytes]:
    """Stream the bytes of the member at ``archive_path``, re-opening the chain.

    Raises:
        ArchiveError: the chain is broken (corrupt zip, missing, encrypted or
            bomb-like member), naming the member.
    """
    if not archive_path:
        raise ArchiveError("empty archive path: not an archive member")
    if len(archive_path) > limits.max_depth:
        raise ArchiveError(
            f"{'!'.join(archive_path)}: nested deeper than {limits.max_depth} levels"
        )
    with ExitStack() as stack:
        source = stack.enter_context(_open_source(open_outer))
        for level, name in enumerate(archive_path):
            where = "!".join(archive_path[: level + 1])
            try:
                archive = stack.enter_context(zipfile.ZipFile(source))
                info = archive.getinfo(name)
            except ZIP_ERRORS as exc:
                raise ArchiveError(f"{where}: cannot open member: {exc}") from exc
            problem = _member_problem(info, limits)
            if problem is not None:
                raise ArchiveError(f"{where}: {problem}")
            try:
                if level + 1 < len(archive_path):
                    source = stack.enter_context(_spill(archive, info, limits))
                else:
                    yield from _stream(archive, info, chunk_size, None)
            except ZIP_ERRORS as exc:
                raise ArchiveError(f"{where}: cannot read member: {exc}") from exc
            except ArchiveError as exc:
                raise ArchiveError(f"{where}: {exc}") from exc


def read_member(
    open_outer: Callable[[], BinaryIO | IO[bytes]] | bytes,
    archive_path: Sequence[str],
    limits: ArchiveLimits = DEFAULT_LIMITS,
    limit: int | None = None,
) -> bytes:
    """The bytes of one (possibly nested) member; at most ``limit`` bytes.

    Raises:
        ArchiveError: as :func:`iter_member_chunks`.
    """
    out = bytearray()
    for chunk in iter_member_chunks(open_outer, archive_path, limits):
        out += chunk
        if limit is not None and len(out) >= limit:
            del out[limit:]
            break
    return bytes(out)
