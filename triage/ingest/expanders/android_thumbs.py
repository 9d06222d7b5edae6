"""Android thumbnail stores: ``.thumbdata3/4/5--…`` files and gallery caches.

``MiniThumbFile`` (the media provider's ``.thumbdata*``) keeps fixed-size
slots, each a flag byte (1: in use), an 8-byte magic, a 4-byte big-endian
length and the JPEG; the Gallery's ``BlobCache`` data files (``imgcache.0``,
``imgcache.1``…) start with the magic 0xBD248064 (little-endian) and hold
records of a 20-byte header, a key and a JPEG. Both are read the same way:
every JPEG found by its signature and followed to its end with the carver's
JPEG parser; only a whole JPEG is a member (``offset N``), so junk is not.

Recognised by content: a ``.thumbdata`` file when its first slot is in use
(a slot before the first used id is all zeros and tells nothing), an imgcache
by its magic. Files over ``MAX_SCANNED`` bytes are read up to that point.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import IO

from triage.ingest.carvers import CARVERS
from triage.ingest.expanders.base import EXPANDERS
from triage.ingest.expanders.picture_cache import Cut, PictureCache, Problem
from triage.ingest.media import ARCHIVE, Signature, _prefix, register

JPEG_SOI = b"\xff\xd8\xff"
BLOBCACHE_MAGIC = struct.pack("<I", 0xBD248064)
#: How much of one cache file is searched for JPEGs.
MAX_SCANNED = 1 << 30
_BLOCK = 1 << 20


def _thumbdata(head: bytes) -> bool:
    """A MiniThumbFile slot in use at the start: flag 1, magic, length, JPEG."""
    if len(head) < 16 or head[0] != 1 or head[13:16] != JPEG_SOI:
        return False
    length = struct.unpack_from(">I", head, 9)[0]
    return 16 < length < (1 << 20)


class AndroidThumbnails(PictureCache):
    """An Android thumbnail file or gallery cache: the JPEGs inside it."""

    name = "android-thumbnails"
    signatures = ("android-thumbdata", "android-imgcache")

    def scan(self, source: IO[bytes]) -> Iterator[Cut | Problem]:
        size = source.seek(0, 2)
        end = min(size, MAX_SCANNED)
        parse = CARVERS.get("jpeg").parse

        def read(offset: int, length: int) -> bytes:
            if offset >= end:
                return b""
            source.seek(offset)
            return source.read(min(length, end - offset))

        pos = 0
        while pos < end:
            block = read(pos, _BLOCK + len(JPEG_SOI) - 1)
            hit = block.find(JPEG_SOI)
            if hit < 0:
                if len(block) < len(JPEG_SOI):
                    break
                pos += len(block) - len(JPEG_SOI) + 1
                continue
            start = pos + hit
            found = parse(read, start)
            if found is not None and found.complete:
                yield Cut(f"offset {start}", start, found.size)
                pos = start + found.size
            else:
                pos = start + 1
        if size > end:
            yield Problem(
                None, f"only the first {MAX_SCANNED} of {size} bytes searched"
            )


register(Signature("android-thumbdata", "application/x-android-thumbdata",
                   ARCHIVE, _thumbdata))  # fmt: skip
register(Signature("android-imgcache", "application/x-android-blobcache",
                   ARCHIVE, _prefix(BLOBCACHE_MAGIC)))  # fmt: skip
EXPANDERS.register(AndroidThumbnails())
