"""SHA-256 of the item's bytes (CSV ``sha256``, VICS ``SHA256``)."""

from triage.hashmatch.signals.base import SIGNALS, ExactSignal

SHA256 = SIGNALS.register(
    ExactSignal.of_hashlib("sha256", "SHA-256", vics_name="SHA256")
)
