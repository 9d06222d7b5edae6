"""SHA-256 of the item's bytes (CSV ``sha256``, VICS ``SHA256``)."""

from triage.hashmatch.signals.base import SIGNALS, ExactSignal

SHA256 = ExactSignal(
    name="sha256",
    bits=256,
    hashlib_name="sha256",
    csv_column="sha256",
    csv_aliases=("sha-256", "sha_256"),
    vics_name="SHA256",
    vics_aliases=("sha-256",),
    description="SHA-256 of the file bytes",
)
SIGNALS.register(SHA256)
