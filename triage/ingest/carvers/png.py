"""PNG: chunks with their CRCs, to IEND."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable

from triage.ingest.carvers.base import CARVERS, MAX_PNG, CarveFormat, Found


def _parse_png(read: Callable[[int, int], bytes], start: int) -> Found | None:
    """Follow a PNG chunk by chunk with CRC checks; None if IHDR is not valid."""
    pos = start + 8
    first = True
    while pos - start < MAX_PNG:
        head = read(pos, 8)
        if len(head) < 8:
            break
        length = struct.unpack(">I", head[:4])[0]
        kind = head[4:8]
        if (
            length > 0x7FFFFFFF
            or not kind.isalpha()
            or pos + 12 + length - start > MAX_PNG
        ):
            break
        if first and (kind != b"IHDR" or length != 13):
            return None
        body = read(pos + 4, 4 + length + 4)
        if len(body) < 8 + length:
            break
        (crc,) = struct.unpack(">I", body[-4:])
        if zlib.crc32(body[:-4]) != crc:
            if first:
                return None
            break
        first = False
        pos += 12 + length
        if kind == b"IEND":
            return Found(pos - start, True)
    if first:
        return None
    return Found(pos - start, False)


CARVERS.register(
    CarveFormat("png", b"\x89PNG\r\n\x1a\n", "image/png", "png", _parse_png)
)
