"""Ctrl-C and SIGTERM during ``triage scan`` (issue 15, item 4): finished
chunks kept, workers stopped, one line saying how to resume, exit status
128 + the signal; a second Ctrl-C stops at once and the database stays
whole. The scan is the real command in its own process group (as at a
terminal, where Ctrl-C reaches every process of the group)."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.scan.corpus import Corpus
from tests.scan.helpers import committed_chunks, dump

CHUNK_FILES = 2
SLOW = Path(__file__).parent / "slow_chunks"


def _args(corpus: Corpus, db: Path, scheduler: str) -> list[str]:
    runner = ["--scheduler", "sync"] if scheduler == "sync" else ["--workers", "2"]
    return [
        sys.executable, "-c", "from triage.cli import main; main()", "scan",
        str(corpus.dev1), str(corpus.dev2), "--hashset", str(corpus.bad_set),
        "--db", str(db), "--chunk-files", str(CHUNK_FILES), *runner,
    ]  # fmt: skip


def _interrupted_scan(
    corpus: Corpus, db: Path, scheduler: str, signum: int, times: int
) -> tuple[int, str, str]:
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(SLOW), str(REPO)]),
        TRIAGE_TEST_CHUNK_DELAY="0.4",
    )
    proc = subprocess.Popen(
        _args(corpus, db, scheduler), cwd=REPO, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while committed_chunks(db) < 2:  # part-way: some chunks committed
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no chunk committed in 120 s"
            time.sleep(0.05)
        for _ in range(times):
            os.killpg(proc.pid, signum)
            time.sleep(0.02)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return proc.returncode, out, err


@pytest.mark.parametrize(
    ("scheduler", "signum"),
    [
        ("sync", signal.SIGINT),
        ("sync", signal.SIGTERM),
        ("local", signal.SIGINT),
    ],
    ids=["sync-ctrl-c", "sync-sigterm", "local-cluster-ctrl-c"],
)
def test_interrupted_scan_says_how_to_resume_and_resumes(
    corpus: Corpus, pair_reference: Path, tmp_path: Path, scheduler: str, signum: int
) -> None:
    db = tmp_path / "case.db"
    code, out, err = _interrupted_scan(corpus, db, scheduler, signum, times=1)
    name = signal.Signals(signum).name
    assert code == 128 + signum, err
    assert err.strip() == (
        f"triage: error: scan interrupted ({name}): finished chunks are kept "
        f"in {db}; run the same command again to resume"
    )
    kept = committed_chunks(db)
    assert 2 <= kept < committed_chunks(pair_reference)
    with sqlite3.connect(db) as con:
        statuses = [r[0] for r in con.execute("SELECT status FROM runs")]
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert statuses == ["interrupted"]  # the run was closed as interrupted
    again = subprocess.run(_args(corpus, db, "sync"), cwd=REPO, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert dump(db) == dump(pair_reference)


def test_second_ctrl_c_stops_at_once_and_the_database_stays_whole(
    corpus: Corpus, pair_reference: Path, tmp_path: Path
) -> None:
    db = tmp_path / "case.db"
    code, out, err = _interrupted_scan(corpus, db, "local", signal.SIGINT, times=2)
    assert code == 130, err
    assert "Traceback" not in err and "stopped at once" in err
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert committed_chunks(db) >= 2
    again = subprocess.run(_args(corpus, db, "sync"), cwd=REPO, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert dump(db) == dump(pair_reference)
