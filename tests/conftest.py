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


def write_ewf_with_gaps(
    data: bytes, out_base: Path, gaps: list[tuple[int, int]]
) -> Path:
    """Write ``data`` as an E01 that records acquisition read errors at
    ``gaps`` ((first sector, sectors), 512-byte sectors), zeroing those
    sectors as an acquisition does. pyewf cannot write (its wheel has no
    zlib), and no tool makes read errors on demand, so this calls the write
    API of the system libewf (Debian ``libewf2``, beside ``ewf-tools``)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("ewf")
    if name is None:
        pytest.skip("the system libewf (libewf2) is not installed")
    lib = ctypes.CDLL(name)
    buf = bytearray(data)
    for first, count in gaps:
        buf[first * 512 : (first + count) * 512] = bytes(count * 512)
    out_base.parent.mkdir(parents=True, exist_ok=True)
    handle = ctypes.c_void_p()
    names = (ctypes.c_char_p * 1)(str(out_base).encode())
    lib.libewf_handle_open.argtypes = [
        ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
        ctypes.c_int, ctypes.c_void_p,
    ]  # fmt: skip
    lib.libewf_handle_set_media_size.argtypes = [
        ctypes.c_void_p, ctypes.c_uint64, ctypes.c_void_p,
    ]  # fmt: skip
    lib.libewf_handle_write_buffer.argtypes = [
        ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_void_p,
    ]  # fmt: skip
    lib.libewf_handle_write_buffer.restype = ctypes.c_ssize_t
    lib.libewf_handle_append_acquiry_error.argtypes = [
        ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p,
    ]  # fmt: skip
    write_access = 2  # LIBEWF_OPEN_WRITE
    assert lib.libewf_handle_initialize(ctypes.byref(handle), None) == 1
    try:
        assert lib.libewf_handle_open(handle, names, 1, write_access, None) == 1
        assert lib.libewf_handle_set_media_size(handle, len(buf), None) == 1
        step = 1 << 20
        for at in range(0, len(buf), step):
            piece = bytes(buf[at : at + step])
            written = lib.libewf_handle_write_buffer(handle, piece, len(piece), None)
            assert written == len(piece)
        for first, count in gaps:
            assert (
                lib.libewf_handle_append_acquiry_error(handle, first, count, None) == 1
            )
        lib.libewf_handle_close(handle, None)
    finally:
        lib.libewf_handle_free(ctypes.byref(handle), None)
    return out_base.with_name(out_base.name + ".E01")


@pytest.fixture(params=["system", "pyewf"])
def ewf_reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with each E01 reader: the system libewf (``_SystemEwf``,
    the default where it is installed) and pyewf (the fallback)."""
    from triage.ingest.containers import ewf as evidence

    if request.param == "pyewf":
        monkeypatch.setattr(
            evidence._SystemEwf, "open", classmethod(lambda cls, s: None)
        )
    elif evidence._SystemEwf._library() is None:
        pytest.skip("the system libewf (libewf2) is not installed")
    return str(request.param)
