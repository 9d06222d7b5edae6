"""``nsrl``: NSRL RDS legacy ``NSRLFile.txt`` (``"SHA-1","MD5","CRC32",
"FileName",...``), known-good."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from triage.hashmatch.formats.base import HASHSET_FORMATS, HashSetFormat, Lines
from triage.hashmatch.formats.text import fixed_csv, header_sniff
from triage.hashmatch.hashset import HashEntry

_NSRL_HEADER = ["sha-1", "md5", "crc32", "filename", "filesize", "productcode"]


def _read_nsrl(path: Path, lines: Lines) -> Iterator[tuple[int, HashEntry]]:
    def pick(row: dict[str, str]) -> tuple[list[tuple[str, str]], str | None]:
        return [("sha1", row["sha-1"]), ("md5", row["md5"])], row["filename"] or None

    return fixed_csv(path, lines, _NSRL_HEADER, pick)


NSRL = HashSetFormat(
    "nsrl",
    "NSRL RDS legacy NSRLFile.txt",
    _read_nsrl,
    header_sniff(_NSRL_HEADER),
    "known-good",
    "nsrl",
)
HASHSET_FORMATS.register(NSRL)
