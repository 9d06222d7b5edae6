"""Compute signals: exact digests of the bytes, perceptual values of a picture.

``exact_digests`` streams bytes through the exact signals (MD5, SHA-1, ...).
``perceptual_hashes`` decodes via ``triage.hashmatch.decode`` (small,
greyscale, safe) and runs the perceptual signals, returning:

- PDQ of the picture ("original") and, by default, its seven dihedral variants
  (what the PDQ of the rotated or mirrored picture would be), so a rotated or
  mirrored copy of a known picture still matches a set that holds only the
  original. Names follow Meta's ``pdqDihedralHash256esFromFloatLuma``; in
  Pillow terms (checked by tests): rot90 = ``Transpose.ROTATE_90`` (counter-
  clockwise), rot180, rot270 = ``ROTATE_270``, flipx = ``FLIP_TOP_BOTTOM``,
  flipy = ``FLIP_LEFT_RIGHT``, flipplus = ``TRANSPOSE``, flipminus =
  ``TRANSVERSE``.
- pHash (imagehash) of the picture.
- When the picture has a uniform border (letterbox, pillarbox, a frame), PDQ
  and pHash of the picture inside it, with variant "trimmed".

What an item gets, under which floors, is ``triage.hashmatch.policy``'s rule.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from PIL import Image

from triage.errors import UsageError
from triage.hashmatch.decode import decode_luma
from triage.hashmatch.signals import (
    DIHEDRAL_VARIANTS,
    ExactSignal,
    PerceptualSignal,
    Signal,
    exact_signals,
    get_signal,
)
from triage.hashmatch.signals.pdq import PDQ
from triage.records import PerceptualHash

_S = TypeVar("_S", bound=Signal)

TRIMMED = "trimmed"
#: The perceptual signals the scan and ``hashset build`` compute.
DEFAULT_PERCEPTUAL: tuple[str, ...] = ("pdq", "phash")
#: The exact digests ``digest_stream`` gives when not told which.
DEFAULT_DIGESTS: tuple[str, ...] = ("md5", "sha1")

# PDQ's reference refuses pictures smaller than this on either side
# (MIN_HASHABLE_DIM); below it there is nothing perceptual to hash.
MIN_HASHABLE_SIDE = 5

# Border trimming: a row/column belongs to the border while at least
# BORDER_FILL of its pixels are within BORDER_TOLERANCE grey levels of the
# border colour (JPEG ringing and noise move a few pixels a few levels).
BORDER_TOLERANCE = 12
BORDER_FILL = 0.98
# Only a border of at least this fraction of the side counts (1-2 px uniform
# edges are common and meaningless); never trim below this share of a side.
BORDER_MIN_FRACTION = 0.02
BORDER_KEEP_FRACTION = 0.2


@dataclass(frozen=True, slots=True)
class PerceptualResult:
    """Perceptual hashes of one picture, and what the decoder saw."""

    hashes: tuple[PerceptualHash, ...]
    width: int  # of the stored picture
    height: int
    format: str  # Pillow format name
    trimmed_box: tuple[int, int, int, int] | None = None  # left, top, right, bottom
    notes: tuple[str, ...] = ()  # decoder warnings, or why a hash is missing


def exact_digests(
    chunks: Iterable[bytes], names: Sequence[str] | None = None
) -> tuple[tuple[str, str], ...]:
    """``(signal, lowercase hex)`` of the concatenated ``chunks``, streamed once
    through every exact signal named (default: every registered one).

    Raises:
        UnknownNameError: a name no signal has.
        UsageError: a name of a signal that is not exact.
    """
    chosen: Sequence[ExactSignal] = (
        exact_signals()
        if names is None
        else _signals_named(names, ExactSignal, "an exact")
    )
    hashers = [s.new_hasher() for s in chosen]
    for chunk in chunks:
        for hasher in hashers:
            hasher.update(chunk)
    return tuple((s.name, h.hexdigest()) for s, h in zip(chosen, hashers, strict=True))


def _signals_named(names: Sequence[str], kind: type[_S], what: str) -> list[_S]:
    """The signals called ``names``, each a ``kind``; ``what`` ("an exact", "a
    perceptual") names that kind in the error.

    Raises:
        UnknownNameError: a name no signal has.
        UsageError: a signal of another kind.
    """
    out: list[_S] = []
    for name in names:
        signal = get_signal(name)
        if not isinstance(signal, kind):
            raise UsageError(f"{name!r} is not {what} hash algorithm")
        out.append(signal)
    return out


def digest_stream(
    chunks: Iterable[bytes], names: Sequence[str] = DEFAULT_DIGESTS
) -> tuple[str, ...]:
    """The digests (lowercase hex) of the concatenated ``chunks`` by the exact
    signals ``names``, in that order, streamed."""
    return tuple(value for _, value in exact_digests(chunks, names))


def pdq_from_luma(
    luma: np.ndarray, *, dihedral: bool = True
) -> tuple[list[tuple[str, str]], int]:
    """PDQ of a greyscale uint8 array: ``([(variant, hex), ...], quality)``."""
    values = PDQ.compute(luma, dihedral=dihedral)
    return [(variant, value) for variant, value, _ in values], values[0][2] or 0


def find_border(luma: np.ndarray) -> tuple[int, int, int, int] | None:
    """The box inside a uniform border, or None when there is none.

    Each side is trimmed separately against the colour of its own outermost
    line (letterboxes are often black above and below only). Returns (left,
    top, right, bottom) in the array's pixel coordinates.
    """
    height, width = luma.shape
    if min(height, width) < 16:
        return None

    def depth(lines: np.ndarray) -> int:
        # lines: (n, length) uint8, outermost first
        edge = lines[0].astype(np.int16)
        middle = len(edge) // 2  # the median, as np.median gives it, but cheaper
        low, high = np.partition(edge, [max(middle - 1, 0), middle])[
            [max(middle - 1, 0), middle]
        ]
        colour = int(high if len(edge) % 2 else (int(low) + int(high)) / 2)
        if (np.abs(edge - colour) <= BORDER_TOLERANCE).mean() < BORDER_FILL:
            return 0  # the usual case, decided on one line only
        close = np.abs(lines.astype(np.int16) - colour) <= BORDER_TOLERANCE
        flat = close.mean(axis=1) >= BORDER_FILL
        stop = np.flatnonzero(~flat)
        return int(stop[0]) if stop.size else len(flat)

    top = depth(luma)
    bottom = depth(luma[::-1])
    left = depth(luma.T)
    right = depth(luma.T[::-1])
    min_h = max(2, round(BORDER_MIN_FRACTION * height))
    min_w = max(2, round(BORDER_MIN_FRACTION * width))
    top, bottom = (top if top >= min_h else 0), (bottom if bottom >= min_h else 0)
    left, right = (left if left >= min_w else 0), (right if right >= min_w else 0)
    if not (top or bottom or left or right):
        return None
    inner_w, inner_h = width - left - right, height - top - bottom
    if (
        inner_w < BORDER_KEEP_FRACTION * width
        or inner_h < BORDER_KEEP_FRACTION * height
    ):
        return None  # mostly flat: nothing meaningful inside
    return left, top, width - right, height - bottom


def _hash_picture(
    luma_img: Image.Image,
    signals: Sequence[PerceptualSignal],
    *,
    dihedral: bool,
    variant_name: str | None,
) -> list[PerceptualHash]:
    luma = np.asarray(luma_img)
    return [
        PerceptualHash(signal.name, value, variant_name or variant, quality)
        for signal in signals
        for variant, value, quality in signal.compute(luma, dihedral=dihedral)
    ]


def perceptual_signals_named(names: Sequence[str]) -> list[PerceptualSignal]:
    """The perceptual signals called ``names``.

    Raises:
        UnknownNameError: a name no signal has.
        UsageError: a signal that is not perceptual.
    """
    return _signals_named(names, PerceptualSignal, "a perceptual")


def perceptual_hashes(
    data: bytes,
    media_type: str | None,
    *,
    where: str,
    algorithms: Sequence[str] = DEFAULT_PERCEPTUAL,
    dihedral: bool = True,
    trim: bool = True,
) -> PerceptualResult:
    """Perceptual hashes of the picture in ``data`` (first frame).

    ``where`` names the item in error messages. ``algorithms`` are registered
    perceptual names (pdq, phash, dhash); ``dihedral`` adds the seven PDQ
    rotations/flips; ``trim`` adds "trimmed" PDQ/pHash when a border is found.

    Raises:
        DecodeError: (a ``MediaError``) the picture cannot be decoded: empty,
            wrong type, bomb, truncated, corrupt.
        UsageError: an unknown or non-perceptual algorithm name.
    """
    signals = perceptual_signals_named(algorithms)
    decoded = decode_luma(data, media_type, where=where)
    luma_img = decoded.luma
    notes = list(decoded.notes)
    if min(luma_img.size) < MIN_HASHABLE_SIDE:
        notes.append(
            f"too small for perceptual hashing ({decoded.width}x{decoded.height})"
        )
        return PerceptualResult(
            (), decoded.width, decoded.height, decoded.format, None, tuple(notes)
        )
    hashes = _hash_picture(luma_img, signals, dihedral=dihedral, variant_name=None)
    trimmed_box = None
    if trim:
        box = find_border(np.asarray(luma_img))
        if box is not None:
            inner = luma_img.crop(box)
            if min(inner.size) >= MIN_HASHABLE_SIDE:
                hashes += _hash_picture(
                    inner, signals, dihedral=False, variant_name=TRIMMED
                )
                sx = decoded.width / luma_img.width
                sy = decoded.height / luma_img.height
                trimmed_box = (
                    round(box[0] * sx),
                    round(box[1] * sy),
                    round(box[2] * sx),
                    round(box[3] * sy),
                )
    return PerceptualResult(
        hashes=tuple(hashes),
        width=decoded.width,
        height=decoded.height,
        format=decoded.format,
        trimmed_box=trimmed_box,
        notes=tuple(notes),
    )


__all__ = [
    "DEFAULT_DIGESTS",
    "DEFAULT_PERCEPTUAL",
    "DIHEDRAL_VARIANTS",
    "TRIMMED",
    "PerceptualResult",
    "digest_stream",
    "exact_digests",
    "find_border",
    "pdq_from_luma",
    "perceptual_hashes",
    "perceptual_signals_named",
]
