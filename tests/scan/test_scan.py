"""End-to-end scans with the in-process scheduler: what is found, what is
stored, resuming, re-matching with a newer set, stop-after, evidence untouched."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import damage_ewf_chunk, evidence_state, write_ewf_with_gaps
from tests.scan.corpus import Corpus, _jpeg
from tests.scan.helpers import COMPARED, dump, matched_entries
from triage.errors import UsageError
from triage.hashmatch import policy
from triage.ingest import carve
from triage.ingest.carve import unallocated_runs
from triage.ingest.evidence import ZeroRuns, open_device
from triage.records import Partition
from triage.sample import disk
from triage.scan import ScanEvent, ScanSummary, dask_runner, driver, scan, tasks
from triage.scan import walk as walking
from triage.scan.runner import SyncRunner
from triage.store import Store

CHUNK_FILES = 2


def _evidence_files(corpus: Corpus) -> list[Path]:
    files = [corpus.dev1, corpus.broken, *sorted(corpus.dev2.parent.iterdir())]
    files += sorted(corpus.root.glob("dev3.E*"))
    return files


@pytest.fixture(scope="module")
def scanned(
    corpus: Corpus, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, ScanSummary, dict[str, object], dict[str, object]]:
    """One full sync scan of every device (the reference for other tests)."""
    db = tmp_path_factory.mktemp("sync") / "case.db"
    before = evidence_state(_evidence_files(corpus))
    events: list[ScanEvent] = []
    summary = scan(
        [*corpus.devices, corpus.broken],
        [corpus.bad_set, corpus.good_set],
        db,
        case_id="CASE-1",
        scheduler="sync",
        chunk_files=CHUNK_FILES,
        progress=events.append,
    )
    after = evidence_state(_evidence_files(corpus))
    return db, summary, {"before": before, "after": after}, {"events": events}


def test_every_planted_match_is_found_and_nothing_on_the_negative_device(
    corpus: Corpus, scanned: tuple[Path, ScanSummary, dict, dict]
) -> None:
    db, summary, _, _ = scanned
    by_id = {d.device_id: d for d in summary.devices}
    assert by_id["dev1.raw"].status == "scanned"
    assert by_id["dev2.001"].status == "scanned"
    assert by_id["dev3.E01"].status == "scanned"
    for device, planted in corpus.expected.items():
        found = matched_entries(db, device)
        assert set(found) == set(planted.values()), device
    dev1 = matched_entries(db, "dev1.raw")
    assert "docs/report.dat" in dev1["e-A"]  # renamed
    assert "dl/pack.zip!x/b.jpg" in dev1["e-B"]  # in a zip
    assert "dl/outer.zip!inner.zip!deep/c.jpg" in dev1["e-C"]  # nested zip
    assert any(p.startswith("<carved @") for p in dev1["e-E"])  # carved from gap
    assert by_id["dev3.E01"].matches == 0
    assert by_id["dev1.raw"].matches >= 5 and by_id["dev2.001"].matches == 3


def test_deleted_and_carved_items_are_stored_as_such(
    scanned: tuple[Path, ScanSummary, dict, dict],
) -> None:
    db = scanned[0]
    with Store(db) as store:
        rows = store.execute(
            "SELECT media.deleted, media.source, m.entry_id FROM matches m JOIN media "
            "USING (device_id, address) WHERE m.device_id = 'dev1.raw'"
        )
    kinds = {(r["entry_id"], r["source"], r["deleted"]) for r in rows}
    assert ("e-D", "filesystem", 1) in kinds
    assert ("e-E", "carved", 0) in kinds
    assert ("e-B", "archive", 0) in kinds


def test_known_good_is_matched_but_never_decoded_or_counted(
    scanned: tuple[Path, ScanSummary, dict, dict],
) -> None:
    db = scanned[0]
    with Store(db) as store:
        good = store.execute(
            "SELECT media.device_id, media.decoded, media.known_good FROM matches m "
            "JOIN media USING (device_id, address) WHERE m.known_good = 1"
        )
        assert {r["device_id"] for r in good} == {"dev2.001", "dev3.E01"}
        assert all(r["decoded"] == 0 and r["known_good"] == 1 for r in good)
        (n,) = store.execute(
            "SELECT COUNT(*) FROM perceptual p JOIN media USING (device_id, address) "
            "WHERE media.known_good = 1"
        )
        assert n[0] == 0


def test_bad_jpeg_and_bad_evidence_are_reported_and_the_rest_goes_on(
    corpus: Corpus, scanned: tuple[Path, ScanSummary, dict, dict]
) -> None:
    db, summary, _, _ = scanned
    by_id = {d.device_id: d for d in summary.devices}
    broken = by_id["broken.E01"]
    assert broken.status == "failed"
    assert broken.error and "broken.E01" in broken.error
    with Store(db) as store:
        skipped = store.skipped("dev2.001")
        media = {m.record.path: m for m in store.media("dev2.001")}
    bad = [s for s in skipped if "broken.jpg" in s.where]
    assert bad and bad[0].stage == "hash" and bad[0].reason
    # The broken JPEG still has its MD5/SHA-1 stored; it just has no PDQ.
    assert (
        media["Pictures/broken.jpg"].hashes.md5
        and not media["Pictures/broken.jpg"].decoded
    )


def test_evidence_files_are_unchanged_by_a_scan(
    scanned: tuple[Path, ScanSummary, dict, dict],
) -> None:
    fingerprints = scanned[2]
    assert fingerprints["before"] == fingerprints["after"]


def test_runs_record_tool_sets_and_parameters(
    corpus: Corpus, scanned: tuple[Path, ScanSummary, dict, dict]
) -> None:
    db, summary, _, _ = scanned
    with Store(db) as store:
        runs = store.runs("dev1.raw")
        (case,) = store.cases()
    assert case.case_id == "CASE-1" and case.access_to_children == "unknown"
    (run,) = runs
    assert run["status"] == "scanned" and run["finished_at"] and run["host"]
    assert {h["name"] for h in run["hashsets"]} == {"known-bad", "known-good"}
    digests = {h.digest for h in summary.hashsets}
    assert {h["digest"] for h in run["hashsets"]} == digests
    assert run["parameters"]["chunk_files"] == CHUNK_FILES


def test_progress_events_cover_every_device(
    scanned: tuple[Path, ScanSummary, dict, dict],
) -> None:
    events: list[ScanEvent] = scanned[3]["events"]  # type: ignore[assignment]
    done = {e.device_id: e.status for e in events if e.kind == "device-done"}
    assert done == {
        "dev1.raw": "scanned",
        "dev2.001": "scanned",
        "dev3.E01": "scanned",
        "broken.E01": "failed",
    }
    assert sum(e.media for e in events if e.kind == "chunk") > 10


def test_rescan_skips_finished_chunks_and_changes_nothing(
    corpus: Corpus,
    scanned: tuple[Path, ScanSummary, dict, dict],
    tmp_path: Path,
) -> None:
    db = tmp_path / "again.db"
    shutil.copy(scanned[0], db)
    before = dump(db)
    summary = scan(
        [*corpus.devices, corpus.broken],
        [corpus.bad_set, corpus.good_set],
        db,
        scheduler="sync",
        chunk_files=CHUNK_FILES,
    )
    for d in summary.devices:
        if d.status != "failed":
            assert d.chunks_done == 0 and d.chunks_resumed > 0, d
    assert dump(db) == before


def test_newer_hash_set_rematches_stored_hashes_without_decoding(
    corpus: Corpus,
    scanned: tuple[Path, ScanSummary, dict, dict],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "v2.db"
    shutil.copy(scanned[0], db)

    def no_decoding(*args: object, **kw: object) -> None:
        raise AssertionError("re-matching must not decode")

    monkeypatch.setattr(policy, "perceptual_hashes", no_decoding)
    tasks.close_worker_caches()
    summary = scan(
        [corpus.dev1, corpus.dev2],
        [corpus.bad_set_v2, corpus.good_set],
        db,
        scheduler="sync",
        chunk_files=CHUNK_FILES,
    )
    for d in summary.devices:
        assert d.chunks_done == 0 and d.chunks_rematched > 0, d
    found = matched_entries(db, "dev1.raw")
    assert "e-new" in found and "DCIM/holiday.jpg" in found["e-new"]
    assert set(found) == {*corpus.expected["dev1.raw"].values(), "e-new"}
    with Store(db) as store:
        digests = {m.set_digest for m in store.matches("dev1.raw")}
    old = {h.digest for h in scanned[1].hashsets if h.name == "known-bad"}
    assert not digests & old  # the old version's matches were replaced


def test_a_new_known_good_set_excludes_stored_items_on_rematch(
    corpus: Corpus, tmp_path: Path
) -> None:
    db = tmp_path / "case.db"
    first = scan([corpus.dev2], [corpus.bad_set], db, scheduler="sync")
    assert first.devices[0].status == "scanned"
    again = scan([corpus.dev2], [corpus.bad_set, corpus.good_set], db, scheduler="sync")
    (d,) = again.devices
    assert d.chunks_rematched > 0 and d.chunks_done == 0
    con = sqlite3.connect(db)
    try:
        flags = dict(
            con.execute("SELECT address, known_good FROM media WHERE device_id = ?",
                        (d.device_id,))
        )  # fmt: skip
        covered = {
            a
            for (a,) in con.execute(
                "SELECT address FROM matches WHERE device_id = ? AND known_good = 1 "
                "AND algorithm IN ('md5', 'sha1')",
                (d.device_id,),
            )
        }
        (count,) = con.execute(
            "SELECT media_count FROM devices WHERE device_id = ?", (d.device_id,)
        ).fetchone()
    finally:
        con.close()
    assert covered  # the good set covers something on this device
    assert {a for a, good in flags.items() if good} == covered
    assert count == first.devices[0].media == d.media  # known-good items count


def test_stop_after_first_match_stops_early_and_times_the_hit(
    corpus: Corpus, db: Path
) -> None:
    full = scan(
        [corpus.dev1], [corpus.bad_set], db.with_name("full.db"),
        scheduler="sync", chunk_files=1,
    )  # fmt: skip
    summary = scan(
        [corpus.dev1], [corpus.bad_set], db, scheduler="sync", chunk_files=1,
        stop_after=1,
    )  # fmt: skip
    (d,) = summary.devices
    assert d.status == "stopped-early"
    assert d.first_hit_seconds is not None and d.first_hit_seconds >= 0
    assert 1 <= d.matches < full.devices[0].matches
    assert d.chunks_done < full.devices[0].chunks_done
    # Running again without --stop-after finishes the device.
    again = scan([corpus.dev1], [corpus.bad_set], db, scheduler="sync", chunk_files=1)
    assert again.devices[0].status == "scanned"
    assert again.devices[0].matches == full.devices[0].matches


def test_a_chunk_that_gave_up_is_not_stored_as_done() -> None:
    """A chunk result ``abandoned`` after its device was stopped writes
    nothing: stored, its empty media list would mark the chunk done and lose
    its files for the later full scan. (The driver cancels such chunks before
    it tells workers to stop, so it should never collect one.)"""
    import concurrent.futures

    class NoWrites:
        def write_chunk(self, chunk: object) -> None:
            raise AssertionError("an abandoned chunk was stored")

    state = driver.DeviceState("dev", "dev.raw", 0, run_id=1, started=0.0)
    part = Partition("dev", "dev.raw", 0, 0, 1 << 20, "bare filesystem")
    chunk = walking.Chunk("dev", "dev.raw", "c1", part)
    future: concurrent.futures.Future[tasks.ChunkResult] = concurrent.futures.Future()
    future.set_result(tasks.ChunkResult("dev", "c1", (), (), (), abandoned=True))
    store: Any = NoWrites()
    walk: Any = None  # collecting never looks at the walk
    runner = SyncRunner()
    try:
        scan_driver = driver.ScanDriver(store, walk, runner, (), tasks.ScanParams(),
                                        parameters={})  # fmt: skip
        scan_driver.collect(future, driver.Task(state, chunk))
    finally:
        runner.close()
    assert (state.chunks_done, state.files, state.confident) == (0, 0, 0)


def test_a_stop_the_workers_cannot_be_told_is_logged_not_raised(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Telling workers to end a stopped device's chunks only saves time: if
    the connection to the cluster is gone, the scan goes on (and says so)."""

    class Gone:
        def run(self, *args: object, **kwargs: object) -> None:
            raise OSError("connection closed")

    runner = object.__new__(dask_runner.DaskRunner)
    runner._client = Gone()
    runner.stop_token = "scan-1"
    runner.stop_chunks("dev1.raw")
    assert "could not tell the workers stop_chunks" in caplog.text
    assert "dev1.raw" in caplog.text and "connection closed" in caplog.text


