"""A Dask cluster failing under a scan (issue 15, item 7): the scheduler
dies (a clear error, finished chunks kept, the same command resumes against
a new scheduler), and a worker hangs in a chunk (timed out, retried on
another worker; hung twice, its device fails naming the chunk). Slow: each
starts its own scheduler and worker processes (run with ``-m slow``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.scan.corpus import Corpus
from tests.scan.helpers import committed_chunks, dump
from triage.scan import scan

CHUNK_FILES = 2
SLOW = Path(__file__).parent / "slow_chunks"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_workers(address: str, n: int) -> None:
    from distributed import Client

    with Client(address, timeout=60) as client:
        client.wait_for_workers(n, timeout=60)


Start = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Start]:
    """Starts ``python -m ...`` processes (slow-chunk hooks on the path);
    every one is stopped at the end."""
    procs: list[subprocess.Popen[bytes]] = []

    def start(args: list[str], **env: str) -> subprocess.Popen[bytes]:
        environ = dict(os.environ, PYTHONPATH=f"{SLOW}{os.pathsep}{REPO}", **env)
        log = open(tmp_path / f"p{len(procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", *args], cwd=REPO,
                                env=environ, stdout=log, stderr=log)  # fmt: skip
        log.close()
        procs.append(proc)
        return proc

    try:
        yield start
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=20)


def _scheduler(start: Start, port: int) -> subprocess.Popen[bytes]:
    return start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                  "--port", str(port), "--no-dashboard"])  # fmt: skip


def _worker(start: Start, address: str, name: str, **env: str) -> None:
    start(["distributed.cli.dask_worker", address, "--nthreads", "1", "--no-nanny",
           "--no-dashboard", "--host", "127.0.0.1", "--name", name], **env)  # fmt: skip


@pytest.mark.slow  # loopback cluster processes: 10-30 s
def test_scheduler_dies_mid_scan_then_the_same_command_resumes(
    corpus: Corpus, pair_reference: Path, tmp_path: Path, processes: Start
) -> None:
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = _scheduler(processes, port)
    _worker(processes, address, "w1", TRIAGE_TEST_CHUNK_DELAY="0.4")
    _wait_for_workers(address, 1)
    db = tmp_path / "case.db"
    command = [sys.executable, "-c", "from triage.cli import main; main()", "scan",
               str(corpus.dev1), str(corpus.dev2), "--hashset", str(corpus.bad_set),
               "--db", str(db), "--chunk-files", str(CHUNK_FILES),
               "--scheduler", address]  # fmt: skip
    scan_proc = subprocess.Popen(command, cwd=REPO, text=True, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while committed_chunks(db) < 2:
            assert scan_proc.poll() is None, scan_proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        scheduler.kill()
        _, err = scan_proc.communicate(timeout=120)
    finally:
        if scan_proc.poll() is None:
            scan_proc.kill()
    assert scan_proc.returncode == 6, err
    assert err.strip() == (
        f"triage: error: lost the Dask scheduler at {address} "
        "(scheduler-connection-lost); every chunk finished before is kept: start "
        "the scheduler again and run the same command to resume"
    )
    kept = committed_chunks(db)
    assert 2 <= kept < committed_chunks(pair_reference)
    # A new scheduler at the same address, a new worker: the same command.
    _scheduler(processes, port)
    _worker(processes, address, "w2")
    _wait_for_workers(address, 1)
    again = subprocess.run(command, cwd=REPO, capture_output=True, text=True,
                           timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert dump(db) == dump(pair_reference)


@pytest.mark.slow  # loopback cluster processes: 10-30 s
def test_hung_worker_chunk_is_retried_on_another_worker(
    corpus: Corpus, pair_reference: Path, tmp_path: Path, processes: Start
) -> None:
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    _scheduler(processes, port)
    _worker(processes, address, "hangs", TRIAGE_TEST_HANG_FIRST_CHUNK="1")
    _worker(processes, address, "works")
    _wait_for_workers(address, 2)
    db = tmp_path / "case.db"
    started = time.monotonic()
    summary = scan([corpus.dev1, corpus.dev2], [corpus.bad_set], db,
                   scheduler=address, chunk_files=CHUNK_FILES,
                   task_timeout=3)  # fmt: skip
    assert time.monotonic() - started < 60
    assert [d.status for d in summary.devices] == ["scanned", "scanned"]
    assert dump(db) == dump(pair_reference)


@pytest.mark.slow  # loopback cluster processes: 10-30 s
def test_chunk_hung_twice_fails_its_device_naming_it(
    corpus: Corpus, tmp_path: Path, processes: Start
) -> None:
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    _scheduler(processes, port)
    for name in ("a", "b"):
        _worker(processes, address, name, TRIAGE_TEST_HANG_FIRST_CHUNK="1")
    _wait_for_workers(address, 2)
    started = time.monotonic()
    summary = scan([corpus.dev1], [corpus.bad_set], tmp_path / "case.db",
                   scheduler=address, chunk_files=CHUNK_FILES,
                   task_timeout=2)  # fmt: skip
    assert time.monotonic() - started < 60
    (device,) = summary.devices
    assert device.status == "failed"
    assert device.error is not None
    assert "no result after 2 s, twice (a worker hung); not scanned" in device.error
    assert device.error.startswith(f"{corpus.dev1}: chunk p")
