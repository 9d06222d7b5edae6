"""The algorithm registry and the hex/Hamming helpers."""

from __future__ import annotations

import random

import pytest

from triage.errors import UsageError
from triage.hashmatch import algorithms
from triage.hashmatch.algorithms import (
    ALGORITHMS,
    CRYPTOGRAPHIC,
    PERCEPTUAL,
    HashAlgorithm,
    bits_to_hex,
    bytes_to_hex,
    get_algorithm,
    hamming,
    hamming_bytes,
    hex_to_bytes,
    register_algorithm,
)


def test_registry_holds_the_expected_algorithms() -> None:
    assert {"md5", "sha1", "pdq", "phash", "dhash"} <= set(ALGORITHMS)
    assert ALGORITHMS["md5"].kind == CRYPTOGRAPHIC and ALGORITHMS["md5"].bits == 128
    assert ALGORITHMS["sha1"].bits == 160
    pdq = ALGORITHMS["pdq"]
    assert pdq.kind == PERCEPTUAL and pdq.bits == 256 and pdq.hex_length == 64
    assert pdq.quality_floor == 50
    assert 0 < pdq.default_threshold < 64
    assert ALGORITHMS["phash"].bits == 64
    for algo in ALGORITHMS.values():
        assert algo.name == algo.name.lower()
        if algo.kind == CRYPTOGRAPHIC:
            assert algo.default_threshold == 0


def test_unknown_algorithm_lists_the_known_ones() -> None:
    with pytest.raises(UsageError) as info:
        get_algorithm("sha256x")
    message = str(info.value)
    assert "sha256x" in message
    for name in ("md5", "sha1", "pdq", "phash"):
        assert name in message


def test_lookup_is_case_insensitive() -> None:
    assert get_algorithm(" PDQ ") is ALGORITHMS["pdq"]


def test_duplicate_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="already registered"):
        register_algorithm(HashAlgorithm("md5", CRYPTOGRAPHIC, 128, 0))
    assert ALGORITHMS["md5"] is algorithms.MD5


@pytest.mark.parametrize(
    "algorithm",
    [
        HashAlgorithm("Upper", PERCEPTUAL, 64, 8),
        HashAlgorithm("oddbits", PERCEPTUAL, 63, 8),
        HashAlgorithm("weird", "fuzzy", 64, 8),
        HashAlgorithm("inexact", CRYPTOGRAPHIC, 128, 3),
    ],
)
def test_inconsistent_algorithms_are_rejected(algorithm: HashAlgorithm) -> None:
    before = dict(ALGORITHMS)
    with pytest.raises(ValueError):
        register_algorithm(algorithm)
    assert before == ALGORITHMS


def test_normalise_checks_length_and_hex() -> None:
    md5 = ALGORITHMS["md5"]
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
    pdq = ALGORITHMS["pdq"]
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
