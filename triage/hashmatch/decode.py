"""Decode untrusted image bytes to a small greyscale picture, safely and fast.

Perceptual hashes only need luminance at modest resolution: PDQ reduces to
64x64 (Meta's reference hasher itself first downsamples to 512 px, see
``DOWNSAMPLE_DIMS`` in pdqhashing.cpp), pHash to 32x32. Decoding is what costs,
so JPEGs are decoded with libjpeg's DCT scaling (``Image.draft``) straight to
greyscale, at the smallest 1/2, 1/4 or 1/8 scale that keeps the short side at
least ``DECODE_MIN_SIDE`` px; other formats are decoded in full; then the
greyscale picture is box-reduced to the same size (the long side to at most
twice that, so panoramas do not keep their full width).
``benchmarks/bench_hashing.py`` measures the speed and
``tests/hashmatch/test_hashing.py`` checks that PDQ stays within 10 bits of
``pdqhash.compute`` on the full-size RGB array.

Everything read here is evidence from a seized device and may be malformed or
hostile: only the formats in ``PILLOW_FORMATS`` are opened (never EPS, which
would run Ghostscript), a picture above ``MAX_IMAGE_PIXELS`` is refused before its
pixels are decoded, only the first frame of an animation is read, and every
failure becomes a ``DecodeError`` naming the item and the reason.

Decoder warnings (corrupt EXIF, palette transparency, ...) are recorded with
``warnings.catch_warnings`` and returned as notes, never printed or raised;
that context manager is process-global, so under threads a warning may land in
another item's notes (the pipeline runs one thread per worker process), but
the pixel limit is enforced explicitly either way.

EXIF orientation is deliberately not applied: reference hashes (PDQ,
ThreatExchange, imagehash) are computed on the stored pixels, and the PDQ
dihedral variants cover rotated and mirrored copies.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pillow_heif
from PIL import Image

from triage.errors import MediaError
from triage.registry import Registry

# Short side (px) the hashes are computed from. DCT-scaled decoding to at least
# this kept PDQ at a mean of 3 bits (95th percentile 10) from the full-decode
# reference over 198 JPEGs; down to 256 px it was 7.9 (95th percentile 20).
# The worst cases are periodic textures, whose PDQ moves as much under any
# resize (benchmarks/bench_hashing.py --drift; table in benchmarks/HISTORY.md).
DECODE_MIN_SIDE = 512

# Largest picture (width x height) we agree to decode: 256 megapixels, above
# the 200 MP sensors of current phones; anything larger is treated as a
# decompression bomb. Pillow's own check is set to the same limit (it warns
# above it and refuses above twice it).
MAX_IMAGE_PIXELS = 1 << 28
Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS

pillow_heif.register_heif_opener()

# MIME type (as ``triage.ingest.media.sniff`` names it) -> Pillow formats that
# may decode it. Only these formats are ever opened.
_WANTED: dict[str, tuple[str, ...]] = {
    "image/jpeg": ("JPEG",),  # Pillow's JPEG plugin also opens MPO
    "image/png": ("PNG",),
    "image/apng": ("PNG",),
    "image/gif": ("GIF",),
    "image/bmp": ("BMP", "DIB"),
    "image/x-ms-bmp": ("BMP", "DIB"),
    "image/webp": ("WEBP",),
    "image/tiff": ("TIFF",),
    "image/heic": ("HEIF",),
    "image/heif": ("HEIF",),
    "image/heic-sequence": ("HEIF",),
    "image/heif-sequence": ("HEIF",),
    "image/avif": ("AVIF", "HEIF"),
    "image/jp2": ("JPEG2000",),
}
Image.init()
# Only formats this Pillow build can open (AVIF and JPEG 2000 depend on it).
PILLOW_FORMATS: dict[str, tuple[str, ...]] = {
    mime: tuple(f for f in formats if f in Image.OPEN)
    for mime, formats in _WANTED.items()
    if any(f in Image.OPEN for f in formats)
}
ALL_PILLOW_FORMATS: tuple[str, ...] = tuple(
    dict.fromkeys(f for v in PILLOW_FORMATS.values() for f in v)
)

# What Pillow's decoders raise on malformed data. Listed on purpose (no
# catch-all): anything else is a bug in triage and should surface as one.
_DECODER_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    SyntaxError,  # Pillow plugins signal "not this format" / broken headers so
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    RuntimeError,  # pillow-heif / libheif
    struct.error,
    zlib.error,
    Image.DecompressionBombError,
    MemoryError,
)


class DecodeError(MediaError):
    """One image could not be decoded; ``where`` names it, ``reason`` says why."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(where=where, reason=reason)


