"""Scanning phone extractions: a known picture in a deep path of each kind is
found and matched with its real path (in-process and on a local cluster);
a scan of an extraction zip killed with SIGKILL and run again stores what an
uninterrupted scan stores; the evidence is unchanged after ls, scan and
report."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import evidence_state
from tests.ingest.test_extractions import BUILDERS, KINDS, build
from tests.scan.helpers import count, dump, killed_scan, matched_entries
from triage.cli import main
from triage.hashmatch.hashset import HashEntry, HashSet
from triage.sample import phone
from triage.sample.pictures import encode, make_picture
from triage.scan import scan

CHUNK_FILES = 2


def _entry(eid: str, data: bytes) -> HashEntry:
    return HashEntry(
        eid, "A", None,
        (("md5", hashlib.md5(data).hexdigest()),
         ("sha1", hashlib.sha1(data).hexdigest())),
    )  # fmt: skip


class Case:
    def __init__(self, root: Path) -> None:
        self.picture = encode(make_picture(77, 320, 240), "JPEG", 90)
        self.devices: dict[str, Path] = {}
        for kind in sorted(BUILDERS):
            path, _ = build(kind, root / kind, self.picture)
            self.devices[kind] = path
        self.bad_set = root / "bad.ths"
        HashSet.from_entries(
            [_entry("e-phone", self.picture)], name="known-bad", kind="known-bad"
        ).write(self.bad_set)

    def files(self) -> list[Path]:
        out: list[Path] = []
        for path in self.devices.values():
            out += [path] if path.is_file() else sorted(path.rglob("*"))
        return [p for p in out if p.is_file()]


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    return Case(tmp_path_factory.mktemp("phones"))


@pytest.fixture(scope="module")
def synced(case: Case, tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("sync") / "case.db"
    before = evidence_state(case.files())
    summary = scan(
        list(case.devices.values()), [case.bad_set], db, scheduler="sync",
        chunk_files=CHUNK_FILES, as_device=True,
    )  # fmt: skip
    assert [d.status for d in summary.devices] == ["scanned"] * len(case.devices)
    assert evidence_state(case.files()) == before
    return db


def test_each_kind_matches_its_deep_picture_with_its_path(
    case: Case, synced: Path
) -> None:
    for kind, path in case.devices.items():
        found = matched_entries(synced, path.name)
        assert found == {"e-phone": {BUILDERS[kind][1]}}, kind


def test_devices_record_their_kind_and_details(case: Case, synced: Path) -> None:
    con = sqlite3.connect(f"file:{synced}?mode=ro", uri=True)
    try:
        rows = dict(con.execute("SELECT device_id, container FROM devices"))
    finally:
        con.close()
    for kind, path in case.devices.items():
        assert rows[path.name] == KINDS.get(kind, kind)


def test_local_cluster_matches_sync(case: Case, synced: Path, tmp_path: Path) -> None:
    db = tmp_path / "local.db"
    summary = scan(
        list(case.devices.values()), [case.bad_set], db, workers=2,
        chunk_files=CHUNK_FILES, as_device=True,
    )  # fmt: skip
    assert summary.scheduler == "local" and summary.workers == 2
    assert dump(db) == dump(synced)


def test_killed_scan_of_a_zip_resumes_to_the_same_database(
    case: Case, tmp_path: Path
) -> None:
    dcim = "private/var/mobile/Media/DCIM"
    files = {
        f"{dcim}/1{n:02d}APPLE/IMG_{n:04d}.JPG": encode(make_picture(n, 64, 48))
        for n in range(12)
    }
    files["private/var/mobile/Media/DCIM/105APPLE/IMG_0001.JPG"] = case.picture
    zip_path = phone.write_ffs_zip(tmp_path / "big.zip", files)
    reference = tmp_path / "reference.db"
    scan([zip_path], [case.bad_set], reference, scheduler="sync", chunk_files=2)
    db = tmp_path / "case.db"
    done = killed_scan(db, [case.bad_set], [zip_path], kill_after=3)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert count(db) == 3  # part-way: the reference has 7
    scan([zip_path], [case.bad_set], db, scheduler="sync", chunk_files=2)
    assert dump(db) == dump(reference)
    assert matched_entries(db, "big.zip") == {
        "e-phone": {"private/var/mobile/Media/DCIM/105APPLE/IMG_0001.JPG"}
    }


def test_ls_queue_and_report_leave_the_evidence_unchanged(
    case: Case, synced: Path, tmp_path: Path
) -> None:
    before = evidence_state(case.files())
    runner = CliRunner()
    for kind, path in case.devices.items():
        done = runner.invoke(main, ["ls", "--json", "--as-device", str(path)])
        assert done.exit_code == 0, (kind, done.output)
        assert f'"evidence_kind": "{KINDS.get(kind, kind)}"' in done.output
    done = runner.invoke(main, ["queue", "--db", str(synced), "--json"])
    assert done.exit_code == 0, done.output
    kinds = {json.loads(line)["device_id"]: json.loads(line)["evidence_kind"]
             for line in done.output.splitlines()}  # fmt: skip
    assert kinds == {p.name: KINDS.get(k, k) for k, p in case.devices.items()}
    out = tmp_path / "r.html"
    done = runner.invoke(main, ["report", "--db", str(synced), "-o", str(out),
                                "--previews"])  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "Evidence kind" in out.read_text() and "itunes-backup" in out.read_text()
    assert evidence_state(case.files()) == before
