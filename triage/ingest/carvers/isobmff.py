"""ISO BMFF (MP4, MOV, 3GP, HEIC/HEIF, AVIF): top-level boxes from ``ftyp``.

The magic is the ``ftyp`` box type, four bytes into the item (after the
box's size). Top-level boxes are followed by their sizes (32-bit, or 64-bit
when the size is 1) while each is a box type a file may hold at its top
level; the item ends after the last one. It is whole when it holds what
its kind needs: a ``moov`` and an ``mdat`` (a video; either order) or a
``meta`` (a HEIF picture, whose data may sit in ``mdat`` or ``idat``). The
MIME type comes from the brands (``media.ftyp_mime``); an audio-only file
(``M4A``) is not carved.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from triage.ingest.carvers.base import CARVERS, MAX_VIDEO, CarveFormat, Found
from triage.ingest.media import ftyp_mime

# Box types found at the top level of MP4, QuickTime, 3GP and HEIF files.
_TOP_LEVEL = {
    b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"uuid", b"meta",
    b"moof", b"mfra", b"sidx", b"styp", b"pdin", b"udta", b"pnot", b"prft",
    b"emsg", b"ssix", b"idat", b"iinf", b"iloc", b"junk", b"PICT", b"beam",
}  # fmt: skip
_EXTENSIONS = {
    "video/mp4": "mp4",
    "video/quicktime": "mov",
    "video/3gpp": "3gp",
    "video/3gpp2": "3g2",
    "image/heic": "heic",
    "image/heic-sequence": "heics",
    "image/heif": "heif",
    "image/heif-sequence": "heifs",
    "image/avif": "avif",
}


def _parse_isobmff(read: Callable[[int, int], bytes], start: int) -> Found | None:
    """Follow the top-level boxes of an ISO BMFF file from its ``ftyp``."""
    head = read(start, 64)
    mime = ftyp_mime(head)
    if mime is None:
        return None
    size = struct.unpack_from(">I", head)[0]
    if not 16 <= size <= 4096:
        return None
    pos = start
    seen: set[bytes] = set()
    while pos - start < MAX_VIDEO:
        box = read(pos, 16)
        if len(box) < 8 or box[4:8] not in _TOP_LEVEL:
            break
        length = struct.unpack_from(">I", box)[0]
        if length == 1:
            if len(box) < 16:
                break
            length = struct.unpack_from(">Q", box, 8)[0]
            if length < 16:
                break
        elif length < 8:
            break  # 0 ("to the end of the file") gives no end to carve to
        if pos + length - start > MAX_VIDEO:
            break
        seen.add(box[4:8])
        pos += length
    whole = {b"moov", b"mdat"} <= seen or (
        mime.startswith("image/") and b"meta" in seen
    )
    if pos - start <= size:
        return None  # an ftyp and nothing else: not a file
    if whole and len(read(pos - 1, 1)) < 1:
        whole = False  # the last box runs past what can be read
    return Found(pos - start, whole, mime, _EXTENSIONS.get(mime, "mp4"))


CARVERS.register(
    CarveFormat(
        "isobmff", b"ftyp", "video/mp4", "mp4", _parse_isobmff, lead=4, aligned=True
    )
)
