"""Open seized-device images, read-only, whatever container holds them.

Every container (raw, split raw, EWF, VMDK, VHD/VHDX, QCOW2) registers once in
``CONTAINERS``: a name, how to recognise it (signature first, file name only
for raw segments), how to find its segments from the first one, and how to
open them as a flat ``Reader``. ``open_device`` wraps the reader in
``ContainerImg``, a ``pytsk3.Img_Info`` subclass, so The Sleuth Kit reads any
container the same way; the subclass also counts the bytes read, which the
ingest benchmark reports.

Evidence is never written: raw segments are opened with ``open(path, "rb")``,
the libyal libraries (libewf, libvmdk, libvhdi, libqcow) with mode ``"r"``.
"""

from __future__ import annotations

import ctypes
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, NamedTuple, Protocol

import pytsk3

from triage.errors import EvidenceError
from triage.records import Device, Skipped, Stage

log = logging.getLogger(__name__)

SECTOR = 512
HEAD_BYTES = 512


class Reader(Protocol):
    """A flat, read-only view of the media inside a container."""

    size: int

    def read(self, offset: int, size: int) -> bytes: ...

    def close(self) -> None: ...


# --- raw and split raw ------------------------------------------------------


class RawReader:
    """One or more raw segment files read as one medium (``os.pread``)."""

    def __init__(self, segments: Sequence[str]) -> None:
        self._fds: list[int] = []
        self._starts: list[int] = []
        self._sizes: list[int] = []
        offset = 0
        try:
            for path in segments:
                fd = os.open(path, os.O_RDONLY)
                self._fds.append(fd)
                size = os.lseek(fd, 0, os.SEEK_END)  # block devices too
                self._starts.append(offset)
                self._sizes.append(size)
                offset += size
        except OSError:
            self.close()
            raise
        self.size = offset

    def read(self, offset: int, size: int) -> bytes:
        end = min(offset + size, self.size)
        parts: list[bytes] = []
        i = 0
        while offset < end:
            while i + 1 < len(self._starts) and self._starts[i + 1] <= offset:
                i += 1
            local = offset - self._starts[i]
            want = min(end - offset, self._sizes[i] - local)
            data = os.pread(self._fds[i], want, local)
            if not data:
                break
            parts.append(data)
            offset += len(data)
        return b"".join(parts)

    def close(self) -> None:
        for fd in self._fds:
            os.close(fd)
        self._fds = []


class _LibyalReader:
    """Adapts a libyal handle (pyewf/pyvmdk/pyvhdi/pyqcow) to ``Reader``.

    ``errors``: for EWF, what the image records as unreadable (``_EwfErrors``).
    libewf reads a chunk that fails its checksum as zeros; the reader lets it
    (Sleuth Kit can go on listing the rest) and keeps the damaged ranges a
    read touched for ``take_damage``, so that every one is reported.
    """

    def __init__(
        self,
        handle: Any,
        *,
        keep: Sequence[Any] = (),
        errors: _EwfErrors | None = None,
    ) -> None:
        self._handle = handle
        self._keep = list(keep)  # parent handles that must outlive this one
        self._lock = threading.Lock()  # libyal handles keep a current offset
        self.size = int(handle.get_media_size())
        self._errors = errors
        self._touched: set[tuple[int, int]] = set()

    def read(self, offset: int, size: int) -> bytes:
        size = max(0, min(size, self.size - offset))
        if size == 0:
            return b""
        with self._lock:
            data: bytes = self._handle.read_buffer_at_offset(size, offset)
            if self._errors is not None:
                self._touched.update(self._errors.touched(offset, offset + size))
        return data

    def damage_within(
        self, extents: Sequence[tuple[int, int]]
    ) -> list[tuple[int, int]]:
        """The damaged chunks known so far that lie in any of ``extents``."""
        if self._errors is None:
            return []
        with self._lock:
            return sorted(
                {piece for lo, hi in extents for piece in self._errors.known(lo, hi)}
            )

    def acquisition_gaps(self) -> list[tuple[int, int]]:
        """Byte ranges the acquisition could not read (zeros in the image)."""
        if self._errors is None:
            return []
        with self._lock:
            return self._errors.acquisition_gaps()

    def take_damage(self) -> list[tuple[int, int]]:
        """Damaged byte ranges (start, end) read since the last call."""
        with self._lock:
            touched, self._touched = self._touched, set()
        return sorted(touched)

    def close(self) -> None:
        self._handle.close()
        for parent in self._keep:
            parent.close()


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


