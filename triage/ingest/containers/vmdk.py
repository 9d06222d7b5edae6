"""VMware VMDK images (monolithic or with extent files; no differencing)."""

from __future__ import annotations

from collections.abc import Sequence

from triage.errors import EvidenceError
from triage.ingest.containers.base import CONTAINERS, Container, Reader, single_file
from triage.ingest.containers.libyal import LibyalReader


def _open_vmdk(segments: Sequence[str]) -> Reader:
    import pyvmdk

    handle = pyvmdk.handle()
    handle.open(segments[0], "r")
    handle.open_extent_data_files()
    parent = handle.get_parent_filename()
    if parent:
        handle.close()
        raise EvidenceError(
            f"{segments[0]}: VMDK is a differencing image; its parent "
            f"{parent!r} is not supported"
        )
    return LibyalReader(handle)


CONTAINERS.register(
    Container(
        "vmdk",
        "VMware VMDK",
        lambda p, h, s: h.startswith((b"KDMV", b"COWD", b"# Disk DescriptorFile")),
        single_file,
        _open_vmdk,
    )
)
