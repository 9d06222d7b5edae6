"""A scan killed with SIGKILL part-way, then run again, stores exactly what an
uninterrupted scan stores: same media, hashes and matches, no duplicates."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.pipeline.corpus import Corpus
from tests.pipeline.helpers import dump
from triage.casework import load_facts
from triage.pipeline import scan
from triage.store import Store

CHUNK_FILES = 2

# The scan as a user runs it, in its own process, with a progress callback
# that SIGKILLs that process once ``argv[1]`` chunks are committed: nothing in
# triage knows about the test.
_KILLED_SCAN = """
import os, signal, sys
from triage.pipeline import scan

limit, db = int(sys.argv[1]), sys.argv[2]
hashsets, evidence = sys.argv[3:5], sys.argv[5:]
committed = 0

def progress(event):
    global committed
    if event.kind == "chunk":
        committed += 1
        if committed >= limit:
            os.kill(os.getpid(), signal.SIGKILL)

scan(evidence, hashsets, db, scheduler="sync", chunk_files=CHUNK_FILES,
     progress=progress)
""".replace("CHUNK_FILES", str(CHUNK_FILES))


def _killed_scan(corpus: Corpus, db: Path, kill_after: int) -> int:
    args = [
        sys.executable, "-c", _KILLED_SCAN, str(kill_after), str(db),
        str(corpus.bad_set), str(corpus.good_set),
        str(corpus.dev1), str(corpus.dev2), str(corpus.broken),
    ]  # fmt: skip
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
    return done.returncode


def _scan_cli(corpus: Corpus, db: Path) -> int:
    args = [
        sys.executable, "-c", "from triage.cli import main; main()", "scan",
        str(corpus.dev1), str(corpus.dev2), str(corpus.broken),
        "--hashset", str(corpus.bad_set), "--hashset", str(corpus.good_set),
        "--db", str(db), "--scheduler", "sync",
        "--chunk-files", str(CHUNK_FILES), "--json",
    ]  # fmt: skip
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
    return done.returncode


def _chunks(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])
    finally:
        con.close()


@pytest.fixture(scope="module")
def reference(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("reference") / "case.db"
    scan(
        [corpus.dev1, corpus.dev2, corpus.broken],
        [corpus.bad_set, corpus.good_set],
        db,
        scheduler="sync",
        chunk_files=CHUNK_FILES,
    )
    return db


@pytest.mark.parametrize("kill_after", [1, 6])
def test_killed_scan_resumes_to_the_same_database(
    corpus: Corpus, reference: Path, tmp_path: Path, kill_after: int
) -> None:
    total = _chunks(reference)
    assert total > kill_after + 1  # the kill really is part-way
    db = tmp_path / "case.db"
    code = _killed_scan(corpus, db, kill_after)
    assert code == -signal.SIGKILL
    assert _chunks(db) == kill_after  # committed chunks survived the kill
    with sqlite3.connect(db) as con:
        (running,) = con.execute("SELECT COUNT(*) FROM runs WHERE status = 'running'")
    assert running[0] == 1  # the killed run is visible as never finished
    with Store(db) as store:  # ... and the queue says so, not "in progress"
        statuses = [f.status for f in load_facts(store)]
    assert "interrupted" in statuses and "scanning" not in statuses
    code = _scan_cli(corpus, db)
    assert code == 3  # broken.E01 failed, as in the reference
    assert dump(db) == dump(reference)
    with sqlite3.connect(db) as con:
        statuses = sorted(r[0] for r in con.execute("SELECT status FROM runs"))
    # the killed run is closed as interrupted; the resumed runs finished
    assert statuses.count("interrupted") == 1 and "running" not in statuses
