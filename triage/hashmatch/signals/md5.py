"""MD5 of the item's bytes: the content key of media records."""

from triage.hashmatch.signals.base import SIGNALS, ExactSignal

MD5 = ExactSignal(
    name="md5",
    bits=128,
    hashlib_name="md5",
    csv_column="md5",
    vics_name="MD5",
    description="MD5 of the file bytes",
)
SIGNALS.register(MD5)
