"""The driver's walk (``triage.scan.walk``) runs in threads of its own:
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

from tests.scan.corpus import Corpus
from tests.scan.helpers import dump, hold_walk, release_on_first_commit
from triage.scan import ScanEvent, scan
from triage.scan import walk as walking

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


def _stuck_walks(
    monkeypatch: pytest.MonkeyPatch, names: tuple[str, ...], at_once: int = 1
) -> tuple[walking.Walks, dict[str, threading.Event], list[str]]:
    """Walks of fake devices that each yield ("start", d), then sit in "a
    long Sleuth Kit call" until their gate is set (at most 30 s), then yield
    ("end", d); the list gets each device whose walk has ended."""
    gates = {d: threading.Event() for d in names}
    ended: list[str] = []

    def walk_one(planned: Any, **_: Any) -> Iterator[Any]:
        try:
            yield ("start", planned.device_id)
            gates[planned.device_id].wait(timeout=30)
            yield ("end", planned.device_id)
        finally:
            ended.append(planned.device_id)

    monkeypatch.setattr(walking, "walk_one", walk_one)
    plan = [walking.Planned(Path(d), d, d) for d in names]
    walks = walking.Walks(
        plan, chunk_files=1, carve_bytes=1 << 20, carving=True, at_once=at_once
    )
    return walks, gates, ended


def test_at_most_one_walk_let_go_runs_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """Walks dropped mid-call finish in the background, but only one at a
    time: dropping a second one makes the next device wait for the first."""
    walks, gates, ended = _stuck_walks(monkeypatch, ("d1", "d2", "d3"))
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


def _fake_walks(
    monkeypatch: pytest.MonkeyPatch,
    devices: dict[str, int],
    at_once: int,
    gates: dict[str, threading.Event] | None = None,
) -> tuple[walking.Walks, list[str]]:
    """Walks over fake devices, each yielding ``devices[d]`` items (after its
    gate, if it has one); the list gets each device whose walk has ended."""
    ended: list[str] = []

    def walk_one(planned: Any, **_: Any) -> Iterator[Any]:
        dev = planned.device_id
        try:
            if gates and dev in gates:
                gates[dev].wait(timeout=30)
            for k in range(devices[dev]):
                yield (dev, k)
        finally:
            ended.append(dev)

    monkeypatch.setattr(walking, "walk_one", walk_one)
    plan = [walking.Planned(Path(d), d, d) for d in devices]
    walks = walking.Walks(
        plan, chunk_files=1, carve_bytes=1 << 20, carving=True, at_once=at_once
    )
    return walks, ended


def _drain(walks: walking.Walks) -> list[Any]:
    items = []
    while (item := walks.get()) is not walking.WALK_DONE:
        items.append(item)
    return items


def _wait_for(ended: list[str], n: int) -> None:
    for _ in range(600):
        if len(ended) >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"walks ended: {ended}")


def test_walks_hand_out_devices_in_turn(monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``at_once=2`` two devices are walked together and their items
    come one from each in turn; with 1, one device after the other."""
    walks, ended = _fake_walks(monkeypatch, {"A": 3, "B": 3}, at_once=2)
    try:
        walks.start()
        _wait_for(ended, 2)  # both walked in full before anything was read
        assert _drain(walks) == [("A", 0), ("B", 0), ("A", 1), ("B", 1),
                                 ("A", 2), ("B", 2)]  # fmt: skip
    finally:
        walks.close()
    walks, ended = _fake_walks(monkeypatch, {"A": 3, "B": 3}, at_once=1)
    try:
        assert _drain(walks) == [("A", 0), ("A", 1), ("A", 2),
                                 ("B", 0), ("B", 1), ("B", 2)]  # fmt: skip
    finally:
        walks.close()
    with pytest.raises(ValueError):
        walking.Walks([], chunk_files=1, carve_bytes=1 << 20, carving=True, at_once=0)


