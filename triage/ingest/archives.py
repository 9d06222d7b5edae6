"""Walk archives, nested to a bounded depth, without ever expanding a bomb.

The formats are expanders (``triage.ingest.expanders``: zip, tar plain or
gzip/bzip2/xz compressed, single-file gzip, 7z and RAR through libarchive;
any mix of them nests). Other archives (CAB, zstd) are recognised by
:mod:`triage.ingest.media` and reported as not expanded (their ``EXPANDERS``
entries say why). This module is their public face:

- ``iter_members(source, record, limits=DEFAULT_LIMITS)`` -- ``source`` is a
  seekable read-only binary file holding the bytes of ``record`` (an archive);
  yields one ``FileRecord`` per member (``source=ARCHIVE``, ``media_type``
  already sniffed, nested archives expanded) or a ``Skipped``.
- ``read_member(open_outer, archive_path, limits=DEFAULT_LIMITS, limit=None, *,
  cache_key=None) -> bytes`` and ``iter_member_chunks(open_outer, archive_path,
  limits, chunk_size, *, cache_key=None)`` -- ``open_outer`` is the outermost
  archive: its bytes, or a callable returning a fresh seekable binary file over
  them; ``archive_path`` is the record's ``archive_path``; ``cache_key`` names
  the outermost archive so that reading its members one by one parses its
  directory and extracts nested archives once. Raises ``ArchiveError`` naming
  the member.

Every expander checks its limits while it streams, because headers can lie.
Nested archives are spilled to an anonymous temporary file, never to the
evidence, and never held whole in memory.
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from contextlib import ExitStack
from typing import IO, BinaryIO

from triage.errors import ArchiveError
from triage.ingest.content import RecordIO
from triage.ingest.expanders import EXPANDERS
from triage.ingest.expanders.base import (
    DEFAULT_LIMITS,
    MIB,
    ZIP_ERRORS,
    ArchiveLimits,
    Bounded,
    Budget,
    expander_for,
    kind_of,
    sniff_source,
    spill,
)
from triage.ingest.expanders.nesting import walk
from triage.records import FileRecord, Skipped

__all__ = [
    "DEFAULT_LIMITS",
    "ZIP_ERRORS",
    "ArchiveLimits",
    "iter_member_chunks",
    "iter_members",
    "read_member",
]


def iter_members(
    source: BinaryIO | IO[bytes],
    record: FileRecord,
    limits: ArchiveLimits = DEFAULT_LIMITS,
) -> Iterator[FileRecord | Skipped]:
    """Every member of the archive in ``source`` (whose record is ``record``).

    Members are yielded with ``media_type`` sniffed from their first
    ``SNIFF_BYTES`` (a member costs a partial decompression, not a full
    one); a member that is itself an archive is yielded and then walked in
    turn, up to ``limits.max_depth`` levels. A bomb, a corrupt or truncated
    archive, an encrypted or unsupported member each become a ``Skipped``
    naming the archive or member, and the walk goes on where it can.
    """
    yield from walk(source, record, limits, Budget(limits))


# --- reading one member back --------------------------------------------------------


def _open_source(
    open_outer: Callable[[], BinaryIO | IO[bytes]] | bytes,
) -> BinaryIO | IO[bytes]:
    if isinstance(open_outer, bytes | bytearray | memoryview):
        return io.BytesIO(open_outer)
    return open_outer()


class _Anonymous:
    """A copy of a nested archive in an unnamed temporary file (unlinked at
    creation), handed out as independent readers."""

    def __init__(self, source: IO[bytes], size: int) -> None:
        self._file = tempfile.TemporaryFile()
        try:
            shutil.copyfileobj(source, self._file, MIB)
            self._file.flush()
        except BaseException:
            self._file.close()
            raise
        self.size = size

    def reader(self) -> io.BufferedReader:
        """A reader with its own position and descriptor."""
        return io.BufferedReader(_PreadFile(self._file.fileno(), self.size))

    def close(self) -> None:
        self._file.close()


class _PreadFile(RecordIO):
    """``RecordIO`` over its own duplicate of a descriptor, read with
    ``os.pread``: readers in several threads never move each other, and
    closing the cache's descriptor does not cut a reader off."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd = os.dup(fd)
        super().__init__(lambda offset, n: os.pread(self._fd, n, offset), size)

    def close(self) -> None:
        if not self.closed:
            os.close(self._fd)
        super().close()


