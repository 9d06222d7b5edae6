"""``hashkeeper``: HashKeeper ``.hsh``, a CSV with ``file_id,hashset_id,
file_name,directory,hash,file_size,...``; ``hash`` is an MD5."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from triage.hashmatch.formats.base import HASHSET_FORMATS, HashSetFormat, Lines
from triage.hashmatch.formats.text import fixed_csv, header_sniff
from triage.hashmatch.hashset import HashEntry

_HSH_HEADER = ["file_id", "hashset_id", "file_name", "directory", "hash", "file_size"]


def _read_hashkeeper(path: Path, lines: Lines) -> Iterator[tuple[int, HashEntry]]:
    def pick(row: dict[str, str]) -> tuple[list[tuple[str, str]], str | None]:
        name = "/".join(p for p in (row["directory"], row["file_name"]) if p)
        return [("md5", row["hash"])], name or None

    return fixed_csv(path, lines, _HSH_HEADER, pick)


HASHKEEPER = HashSetFormat(
    "hashkeeper", "HashKeeper .hsh", _read_hashkeeper, header_sniff(_HSH_HEADER)
)
HASHSET_FORMATS.register(HASHKEEPER)