def test_bad_arguments_are_refused_before_any_work(corpus: Corpus, db: Path) -> None:
    with pytest.raises(UsageError, match="exactly one evidence"):
        scan(corpus.devices, [corpus.bad_set], db, device_id="x", scheduler="sync")
    with pytest.raises(UsageError, match="unknown scheduler"):
        scan([corpus.dev1], [corpus.bad_set], db, scheduler="threads")
    with pytest.raises(UsageError, match="stop-after"):
        scan([corpus.dev1], [corpus.bad_set], db, stop_after=0, scheduler="sync")
    with pytest.raises(UsageError, match="devices-at-once"):
        scan([corpus.dev1], [corpus.bad_set], db, devices_at_once=0, scheduler="sync")
    assert not db.exists()


def test_device_id_and_folder_arguments(corpus: Corpus, tmp_path: Path) -> None:
    named = scan(
        [corpus.dev2], [corpus.bad_set], tmp_path / "a.db", device_id="phone-7",
        scheduler="sync", carving=False,
    )  # fmt: skip
    assert named.devices[0].device_id == "phone-7"
    folder = tmp_path / "folder"
    folder.mkdir()
    os.symlink(corpus.dev1, folder / "dev1.raw")
    both = scan([folder], [corpus.bad_set], tmp_path / "b.db", scheduler="sync")
    assert [d.device_id for d in both.devices] == ["dev1.raw"]


