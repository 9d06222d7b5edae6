"""What every expander offers: members of a file that holds other files.

An expander (one module each: ``zip_archive``, ``tar_archive``,
``gzip_stream``) recognises its format from a ``Sniffed`` look at the file
(the content signature, and for a compressed stream its first decompressed
bytes), lists the members (``members``: records, nested ones walked through
``nesting.one_member``, with ``ArchiveLimits`` checked while streaming, since
headers can lie) and opens one member again by its address (``open_member``).
Formats that are recognised but not expanded (CAB, zstd) are
``NotExpanded`` entries of the same ``EXPANDERS`` table, with their reason.

Design notes for the expanders to come:

- A member's address is one string of ``FileRecord.archive_path``: the member
  name inside an archive, but any string the expander can find again works
  ("entry 7" of a Thumbs.db, "page 3 image 2" of a PDF, "row 12" of an
  SQLite table). ``open_member`` is given back exactly that string.
- ``source`` is any seekable file of the outer bytes, not necessarily an
  archive: an expander whose members are extracted from a container file
  (thumbnails in a Thumbs.db's OLE streams or in thumbcache_*.db, pictures
  in a PDF) parses the container in ``members`` and cuts a member out in
  ``open_member``; both return bounded readers, so the limits hold the same
  way. ``open_member`` may also return an *index* (a parsed directory) that
  the read-back cache keeps, so reading many members parses it once
  (``open_indexed``).
- ``classify`` hands a file to the expanders when its content signature
  (``triage.ingest.media.SIGNATURES``) is of the ``ARCHIVE`` kind and some
  expander lists it in ``signatures``: a new container format registers its
  signature there too.
"""

from __future__ import annotations

import bz2
import dataclasses
import gzip
import io
import lzma
import struct
import tarfile
import tempfile
import zipfile
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import IO, Any, Protocol

from triage.errors import ArchiveError
from triage.ingest.media import ARCHIVE, SIGNATURES, SNIFF_BYTES, identify, is_media
from triage.records import FileRecord, Skipped, Source, Stage
from triage.registry import Registry

GIB = 1 << 30
MIB = 1 << 20
#: The signature name a file no content signature names is looked up by
#: (the in-file signature scan, ``signature_scan``, takes those).
UNRECOGNISED = ""

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
    tarfile.TarError,
)


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    """How much an archive may expand before it is treated as a bomb.

    ``max_depth`` counts archive levels: 3 walks a zip inside a zip inside a
    zip found on disk (a ``.tar.gz`` is one level). ``max_ratio`` applies to
    members larger than ``ratio_floor`` (a small file of zeros legitimately
    compresses very well).
    Totals count every member of an archive tree, nested levels included.
    """

    max_members: int = 10_000
    max_total_size: int = 8 * GIB
    max_ratio: float = 200.0
    ratio_floor: int = MIB
    max_depth: int = 3
    # Nested archives larger than this are spilled to disk, smaller in memory.
    spool_in_memory: int = 16 * MIB
    #: Expanders not used for listing (by name): ``inner_sources()`` turns
    #: off every inner source (``triage scan --no-inner-sources``).
    expanders_off: frozenset[str] = frozenset()


DEFAULT_LIMITS = ArchiveLimits()


class Budget:
    """Members and expanded bytes left for one archive tree."""

    def __init__(self, limits: ArchiveLimits) -> None:
        self.members = limits.max_members
        self.size = limits.max_total_size

    def overspent(self, limits: ArchiveLimits) -> str | None:
        """Why listing must stop here (more members or declared bytes than
        ``limits`` allow: a possible bomb), or None."""
        if self.members < 0:
            return (
                f"more than {limits.max_members} members (possible bomb); "
                "the rest is not expanded"
            )
        if self.size < 0:
            return (
                f"members declare more than {limits.max_total_size} bytes "
                "expanded (possible bomb); the rest is not expanded"
            )
        return None


def member_where(record: FileRecord, *inner: str) -> str | None:
    """The place inside ``record`` a problem is at (None: the archive itself)."""
    return "!".join(inner) if inner else None


def skip(record: FileRecord, where: str | None, reason: str) -> Skipped:
    return Skipped.at_file(record, Stage.INGEST, reason, member=where)


@dataclass(frozen=True, slots=True)
class Expansion:
    """One file being expanded: its bytes (``source``), its record, the limits,
    and the budget of members and bytes its outermost archive has left."""

    source: IO[bytes]
    record: FileRecord
    limits: ArchiveLimits
    budget: Budget

    def skip(self, reason: str, *member: str) -> Skipped:
        """A problem with the file itself, or with the member at ``member``."""
        return skip(self.record, member_where(self.record, *member), reason)

    def repeated(self, name: str, seen: set[str], kept: str) -> Skipped | None:
        """None the first time ``name`` is listed (it is added to ``seen``); a
        skip for a later member of the same name, which cannot be addressed
        apart from the ``kept`` ("first", "last") one."""
        if name not in seen:
            seen.add(name)
            return None
        return self.skip(
            f"duplicate member name; only the {kept} copy is addressable", name
        )


