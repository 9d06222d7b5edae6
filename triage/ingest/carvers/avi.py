"""AVI: a RIFF ``AVI `` form of its declared size, then any ``AVIX`` forms.

An AVI over 1 GiB (OpenDML) goes on in ``RIFF``/``AVIX`` forms right after
the first; they are part of the item. The first form's chunks must tile its
declared size (``hdrl`` list first), as for WebP.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from triage.ingest.carvers.base import CARVERS, MAX_VIDEO, CarveFormat, Found


def _riff_chunks_tile(read: Callable[[int, int], bytes], pos: int, end: int) -> bool:
    """Whether RIFF chunks from ``pos`` end exactly at ``end`` (each with an
    ASCII FourCC); a cut form (read short) counts as not tiling."""
    while pos < end:
        chunk = read(pos, 8)
        if len(chunk) < 8 or not all(0x20 <= c <= 0x7E for c in chunk[:4]):
            return False
        length = struct.unpack_from("<I", chunk, 4)[0]
        pos += 8 + length + (length & 1)
    return pos == end


def _parse_avi(read: Callable[[int, int], bytes], start: int) -> Found | None:
    """Follow an AVI's RIFF forms; None if the first is not a sane AVI."""
    head = read(start, 24)
    if len(head) < 24 or head[8:12] != b"AVI " or head[12:16] != b"LIST":
        return None
    if head[20:24] != b"hdrl":
        return None
    total = 8 + struct.unpack_from("<I", head, 4)[0]
    if total > MAX_VIDEO or total < 32:
        return None
    if not _riff_chunks_tile(read, start + 12, start + total):
        last = read(start + total - 1, 1)
        return Found(total, False) if not last else None
    pos = start + total
    while pos - start < MAX_VIDEO:
        more = read(pos, 12)
        if len(more) < 12 or more[:4] != b"RIFF" or more[8:12] != b"AVIX":
            break
        pos += 8 + struct.unpack_from("<I", more, 4)[0]
    return Found(pos - start, len(read(pos - 1, 1)) == 1)


CARVERS.register(
    CarveFormat("avi", b"RIFF", "video/x-msvideo", "avi", _parse_avi, aligned=True)
)