# --- segment discovery --------------------------------------------------------

_NUMBERED = re.compile(r"^(?P<stem>.*\.)(?P<num>\d{3,})$")
_LETTERED = re.compile(r"^(?P<stem>.*\.)(?P<let>[a-z]{2})$")


def _split_names(path: Path) -> tuple[Callable[[int], Path], int] | None:
    """How to name segment ``i`` of a split raw set starting at ``path``."""
    if m := _NUMBERED.match(path.name):
        stem, digits = m["stem"], m["num"]
        first = int(digits)
        if first not in (0, 1):
            return None
        width = len(digits)
        return (lambda i: path.with_name(f"{stem}{first + i:0{width}d}")), first
    if (m := _LETTERED.match(path.name)) and m["let"] == "aa":
        stem = m["stem"]

        def lettered(i: int) -> Path:
            return path.with_name(f"{stem}{chr(97 + i // 26)}{chr(97 + i % 26)}")

        return lettered, 0
    return None


def _split_segments(path: Path) -> tuple[str, ...]:
    """All segments of a split raw set, refusing a set with a hole in it."""
    naming = _split_names(path)
    if naming is None:
        return (str(path),)
    name, _ = naming
    segments: list[str] = []
    i = 0
    while name(i).is_file():
        segments.append(str(name(i)))
        i += 1
    # A later segment after the first missing one means the set has a hole.
    for j in range(i + 1, i + 64):
        if name(j).is_file():
            raise EvidenceError(
                f"{path}: split raw segment {name(i).name} is missing "
                f"(found {name(j).name} after it)"
            )
    _check_split_sizes(path, segments)
    return tuple(segments)


def _check_split_sizes(path: Path, segments: Sequence[str]) -> None:
    """Splitting tools cut every segment but the last to one size. A segment
    of another size (a copy cut short, a file from another set) would shift
    every byte after it, so the set is refused rather than read wrong."""
    if len(segments) < 2:
        return
    size = os.stat(segments[0]).st_size
    for i, segment in enumerate(segments[1:], start=1):
        got = os.stat(segment).st_size
        last = i == len(segments) - 1
        if (got > size) if last else (got != size):
            raise EvidenceError(
                f"{path}: split raw segment {Path(segment).name} is {got} bytes, "
                f"but {Path(segments[0]).name} is {size}: "
                + ("the last segment is larger than the others" if last
                   else "segments before the last must all be the same size")
                + " (truncated copy, or a segment from another set?); "
                "not read, as every byte after it would be misplaced"
            )  # fmt: skip


def _is_later_segment(path: Path) -> bool:
    """True for .002/.E02/.ab ...: files that belong to a first segment."""
    if m := _NUMBERED.match(path.name):
        number, width = int(m["num"]), len(m["num"])
        first = [f for f in (0, 1) if f < number]
        return any(path.with_name(f"{m['stem']}{f:0{width}d}").is_file() for f in first)
    if m := _LETTERED.match(path.name):
        return m["let"] != "aa" and path.with_name(m["stem"] + "aa").is_file()
    if re.fullmatch(r"[EeLl](0[2-9]|[1-9]\d|[A-Za-z]{2})", path.suffix[1:]):
        return path.with_suffix(path.suffix[:2] + "01").is_file()
    if re.fullmatch(r"[EeLl]x(0[2-9]|[1-9]\d)", path.suffix[1:]):
        return path.with_suffix(path.suffix[:3] + "01").is_file()
    return False


# --- openers ------------------------------------------------------------------


def _open_raw(segments: Sequence[str]) -> Reader:
    return RawReader(segments)


