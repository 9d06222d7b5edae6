"""Typed problems: a ``Skipped`` has a stage and a structured location, stored
as columns; its text is what triage always showed, and a version-2 database's
free-text locations read (and migrate) as the same columns."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from triage.casework import is_region
from triage.errors import StoreError
from triage.records import (
    Device,
    FileRecord,
    Location,
    Partition,
    Scope,
    Skipped,
    Source,
    Stage,
)
from triage.store import LOCATION_COLUMNS, SCHEMA_VERSION, Store, legacy_location

DEV = Device("dev1", ("/evidence/dev1.E01",), "ewf", 1 << 30)
P2 = Partition("dev1", DEV.evidence, 2, 1 << 20, 1 << 24, "NTFS", True, "ntfs")
FILE = FileRecord("dev1", DEV.evidence, 2, 1 << 20, "DCIM/a.jpg", 10, inode=7)
MEMBER = FileRecord(
    "dev1",
    DEV.evidence,
    2,
    1 << 20,
    "x.zip",
    10,
    source=Source.ARCHIVE,
    inode=8,
    archive_path=("in.zip", "b.png"),
)
CARVED = FileRecord(
    "dev1", DEV.evidence, 2, 0, "", 300, source=Source.CARVED, carve_offset=4096
)

#: Every kind of location the scan writes, with the text it always showed.
CASES: list[tuple[Skipped, str]] = [
    (Skipped.at_file(FILE, Stage.HASH, "bad JPEG"), "DCIM/a.jpg"),
    (Skipped.at_file(MEMBER, Stage.INGEST, "x"), "x.zip!in.zip!b.png"),
    (
        Skipped.at_file(MEMBER, Stage.INGEST, "dup", member="c.jpg"),
        "x.zip!in.zip!b.png!c.jpg",
    ),
    (  # a crafted zip's member with an empty name still shows its "!"
        Skipped.at_file(FILE, Stage.INGEST, "odd", member=""),
        "DCIM/a.jpg!",
    ),
    (Skipped.at_file(CARVED, Stage.HASH, "cut short"), "<carved @ 4096>"),
    (
        Skipped.at_file(CARVED, Stage.INGEST, "zip", member="m.jpg"),
        "<carved @ 4096>!m.jpg",
    ),
    (Skipped.at_path("dev1", "DCIM/a.jpg", Stage.MATCH, "md5 only"), "DCIM/a.jpg"),
    (Skipped.at_device("dev1", DEV.evidence, Stage.VOLUME, "no table"), DEV.evidence),
    (
        Skipped.at_bytes("dev1", 512, 1024, Stage.ACQUISITION, "not acquired"),
        "bytes 512-1023",
    ),
    (
        Skipped.at_bytes("dev1", 0, 32768, Stage.EVIDENCE, "bad chunk"),
        "bytes 0-32767",
    ),
    (
        Skipped.at_volume(
            "dev1", 2, 1048576, Stage.VOLUME, "no fs", description="Linux (0x83)"
        ),
        "partition 2 @ 1048576 (Linux (0x83))",
    ),
    (
        Skipped.at_volume("dev1", 1, 0, Stage.CARVE, "no bitmap"),
        "partition 1 @ 0",
    ),
    (Skipped.at_filesystem(P2, Stage.INGEST, "cannot open"), "partition 2"),
    (
        Skipped.at_filesystem(P2, Stage.INGEST, "loop", inner="a/b"),
        "partition 2:a/b",
    ),
    (
        Skipped.at_filesystem(P2, Stage.INGEST, "zeros", inner="listing"),
        "partition 2:listing",
    ),
    (Skipped.at_partition(P2, Stage.FILESYSTEM, "walk stopped"), "p2"),
    (
        Skipped.at_partition(P2, Stage.CARVE, "no map", inner="unallocated"),
        "p2:unallocated",
    ),
    (
        Skipped.at_partition(
            P2, Stage.CARVE, "read", inner="unallocated", start=8192, end=12288
        ),
        "p2:unallocated@8192+4096",
    ),
    (Skipped.at_position(P2, 40960, Stage.CARVE, "unreadable"), "p2 @ 40960"),
]


@pytest.mark.parametrize(("skip", "text"), CASES, ids=[t for _, t in CASES])
def test_location_renders_the_text_triage_always_showed(
    skip: Skipped, text: str
) -> None:
    assert skip.where == str(skip.location) == text


def test_locations_are_structured() -> None:
    member = Skipped.at_file(MEMBER, Stage.INGEST, "dup", member="c.jpg").location
    assert (member.scope, member.partition, member.path, member.inner) == (
        Scope.FILE,
        2,
        "x.zip",
        "in.zip!b.png!c.jpg",
    )
    carved = Skipped.at_file(CARVED, Stage.HASH, "x").location
    assert (carved.start, carved.end) == (4096, 4396)
    chunk = Skipped.at_bytes("dev1", 512, 1024, Stage.EVIDENCE, "x").location
    assert (chunk.scope, chunk.start, chunk.end) == (Scope.BYTES, 512, 1024)


def test_stage_values_are_the_stored_text() -> None:
    assert [str(s) for s in Stage] == [
        "ingest",
        "volume",
        "filesystem",
        "carve",
        "hash",
        "unreadable",
        "match",
        "evidence",
        "acquisition",
    ]


def test_regions_come_from_columns_not_from_the_text() -> None:
    """A file whose name looks like a partition is an item, not a region."""
    odd = FileRecord("dev1", DEV.evidence, 0, 0, "partition 1.jpg", 5, inode=9)
    assert not is_region(Skipped.at_file(odd, Stage.HASH, "bad JPEG"))
    named_p3 = FileRecord("dev1", DEV.evidence, 0, 0, "p3", 5, inode=10)
    assert not is_region(Skipped.at_file(named_p3, Stage.HASH, "bad JPEG"))
    regions = {text for skip, text in CASES if is_region(skip)}
    assert regions == {
        DEV.evidence,
        "bytes 512-1023",
        "bytes 0-32767",
        "partition 2 @ 1048576 (Linux (0x83))",
        "partition 1 @ 0",
        "partition 2",
        "partition 2:a/b",
        "partition 2:listing",
        "p2",
        "p2:unallocated",
        "p2:unallocated@8192+4096",
    }


def _written(path: Path) -> list[Skipped]:
    with Store(path) as store:
        store.register_device(DEV, "C")
        store.write_skipped("dev1", [skip for skip, _ in CASES])
        return store.skipped("dev1")


def test_columns_round_trip(tmp_path: Path) -> None:
    got = _written(tmp_path / "c.db")
    assert sorted(got, key=repr) == sorted((s for s, _ in CASES), key=repr)
    assert [(s.where, s.stage) for s in got] == sorted((s.where, s.stage) for s in got)


def _make_version_2(path: Path) -> list[Skipped]:
    written = _written(path)
    db = sqlite3.connect(path)
    for column in LOCATION_COLUMNS:
        db.execute(f"ALTER TABLE skipped DROP COLUMN {column}")
    db.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    return written


def _as_version_2_reads(skip: Skipped) -> Skipped:
    """What a version-2 row becomes: its text gave the structure, except that
    a file's partition and member path were never in it."""
    if skip.location.scope is not Scope.FILE:
        return skip
    return Skipped(
        skip.device_id, Location(Scope.FILE, path=skip.where), skip.stage, skip.reason
    )


