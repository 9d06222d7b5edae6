"""Scanning encrypted phone backups with a password: the known picture in a
deep path of an encrypted iTunes/Finder backup and of an encrypted Android
backup is matched with its real path (in-process and on a local cluster); a
backup under another password is a recorded skip naming the device; the
evidence is unchanged and nothing is written outside the case output (no
decrypted temporary file anywhere)."""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import evidence_state
from tests.scan.helpers import dump, matched_entries
from triage.hashmatch.hashset import HashEntry, HashSet
from triage.ingest.filesystems.passwords import PASSWORD_ENV
from triage.sample import phone
from triage.sample.pictures import encode, make_picture
from triage.scan import scan

PASSWORD = "s3cret ☃"
BACKUP_PICTURE = "CameraRollDomain/Media/DCIM/100APPLE/IMG_0001.JPG"
ANDROID_PICTURE = "data/media/0/DCIM/Camera/IMG_20240102_030405.jpg"


class Case:
    def __init__(self, root: Path) -> None:
        self.picture = encode(make_picture(78, 320, 240), "JPEG", 90)
        other = {"HomeDomain/Library/notes.txt": b"notes\n",
                 "HomeDomain/Media/clip.bin": os.urandom(300_000)}  # fmt: skip
        ev = root / "evidence"
        ev.mkdir()
        self.itunes = phone.write_itunes_backup(
            ev / "iphone", {**other, BACKUP_PICTURE: self.picture},
            encrypted=True, password=PASSWORD, device_name="Alex's iPhone",
        )  # fmt: skip
        self.android = phone.write_android_backup(
            ev / "pixel.ab", {**other, ANDROID_PICTURE: self.picture},
            encrypted=True, password=PASSWORD,
        )  # fmt: skip
        self.locked = phone.write_itunes_backup(
            ev / "other", {BACKUP_PICTURE: self.picture}, encrypted=True,
            password="another one", device_name="Sam's iPhone",
        )  # fmt: skip
        self.devices = [self.itunes, self.android, self.locked]
        self.bad_set = root / "bad.ths"
        digest = (("md5", hashlib.md5(self.picture).hexdigest()),)
        HashSet.from_entries(
            [HashEntry("e-phone", "A", None, digest)], name="known-bad",
            kind="known-bad",
        ).write(self.bad_set)  # fmt: skip

    def files(self) -> list[Path]:
        out = [self.android]
        for folder in (self.itunes, self.locked):
            out += sorted(p for p in folder.rglob("*") if p.is_file())
        return out


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> Case:
    return Case(tmp_path_factory.mktemp("encrypted"))


@pytest.fixture(scope="module")
def password() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(PASSWORD_ENV, PASSWORD)
        yield


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def synced(
    case: Case, password: None, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The sync scan, run with an empty temporary folder and working folder
    of its own: neither holds anything afterwards."""
    out = tmp_path_factory.mktemp("out")
    temp, work = tmp_path_factory.mktemp("temp"), tmp_path_factory.mktemp("cwd")
    before = evidence_state(case.files())
    evidence_listing = _listing(case.itunes.parent)
    with pytest.MonkeyPatch.context() as mp:
        for name in ("TMPDIR", "TEMP", "TMP", "SQLITE_TMPDIR"):
            mp.setenv(name, str(temp))
        mp.setattr("tempfile.tempdir", None)  # re-read from TMPDIR
        mp.chdir(work)
        summary = scan(case.devices, [case.bad_set], out / "case.db",
                       scheduler="sync", chunk_files=2)  # fmt: skip
    assert [d.status for d in summary.devices] == ["scanned"] * 3
    assert evidence_state(case.files()) == before
    assert _listing(temp) == [] and _listing(work) == []
    assert _listing(case.itunes.parent) == evidence_listing
    assert {p.name for p in out.iterdir()} <= {"case.db", "case.db-wal",
                                               "case.db-shm"}  # fmt: skip
    return out / "case.db"


def test_each_backup_matches_its_deep_picture_with_its_path(
    case: Case, synced: Path
) -> None:
    assert matched_entries(synced, "iphone") == {"e-phone": {BACKUP_PICTURE}}
    assert matched_entries(synced, "pixel.ab") == {"e-phone": {ANDROID_PICTURE}}


def test_a_backup_under_another_password_is_a_skip(case: Case, synced: Path) -> None:
    con = sqlite3.connect(f"file:{synced}?mode=ro", uri=True)
    try:
        skipped = con.execute(
            "SELECT device_id, reason FROM skipped WHERE device_id = 'other'"
        ).fetchall()
        media = con.execute(
            "SELECT COUNT(*) FROM media WHERE device_id = 'other'"
        ).fetchone()[0]
    finally:
        con.close()
    assert skipped == [("other", "encrypted backup of Sam's iPhone: wrong password")]
    assert media == 0


def test_local_cluster_matches_sync(
    case: Case, password: None, synced: Path, tmp_path: Path
) -> None:
    """Also when the forkserver the workers fork from started before the
    password was given (a second scan in one process): it reaches them."""
    from triage.scan.dask_runner import start_forkserver

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(PASSWORD_ENV)
        start_forkserver()  # (nothing if one runs already, from an earlier scan)
    db = tmp_path / "local.db"
    summary = scan(case.devices, [case.bad_set], db, workers=2, chunk_files=2)
    assert summary.scheduler == "local" and summary.workers == 2
    assert dump(db) == dump(synced)