class Stream(Protocol):
    """What a decompressed member stream offers: sequential reads."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


class Bounded(io.RawIOBase):
    """A member's decompressed stream that fails once it outgrows the size its
    header declared (a lying header is how a small bomb hides)."""

    def __init__(self, raw: Stream, declared: int, name: str) -> None:
        super().__init__()
        self._raw, self._left, self._declared, self._name = (
            raw,
            declared,
            declared,
            name,
        )

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        # Ask for one byte more than is left, to notice an overlong stream.
        data = self._raw.read(min(len(view), self._left + 1))
        if len(data) > self._left:
            raise ArchiveError(
                f"{self._name}: expands beyond its declared size of "
                f"{self._declared} bytes (lying header); not expanded"
            )
        self._left -= len(data)
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


def read_up_to(reader: Stream, size: int) -> bytes:
    """``size`` bytes, or fewer only at the end of the stream."""
    out = bytearray()
    while len(out) < size and (chunk := reader.read(size - len(out))):
        out += chunk
    return bytes(out)


def spill(reader: Stream, limits: ArchiveLimits, head: bytes = b"") -> IO[bytes]:
    """A nested archive copied to a temporary file (in memory if small);
    ``head`` is what was already read of it."""
    spool = tempfile.SpooledTemporaryFile(max_size=limits.spool_in_memory)
    try:
        spool.write(head)
        while chunk := reader.read(MIB):
            spool.write(chunk)
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return spool


def member_record(
    base: FileRecord,
    name: str,
    size: int,
    mtime: float | None,
    mime: str | None,
    source: Source = Source.ARCHIVE,
) -> FileRecord:
    return dataclasses.replace(
        base,
        source=source,
        archive_path=(*base.archive_path, name),
        size=size,
        mtime=mtime,
        atime=None,
        ctime=None,
        crtime=None,
        media_type=mime if is_media(mime) else None,
    )


def source_size(source: IO[bytes]) -> int:
    size = source.seek(0, io.SEEK_END)
    source.seek(0)
    return size


def ratio_problem(declared: int, compressed: int, limits: ArchiveLimits) -> str | None:
    if declared <= limits.ratio_floor:
        return None
    ratio = declared / max(compressed, 1)
    if ratio <= limits.max_ratio:
        return None
    return (
        f"compression ratio {ratio:.0f}:1 ({compressed} -> {declared} bytes) "
        f"exceeds {limits.max_ratio:.0f}:1 (possible zip bomb); not expanded"
    )


# --- which expander takes this file? ---------------------------------------------

#: Compressed streams that may hold a tar (signature name -> decompressor).
DECOMPRESSORS: Registry[Callable[[IO[bytes]], Stream]] = Registry("decompressor")
DECOMPRESSORS.register(lambda f: gzip.GzipFile(fileobj=f, mode="rb"), name="gzip")
DECOMPRESSORS.register(lambda f: bz2.BZ2File(f, mode="rb"), name="bzip2")
DECOMPRESSORS.register(lambda f: lzma.LZMAFile(f, mode="rb"), name="xz")


def is_tar(block: bytes) -> bool:
    return block[257:262] == b"ustar"


@dataclass(frozen=True, slots=True)
class Sniffed:
    """What recognising a file's format looked at: its content signature's
    name ("" when none) and, for a compressed stream, its first 512
    decompressed bytes (``inner``; else empty)."""

    signature: str
    inner: bytes = b""
    archive: bool = False  # the signature is of the archive kind


def sniff_source(source: IO[bytes]) -> Sniffed:
    """Look at the start of ``source`` (left rewound).

    Raises:
        ArchiveError: a compressed stream that will not decompress.
    """
    source.seek(0)
    head = source.read(SNIFF_BYTES)
    source.seek(0)
    signature = identify(head)
    if signature is None:
        return Sniffed("")
    if signature.name not in DECOMPRESSORS:
        return Sniffed(signature.name, archive=signature.kind == ARCHIVE)
    try:
        stream = DECOMPRESSORS.get(signature.name)(source)
        try:
            inner = stream.read(512)
        finally:
            stream.close()
    except ZIP_ERRORS as exc:
        raise ArchiveError(f"corrupt {signature.name} stream: {exc}") from exc
    finally:
        source.seek(0)
    return Sniffed(signature.name, inner, archive=True)


class Expander(ABC):
    """One format of file holding other files (see the module docstring)."""

    #: The registered name; also the "kind" errors name the format by.
    name: str
    #: Content signatures (``triage.ingest.media`` names) it may take.
    signatures: tuple[str, ...]
    #: False for formats recognised but not expanded.
    expands: bool = True
    #: True for an inner source (pictures inside a file that is no archive:
    #: thumbnails, embedded images, caches); ``inner_sources()`` names them.
    inner: bool = False
    #: Files larger than this are not opened (None: no limit of its own).
    max_size: int | None = None

    def recognise(self, sniffed: Sniffed) -> bool:
        """Whether this expander takes a file that sniffed so."""
        return sniffed.signature in self.signatures

    def worth_opening(self, header: bytes) -> bool:
        """Whether a file whose first ``SNIFF_BYTES`` are ``header`` may hold
        members: False spares opening it (a JPEG without EXIF or MPF
        segments has no thumbnail to find)."""
        return True

    @abstractmethod
    def members(self, job: Expansion) -> Iterator[FileRecord | Skipped]:
        """The members of ``job.record`` (bytes in ``job.source``), nested ones
        walked; every problem a ``Skipped`` naming the archive or member."""

    @abstractmethod
    def open_member(
        self, source: IO[bytes], name: str, limits: ArchiveLimits, stack: ExitStack
    ) -> tuple[Bounded, object | None]:
        """A bounded reader of the member at address ``name``, and an index of
        the file worth keeping for the next member (or None).

        Raises:
            ArchiveError: a limit or the format forbids reading it.
            KeyError: no such member (and the format's own errors).
        """

    def open_indexed(
        self, source: IO[bytes], index: object, name: str, limits: ArchiveLimits
    ) -> Bounded | None:
        """``open_member`` with a kept index; None when the index does not fit."""
        return None


class NotExpanded(Expander):
    """A format recognised but not expanded: listed with its reason."""

    expands = False

    def __init__(
        self, name: str, reason: str = "", *, unless_tar: bool = False
    ) -> None:
        self.name = name
        self.signatures = (name,)
        self.reason = reason or f"{name} archive recognised but not expanded"
        # A compressed stream holding a tar belongs to the tar expander.
        self._unless_tar = unless_tar

    def recognise(self, sniffed: Sniffed) -> bool:
        if sniffed.signature != self.name:
            return False
        return not (self._unless_tar and is_tar(sniffed.inner))

    def members(self, job: Expansion) -> Iterator[FileRecord | Skipped]:
        yield job.skip(self.reason)

    def open_member(
        self, source: IO[bytes], name: str, limits: ArchiveLimits, stack: ExitStack
    ) -> tuple[Bounded, object | None]:
        raise ArchiveError(f"{self.name} archive is not expanded")


#: Every expander and every recognised-but-not-expanded format, by name.
EXPANDERS: Registry[Expander] = Registry("expander")


def expander_for(
    sniffed: Sniffed, off: frozenset[str] = frozenset()
) -> Expander | None:
    """The expander that takes a file that sniffed so (expanding ones first),
    leaving out those named in ``off``."""
    for expander in sorted(EXPANDERS.values(), key=lambda e: not e.expands):
        if expander.name not in off and expander.recognise(sniffed):
            return expander
    return None


def inner_sources() -> frozenset[str]:
    """The names of every inner source (``Expander.inner``)."""
    return frozenset(name for name, e in EXPANDERS.items() if e.inner)


def kind_of(sniffed: Sniffed, expander: Expander | None) -> str:
    """How messages name the format: the expander's name, else the
    signature's, else "not an archive"."""
    if expander is not None:
        return expander.name
    return sniffed.signature if sniffed.archive else "not an archive"


def expandable(signature: str) -> bool:
    """Whether some expander may expand files with this content signature."""
    return any(e.expands and signature in e.signatures for e in EXPANDERS.values())


def worth_expanding(
    signature: str,
    header: bytes,
    size: int | None = None,
    off: frozenset[str] = frozenset(),
) -> bool:
    """Whether a file with this signature, first bytes and ``size`` (None:
    not known) is worth walking by an expander not named in ``off``."""
    return any(
        e.expands
        and e.name not in off
        and signature in e.signatures
        and (size is None or e.max_size is None or size <= e.max_size)
        and e.worth_opening(header)
        for e in EXPANDERS.values()
    )


def not_expanded_reason(signature: str) -> str:
    """Why a file with this archive signature is not expanded."""
    for expander in EXPANDERS.values():
        if isinstance(expander, NotExpanded) and signature in expander.signatures:
            return expander.reason
    return f"{signature} archive recognised but not expanded"


def is_expandable(mime: str | None) -> bool:
    """True for archives whose members are walked (by MIME type)."""
    return any(
        SIGNATURES.get(name).mime == mime
        for expander in EXPANDERS.values()
        if expander.expands
        for name in expander.signatures
        if name in SIGNATURES
    )
