"""Expanders: files that hold other files, behind one interface (``base``).

``EXPANDERS`` holds one entry per format: ``zip`` (``zip_archive.py``),
``tar`` with gzip/bzip2/xz (``tar_archive.py``), single-file ``gzip``
(``gzip_stream.py``), ``7z`` and ``rar`` (RAR4, RAR5) through libarchive
(``libarchive_formats.py``), and the formats recognised but not expanded
(``not_expanded.py``); and the inner sources (``embedded.py``), whose
members are pictures inside files that are not archives: a JPEG's EXIF
thumbnail and MPF images (``exif_thumbnail.py``), a PDF's image objects
(``pdf_images.py``), an SQLite database's picture BLOBs
(``sqlite_blobs.py``); and the thumbnail caches (``picture_cache.py``:
``thumbcache`` for thumbcache_*.db, ``thumbs.db``, ``android-thumbnails``),
whose members are pictures cut out of the file; and the in-file signature
scan (``signature_scan.py``: whole JPEGs and PNGs inside any file no
signature names, ``Cache/data_1!offset 0x2000``). ``nesting.walk`` lists a
file's members through them; ``triage.ingest.archives`` is the public face
(``iter_members``, ``read_member``). A new format is a module subclassing
``Expander`` that calls ``EXPANDERS.register(...)``, plus its import here.
"""

from __future__ import annotations

from triage.ingest.expanders import (  # noqa: F401  (each registers itself)
    android_thumbs,
    exif_thumbnail,
    gzip_stream,
    not_expanded,
    pdf_images,
    signature_scan,
    sqlite_blobs,
    tar_archive,
    thumbcache,
    thumbs_db,
    zip_archive,
)

try:
    from triage.ingest.expanders import libarchive_formats  # noqa: F401
except (ImportError, OSError, AttributeError) as _exc:  # no system libarchive
    not_expanded.without_libarchive(_exc)
from triage.ingest.expanders.base import (
    DEFAULT_LIMITS,
    EXPANDERS,
    ArchiveLimits,
    Expander,
    NotExpanded,
    expandable,
    inner_sources,
    is_expandable,
    not_expanded_reason,
)

__all__ = [
    "DEFAULT_LIMITS",
    "EXPANDERS",
    "ArchiveLimits",
    "Expander",
    "NotExpanded",
    "expandable",
    "inner_sources",
    "is_expandable",
    "not_expanded_reason",
]
