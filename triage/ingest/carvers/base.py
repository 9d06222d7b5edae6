"""What every carver is, and the table they register in.

A carver (one module each: ``jpeg``, ``png``, ``gif``, ``bmp``, ``webp``) is
a ``CarveFormat``: its magic bytes, MIME type, file extension, and a parser
that follows an item's structure from its first byte (``read(offset, size)``
over the device, absolute offsets) and says how long it is and whether it
came out whole. It registers in ``CARVERS``; ``triage.ingest.carve`` finds
every registered magic in one vectorised pass and hands each hit to its
parser.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from triage.registry import Registry

MAX_JPEG = 64 << 20  # largest picture followed before it is cut off
MAX_PNG = 128 << 20
MAX_GIF = 64 << 20
MAX_BMP = 256 << 20
MAX_WEBP = 64 << 20
MAX_TIFF = 256 << 20  # camera raw files (TIFF-based) run to ~100 MB
MAX_VIDEO = 4 << 30  # ISO BMFF and AVI videos
#: The longest item any format follows: how far past a run's end an item that
#: starts in the run may need to be read to come out whole.
MAX_ITEM = max(MAX_JPEG, MAX_PNG, MAX_GIF, MAX_BMP, MAX_WEBP, MAX_TIFF, MAX_VIDEO)

#: ``read(offset, size)`` of the device's bytes (short at its end).
Read = Callable[[int, int], bytes]


@dataclass(frozen=True, slots=True)
class Found:
    """What a parser found: the item's length, and whether it ended well.

    ``mime``/``extension``: what the item is when its format's header says
    more than its magic (an ``ftyp`` brand: HEIC, MP4, QuickTime, 3GP);
    None: the format's own. ``why``: what broke, for an incomplete item."""

    size: int
    complete: bool
    mime: str | None = None
    extension: str | None = None
    why: str | None = None  # why an incomplete item stopped, if the parser knows


@dataclass(frozen=True, slots=True)
class CarveFormat:
    """A carvable format: its signature, parser and how a carved item is named."""

    name: str
    magic: bytes  # two bytes or more (the search looks at byte pairs)
    mime: str
    extension: str
    parse: Callable[[Read, int], Found | None]
    #: Bytes of the item before its magic (an ISO BMFF box's size before
    #: ``ftyp``): the item starts ``lead`` bytes before the magic's offset.
    lead: int = 0
    #: Looked for only where the item starts on a 512-byte sector of the
    #: device (where every filesystem puts a file), not at every byte:
    #: formats with a weak magic that are rarely stored inside other files.
    aligned: bool = False

    def __post_init__(self) -> None:
        if len(self.magic) < 2:
            raise ValueError(f"carve format {self.name}: magic shorter than 2 bytes")


#: Carvable formats by name, in registration order (ties at one offset go
#: to the earlier one).
CARVERS: Registry[CarveFormat] = Registry("carve format")