@dataclass(frozen=True, slots=True)
class Decoded:
    """A picture reduced to what the perceptual hashes need."""

    luma: Image.Image  # mode "L"; short side >= DECODE_MIN_SIDE when the source is
    width: int  # of the stored picture, before any reduction
    height: int
    format: str  # Pillow format name: "JPEG", "PNG", ...
    notes: tuple[str, ...] = ()  # decoder warnings that did not stop decoding


def allowed_formats(media_type: str | None, where: str) -> tuple[str, ...]:
    """Pillow formats that may decode ``media_type`` (all of ours for None).

    Raises:
        DecodeError: the type is not a still image we decode.
    """
    if media_type is None:
        return ALL_PILLOW_FORMATS
    mime = media_type.split(";", 1)[0].strip().lower()
    formats = PILLOW_FORMATS.get(mime)
    if formats is None:
        kind = "not an image" if not mime.startswith("image/") else "unsupported"
        raise DecodeError(where, f"{kind} type {media_type!r}: no perceptual hash")
    return formats


def _to_luma(img: Image.Image) -> Image.Image:
    """Greyscale ("L") with the same luma weights as PDQ and imagehash."""
    if img.mode == "L":
        return img
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        # Pillow clips these to 0-255 when converting; scale instead.
        values = np.asarray(img, dtype=np.float32)
        top = float(values.max()) if values.size else 0.0
        if top > 255.0:
            values = values * (255.0 / (65535.0 if top <= 65535.0 else top))
        return Image.fromarray(np.clip(values, 0, 255).astype(np.uint8), "L")
    if img.mode in ("RGB", "RGBA", "RGBX", "LA", "1", "P", "PA"):
        return img.convert("L")
    return img.convert("RGB").convert("L")


