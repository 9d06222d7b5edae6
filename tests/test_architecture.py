"""The layering rule holds: records/errors <- registry <- ingest <- hashmatch <-
queue <- store <- scan.walk <- scan.tasks <- scan.plan/runner/dask_runner <-
scan.driver/casework <- cli, and Dask is imported in exactly one module,
triage.scan.dask_runner (import-linter contracts in pyproject.toml)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_import_contracts_hold() -> None:
    exe = Path(sys.executable).parent / "lint-imports"
    command = str(exe) if exe.exists() else shutil.which("lint-imports")
    if command is None:
        pytest.fail("lint-imports is not installed: run scripts/setup.sh")
    result = subprocess.run(
        [command, "--no-cache"], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
