"""The case database: schema version checks, idempotent chunk writes, read-back."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from triage.errors import DeviceBusy, StoreError
from triage.records import (
    Case,
    Device,
    FileRecord,
    Match,
    MediaHash,
    PerceptualHash,
    Skipped,
    Source,
    Stage,
)
from triage.store import (
    LOCATION_COLUMNS,
    SCHEMA_VERSION,
    ChunkWrite,
    Store,
)
from triage.store.migrations import MIGRATIONS, READ_AS_NEXT

DEV = Device("dev1", ("/evidence/dev1.E01", "/evidence/dev1.E02"), "ewf", 1 << 20)


def _record(path: str, inode: int, **kw: object) -> FileRecord:
    return FileRecord(
        device_id="dev1",
        evidence=DEV.evidence,
        partition_index=1,
        partition_offset=1 << 20,
        path=path,
        size=1234,
        inode=inode,
        media_type="image/jpeg",
        **kw,  # type: ignore[arg-type]
    )


def _chunk(run_id: int, key: str = "p1:files:0+2:abc") -> ChunkWrite:
    a = _record("Pictures/a.jpg", 10, mtime=1.5, deleted=True)
    b = _record("docs/x.zip", 11, source=Source.ARCHIVE, archive_path=("in/b.png",))
    c = FileRecord(
        "dev1",
        DEV.evidence,
        1,
        1 << 20,
        "",
        999,
        source=Source.CARVED,
        carve_offset=5_000_000,
        media_type="image/png",
        carve_runs=((5_000_000, 5_000_500), (5_001_524, 5_002_023)),
        carve_note="partial: PNG chunk CRC fails at byte 999",
    )
    ha = MediaHash(
        a.address,
        "a" * 32,
        "b" * 40,
        (
            PerceptualHash("pdq", "0" * 64, "original", 90),
            PerceptualHash("pdq", "1" * 64, "rot90", 90),
            PerceptualHash("phash", "f" * 16),
        ),
        640,
        480,
    )
    hb = MediaHash(b.address, "c" * 32, "d" * 40)
    hc = MediaHash(c.address, "e" * 32, "f" * 40, (PerceptualHash("phash", "1" * 16),))
    return ChunkWrite(
        device_id="dev1",
        chunk_key=key,
        run_id=run_id,
        sets_key="sets1",
        media=[(a, ha, False), (b, hb, True), (c, hc, False)],
        matches=[
            Match(a.address, "bad", "D1", "e1", "md5", 0, "A", "caid"),
            Match(a.address, "bad", "D1", "e1", "pdq", 3, "A", "caid", False, "rot90"),
            Match(b.address, "nsrl", "D2", "n1", "sha1", 0, None, "nsrl", True),
        ],
        skipped=[
            Skipped.at_path("dev1", "docs/broken.jpg", Stage.HASH, "truncated JPEG")
        ],
        bytes_read=4321,
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(tmp_path / "case.db")
    s.register_device(DEV, "CASE-1")
    return s


def _run(store: Store) -> int:
    return store.start_run(
        "dev1",
        hashsets=[
            {"name": "bad", "digest": "D1", "path": "/s/bad", "kind": "known-bad"}
        ],
        parameters={"chunk_files": 8},
        host="h",
        user="u",
    )


def test_new_database_has_schema_version_wal_and_foreign_keys(tmp_path: Path) -> None:
    with Store(tmp_path / "c.db") as s:
        assert s.schema_version() == SCHEMA_VERSION == 7
        assert s.execute("PRAGMA journal_mode")[0][0] == "wal"
        assert s.execute("PRAGMA foreign_keys")[0][0] == 1
        tables = {r[0] for r in s.execute("SELECT name FROM sqlite_master")}
        for t in ("cases", "devices", "runs", "chunks", "media", "perceptual"):
            assert t in tables
        assert {"matches", "skipped", "meta"} <= tables


def test_reopen_keeps_data(tmp_path: Path) -> None:
    with Store(tmp_path / "c.db") as s:
        s.register_device(DEV, "C")
    with Store(tmp_path / "c.db") as s:
        row = s.device("dev1")
        assert row is not None and row.device == DEV and row.status == "awaiting"
        assert row.case_id == "C"


def _make_version_1(path: Path) -> int:
    with Store(path) as s:  # a version-1 database: no runs.pid
        s.register_device(DEV, "C")
        run = _run(s)
    _downgrade_to_2(path)
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE runs DROP COLUMN pid")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    return run


def _downgrade_to_6(path: Path) -> None:
    """Make a current database what version 6 wrote: no devices.details."""
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE devices DROP COLUMN details")
    db.execute("UPDATE meta SET value = '6' WHERE key = 'schema_version'")
    db.commit()
    db.close()


def _downgrade_to_5(path: Path) -> None:
    """Make a current database what version 5 wrote: no video frames, no
    video match columns."""
    _downgrade_to_6(path)
    db = sqlite3.connect(path)
    db.execute("DROP TABLE video_frames")
    for column in ("item_share", "known_share", "at_seconds"):
        db.execute(f"ALTER TABLE matches DROP COLUMN {column}")
    db.execute("UPDATE meta SET value = '5' WHERE key = 'schema_version'")
    db.commit()
    db.close()


def _downgrade_to_4(path: Path) -> None:
    """Make a current database what version 4 wrote: no media.carve_runs."""
    _downgrade_to_5(path)
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE media DROP COLUMN carve_runs")
    db.execute("ALTER TABLE media DROP COLUMN carve_note")
    db.execute("UPDATE meta SET value = '4' WHERE key = 'schema_version'")
    db.commit()
    db.close()


def test_version_6_database_gains_device_details(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with Store(path) as s:
        s.register_device(DEV, "C")
    _downgrade_to_6(path)
    before = _state(path)
    with Store(path, read_only=True) as s:
        row = s.device("dev1")
        assert row is not None and row.device.details is None
    assert _state(path) == before
    with Store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        s.register_device(replace(DEV, details="model=iPhone 12"), "C")
        row = s.device("dev1")
        assert row is not None and row.device.details == "model=iPhone 12"


def _downgrade_to_3(path: Path) -> None:
    """Make a current database what version 3 wrote: media.sha1, no digests."""
    _downgrade_to_4(path)
    db = sqlite3.connect(path)
    db.execute("ALTER TABLE media ADD COLUMN sha1 TEXT")
    db.execute(
        "UPDATE media SET sha1 = (SELECT value FROM digests d WHERE d.algorithm = "
        "'sha1' AND d.device_id = media.device_id AND d.address = media.address)"
    )
    db.execute("DROP TABLE digests")
    db.execute("UPDATE meta SET value = '3' WHERE key = 'schema_version'")
    db.commit()
    db.close()


def _downgrade_to_2(path: Path) -> None:
    """Make a current database what version 2 wrote: location text only."""
    _downgrade_to_3(path)
    db = sqlite3.connect(path)
    for column in LOCATION_COLUMNS:
        db.execute(f"ALTER TABLE skipped DROP COLUMN {column}")
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    db.commit()
    db.close()


def test_version_1_database_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    run = _make_version_1(path)
    with Store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        (got,) = s.runs("dev1")
        assert got["run_id"] == run and got["pid"] is None  # kept, now with pid
        assert s.device("dev1") is not None
        assert s.interrupted_devices() == set()  # no pid: cannot tell, not called


def _state(path: Path) -> tuple[str, int]:
    """Content digest and mtime of a database file. (A reader may leave
    SQLite's empty ``-shm``/``-wal`` beside it, as any WAL reader does.)"""
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns


def test_read_only_reads_a_version_1_database_without_changing_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.db"
    run = _make_version_1(path)
    before = _state(path)
    with Store(path, read_only=True) as s:
        assert s.schema_version() == 1  # the file says so, and stays so
        (got,) = s.runs("dev1")
        assert got["run_id"] == run and got["pid"] is None  # as if migrated
        assert s.interrupted_devices() == set()
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            s.set_case(Case("C", "lives-with"))
    assert _state(path) == before
    with Store(path) as s:  # a writer still migrates it
        assert s.schema_version() == SCHEMA_VERSION


def test_version_3_digest_columns_move_to_the_digests_table(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with Store(path) as s:
        s.register_device(DEV, "C")
        run = _run(s)
        s.write_chunk(_chunk(run))
    _downgrade_to_3(path)
    written = {rec.address: hashes for rec, hashes, _ in _chunk(run).media}
    before = _state(path)
    with Store(path, read_only=True) as s:  # read as migrated, file unchanged
        assert s.schema_version() == 3
        assert {m.record.address: m.hashes for m in s.media("dev1")} == written
    assert _state(path) == before
    with Store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert {m.record.address: m.hashes for m in s.media("dev1")} == written
        columns = {r["name"] for r in s.execute("PRAGMA table_info(media)")}
        assert "md5" in columns and "sha1" not in columns
        assert len(s.execute("SELECT * FROM digests")) == 6  # md5, sha1 of 3


def test_version_5_gains_video_frames_and_match_shares(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    with Store(path) as s:
        s.register_device(DEV, "C")
        run = _run(s)
        s.write_chunk(_chunk(run))
        stored = s.matches("dev1")
    _downgrade_to_5(path)
    before = _state(path)
    with Store(path, read_only=True) as s:  # read as migrated, file unchanged
        assert s.schema_version() == 5
        assert s.matches("dev1") == stored
        assert all(not m.hashes.frames for m in s.media("dev1"))
    assert _state(path) == before
    with Store(path) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert s.matches("dev1") == stored
        columns = {r["name"] for r in s.execute("PRAGMA table_info(matches)")}
        assert {"item_share", "known_share", "at_seconds"} <= columns
        assert s.execute("SELECT COUNT(*) AS n FROM video_frames")[0]["n"] == 0


def test_every_migration_has_a_read_only_view() -> None:
    assert set(READ_AS_NEXT) == set(MIGRATIONS)


def test_read_only_refuses_missing_empty_and_newer(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such case database"):
        Store(tmp_path / "none.db", read_only=True)
    assert not (tmp_path / "none.db").exists()
    (tmp_path / "empty.db").write_bytes(b"")
    with pytest.raises(StoreError, match="not a triage case database"):
        Store(tmp_path / "empty.db", read_only=True)
    assert (tmp_path / "empty.db").read_bytes() == b""
    with Store(tmp_path / "new.db"):
        pass
    db = sqlite3.connect(tmp_path / "new.db")
    newer = SCHEMA_VERSION + 1
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (newer,))
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=f"schema version {newer}"):
        Store(tmp_path / "new.db", read_only=True)


def test_read_only_sees_committed_rows_while_a_writer_holds_the_database(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.db"
    with Store(path) as writer:
        writer.register_device(DEV, "C")
        writer._db.execute("BEGIN IMMEDIATE")  # a scan mid-chunk
        writer.set_device_status("dev1", "scanning")
        with Store(path, read_only=True) as reader:
            row = reader.device("dev1")
            assert row is not None and row.status == "awaiting"  # committed only
        writer._db.execute("COMMIT")


def test_a_killed_scan_is_told_from_one_in_progress(
    store: Store, tmp_path: Path
) -> None:
    store.set_device_status("dev1", "scanning")
    run = _run(store)  # recorded as this process, on host "h"
    assert store.interrupted_devices(host="h") == set()  # alive: in progress
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    db = sqlite3.connect(tmp_path / "case.db")
    db.execute("UPDATE runs SET pid = ? WHERE run_id = ?", (int(gone.stdout), run))
    db.commit()
    db.close()
    assert store.interrupted_devices(host="h") == {"dev1"}  # its process is gone
    assert store.interrupted_devices(host="elsewhere") == set()  # cannot check
    store.finish_run(run, "scanned")
    assert store.interrupted_devices(host="h") == set()


def test_begin_scan_refuses_a_device_a_live_scan_has(store: Store) -> None:
    args = {"hashsets": [], "parameters": {}, "host": "h", "user": "u"}
    first = store.begin_scan("dev1", **args)
    assert store.device("dev1").status == "scanning"  # type: ignore[union-attr]
    other = subprocess.Popen(["sleep", "60"])
    try:
        store._db.execute(
            "UPDATE runs SET pid = ? WHERE run_id = ?", (other.pid, first)
        )
        with pytest.raises(DeviceBusy, match=f"process {other.pid} on h"):
            store.begin_scan("dev1", **args)
        assert [r["status"] for r in store.runs("dev1")] == ["running"]  # untouched
        second = store.begin_scan("dev1", **{**args, "host": "elsewhere"})
    finally:
        other.kill()
        other.wait()
    # On another host the run cannot be checked: taken to be a killed scan.
    assert [r["status"] for r in store.runs("dev1")] == ["interrupted", "running"]
    store.finish_run(second, "scanned")


def test_a_reused_pid_is_not_taken_for_the_scan(store: Store) -> None:
    """A killed scan's pid, given since to a process that started later, does
    not make the device look busy (or its scan look alive)."""
    args = {"hashsets": [], "parameters": {}, "host": "h", "user": "u"}
    run = store.begin_scan("dev1", **args)
    other = subprocess.Popen(["sleep", "60"])  # started after the run
    try:
        store._db.execute(
            "UPDATE runs SET pid = ?, started_at = '2020-01-01T00:00:00+00:00' "
            "WHERE run_id = ?",
            (other.pid, run),
        )
        assert store.interrupted_devices(host="h") == {"dev1"}
        store.begin_scan("dev1", **args)
    finally:
        other.kill()
        other.wait()
    assert [r["status"] for r in store.runs("dev1")] == ["interrupted", "running"]


@pytest.mark.parametrize("version", [0, SCHEMA_VERSION + 1, 99])
def test_other_schema_version_is_refused(tmp_path: Path, version: int) -> None:
    path = tmp_path / "c.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (version,))
    db.commit()
    db.close()
    with pytest.raises(StoreError, match=f"schema version {version}"):
        Store(path)


def test_foreign_database_and_junk_file_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    db = sqlite3.connect(other)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    with pytest.raises(StoreError, match="not a triage case database"):
        Store(other)
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="junk.db"):
        Store(junk)
    with pytest.raises(StoreError, match="no such case database"):
        Store(tmp_path / "absent.db", create=False)


def test_chunk_written_twice_has_no_duplicates(store: Store) -> None:
    run = _run(store)
    store.write_chunk(_chunk(run))
    first = {
        t: store.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3")
        for t in ("media", "perceptual", "matches", "skipped", "chunks")
    }
    store.write_chunk(_chunk(run))
    for table, rows in first.items():
        again = store.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3")
        assert len(again) == len(rows), table
    assert len(first["media"]) == 3
    assert len(first["perceptual"]) == 4
    assert len(first["matches"]) == 3
    row = store.device("dev1")
    assert row is not None
    assert (row.media_count, row.match_count, row.skipped_count) == (3, 1, 1)
    assert store.done_chunks("dev1") == {"p1:files:0+2:abc": "sets1"}


def test_media_round_trip(store: Store) -> None:
    write = _chunk(_run(store))
    store.write_chunk(write)
    got = {m.record.address: m for m in store.media("dev1")}
    for rec, hashes, known_good in write.media:
        stored = got[rec.address]
        assert stored.hashes == hashes
        assert stored.known_good is known_good
        assert stored.decoded is bool(hashes.perceptual)
        assert stored.record.path == rec.path
        assert stored.record.source == rec.source
        assert stored.record.archive_path == rec.archive_path
        assert stored.record.carve_offset == rec.carve_offset
        assert stored.record.deleted == rec.deleted
        assert stored.record.mtime == rec.mtime
        assert stored.record.partition_offset == rec.partition_offset
        assert stored.record.evidence == rec.evidence
    assert store.chunk_media("dev1", write.chunk_key) == sorted(
        got.values(), key=lambda m: m.record.address
    )
    assert sorted(store.matches("dev1"), key=repr) == sorted(write.matches, key=repr)
    assert store.skipped("dev1") == list(write.skipped)
    assert store.perceptual_for_digest("a" * 32) == tuple(
        sorted(write.media[0][1].perceptual, key=lambda p: (p.algorithm, p.variant))
    )
    assert store.perceptual_for_digest("c" * 32) is None  # known-good, not decoded


def test_failed_write_leaves_nothing(store: Store) -> None:
    bad = _chunk(_run(store))
    # A match for an address with no media row breaks the foreign key mid-way.
    broken = ChunkWrite(
        bad.device_id,
        bad.chunk_key,
        bad.run_id,
        bad.sets_key,
        bad.media,
        [*bad.matches, Match("p9:nowhere", "bad", "D1", "e", "md5", 0)],
        bad.skipped,
    )
    with pytest.raises(sqlite3.IntegrityError):
        store.write_chunk(broken)
    for table in ("media", "perceptual", "matches", "skipped", "chunks"):
        assert store.execute(f"SELECT COUNT(*) FROM {table}")[0][0] == 0


def test_rematch_replaces_same_named_set_only(store: Store) -> None:
    run = _run(store)
    write = _chunk(run)
    store.write_chunk(write)
    a = write.media[0][0].address
    new = [Match(a, "bad", "D1-v2", "e9", "md5", 0, "B", "caid")]
    store.rematch_chunk("dev1", write.chunk_key, run, "sets2", ["bad"], new)
    got = store.matches("dev1")
    assert {(m.set_name, m.set_digest) for m in got} == {
        ("bad", "D1-v2"),
        ("nsrl", "D2"),
    }
    assert store.done_chunks("dev1")[write.chunk_key] == "sets2"


def test_cases_and_statuses(store: Store) -> None:
    store.set_case(Case("CASE-1", "lives-with", "high", "two children at home"))
    store.set_case(Case("CASE-1", "lives-with", "very-high", None))
    assert store.cases() == [Case("CASE-1", "lives-with", "very-high", None)]
    with pytest.raises(StoreError, match="access_to_children"):
        store.set_case(Case("CASE-2", "sometimes"))
    store.set_device_status("dev1", "scanning")
    store.set_device_status("dev1", "stopped-early", first_hit_seconds=1.25)
    row = store.device("dev1")
    assert row is not None
    assert (row.status, row.first_hit_seconds) == ("stopped-early", 1.25)
    with pytest.raises(StoreError, match="unknown status"):
        store.set_device_status("dev1", "done")


def test_device_id_cannot_name_two_evidence_files(store: Store) -> None:
    other = Device("dev1", ("/evidence/other.raw",), "raw", 10)
    with pytest.raises(StoreError, match="already names"):
        store.register_device(other, None)
    store.register_failed("gone", "/evidence/gone.E01", "CASE-1", "missing segment")
    row = store.device("gone")
    assert row is not None and row.status == "failed"
    assert row.error == "missing segment"


def test_runs_are_recorded(store: Store) -> None:
    run = _run(store)
    store.finish_run(run, "scanned")
    (got,) = store.runs("dev1")
    assert got["status"] == "scanned" and got["finished_at"]
    assert got["hashsets"][0]["digest"] == "D1"
    assert got["parameters"] == {"chunk_files": 8}
    assert got["tool_version"]


def test_schema_page_is_the_store_docstring() -> None:
    import triage.store

    page = (Path(__file__).parents[1] / "docs" / "schema.md").read_text()
    block = page.split("```text\n", 1)[1].split("```", 1)[0]
    assert block.strip() == (triage.store.__doc__ or "").strip()


#: SQL in triage outside the case-database package that is not about the case
#: database: the NSRL RDS hash-set format is itself an SQLite file, read there.
_NOT_CASE_DATABASE = {
    "triage/hashmatch/formats/nsrl_rds3.py",  # reads NSRL SQLite
    "triage/ingest/expanders/sqlite_blobs.py",  # reads evidence databases' BLOBs
    "triage/sample/inner.py",  # builds a chat-app-like database for tests
    "triage/ingest/filesystems/phone.py",  # reads an iTunes backup's Manifest.db
    "triage/ingest/filesystems/itunes_crypto.py",  # opens a decrypted Manifest.db
    "triage/sample/phone.py",  # builds an iTunes-backup-like Manifest.db
}


def test_no_case_database_sql_outside_the_store_package() -> None:
    import re

    root = Path(__file__).parents[1]
    sql = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE FROM|CREATE|ALTER TABLE)\b")
    found = [
        f"{path.relative_to(root)}:{n}"
        for path in sorted((root / "triage").rglob("*.py"))
        if "store" not in path.relative_to(root / "triage").parts[:1]
        and str(path.relative_to(root)) not in _NOT_CASE_DATABASE
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if sql.search(line) or re.search(r"\.execute\(", line)
    ]
    assert found == []
