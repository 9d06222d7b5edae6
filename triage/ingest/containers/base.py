"""What every evidence container offers, and the table they register in.

A container format (one module each: ``ewf``, ``vmdk``, ``vhd``, ``qcow``,
``split``, ``raw``) is a ``Container`` record: a name, how to recognise it
(signature first, file name only for raw segments), how to find its segments
from the first one, and how to open them as a flat, read-only ``Reader``. It
registers in ``CONTAINERS``; ``triage.ingest.evidence.identify`` tries them
in registration order (``containers/__init__.py`` imports them signatures
first, raw last).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from triage.registry import Registry

SECTOR = 512
HEAD_BYTES = 512


class Reader(Protocol):
    """A flat, read-only view of the media inside a container."""

    size: int

    def read(self, offset: int, size: int) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Container:
    """One evidence container format.

    ``stored_digest``: the digests the container records of the original
    media ("md5:<hex> sha1:<hex>"), read from an open reader, if it has any.
    """

    name: str
    description: str
    matches: Callable[[Path, bytes, int], bool]  # (path, first bytes, file size)
    segments: Callable[[Path], tuple[str, ...]]
    open: Callable[[Sequence[str]], Reader]
    stored_digest: Callable[[Reader], str | None] | None = None
    #: What the evidence says of the device it came from (a UFDR's model, OS
    #: and extraction type), from its segments; see ``Device.details``.
    describe: Callable[[Sequence[str]], str | None] | None = None
    #: The evidence is a folder (an iTunes backup, a folder of files), asked
    #: only about folders; the others only about files.
    folder: bool = False
    #: A file this container matches that is not a device when found in a
    #: folder of evidence (an Office document or app package is a zip, not a
    #: phone extraction); given by name, it still opens as this container.
    passed_over: Callable[[Path], bool] | None = None


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


#: Every container format, in the order ``identify`` tries them.
CONTAINERS: Registry[Container] = Registry("container")


def single_file(path: Path) -> tuple[str, ...]:
    """The segments of a one-file container: the file itself."""
    return (str(path),)


def clean_error(exc: BaseException) -> str:
    """The useful last line of a libyal error (they stack every caller)."""
    text = str(exc).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


# --- segment names --------------------------------------------------------------

NUMBERED = re.compile(r"^(?P<stem>.*\.)(?P<num>\d{3,})$")
LETTERED = re.compile(r"^(?P<stem>.*\.)(?P<let>[a-z]{2})$")


def split_names(path: Path) -> tuple[Callable[[int], Path], int] | None:
    """How to name segment ``i`` of a split raw set starting at ``path``."""
    if m := NUMBERED.match(path.name):
        stem, digits = m["stem"], m["num"]
        first = int(digits)
        if first not in (0, 1):
            return None
        width = len(digits)
        return (lambda i: path.with_name(f"{stem}{first + i:0{width}d}")), first
    if (m := LETTERED.match(path.name)) and m["let"] == "aa":
        stem = m["stem"]

        def lettered(i: int) -> Path:
            return path.with_name(f"{stem}{chr(97 + i // 26)}{chr(97 + i % 26)}")

        return lettered, 0
    return None


def is_later_segment(path: Path) -> bool:
    """True for .002/.E02/.ab ...: files that belong to a first segment."""
    if m := NUMBERED.match(path.name):
        number, width = int(m["num"]), len(m["num"])
        first = [f for f in (0, 1) if f < number]
        return any(path.with_name(f"{m['stem']}{f:0{width}d}").is_file() for f in first)
    if m := LETTERED.match(path.name):
        return m["let"] != "aa" and path.with_name(m["stem"] + "aa").is_file()
    if re.fullmatch(r"[EeLl](0[2-9]|[1-9]\d|[A-Za-z]{2})", path.suffix[1:]):
        return path.with_suffix(path.suffix[:2] + "01").is_file()
    if re.fullmatch(r"[EeLl]x(0[2-9]|[1-9]\d)", path.suffix[1:]):
        return path.with_suffix(path.suffix[:3] + "01").is_file()
    return False
