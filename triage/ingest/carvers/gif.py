"""GIF: blocks and data sub-blocks, to the trailer."""

from __future__ import annotations

import struct
from collections.abc import Callable

from triage.ingest.carvers.base import CARVERS, MAX_GIF, CarveFormat, Found


def _parse_gif(read: Callable[[int, int], bytes], start: int) -> Found | None:
    """Follow a GIF block by block to its trailer; None without one image."""
    head = read(start, 13)
    if len(head) < 13 or head[:6] not in (b"GIF87a", b"GIF89a"):
        return None
    width, height, packed = struct.unpack_from("<HHB", head, 6)
    if not width or not height:
        return None
    pos = start + 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)
    images = 0
    while pos - start < MAX_GIF:
        kind = read(pos, 1)
        if kind == b"\x3b":  # trailer
            return Found(pos + 1 - start, True) if images else None
        if kind == b"\x2c":  # image descriptor, local colour table, LZW data
            desc = read(pos, 10)
            if len(desc) < 10:
                break
            table = 3 << ((desc[9] & 7) + 1) if desc[9] & 0x80 else 0
            code_size = read(pos + 10 + table, 1)
            if not code_size or not 1 <= code_size[0] <= 12:
                break
            pos += 10 + table + 1
            images += 1
        elif kind == b"\x21" and len(read(pos, 2)) == 2:  # extension
            pos += 2
        else:
            break
        end = _skip_sub_blocks(read, pos, start + MAX_GIF)
        if end is None:
            break
        pos = end
    return Found(pos - start, False) if images else None


def _skip_sub_blocks(
    read: Callable[[int, int], bytes], pos: int, limit: int
) -> int | None:
    """The offset after a run of GIF data sub-blocks and its terminator."""
    while pos < limit:
        size = read(pos, 1)
        if not size:
            return None
        if size == b"\x00":
            return pos + 1
        pos += 1 + size[0]
    return None


CARVERS.register(CarveFormat("gif", b"GIF8", "image/gif", "gif", _parse_gif))
