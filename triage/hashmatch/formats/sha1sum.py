"""``sha1sum``: GNU and BSD ``sha1sum`` output."""

from triage.hashmatch.formats.base import HASHSET_FORMATS
from triage.hashmatch.formats.checksums import checksum_format

SHA1SUM = checksum_format("sha1")
HASHSET_FORMATS.register(SHA1SUM)