def test_a_device_walked_in_full_makes_room_for_the_next(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``at_once=2``: once A is walked, C's walk starts and C's items come
    while B's walk is still stuck (a long Sleuth Kit call)."""
    gates = {"B": threading.Event()}
    walks, ended = _fake_walks(
        monkeypatch, {"A": 1, "B": 1, "C": 2}, at_once=2, gates=gates
    )
    try:
        assert walks.get() == ("A", 0)
        assert walks.get() == ("C", 0)  # B is still held
        assert walks.get() == ("C", 1)
        assert walks.get(block=False) is walking.NOTHING_YET
        assert "B" not in ended
        gates["B"].set()
        assert _drain(walks) == [("B", 0)]
    finally:
        gates["B"].set()
        walks.close()


def _events(
    corpus: Corpus, db: Path, **kwargs: Any
) -> tuple[list[ScanEvent], list[str]]:
    events: list[ScanEvent] = []
    summary = scan([corpus.dev3, corpus.dev1], [corpus.bad_set], db,
                   scheduler="sync", chunk_files=1, progress=events.append,
                   **kwargs)  # fmt: skip
    return events, [d.status for d in summary.devices]


def _dev3_chunks_before_dev1_hits(events: list[ScanEvent]) -> tuple[int, int]:
    """(dev3 chunks stored before dev1's first hit, dev3 chunks in all)."""
    first_hit = next(
        k
        for k, e in enumerate(events)
        if e.kind == "chunk" and e.device_id == "dev1.raw" and e.matches
    )
    dev3 = [k for k, e in enumerate(events)
            if e.kind == "chunk" and e.device_id == "dev3.E01"]  # fmt: skip
    return sum(1 for k in dev3 if k < first_hit), len(dev3)


def test_triage_reaches_a_device_with_known_images_behind_one_without(
    corpus: Corpus, tmp_path: Path
) -> None:
    """--stop-after walks several devices at once: dev1 (known images),
    given after dev3 (none), has its first hit after a few of dev3's chunks;
    one device at a time, after nearly all of them (all but those still in
    flight: 3 with one process). dev3 is scanned in full either way, to the
    same rows."""
    events, statuses = _events(corpus, tmp_path / "turns.db", stop_after=1)
    assert statuses == ["scanned", "stopped-early"]  # in the order given
    before, total = _dev3_chunks_before_dev1_hits(events)
    # How many of dev3's chunks run while dev1's walk thread opens its image
    # depends on thread timing: 2 of 32 on a quiet machine, 5 seen at load 5.
    # One device at a time it is all but the last few (below).
    assert total > 10 and before <= total // 4
    one, statuses = _events(
        corpus, tmp_path / "one.db", stop_after=1, devices_at_once=1
    )
    assert statuses == ["scanned", "stopped-early"]
    before, total = _dev3_chunks_before_dev1_hits(one)
    assert before >= total - 3

    def dev3_rows(db: Path) -> dict[str, list[tuple[object, ...]]]:
        return {t: [r for r in rows if r[0] == "dev3.E01"]
                for t, rows in dump(db).items()}  # fmt: skip

    assert dev3_rows(tmp_path / "turns.db") == dev3_rows(tmp_path / "one.db")

    # Finishing the triage run, devices in turn, resumes each device from its
    # own stored chunks and ends as a full scan would.
    def full(db: Path, at_once: int) -> list[tuple[str, int, int]]:
        summary = scan([corpus.dev3, corpus.dev1], [corpus.bad_set], db,
                       scheduler="sync", chunk_files=1,
                       devices_at_once=at_once)  # fmt: skip
        return [(d.status, d.chunks_resumed, d.chunks_done) for d in summary.devices]

    resumed = full(tmp_path / "turns.db", 2)
    fresh = full(tmp_path / "fresh.db", 1)
    assert dump(tmp_path / "turns.db") == dump(tmp_path / "fresh.db")
    (s3, resumed3, done3), (s1, resumed1, done1) = resumed
    assert (s3, s1) == ("scanned", "scanned")
    assert done3 == 0 and resumed3 == fresh[0][2]  # dev3: all stored already
    assert resumed1 > 0 and resumed1 + done1 == fresh[1][2]


def test_a_full_scan_of_devices_in_turn_stores_the_same(
    corpus: Corpus, tmp_path: Path
) -> None:
    devices = [corpus.dev1, corpus.dev2, corpus.dev3]
    for name, at_once in (("one.db", 1), ("three.db", 3)):
        scan(devices, [corpus.bad_set, corpus.good_set], tmp_path / name,
             scheduler="sync", chunk_files=2, devices_at_once=at_once)  # fmt: skip
    assert dump(tmp_path / "one.db") == dump(tmp_path / "three.db")


def test_walks_get_ahead_by_at_most_as_many_devices_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """However many devices, and however fast they are walked, at most
    2 x ``at_once`` are walked before their items are read: the driver's
    memory does not grow with the batch."""
    walks, ended = _fake_walks(monkeypatch, {f"d{k}": 1 for k in range(10)}, 2)
    fake, started = walking.walk_one, []

    def counted(planned: Any, **kwargs: Any) -> Iterator[Any]:
        started.append(planned.device_id)
        return fake(planned, **kwargs)

    monkeypatch.setattr(walking, "walk_one", counted)
    try:
        walks.start()
        _wait_for(ended, 2)
        assert walks.get() == ("d0", 0)
        _wait_for(ended, 4)
        time.sleep(0.2)  # time to start more, if it would
        assert started == ["d0", "d1", "d2", "d3"]
        assert sorted(_drain(walks)) == [(f"d{k}", 0) for k in range(1, 10)]
        assert len(started) == 10
    finally:
        walks.close()


def test_walks_let_go_run_on_one_per_device_walked_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With 2 devices at once, two walks dropped mid-call may finish in the
    background while the next two devices are walked; a third makes the
    next device wait for the oldest."""
    names = ("d1", "d2", "d3", "d4", "d5")
    walks, gates, ended = _stuck_walks(monkeypatch, names, at_once=2)
    try:
        assert {walks.get(), walks.get()} == {("start", "d1"), ("start", "d2")}
        walks.drop("d1")
        walks.drop("d2")  # two let go: d3 and d4 start at once
        assert {walks.get(), walks.get()} == {("start", "d3"), ("start", "d4")}
        assert ended == []
        walks.drop("d3")  # a third: d5 waits until d1's walk is over
        threading.Timer(0.2, gates["d1"].set).start()
        assert walks.get() == ("start", "d5")
        assert ended == ["d1"]
    finally:
        for gate in gates.values():
            gate.set()
        walks.close()
