"""PDQ and pHash of one decoded video frame, without a full-frame float copy.

vPDQ hashes a frame by converting it to RGB (FFmpeg's ``rgb24``), taking
the float32 luma of every pixel (``0.299 R + 0.587 G + 0.114 B``, as Meta's
``fillFloatLumaFromRGB`` and ``pdqhash`` do) and running PDQ on it. Here
the luma is made a few rows at a time, only for the rows PDQ's box filters
reach from a group of its 64 output rows, and each group is reduced to its
output rows at once (a small dense product with the same weights
``kernels.pdq_grid`` uses), so the frame's luma never exists in full: on
720p H.264 that takes the PDQ of a decoded frame from ~5 to ~2 ms inside a
decode loop (``benchmarks/HISTORY.md``). Each pixel's luma is a dot
product (within a float32 rounding of the reference's left-to-right sum)
and the filter's sums run in another order (as in ``kernels.pdq``), so a
bit may flip where a coefficient sits within float rounding of the median;
none did on the 1,200 frames of the 720p benchmark videos
(``python benchmarks/bench_video.py drift``); ``tests/hashmatch/test_video.py``
compares with ``pdqhash`` and, in a slow test, Meta's ``vpdq``.

The frame's pHash is taken from FFmpeg's grey plane (the decoded luma
plane) area-reduced so its short side stays >= ``PHASH_MIN_SIDE``, then
``kernels.phash`` (imagehash's Lanczos to 32x32 and DCT). It serves to find
known pictures shown in a video, which have been rescaled and re-encoded
on the way; against the picture path (the RGB frame's grey at full size)
it differs by 0.11 bits on average, at most 2, on every frame of the 720p
benchmark videos (``python benchmarks/bench_video.py drift``).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Any

import numpy as np

from triage.hashmatch import kernels

# Luma weights of pdqhash / Meta's fillFloatLumaFromRGB.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)
#: PDQ output rows computed together: their rows of luma (about 45 at 720p)
#: stay in cache between the luma and the product.
_GROUP = 4
#: The grey frame's short side for pHash after FFmpeg's area reduction.
PHASH_MIN_SIDE = 160


class _Reformatters(threading.local):
    """FFmpeg conversion contexts kept between frames (one per thread): a
    fresh one per frame, as ``VideoFrame.to_ndarray`` makes, costs ~0.4 ms."""

    def __init__(self) -> None:
        from av.video.reformatter import VideoReformatter  # noqa: PLC0415 - FFmpeg on first use

        self.rgb = VideoReformatter()
        self.grey = VideoReformatter()


@lru_cache(maxsize=1)
def _reformatters() -> _Reformatters:
    """The conversion contexts, made on first use (PyAV loads then); one
    object, whose attributes each thread makes for itself."""
    return _Reformatters()


def frame_rgb(frame: Any) -> np.ndarray:
    """The H x W x 3 uint8 RGB of a decoded PyAV frame, converted by FFmpeg
    exactly as ``frame.to_ndarray(format="rgb24")`` (and vPDQ) does."""
    return _reformatters().rgb.reformat(frame, format="rgb24").to_ndarray()


@lru_cache(maxsize=64)
def _row_groups(height: int) -> tuple[tuple[int, int, int, np.ndarray], ...]:
    """PDQ's 64 x ``height`` row map cut into groups of output rows: (first
    output, first input row, end input row, dense weights over those rows)."""
    return kernels.bands_of(kernels.pdq_axis(height).toarray(), _GROUP)


def pdq_grid_rgb(rgb: np.ndarray) -> np.ndarray:
    """PDQ's 64x64 float buffer of an H x W x 3 uint8 RGB frame (see the
    module): ``kernels.pdq_grid`` of its luma, group by group of rows."""
    height, width = rgb.shape[:2]
    groups = _row_groups(height)
    tallest = max(hi - lo for _, lo, hi, _ in groups)
    pixels = np.empty((tallest, width, 3), dtype=np.float32)
    luma = np.empty((tallest, width), dtype=np.float32)
    reduced = np.empty((kernels.PDQ_GRID, width), dtype=np.float32)
    for first, lo, hi, weights in groups:
        band, floats = luma[: hi - lo], pixels[: hi - lo]
        np.copyto(floats, rgb[lo:hi], casting="unsafe")
        np.matmul(floats, _LUMA, out=band)
        reduced[first : first + len(weights)] = weights @ band
    return np.ascontiguousarray((kernels.pdq_axis(width) @ reduced.T).T)


def pdq_rgb(rgb: np.ndarray, *, dihedral: bool = True) -> tuple[list[str], int]:
    """PDQ hex (and its 7 dihedral variants) and quality of an RGB frame."""
    return kernels.pdq_of_grid(pdq_grid_rgb(rgb), dihedral=dihedral)


def phash_frame(frame: Any) -> str:
    """pHash of a decoded PyAV video frame from its area-reduced grey plane."""
    width, height = frame.width, frame.height
    factor = max(1, min(width, height) // PHASH_MIN_SIDE)
    grey = _reformatters().grey.reformat(
        frame,
        width=max(1, width // factor),
        height=max(1, height // factor),
        format="gray",
        interpolation="AREA",
    )
    return kernels.phash(grey.to_ndarray())
