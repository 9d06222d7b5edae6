"""Fixtures for scan tests: one generated case, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_tools
from tests.scan.corpus import Corpus, build_corpus


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    require_tools("mkfs.fat", "mcopy", "mke2fs", "debugfs", "mkntfs", "ntfs-3g",
                  "sfdisk", "ewfacquire")  # fmt: skip
    return build_corpus(tmp_path_factory.mktemp("case") / "evidence")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "case.db"
