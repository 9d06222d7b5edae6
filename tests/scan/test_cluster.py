"""The same scan on real Dask clusters gives the same database as the in-process
run: a LocalCluster of two processes, and a ``dask scheduler`` with two
``dask worker`` processes on loopback, one of which is SIGKILLed mid-scan."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dask
import pytest

from tests.conftest import REPO
from tests.scan.corpus import Corpus
from tests.scan.helpers import (
    HeldChunk,
    dump,
    hold_walk,
    release_on_first_commit,
)
from triage.scan import dask_runner, scan, tasks

# Many small tasks, so a worker can be killed part-way.
CHUNK_FILES = 1
CARVE_BYTES = 1 << 20


def _devices(corpus: Corpus) -> list[Path]:
    return [corpus.dev1, corpus.dev2, corpus.dev3]


def _sets(corpus: Corpus) -> list[Path]:
    return [corpus.bad_set, corpus.good_set]


@pytest.fixture(scope="module")
def reference(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("sync") / "case.db"
    scan(
        _devices(corpus),
        _sets(corpus),
        db,
        scheduler="sync",
        chunk_files=CHUNK_FILES,
        carve_bytes=CARVE_BYTES,
    )
    return db


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_workers(address: str, n: int, timeout: float = 60) -> None:
    from distributed import Client

    with Client(address, timeout=timeout) as client:
        client.wait_for_workers(n, timeout=timeout)


@pytest.fixture(scope="module")
def loopback_cluster(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, list[subprocess.Popen[bytes]]]]:
    """A ``dask scheduler`` and two single-thread ``dask worker`` processes on
    127.0.0.1 (no nanny: a killed worker stays dead). Always torn down."""
    logs = tmp_path_factory.mktemp("dask-logs")
    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs: list[subprocess.Popen[bytes]] = []

    def start(args: list[str], name: str) -> subprocess.Popen[bytes]:
        log = open(logs / f"{name}.log", "wb")  # noqa: SIM115 - closed below
        proc = subprocess.Popen(
            [sys.executable, "-m", *args], cwd=REPO, env=env, stdout=log, stderr=log
        )
        log.close()
        procs.append(proc)
        return proc

    try:
        start(["distributed.cli.dask_scheduler", "--host", "127.0.0.1",
               "--port", str(port), "--no-dashboard"], "scheduler")  # fmt: skip
        worker = ["distributed.cli.dask_worker", address, "--nthreads", "1",
                  "--no-nanny", "--no-dashboard", "--host", "127.0.0.1",
                  "--memory-limit", "2GiB"]  # fmt: skip
        workers = [start([*worker, "--name", f"w{i}"], f"worker{i}") for i in (1, 2)]
        _wait_for_workers(address, 2)
        yield address, workers
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def test_local_cluster_matches_sync(
    corpus: Corpus, reference: Path, tmp_path: Path
) -> None:
    db = tmp_path / "local.db"
    summary = scan(
        _devices(corpus),
        _sets(corpus),
        db,
        workers=2,
        chunk_files=CHUNK_FILES,
        carve_bytes=CARVE_BYTES,
        devices_at_once=3,  # the three devices' chunks in turn (loopback: 1)
    )
    assert summary.scheduler == "local" and summary.workers == 2
    assert [d.device_id for d in summary.devices] == ["dev1.raw", "dev2.001",
                                                      "dev3.E01"]  # fmt: skip
    assert dump(db) == dump(reference)


def _worker_settings() -> dict[str, object]:
    import threadpoolctl

    return {
        "malloc_trim": os.environ.get("MALLOC_TRIM_THRESHOLD_"),
        "blas_threads": sorted(
            {
                i["num_threads"]
                for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"
            }
        ),  # fmt: skip
    }


def test_local_workers_keep_the_settings_decoding_needs() -> None:
    """The local cluster's workers (forked from a forkserver) run one BLAS
    thread each and without the nanny's MALLOC_TRIM_THRESHOLD_, which makes
    decoding cost 2.4-2.6x the CPU (benchmarks/HISTORY.md)."""
    runner = dask_runner.DaskRunner(None, 2)
    try:
        client = runner._client
        workers = list(client.scheduler_info()["workers"])
        assert len(workers) == 2
        for worker in workers:
            got = client.submit(_worker_settings, workers=[worker], pure=False)
            assert got.result(timeout=60) == {"malloc_trim": None, "blas_threads": [1]}
    finally:
        runner.close()


def test_stop_after_ends_a_running_chunk_of_the_stopped_device(
    corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When ``--stop-after`` stops a device, its chunk still running on a
    worker gives up at its next item (the driver has cancelled it) instead of
    decoding on for nothing, and holding up the rest of the batch and the
    cluster's close. Workers in threads of this process, so that the test
    can hold one chunk: the first one, at its first picture, until the stop
    reaches the workers; the other worker finds the first match meanwhile."""
    from distributed import LocalCluster

    HeldChunk.install(monkeypatch)
    db = tmp_path / "stopped.db"
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=":0"
    ) as cluster:
        summary = scan([corpus.dev1], [corpus.bad_set], db,
                       scheduler=cluster.scheduler_address, chunk_files=3,
                       carve_bytes=CARVE_BYTES, stop_after=1)  # fmt: skip
        # The workers' state (in this process), while the cluster lives on.
        assert not tasks.worker_state().stopped  # forgotten at the end
    assert HeldChunk.waited == [True]  # released by the stop, not the time-out
    (device,) = summary.devices
    assert device.status == "stopped-early"
    # The held chunk, and any other of the device running at that moment.
    gave_up = [r for r in HeldChunk.results if r.abandoned]
    assert gave_up and all(r.media == () for r in gave_up)
    with sqlite3.connect(db) as con:
        done = {key for (key,) in con.execute("SELECT chunk_key FROM chunks")}
    assert not done & {r.chunk_key for r in gave_up}  # undone: a later scan