def _ewf_segments(path: Path) -> tuple[str, ...]:
    import pyewf

    if _is_later_segment(path):  # given .E02: start from .E01
        path = path.with_suffix(path.suffix[:-2] + "01")

    if not re.fullmatch(r"\.[EeLlSs]x?01", path.suffix):
        # Renamed (e.g. exhibit.bin): libewf globs by extension only. One file;
        # the segment check refuses it if its last section says more follow.
        return (str(path),)
    try:
        return tuple(pyewf.glob(str(path)))
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot find EWF segments: {_clean(exc)}") from exc


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
    calls ``_LibyalReader`` and ``_stored_digest`` make of a ``pyewf.handle``.

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
    return _LibyalReader(handle, errors=_EwfErrors.of(handle))


def _open_vmdk(segments: Sequence[str]) -> Reader:
    import pyvmdk

    handle = pyvmdk.handle()
    handle.open(segments[0], "r")
    handle.open_extent_data_files()
    parent = handle.get_parent_filename()
    if parent:
        handle.close()
        raise EvidenceError(
            f"{segments[0]}: VMDK is a differencing image; its parent "
            f"{parent!r} is not supported"
        )
    return _LibyalReader(handle)


def _open_vhdi(segments: Sequence[str]) -> Reader:
    import pyvhdi

    handle = pyvhdi.file()
    handle.open(segments[0], "r")
    if handle.get_disk_type() == pyvhdi.disk_types.DIFFERENTIAL:
        parent = handle.get_parent_filename() or "unknown"
        handle.close()
        raise EvidenceError(
            f"{segments[0]}: differential VHD needs its parent image "
            f"{parent!r}, which is not provided (differential images are not "
            "supported)"
        )
    return _LibyalReader(handle)


def _open_qcow(segments: Sequence[str]) -> Reader:
    import pyqcow

    handle = pyqcow.file()
    handle.open(segments[0], "r")
    backing = handle.get_backing_filename()
    if backing:
        handle.close()
        raise EvidenceError(
            f"{segments[0]}: QCOW2 image has a backing file {backing!r}, "
            "which is not supported"
        )
    return _LibyalReader(handle)


# --- registry -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Container:
    """One evidence container format."""

    name: str
    description: str
    matches: Callable[[Path, bytes, int], bool]  # (path, first bytes, file size)
    segments: Callable[[Path], tuple[str, ...]]
    open: Callable[[Sequence[str]], Reader]


def _vhd_footer(path: Path, size: int) -> bool:
    if size < 512:
        return False
    with open(path, "rb") as fh:
        fh.seek(size - 512)
        return fh.read(8) == b"conectix"


def _single(path: Path) -> tuple[str, ...]:
    return (str(path),)


def _looks_split(path: Path, head: bytes, size: int) -> bool:
    naming = _split_names(path)
    # Any later segment makes it a set (a hole is reported when it is opened).
    return naming is not None and any(naming[0](i).is_file() for i in range(1, 64))


def _looks_raw(path: Path, head: bytes, size: int) -> bool:
    # A raw image is a whole number of sectors; a text file almost never is.
    return size > 0 and size % SECTOR == 0


CONTAINERS: dict[str, Container] = {}


def register(container: Container) -> None:
    """Add a container format; names are unique."""
    if container.name in CONTAINERS:
        raise ValueError(f"container {container.name!r} is already registered")
    CONTAINERS[container.name] = container


# Order matters: signatures first, raw (no signature) last.
for _c in (
    Container(
        "ewf",
        "EnCase/EWF (E01, Ex01)",
        lambda p, h, s: h.startswith((b"EVF\x09\x0d\x0a\xff\x00", b"EVF2\r\n\x81\x00")),
        _ewf_segments,
        _open_ewf,
    ),
    Container(
        "vmdk",
        "VMware VMDK",
        lambda p, h, s: h.startswith((b"KDMV", b"COWD", b"# Disk DescriptorFile")),
        _single,
        _open_vmdk,
    ),
    Container(
        "vhdx",
        "Hyper-V VHDX",
        lambda p, h, s: h.startswith(b"vhdxfile"),
        _single,
        _open_vhdi,
    ),
    Container(
        "vhd",
        "Virtual PC VHD",
        lambda p, h, s: h.startswith(b"conectix") or _vhd_footer(p, s),
        _single,
        _open_vhdi,
    ),
    Container(
        "qcow",
        "QEMU QCOW/QCOW2",
        lambda p, h, s: h.startswith(b"QFI\xfb"),
        _single,
        _open_qcow,
    ),
    Container(
        "split", "split raw (.000/.001/.aa)", _looks_split, _split_segments, _open_raw
    ),
    Container("raw", "raw (dd) image", _looks_raw, _single, _open_raw),
):
    register(_c)


