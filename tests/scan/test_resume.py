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
from tests.scan.corpus import Corpus
from tests.scan.helpers import count, dump, killed_scan
from triage.casework import load_facts
from triage.store import Store

CHUNK_FILES = 2


def _killed_scan(corpus: Corpus, db: Path, kill_after: int, at_once: int) -> int:
    return killed_scan(
        db,
        [corpus.bad_set, corpus.good_set],
        [corpus.dev1, corpus.dev2, corpus.broken],
        kill_after=kill_after,
        at_once=at_once,
        chunk_files=CHUNK_FILES,
    ).returncode


def _scan_cli(corpus: Corpus, db: Path, at_once: int = 1) -> int:
    args = [
        sys.executable, "-c", "from triage.cli import main; main()", "scan",
        str(corpus.dev1), str(corpus.dev2), str(corpus.broken),
        "--hashset", str(corpus.bad_set), "--hashset", str(corpus.good_set),
        "--db", str(db), "--scheduler", "sync",
        "--chunk-files", str(CHUNK_FILES), "--devices-at-once", str(at_once),
        "--json",
    ]  # fmt: skip
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)
    return done.returncode


@pytest.mark.parametrize("at_once", [1, 3], ids=["one-device", "devices-in-turn"])
@pytest.mark.parametrize("kill_after", [1, 6])
def test_killed_scan_resumes_to_the_same_database(
    corpus: Corpus, sync_reference: Path, tmp_path: Path, kill_after: int, at_once: int
) -> None:
    """Killed after 1 or 6 chunks, walking one device at a time or three in
    turn, and resumed (in turn too): the database an uninterrupted scan makes."""
    total = count(sync_reference)
    assert total > kill_after + 1  # the kill really is part-way
    db = tmp_path / "case.db"
    code = _killed_scan(corpus, db, kill_after, at_once)
    assert code == -signal.SIGKILL
    assert count(db) == kill_after  # committed chunks survived the kill
    with sqlite3.connect(db) as con:
        (running,) = con.execute("SELECT COUNT(*) FROM runs WHERE status = 'running'")
    # the killed runs are visible as never finished: one device was being
    # scanned, or (in turn) up to the two that open (broken.E01 fails to)
    assert 1 <= running[0] <= (1 if at_once == 1 else 2)
    with Store(db) as store:  # ... and the queue says so, not "in progress"
        statuses = [f.status for f in load_facts(store)]
    assert "interrupted" in statuses and "scanning" not in statuses
    code = _scan_cli(corpus, db, at_once)
    assert code == 3  # broken.E01 failed, as in the reference
    assert dump(db) == dump(sync_reference)
    with sqlite3.connect(db) as con:
        statuses = sorted(r[0] for r in con.execute("SELECT status FROM runs"))
    # the killed runs are closed as interrupted; the resumed runs finished
    assert statuses.count("interrupted") == running[0] and "running" not in statuses
