"""Importers for published hash-set formats, one module per format, each
registered in :data:`HASHSET_FORMATS` (in the order ``auto`` asks them).

Each format reads a file into :class:`~triage.hashmatch.hashset.HashEntry`
records and can recognise its own content (``auto`` never trusts a file name):

``csv`` (``csv_table.py``)
    Header-driven: a column per signal (``md5``, ``sha1``, ``sha256``,
    ``pdq``, ``phash``, ``dhash``), ``category``, ``name``, ``id`` in any
    order and case (aliases such as ``SHA-1``, ``filename``, ``MediaID``
    accepted; other columns ignored).
``vics``
    Project VIC VICS JSON: v1.x (``odata.metadata``) and v2.0
    (``@odata.context``). ``value[]`` holds media with ``MediaID``,
    ``Category``, ``MD5``, ``SHA1``, ``SHA256``; ``AlternativeHashes`` (on the
    media or its ``MediaFiles``) are ``HashName``/``HashValue`` pairs: every
    signal's VICS name is taken, others (PhotoDNA, ...) are counted as
    ignored. Streamed: a multi-gigabyte export is read one media object at a
    time.
``md5sum`` / ``sha1sum`` (``checksums.checksum_format``)
    GNU (``<hex>  name``, ``<hex> *name``) and BSD (``MD5 (name) = <hex>``).
``vpdq``
    Meta's ``vpdq`` output, one file per video (``frame_number,quality,
    pdq_hex,timestamp`` lines): one entry per file, named after it; frames of
    quality < 50 are counted as ignored. A folder of them is one set.
``hashkeeper``
    HashKeeper ``.hsh``: CSV with ``file_id,hashset_id,file_name,directory,
    hash,file_size,...``; ``hash`` is an MD5.
``nsrl``
    NSRL RDS legacy ``NSRLFile.txt`` (``"SHA-1","MD5","CRC32","FileName",...``),
    known-good.
``nsrl-rds3``
    NSRL RDS v3 SQLite (``FILE`` table: sha256, sha1, md5, crc32, file_name,
    file_size, package_id), opened read-only and immutable, known-good.

Categories keep their scheme. ``caid`` (UK Child Abuse Image Database): A, B,
C (also ``Cat A``/``Category A``, any case) and, by our choice, the numbers 1,
2, 3 read as A, B, C (most to least severe, the order CAID numbers them);
anything else is refused. ``vics``: 0-4 kept as given. ``nsrl``: none.
``local``: any label. When no scheme is given: VICS files are ``vics``, NSRL
``nsrl``; a file whose categories are all A/B/C is ``caid``; anything else is
``local`` (numeric categories in a CSV need ``scheme="vics"`` or ``"caid"``
said explicitly, because 1 means something different in each).

Every malformed line raises :class:`HashSetError` naming ``file:line`` and
what is wrong; with ``skip_bad_lines`` each is collected as a :class:`BadLine`
and the rest is read. A line longer than 64 KiB (``text.MAX_LINE``
characters; a quoted CSV record across lines counts whole) is such a bad
line, read past in small pieces so memory stays bounded; in VICS JSON one
value over 64 MiB (``vics.MAX_JSON_VALUE``) ends the import, naming its line.

Adding a format: a module here that builds a :class:`HashSetFormat` (a reader
yielding ``(line, HashEntry)`` and a content test) and registers it, plus its
import below at its place in the ``auto`` order.
"""

# Registration order is the order ``auto`` asks each format's content test:
# the most specific first.
from triage.hashmatch.formats import (  # noqa: I001
    nsrl_rds3,
    vics,
    nsrl,
    vpdq,
    hashkeeper,
    csv_table,
    md5sum,
    sha1sum,
)
from triage.hashmatch.formats.base import (
    HASHSET_FORMATS,
    SNIFF_BYTES,
    BadLine,
    HashSetFormat,
    ImportReport,
    detect_format,
    get_format,
)
from triage.hashmatch.formats.categories import infer_scheme, normalise_category
from triage.hashmatch.formats.importing import import_files, read_entries

__all__ = [
    "HASHSET_FORMATS",
    "SNIFF_BYTES",
    "BadLine",
    "HashSetFormat",
    "ImportReport",
    "csv_table",
    "detect_format",
    "get_format",
    "hashkeeper",
    "import_files",
    "infer_scheme",
    "md5sum",
    "normalise_category",
    "nsrl",
    "nsrl_rds3",
    "read_entries",
    "sha1sum",
    "vics",
    "vpdq",
]
