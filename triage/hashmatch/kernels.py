"""PDQ and pHash of a greyscale array, computed as two small linear maps.

Both hashes squash the picture to a tiny grid before their DCT: PDQ filters
every pixel with Jarosz box passes and then keeps 64x64 samples; pHash
(imagehash) resizes to 32x32 with Pillow's Lanczos filter. Both squashes are
separable linear maps, so the grid is ``rows @ luma @ cols.T`` with a
``rows`` and a ``cols`` matrix that depend only on the picture's size. Built
once per size and cached, they make hashing cost a sparse and a few small
dense products instead of filtering every pixel. On a 640x480 picture here:
PDQ with its 8 dihedral variants 0.16 ms against 3.1 ms for
``pdqhash.compute_dihedral`` (which filters two full float buffers per call;
about 6.5 ms per item inside a scan), pHash 0.42 ms against 1.10 ms for
``imagehash.phash`` (``python benchmarks/bench_kernels.py``).

The maps reproduce the references step by step:

- PDQ follows Meta's ``pdqhashing.cpp``: window ``ceil(n / 128)``; box passes
  whose window shrinks at the edges (``box1DFloat``), applied twice along each
  axis; samples at ``int((i + 0.5) * n / 64)``; the quality metric on the
  64x64 buffer; a 16x64 DCT of frequencies 1-16; bits above the lower median
  (``torben``); the dihedral variants by sign flips and transposes of the 16x16
  DCT (``dct16OriginalToRotate90`` ...).
- pHash follows Pillow's ``precompute_coeffs`` (Lanczos, support 3 scaled by
  the reduction) with its 22-bit fixed-point weights, rounding to 0-255 after
  the horizontal and after the vertical pass as ``ImagingResample`` does, then
  imagehash's DCT and median.

PDQ is summed in float32 like the reference but in another order, so a bit can
flip where a coefficient sits within rounding error of the median, and a
quality can move by one where a gradient sits on an integer boundary. On
photo-like pictures that is rare (295 of 300 random sizes identical, the rest
within 2 bits, apart from the next case); on a picture only a few pixels wide
or high, each pixel fills several of the 64 samples, many coefficients are
exactly zero and tie at the median, and up to ~16 bits are float noise in
either implementation. pHash is
exact: float64 holds every sum of 22-bit weights times 0-255 values.
``tests/hashmatch/test_kernels.py`` checks both against ``pdqhash`` and
``imagehash`` on many pictures.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import threadpoolctl

if TYPE_CHECKING:
    import scipy.sparse

PDQ_GRID = 64  # PDQ's decimated buffer is 64 x 64
PDQ_DCT = 16  # of which the DCT keeps frequencies 1..16 on each axis
PDQ_WINDOW_DIVISOR = 128  # Jarosz window per pass: ceil(side / 128)
PDQ_PASSES = 2  # box passes per axis: a tent filter

PHASH_GRID = 32  # imagehash: hash_size 8 x highfreq_factor 4
PHASH_BITS_SIDE = 8
LANCZOS_SUPPORT = 3.0
PILLOW_PRECISION_BITS = 32 - 8 - 2  # Resample.c, 8 bits per channel

# Dihedral variants of the 16x16 DCT, in DIHEDRAL_VARIANTS order. Frequencies
# are 1..16, so mirroring an axis negates the coefficients of odd frequencies,
# i.e. of even indices: (transpose?, negate even rows?, negate even columns?)
# applied to the original, matching Meta's dct16OriginalTo* functions.
_DIHEDRAL: tuple[tuple[bool, bool, bool], ...] = (
    (False, False, False),  # original
    (True, True, False),  # rot90: B[j][i] = A[i][j], negated where j even
    (False, True, True),  # rot180: negated where i + j odd
    (True, False, True),  # rot270: B[j][i] = A[i][j], negated where i even
    (False, True, False),  # flipx: negated where i even
    (False, False, True),  # flipy: negated where j even
    (True, False, False),  # flipplus: transpose
    (True, True, True),  # flipminus: transpose, negated where i + j odd
)


@lru_cache(maxsize=1)
def one_blas_thread() -> None:
    """Keep BLAS to one thread in this process, from now on.

    The products here are small: a second BLAS thread buys no time and spins
    on the other core, doubling the CPU a hash costs (0.55 against 1.07 CPU
    seconds for the same 300 pictures here). Called by the processes that
    hash (the CLI, scan workers); a library caller decides for its own
    process. Dask's nanny already sets ``OPENBLAS_NUM_THREADS=1`` for the
    workers it spawns, but not ``dask worker --no-nanny``.
    """
    threadpoolctl.threadpool_limits(limits=1, user_api="blas")


@lru_cache(maxsize=512)
def pdq_axis(n: int) -> scipy.sparse.csr_matrix:
    """The 64 x n map of PDQ's box passes and decimation along one axis."""
    window = (n + PDQ_WINDOW_DIVISOR - 1) // PDQ_WINDOW_DIVISOR
    half = (window + 2) // 2
    below, above = window - half, half - 1  # box1DFloat's reach around a pixel

    def box_row(o: int) -> np.ndarray:
        # Output o of one pass: the mean of its window, clipped at the ends.
        row = np.zeros(n)
        lo, hi = max(0, o - below), min(n - 1, o + above)
        row[lo : hi + 1] = 1.0 / (hi - lo + 1)
        return row

    import scipy.sparse  # noqa: PLC0415 - on first use: not at the CLI's start

    out = np.zeros((PDQ_GRID, n))
    for i in range(PDQ_GRID):
        row = box_row(int(((i + 0.5) * n) / PDQ_GRID))  # decimation sample
        for _ in range(PDQ_PASSES - 1):  # compose the earlier passes
            row = sum(
                (row[k] * box_row(int(k)) for k in np.flatnonzero(row)), np.zeros(n)
            )
        out[i] = row
    return scipy.sparse.csr_matrix(out.astype(np.float32))