def test_carving_in_small_pieces_finds_the_same_items(
    corpus: Corpus, tmp_path: Path
) -> None:
    """Free space cut into small carve chunks, with cuts through pictures,
    gives the same carved items as whole runs: none lost, none doubled."""

    def carved(db: Path, carve_bytes: int) -> tuple[set[tuple[int, str, int]], int]:
        scan([corpus.dev1], [corpus.bad_set], db, scheduler="sync",
             carve_bytes=carve_bytes)  # fmt: skip
        with Store(db) as store:
            rows = store.execute(
                "SELECT carve_offset, md5, size FROM media WHERE source = 'carved'"
            )
            keys = store.execute("SELECT chunk_key FROM chunks WHERE chunk_key "
                                 "LIKE '%:carve:%'")  # fmt: skip
        items = {(r["carve_offset"], r["md5"], r["size"]) for r in rows}
        cuts = set()
        for (key,) in keys:
            start, span = key.split(":")[2].split("+")
            cuts.add(int(start) + int(span))
        straddling = sum(1 for o, _, n in items for c in cuts if o < c < o + n)
        return items, straddling

    whole, _ = carved(tmp_path / "whole.db", 1 << 30)
    assert len(whole) >= 2  # the gap picture and the deleted one
    straddled = 0
    for n, carve_bytes in enumerate((1 << 16, 70_000, 75_000, 80_000, 90_000)):
        pieces, straddling = carved(tmp_path / f"pieces{n}.db", carve_bytes)
        assert pieces == whole, carve_bytes
        straddled += straddling
    assert straddled > 0  # some cut really went through a picture


