"""Raw (dd) images and block devices: the media as it is, ``os.pread``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from triage.ingest.containers.base import (
    CONTAINERS,
    SECTOR,
    Container,
    RawReader,
    Reader,
    single_file,
)


def _open_raw(segments: Sequence[str]) -> Reader:
    return RawReader(segments)


def _looks_raw(path: Path, head: bytes, size: int) -> bool:
    # A raw image is a whole number of sectors; a text file almost never is.
    return size > 0 and size % SECTOR == 0


CONTAINERS.register(
    Container("raw", "raw (dd) image", _looks_raw, single_file, _open_raw)
)
