"""Write a small RAR5 archive with *stored* members (method 0), for tests.

Nothing free writes RAR, so this follows the published format ("RAR 5.0
archive format", rarlab.com): the signature, a main archive header, one file
header per member followed by its bytes, an end-of-archive header; every
header is its CRC32, its size as a vint, then the header's own fields.
Checked against libarchive's reader (and ``bsdtar -tf`` where installed).
"""

from __future__ import annotations

import struct
import zlib

SIGNATURE = b"Rar!\x1a\x07\x01\x00"


def vint(value: int) -> bytes:
    """A RAR5 variable-length integer: 7 bits a byte, low first."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def header(
    kind: int,
    flags: int,
    fields: bytes,
    *,
    extra: bytes = b"",
    data_size: int | None = None,
) -> bytes:
    """One header block: CRC32, size, then type, flags and ``fields``."""
    body = vint(kind)
    flags |= (0x1 if extra else 0) | (0x2 if data_size is not None else 0)
    body += vint(flags)
    if extra:
        body += vint(len(extra))
    if data_size is not None:
        body += vint(data_size)
    body += fields + extra
    sized = vint(len(body)) + body
    return struct.pack("<I", zlib.crc32(sized)) + sized


def file_header(
    name: str, data: bytes, *, encrypted: bool = False, mtime: int = 1_700_000_000
) -> bytes:
    """A file header for a stored member (``encrypted``: with an encryption
    record, as RAR writes for a member whose data is AES-encrypted)."""
    encoded = name.encode()
    fields = (
        vint(0x2 | 0x4)  # file flags: mtime and data CRC32 present
        + vint(len(data))  # unpacked size
        + vint(0x20)  # attributes (Windows: archive)
        + struct.pack("<I", mtime)
        + struct.pack("<I", zlib.crc32(data))
        + vint(0)  # compression: version 0, method 0 (stored)
        + vint(0)  # host OS: Windows
        + vint(len(encoded))
        + encoded
    )
    extra = b""
    if encrypted:
        # Encryption record (type 1): version 0, flags 0, KDF count 15,
        # salt (16), IV (16).
        record = vint(1) + vint(0) + vint(0) + bytes([15]) + bytes(32)
        extra = vint(len(record)) + record
    return header(2, 0, fields, extra=extra, data_size=len(data))


def write_rar5(
    members: dict[str, bytes],
    *,
    volume: bool = False,
    encrypted: frozenset[str] = frozenset(),
) -> bytes:
    """A RAR5 archive of stored ``members``; ``volume`` marks it as one
    volume of several, ``encrypted`` names members flagged as encrypted."""
    out = bytearray(SIGNATURE)
    out += header(1, 0, vint(0x1 if volume else 0))  # main archive header
    for name, data in members.items():
        out += file_header(name, data, encrypted=name in encrypted) + data
    out += header(5, 0, vint(0))  # end of archive
    return bytes(out)
