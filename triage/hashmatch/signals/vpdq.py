"""vPDQ: Meta's video PDQ, one PDQ hash (with quality) per sampled frame.

A known video is a hash-set entry holding many ``vpdq`` values (its frames,
quality >= 50, duplicates removed); a device video's frames are sampled and
hashed by ``triage.hashmatch.video``. Frames compare as PDQ does (Hamming
distance, Meta's 31), and a video matches by shares of frames
(``triage.hashmatch.video_match``). Kept apart from the picture ``pdq``
column so that a known picture and a known video's frames never mix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from triage.hashmatch.signals.base import SIGNALS
from triage.hashmatch.signals.pdq import (
    PDQ_QUALITY_FLOOR,
    PDQ_REFERENCE_THRESHOLD,
    PdqSignal,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class VpdqSignal(PdqSignal):
    """The PDQ of one video frame (no dihedral variants: vPDQ has none)."""

    def compute(
        self, luma: np.ndarray, *, dihedral: bool
    ) -> list[tuple[str, str, int | None]]:
        return PdqSignal.compute(self, luma, dihedral=False)


VPDQ = VpdqSignal(
    name="vpdq",
    bits=256,
    threshold=PDQ_REFERENCE_THRESHOLD,  # per frame, as vPDQ's matcher uses
    quality_floor=PDQ_QUALITY_FLOOR,
    csv_column="vpdq",
    vics_name="vPDQ",
    description="Meta vPDQ: PDQ of one video frame a second (a known video's frames)",
)
SIGNALS.register(VPDQ)
