"""The evidence kinds: what a device is, as ``triage ls --json`` and the
queue name it (``disk-image``, ``apfs``, ``ffs-zip``, ...).

One table, ``EVIDENCE_KINDS``: each kind names the containers
(``CONTAINERS``) that are of that kind and says what it is. A container not
named by any kind is a ``disk-image`` (raw, split, E01, VMDK, VHD, QCOW2).
A new kind is one registration line here, beside its container.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from triage.registry import Registry

DISK_IMAGE = "disk-image"


@dataclass(frozen=True, slots=True)
class EvidenceKind:
    name: str
    containers: frozenset[str]
    description: str


EVIDENCE_KINDS: Registry[EvidenceKind] = Registry("evidence kind")
for _kind in (
    EvidenceKind(
        DISK_IMAGE,
        frozenset({"raw", "split", "ewf", "vmdk", "vhd", "vhdx", "qcow"}),
        "a disk image (any container); its partitions and filesystems walked",
    ),
    EvidenceKind("apfs", frozenset({"apfs"}), "a bare APFS container image"),
    EvidenceKind(
        "ffs-zip", frozenset({"ffs-zip"}), "a full-file-system extraction zip"
    ),
    EvidenceKind(
        "ffs-tar",
        frozenset({"ffs-tar"}),
        "a full-file-system extraction tar (plain, gzip, bzip2, xz)",
    ),
    EvidenceKind("ufdr", frozenset({"ufdr"}), "a Cellebrite UFDR report zip"),
    EvidenceKind(
        "itunes-backup", frozenset({"itunes-backup"}), "an iTunes/Finder backup folder"
    ),
    EvidenceKind(
        "android-backup", frozenset({"android-backup"}), "an Android adb backup (.ab)"
    ),
    EvidenceKind("folder", frozenset({"folder"}), "a folder of files as one device"),
):
    EVIDENCE_KINDS.register(_kind)


def kind_of_container(container: str | None) -> str:
    """The kind of a device by its container name (``disk-image`` for any
    container no kind names)."""
    for kind in EVIDENCE_KINDS.values():
        if container in kind.containers:
            return kind.name
    return DISK_IMAGE


def evidence_kind(path: Path | str) -> str:
    """The kind of the evidence at ``path`` (recognised by content)."""
    from triage.errors import EvidenceError
    from triage.ingest.evidence import identify

    try:
        return kind_of_container(identify(path).name)
    except EvidenceError:
        return DISK_IMAGE
