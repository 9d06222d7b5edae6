"""The perceptual signals' calibration: distance distributions of copies and
of unrelated pictures, written by ``benchmarks/calibrate.py`` into
``triage/hashmatch/calibration.json`` (see its "about" key for the layout).
Default thresholds come from the same runs (benchmarks/HISTORY.md).
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

CALIBRATION_FILE = "calibration.json"


@cache
def calibration() -> dict[str, Any]:
    """The distance distributions written by ``benchmarks/calibrate.py``."""
    text = resources.files("triage.hashmatch").joinpath(CALIBRATION_FILE).read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def log10_likelihood_ratio(name: str, distance: int) -> float:
    """log10 of P(distance | copy) / P(distance | unrelated) for signal ``name``.

    Raises:
        ValueError: no calibration for it.
    """
    table = calibration()["algorithms"].get(name)
    if table is None:
        raise ValueError(f"no calibration for {name!r} in {CALIBRATION_FILE}")
    ratios: list[float] = table["log10_likelihood_ratio"]
    return ratios[min(distance, len(ratios) - 1)]