class _ChainCache:
    """What re-reading members of one archive again and again would redo.

    A scan reads each media member of an archive separately (one
    ``read_member`` per record), and each read re-opens the chain. Without a
    cache that costs the whole central directory per member (quadratic in the
    member count: 18 ms per member of a 3,000-member zip) and, for nested
    archives, re-extracting the inner archive per member. Keyed by the
    caller's ``cache_key`` (which identifies the outermost archive) and the
    member-path prefix, it keeps parsed zip directories (plain data) and
    extracted nested archives (bytes when small, else an anonymous temporary
    file: it has no name on disk, so nothing derived from the evidence is left
    behind even when the process is killed; never beside the evidence).
    Entries are immutable, so threads share them; each read opens its own
    file object.
    """

    def __init__(self, directories: int = 16, nested: int = 4) -> None:
        self._lock = threading.Lock()
        # Per archive: (expander name, its index, e.g. a zip's directory).
        self._directories: OrderedDict[Hashable, tuple[str, object]] = OrderedDict()
        self._nested: OrderedDict[Hashable, bytes | _Anonymous] = OrderedDict()
        self._max_directories, self._max_nested = directories, nested

    def directory(self, key: Hashable) -> tuple[str, object] | None:
        with self._lock:
            found = self._directories.get(key)
            if found is not None:
                self._directories.move_to_end(key)
            return found

    def keep_directory(self, key: Hashable, infos: tuple[str, object]) -> None:
        with self._lock:
            self._directories[key] = infos
            while len(self._directories) > self._max_directories:
                self._directories.popitem(last=False)

    def open_nested(self, key: Hashable) -> IO[bytes] | None:
        with self._lock:
            found = self._nested.get(key)
            if found is None:
                return None
            self._nested.move_to_end(key)
        if isinstance(found, bytes):
            return io.BytesIO(found)
        return found.reader()  # closed by the caller's ExitStack

    def keep_nested(
        self, key: Hashable, spool: IO[bytes], limits: ArchiveLimits
    ) -> None:
        """Keep a copy of an extracted nested archive (``spool`` is rewound)."""
        size = spool.seek(0, io.SEEK_END)
        spool.seek(0)
        value: bytes | _Anonymous
        if size <= limits.spool_in_memory:
            value = spool.read()
        else:
            value = _Anonymous(spool, size)
        spool.seek(0)
        with self._lock:
            self._nested[key] = value
            evicted = []
            while len(self._nested) > self._max_nested:
                evicted.append(self._nested.popitem(last=False)[1])
        for old in evicted:
            if isinstance(old, _Anonymous):
                old.close()  # open readers keep their view until they close

    def clear(self) -> None:
        with self._lock:
            files = [v for v in self._nested.values() if isinstance(v, _Anonymous)]
            self._nested.clear()
            self._directories.clear()
        for kept in files:
            kept.close()


_CACHE = _ChainCache()
atexit.register(_CACHE.clear)


