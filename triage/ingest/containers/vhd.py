"""Hyper-V VHDX and Virtual PC VHD images (no differential ones)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from triage.errors import EvidenceError
from triage.ingest.containers.base import CONTAINERS, Container, Reader, single_file
from triage.ingest.containers.libyal import LibyalReader


def _open_vhdi(segments: Sequence[str]) -> Reader:
    import pyvhdi

    handle = pyvhdi.file()
    handle.open(segments[0], "r")
    if handle.get_disk_type() == pyvhdi.disk_types.DIFFERENTIAL:
        parent = handle.get_parent_filename() or "unknown"
        handle.close()
        raise EvidenceError(
            f"{segments[0]}: differential VHD needs its parent image "
            f"{parent!r}, which is not provided (differential images are not "
            "supported)"
        )
    return LibyalReader(handle)


def _vhd_footer(path: Path, size: int) -> bool:
    if size < 512:
        return False
    with open(path, "rb") as fh:
        fh.seek(size - 512)
        return fh.read(8) == b"conectix"


CONTAINERS.register(
    Container(
        "vhdx",
        "Hyper-V VHDX",
        lambda p, h, s: h.startswith(b"vhdxfile"),
        single_file,
        _open_vhdi,
    )
)
CONTAINERS.register(
    Container(
        "vhd",
        "Virtual PC VHD",
        lambda p, h, s: h.startswith(b"conectix") or _vhd_footer(p, s),
        single_file,
        _open_vhdi,
    )
)
