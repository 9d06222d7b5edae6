"""The members of a tar stream, walked with bounds and past damage.

``walk_tar`` reads a tar (plain, or the decompressed stream of a compressed
tar or ``.ab``) forward, one header at a time, and keeps no header behind
it. It yields a ``TarMember`` per regular file (and per hard link whose
target it has seen) and a ``TarLost`` for what it could not list:

- a header that is not valid in the middle: the walk looks for the next
  valid ustar header (512-byte aligned, checksum right) and goes on there,
  naming the bytes it passed over; with none after it, "the rest is lost".
  (A valid header found that way may belong to a tar stored inside a
  member: the skip says where the walk resumed.) An end-of-archive zero
  block followed by a valid header later is passed over the same way; one
  followed by zeros or nothing is the tar's end. A header cut off by the
  end of the data is recorded.
- a GNU long-name/long-link or pax extended header over ``HEADER_LIMIT``
  is not read into memory: it is passed over and the member after it is
  listed with the name of its own header, with a skip saying so.
- a hard link to a member among the last ``LINK_TARGETS`` regular members
  is listed at its own path, read from the target's data; one to an older
  or unknown target is a skip naming both paths.
- a sparse member is a skip (not read).
- an error that ends the stream (cut off, bad compression) ends the walk
  with a skip naming the last member read.
"""

from __future__ import annotations

import os
import tarfile
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

#: A GNU long-name or pax extended header larger than this is not read.
HEADER_LIMIT = 1 << 20
#: Regular members remembered as hard-link targets (path -> data offset).
LINK_TARGETS = 1 << 16
BLOCK = tarfile.BLOCKSIZE
_SCAN = 1 << 20  # bytes read at a time while looking for a valid header


class TarMember(NamedTuple):
    """A regular member: its name in the tar, data offset, size, mtime."""

    name: str
    offset: int
    size: int
    mtime: float | None


@dataclass(frozen=True)
class TarLost:
    """What the walk could not list, why, and the member name (None: the
    tar itself)."""

    reason: str
    name: str | None = None


