"""Shared fixtures.

Tests that need a Debian tool (mkfs.*, fls, ewfacquire, ...) call
``require_tools``: ``scripts/setup.sh`` installs them, so on CI a missing tool
is a failure; elsewhere the test is skipped with the reason.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_TESTDATA = REPO.parent / "shared" / "testdata"
ON_CI = os.environ.get("CI") == "true"


def require_tools(*names: str) -> None:
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        message = f"missing tools {missing}: run scripts/setup.sh"
        if ON_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def dfvfs_dir() -> Path:
    path = SHARED_TESTDATA / "dfvfs"
    if not path.is_dir():
        pytest.skip(f"{path} is absent (real test images shared beside the repo)")
    return path


def evidence_state(paths: list[Path]) -> dict[str, tuple[str, int, int]]:
    """SHA-256, mtime (ns) and size of each evidence file: equal before and
    after a walk or scan means the evidence was not altered."""
    out = {}
    for p in paths:
        st = p.stat()
        out[str(p)] = (
            hashlib.sha256(p.read_bytes()).hexdigest(),
            st.st_mtime_ns,
            st.st_size,
        )
    return out


def damage_ewf_chunk(segments: list[Path], probe: bytes, flip_at: int = 5) -> None:
    """Flip one byte of an E01 where ``probe`` (bytes of the media stored
    as-is, not compressed) lies in its segment files: that chunk then fails
    its checksum. Fails the test if ``probe`` is not found."""
    for segment in sorted(segments):
        raw = bytearray(segment.read_bytes())
        at = raw.find(probe)
        if at >= 0:
            raw[at + flip_at] ^= 0xFF
            segment.write_bytes(raw)
            return
    pytest.fail(f"{probe[:8].hex()}... not found in the E01 segments")
