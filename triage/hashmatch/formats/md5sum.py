"""``md5sum``: GNU and BSD ``md5sum`` output."""

from triage.hashmatch.formats.base import HASHSET_FORMATS
from triage.hashmatch.formats.checksums import checksum_format

MD5SUM = checksum_format("md5")
HASHSET_FORMATS.register(MD5SUM)
