"""The calibration file and the thresholds chosen from it stay consistent."""

from __future__ import annotations

import pytest

from triage.errors import UsageError
from triage.hashmatch.hashing import perceptual_hashes
from triage.hashmatch.signals import (
    SIGNALS,
    calibration,
    copy_probability,
)
from triage.sample.pictures import TRANSFORMS, encode, make_picture

PERCEPTUAL = ("pdq", "phash", "dhash")


def test_file_layout() -> None:
    doc = calibration()
    assert doc["version"] == 1
    assert "p_copy" in doc["about"] and "histogram" in doc["about"]
    assert doc["command"].startswith("python benchmarks/calibrate.py")
    assert doc["bases"] >= 100
    assert set(doc["transforms"]) >= set(TRANSFORMS) - {"crop-10"}
    for name in PERCEPTUAL:
        table = doc["algorithms"][name]
        bits = SIGNALS.get(name).bits
        assert table["bits"] == bits
        for key in ("copy_histogram", "unrelated_histogram", "p_copy"):
            assert len(table[key]) == bits + 1, (name, key)
        assert sum(table["copy_histogram"]) == table["copies"]
        assert sum(table["unrelated_histogram"]) == table["unrelated_pairs"]
        assert table["unrelated_pairs"] >= 100_000


@pytest.mark.parametrize("name", PERCEPTUAL)
def test_p_copy_is_a_non_increasing_probability(name: str) -> None:
    p = calibration()["algorithms"][name]["p_copy"]
    assert all(0.0 <= x <= 1.0 for x in p)
    assert all(a >= b for a, b in zip(p, p[1:], strict=False))
    assert p[0] > 0.95
    assert p[SIGNALS.get(name).bits // 2] < 0.05  # the unrelated median


@pytest.mark.parametrize("name", PERCEPTUAL)
def test_registry_thresholds_are_the_calibrated_ones(name: str) -> None:
    table = calibration()["algorithms"][name]
    threshold = SIGNALS.get(name).default_threshold
    assert table["default_threshold"] == threshold
    # No unrelated pair of the calibration set matched at the default...
    assert sum(table["unrelated_histogram"][: threshold + 1]) == 0
    # ...and the probability of a true copy there is high.
    assert copy_probability(name, threshold) > 0.9


def test_copy_probability() -> None:
    assert copy_probability("md5", 0) == 1.0
    assert copy_probability("sha1", 3) == 0.0
    assert copy_probability("pdq", 0) >= copy_probability("pdq", 40)
    assert copy_probability("pdq", 10_000) == copy_probability("pdq", 256)
    with pytest.raises(UsageError):
        copy_probability("sha512", 0)
    with pytest.raises(ValueError):
        copy_probability("pdq", -1)
    with pytest.raises(ValueError):
        copy_probability("pdq", 3, prior_odds=0)


@pytest.mark.parametrize("name", PERCEPTUAL)
def test_copy_probability_follows_the_table_and_the_prior(name: str) -> None:
    table = calibration()["algorithms"][name]
    for distance in (0, 5, SIGNALS.get(name).default_threshold, 20, 40):
        assert copy_probability(name, distance) == pytest.approx(
            table["p_copy"][distance], abs=1e-4
        )
        # rarer copies (a smaller prior) can only lower the probability
        assert copy_probability(name, distance, prior_odds=1e-6) <= (
            copy_probability(name, distance)
        )


def test_live_copies_fall_where_the_calibration_says() -> None:
    """A few fresh copies (seeds outside the calibration set) land under the
    defaults with a high copy probability."""
    for seed in (901, 902):
        img = make_picture(seed, 800, 600)
        base = perceptual_hashes(encode(img), "image/jpeg", where="base")
        reference = {
            h.algorithm: h.value for h in base.hashes if h.variant == "original"
        }
        for transform in ("resize-50", "jpeg-q70", "greyscale", "watermark"):
            copy = TRANSFORMS[transform](img)
            result = perceptual_hashes(encode(copy, "PNG"), "image/png", where="c")
            for name in ("pdq", "phash"):
                distance = min(
                    SIGNALS.get(name).bits
                    if h.algorithm != name
                    else bin(int(h.value, 16) ^ int(reference[name], 16)).count("1")
                    for h in result.hashes
                )
                assert distance <= SIGNALS.get(name).default_threshold
                assert copy_probability(name, distance) > 0.9
