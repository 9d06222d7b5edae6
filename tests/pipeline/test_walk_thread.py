"""The driver's walk (``triage.walking``) runs in threads of its own:
results are committed while Sleuth Kit is busy in a long call, errors surface
where they happened, and stopping a scan stops the walk and closes its
evidence in that thread."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.pipeline.corpus import Corpus
from tests.pipeline.helpers import dump, hold_walk, release_on_first_commit
from triage import walking
from triage.pipeline import ScanEvent, scan

CHUNK_FILES = 2


def test_chunks_are_committed_while_the_walk_is_held_up(
    corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first chunk's result is stored while the walk is stuck before its
    third entry (a driver that walked in its own loop would wait there for
    ever, so the walk would time out), and the scan ends as a free one."""
    reference = tmp_path / "free.db"
    scan([corpus.dev1], [corpus.bad_set], reference, scheduler="sync",
         chunk_files=CHUNK_FILES)  # fmt: skip
    release, waited = hold_walk(monkeypatch, "dev1.raw", before_entry=CHUNK_FILES)
    db = tmp_path / "held.db"
    scan([corpus.dev1], [corpus.bad_set], db, scheduler="sync",
         chunk_files=CHUNK_FILES,
         progress=release_on_first_commit(release, "dev1.raw"))  # fmt: skip
    assert waited == [True]
    assert dump(db) == dump(reference)


def test_a_device_stopped_early_does_not_wait_for_its_walk(
    corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--stop-after: dev1 stops at its first hit while its walk is stuck
    further on (as in FAT's orphan search of a big card); the scan goes on
    to dev3 and ends without waiting for that walk, which stops by itself
    once it can and closes dev1 in its own thread."""
    release, waited = hold_walk(monkeypatch, "dev1.raw", before_entry=5)
    try:
        summary = scan([corpus.dev1, corpus.dev3], [corpus.bad_set],
                       tmp_path / "case.db", scheduler="sync", chunk_files=1,
                       stop_after=1)  # fmt: skip
        assert waited == []  # the scan ended while dev1's walk was still stuck
    finally:
        release.set()
    assert [d.status for d in summary.devices] == ["stopped-early", "scanned"]
    for _ in range(100):
        if not [t for t in threading.enumerate() if t.name == "triage-walk"]:
            break
        time.sleep(0.05)
    assert waited == [True]
    assert not [t for t in threading.enumerate() if t.name == "triage-walk"]


def test_a_failing_scan_stops_the_walk_and_closes_its_evidence(
    corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C in the driver: the walk thread ends, and every device it opened
    is closed in that thread (never under it, while Sleuth Kit reads)."""
    handles: list[tuple[str, list[str]]] = []  # opened in, closed in
    real_open = walking.open_device

    def tracked(*args: Any, **kwargs: Any) -> Any:
        handle = real_open(*args, **kwargs)
        closed: list[str] = []
        handles.append((threading.current_thread().name, closed))
        real_close = handle.close

        def close() -> None:
            closed.append(threading.current_thread().name)
            real_close()

        handle.close = close
        return handle

    monkeypatch.setattr(walking, "open_device", tracked)

    def progress(event: ScanEvent) -> None:
        if event.kind == "chunk":
            raise KeyboardInterrupt  # the examiner pressed Ctrl-C

    db = tmp_path / "case.db"
    with pytest.raises(KeyboardInterrupt):
        scan(corpus.devices, [corpus.bad_set], db, scheduler="sync",
             chunk_files=CHUNK_FILES, progress=progress)  # fmt: skip
    walked = [closed for opened, closed in handles if opened == "triage-walk"]
    assert walked and all(closed == ["triage-walk"] for closed in walked)
    assert not [t for t in threading.enumerate() if t.name == "triage-walk"]
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        runs = con.execute("SELECT device_id, status FROM runs").fetchall()
    finally:
        con.close()
    assert runs == [("dev1.raw", "interrupted")]  # the driver got no further


# -- the thread helper ---------------------------------------------------------


def test_background_hands_items_over_in_order_and_raises_where_it_failed() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad entry")

    walk = walking.Background(source(), ahead=1, name="t")
    try:
        assert walk.get() == 1
        assert walk.get() == 2
        with pytest.raises(ValueError, match="bad entry"):
            walk.get()
        assert walk.get() is walking.WALK_DONE
    finally:
        walk.close()


def test_background_does_not_block_when_asked_not_to() -> None:
    go = threading.Event()

    def source() -> Iterator[str]:
        go.wait(timeout=30)
        yield "late"

    walk = walking.Background(source(), ahead=4, name="t")
    try:
        assert walk.get(block=False) is walking.NOTHING_YET
        go.set()
        assert walk.get() == "late"
        assert walk.get() is walking.WALK_DONE
    finally:
        walk.close()


def test_background_close_stops_the_source_in_its_own_thread() -> None:
    produced: list[int] = []
    closed_in: list[str] = []

    def source() -> Iterator[int]:
        try:
            for n in range(1000):
                produced.append(n)
                yield n
        finally:
            closed_in.append(threading.current_thread().name)

    walk = walking.Background(source(), ahead=2, name="walker")
    assert walk.get() == 0
    walk.close()
    assert closed_in == ["walker"]
    assert len(produced) < 10  # bounded: it never ran far ahead


def test_outside_gives_what_the_holes_leave() -> None:
    holes = [(10, 20), (20, 25), (40, 50), (90, 200)]
    assert list(walking._outside(0, 100, holes)) == [(0, 10), (25, 40), (50, 90)]
    assert list(walking._outside(12, 45, holes)) == [(25, 40)]
    assert list(walking._outside(60, 80, holes)) == [(60, 80)]
    assert list(walking._outside(95, 150, holes)) == []
    assert list(walking._outside(0, 5, [])) == [(0, 5)]


def test_at_most_one_walk_let_go_runs_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Walks dropped mid-call finish in the background, but only one at a
    time: dropping a second one makes the next device wait for the first."""
    gates = {d: threading.Event() for d in ("d1", "d2", "d3")}
    ended: list[str] = []

    def walk_one(planned: Any, **_: Any) -> Iterator[Any]:
        try:
            yield ("start", planned.device_id)
            gates[planned.device_id].wait(timeout=30)  # a long Sleuth Kit call
            yield ("end", planned.device_id)
        finally:
            ended.append(planned.device_id)

    monkeypatch.setattr(walking, "walk_one", walk_one)
    plan = [walking.Planned(Path(d), d, d) for d in ("d1", "d2", "d3")]
    walks = walking.Walks(plan, chunk_files=1, carve_bytes=1 << 20, carving=True)
    try:
        assert walks.get() == ("start", "d1")
        walks.drop("d1")  # let go while stuck: d2 starts at once
        assert walks.get() == ("start", "d2")
        assert ended == []
        walks.drop("d2")  # a second one: d3 waits until d1's walk is over
        threading.Timer(0.2, gates["d1"].set).start()
        assert walks.get() == ("start", "d3")
        assert ended == ["d1"]
        gates["d3"].set()
        assert walks.get() == ("end", "d3")
        assert walks.get() is walking.WALK_DONE
    finally:
        for gate in gates.values():
            gate.set()
        walks.close()