@lru_cache(maxsize=1)
def _pdq_dct() -> np.ndarray:
    """Meta's 16 x 64 DCT matrix (frequencies 1..16)."""
    scale = math.sqrt(2.0 / PDQ_GRID)
    i = np.arange(1, PDQ_DCT + 1)[:, None]
    j = np.arange(PDQ_GRID)[None, :]
    return (scale * np.cos(math.pi / 2 / PDQ_GRID * i * (2 * j + 1))).astype(np.float32)


@lru_cache(maxsize=1)
def _dihedral_signs() -> tuple[np.ndarray, ...]:
    even = (np.arange(PDQ_DCT) % 2 == 0)[:, None]
    signs = []
    for _, rows, cols in _DIHEDRAL:
        sign = np.ones((PDQ_DCT, PDQ_DCT), dtype=np.float32)
        if rows:
            sign[np.broadcast_to(even, sign.shape)] *= -1
        if cols:
            sign[np.broadcast_to(even.T, sign.shape)] *= -1
        signs.append(sign)
    return tuple(signs)


def pdq_grid(luma: np.ndarray) -> np.ndarray:
    """PDQ's 64x64 float buffer of a greyscale (H x W, uint8) array."""
    height, width = luma.shape
    rows = pdq_axis(height) @ luma.astype(np.float32, copy=False)  # 64 x W
    return np.ascontiguousarray((pdq_axis(width) @ rows.T).T)


