"""JPEG: markers and segment lengths, through the entropy-coded scans to EOI."""

from __future__ import annotations

import re
import struct
from collections.abc import Callable

from triage.ingest.carvers.base import CARVERS, MAX_JPEG, CarveFormat, Found

# JPEG markers allowed between SOI and the first scan.
_JPEG_HEADER_MARKERS = (
    set(range(0xE0, 0xF0))  # APPn
    | {0xDB, 0xC4, 0xDD, 0xFE, 0xCC}  # DQT DHT DRI COM DAC
    | {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
)
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _parse_jpeg(read: Callable[[int, int], bytes], start: int) -> Found | None:
    """Follow a JPEG from its SOI; None if it is not a JPEG at all."""
    pos = start + 2
    seen_sof = seen_sos = False
    segments = 0
    while pos - start < MAX_JPEG:
        head = read(pos, 4)
        if len(head) < 2 or head[0] != 0xFF:
            break
        marker = head[1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:
            if seen_sos:
                return Found(pos + 2 - start, True)
            break
        if marker not in _JPEG_HEADER_MARKERS and marker != 0xDA:
            break
        if len(head) < 4:
            break
        length = struct.unpack(">H", head[2:4])[0]
        if length < 2:
            break
        if marker in _SOF:
            seen_sof = True
        segments += 1
        pos += 2 + length
        if marker == 0xDA:
            if not seen_sof:
                break
            seen_sos = True
            pos, at_marker = _scan_entropy(read, pos, start + MAX_JPEG)
            if not at_marker:
                break
    if not seen_sos:
        return None  # not enough structure to call it a JPEG
    size = min(pos, start + MAX_JPEG) - start
    tail = read(start + size, 2)
    if len(tail) < 2:
        why = f"the data ends after {size} bytes, before the end-of-image marker"
    else:
        why = f"no valid marker after {size} bytes (bytes {tail.hex()}): overwritten?"
    return Found(size, False, why=why)


# 0xFF followed by a byte that ends entropy-coded data: not a stuffed zero, a
# restart marker (RST0-7) or another 0xFF (fill).
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def _scan_entropy(
    read: Callable[[int, int], bytes], pos: int, limit: int
) -> tuple[int, bool]:
    """(offset of the first marker after entropy-coded data, True) -- not a
    stuffed 0xFF00 or a restart marker -- or (where the run or the size limit
    ended, False)."""
    step = 1 << 16
    while pos < limit:
        data = read(pos, min(step + 1, limit - pos + 1))
        found = _MARKER.search(data)
        if found is not None:
            return pos + found.start(), True
        if len(data) < 2:
            return pos + len(data), False
        pos += len(data) - 1
    return limit, False


CARVERS.register(CarveFormat("jpeg", b"\xff\xd8\xff", "image/jpeg", "jpg", _parse_jpeg))