def test_version_2_database_reads_and_migrates_with_columns(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    written = _make_version_2(path)
    expected = [_as_version_2_reads(s) for s in written]
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with Store(path, read_only=True) as store:
        assert store.schema_version() == 2
        assert store.skipped("dev1") == expected
        assert store.skipped_by_device() == {"dev1": expected}
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    with Store(path) as store:  # a writer migrates it, converting once
        assert store.schema_version() == SCHEMA_VERSION
        assert store.skipped("dev1") == expected
    with Store(path, read_only=True) as store:  # and readers see the columns
        assert store.skipped("dev1") == expected


def test_legacy_text_that_fits_no_form_stays_a_path() -> None:
    assert legacy_location("p2", "hash") == Location(Scope.FILE, path="p2")
    assert legacy_location("partition 1.jpg", "ingest") == Location(
        Scope.FILE, path="partition 1.jpg"
    )
    assert legacy_location("/e/d.E01", "volume") == Location(
        Scope.DEVICE, path="/e/d.E01"
    )
    assert legacy_location("p1 @ 7", "carve") == Location(Scope.POSITION, 1, start=7)


def test_a_stage_this_triage_does_not_know_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    _written(path)
    db = sqlite3.connect(path)
    db.execute("UPDATE skipped SET stage = 'teleport' WHERE location = 'p2'")
    db.commit()
    db.close()
    with Store(path, read_only=True) as store:
        with pytest.raises(StoreError, match="'p2'.*teleport"):
            store.skipped("dev1")


def test_an_error_carries_its_place_and_reason_apart() -> None:
    """A skip stores the error's ``reason`` as raised: nothing cuts the place
    back off the message, and both survive pickling (Dask workers)."""
    import pickle

    from triage.errors import FilesystemError

    exc = FilesystemError(where="dev-1: partition 2", reason="map unreadable: x: y")
    assert str(exc) == "dev-1: partition 2: map unreadable: x: y"
    assert exc.reason == "map unreadable: x: y"
    back = pickle.loads(pickle.dumps(exc))
    assert (str(back), back.where, back.reason) == (str(exc), exc.where, exc.reason)
    whole = FilesystemError("no place: just words")
    assert whole.reason == "no place: just words" and whole.where == ""


def test_errors_with_their_own_arguments_survive_pickling() -> None:
    import pickle

    from triage.errors import UnknownNameError
    from triage.hashmatch.decode import DecodeError

    for exc in (DecodeError("dev: a.jpg", "truncated"),
                UnknownNameError("signal", "md6", ("md5", "sha1"))):  # fmt: skip
        back = pickle.loads(pickle.dumps(exc))
        assert type(back) is type(exc) and str(back) == str(exc)
        assert back.__dict__ == exc.__dict__


def test_a_device_no_backend_reads_names_each_reason_once(tmp_path: Path) -> None:
    """Random bytes: the skip's reason comes from the backends' reasons, not
    from a message with the device cut off it."""
    from triage.ingest import iter_files

    image = tmp_path / "noise.dd"
    image.write_bytes(hashlib.sha256(b"noise").digest() * 4096)
    skips = [r for r in iter_files(image, carve=True) if isinstance(r, Skipped)]
    first = skips[0]
    assert first.stage is Stage.VOLUME
    assert first.reason.startswith("no readable filesystem at offset 0: ")
    assert first.device_id not in first.reason