def pdq_quality(grid: np.ndarray) -> int:
    """Meta's quality metric (0-100) of the 64x64 buffer."""
    down = np.trunc((grid[:-1] - grid[1:]) * np.float32(100) / np.float32(255))
    across = np.trunc((grid[:, :-1] - grid[:, 1:]) * np.float32(100) / np.float32(255))
    total = int(np.abs(down).sum(dtype=np.int64) + np.abs(across).sum(dtype=np.int64))
    return min(total // 90, 100)


def _bits_hex(bits: np.ndarray) -> str:
    """PDQ bits in reference order (bit i*16+j) to Meta's hex (bit 255 first)."""
    return np.packbits(bits[::-1]).tobytes().hex()


def pdq(luma: np.ndarray, *, dihedral: bool = True) -> tuple[list[str], int]:
    """PDQ hex of ``luma`` (and its 7 dihedral variants), and its quality.

    Variants come in ``triage.hashmatch.hashing.DIHEDRAL_VARIANTS`` order.
    """
    return pdq_of_grid(pdq_grid(luma), dihedral=dihedral)


def pdq_of_grid(grid: np.ndarray, *, dihedral: bool = True) -> tuple[list[str], int]:
    """``pdq`` from PDQ's 64x64 float buffer (``pdq_grid``)."""
    quality = pdq_quality(grid)
    dct_matrix = _pdq_dct()
    dct = dct_matrix @ grid @ dct_matrix.T
    variants = _DIHEDRAL if dihedral else _DIHEDRAL[:1]
    stack = np.empty((len(variants), PDQ_DCT * PDQ_DCT), dtype=np.float32)
    for k, ((transpose, _, _), sign) in enumerate(
        zip(variants, _dihedral_signs(), strict=False)
    ):
        stack[k] = ((dct.T if transpose else dct) * sign).ravel()
    # torben's median of 256 values is the lower one, the 128th smallest.
    median = np.partition(stack, PDQ_DCT * PDQ_DCT // 2 - 1, axis=1)[
        :, PDQ_DCT * PDQ_DCT // 2 - 1
    ]
    bits = stack > median[:, None]
    return [_bits_hex(row) for row in bits], quality


def _lanczos(x: np.ndarray) -> np.ndarray:
    """Pillow's truncated-sinc Lanczos filter (support 3)."""
    inside = (x >= -LANCZOS_SUPPORT) & (x < LANCZOS_SUPPORT)
    return np.where(inside, np.sinc(x) * np.sinc(x / LANCZOS_SUPPORT), 0.0)


def _lanczos_axis(n: int, out: int = PHASH_GRID) -> np.ndarray:
    """The out x n map of Pillow's Lanczos resize along one axis, with its
    weights rounded to 22-bit fixed point as ``normalize_coeffs_8bpc`` does
    (float64 holds them exactly)."""
    scale = n / out
    filterscale = max(scale, 1.0)
    support = LANCZOS_SUPPORT * filterscale
    weights = np.zeros((out, n))
    for xx in range(out):
        center = (xx + 0.5) * scale
        xmin = max(int(center - support + 0.5), 0)
        xmax = min(int(center + support + 0.5), n)
        taps = _lanczos((np.arange(xmin, xmax) - center + 0.5) / filterscale)
        total = taps.sum()
        if total != 0.0:
            taps = taps / total
        fixed = np.where(taps < 0, -0.5, 0.5) + taps * (1 << PILLOW_PRECISION_BITS)
        weights[xx, xmin:xmax] = np.trunc(fixed) / (1 << PILLOW_PRECISION_BITS)
    return weights


# Outputs resampled together: each group reads only the input columns (rows)
# its taps reach, which cuts the float64 work of a 640-wide picture by half.
_BAND_OUTPUTS = 8


# Maps are cached per side length, least recently used first out: a side is
# at most ~2,050 px after decoding (about 190 KB of pHash bands and 16 KB of
# PDQ map then), so the caches stay under ~60 MB; a size that was evicted
# costs its maps again (1.6 ms for PDQ, 0.8 ms for pHash at 600-700 px).
@lru_cache(maxsize=256)
def _lanczos_bands(n: int) -> tuple[tuple[int, int, int, np.ndarray], ...]:
    """``_lanczos_axis(n)`` cut into bands: (first output, first input, end
    input, weights of those outputs over those inputs)."""
    return bands_of(_lanczos_axis(n), _BAND_OUTPUTS)


def bands_of(
    weights: np.ndarray, outputs: int
) -> tuple[tuple[int, int, int, np.ndarray], ...]:
    """A dense (outputs x inputs) resampling map cut into bands of
    ``outputs`` outputs: (first output, first input, end input, the band's
    weights over just the inputs it reaches)."""
    bands = []
    for first in range(0, weights.shape[0], outputs):
        rows = weights[first : first + outputs]
        reach = np.flatnonzero(np.abs(rows).sum(axis=0))
        lo, hi = int(reach[0]), int(reach[-1]) + 1
        bands.append((first, lo, hi, np.ascontiguousarray(rows[:, lo:hi])))
    return tuple(bands)


def _clip8(values: np.ndarray) -> np.ndarray:
    """Pillow's ``clip8``: round half up, clip to 0-255. Exact here: float64
    holds every sum of 22-bit weights times 0-255 without rounding."""
    return np.clip(np.floor(values + 0.5), 0, 255)


def _resize_cols(pixels: np.ndarray) -> np.ndarray:
    """Pillow's horizontal Lanczos pass to 32 columns (0-255 values)."""
    # Computed as 32 rows of output (weights @ pixels.T): 10-14% faster than
    # 8 output columns a band (min of 6 alternating runs, 640x480 to 1000x750).
    out = np.empty((PHASH_GRID, pixels.shape[0]))
    for first, lo, hi, weights in _lanczos_bands(pixels.shape[1]):
        out[first : first + len(weights)] = weights @ pixels[:, lo:hi].T
    return _clip8(out.T)


def _resize_rows(pixels: np.ndarray) -> np.ndarray:
    """Pillow's vertical Lanczos pass to 32 rows (0-255 values)."""
    out = np.empty((PHASH_GRID, pixels.shape[1]))
    for first, lo, hi, weights in _lanczos_bands(pixels.shape[0]):
        out[first : first + len(weights)] = weights @ pixels[lo:hi]
    return _clip8(out)


def phash_grid(luma: np.ndarray) -> np.ndarray:
    """The 32x32 uint8 picture Pillow's Lanczos ``resize`` makes of ``luma``."""
    height, width = luma.shape
    grid = luma.astype(np.float64)
    # Pillow skips a pass whose size does not change, and (Pillow 13, found by
    # testing against it) runs the vertical pass first when the picture loses
    # more than twice as many rows as columns.
    passes = [(width, _resize_cols), (height, _resize_rows)]
    if height > PHASH_GRID and height - PHASH_GRID > 2 * (width - PHASH_GRID):
        passes.reverse()
    for size, resize in passes:
        if size != PHASH_GRID:
            grid = resize(grid)
    return grid.astype(np.uint8)


def phash(luma: np.ndarray) -> str:
    """imagehash's ``phash`` (64 bits, hex) of a greyscale uint8 array."""
    import scipy.fft  # noqa: PLC0415 - on first use: not at the CLI's start

    pixels = phash_grid(luma)
    dct = scipy.fft.dct(scipy.fft.dct(pixels, axis=0), axis=1)
    low = dct[:PHASH_BITS_SIDE, :PHASH_BITS_SIDE]
    return np.packbits(low > np.median(low)).tobytes().hex()
