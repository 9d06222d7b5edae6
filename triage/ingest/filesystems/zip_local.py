"""Zip members found by their local headers, not by the central directory.

A truncated copy of a phone extraction has lost its central directory (it
is at the end), and a damaged one may lose it part-way: the members are
still there, each behind its local header. ``LocalHeaders`` walks them
first to last; a member whose sizes are only in a data descriptor after its
data (a zip written as a stream) is measured: a deflated one by inflating
it to its end, a stored one by the first descriptor that agrees with the
bytes before it. ``local_member`` reads one member (stored or deflated)
from its local header, which is also how members the directory names are
read.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterator
from typing import Any

from triage.ingest.filesystems.base import RecordIO
from triage.ingest.filesystems.zip_directory import zip64_values

LOCAL = b"PK\x03\x04"
_LOCAL_FMT = "<4sHHHHHIIIHH"  # signature .. extra length (30 bytes)
_DESCRIPTOR = b"PK\x07\x08"
#: Compression methods read from local headers.
METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)


class LocalHeader:
    """One member found by its local header (or ``lost``: why not)."""

    def __init__(
        self,
        name: str,
        offset: int,
        size: int,
        data_end: int,
        lost: str = "",
        unread: str = "",
    ) -> None:
        self.name, self.offset, self.size = name, offset, size
        self.data_end, self.lost = data_end, lost
        self.unread = unread  # why its data is not read ("encrypted", ...)


class LocalHeaders:
    """The members of a zip read from its local headers, first to last:
    for a zip whose central directory is gone. A member whose data runs past
    the end comes as ``lost``; the walk ends at the first byte that is not a
    local header (``end``)."""

    def __init__(self, fh: RecordIO, size: int, start: int = 0) -> None:
        self._fh, self._size, self._start = fh, size, start
        self.count, self.end = 0, start

    def __iter__(self) -> Iterator[LocalHeader]:
        at = self._start
        while at + 30 <= self._size:
            header = read_local(self._fh, at, self._size)
            if header is None:
                break
            self.end = at = header.data_end
            if header.lost:
                yield header
                break
            self.count += 1
            yield header


#: What may follow a member's data and its data descriptor.
_NEXT_HEADERS = (LOCAL, b"PK\x01\x02", b"PK\x05\x06", b"PK\x06\x06")


def after_data(fh: RecordIO, data_end: int, total: int) -> int:
    """Where the next header starts after a member whose data ends at
    ``data_end`` (its size known, as from the central directory): past its
    data descriptor, of whatever form (with or without signature, 4- or
    8-byte sizes); ``data_end`` when no header follows within 32 bytes."""
    fh.seek(data_end)
    near = fh.read(min(32, max(0, total - data_end)))
    found = [at for at in (near.find(h) for h in _NEXT_HEADERS) if at >= 0]
    return data_end + min(found) if found else data_end


def _local_fields(fh: Any, at: int) -> tuple[int, ...] | None:
    """The fixed fields of the local header at ``at`` (signature .. extra
    length; None: no local header there)."""
    fh.seek(at)
    raw = fh.read(30)
    if len(raw) < 30 or raw[:4] != LOCAL:
        return None
    return struct.unpack(_LOCAL_FMT, raw)


def data_start(fh: RecordIO, at: int) -> int | None:
    """Where the data of the member whose local header is at ``at`` starts
    (None: no local header there)."""
    fields = _local_fields(fh, at)
    return None if fields is None else at + 30 + fields[9] + fields[10]


def read_local(fh: RecordIO, at: int, total: int) -> LocalHeader | None:
    """The member whose local header is at ``at`` (None: no header there)."""
    fields = _local_fields(fh, at)
    if fields is None:
        return None
    _, _, flags, method, _, _, _, csize, usize, nlen, xlen = fields
    name = fh.read(nlen).decode("utf-8" if flags & 0x800 else "cp437", "replace")
    extra = fh.read(xlen)
    data = at + 30 + nlen + xlen
    try:
        usize, csize, _ = zip64_values(extra, usize, csize, 0)
    except struct.error:  # a zip64 field cut short: the copy ends here
        return LocalHeader(
            name, at, 0, total,
            f"member {name!r} (local header at byte {at}) has a damaged zip64 "
            "field; lost with all after it",
        )  # fmt: skip
    unread = "encrypted" if flags & 0x1 else ""
    if method not in METHODS:
        unread = unread or f"compression {method}"
    if flags & 0x8 and (unread or method not in METHODS):
        return LocalHeader(
            name, at, 0, total,
            f"member {name!r} (local header at byte {at}) is {unread} with its "
            "size only in a data descriptor: where it ends cannot be found; "
            "lost with all after it",
        )  # fmt: skip
    if flags & 0x8:  # sizes in a data descriptor after the data
        wide = _has_zip64(extra)
        if method == zipfile.ZIP_STORED:
            # 8-byte sizes without a zip64 field too (Go, Java over 4 GiB)
            csize = _measure_stored(fh, data, total, wide)
            if csize < 0:
                csize = _measure_stored(fh, data, total, not wide)
            usize = csize
        else:
            csize, usize = _measure(fh, data, method, total)
        if csize < 0:
            return LocalHeader(
                name, at, 0, total,
                f"member {name!r} (local header at byte {at}) is cut off: "
                "its data runs past the end of the zip; lost",
            )  # fmt: skip
        end = after_data(fh, data + csize, total)
        if end == data + csize:  # no header follows: the descriptor's own size
            fh.seek(end)
            sizes = 16 if wide else 8  # in the descriptor: 2 x 8 or 2 x 4
            end += 4 + sizes + (4 if fh.read(4) == _DESCRIPTOR else 0)
    else:
        end = data + csize
    if end > total:
        return LocalHeader(
            name, at, 0, total,
            f"member {name!r} (local header at byte {at}) is cut off at byte "
            f"{total} of its {csize} bytes; lost",
        )  # fmt: skip
    return LocalHeader(name, at, usize, end, unread=unread)


def _has_zip64(extra: bytes) -> bool:
    """Whether a local header's extra fields hold a zip64 one (then its data
    descriptor's sizes are 8 bytes each)."""
    at = 0
    while at + 4 <= len(extra):
        tag, size = struct.unpack_from("<HH", extra, at)
        if tag == 0x0001:
            return True
        at += 4 + size
    return False


