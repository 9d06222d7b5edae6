"""Comparing case databases: what a scan stored, without run ids or times;
and holding up the driver's walk, as a long Sleuth Kit call would."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO
from triage.scan import ScanEvent, driver, tasks
from triage.scan import walk as walking

# table -> columns that must be identical between equivalent scans
COMPARED: dict[str, tuple[str, ...]] = {
    "devices": ("device_id", "evidence", "container", "size", "status", "error",
                "media_count", "match_count", "skipped_count"),
    "media": ("device_id", "address", "path", "partition_index", "inode", "size",
              "source", "deleted", "orphan", "archive_path", "carve_offset",
              "media_type", "mtime", "md5", "width", "height",
              "display_path", "chunk_key", "known_good", "decoded"),
    "digests": ("device_id", "address", "algorithm", "value"),
    "perceptual": ("device_id", "address", "algorithm", "variant", "value",
                   "quality"),
    "matches": ("device_id", "address", "set_name", "set_digest", "entry_id",
                "algorithm", "variant", "distance", "category", "scheme",
                "known_good"),
    "skipped": ("device_id", "location", "stage", "reason"),
    "chunks": ("device_id", "chunk_key", "items", "sets_key"),
}  # fmt: skip


# The scan as a user runs it, in its own process, with a progress callback
# that SIGKILLs that process once ``limit`` chunks are committed: nothing in
# triage knows about the test.
_KILLED_SCAN = """
import os, signal, sys
from triage.scan import scan

limit, at_once, chunk_files, db, sets = sys.argv[1:6]
hashsets, evidence = sys.argv[6 : 6 + int(sets)], sys.argv[6 + int(sets) :]
committed = 0

def progress(event):
    global committed
    if event.kind == "chunk":
        committed += 1
        if committed >= int(limit):
            os.kill(os.getpid(), signal.SIGKILL)

scan(evidence, hashsets, db, scheduler="sync", chunk_files=int(chunk_files),
     devices_at_once=int(at_once), progress=progress)
"""


def killed_scan(
    db: Path,
    hashsets: list[Path],
    evidence: list[Path],
    *,
    kill_after: int,
    at_once: int = 1,
    chunk_files: int = 2,
) -> subprocess.CompletedProcess[str]:
    """A sync scan in its own process, SIGKILLed once ``kill_after`` chunks
    are committed (its return code is then ``-SIGKILL``)."""
    args = [sys.executable, "-c", _KILLED_SCAN, str(kill_after), str(at_once),
            str(chunk_files), str(db), str(len(hashsets)),
            *map(str, hashsets), *map(str, evidence)]  # fmt: skip
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300)


def count(db: Path, sql: str = "SELECT COUNT(*) FROM chunks") -> int:
    """The number ``sql`` gives on ``db``, opened read-only."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return int(con.execute(sql).fetchone()[0])
    finally:
        con.close()


def committed_chunks(db: Path) -> int:
    """Chunks a running scan has committed to ``db`` so far (0 while the
    database is not there yet): for polling from another process."""
    try:
        return count(db)
    except sqlite3.Error:
        return 0


def dump(db: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every compared row of every table, sorted (duplicates would show)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {
            table: sorted(
                con.execute(f"SELECT {', '.join(cols)} FROM {table}").fetchall(),
                key=repr,
            )
            for table, cols in COMPARED.items()
        }
    finally:
        con.close()


def matched_entries(db: Path, device_id: str) -> dict[str, set[str]]:
    """entry id -> display paths of the items that matched it (known-bad only)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT m.entry_id, media.display_path FROM matches m JOIN media "
            "USING (device_id, address) WHERE m.device_id = ? AND m.known_good = 0",
            (device_id,),
        ).fetchall()
    finally:
        con.close()
    out: dict[str, set[str]] = {}
    for entry, path in rows:
        out.setdefault(entry, set()).add(path)
    return out


def hold_walk(
    monkeypatch: pytest.MonkeyPatch, device_id: str, before_entry: int
) -> tuple[threading.Event, list[bool]]:
    """Make the driver's walk of ``device_id`` stop before its entry number
    ``before_entry`` until the returned event is set (at most 30 s), as if
    Sleuth Kit were in a long call there; the list gets whether it was set."""
    release = threading.Event()
    waited: list[bool] = []
    real = walking.iter_entries

    def held(handle: Any, part: Any, **kwargs: Any) -> Iterator[Any]:
        for n, entry in enumerate(real(handle, part, **kwargs)):
            if n == before_entry and handle.device.device_id == device_id:
                waited.append(release.wait(timeout=30))
            yield entry

    monkeypatch.setattr(walking, "iter_entries", held)
    return release, waited


def release_on_first_commit(
    release: threading.Event, device_id: str
) -> driver.Progress:
    def progress(event: ScanEvent) -> None:
        if event.kind == "chunk" and event.device_id == device_id:
            release.set()

    return progress


class HeldChunk:
    """Hold the first chunk a worker runs, at its first item, until the
    driver tells the workers to stop its device (``--stop-after``); record
    every chunk's result. For workers in threads of this process: Dask
    pickles ``process_chunk`` and the functions ``Client.run`` sends, so the
    stand-ins are module functions (pickled by name) reaching this state."""

    stop_told = threading.Event()
    held_done = threading.Event()
    first = threading.Lock()  # taken, never released, by the held chunk
    waited: list[bool] = []
    results: list[tasks.ChunkResult] = []
    real = (tasks.stop_chunks, tasks.forget_stopped, tasks._hash_item,
            tasks.process_chunk)  # fmt: skip

    @classmethod
    def install(cls, monkeypatch: pytest.MonkeyPatch) -> None:
        cls.stop_told.clear()
        cls.held_done.clear()
        cls.first = threading.Lock()
        cls.waited.clear()
        cls.results.clear()
        for name, fn in (("stop_chunks", _told_stop), ("forget_stopped", _forget),
                         ("_hash_item", _held_hash_item),
                         ("process_chunk", _recorded_chunk)):  # fmt: skip
            monkeypatch.setattr(tasks, name, fn)


def _told_stop(token: str, device_id: str) -> None:
    HeldChunk.real[0](token, device_id)
    HeldChunk.stop_told.set()


def _forget(token: str) -> None:
    HeldChunk.held_done.wait(30)  # not before the held chunk has looked
    HeldChunk.real[1](token)


def _held_hash_item(*args: Any, **kwargs: Any) -> None:
    if HeldChunk.first.acquire(blocking=False):
        HeldChunk.waited.append(HeldChunk.stop_told.wait(30))
    HeldChunk.real[2](*args, **kwargs)


def _recorded_chunk(*args: Any) -> tasks.ChunkResult:
    result: tasks.ChunkResult = HeldChunk.real[3](*args)
    HeldChunk.results.append(result)
    if result.abandoned:
        HeldChunk.held_done.set()
    return result