def test_loopback_cluster_matches_sync(
    corpus: Corpus,
    reference: Path,
    tmp_path: Path,
    loopback_cluster: tuple[str, list[subprocess.Popen[bytes]]],
) -> None:
    address, _ = loopback_cluster
    db = tmp_path / "remote.db"
    summary = scan(
        _devices(corpus),
        _sets(corpus),
        db,
        scheduler=address,
        chunk_files=CHUNK_FILES,
        carve_bytes=CARVE_BYTES,
    )
    assert summary.scheduler == address and summary.workers == 2
    assert dump(db) == dump(reference)


def test_results_come_in_while_the_walk_is_held_up(
    corpus: Corpus,
    reference: Path,
    tmp_path: Path,
    loopback_cluster: tuple[str, list[subprocess.Popen[bytes]]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a cluster too, the driver gathers and stores finished chunks while
    its walk is stuck (here before dev2's second entry, until dev2's first
    chunk is stored): the wait for results looks at the walk again."""
    address, _ = loopback_cluster
    release, waited = hold_walk(monkeypatch, "dev2.001", before_entry=1)
    db = tmp_path / "held.db"
    scan(_devices(corpus), _sets(corpus), db, scheduler=address,
         chunk_files=CHUNK_FILES, carve_bytes=CARVE_BYTES,
         progress=release_on_first_commit(release, "dev2.001"))  # fmt: skip
    assert waited == [True]
    assert dump(db) == dump(reference)


def test_worker_killed_mid_scan_changes_nothing(
    corpus: Corpus,
    reference: Path,
    tmp_path: Path,
    loopback_cluster: tuple[str, list[subprocess.Popen[bytes]]],
) -> None:
    address, workers = loopback_cluster
    db = tmp_path / "killed.db"
    total = len(dump(reference)["chunks"])
    killed_at: list[int] = []

    def kill_when_two_chunks_are_committed() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if db.exists():
                try:
                    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
                    n = con.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
                    con.close()
                except sqlite3.OperationalError:
                    n = 0
                if n >= 2:
                    os.kill(workers[0].pid, signal.SIGKILL)  # our own child
                    killed_at.append(n)
                    return
            time.sleep(0.01)

    watcher = threading.Thread(target=kill_when_two_chunks_are_committed)
    watcher.start()
    # Results a dead worker held are fetched from it until the connect timeout
    # (30 s by default) gives up and the scheduler recomputes them.
    try:
        with dask.config.set({"distributed.comm.timeouts.connect": "3s"}):
            scan(_devices(corpus), _sets(corpus), db, scheduler=address,
                 chunk_files=CHUNK_FILES, carve_bytes=CARVE_BYTES)  # fmt: skip
    finally:
        watcher.join()
    assert workers[0].wait(timeout=10) == -signal.SIGKILL
    assert killed_at and killed_at[0] < total  # the worker died mid-scan
    assert dump(db) == dump(reference)
