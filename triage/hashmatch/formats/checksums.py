"""Checksum listings, one hash per line: GNU (``<hex>  name``, ``<hex>
*name``) and BSD (``MD5 (name) = <hex>``) output of ``md5sum``, ``sha1sum``
and the like. :func:`checksum_format` makes the format for one exact signal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

from triage.hashmatch.formats.base import HashSetFormat, Lines, Reader
from triage.hashmatch.formats.text import parse_hashes, text_lines
from triage.hashmatch.hashset import HashEntry
from triage.hashmatch.signals import get_signal

_GNU = re.compile(r"^\\?([0-9A-Fa-f]+) [ *](.*)$")
_BSD = re.compile(r"^([A-Za-z0-9]+) ?\((.*)\) ?= ?([0-9A-Fa-f]+)$")


def _sum_sniff(width: int) -> Callable[[bytes], bool]:
    def sniff(head: bytes) -> bool:
        for line in head.decode("utf-8", "replace").splitlines()[:5]:
            if not line.strip():
                continue
            gnu = _GNU.match(line)
            bsd = _BSD.match(line)
            value = gnu[1] if gnu else bsd[3] if bsd else ""
            return len(value) == width
        return False

    return sniff


def _sum_reader(column: str) -> Reader:
    def read(path: Path, lines: Lines) -> Iterator[tuple[int, HashEntry]]:
        for number, text in text_lines(path, lines):
            if not text.strip():
                continue
            gnu, bsd = _GNU.match(text), _BSD.match(text)
            if gnu:
                value, name = gnu[1], gnu[2]
                if text.startswith("\\"):  # GNU escapes \\ and \n in names
                    name = name.replace("\\n", "\n").replace("\\\\", "\\")
            elif bsd and bsd[1].lower() == column:
                value, name = bsd[3], bsd[2]
            else:
                lines.bad(number, f"not a {column}sum line: {text[:80]!r}")
                continue
            hashes = parse_hashes(lines, number, [(column, value)])
            if hashes:
                entry = HashEntry(f"{lines.label}:{number}", None, name or None, hashes)
                yield number, entry

    return read


def checksum_format(signal_name: str) -> HashSetFormat:
    """The ``<signal>sum`` listing format of one exact signal."""
    signal = get_signal(signal_name)
    return HashSetFormat(
        f"{signal.name}sum",
        f"{signal.name}sum / BSD {signal.name.upper()} output",
        _sum_reader(signal.name),
        _sum_sniff(signal.hex_length or 0),
    )