def _carved_and_zeros(
    evidence: Path, fs_type: str
) -> tuple[list[tuple[int, int]], list[tuple[int, int]], list[tuple[int, int]]]:
    """Walk a device as the scan driver does: the carve ranges of its
    ``fs_type`` partition, the zero runs the walk met, that partition's free
    runs (all as (start, end))."""
    with open_device(evidence) as handle:
        chunks = [
            item
            for item in walking._walk_device(
                handle, "dev", str(evidence), 64, 1 << 30, True
            )
            if isinstance(item, walking.Chunk)
        ]
        fs = next(c.partition for c in chunks if c.partition.fs_type == fs_type)
        free = [(lo, lo + n) for lo, n in unallocated_runs(handle, fs)]
        zeros = handle.watch_zeros().runs()
    carved = sorted(
        (at, at + n) for c in chunks if c.partition == fs for at, n, _ in c.carve_ranges
    )
    return carved, zeros, free


def _check_zero_runs_left_out(
    carved: list[tuple[int, int]],
    zeros: list[tuple[int, int]],
    free: list[tuple[int, int]],
) -> None:
    skipped = [
        (max(zs, lo), min(ze, hi))
        for zs, ze in zeros
        for lo, hi in free
        if zs < hi and lo < ze
    ]
    assert sum(e - s for s, e in skipped) > 1 << 20
    # Carved and skipped ranges together are exactly the free space.
    assert _merge(sorted(carved + skipped)) == _merge(free)
    assert all(e <= zs or s >= ze for s, e in carved for zs, ze in zeros)


