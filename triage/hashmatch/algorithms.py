"""The hash algorithms ``triage`` computes and matches, in one registry.

Every algorithm a hash set, the index or the matcher names is looked up in
``ALGORITHMS``; an unknown name is an error that lists the known ones. Hash
values travel as lowercase hex strings, most significant bit first, which is
the convention of Meta's PDQ reference (``Hash256::format``), ThreatExchange and
``imagehash`` (``str(hash)``), so values agree with published hash sets.

Default thresholds (the largest Hamming distance still called a match) come from
``benchmarks/calibrate.py``; see benchmarks/README.md for the table behind them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from triage.errors import UsageError

CRYPTOGRAPHIC = "cryptographic"
PERCEPTUAL = "perceptual"

# Meta's published "confident match" PDQ distance (ThreatExchange
# PDQ_CONFIDENT_MATCH_THRESHOLD); kept for reference next to our calibration.
PDQ_REFERENCE_THRESHOLD = 31
# PDQ hashes of flat or featureless images (quality < 50) match almost anything:
# they are computed and stored, but never matched.
PDQ_QUALITY_FLOOR = 50


class UnknownAlgorithmError(UsageError):
    """A hash algorithm name that is not registered."""


@dataclass(frozen=True, slots=True)
class HashAlgorithm:
    """What one hash algorithm is and how its values compare."""

    name: str  # registry key, lowercase: "md5", "pdq", ...
    kind: str  # CRYPTOGRAPHIC (exact) or PERCEPTUAL (Hamming distance)
    bits: int  # length of a value in bits
    default_threshold: int  # largest Hamming distance that matches; 0 = exact
    quality_floor: int | None = None  # values with lower quality never match
    description: str = ""

    @property
    def hex_length(self) -> int:
        """Number of hex digits in one value."""
        return self.bits // 4

    @property
    def is_perceptual(self) -> bool:
        return self.kind == PERCEPTUAL

    def normalise(self, value: str) -> str:
        """Return ``value`` as lowercase hex of the right length.

        Raises:
            ValueError: not hex, or the wrong length for this algorithm.
        """
        text = value.strip().lower()
        if len(text) != self.hex_length:
            raise ValueError(
                f"{self.name} value must be {self.hex_length} hex digits, "
                f"got {len(text)}: {value[:80]!r}"
            )
        try:
            int(text, 16)
        except ValueError as exc:
            raise ValueError(f"{self.name} value is not hex: {value[:80]!r}") from exc
        if not all(c in "0123456789abcdef" for c in text):  # int() accepts "_"
            raise ValueError(f"{self.name} value is not hex: {value[:80]!r}")
        return text

    def matches(self, distance: int, threshold: int | None = None) -> bool:
        """Whether a Hamming ``distance`` is a match at ``threshold`` (or default)."""
        limit = self.default_threshold if threshold is None else threshold
        return distance <= limit

    def usable(self, quality: int | None) -> bool:
        """Whether a value of this ``quality`` may be matched at all."""
        if self.quality_floor is None or quality is None:
            return True
        return quality >= self.quality_floor


ALGORITHMS: dict[str, HashAlgorithm] = {}


def register_algorithm(algorithm: HashAlgorithm) -> HashAlgorithm:
    """Add ``algorithm`` to ``ALGORITHMS``.

    Raises:
        ValueError: the name is already registered, not lowercase, or the
            algorithm is inconsistent (unknown kind, bits not a multiple of 4).
    """
    if algorithm.name in ALGORITHMS:
        raise ValueError(f"hash algorithm {algorithm.name!r} is already registered")
    if algorithm.name != algorithm.name.lower() or not algorithm.name:
        raise ValueError(f"hash algorithm name must be lowercase: {algorithm.name!r}")
    if algorithm.kind not in (CRYPTOGRAPHIC, PERCEPTUAL):
        raise ValueError(f"unknown kind {algorithm.kind!r} for {algorithm.name!r}")
    if algorithm.bits <= 0 or algorithm.bits % 4:
        raise ValueError(f"bits must be a positive multiple of 4: {algorithm.bits}")
    if algorithm.kind == CRYPTOGRAPHIC and algorithm.default_threshold != 0:
        raise ValueError(f"cryptographic {algorithm.name!r} must match exactly")
    ALGORITHMS[algorithm.name] = algorithm
    return algorithm


def get_algorithm(name: str) -> HashAlgorithm:
    """The registered algorithm called ``name`` (case-insensitive).

    Raises:
        UnknownAlgorithmError: no such algorithm; the message lists known ones.
    """
    try:
        return ALGORITHMS[name.strip().lower()]
    except KeyError:
        known = ", ".join(sorted(ALGORITHMS))
        raise UnknownAlgorithmError(
            f"unknown hash algorithm {name!r}; known: {known}"
        ) from None


def algorithms_of_kind(kind: str) -> tuple[HashAlgorithm, ...]:
    """All registered algorithms of ``kind``, in registration order."""
    return tuple(a for a in ALGORITHMS.values() if a.kind == kind)


MD5 = register_algorithm(
    HashAlgorithm("md5", CRYPTOGRAPHIC, 128, 0, description="MD5 of the file bytes")
)
SHA1 = register_algorithm(
    HashAlgorithm("sha1", CRYPTOGRAPHIC, 160, 0, description="SHA-1 of the file bytes")
)
PDQ = register_algorithm(
    HashAlgorithm(
        "pdq",
        PERCEPTUAL,
        256,
        # Calibrated (benchmarks/calibrate.py); Meta's reference is 31.
        default_threshold=31,
        quality_floor=PDQ_QUALITY_FLOOR,
        description="Meta PDQ, 256-bit DCT hash with quality (0-100)",
    )
)
PHASH = register_algorithm(
    HashAlgorithm(
        "phash",
        PERCEPTUAL,
        64,
        default_threshold=8,
        description="imagehash pHash: DCT of a 32x32 greyscale thumbnail",
    )
)
DHASH = register_algorithm(
    HashAlgorithm(
        "dhash",
        PERCEPTUAL,
        64,
        default_threshold=6,
        description="imagehash dHash: row gradients of a 9x8 thumbnail",
    )
)


# -- hex helpers ---------------------------------------------------------------


def hex_to_bytes(value: str) -> bytes:
    """Hex string (either case) to bytes; ValueError if not even-length hex."""
    return bytes.fromhex(value)


def bytes_to_hex(value: bytes) -> str:
    """Bytes to lowercase hex."""
    return value.hex()


def bits_to_hex(bits: Iterable[int | bool]) -> str:
    """A sequence of 0/1 values, most significant first, to lowercase hex.

    The bit count must be a multiple of 4. This is how PDQ bit vectors
    (``pdqhash``) and imagehash arrays become the hex that hash sets use.
    """
    flat = [1 if b else 0 for b in bits]
    if not flat or len(flat) % 4:
        raise ValueError(f"bit count must be a positive multiple of 4: {len(flat)}")
    number = 0
    for bit in flat:
        number = (number << 1) | bit
    return f"{number:0{len(flat) // 4}x}"


def hamming(a_hex: str, b_hex: str) -> int:
    """Number of differing bits between two equal-length hex values.

    Raises:
        ValueError: the values differ in length or are not hex.
    """
    if len(a_hex) != len(b_hex):
        raise ValueError(
            f"cannot compare hashes of different lengths: {len(a_hex)} and "
            f"{len(b_hex)} hex digits"
        )
    return (int(a_hex, 16) ^ int(b_hex, 16)).bit_count()


def hamming_bytes(a: bytes, b: bytes) -> int:
    """Number of differing bits between two equal-length byte strings."""
    if len(a) != len(b):
        raise ValueError(f"cannot compare {len(a)} bytes with {len(b)} bytes")
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).bit_count()


# -- calibration ----------------------------------------------------------------

CALIBRATION_FILE = "calibration.json"


@cache
def calibration() -> dict[str, Any]:
    """The distance distributions written by ``benchmarks/calibrate.py``.

    See the file's "about" key for its layout.
    """
    text = resources.files("triage.hashmatch").joinpath(CALIBRATION_FILE).read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def copy_probability(algorithm: str, distance: int, prior_odds: float = 1.0) -> float:
    """Probability that a pair at ``distance`` is a true copy.

    From the calibration's likelihood ratio for perceptual algorithms, at
    ``prior_odds`` (copies : unrelated pairs among those compared; 1.0 is the
    even-odds ``p_copy`` column, an upper bound: with a set of N entries and a
    device of F files holding C copies the odds are about C / (N * F)). Exact
    (cryptographic) algorithms give 1.0 at distance 0, else 0.0. The queue
    turns match distances into likelihoods with this.

    Raises:
        UnknownAlgorithmError: no such algorithm.
        ValueError: a negative distance or prior, or no calibration for it.
    """
    spec = get_algorithm(algorithm)
    if distance < 0:
        raise ValueError(f"negative distance {distance}")
    if prior_odds <= 0:
        raise ValueError(f"prior odds must be positive, got {prior_odds}")
    if not spec.is_perceptual:
        return 1.0 if distance == 0 else 0.0
    table = calibration()["algorithms"].get(spec.name)
    if table is None:
        raise ValueError(f"no calibration for {spec.name!r} in {CALIBRATION_FILE}")
    log10_lr: list[float] = table["log10_likelihood_ratio"]
    exponent = log10_lr[min(distance, len(log10_lr) - 1)] + math.log10(prior_odds)
    return 1.0 / (1.0 + 10.0 ** -min(max(exponent, -300.0), 300.0))
