"""imagehash's pHash: DCT of a 32x32 greyscale thumbnail, 64 bits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from triage.hashmatch import kernels
from triage.hashmatch.signals.base import ORIGINAL, SIGNALS, PerceptualSignal


@dataclass(frozen=True, slots=True, kw_only=True)
class PhashSignal(PerceptualSignal):
    """pHash of the luma (``kernels.phash``, exact to ``imagehash.phash``)."""

    def compute(
        self, luma: np.ndarray, *, dihedral: bool
    ) -> list[tuple[str, str, int | None]]:
        return [(ORIGINAL, kernels.phash(luma), None)]


PHASH = PhashSignal(
    name="phash",
    bits=64,
    threshold=8,
    csv_column="phash",
    csv_aliases=("p-hash",),
    vics_name="pHash",
    description="imagehash pHash: DCT of a 32x32 greyscale thumbnail",
)
SIGNALS.register(PHASH)
