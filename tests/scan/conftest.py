"""Fixtures for scan tests: one generated case, built once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import require_tools
from tests.scan.corpus import Corpus, build_corpus
from triage.scan import scan


@pytest.fixture(scope="session")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    require_tools("mkfs.fat", "mcopy", "mke2fs", "debugfs", "mkntfs", "ntfs-3g",
                  "sfdisk", "ewfacquire")  # fmt: skip
    return build_corpus(tmp_path_factory.mktemp("case") / "evidence")


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "case.db"


@pytest.fixture(scope="session")
def sync_reference(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What an uninterrupted ``--scheduler sync`` scan of the corpus's three
    devices (one broken) stores, 2 files a chunk: the database every resumed
    scan must equal."""
    db = tmp_path_factory.mktemp("reference") / "case.db"
    scan(
        [corpus.dev1, corpus.dev2, corpus.broken],
        [corpus.bad_set, corpus.good_set],
        db,
        scheduler="sync",
        chunk_files=2,
    )
    return db


@pytest.fixture(scope="session")
def pair_reference(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What an uninterrupted sync scan of the corpus's two healthy devices
    against the known-bad set stores, 2 files a chunk: what an interrupted
    and resumed scan of them must equal."""
    db = tmp_path_factory.mktemp("pair-reference") / "case.db"
    scan([corpus.dev1, corpus.dev2], [corpus.bad_set], db, scheduler="sync",
         chunk_files=2)  # fmt: skip
    return db
