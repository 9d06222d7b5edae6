"""QEMU QCOW/QCOW2 images (no backing files)."""

from __future__ import annotations

from collections.abc import Sequence

from triage.errors import EvidenceError
from triage.ingest.containers.base import CONTAINERS, Container, Reader, single_file
from triage.ingest.containers.libyal import LibyalReader


def _open_qcow(segments: Sequence[str]) -> Reader:
    import pyqcow

    handle = pyqcow.file()
    handle.open(segments[0], "r")
    backing = handle.get_backing_filename()
    if backing:
        handle.close()
        raise EvidenceError(
            f"{segments[0]}: QCOW2 image has a backing file {backing!r}, "
            "which is not supported"
        )
    return LibyalReader(handle)


CONTAINERS.register(
    Container(
        "qcow",
        "QEMU QCOW/QCOW2",
        lambda p, h, s: h.startswith(b"QFI\xfb"),
        single_file,
        _open_qcow,
    )
)