def _open_member(
    source: IO[bytes],
    name: str,
    outer_name: str,
    limits: ArchiveLimits,
    stack: ExitStack,
    directory_key: Hashable | None,
) -> Bounded:
    """A bounded reader of member ``name`` of the archive in ``source``; an
    index its expander returns (a zip's directory) is kept for the next."""
    kept = _CACHE.directory(directory_key) if directory_key is not None else None
    if kept is not None:
        expander_name, index = kept
        reader = EXPANDERS.get(expander_name).open_indexed(source, index, name, limits)
        if reader is not None:
            return reader
    sniffed = sniff_source(source)
    expander = expander_for(sniffed)
    if expander is None or not expander.expands:
        kind = kind_of(sniffed, expander)
        raise ArchiveError(f"{outer_name}: {kind} archive is not expanded")
    reader, index = expander.open_member(source, name, limits, stack)
    if index is not None and directory_key is not None:
        _CACHE.keep_directory(directory_key, (expander.name, index))
    return reader


def iter_member_chunks(
    open_outer: Callable[[], BinaryIO | IO[bytes]] | bytes,
    archive_path: Sequence[str],
    limits: ArchiveLimits = DEFAULT_LIMITS,
    chunk_size: int = MIB,
    *,
    cache_key: Hashable | None = None,
) -> Iterator[bytes]:
    """Stream the bytes of the member at ``archive_path``, re-opening the chain.

    ``cache_key`` names the outermost archive (e.g. evidence path and record
    address): with it, reading many members of one archive parses its zip
    directory once and extracts a nested archive once, not once per member.

    Raises:
        ArchiveError: the chain is broken (corrupt archive, missing, encrypted
            or bomb-like member), naming the member.
    """
    if not archive_path:
        raise ArchiveError("empty archive path: not an archive member")
    if len(archive_path) > limits.max_depth:
        raise ArchiveError(
            f"{'!'.join(archive_path)}: nested deeper than {limits.max_depth} levels"
        )
    path = tuple(archive_path)
    with ExitStack() as stack:
        source: IO[bytes] | BinaryIO = stack.enter_context(_open_source(open_outer))
        start = 0
        if cache_key is not None:
            # The outer size joins the key: cheap, and a changed file misses.
            cache_key = (cache_key, source.seek(0, io.SEEK_END))
            source.seek(0)
            for depth in range(len(path) - 1, 0, -1):  # deepest extracted level
                cached = _CACHE.open_nested((cache_key, path[:depth]))
                if cached is not None:
                    source, start = stack.enter_context(cached), depth
                    break
        for level in range(start, len(path)):
            name, prefix = path[level], path[:level]
            where = "!".join(path[: level + 1])
            directory_key = None if cache_key is None else (cache_key, prefix)
            try:
                reader = stack.enter_context(
                    _open_member(source, name, where, limits, stack, directory_key)
                )
            except ZIP_ERRORS as exc:
                raise ArchiveError(f"{where}: cannot open member: {exc}") from exc
            except ArchiveError as exc:
                raise ArchiveError(f"{where}: {exc}") from exc
            try:
                if level + 1 < len(path):
                    source = stack.enter_context(spill(reader, limits))
                    if cache_key is not None:
                        _CACHE.keep_nested(
                            (cache_key, path[: level + 1]), source, limits
                        )
                    continue
                while chunk := reader.read(chunk_size):
                    yield chunk
            except ZIP_ERRORS as exc:
                raise ArchiveError(f"{where}: cannot read member: {exc}") from exc
            except ArchiveError as exc:
                raise ArchiveError(f"{where}: {exc}") from exc


def read_member(
    open_outer: Callable[[], BinaryIO | IO[bytes]] | bytes,
    archive_path: Sequence[str],
    limits: ArchiveLimits = DEFAULT_LIMITS,
    limit: int | None = None,
    *,
    cache_key: Hashable | None = None,
) -> bytes:
    """The bytes of one (possibly nested) member; at most ``limit`` bytes.

    Raises:
        ArchiveError: as :func:`iter_member_chunks`.
    """
    out = bytearray()
    for chunk in iter_member_chunks(
        open_outer, archive_path, limits, cache_key=cache_key
    ):
        out += chunk
        if limit is not None and len(out) >= limit:
            del out[limit:]
            break
    return bytes(out)
