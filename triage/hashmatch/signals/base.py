"""What a signal (one hash algorithm) is, and the table every signal joins.

A signal holds everything about one hash: its name, kind (exact or
perceptual), width, the content it applies to, how to compute it, how two
values compare, its threshold, quality floor and calibration, and the names it
has in hash-set files (CSV column, VICS field). Each built-in signal is one
small module in this package that registers itself in :data:`SIGNALS`; adding
one (an exact SHA-256, a variable-length video signal) is a new module plus
its import in ``signals/__init__.py``.

Hash values travel as lowercase hex strings, most significant bit first, which
is the convention of Meta's PDQ reference (``Hash256::format``), ThreatExchange
and ``imagehash`` (``str(hash)``), so values agree with published hash sets.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import numpy as np

from triage.hashmatch.signals.calibration import log10_likelihood_ratio
from triage.registry import Registry

EXACT = "exact"
PERCEPTUAL = "perceptual"

#: What a signal applies to: any bytes (exact digests) or decodable pictures.
ANY_BYTES = "any bytes"
PICTURES = "decodable pictures"

#: The variant name of a value computed from the picture as stored.
ORIGINAL = "original"


class Hasher(Protocol):
    """An incremental digest, as ``hashlib`` objects are."""

    def update(self, data: bytes, /) -> None: ...

    def hexdigest(self) -> str: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Signal:
    """What every signal has; :class:`ExactSignal` and
    :class:`PerceptualSignal` add how it is computed.

    Raises (on construction):
        ValueError: an inconsistent signal (name not lowercase, a width not a
            positive multiple of 4, an exact signal with a threshold).
    """

    kind: ClassVar[str]
    applies_to: ClassVar[str]

    name: str  # registry key, lowercase: "md5", "pdq", ...
    bits: int | None  # length of a value in bits; None: variable length
    threshold: int  # largest Hamming distance that matches; 0 = exact
    csv_column: str  # the CSV column it reads and writes
    vics_name: str  # the VICS field / HashName it reads and writes
    quality_floor: int | None = None  # values of lower quality never match
    csv_aliases: tuple[str, ...] = ()  # other header spellings (lowercase)
    vics_aliases: tuple[str, ...] = ()  # other HashName spellings (lowercase)
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.lower():
            raise ValueError(f"signal name must be lowercase: {self.name!r}")
        if self.kind not in (EXACT, PERCEPTUAL):
            raise ValueError(f"unknown kind {self.kind!r} for {self.name!r}")
        if self.bits is not None and (self.bits <= 0 or self.bits % 4):
            raise ValueError(f"bits must be a positive multiple of 4: {self.bits}")
        if self.kind == EXACT and self.threshold != 0:
            raise ValueError(f"exact signal {self.name!r} must match exactly")

    @property
    def default_threshold(self) -> int:
        return self.threshold

    @property
    def hex_length(self) -> int | None:
        """Number of hex digits in one value (None: variable length)."""
        return None if self.bits is None else self.bits // 4

    @property
    def width(self) -> int | None:
        """Bytes in one value (None: variable length)."""
        return None if self.bits is None else self.bits // 8

    @property
    def is_perceptual(self) -> bool:
        return self.kind == PERCEPTUAL

    @property
    def is_exact(self) -> bool:
        return self.kind == EXACT

    def normalise(self, value: str) -> str:
        """Return ``value`` as lowercase hex of the right length.

        Raises:
            ValueError: not hex, or the wrong length for this signal.
        """
        text = value.strip().lower()
        length = self.hex_length
        if length is not None and len(text) != length:
            raise ValueError(
                f"{self.name} value must be {length} hex digits, "
                f"got {len(text)}: {value[:80]!r}"
            )
        if length is None and (not text or len(text) % 2):
            raise ValueError(f"{self.name} value is not whole bytes: {value[:80]!r}")
        if not all(c in "0123456789abcdef" for c in text):
            raise ValueError(f"{self.name} value is not hex: {value[:80]!r}")
        return text

    def distance(self, a_hex: str, b_hex: str) -> int:
        """How far apart two values are: Hamming distance (0 = equal)."""
        if self.is_exact:
            return 0 if a_hex.lower() == b_hex.lower() else self.bits or 1
        return hamming(a_hex, b_hex)

    def matches(self, distance: int, threshold: int | None = None) -> bool:
        """Whether a ``distance`` is a match at ``threshold`` (or the default)."""
        limit = self.threshold if threshold is None else threshold
        return distance <= limit

    def usable(self, quality: int | None) -> bool:
        """Whether a value of this ``quality`` may be matched at all."""
        if self.quality_floor is None or quality is None:
            return True
        return quality >= self.quality_floor

    def copy_probability(self, distance: int, prior_odds: float = 1.0) -> float:
        """Probability that a pair at ``distance`` is a true copy (exact: 1.0 at
        distance 0, else 0.0); see :func:`copy_probability`."""
        if distance < 0:
            raise ValueError(f"negative distance {distance}")
        if prior_odds <= 0:
            raise ValueError(f"prior odds must be positive, got {prior_odds}")
        if self.is_exact:
            return 1.0 if distance == 0 else 0.0
        exponent = log10_likelihood_ratio(self.name, distance) + math.log10(prior_odds)
        return 1.0 / (1.0 + 10.0 ** -min(max(exponent, -300.0), 300.0))


@dataclass(frozen=True, slots=True, kw_only=True)
class ExactSignal(Signal):
    """A digest of the item's bytes, computed incrementally while they are read."""

    kind: ClassVar[str] = EXACT
    applies_to: ClassVar[str] = ANY_BYTES

    hashlib_name: str  # the ``hashlib`` constructor that computes it
    threshold: int = 0

    def new_hasher(self) -> Hasher:
        """A fresh incremental hasher (``update`` / ``hexdigest``)."""
        hasher: Hasher = hashlib.new(self.hashlib_name, usedforsecurity=False)
        return hasher

    @classmethod
    def of_hashlib(cls, name: str, title: str, vics_name: str) -> ExactSignal:
        """The exact signal computed by ``hashlib.new(name)``: its width from
        the digest size, CSV column ``name``, VICS field ``vics_name``, and
        ``title`` (``"SHA-256"``) also accepted as a column or field name in
        its hyphen and underscore spellings."""
        spelled = title.lower()
        aliases = (spelled, spelled.replace("-", "_")) if spelled != name else ()
        return cls(
            name=name,
            bits=hashlib.new(name, usedforsecurity=False).digest_size * 8,
            hashlib_name=name,
            csv_column=name,
            csv_aliases=aliases,
            vics_name=vics_name,
            vics_aliases=aliases[:1],
            description=f"{title} of the file bytes",
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PerceptualSignal(Signal):
    """A hash of the decoded picture's greyscale (luma) pixels, compared by
    Hamming distance. Subclasses implement :meth:`compute`."""

    kind: ClassVar[str] = PERCEPTUAL
    applies_to: ClassVar[str] = PICTURES

    def compute(
        self, luma: np.ndarray, *, dihedral: bool
    ) -> list[tuple[str, str, int | None]]:
        """``(variant, hex, quality)`` values of a greyscale uint8 array;
        ``dihedral`` asks for rotated/mirrored variants where the signal has
        them."""
        raise NotImplementedError


#: Every signal, in registration order (exact first, then perceptual).
SIGNALS: Registry[Signal] = Registry("hash algorithm")


def get_signal(name: str) -> Signal:
    """The signal called ``name`` (case and surrounding space ignored).

    Raises:
        UnknownNameError: no such signal; the message lists the known ones.
    """
    return SIGNALS.get(name.strip().lower())


def copy_probability(algorithm: str, distance: int, prior_odds: float = 1.0) -> float:
    """Probability that a pair at ``distance`` is a true copy.

    From the calibration's likelihood ratio for perceptual signals, at
    ``prior_odds`` (copies : unrelated pairs among those compared; 1.0 is the
    even-odds ``p_copy`` column, an upper bound: with a set of N entries and a
    device of F files holding C copies the odds are about C / (N * F)). Exact
    signals give 1.0 at distance 0, else 0.0. The queue turns match distances
    into likelihoods with this.

    Raises:
        UnknownNameError: no such signal.
        ValueError: a negative distance or prior, or no calibration for it.
    """
    return get_signal(algorithm).copy_probability(distance, prior_odds)


def exact_signals() -> tuple[ExactSignal, ...]:
    """The registered exact signals, strongest (widest) first: the order in
    which an exact match names its algorithm when several agree."""
    found = [s for s in SIGNALS.values() if isinstance(s, ExactSignal)]
    return tuple(sorted(found, key=lambda s: -(s.bits or 0)))


def perceptual_signals() -> tuple[PerceptualSignal, ...]:
    """The registered perceptual signals, in registration order."""
    return tuple(s for s in SIGNALS.values() if isinstance(s, PerceptualSignal))


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