def test_free_space_the_walk_read_as_zeros_is_not_carved_again(
    corpus: Corpus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FAT's orphan search reads all free space during the walk; the runs of
    zeros it met are left out of the carve chunks (and only they: every other
    free byte is still carved), and the scan stores the same items."""
    assert carve.zeros_hold_nothing()  # so the carver may leave zeros out
    _check_zero_runs_left_out(*_carved_and_zeros(corpus.dev1, "fat16"))
    # A bare filesystem (no partition table): its walk is the first thing
    # read from the device, and is watched too.
    bare = disk.build_filesystem(
        "fat16", {"a/b.jpg": _jpeg(5), "c.jpg": _jpeg(6)}, tmp_path / "bare.fat",
        size_mb=16, deleted=["c.jpg"],
    )  # fmt: skip
    _check_zero_runs_left_out(*_carved_and_zeros(bare, "fat16"))

    def stored(db: Path) -> dict[str, list[tuple[object, ...]]]:
        """What the scan stored, but for how free space was cut into chunks."""
        scan([corpus.dev1], [corpus.bad_set], db, scheduler="sync")
        rows = {k: v for k, v in dump(db).items() if k != "chunks"}
        key = COMPARED["media"].index("chunk_key")
        rows["media"] = [r[:key] + r[key + 1 :] for r in rows["media"]]
        return rows

    skipping = stored(tmp_path / "skip.db")
    monkeypatch.setattr(ZeroRuns, "runs", lambda self: [])
    assert stored(tmp_path / "all.db") == skipping
    assert "e-D" in matched_entries(tmp_path / "skip.db", "dev1.raw")  # deleted


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in ranges:
        if out and start <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def test_same_file_names_in_two_folders_get_two_device_ids(
    corpus: Corpus, tmp_path: Path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    os.symlink(corpus.dev1, tmp_path / "a" / "disk.raw")
    os.symlink(corpus.root / "dev2.ext4", tmp_path / "b" / "disk.raw")
    db = tmp_path / "c.db"
    args = [tmp_path / "a" / "disk.raw", tmp_path / "b" / "disk.raw", corpus.dev1]
    first = scan(args, [corpus.bad_set], db, scheduler="sync", carving=False)
    # dev1 given twice (once through a link) is one device.
    assert [d.device_id for d in first.devices] == ["disk.raw", "b/disk.raw"]
    assert [d.status for d in first.devices] == ["scanned", "scanned"]
    again = scan(args[::-1], [corpus.bad_set], db, scheduler="sync", carving=False)
    assert [d.device_id for d in again.devices] == ["disk.raw", "b/disk.raw"]
    assert all(d.chunks_done == 0 for d in again.devices)


def test_a_device_another_live_scan_has_is_left_alone(
    corpus: Corpus,
    scanned: tuple[Path, ScanSummary, dict, dict],
    tmp_path: Path,
) -> None:
    """Two scans of one device into one database at once would do the work
    twice, and each would call the other's run interrupted: the second one
    leaves the device alone ("busy") and scans the rest; once the first is
    gone, the device is scanned again as usual."""
    db = tmp_path / "busy.db"
    shutil.copy(scanned[0], db)
    dev1 = scanned[1].devices[0].device_id
    other = subprocess.Popen(["sleep", "60"])  # stands in for the first scan
    try:
        with Store(db) as store:
            run = store.start_run(
                dev1, hashsets=[], parameters={}, host=socket.gethostname(), user="u"
            )
            store._db.execute(
                "UPDATE runs SET pid = ? WHERE run_id = ?", (other.pid, run)
            )
            store.set_device_status(dev1, "scanning")
        args = ([corpus.dev1, corpus.dev2], [corpus.bad_set, corpus.good_set], db)
        summary = scan(*args, scheduler="sync", chunk_files=CHUNK_FILES)
        busy, second = summary.devices
        assert (busy.device_id, busy.status, busy.run_id) == (dev1, "busy", None)
        assert busy.error and f"process {other.pid}" in busy.error
        assert second.status == "scanned"
        with Store(db) as store:
            row = store.device(dev1)
            assert row is not None and row.status == "scanning"  # left alone
            assert store.runs(dev1)[-1]["status"] == "running"
    finally:
        other.kill()
        other.wait()
    summary = scan(*args, scheduler="sync", chunk_files=CHUNK_FILES)
    assert [d.status for d in summary.devices] == ["scanned", "scanned"]
    with Store(db) as store:
        assert [r["status"] for r in store.runs(dev1)[-2:]] == [
            "interrupted",
            "scanned",
        ]


def test_a_damaged_e01_chunk_is_reported_and_the_rest_scanned(
    corpus: Corpus,
    scanned: tuple[Path, ScanSummary, dict, dict],
    tmp_path: Path,
    ewf_reader: str,
) -> None:
    """A flipped byte inside a picture's chunk of an E01: libewf would hand
    over zeros. That picture is reported as not hashed, naming the damaged
    byte range, the range itself is recorded, and everything else on the
    device is scanned as before."""
    from triage.ingest import iter_files
    from triage.ingest.content import read_record
    from triage.ingest.evidence import DAMAGE_REASON, open_device
    from triage.records import FileRecord

    folder = tmp_path / "damaged"
    folder.mkdir()
    for segment in sorted(corpus.root.glob("dev3.E*")):
        shutil.copy(segment, folder / segment.name)
    copy = folder / corpus.dev3.name
    with open_device(copy) as handle:
        (beach,) = [
            r
            for r in iter_files(handle, carve=False)
            if isinstance(r, FileRecord) and r.path.endswith("beach.jpg")
        ]
        content = read_record(handle, beach)
    probe = content[len(content) // 2 : len(content) // 2 + 32]
    damage_ewf_chunk(list(folder.iterdir()), probe)

    db = tmp_path / "damaged.db"
    summary = scan(
        [copy],
        [corpus.bad_set, corpus.good_set],
        db,
        scheduler="sync",
        chunk_files=CHUNK_FILES,
    )
    (device,) = summary.devices
    assert device.status == "scanned"
    with Store(db) as store:
        skipped = store.skipped(device.device_id)
        media = {m.record.display_path for m in store.media(device.device_id)}
    # beach.jpg and dog.jpg share the damaged 32 KiB chunk, which holds their
    # first bytes: their type cannot be told. wall.jpg is in the next chunk.
    items = {s.where: s.reason for s in skipped if s.stage == "ingest"}
    dog = beach.display_path.replace("beach.jpg", "dog.jpg")
    assert set(items) == {beach.display_path, dog}
    (damaged,) = [s for s in skipped if s.stage == "evidence"]
    assert damaged.reason == DAMAGE_REASON
    for reason in items.values():
        assert f"({damaged.where} (damaged image chunk))" in reason
        assert "reads as zeros: its type cannot be told" in reason
    with Store(scanned[0]) as store:
        before = {m.record.display_path for m in store.media(device.device_id)}
    assert "Users/p/wall.jpg" in media
    assert media == before - set(items)
    # Scanning it again redoes nothing and changes nothing.
    before_again = dump(db)
    scan([copy], [corpus.bad_set, corpus.good_set], db, scheduler="sync",
         chunk_files=CHUNK_FILES)  # fmt: skip
    assert dump(db) == before_again
    # Nothing known was found, but the device cannot be called clean.
    from triage.casework import build_queue, open_store

    with open_store(db) as store:
        (row,) = build_queue(store)
    assert row.tier == "needs-attention"
    assert any(damaged.where in a for a in row.attention)


def _card_with_a_big_picture(tmp_path: Path, seed: int) -> tuple[bytes, Path]:
    """A FAT16 card image holding one 1600x1200 JPEG (over four E01 chunks)."""
    from triage.sample import disk
    from triage.sample.pictures import encode, make_picture

    big = encode(make_picture(seed, 1600, 1200), quality=95)
    assert len(big) > 4 * 32 * 1024
    files = {"DCIM/big.jpg": big, "note.txt": b"n"}
    return big, disk.build_filesystem("fat16", files, tmp_path / "f.img")


def _scan_alone(corpus: Corpus, first: Path, db: Path) -> tuple[str, list, list]:
    """Scan one device (sync, no carving): its id, skipped rows and media."""
    (device,) = scan(
        [first], [corpus.bad_set], db, scheduler="sync", carving=False
    ).devices
    with Store(db) as store:
        return (
            device.device_id,
            store.skipped(device.device_id),
            list(store.media(device.device_id)),
        )


def test_a_picture_damaged_past_its_header_is_hashed_as_read_and_flagged(
    corpus: Corpus, tmp_path: Path, ewf_reader: str
) -> None:
    """Damage in the middle of a large picture: it is still recognised as a
    JPEG and hashed as read (zeros there: no exact match can come of it, a
    perceptual one still could), and the item says what it holds."""
    from triage.ingest import iter_files
    from triage.ingest.content import read_record
    from triage.ingest.evidence import open_device
    from triage.records import FileRecord
    from triage.sample import disk

    big, fat = _card_with_a_big_picture(tmp_path, 5)
    (first, *_) = disk.to_ewf(fat, tmp_path / "ewf" / "card")
    damage_ewf_chunk([first], big[len(big) // 2 : len(big) // 2 + 32])
    _, skipped, (item,) = _scan_alone(corpus, first, tmp_path / "big.db")
    with open_device(first) as handle:
        (rec,) = [
            r
            for r in iter_files(handle, carve=False)
            if isinstance(r, FileRecord) and r.path == "DCIM/big.jpg"
        ]
        assert rec.media_type == "image/jpeg"  # the header is intact
        as_read = read_record(handle, rec)
    assert as_read != big  # zeros where the chunk was
    assert item.record.path == "DCIM/big.jpg"
    assert item.hashes.md5 == hashlib.md5(as_read).hexdigest()
    (damaged,) = [s for s in skipped if s.stage == "evidence"]
    (note,) = [s for s in skipped if s.stage == "unreadable"]
    assert note.where == "DCIM/big.jpg"
    assert f"({damaged.where} (damaged image chunk))" in note.reason
    assert note.reason.endswith("which reads as zeros: hashed as read")


def test_sectors_the_acquisition_could_not_read_are_reported(
    corpus: Corpus, tmp_path: Path, ewf_reader: str
) -> None:
    """An E01 of a failing drive records the sectors its acquisition could
    not read (zeros in the image). They are reported as a region the scan
    could not see, a picture lying across them says so (hashed as read), and
    a device with nothing known found is not called clean."""
    from triage.casework import build_queue, open_store
    from triage.ingest import iter_files
    from triage.ingest.content import record_extents
    from triage.ingest.evidence import UNACQUIRED_REASON, open_device
    from triage.records import FileRecord, Skipped, Stage

    _, fat = _card_with_a_big_picture(tmp_path, 6)
    image = fat.read_bytes()
    with open_device(fat) as handle:
        (rec,) = [
            r
            for r in iter_files(handle, carve=False)
            if isinstance(r, FileRecord) and r.path == "DCIM/big.jpg"
        ]
        ((start, end),) = record_extents(handle, rec) or []
    first_sector = (start + end) // 2 // 512
    first = write_ewf_with_gaps(image, tmp_path / "ewf" / "card", [(first_sector, 8)])
    gap = f"bytes {first_sector * 512}-{(first_sector + 8) * 512 - 1}"

    def gap_skip(device: str) -> Skipped:
        start, end = first_sector * 512, (first_sector + 8) * 512
        return Skipped.at_bytes(
            device, start, end, Stage.ACQUISITION, UNACQUIRED_REASON
        )

    listed = list(iter_files(first, carve=False))
    assert gap_skip(first.name) in listed

    db = tmp_path / "gaps.db"
    device_id, skipped, (item,) = _scan_alone(corpus, first, db)
    assert [s for s in skipped if s.stage == "acquisition"] == [
        gap_skip(device_id)
    ]  # once, whole: not again clipped to the picture
    (note,) = [s for s in skipped if s.stage == "unreadable"]
    assert note.where == "DCIM/big.jpg" == item.record.path
    assert f"({gap} (not acquired))" in note.reason
    with open_store(db) as store:
        (row,) = build_queue(store)
    assert row.tier == "needs-attention"
    assert any(gap in a for a in row.attention)
