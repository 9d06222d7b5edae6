"""Acceptance 4: evidence is never altered by a walk and a full content read.

Every segment keeps its SHA-256 and its mtime, and while a device is open
every file descriptor on an evidence segment (including those the C libraries
libewf, libvmdk, libvhdi and libqcow open) is read-only.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.conftest import evidence_state, require_tools
from triage.ingest import iter_files
from triage.ingest.content import read_record
from triage.ingest.evidence import open_device
from triage.records import FileRecord
from triage.sample.disk import MIB, build_disk, build_filesystem, to_ewf, to_split_raw

FILES = {"a.txt": b"alpha\n" * 100, "d/b.bin": bytes(range(256)) * 64}


def _open_modes(segments: set[str]) -> dict[str, int]:
    """The open flags of this process's descriptors on ``segments``."""
    modes = {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
            info = Path(f"/proc/self/fdinfo/{fd}").read_text()
        except OSError:
            continue
        if target in segments:
            flags = int(info.split("flags:")[1].split()[0], 8)
            modes[f"{target} (fd {fd})"] = flags
    return modes


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory, dfvfs_dir: Path) -> list[Path]:
    require_tools("mkfs.fat", "mcopy", "mke2fs", "debugfs", "sfdisk", "ewfacquire")
    root = tmp_path_factory.mktemp("ro")
    fat = build_filesystem("fat16", FILES, root / "fat.img", deleted=("a.txt",))
    ext = build_filesystem("ext4", FILES, root / "ext.img")
    disk = build_disk(root / "disk.dd", [fat, ext], "gpt")
    split = to_split_raw(disk, root / "split", 8 * MIB)
    ewf = to_ewf(disk, root / "ewf" / "disk", segment_size=MIB)
    copies = []
    for name in ("ext2.vmdk", "ext2.vhd", "ext2.qcow2"):
        shutil.copy2(dfvfs_dir / name, root / name)
        copies.append(root / name)
    return [disk, split[0], ewf[0], *copies]


def test_walk_and_full_read_leave_evidence_untouched(evidence: list[Path]) -> None:
    for first in evidence:
        with open_device(first) as handle:
            segments = [Path(s) for s in handle.device.segments]
        before = evidence_state(segments)
        read = 0
        with open_device(first) as handle:
            for record in iter_files(first, carve=False):
                if isinstance(record, FileRecord):
                    read += len(read_record(handle, record))
            modes = _open_modes({str(s) for s in segments})
            assert modes, f"{first}: no descriptor found on the evidence"
            for where, flags in modes.items():
                assert flags & (os.O_WRONLY | os.O_RDWR) == 0, where
                assert flags & os.O_APPEND == 0 and flags & os.O_TRUNC == 0, where
        assert read > 0
        assert evidence_state(segments) == before, first
