"""libarchive reading a Python file through callbacks: no temporary file.

A ``Reading`` keeps its own position in the archive's bytes and reads them
from whatever file ``Reading.feed.source`` is at the time: a reading left
part-way can carry on over a fresh file of the same bytes (what the
read-back cursor of ``libarchive_formats`` does). An exception of the source
(an evidence read error) is caught in the callback, which must not raise,
and raised again once libarchive returns.
"""

from __future__ import annotations

import ctypes
import io
import weakref
from collections.abc import Callable, Iterator
from typing import IO, Any

import libarchive
from libarchive import ffi
from libarchive.read import ArchiveRead

from triage.errors import ArchiveError
from triage.resources import Closing

BLOCK = 1 << 16
_ARCHIVE_FATAL = -30

is_data_encrypted = ffi.ffi("entry_is_data_encrypted", [ctypes.c_void_p], ctypes.c_int)


class Failed(Exception):
    """A libarchive call failed; ``reason`` in words for a Skipped."""

    def __init__(self, reason: str, encrypted: bool = False) -> None:
        super().__init__(reason)
        self.reason, self.encrypted = reason, encrypted


class Feed:
    """Where the callbacks read: a source file and the position in it."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source, self.pos = source, 0
        self.caught: list[BaseException] = []

    def failure(self, exc: libarchive.ArchiveError) -> Failed:
        """What a libarchive error means; an error of the source itself is
        raised again as it was (once)."""
        if self.caught:
            caught, self.caught = self.caught[0], []
            raise caught from exc
        message = str(getattr(exc, "msg", None) or "unreadable")
        return Failed(message, encrypted="encrypt" in message.lower())


def _callbacks(feed: Feed) -> tuple[Any, Any]:
    """libarchive's read and seek callbacks over ``feed`` (never raising)."""
    buffer = ctypes.create_string_buffer(BLOCK)
    address = ctypes.cast(buffer, ctypes.c_void_p)

    def read(_archive: int, _context: int, out: Any) -> int:
        try:
            feed.source.seek(feed.pos)
            data = feed.source.read(BLOCK)
        except BaseException as exc:  # raised again after the call
            feed.caught.append(exc)
            return _ARCHIVE_FATAL
        ctypes.memmove(buffer, data, len(data))
        ctypes.cast(out, ctypes.POINTER(ctypes.c_void_p))[0] = address
        feed.pos += len(data)
        return len(data)

    def seek(_archive: int, _context: int, offset: int, whence: int) -> int:
        try:
            if whence == io.SEEK_SET:
                feed.pos = offset
            elif whence == io.SEEK_CUR:
                feed.pos += offset
            else:
                feed.pos = feed.source.seek(0, io.SEEK_END) + offset
        except BaseException as exc:
            feed.caught.append(exc)
            return _ARCHIVE_FATAL
        return feed.pos

    return ffi.READ_CALLBACK(read), ffi.SEEK_CALLBACK(seek)


def _free(archive_p: int, *_callbacks: object) -> None:
    """Free the archive; the callbacks are arguments so they outlive it."""
    ffi.read_free(archive_p)


class Reading(Closing):
    """One libarchive reading of an archive (format ``format_name``).

    Raises:
        Failed: libarchive cannot open it.
    """

    def __init__(
        self, source: IO[bytes], format_name: str, *, drain: bool = False
    ) -> None:
        self.feed = Feed(source)
        self._drain, self._started = drain, False
        read_cb, seek_cb = _callbacks(self.feed)
        archive_p = ffi.read_new()
        self._close = weakref.finalize(self, _free, archive_p, read_cb, seek_cb)
        self.archive_p = archive_p
        try:
            ffi.get_read_filter_function("none")(archive_p)
            ffi.get_read_format_function(format_name)(archive_p)
            ffi.read_set_seek_callback(archive_p, seek_cb)
            ffi.read_open(archive_p, None, ffi.NO_OPEN_CB, read_cb, ffi.NO_CLOSE_CB)
        except libarchive.ArchiveError as exc:
            self.close()
            raise self.feed.failure(exc) from exc
        self._entries = iter(ArchiveRead(archive_p))

    @property
    def closed(self) -> bool:
        return not self._close.alive

    def close(self) -> None:
        self._close()

    def entries(self) -> Iterator[Any]:
        """The regular-file entries from where the reading is; a libarchive
        error as ``Failed``."""
        while True:
            if self._drain and self._started:
                self._drain_entry()
            self._started = True
            try:
                entry = next(self._entries)
            except StopIteration:
                return
            except libarchive.ArchiveError as exc:
                raise self.feed.failure(exc) from exc
            if entry.isreg:
                yield entry

    def _drain_entry(self) -> None:
        """Read the rest of the current entry rather than let libarchive skip
        it: libarchive 3.6's 7z reader, skipping a member of a solid LZMA2+BCJ
        block, fails on the next one ("Truncated 7-Zip file body"). A solid
        block is decompressed to skip it all the same; libarchive's own error here
        (an encrypted member) is its to report on the next header."""
        buffer = ctypes.create_string_buffer(BLOCK)
        try:
            while ffi.read_data(self.archive_p, buffer, BLOCK) > 0:
                pass
        except libarchive.ArchiveError as exc:
            if self.feed.caught:  # the source's own error: raised as it was
                raise self.feed.failure(exc) from exc

    def stream(self, on_close: Callable[[], None] | None = None) -> EntryStream:
        """The current entry's data."""
        return EntryStream(self, on_close)


class EntryStream:
    """The current entry's data, read through libarchive; ``on_close`` runs
    when the reader is done (the rest is skipped by the next header read)."""

    def __init__(
        self, reading: Reading, on_close: Callable[[], None] | None = None
    ) -> None:
        self._reading, self._on_close = reading, on_close

    def read(self, size: int = -1, /) -> bytes:
        if self._reading.closed:
            raise ArchiveError("the archive's reading was closed")
        size = BLOCK if size < 0 else min(size, 1 << 24)
        buffer = ctypes.create_string_buffer(size)
        try:
            got = ffi.read_data(self._reading.archive_p, buffer, size)
        except libarchive.ArchiveError as exc:
            failed = self._reading.feed.failure(exc)
            raise ArchiveError(failed.reason) from exc
        return buffer.raw[:got]

    def close(self) -> None:
        on_close, self._on_close = self._on_close, None
        if on_close is not None:
            on_close()
