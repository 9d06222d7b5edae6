"""BMP: as long as its header says, when every header field is sane."""

from __future__ import annotations

import struct
from collections.abc import Callable

from triage.ingest.carvers.base import CARVERS, MAX_BMP, CarveFormat, Found

_BMP_HEADERS = {12, 40, 52, 56, 108, 124}


def _parse_bmp(read: Callable[[int, int], bytes], start: int) -> Found | None:
    """A BMP is as long as its header says, if every header field is sane."""
    head = read(start, 54)
    if len(head) < 26 or head[:2] != b"BM":
        return None
    size, reserved, pixels, dib = struct.unpack_from("<IIII", head, 2)
    if reserved or dib not in _BMP_HEADERS or not 14 + dib <= pixels < size <= MAX_BMP:
        return None
    if dib == 12:
        width, height, planes, bpp = struct.unpack_from("<HHHH", head, 18)
        compression = 0
    else:
        if len(head) < 54:
            return None
        width, height, planes, bpp, compression = struct.unpack_from("<iiHHI", head, 18)
    if not (0 < width <= 1 << 16 and 0 < abs(height) <= 1 << 16 and planes == 1):
        return None
    if bpp not in (1, 4, 8, 16, 24, 32) or compression > 6:
        return None
    if (
        compression == 0
        and pixels + ((width * bpp + 31) // 32) * 4 * abs(height) > size
    ):
        return None  # an uncompressed bitmap holds all its rows
    return Found(size, len(read(start + size - 1, 1)) == 1)  # cut by carve()


# "BM" turns up every 64 KiB of random bytes: looked for at sector starts only.
CARVERS.register(
    CarveFormat("bmp", b"BM", "image/bmp", "bmp", _parse_bmp, aligned=True)
)
