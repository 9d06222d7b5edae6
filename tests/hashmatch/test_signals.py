"""The signal table (one module per hash algorithm) and the hex/Hamming helpers."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import ClassVar

import pytest

from triage.errors import UnknownNameError, UsageError
from triage.hashmatch.signals import (
    EXACT,
    PERCEPTUAL,
    SIGNALS,
    ExactSignal,
    PerceptualSignal,
    Signal,
    bits_to_hex,
    bytes_to_hex,
    get_signal,
    hamming,
    hamming_bytes,
    hex_to_bytes,
)
from triage.hashmatch.signals import md5 as md5_module


def test_registry_holds_the_expected_algorithms() -> None:
    assert {"md5", "sha1", "pdq", "phash", "dhash"} <= set(SIGNALS)
    assert SIGNALS.get("md5").kind == EXACT and SIGNALS.get("md5").bits == 128
    assert SIGNALS.get("sha1").bits == 160
    pdq = SIGNALS.get("pdq")
    assert pdq.kind == PERCEPTUAL and pdq.bits == 256 and pdq.hex_length == 64
    assert pdq.quality_floor == 50
    assert 0 < pdq.default_threshold < 64
    assert SIGNALS.get("phash").bits == 64
    for algo in SIGNALS.values():
        assert algo.name == algo.name.lower()
        if algo.kind == EXACT:
            assert algo.default_threshold == 0


def test_unknown_algorithm_lists_the_known_ones() -> None:
    with pytest.raises(UsageError) as info:
        get_signal("sha256x")
    assert isinstance(info.value, UnknownNameError)
    message = str(info.value)
    assert "sha256x" in message
    for name in ("md5", "sha1", "pdq", "phash"):
        assert name in message


def test_lookup_is_case_insensitive() -> None:
    assert get_signal(" PDQ ") is SIGNALS.get("pdq")


def test_duplicate_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="already registered"):
        SIGNALS.register(_exact("md5", 128, 0))
    assert SIGNALS.get("md5") is md5_module.MD5


def _exact(name: str, bits: int, threshold: int) -> Signal:
    return ExactSignal(
        name=name,
        bits=bits,
        threshold=threshold,
        hashlib_name="md5",
        csv_column=name,
        vics_name=name.upper(),
    )


def _perceptual(name: str, bits: int, threshold: int) -> Signal:
    return PerceptualSignal(
        name=name, bits=bits, threshold=threshold, csv_column=name, vics_name=name
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class _Fuzzy(PerceptualSignal):
    kind: ClassVar[str] = "fuzzy"


@pytest.mark.parametrize(
    "algorithm",
    [
        lambda: _perceptual("Upper", 64, 8),
        lambda: _perceptual("oddbits", 63, 8),
        lambda: _Fuzzy(
            name="weird", bits=64, threshold=8, csv_column="w", vics_name="w"
        ),
        lambda: _exact("inexact", 128, 3),
    ],
)
def test_inconsistent_algorithms_are_rejected(algorithm) -> None:
    before = SIGNALS.items()
    with pytest.raises(ValueError):
        SIGNALS.register(algorithm())
    assert before == SIGNALS.items()


def test_kinds_are_exact_or_perceptual() -> None:
    assert {s.kind for s in SIGNALS.values()} == {EXACT, PERCEPTUAL}


def test_normalise_checks_length_and_hex() -> None:
    md5 = SIGNALS.get("md5")
    assert md5.normalise(" D41D8CD98F00B204E9800998ECF8427E\n") == (
        "d41d8cd98f00b204e9800998ecf8427e"
    )
    with pytest.raises(ValueError, match="32 hex digits"):
        md5.normalise("d41d8cd9")
    with pytest.raises(ValueError, match="not hex"):
        md5.normalise("z41d8cd98f00b204e9800998ecf8427e")
    with pytest.raises(ValueError, match="not hex"):
        md5.normalise("d41d8cd98f00b204_9800998ecf8427e")


def test_quality_floor_and_threshold() -> None:
    pdq = SIGNALS.get("pdq")
    assert not pdq.usable(49)
    assert pdq.usable(50) and pdq.usable(None)
    assert pdq.matches(pdq.default_threshold)
    assert not pdq.matches(pdq.default_threshold + 1)
    assert pdq.matches(40, threshold=40)


def test_hamming_against_bit_by_bit_oracle() -> None:
    rng = random.Random(1234)
    for bits in (64, 256):
        for _ in range(200):
            a = [rng.randint(0, 1) for _ in range(bits)]
            b = [rng.randint(0, 1) for _ in range(bits)]
            expected = sum(x != y for x, y in zip(a, b, strict=True))
            assert hamming(bits_to_hex(a), bits_to_hex(b)) == expected
            assert (
                hamming_bytes(
                    hex_to_bytes(bits_to_hex(a)), hex_to_bytes(bits_to_hex(b))
                )
                == expected
            )


def test_hamming_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="different lengths"):
        hamming("ff", "ffff")
    with pytest.raises(ValueError):
        hamming_bytes(b"\x00", b"\x00\x00")


def test_bits_to_hex_is_most_significant_first() -> None:
    assert bits_to_hex([1, 0, 0, 0]) == "8"
    assert bits_to_hex([0, 0, 0, 1, 1, 1, 1, 1]) == "1f"
    assert bits_to_hex([0] * 256) == "0" * 64
    with pytest.raises(ValueError):
        bits_to_hex([1, 0, 1])


def test_hex_bytes_round_trip() -> None:
    value = "00ff10ab"
    assert bytes_to_hex(hex_to_bytes(value)) == value
    assert bytes_to_hex(hex_to_bytes("00FF10AB")) == value