def identify(path: Path | str) -> Container:
    """The container format of ``path``, by signature (name only for split raw).

    Raises:
        EvidenceError: missing, empty, unreadable or not a disk image.
    """
    path = Path(path)
    try:
        if path.is_dir():
            raise EvidenceError(f"{path}: is a folder, not an evidence file")
        with open(path, "rb") as fh:
            # st_size is 0 for a block device (a write-blocked disk): seek.
            size = fh.seek(0, os.SEEK_END)
            fh.seek(0)
            head = fh.read(HEAD_BYTES)
    except FileNotFoundError as exc:
        raise EvidenceError(f"{path}: no such evidence file") from exc
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if size == 0:
        raise EvidenceError(f"{path}: empty file (0 bytes), not a disk image")
    for container in CONTAINERS.values():
        if container.matches(path, head, size):
            return container
    raise EvidenceError(
        f"{path}: not a disk image: no known container signature "
        f"({', '.join(CONTAINERS)}) and its size ({size} bytes) is not a "
        "whole number of 512-byte sectors"
    )


def discover_segments(path: Path | str) -> tuple[str, ...]:
    """Every segment file of the evidence whose first segment is ``path``."""
    path = Path(path).absolute()
    return identify(path).segments(path)


_RAW_SUFFIXES = frozenset({".dd", ".raw", ".img", ".bin", ".iso", ".dmg", ".ima"})


def find_evidence(folder: Path | str) -> list[Path]:
    """Evidence files under ``folder`` (first segments only), sorted.

    A file counts when it has a container signature, or a raw/split-raw name
    (``.dd``, ``.raw``, ``.img``, ``.001`` ...) and a whole number of sectors,
    so notes and hash lists beside the images are not mistaken for disks.
    """
    found: list[Path] = []
    for path in sorted(Path(folder).rglob("*")):
        if not path.is_file() or _is_later_segment(path):
            continue
        try:
            container = identify(path)
        except EvidenceError:
            continue
        if container.name == "raw" and path.suffix.lower() not in _RAW_SUFFIXES:
            if _split_names(path) is None:
                continue
        found.append(path)
    return found


# --- the handle ---------------------------------------------------------------


class ZeroRuns:
    """Long runs of zero bytes seen in what was read, merged as reads follow
    one another (Sleuth Kit's FAT orphan search reads all free space in 64
    KiB blocks, in order).

    Only runs of at least ``min_run`` bytes are kept, and at most
    ``max_runs`` of them (a few MB of memory at worst); reads that are not
    all zeros are ignored. What it reports is what the reader gave: a damaged
    E01 chunk, which libewf reads as zeros, is zeros here too (and reported
    as damage by the reader).
    """

    def __init__(self, min_run: int = 1 << 20, max_runs: int = 1 << 16) -> None:
        self.min_run = min_run
        self.max_runs = max_runs
        self._done: list[tuple[int, int]] = []
        self._start = self._end = -1

    def saw(self, offset: int, data: bytes) -> None:
        """Note a read of ``data`` at ``offset``."""
        if not data or data != _zeros(len(data)):
            return
        end = offset + len(data)
        if self._start <= offset <= self._end:
            self._end = max(self._end, end)
            return
        self._close()
        self._start, self._end = offset, end

    def _close(self) -> None:
        if self._end - self._start >= self.min_run and len(self._done) < self.max_runs:
            self._done.append((self._start, self._end))
        self._start = self._end = -1

    def runs(self) -> list[tuple[int, int]]:
        """The runs so far, (start, end) absolute, sorted and disjoint."""
        found = list(self._done)
        if self._end - self._start >= self.min_run:
            found.append((self._start, self._end))
        merged: list[tuple[int, int]] = []
        for start, end in sorted(found):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged


@lru_cache(maxsize=8)
def _zeros(size: int) -> bytes:
    return bytes(size)


