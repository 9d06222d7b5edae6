"""MD5 of the item's bytes: the content key of media records."""

from triage.hashmatch.signals.base import SIGNALS, ExactSignal

MD5 = SIGNALS.register(ExactSignal.of_hashlib("md5", "MD5", vics_name="MD5"))