class BoundedTarInfo(tarfile.TarInfo):
    """A ``TarInfo`` that passes over a long-name or pax header over
    ``HEADER_LIMIT`` instead of reading it whole; ``note`` says so on the
    member after it."""

    __slots__ = ("note",)
    note: str  # set only on a member after a header passed over

    def _proc_gnulong(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        if self.size <= HEADER_LIMIT:
            return super()._proc_gnulong(tar)  # type: ignore[misc]
        link = self.type == tarfile.GNUTYPE_LONGLINK
        return self._pass_over(tar, "GNU long link" if link else "GNU long name")

    def _proc_pax(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        if self.size <= HEADER_LIMIT:
            return super()._proc_pax(tar)  # type: ignore[misc]
        return self._pass_over(tar, "pax extended header")

    def _pass_over(self, tar: tarfile.TarFile, what: str) -> tarfile.TarInfo:
        fh = tar.fileobj
        assert fh is not None
        fh.seek(fh.tell() + self._block(self.size))  # type: ignore[attr-defined]
        try:
            nxt = self.fromtarfile(tar)
        except tarfile.HeaderError as exc:
            raise tarfile.SubsequentHeaderError(str(exc)) from None  # type: ignore[attr-defined]
        note = (
            f"{what} of {self.size} bytes at byte {self.offset} not read (over "
            f"{HEADER_LIMIT} bytes): the member after it is listed by the name "
            "in its own header"
        )
        nxt.note = "; ".join(n for n in (note, getattr(nxt, "note", "")) if n)
        return nxt


class _Tape:
    """The tar's bytes as ``tarfile`` reads them, keeping the last read (up
    to ``_SCAN`` bytes) so that the walk can look again at a header
    ``tarfile`` refused, or resume inside what it scanned, without seeking
    a decompressed stream back (which would restart it)."""

    def __init__(self, fh: Any) -> None:
        self._fh = fh
        self._pos = self._under = fh.tell()
        self._kept, self._kept_at = b"", self._pos

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            offset += self._pos
        elif whence != os.SEEK_SET:
            raise OSError("tar stream: no seek from the end")
        self._pos = offset
        return offset

    def read(self, size: int = -1) -> bytes:
        out, begin = b"", self._pos
        if self._kept_at <= self._pos < self._kept_at + len(self._kept):
            start = self._pos - self._kept_at
            out = self._kept[start : start + size if size >= 0 else None]
            self._pos += len(out)
            if size >= 0:
                size -= len(out)
                if size == 0:
                    return out
        if self._under != self._pos:
            self._fh.seek(self._pos)
            self._under = self._pos
        data = bytes(self._fh.read(size))
        self._under += len(data)
        self._pos += len(data)
        self._kept, self._kept_at = out + data, begin
        return self._kept


def _is_header(block: bytes) -> bool:
    try:
        tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
    except tarfile.HeaderError:
        return False
    return True


def _next_header(tape: _Tape, start: int) -> int | None:
    """The offset of the first valid ustar header at or after ``start``
    (512-byte aligned), read forward ``_SCAN`` bytes at a time; None when
    the data ends first."""
    at = start
    while True:
        tape.seek(at)
        chunk = tape.read(_SCAN)
        if len(chunk) < BLOCK:
            return None
        found = chunk.find(b"ustar", 257)
        while found >= 0:
            head = found - 257
            if (at + head) % BLOCK == 0 and _is_header(chunk[head : head + BLOCK]):
                return at + head
            found = chunk.find(b"ustar", found + 1)
        at += len(chunk) - len(chunk) % BLOCK


def _stopped(tar: tarfile.TarFile, tape: _Tape) -> tuple[str, int | None] | None:
    """Why ``tarfile`` found no header at ``tar.offset``: None at a clean
    end, else (what to record, the offset to resume at or None)."""
    at = tar.offset
    tape.seek(at)
    block = tape.read(BLOCK)
    if not block:
        return None
    if len(block) < BLOCK:
        return f"tar cut off at byte {at + len(block)} inside a header; lost", None
    resume = _next_header(tape, at + BLOCK)
    if block.count(0) == BLOCK:
        if resume is None:
            return None  # the end-of-archive blocks (and padding)
        return (
            f"tar has an end-of-archive block at byte {at} but a valid header "
            f"at byte {resume}: bytes {at} to {resume} passed over, the walk "
            "goes on there",
            resume,
        )
    if resume is None:
        return f"tar stops at byte {at}: invalid header; the rest is lost", None
    return (
        f"tar header at byte {at} is invalid: bytes {at} to {resume} passed "
        f"over (the member(s) there are lost); the walk goes on at the next "
        f"valid header, byte {resume}",
        resume,
    )


def _unreadable(
    tar: tarfile.TarFile,
    tape: _Tape,
    exc: Exception,
    lost: str,
    errors: tuple[type[BaseException], ...],
) -> tuple[str, int | None]:
    """What to record when ``tarfile`` raised at the header at
    ``tar.offset`` (a long-name header whose member header is bad, data cut
    off, a damaged stream), and where to go on: at the next valid header
    after it, if the stream can still be read and has one."""
    at = tar.offset
    try:
        resume = _next_header(tape, at + BLOCK)
    except errors:
        return lost, None
    if resume is None:
        return lost, None
    return (
        f"tar header at byte {at} cannot be read ({exc}): bytes {at} to "
        f"{resume} passed over (the member(s) there are lost); the walk goes "
        f"on at the next valid header, byte {resume}",
        resume,
    )


def open_tar(fileobj: Any) -> tuple[tarfile.TarFile, _Tape]:
    """The tar over ``fileobj``, read through a ``_Tape``.

    Raises:
        tarfile.TarError, OSError, EOFError, zlib.error, lzma.LZMAError: not
            a readable tar.
    """
    tape = _Tape(fileobj)
    return _TarFile(fileobj=tape, mode="r", tarinfo=BoundedTarInfo), tape


class _TarFile(tarfile.TarFile):
    """A ``TarFile`` that does not read its first header when opened: the
    walk reads it like any other, so a bad one there is walked past too."""

    _opening = False

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._opening = True
        super().__init__(*args, **kwargs)
        self._opening = False

    def next(self) -> tarfile.TarInfo | None:
        return None if self._opening else super().next()


def walk_tar(
    tar: tarfile.TarFile, tape: _Tape, errors: tuple[type[BaseException], ...]
) -> Iterator[TarMember | TarLost]:
    """The members of ``tar`` (from ``open_tar``), in order; ``errors``
    end the walk with a skip."""
    targets: OrderedDict[str, TarMember] = OrderedDict()
    last = "(start)"
    while True:
        lost = f"tar stops after member {last!r}: %s; the rest is lost"
        info: tarfile.TarInfo | None = None
        try:
            info = tar.next()
            stop = None if info is not None else _stopped(tar, tape)
        except tarfile.ReadError as exc:  # a header tarfile gave up on
            stop = _unreadable(tar, tape, exc, lost % exc, errors)
            if stop[1] is None and tar.offset == 0:
                raise  # no header anywhere: not a readable tar
        except errors as exc:
            stop = lost % exc, None
        if info is None:
            if stop is None:
                return
            yield TarLost(stop[0])
            if stop[1] is None:
                return
            tar.offset = stop[1]
            tape.seek(stop[1])
            continue
        tar.members.clear()  # type: ignore[attr-defined]
        last = info.name
        if getattr(info, "note", ""):
            yield TarLost(info.note, info.name)  # type: ignore[attr-defined]
        yield from _member(info, targets)


def _key(name: str) -> str:
    if "/." not in name and "//" not in name and name[:1] not in ("/", "."):
        return name.rstrip("/")  # the usual name: already its key
    return "/".join(p for p in name.split("/") if p not in ("", "."))


def _member(
    info: tarfile.TarInfo, targets: OrderedDict[str, TarMember]
) -> Iterator[TarMember | TarLost]:
    if info.issparse():
        yield TarLost("sparse tar member: not read", info.name)
    elif info.isreg():
        mtime = float(info.mtime) if info.mtime else None
        member = TarMember(info.name, info.offset_data, info.size, mtime)
        targets[_key(info.name)] = member
        if len(targets) > LINK_TARGETS:
            targets.popitem(last=False)
        yield member
    elif info.islnk():
        target = targets.get(_key(info.linkname))
        if target is None:
            yield TarLost(
                f"hard link to {info.linkname!r}, a member not among the last "
                f"{LINK_TARGETS} files before it: not listed here (the content "
                "is listed under the target's own path)",
                info.name,
            )
        else:
            yield TarMember(info.name, target.offset, target.size, target.mtime)