class ContainerImg(pytsk3.Img_Info):
    """A ``pytsk3.Img_Info`` over any ``Reader``, counting what TSK reads
    (and, when ``zero_runs`` is set, noting long runs of zeros in it)."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader
        self.bytes_read = 0
        self.read_calls = 0
        self.read_error: str | None = None
        self.zero_runs: ZeroRuns | None = None
        super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

    def read(self, offset: int, size: int) -> bytes:
        try:
            data = self._reader.read(offset, size)
        except OSError as exc:
            # Sleuth Kit turns this into its own vague error; keep the real one.
            self.read_error = f"cannot read {size} bytes at offset {offset}: " + (
                _clean(exc)
            )
            raise
        self.bytes_read += len(data)
        self.read_calls += 1
        if self.zero_runs is not None:
            self.zero_runs.saw(offset, data)
        return data

    def get_size(self) -> int:
        return self._reader.size

    def close(self) -> None:
        """TSK calls this too; the reader is closed by ``DeviceHandle``."""


class DeviceHandle:
    """An open device: its ``Device`` record, a reader and a TSK image.

    Use as a context manager. ``fs_cache`` keeps one ``pytsk3.FS_Info`` per
    partition offset, so walking and reading share the parsed filesystem.
    """

    def __init__(self, device: Device, reader: Reader) -> None:
        self.device = device
        self._reader = reader
        self.img_info = ContainerImg(reader)
        self.fs_cache: dict[int, Any] = {}
        self._gaps: list[tuple[int, int]] | None = None

    @property
    def size(self) -> int:
        return self._reader.size

    @property
    def bytes_read(self) -> int:
        """Bytes read from the evidence through TSK and ``read`` so far."""
        return int(self.img_info.bytes_read)

    def read(self, offset: int, size: int) -> bytes:
        """Read media bytes by absolute offset (short at the end of the media).

        Raises:
            EvidenceError: the container could not deliver the bytes.
        """
        try:
            return bytes(self.img_info.read(offset, size))
        except OSError as exc:
            raise EvidenceError(
                f"{self.device.device_id}: {self.take_read_error() or exc}"
            ) from exc

    def watch_zeros(self) -> ZeroRuns:
        """From now on, note long runs of zeros in what is read through this
        handle (Sleuth Kit's reads and ``read``), so that a later pass over
        the same bytes (carving free space the walk has read) can leave them
        out."""
        if self.img_info.zero_runs is None:
            self.img_info.zero_runs = ZeroRuns()
        return self.img_info.zero_runs

    def take_damage(self) -> list[tuple[int, int]]:
        """Byte ranges (start, end) read since the last call that the
        container knows are damaged (E01 chunks failing their checksum, which
        read as zeros). Empty for containers that cannot tell."""
        take = getattr(self._reader, "take_damage", None)
        return take() if take is not None else []

    def damage_within(
        self, extents: Sequence[tuple[int, int]]
    ) -> list[tuple[int, int]]:
        """The damaged chunks found so far that lie in ``extents`` (absolute
        byte ranges): a read of those bytes, even one Sleuth Kit served from
        its cache, got zeros there."""
        within = getattr(self._reader, "damage_within", None)
        return within(extents) if within is not None else []

    def damage_skips(self) -> list[Skipped]:
        """``take_damage`` as ``Skipped`` records, one per damaged chunk."""
        return damage_records(self.device.device_id, self.take_damage())

    def acquisition_gaps(self) -> list[tuple[int, int]]:
        """Byte ranges of the original device the acquisition could not read,
        as the image records them (E01 error2 section); they hold zeros.
        Empty for containers that record none."""
        if self._gaps is None:
            gaps = getattr(self._reader, "acquisition_gaps", None)
            self._gaps = gaps() if gaps is not None else []
        return self._gaps

    def acquisition_skips(self) -> list[Skipped]:
        """``acquisition_gaps`` as ``Skipped`` records (stage ``acquisition``)."""
        return unreadable_records(
            self.device.device_id,
            [Unreadable(lo, hi, UNACQUIRED) for lo, hi in self.acquisition_gaps()],
        )

    def has_unreadable(self) -> bool:
        """Whether any part of the device is known to read as zeros in place
        of its content (damaged chunks found so far, or acquisition gaps)."""
        return bool(self.acquisition_gaps() or self.damage_within([(0, self.size)]))

    def unreadable_within(self, extents: Sequence[tuple[int, int]]) -> list[Unreadable]:
        """The damaged chunks (found so far) and acquisition gaps in
        ``extents`` (absolute byte ranges), clipped to them."""
        out = [Unreadable(lo, hi, DAMAGED) for lo, hi in self.damage_within(extents)]
        for lo, hi in self.acquisition_gaps():
            for start, end in extents:
                if lo < end and start < hi:
                    out.append(Unreadable(max(lo, start), min(hi, end), UNACQUIRED))
        return sorted(set(out))

    def take_read_error(self) -> str | None:
        """The last container read error (then forgotten), if any.

        Sleuth Kit reports a failed read of the container in its own words;
        this is what the container library actually said.
        """
        message, self.img_info.read_error = self.img_info.read_error, None
        return message

    def close(self) -> None:
        self.fs_cache.clear()
        self._reader.close()

    def __enter__(self) -> DeviceHandle:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


DAMAGE_REASON = (
    "E01 chunk fails its checksum or cannot be read (damaged image): read as zeros"
)
UNACQUIRED_REASON = (
    "the acquisition could not read these sectors of the original device (the "
    "E01 records it): the image holds zeros there, not their content"
)
DAMAGED, UNACQUIRED = "damaged E01 chunk", "not acquired"


class Unreadable(NamedTuple):
    """A byte range of the device whose content the image cannot give: a
    ``DAMAGED`` chunk or an ``UNACQUIRED`` gap. Both read as zeros."""

    start: int
    end: int
    kind: str

    def __str__(self) -> str:
        return f"bytes {self.start}-{self.end - 1} ({self.kind})"


def unreadable_records(device_id: str, ranges: Sequence[Unreadable]) -> list[Skipped]:
    """One ``Skipped`` per range: stage ``evidence`` for a damaged chunk,
    ``acquisition`` for a gap, location ``bytes A-B``."""
    return [
        Skipped.at_bytes(device_id, u.start, u.end, Stage.EVIDENCE, DAMAGE_REASON)
        if u.kind == DAMAGED
        else Skipped.at_bytes(
            device_id, u.start, u.end, Stage.ACQUISITION, UNACQUIRED_REASON
        )
        for u in ranges
    ]


def damage_records(device_id: str, ranges: Sequence[tuple[int, int]]) -> list[Skipped]:
    """One ``Skipped`` (stage ``evidence``, location ``bytes A-B``) per
    damaged range. The reason does not say what was reading, so the row is
    the same whichever reader found it first (resumed scans stay equal)."""
    return unreadable_records(
        device_id, [Unreadable(lo, hi, DAMAGED) for lo, hi in ranges]
    )


def _stored_digest(container: str, reader: Reader) -> str | None:
    if not isinstance(reader, _LibyalReader) or container != "ewf":
        return None
    values = reader._handle.get_hash_values()  # noqa: SLF001 - our own adapter
    parts = [f"{k.lower()}:{v}" for k, v in sorted(values.items()) if v]
    return " ".join(parts) or None


def open_device(path: Path | str, device_id: str | None = None) -> DeviceHandle:
    """Open evidence read-only, whatever its container, as a ``DeviceHandle``.

    ``Device.stored_digest`` holds the digests recorded in an E01
    ("md5:<hex> sha1:<hex>", space-separated) when present.

    Raises:
        EvidenceError: naming the file and the container, for anything that
            will not open (missing segment, truncated E01, no parent, ...).
    """
    path = Path(path).absolute()
    container = identify(path)
    segments = container.segments(path)
    try:
        reader = container.open(segments)
    except EvidenceError:
        raise
    except (OSError, RuntimeError, ValueError) as exc:
        raise EvidenceError(
            f"{path}: cannot open as {container.description}: {_clean(exc)}"
        ) from exc
    device = Device(
        device_id=device_id or path.name,
        segments=tuple(segments),
        container=container.name,
        size=reader.size,
        stored_digest=_stored_digest(container.name, reader),
    )
    return DeviceHandle(device, reader)


def _clean(exc: BaseException) -> str:
    """The useful last line of a libyal error (they stack every caller)."""
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__
