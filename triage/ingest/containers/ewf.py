"""EnCase/EWF images (E01, Ex01; L01, S01), read-only.

EWF1 is read through the system libewf (``_SystemEwf``, ctypes) when it is
installed, else pyewf; both give the same bytes (tested). A damaged chunk
(failing its checksum) and sectors the acquisition could not read are
reported, not silently read as zeros (``_EwfErrors``).
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from triage.errors import EvidenceError
from triage.ingest.containers.base import (
    CONTAINERS,
    Container,
    Reader,
    clean_error,
    is_later_segment,
)
from triage.ingest.containers.libyal import LibyalReader

log = logging.getLogger(__name__)


_COUNT_ARGS = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint32), ctypes.c_void_p]
_RANGE_ARGS = [
    ctypes.c_void_p,
    ctypes.c_uint32,
    ctypes.POINTER(ctypes.c_uint64),
    ctypes.POINTER(ctypes.c_uint64),
    ctypes.c_void_p,
]


def _bind(lib: ctypes.CDLL, name: str, argtypes: list[Any]) -> Any:
    function = getattr(lib, name)
    function.argtypes = argtypes
    function.restype = ctypes.c_int
    return function


class _EwfErrors:
    """What an EWF image records as unreadable, which libewf reads as zeros
    without a word and pyewf has no call for:

    * chunks that fail their checksum (damaged image files), found as they
      are read (``libewf_handle_get_number_of_checksum_errors``/``_error``);
    * sectors the acquisition could not read from the original device (the
      image's error2 section: ``libewf_handle_get_number_of_acquiry_errors``/
      ``_error``).

    Those C functions are exported by pyewf's own extension and called through
    ctypes on the libewf handle a ``pyewf.handle`` wraps: the pointer right
    after its Python object header (``struct pyewf_handle``). That layout is
    checked first (object size, and the C handle must report pyewf's media
    size); where it does not hold, ``of`` returns None and logs that neither
    can be told from zeros.
    """

    def __init__(self, handle: Any, lib: ctypes.CDLL, pointer: int) -> None:
        self._handle = handle  # keeps the C handle alive
        self._pointer = ctypes.c_void_p(pointer)  # its libewf_handle_t
        self._checksum_count = _bind(
            lib, "libewf_handle_get_number_of_checksum_errors", _COUNT_ARGS
        )
        self._checksum_get = _bind(lib, "libewf_handle_get_checksum_error", _RANGE_ARGS)
        self._acquiry_count = _bind(
            lib, "libewf_handle_get_number_of_acquiry_errors", _COUNT_ARGS
        )
        self._acquiry_get = _bind(lib, "libewf_handle_get_acquiry_error", _RANGE_ARGS)
        self._sector = int(handle.get_bytes_per_sector())
        self._chunk = int(handle.get_chunk_size())
        self._known = 0
        self.damaged: list[tuple[int, int]] = []  # (start, end) byte ranges

    @classmethod
    def of(cls, handle: Any) -> _EwfErrors | None:
        """For a ``pyewf.handle`` (see above) or a ``_SystemEwf``."""
        if isinstance(handle, _SystemEwf):
            return cls(handle, handle.lib, handle.pointer)
        import pyewf

        head = object.__basicsize__
        if type(handle).__basicsize__ != head + 2 * ctypes.sizeof(ctypes.c_void_p):
            log.warning(_NO_CHECKSUMS, "pyewf.handle has another layout")
            return None
        try:
            lib = ctypes.CDLL(pyewf.__file__)
            media_size = _bind(
                lib,
                "libewf_handle_get_media_size",
                [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64), ctypes.c_void_p],
            )
        except (OSError, AttributeError) as exc:
            log.warning(_NO_CHECKSUMS, exc)
            return None
        pointer = ctypes.c_void_p.from_address(id(handle) + head).value
        size = ctypes.c_uint64()
        if (
            not pointer
            or media_size(pointer, ctypes.byref(size), None) != 1
            or size.value != handle.get_media_size()
        ):
            log.warning(_NO_CHECKSUMS, "the libewf handle does not match pyewf's")
            return None
        return cls(handle, lib, pointer)

    def _count(self, count: Any) -> int:
        value = ctypes.c_uint32()
        return (
            value.value if count(self._pointer, ctypes.byref(value), None) == 1 else 0
        )

    def _ranges(self, get: Any, count: int) -> list[tuple[int, int]]:
        """The first ``count`` sector ranges ``get`` gives, as byte ranges."""
        first, sectors = ctypes.c_uint64(), ctypes.c_uint64()
        out = []
        for index in range(count):
            if (
                get(
                    self._pointer,
                    index,
                    ctypes.byref(first),
                    ctypes.byref(sectors),
                    None,
                )
                == 1
            ):
                lo = first.value * self._sector
                out.append((lo, lo + sectors.value * self._sector))
        return out

    def acquisition_gaps(self) -> list[tuple[int, int]]:
        """Byte ranges the acquisition could not read (zeros in the image)."""
        return self._ranges(self._acquiry_get, self._count(self._acquiry_count))

    def known(self, start: int, end: int) -> list[tuple[int, int]]:
        """The damaged chunks in ``[start, end)`` among those found so far,
        one (start, end) byte range per chunk."""
        chunk = self._chunk
        pieces = []
        for lo, hi in self.damaged:
            if lo < end and start < hi:
                first = max(lo, lo + (start - lo) // chunk * chunk)
                for at in range(first, min(hi, end), chunk):
                    pieces.append((at, min(at + chunk, hi)))
        return pieces

    def touched(self, start: int, end: int) -> list[tuple[int, int]]:
        """The damaged chunks ``[start, end)`` touches (found by this read or
        an earlier one), as (start, end) byte ranges, one per chunk: the same
        read reports the same ranges however libewf has merged its list."""
        count = self._count(self._checksum_count)
        # libewf keeps merged ranges: a newly damaged chunk next to a known
        # range widens it without adding one, so look again near known ones.
        near = self._chunk
        if count != self._known or any(
            lo - near <= end and start <= hi + near for lo, hi in self.damaged
        ):
            self.damaged = self._ranges(self._checksum_get, count)
            self._known = count
        return self.known(start, end)


_NO_CHECKSUMS = (
    "E01 chunk checksums and acquisition errors cannot be read with this pyewf "
    "(%s): a damaged chunk or an unacquired sector will read as zeros unreported"
)


def _ewf_segments(path: Path) -> tuple[str, ...]:
    import pyewf

    if is_later_segment(path):  # given .E02: start from .E01
        path = path.with_suffix(path.suffix[:-2] + "01")

    if not re.fullmatch(r"\.[EeLlSs]x?01", path.suffix):
        # Renamed (e.g. exhibit.bin): libewf globs by extension only. One file;
        # the segment check refuses it if its last section says more follow.
        return (str(path),)
    try:
        return tuple(pyewf.glob(str(path)))
    except OSError as exc:
        raise EvidenceError(
            f"{path}: cannot find EWF segments: {clean_error(exc)}"
        ) from exc


_EWF1 = b"EVF\x09\x0d\x0a\xff\x00"
_EWF_SECTION = 76  # bytes in an EWF1 section descriptor


def _check_ewf1_segments(segments: Sequence[str]) -> None:
    """Refuse an EWF1 set with a missing or truncated segment, before reading.

    Each segment file has its number in its header and ends with a section
    descriptor: "next" (more segments follow) or "done" (the last one).
    libewf opens such a set anyway and fails only on a read far into it.
    """
    for expected, path in enumerate(segments, start=1):
        with open(path, "rb") as fh:
            head = fh.read(13)
            if not head.startswith(_EWF1):
                return  # EWF2 (Ex01): libewf checks it itself
            number = int.from_bytes(head[9:11], "little")
            if number != expected:
                raise EvidenceError(
                    f"{segments[0]}: EWF segment {expected} is missing "
                    f"({Path(path).name} is segment {number})"
                )
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(13, size - _EWF_SECTION))
            kind = fh.read(16).rstrip(b"\0")
        last = expected == len(segments)
        if kind == b"next" and last:
            raise EvidenceError(
                f"{segments[0]}: EWF segment {expected + 1} is missing "
                f"({Path(path).name} says more segments follow)"
            )
        if kind not in (b"next", b"done"):
            raise EvidenceError(
                f"{segments[0]}: EWF segment {Path(path).name} is truncated "
                "(it does not end with a 'next' or 'done' section)"
            )


class _SystemEwf:
    """An EWF1 image read through the system's libewf (Debian ``libewf2``,
    installed with ``ewf-tools``), by its C API through ctypes; it offers the
    calls ``LibyalReader`` and ``_stored_digest`` make of a ``pyewf.handle``.

    Why: the pyewf wheel is built without zlib and inflates compressed chunks
    with libewf's own code, ~4.7x slower than zlib on compressible data (90 vs
    ~420 MB/s, ``benchmarks/bench_ewf.py``); most acquisitions compress every
    chunk. The system library is libewf-legacy 20140813, the upstream stable
    line, linked to zlib. It reads EWF1 (E01/L01/S01) only: EWF2 (Ex01) goes to
    pyewf, as does everything when the library is missing or will not open
    the image (``open`` returns None then).
    """

    _lib: ctypes.CDLL | None = None
    _missing = False
    _REUSE = 4 << 20  # largest read served from the kept buffer

    def __init__(self, lib: ctypes.CDLL, pointer: ctypes.c_void_p) -> None:
        self.lib = lib
        self.pointer = pointer.value or 0
        self._handle = pointer
        self._buffer = ctypes.create_string_buffer(0)
        self._size = 0
        self._read = lib.libewf_handle_read_random
        self._error = ctypes.c_void_p()  # set by libewf on failure, freed after
        self._error_ref = ctypes.byref(self._error)

    @classmethod
    def _library(cls) -> ctypes.CDLL | None:
        if cls._lib is None and not cls._missing:
            import ctypes.util

            name = ctypes.util.find_library("ewf")
            try:
                lib = ctypes.CDLL(name) if name else None
            except OSError:
                lib = None
            if lib is None or not hasattr(lib, "libewf_handle_read_random"):
                cls._missing = True
                return None
            p, size, i64 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int64
            out64 = ctypes.POINTER(ctypes.c_uint64)
            out32 = ctypes.POINTER(ctypes.c_uint32)
            for name_, args, restype in (
                ("libewf_handle_initialize", [ctypes.POINTER(p), p], ctypes.c_int),
                (
                    "libewf_handle_open",
                    [p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int, p],
                    ctypes.c_int,
                ),
                ("libewf_handle_read_random", [p, p, size, i64, p], ctypes.c_ssize_t),
                ("libewf_handle_get_media_size", [p, out64, p], ctypes.c_int),
                ("libewf_handle_get_bytes_per_sector", [p, out32, p], ctypes.c_int),
                ("libewf_handle_get_chunk_size", [p, out32, p], ctypes.c_int),
                (
                    "libewf_handle_get_utf8_hash_value",
                    [p, ctypes.c_char_p, size, ctypes.c_char_p, size, p],
                    ctypes.c_int,
                ),
                ("libewf_handle_close", [p, p], ctypes.c_int),
                ("libewf_handle_free", [ctypes.POINTER(p), p], ctypes.c_int),
                ("libewf_error_sprint", [p, ctypes.c_char_p, size], ctypes.c_int),
                ("libewf_error_free", [ctypes.POINTER(p)], None),
            ):
                function = getattr(lib, name_)
                function.argtypes = args
                function.restype = restype
            cls._lib = lib
        return cls._lib

    @classmethod
    def open(cls, segments: Sequence[str]) -> _SystemEwf | None:
        with open(segments[0], "rb") as fh:
            if not fh.read(len(_EWF1)) == _EWF1:
                return None  # EWF2: pyewf
        lib = cls._library()
        if lib is None:
            return None
        pointer = ctypes.c_void_p()
        if lib.libewf_handle_initialize(ctypes.byref(pointer), None) != 1:
            return None
        names = (ctypes.c_char_p * len(segments))(*(os.fsencode(s) for s in segments))
        read_only = 1  # LIBEWF_OPEN_READ
        if lib.libewf_handle_open(pointer, names, len(segments), read_only, None) != 1:
            lib.libewf_handle_free(ctypes.byref(pointer), None)
            return None
        return cls(lib, pointer)

    def _get(self, name: str, kind: type[Any]) -> int:
        value = kind()
        if getattr(self.lib, name)(self._handle, ctypes.byref(value), None) != 1:
            raise OSError(f"{name} failed")
        return int(value.value)

    def get_media_size(self) -> int:
        return self._get("libewf_handle_get_media_size", ctypes.c_uint64)

    def get_bytes_per_sector(self) -> int:
        return self._get("libewf_handle_get_bytes_per_sector", ctypes.c_uint32)

    def get_chunk_size(self) -> int:
        return self._get("libewf_handle_get_chunk_size", ctypes.c_uint32)

    def read_buffer_at_offset(self, size: int, offset: int) -> bytes:
        # One buffer of up to 4 MiB, reused (callers hold a lock): no zeroing
        # per read, and string_at copies exactly what was read. A bigger read
        # (a whole carved picture) gets its own, freed after.
        if size <= self._REUSE:
            if self._size < size:
                self._buffer = ctypes.create_string_buffer(size)
                self._size = size
            buffer = self._buffer
        else:
            buffer = ctypes.create_string_buffer(size)
        if not self._handle.value:
            raise OSError("libewf: read of a closed image")
        got = self._read(self._handle, buffer, size, offset, self._error_ref)
        if got < 0:
            what = f"read of {size} bytes at {offset}"
            raise OSError(self._message(self._error, what))
        return ctypes.string_at(buffer, got)

    def get_hash_values(self) -> dict[str, str]:
        values = {}
        for name in ("MD5", "SHA1"):
            out = ctypes.create_string_buffer(128)
            found = self.lib.libewf_handle_get_utf8_hash_value(
                self._handle, name.encode(), len(name), out, len(out), None
            )
            if found == 1 and out.value:
                values[name] = out.value.decode("ascii", "replace")
        return values

    def _message(self, error: ctypes.c_void_p, what: str) -> str:
        if not error.value:
            return f"libewf: {what} failed"
        text = ctypes.create_string_buffer(2048)
        self.lib.libewf_error_sprint(error, text, len(text))
        self.lib.libewf_error_free(ctypes.byref(error))
        return text.value.decode("utf-8", "replace").strip() or f"libewf: {what}"

    def close(self) -> None:
        if self._handle.value:
            self.lib.libewf_handle_close(self._handle, None)
            self.lib.libewf_handle_free(ctypes.byref(self._handle), None)
            self._handle = ctypes.c_void_p()  # never hand libewf a freed handle


def _open_ewf(segments: Sequence[str]) -> Reader:
    _check_ewf1_segments(segments)
    handle: Any = _SystemEwf.open(segments)
    if handle is None:
        import pyewf

        handle = pyewf.handle()
        handle.open(list(segments), "r")
    return LibyalReader(handle, errors=_EwfErrors.of(handle))


def _stored_digest(reader: Reader) -> str | None:
    if not isinstance(reader, LibyalReader):
        return None
    values = reader._handle.get_hash_values()  # noqa: SLF001 - our own adapter
    parts = [f"{k.lower()}:{v}" for k, v in sorted(values.items()) if v]
    return " ".join(parts) or None


CONTAINERS.register(
    Container(
        "ewf",
        "EnCase/EWF (E01, Ex01)",
        lambda p, h, s: h.startswith((b"EVF\x09\x0d\x0a\xff\x00", b"EVF2\r\n\x81\x00")),
        _ewf_segments,
        _open_ewf,
        stored_digest=_stored_digest,
    )
)
