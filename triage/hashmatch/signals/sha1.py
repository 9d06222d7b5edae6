"""SHA-1 of the item's bytes (CSV ``sha1``, VICS ``SHA1``)."""

from triage.hashmatch.signals.base import SIGNALS, ExactSignal

SHA1 = SIGNALS.register(ExactSignal.of_hashlib("sha1", "SHA-1", vics_name="SHA1"))
