"""Meta's PDQ: a 256-bit DCT hash with a quality, and its dihedral variants.

Computed by ``triage.hashmatch.kernels`` (Meta's algorithm as two small linear
maps); ``pdqhash`` on the same pixels is the reference in tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from triage.hashmatch import kernels
from triage.hashmatch.signals.base import SIGNALS, PerceptualSignal

# Meta's published "confident match" PDQ distance (ThreatExchange
# PDQ_CONFIDENT_MATCH_THRESHOLD); kept for reference next to our calibration.
PDQ_REFERENCE_THRESHOLD = 31
# PDQ hashes of flat or featureless images (quality < 50) match almost anything:
# they are computed and stored, but never matched.
PDQ_QUALITY_FLOOR = 50

#: Names of the variants ``kernels.pdq`` returns, in its order; they follow
#: Meta's ``pdqDihedralHash256esFromFloatLuma`` (see ``hashing``).
DIHEDRAL_VARIANTS: tuple[str, ...] = (
    "original",
    "rot90",
    "rot180",
    "rot270",
    "flipx",
    "flipy",
    "flipplus",
    "flipminus",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class PdqSignal(PerceptualSignal):
    """PDQ of the luma; with ``dihedral``, its seven rotations/mirrors too."""

    def compute(
        self, luma: np.ndarray, *, dihedral: bool
    ) -> list[tuple[str, str, int | None]]:
        values, quality = kernels.pdq(luma, dihedral=dihedral)
        return [
            (variant, value, quality)
            for variant, value in zip(DIHEDRAL_VARIANTS, values, strict=False)
        ]


PDQ = PdqSignal(
    name="pdq",
    bits=256,
    # Calibrated (benchmarks/calibrate.py); Meta's reference is 31.
    threshold=31,
    quality_floor=PDQ_QUALITY_FLOOR,
    csv_column="pdq",
    vics_name="PDQ",
    description="Meta PDQ, 256-bit DCT hash with quality (0-100)",
)
SIGNALS.register(PDQ)
