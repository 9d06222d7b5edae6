"""Evidence on read-only storage (issue 15, item 8): segment files mode 0444
in a folder mode 0555, and (where this process may mount) that folder
bind-mounted read-only, so that not even root can write there. ``triage ls``
and ``triage scan`` read it exactly as they read a writable copy."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import evidence_state
from tests.scan.corpus import Corpus
from tests.scan.helpers import dump
from triage.cli import main


def _copy_devices(corpus: Corpus, dest: Path) -> list[Path]:
    """dev1 (raw), dev2 (split raw) and dev3 (E01) with all their segments."""
    dest.mkdir()
    firsts = []
    for first in (corpus.dev1, corpus.dev2, corpus.dev3):
        for segment in sorted(first.parent.glob(f"{first.stem}.*")):
            shutil.copy2(segment, dest / segment.name)
        firsts.append(dest / first.name)
    return firsts


@pytest.fixture
def read_only(corpus: Corpus, tmp_path: Path) -> Iterator[tuple[list[Path], bool]]:
    """The devices in a read-only folder; True when it is also a read-only
    bind mount (root only)."""
    folder = tmp_path / "ro"
    devices = _copy_devices(corpus, folder)
    for path in folder.iterdir():
        path.chmod(0o444)
    folder.chmod(0o555)
    mounted = (
        subprocess.run(
            ["mount", "--bind", "-o", "ro", str(folder), str(folder)],
            capture_output=True,
        ).returncode
        == 0
    )
    try:
        if mounted:
            with pytest.raises(OSError):
                open(devices[0], "r+b").close()  # noqa: SIM115 - truly read-only
        yield devices, mounted
    finally:
        if mounted:
            subprocess.run(["umount", str(folder)], check=True)
        folder.chmod(0o755)


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert "Traceback" not in result.output
    return result.exit_code, result.stdout


def _scan(devices: list[Path], corpus: Corpus, db: Path) -> int:
    code, _ = _cli("scan", *map(str, devices), "--hashset", str(corpus.bad_set),
                   "--hashset", str(corpus.good_set), "--db", str(db),
                   "--scheduler", "sync")  # fmt: skip
    return code


def test_read_only_evidence_scans_as_writable_evidence_does(
    corpus: Corpus, tmp_path: Path, read_only: tuple[list[Path], bool]
) -> None:
    devices, _ = read_only
    writable = _copy_devices(corpus, tmp_path / "rw")
    before = evidence_state(devices)
    code_ro, ls_ro = _cli("ls", *map(str, devices))
    code_rw, ls_rw = _cli("ls", *map(str, writable))
    assert code_ro == code_rw == 0
    assert ls_ro.replace(str(devices[0].parent), "X") == ls_rw.replace(
        str(writable[0].parent), "X"
    )
    assert _scan(devices, corpus, tmp_path / "ro.db") == 0
    assert _scan(writable, corpus, tmp_path / "rw.db") == 0
    ro, rw = dump(tmp_path / "ro.db"), dump(tmp_path / "rw.db")
    assert ro["media"] and ro["matches"]
    ro_text = repr(ro).replace(str(devices[0].parent), "X")
    assert ro_text == repr(rw).replace(str(writable[0].parent), "X")
    assert evidence_state(devices) == before