def reduce_to(img: Image.Image, min_side: int) -> Image.Image:
    """Box-reduce a greyscale picture so its short side stays >= ``min_side``.

    One integer factor for both axes, except that a long side over twice
    ``min_side`` after that is reduced further on its own (a 12000x1000
    panorama becomes 1090x1000, not 12000x1000): PDQ filters each axis
    separately and squashes to 64x64, pHash squashes to 32x32, so the aspect
    ratio carries nothing they use.
    """
    width, height = img.size
    uniform = max(1, min(width, height) // min_side)
    factor = (
        max(uniform, width // (2 * min_side)),
        max(uniform, height // (2 * min_side)),
    )
    if factor == (1, 1):
        return img
    return img.reduce(factor)


#: How a decoder turns one item's bytes into a ``Decoded`` picture:
#: ``decode(data, media_type, where, min_side)``.
DecodeFn = Callable[[bytes, str | None, str, int], Decoded]


@dataclass(frozen=True, slots=True)
class Decoder:
    """One way of decoding media for the perceptual signals.

    ``handles(mime)`` says whether it decodes that (lowercase, parameter-free)
    MIME type; ``None`` (type unknown) goes to the first decoder, which tries
    every format it knows. A new decoder (a video's frames through PyAV, say)
    is one module that registers here.
    """

    name: str
    handles: Callable[[str], bool]
    decode: DecodeFn


DECODERS: Registry[Decoder] = Registry("decoder")


def decoder_for(media_type: str | None, where: str) -> Decoder:
    """The registered decoder for ``media_type`` (the first one for None).

    Raises:
        DecodeError: no decoder takes the type.
    """
    decoders = DECODERS.values()
    if media_type is None and decoders:
        return decoders[0]
    mime = (media_type or "").split(";", 1)[0].strip().lower()
    for decoder in decoders:
        if decoder.handles(mime):
            return decoder
    kind = "not an image" if not mime.startswith("image/") else "unsupported"
    raise DecodeError(where, f"{kind} type {media_type!r}: no perceptual hash")


def decode_luma(
    data: bytes,
    media_type: str | None,
    *,
    where: str,
    min_side: int = DECODE_MIN_SIDE,
) -> Decoded:
    """Decode the first frame of ``data`` to greyscale, reduced for hashing,
    with the decoder that ``DECODERS`` holds for ``media_type``.

    Raises:
        DecodeError: empty data, wrong or unsupported type, a picture over
            ``MAX_IMAGE_PIXELS``, or a truncated or corrupt file.
    """
    if not data:
        raise DecodeError(where, "empty file (0 bytes)")
    return decoder_for(media_type, where).decode(data, media_type, where, min_side)


def _decode_with_pillow(
    data: bytes, media_type: str | None, where: str, min_side: int
) -> Decoded:
    """The Pillow decoder: still pictures of ``PILLOW_FORMATS``."""
    formats = allowed_formats(media_type, where)
    with warnings.catch_warnings(record=True) as caught:
        # Record every warning instead of printing it (or raising it under
        # pytest's filterwarnings=error); bombs are refused explicitly below.
        warnings.simplefilter("always")
        try:
            img = Image.open(io.BytesIO(data), formats=formats)
        except Image.UnidentifiedImageError as exc:
            expected = media_type or "image of a supported format"
            raise DecodeError(where, f"not a decodable {expected}") from exc
        except _DECODER_ERRORS as exc:
            raise DecodeError(where, _describe(exc)) from exc
        try:
            width, height = img.size
            _check_size(width, height, where)
            if img.format in ("JPEG", "MPO"):  # MPO: multi-picture JPEG
                # DCT scaling; greyscale straight from the Y channel when YCbCr.
                img.draft("L", (min_side, min_side))
            img.load()  # first frame only: never seek or count frames
            luma = reduce_to(_to_luma(img), min_side)
            if luma is img:  # detach from the file object closed below
                luma = img.copy()
            fmt = img.format or "?"
        except _DECODER_ERRORS as exc:
            raise DecodeError(where, _describe(exc)) from exc
        finally:
            img.close()
    notes = tuple(
        dict.fromkeys(
            str(w.message)
            for w in caught
            if not issubclass(w.category, Image.DecompressionBombWarning)
        )
    )
    return Decoded(luma=luma, width=width, height=height, format=fmt, notes=notes)


DECODERS.register(
    Decoder("pillow", handles=PILLOW_FORMATS.__contains__, decode=_decode_with_pillow)
)


def decode_full_rgb(data: bytes, media_type: str | None, *, where: str) -> Image.Image:
    """Full-size RGB decode of the first frame: the slow reference path.

    Used by tests and benchmarks to compare the fast path with what
    ``pdqhash.compute`` and ``imagehash`` give on the whole picture.
    """
    if not data:
        raise DecodeError(where, "empty file (0 bytes)")
    formats = allowed_formats(media_type, where)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            with Image.open(io.BytesIO(data), formats=formats) as img:
                _check_size(*img.size, where)
                img.load()
                if img.mode in ("I", "F") or img.mode.startswith("I;16"):
                    return _to_luma(img).convert("RGB")
                return img.convert("RGB")
        except _DECODER_ERRORS as exc:
            raise DecodeError(where, _describe(exc)) from exc


def _check_size(width: int, height: int, where: str) -> None:
    if width <= 0 or height <= 0:
        raise DecodeError(where, f"invalid picture size {width}x{height}")
    if width * height > MAX_IMAGE_PIXELS:
        raise DecodeError(
            where,
            f"decompression bomb: {width}x{height} = {width * height:,} pixels "
            f"exceeds the limit of {MAX_IMAGE_PIXELS:,}",
        )


def _describe(exc: BaseException) -> str:
    """A one-line reason from a decoder exception."""
    if isinstance(exc, Image.DecompressionBombError):
        return f"decompression bomb: {exc}"
    if isinstance(exc, MemoryError):
        return "out of memory while decoding"
    text = str(exc).strip() or type(exc).__name__
    if "truncated" in text.lower():
        return f"truncated image: {text}"
    return f"corrupt image ({type(exc).__name__}): {text}"
