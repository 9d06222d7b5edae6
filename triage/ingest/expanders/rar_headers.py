"""What libarchive does not say about a RAR: volumes and encryption.

libarchive 3.6 reads a single volume of a multi-volume RAR5 as if it were
whole (a member cut at the volume's end reads as empty, no error) and does
not flag RAR5 members whose data is encrypted (they read as garbage or a
decoder error). So the headers are read here, from the published formats
(RAR 4.x ``technote.txt``; RAR 5.0 "RAR 5.0 archive format" on rarlab.com):
the main header's volume and encrypted-header flags, and for RAR5 the names
of members that carry an encryption record. Only headers are read (data is
seeked over), at most ``max_headers`` of them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import IO

RAR4_SIGNATURE = b"Rar!\x1a\x07\x00"
RAR5_SIGNATURE = b"Rar!\x1a\x07\x01\x00"

_RAR4_MAIN = 0x73
_RAR4_VOLUME, _RAR4_PASSWORD = 0x0001, 0x0080
_RAR5_MAIN, _RAR5_FILE, _RAR5_CRYPT, _RAR5_END = 1, 2, 4, 5
_RAR5_VOLUME = 0x0001
_RAR5_EXTRA_CRYPT = 0x01


@dataclass(slots=True)
class RarFacts:
    """What the headers say: the format version (4 or 5), whether this file
    is one volume of several, whether its headers are encrypted, and (RAR5)
    the members whose data is encrypted."""

    version: int
    volume: bool = False
    headers_encrypted: bool = False
    encrypted: set[str] = field(default_factory=set)


def _vint(data: bytes, pos: int) -> tuple[int, int]:
    """A RAR5 variable-length integer at ``pos`` and the position after it."""
    value = shift = 0
    while pos < len(data) and shift < 64:
        byte = data[pos]
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7
    raise ValueError("truncated or overlong vint")


def rar_facts(source: IO[bytes], max_headers: int = 100_000) -> RarFacts | None:
    """The facts of the RAR in ``source`` (left rewound), None if not a RAR.
    A header that does not parse ends the reading: libarchive reports it."""
    source.seek(0)
    head = source.read(8)
    try:
        if head.startswith(RAR5_SIGNATURE):
            return _rar5_facts(source, max_headers)
        if head.startswith(RAR4_SIGNATURE):
            return _rar4_facts(source)
        return None
    finally:
        source.seek(0)


def _rar4_facts(source: IO[bytes]) -> RarFacts:
    facts = RarFacts(version=4)
    source.seek(len(RAR4_SIGNATURE))
    header = source.read(7)
    if len(header) == 7:
        _, kind, flags, _ = struct.unpack("<HBHH", header)
        if kind == _RAR4_MAIN:
            facts.volume = bool(flags & _RAR4_VOLUME)
            facts.headers_encrypted = bool(flags & _RAR4_PASSWORD)
    return facts


def _rar5_facts(source: IO[bytes], max_headers: int) -> RarFacts:
    facts = RarFacts(version=5)
    pos = len(RAR5_SIGNATURE)
    for _ in range(max_headers):
        source.seek(pos)
        start = source.read(4 + 3)  # CRC32, then the header size (a vint)
        try:
            size, body_at = _vint(start, 4)
        except ValueError:
            return facts
        source.seek(pos + body_at)
        body = source.read(size)
        if len(body) < size or size == 0:
            return facts
        try:
            kind, data_size = _rar5_header(body, facts)
        except ValueError:
            return facts
        if kind in (_RAR5_CRYPT, _RAR5_END):
            return facts
        pos += body_at + size + data_size
    return facts


def _rar5_header(body: bytes, facts: RarFacts) -> tuple[int, int]:
    """Note what one RAR5 header says; its type and the size of its data."""
    kind, at = _vint(body, 0)
    flags, at = _vint(body, at)
    extra_size = data_size = 0
    if flags & 0x1:
        extra_size, at = _vint(body, at)
    if flags & 0x2:
        data_size, at = _vint(body, at)
    if kind == _RAR5_CRYPT:
        facts.headers_encrypted = True
    elif kind == _RAR5_MAIN:
        archive_flags, _ = _vint(body, at)
        facts.volume = bool(archive_flags & _RAR5_VOLUME)
    elif kind == _RAR5_FILE:
        name = _rar5_file_name(body, at)
        extra = body[len(body) - extra_size :] if extra_size else b""
        if _has_record(extra, _RAR5_EXTRA_CRYPT):
            facts.encrypted.add(name)
    return kind, data_size


def _rar5_file_name(body: bytes, at: int) -> str:
    file_flags, at = _vint(body, at)
    _, at = _vint(body, at)  # unpacked size
    _, at = _vint(body, at)  # attributes
    at += 4 if file_flags & 0x2 else 0  # mtime
    at += 4 if file_flags & 0x4 else 0  # data CRC32
    _, at = _vint(body, at)  # compression information
    _, at = _vint(body, at)  # host OS
    length, at = _vint(body, at)
    return body[at : at + length].decode("utf-8", "replace")


def _has_record(extra: bytes, wanted: int) -> bool:
    """Whether a RAR5 extra area holds a record of type ``wanted``."""
    at = 0
    while at < len(extra):
        size, after = _vint(extra, at)
        kind, _ = _vint(extra, after)
        if kind == wanted:
            return True
        at = after + size
    return False
