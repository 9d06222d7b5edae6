"""SHA-1 of the item's bytes."""

from triage.hashmatch.signals.base import SIGNALS, ExactSignal

SHA1 = ExactSignal(
    name="sha1",
    bits=160,
    hashlib_name="sha1",
    csv_column="sha1",
    csv_aliases=("sha-1", "sha_1"),
    vics_name="SHA1",
    vics_aliases=("sha-1",),
    description="SHA-1 of the file bytes",
)
SIGNALS.register(SHA1)
