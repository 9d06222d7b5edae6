"""imagehash's dHash: row gradients of a 9x8 thumbnail, 64 bits.

Not computed by the scan (not in its default signals): read from hash sets,
computed on request (``perceptual_hashes(..., algorithms=("dhash",))``) and
calibrated by ``benchmarks/calibrate.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import imagehash
import numpy as np
from PIL import Image

from triage.hashmatch.signals.base import ORIGINAL, SIGNALS, PerceptualSignal


@dataclass(frozen=True, slots=True, kw_only=True)
class DhashSignal(PerceptualSignal):
    """dHash of the luma, by ``imagehash`` itself."""

    def compute(
        self, luma: np.ndarray, *, dihedral: bool
    ) -> list[tuple[str, str, int | None]]:
        return [(ORIGINAL, str(imagehash.dhash(Image.fromarray(luma))), None)]


DHASH = DhashSignal(
    name="dhash",
    bits=64,
    threshold=6,
    csv_column="dhash",
    vics_name="dHash",
    description="imagehash dHash: row gradients of a 9x8 thumbnail",
)
SIGNALS.register(DHASH)
