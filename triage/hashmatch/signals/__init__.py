"""Signals: one module per hash algorithm, all in the :data:`SIGNALS` table.

Importing this package registers the built-in signals: exact MD5, SHA-1 and
SHA-256 of the bytes, perceptual PDQ, pHash and dHash of decoded pictures,
vPDQ of video frames. To add one, write a module here that registers an
:class:`ExactSignal` or a :class:`PerceptualSignal` subclass, and import it
below.
"""

# Registration order is the table's order (hash-set columns, listings, the
# tie-break between perceptual signals): exact first, then PDQ before pHash.
from triage.hashmatch.signals import md5, sha1, pdq, phash, dhash, sha256  # noqa: I001
from triage.hashmatch.signals import vpdq  # noqa: F401  (video frames, last)
from triage.hashmatch.signals.base import (
    ANY_BYTES,
    EXACT,
    ORIGINAL,
    PERCEPTUAL,
    PICTURES,
    SIGNALS,
    ExactSignal,
    Hasher,
    PerceptualSignal,
    Signal,
    bits_to_hex,
    bytes_to_hex,
    copy_probability,
    exact_signals,
    get_signal,
    hamming,
    hamming_bytes,
    hex_to_bytes,
    perceptual_signals,
)
from triage.hashmatch.signals.calibration import (
    CALIBRATION_FILE,
    calibration,
)
from triage.hashmatch.signals.pdq import (
    DIHEDRAL_VARIANTS,
    PDQ_QUALITY_FLOOR,
    PDQ_REFERENCE_THRESHOLD,
)

__all__ = [
    "ANY_BYTES",
    "CALIBRATION_FILE",
    "DIHEDRAL_VARIANTS",
    "EXACT",
    "ORIGINAL",
    "PDQ_QUALITY_FLOOR",
    "PDQ_REFERENCE_THRESHOLD",
    "PERCEPTUAL",
    "PICTURES",
    "SIGNALS",
    "ExactSignal",
    "Hasher",
    "PerceptualSignal",
    "Signal",
    "bits_to_hex",
    "bytes_to_hex",
    "calibration",
    "copy_probability",
    "dhash",
    "exact_signals",
    "get_signal",
    "hamming",
    "hamming_bytes",
    "hex_to_bytes",
    "md5",
    "pdq",
    "perceptual_signals",
    "phash",
    "sha1",
    "sha256",
]
