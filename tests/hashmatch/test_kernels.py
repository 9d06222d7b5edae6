"""PDQ and pHash as linear maps agree with the reference libraries they replace.

``pdqhash`` (Meta's C++ hasher) and ``imagehash`` (Pillow's Lanczos resize,
then a DCT) are the references: the kernels must give their values on the
same greyscale pixels, for every size the decoder can hand over.
"""

from __future__ import annotations

import imagehash
import numpy as np
import pdqhash
import pytest
from PIL import Image, ImageFilter

from triage.hashmatch import kernels
from triage.hashmatch.signals import bits_to_hex, hamming
from triage.sample.pictures import make_picture

# (height, width): landscape, portrait, square, the decoder's usual sizes,
# odd sizes, panoramas, pictures smaller than the 32x32 and 64x64 grids, and
# sizes where Pillow switches the order of its two passes.
SHAPES = [
    (480, 640),
    (640, 480),
    (512, 683),
    (683, 512),
    (540, 960),
    (600, 800),
    (750, 1000),
    (1000, 750),
    (512, 1090),
    (1090, 512),
    (333, 517),
    (97, 61),
    (61, 97),
    (169, 100),
    (168, 100),
    (129, 130),
    (64, 64),
    (48, 40),
    (32, 32),
    (32, 50),
    (50, 32),
    (20, 40),
    (40, 20),
]


def _pixels(seed: int, height: int, width: int) -> np.ndarray:
    """A photo-like greyscale picture of exactly ``height`` x ``width``."""
    if min(height, width) >= 8:
        return np.asarray(make_picture(seed, width, height).convert("L"))
    rng = np.random.default_rng(seed)
    noise = Image.fromarray((rng.random((height, width)) * 255).astype(np.uint8))
    return np.asarray(noise.filter(ImageFilter.GaussianBlur(1)))


def _reference_pdq(luma: np.ndarray) -> tuple[list[str], int]:
    rgb = np.ascontiguousarray(np.broadcast_to(luma[..., None], (*luma.shape, 3)))
    vectors, quality = pdqhash.compute_dihedral(rgb)
    return [bits_to_hex(v) for v in vectors], int(quality)


def test_pdq_equals_meta_reference_on_every_shape() -> None:
    exact = 0
    for seed, (height, width) in enumerate(SHAPES):
        luma = _pixels(seed, height, width)
        expected, quality = _reference_pdq(luma)
        values, got_quality = kernels.pdq(luma)
        assert len(values) == 8
        distances = [hamming(a, b) for a, b in zip(values, expected, strict=True)]
        # Float summation order differs from the C++ running sums, so a
        # coefficient within rounding of the median may flip a bit.
        assert max(distances) <= 4, ((height, width), distances)
        assert abs(got_quality - quality) <= 1, ((height, width), got_quality)
        exact += max(distances) == 0 and got_quality == quality
    assert exact >= len(SHAPES) - 2


def test_pdq_without_dihedral_is_the_original_variant() -> None:
    luma = _pixels(7, 480, 640)
    values, quality = kernels.pdq(luma, dihedral=False)
    all_values, all_quality = kernels.pdq(luma)
    assert values == all_values[:1]
    assert quality == all_quality


@pytest.mark.parametrize(("height", "width"), SHAPES)
def test_phash_grid_is_pillows_lanczos_resize_exactly(height: int, width: int) -> None:
    luma = _pixels(height * 7 + width, height, width)
    expected = np.asarray(
        Image.fromarray(luma).resize((32, 32), Image.Resampling.LANCZOS)
    )
    assert np.array_equal(kernels.phash_grid(luma), expected)


def test_phash_equals_imagehash_on_random_sizes() -> None:
    rng = np.random.default_rng(2026)
    for _ in range(60):
        height, width = (int(v) for v in rng.integers(5, 1200, 2))
        luma = _pixels(int(rng.integers(1 << 30)), height, width)
        assert kernels.phash(luma) == str(imagehash.phash(Image.fromarray(luma))), (
            height,
            width,
        )
