"""WebP: a RIFF container whose chunks must tile its declared size."""

from __future__ import annotations

import struct
from collections.abc import Callable

from triage.ingest.carvers.base import CARVERS, MAX_WEBP, CarveFormat, Found

_WEBP_CHUNKS = {b"VP8 ", b"VP8L", b"VP8X"}


def _parse_webp(read: Callable[[int, int], bytes], start: int) -> Found | None:
    """A WebP is a RIFF container: its chunks must tile the declared size."""
    head = read(start, 16)
    if len(head) < 16 or head[8:12] != b"WEBP" or head[12:16] not in _WEBP_CHUNKS:
        return None
    total = 8 + struct.unpack_from("<I", head, 4)[0]
    if total > MAX_WEBP or total < 20:
        return None
    pos = start + 12
    while pos < start + total:
        chunk = read(pos, 8)
        if len(chunk) < 8:
            return Found(pos - start, False)
        length = struct.unpack_from("<I", chunk, 4)[0]
        if not all(0x20 <= c <= 0x7E for c in chunk[:4]):  # a FourCC is ASCII
            return Found(pos - start, False) if pos > start + 12 else None
        pos += 8 + length + (length & 1)
    if pos != start + total:
        return None
    return Found(total, len(read(start + total - 1, 1)) == 1)  # cut by carve()


CARVERS.register(
    CarveFormat("webp", b"RIFF", "image/webp", "webp", _parse_webp, aligned=True)
)