def _measure_stored(fh: RecordIO, data: int, total: int, zip64: bool) -> int:
    """Size of a stored member with no sizes in its header (-1: none found):
    where the first data descriptor that agrees with the bytes before it
    follows them. A descriptor agrees when both its sizes equal their count
    and its CRC-32 theirs; it is found by its own signature, or (written
    without one) 12 or 20 bytes before the next header's signature or the
    end. Read forward once, 1 MiB at a time, the CRC carried along."""
    sizes = "<QQ" if zip64 else "<II"
    length = 4 + struct.calcsize(sizes)  # CRC-32 and two sizes
    crc, at = 0, data  # the CRC-32 of the bytes from data to at
    while at < total:
        fh.seek(at)
        step = min(1 << 20, total - at)
        block = fh.read(step + length + 8)  # a descriptor starting inside is whole
        done = 0  # crc covers block[:done]: carried from candidate to candidate
        for end in _descriptor_starts(block, step, length, at + len(block) >= total):
            fields = block[end : end + 4 + length]
            fields = fields[4:] if fields[:4] == _DESCRIPTOR else fields[:length]
            if len(fields) < length:
                continue
            csize, usize = struct.unpack(sizes, fields[4:])
            if not csize == usize == at - data + end:
                continue
            crc, done = zlib.crc32(block[done:end], crc), end
            if fields[:4] == struct.pack("<I", crc):
                return csize
        crc = zlib.crc32(block[done:step], crc)
        at += step
    return -1


def _descriptor_starts(block: bytes, step: int, length: int, last: bool) -> list[int]:
    """Offsets below ``step`` in ``block`` where a data descriptor could
    start: its signature, or ``length`` bytes before a header's (or before
    the end of the zip, when ``block`` reaches it), in order."""
    found = set()
    for signature in (_DESCRIPTOR, *_NEXT_HEADERS):
        at = block.find(signature)
        while at >= 0:
            start = at if signature == _DESCRIPTOR else at - length
            if 0 <= start < step:
                found.add(start)
            at = block.find(signature, at + 1)
    if last and 0 <= len(block) - length < step:
        found.add(len(block) - length)
    return sorted(found)


def _measure(fh: RecordIO, data: int, method: int, total: int) -> tuple[int, int]:
    """(compressed, uncompressed) size of a deflated member with no sizes in
    its header, by inflating it to its end; (-1, -1) when it is cut off."""
    if method != zipfile.ZIP_DEFLATED:
        return -1, -1
    inflate = zlib.decompressobj(-15)
    fh.seek(data)
    used = out = 0
    while not inflate.eof:
        block = fh.read(1 << 20)
        if not block:
            return -1, -1
        try:  # counted 1 MiB at a time: a bomb is never held
            out += len(inflate.decompress(block, 1 << 20))
            while inflate.unconsumed_tail and not inflate.eof:
                out += len(inflate.decompress(inflate.unconsumed_tail, 1 << 20))
        except zlib.error:
            return -1, -1
        used += len(block) - len(inflate.unused_data)
    return used, out


class _LocalMember:
    """A member read from its local header: stored or deflated, forward
    with restart."""

    def __init__(self, fh: Any, method: int, data: int, size: int) -> None:
        self._fh, self._method, self._data, self._size = fh, method, data, size
        self._at, self._inflate, self._pos = data, zlib.decompressobj(-15), 0
        self._pending = b""

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int) -> None:
        if self._method == zipfile.ZIP_STORED:
            self._pos = offset
            return
        if offset < self._pos:
            self._at, self._pos, self._pending = self._data, 0, b""
            self._inflate = zlib.decompressobj(-15)
        while self._pos < offset:
            if not self.read(min(offset - self._pos, 1 << 20)):
                break

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            size = self._size - self._pos
        size = max(0, min(size, self._size - self._pos))
        if self._method == zipfile.ZIP_STORED:
            self._fh.seek(self._data + self._pos)
            data = bytes(self._fh.read(size))
            self._pos += len(data)
            return data
        while len(self._pending) < size and not self._inflate.eof:
            block = self._inflate.unconsumed_tail
            if not block:
                self._fh.seek(self._at)
                block = bytes(self._fh.read(1 << 16))
                if not block:
                    break
                self._at += len(block)
            # Bounded output: memory stays at what was asked for.
            want = max(size - len(self._pending), 1 << 16)
            self._pending += self._inflate.decompress(block, want)
        data, self._pending = self._pending[:size], self._pending[size:]
        self._pos += len(data)
        return data


def local_member(fh: Any, at: int, size: int) -> _LocalMember:
    """The member whose local header is at ``at``, ``size`` bytes once read
    (from the central directory or the record), as a forward stream.

    Raises:
        ValueError: no local header there.
        NotImplementedError: a compression other than stored or deflate.
    """
    fields = _local_fields(fh, at)
    if fields is None:
        raise ValueError(f"no local header at byte {at}")
    method, nlen, xlen = fields[3], fields[9], fields[10]
    if method not in METHODS:
        raise NotImplementedError(f"compression method {method} (local header)")
    return _LocalMember(fh, method, at + 30 + nlen + xlen, size)


# --- tar and Android backups ------------------------------------------------------
