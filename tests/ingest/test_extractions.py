"""Phone extractions as devices: each kind, generated here, lists its files
with the phone's paths and reads them back byte for byte; each bad input is
a clear error or a recorded skip naming the device and where, the rest read;
the evidence is never changed."""

from __future__ import annotations

import gzip
import io
import plistlib
import random
import shutil
import sqlite3
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import evidence_state
from triage.errors import EvidenceError, FilesystemError
from triage.ingest import iter_files
from triage.ingest.content import read_record
from triage.ingest.evidence import find_evidence, identify, open_device
from triage.ingest.filesystems.phone import UNLISTED
from triage.ingest.kinds import evidence_kind
from triage.records import FileRecord, Skipped
from triage.sample import phone
from triage.sample.pictures import encode, make_picture

IOS_PICTURE = "private/var/mobile/Media/DCIM/100APPLE/IMG_0001.JPG"
ANDROID_PICTURE = "data/media/0/DCIM/Camera/IMG_20240102_030405.jpg"
BACKUP_PICTURE = "CameraRollDomain/Media/DCIM/100APPLE/IMG_0001.JPG"


@pytest.fixture(scope="module")
def picture() -> bytes:
    return encode(make_picture(41, 320, 240), "JPEG", 90)


def _files(picture: bytes, deep: str) -> dict[str, bytes]:
    return {
        "private/var/mobile/Library/notes.txt": b"shopping list\n",
        deep: picture,
        "private/var/mobile/Media/empty.bin": b"",
    }


#: kind -> (how to build it at a path, the deep picture's path)
BUILDERS: dict[str, tuple[Callable[[Path, dict[str, bytes]], Path], str]] = {
    "ffs-zip": (lambda p, f: phone.write_ffs_zip(p / "phone.zip", f), IOS_PICTURE),
    "ffs-zip64": (
        lambda p, f: phone.write_ffs_zip(p / "phone64.zip", f, zip64=True),
        IOS_PICTURE,
    ),
    "ffs-tar": (lambda p, f: phone.write_ffs_tar(p / "phone.tar", f), IOS_PICTURE),
    "ffs-tar.gz": (
        lambda p, f: phone.write_ffs_tar(p / "phone.tgz", f, gz=True),
        IOS_PICTURE,
    ),
    "ufdr": (lambda p, f: phone.write_ufdr(p / "report.ufdr", f), IOS_PICTURE),
    "itunes-backup": (
        lambda p, f: phone.write_itunes_backup(p / "backup", f),
        BACKUP_PICTURE,
    ),
    "android-backup": (
        lambda p, f: phone.write_android_backup(p / "phone.ab", f),
        ANDROID_PICTURE,
    ),
    "folder": (lambda p, f: phone.write_folder(p / "copied", f), ANDROID_PICTURE),
}
KINDS = {"ffs-zip64": "ffs-zip", "ffs-tar.gz": "ffs-tar"}


def build(kind: str, root: Path, picture: bytes) -> tuple[Path, dict[str, bytes]]:
    """The extraction of ``kind`` under ``root``, and the files it holds."""
    write, deep = BUILDERS[kind]
    files = _files(picture, deep)
    if kind == "itunes-backup":
        files = {f"HomeDomain/{p}" if p != deep else p: d for p, d in files.items()}
    root.mkdir(parents=True, exist_ok=True)
    return write(root, files), files


def _split(items: list[FileRecord | Skipped]) -> tuple[list[FileRecord], list[Skipped]]:
    return (
        [i for i in items if isinstance(i, FileRecord)],
        [i for i in items if isinstance(i, Skipped)],
    )


@pytest.mark.parametrize("kind", sorted(BUILDERS))
def test_each_kind_lists_and_reads_its_files(
    kind: str, tmp_path: Path, picture: bytes
) -> None:
    path, files = build(kind, tmp_path / "ev", picture)
    before = evidence_state([p for p in [path, *path.rglob("*")] if p.is_file()])
    assert evidence_kind(path) == KINDS.get(kind, kind)
    records, skipped = _split(list(iter_files(path, archives=False)))
    assert skipped == []
    assert {r.path: r.size for r in records} == {p: len(d) for p, d in files.items()}
    with open_device(path) as handle:
        for record in records:
            assert read_record(handle, record) == files[record.path], record.path
    deep = next(r for r in records if r.path == BUILDERS[kind][1])
    assert deep.is_media and deep.media_type == "image/jpeg"
    after = evidence_state([p for p in [path, *path.rglob("*")] if p.is_file()])
    assert after == before


def test_folder_of_evidence_finds_extractions_and_backups(
    tmp_path: Path, picture: bytes
) -> None:
    ev = tmp_path / "ev"
    zip_path, _ = build("ffs-zip", ev, picture)
    backup, _ = build("itunes-backup", ev, picture)
    (ev / "notes.txt").write_text("case notes\n")
    # The backup is one device; its stored files are not evidence files.
    assert find_evidence(ev) == [backup, zip_path]
    with pytest.raises(EvidenceError, match="no such evidence file"):
        identify(tmp_path / "nowhere")
    assert identify(ev).name == "folder"  # given as a device


def test_ufdr_details_and_missing_files(tmp_path: Path, picture: bytes) -> None:
    files = _files(picture, IOS_PICTURE)
    path = phone.write_ufdr(tmp_path / "r.ufdr", files,
                            missing=("private/var/mobile/Media/gone.jpg",))  # fmt: skip
    with open_device(path) as handle:
        assert handle.device.details == (
            "extraction=FullFileSystem; model=iPhone 12; os=17.1"
        )
    records, skipped = _split(list(iter_files(path, carve=False)))
    assert IOS_PICTURE in {r.path for r in records}
    assert [(s.reason.split(" (")[0], s.location.inner) for s in skipped] == [
        ("listed in report.xml but not in the UFDR",
         "private/var/mobile/Media/gone.jpg"),
    ]  # fmt: skip


def test_ufdr_with_malformed_report(tmp_path: Path, picture: bytes) -> None:
    files = _files(picture, IOS_PICTURE)
    good = phone.ufdr_report({p: f"files/{n}_{p.rsplit('/', 1)[-1]}"
                              for n, p in enumerate(files)})  # fmt: skip
    path = phone.write_ufdr(tmp_path / "bad.ufdr", files, report=good[:-40])
    records, skipped = _split(list(iter_files(path, carve=False)))
    assert len(skipped) == 1 and "report.xml is malformed" in skipped[0].reason
    assert skipped[0].device_id == "bad.ufdr"
    assert str(skipped[0].location.inner) == "report.xml"
    # Nothing lost: every file is listed, by its report path or zip path.
    assert len(records) == len(files)
    assert IOS_PICTURE in {r.path for r in records}


def test_truncated_zip_walks_local_headers(tmp_path: Path, picture: bytes) -> None:
    files = _files(picture, IOS_PICTURE)
    files["private/var/mobile/Media/DCIM/100APPLE/IMG_0002.JPG"] = picture
    whole = phone.write_ffs_zip(tmp_path / "whole.zip", files).read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(whole[: whole.index(picture, whole.index(picture) + 1) + 100])
    records, skipped = _split(list(iter_files(cut, archives=False)))
    by_path = {r.path: r for r in records}
    assert set(by_path) == set(list(files)[:3])  # all but the cut member
    reasons = [s.reason for s in skipped]
    assert any("IMG_0002.JPG' (local header at byte" in r and "lost" in r
               for r in reasons)  # fmt: skip
    assert any(r.startswith("central directory missing") for r in reasons)
    with open_device(cut) as handle:
        assert read_record(handle, by_path[IOS_PICTURE]) == picture


def _stored_only(backup: Path, why: str) -> None:
    """The backup's stored files listed by their stored names, each readable,
    with one skip saying why (Manifest.db unusable)."""
    records, skipped = _split(list(iter_files(backup, carve=False)))
    stored = sorted(p for p in backup.glob("??/*") if p.is_file())
    assert stored and [r.path for r in records] == [
        f"{UNLISTED}/{p.parent.name}/{p.name}" for p in stored
    ]
    with open_device(backup) as handle:
        assert [read_record(handle, r) for r in records] == [
            p.read_bytes() for p in stored
        ]
    (skip,) = skipped
    assert skip.reason.startswith(f"Manifest.db unusable ({why}")
    assert f"): {len(stored)} stored file(s): listed" in skip.reason
    assert f"listed by their stored names under '{UNLISTED}/'" in skip.reason


def test_manifest_db_not_sqlite(tmp_path: Path, picture: bytes) -> None:
    """The backup is not failed: its stored files are plain (unencrypted)."""
    backup, _ = build("itunes-backup", tmp_path / "ev", picture)
    (backup / "Manifest.db").write_bytes(b"not a database at all" * 10)
    _stored_only(backup, "Manifest.db is not an SQLite database")


def test_manifest_db_without_files_table(tmp_path: Path, picture: bytes) -> None:
    backup, _ = build("itunes-backup", tmp_path / "ev", picture)
    (backup / "Manifest.db").unlink()
    db = sqlite3.connect(backup / "Manifest.db")
    db.execute("CREATE TABLE Other (x)")
    db.commit()
    db.close()
    _stored_only(backup, "Manifest.db has no usable Files table")


def test_stored_files_manifest_db_does_not_name_are_listed(
    tmp_path: Path, picture: bytes
) -> None:
    """An interrupted backup (or an older Manifest.db): a stored file that
    Manifest.db does not name is listed by its stored name, not passed over."""
    files = {BACKUP_PICTURE: picture, "HomeDomain/Library/a.txt": b"a"}
    backup = phone.write_itunes_backup(tmp_path / "b", files)
    extra = backup / "ab" / ("ab" + "0" * 38)
    extra.parent.mkdir(exist_ok=True)
    extra.write_bytes(picture)
    records, skipped = _split(list(iter_files(backup, carve=False)))
    unlisted = f"{UNLISTED}/ab/{extra.name}"
    assert {r.path for r in records} == {*files, unlisted}
    (skip,) = skipped
    assert skip.reason.startswith("1 stored file(s) not named in Manifest.db")
    with open_device(backup) as handle:
        record = next(r for r in records if r.path == unlisted)
        assert read_record(handle, record) == picture


def test_backup_with_files_missing(tmp_path: Path, picture: bytes) -> None:
    files = {BACKUP_PICTURE: picture, "HomeDomain/Library/a.txt": b"a"}
    backup = phone.write_itunes_backup(
        tmp_path / "b", files, missing=("HomeDomain/Media/lost.jpg",)
    )
    records, skipped = _split(list(iter_files(backup, carve=False)))
    assert {r.path for r in records} == set(files)
    assert len(skipped) == 1
    assert skipped[0].reason.startswith("listed in Manifest.db but missing")
    assert str(skipped[0].location.inner) == "HomeDomain/Media/lost.jpg"


def test_encrypted_backup_names_the_device(
    tmp_path: Path, picture: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRIAGE_PASSWORD", raising=False)
    backup = phone.write_itunes_backup(
        tmp_path / "enc", {BACKUP_PICTURE: picture}, device_name="Alex's iPhone",
        encrypted=True,
    )  # fmt: skip
    with open_device(backup) as handle:
        assert "encrypted=True" in (handle.device.details or "")
    with pytest.raises(FilesystemError) as err:
        list(iter_files(backup, carve=False))
    # Only what the backup's own reader says: no other backend's "not mine".
    assert str(err.value) == (
        "enc: encrypted backup of Alex's iPhone: not read (give --password)"
    )


def test_android_backup_bad_header(tmp_path: Path, picture: bytes) -> None:
    path = phone.write_android_backup(
        tmp_path / "a.ab", _files(picture, ANDROID_PICTURE)
    )
    data = path.read_bytes()
    path.write_bytes(data.replace(b"\n5\n1\n", b"\nfive\n7\n", 1))
    with pytest.raises(FilesystemError, match=r"a.ab: bad Android backup header"):
        list(iter_files(path, carve=False))


def test_android_backup_encrypted(
    tmp_path: Path, picture: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRIAGE_PASSWORD", raising=False)
    path = phone.write_android_backup(
        tmp_path / "e.ab", _files(picture, ANDROID_PICTURE), encrypted=True
    )
    with pytest.raises(FilesystemError, match=r"e.ab: encrypted Android backup"):
        list(iter_files(path, carve=False))


def test_cut_android_backup_keeps_what_came_before(
    tmp_path: Path, picture: bytes
) -> None:
    files = _files(picture, ANDROID_PICTURE)
    files["data/media/0/zz-last.bin"] = bytes(range(256)) * 400
    path = phone.write_android_backup(tmp_path / "c.ab", files)
    path.write_bytes(path.read_bytes()[:-2000])
    records, skipped = _split(list(iter_files(path, carve=False, archives=False)))
    assert ANDROID_PICTURE in {r.path for r in records}
    assert skipped and "the rest is lost" in skipped[-1].reason


def test_folder_device_is_read_only(tmp_path: Path, picture: bytes) -> None:
    folder, files = build("folder", tmp_path / "ev", picture)
    (folder / "link.jpg").symlink_to(folder / ANDROID_PICTURE)
    paths = sorted(p for p in folder.rglob("*") if p.is_file())
    before = evidence_state(paths)
    records, _ = _split(list(iter_files(folder)))
    assert {r.path for r in records} == set(files)  # the link is not followed
    assert evidence_state(paths) == before
    shutil.rmtree(folder)


def test_folder_file_with_a_name_that_is_not_utf8(tmp_path: Path) -> None:
    folder = tmp_path / "copied"
    folder.mkdir()
    (folder / "fine.txt").write_bytes(b"ok")
    with open(bytes(folder) + b"/bad\xff.jpg", "wb") as fh:
        fh.write(b"x")
    records, skipped = _split(list(iter_files(folder, carve=False)))
    assert [r.path for r in records] == ["fine.txt"]
    assert len(skipped) == 1 and "not valid UTF-8" in skipped[0].reason
    assert str(skipped[0].location.inner) == "bad\ufffd.jpg"


def test_zip64_central_directory_is_streamed(tmp_path: Path) -> None:
    """More than 65,535 members: the zip64 end records say where the
    directory is; streaming it gives what zipfile lists, entry for entry."""
    import zipfile

    from triage.ingest.filesystems.zip_directory import find_directory, iter_directory

    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        for n in range(66_000):
            zf.writestr(f"data/media/0/{n // 1000:02d}/f{n}.txt", b"")
    with zipfile.ZipFile(path) as zf:
        expected = [(i.filename, i.header_offset, i.file_size) for i in zf.infolist()]
    with open(path, "rb") as fh:
        where = find_directory(fh, path.stat().st_size)
        assert where is not None and where.entries == 66_000
        got = [(e.name, e.offset, e.size) for e in iter_directory(fh, where)]
    assert got == expected


class _NoSeek(io.RawIOBase):
    """A write-only stream zipfile cannot seek: members get data descriptors."""

    def __init__(self, out: io.BytesIO) -> None:
        self.out = out

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        return self.out.write(data)


def _streamed_zip(
    members: list[tuple[str, bytes, bool]], method: int = zipfile.ZIP_DEFLATED
) -> bytes:
    """A zip written as a stream (sizes in data descriptors), its central
    directory cut off; ``True``: that member has a zip64 field."""
    out = io.BytesIO()
    with zipfile.ZipFile(_NoSeek(out), "w", method) as zf:
        for name, data, zip64 in members:
            with zf.open(name, "w", force_zip64=zip64) as fh:
                fh.write(data)
    raw = out.getvalue()
    return raw[: raw.index(b"PK\x01\x02")]


def test_truncated_zip_member_with_zip64_descriptor(tmp_path: Path) -> None:
    """A zip64 member's data descriptor holds 8-byte sizes: the member after
    it is found (it was lost with everything after it)."""
    cut = tmp_path / "cut.zip"
    cut.write_bytes(_streamed_zip([("a/big.bin", b"x" * 5000, True),
                                   ("a/after.txt", b"after", False)]))  # fmt: skip
    records, _ = _split(list(iter_files(cut, archives=False)))
    with open_device(cut) as handle:
        read = {r.path: read_record(handle, r) for r in records}
    assert read == {"a/big.bin": b"x" * 5000, "a/after.txt": b"after"}


def test_truncated_zip_of_stored_members_with_data_descriptors(
    tmp_path: Path,
) -> None:
    """Stored members whose sizes are only in data descriptors (a zip written
    as a stream) are found by the descriptor that agrees with their bytes,
    even when a member is itself such a zip, full of descriptor and header
    signatures: every member reads back whole, none is lost."""
    inner = _streamed_zip([("x.bin", b"PK\x07\x08" * 50, False),
                           ("y.bin", b"PK\x03\x04" * 50, False)],
                          zipfile.ZIP_STORED)  # fmt: skip
    members = {"a/inner.zip": inner, "a/big.bin": b"y" * 3000,
               "a/empty.txt": b"", "a/last.txt": b"last"}  # fmt: skip
    cut = tmp_path / "cut.zip"
    cut.write_bytes(_streamed_zip(
        [(name, data, name == "a/big.bin") for name, data in members.items()],
        zipfile.ZIP_STORED,
    ))  # fmt: skip
    records, skipped = _split(list(iter_files(cut, archives=False)))
    with open_device(cut) as handle:
        read = {r.path: read_record(handle, r) for r in records}
    assert read == members
    assert [s.reason for s in skipped if "member" in s.reason] == [
        "central directory missing (truncated zip?): members listed from their "
        f"local headers (4 found, ending at byte {cut.stat().st_size}); anything after "
        f"byte {cut.stat().st_size} is lost"
    ]


def test_stored_member_whose_descriptor_is_gone_is_lost(tmp_path: Path) -> None:
    """A stored member cut before its data descriptor: reported lost."""
    members = [("a/keep.txt", b"keep", False), ("a/cut.bin", b"z" * 4000, False)]
    raw = _streamed_zip(members, zipfile.ZIP_STORED)
    cut = tmp_path / "cut.zip"
    cut.write_bytes(raw[:-100])
    records, skipped = _split(list(iter_files(cut, archives=False)))
    assert [r.path for r in records] == ["a/keep.txt"]
    assert any("a/cut.bin" in s.reason and "lost" in s.reason for s in skipped)


def test_truncated_zip_ending_in_a_stored_zip_is_walked_by_local_headers(
    tmp_path: Path, picture: bytes
) -> None:
    """A copy cut short a little after a stored APK (a zip itself): the APK's
    own end record, near the end of the file, names no directory of the
    outer zip and is passed over; the members before the cut are listed."""
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as apk:
        apk.writestr("classes.dex", b"dex\n035" + bytes(5000))
    whole = tmp_path / "whole.zip"
    with zipfile.ZipFile(whole, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("DCIM/100APPLE/IMG_0001.JPG", picture)
        zf.writestr("data/app/com.x/base.apk", inner.getvalue())
        zf.writestr("DCIM/Camera/IMG_2.jpg", picture)
    raw = whole.read_bytes()
    cut = tmp_path / "cut.zip"
    cut.write_bytes(raw[: raw.index(b"DCIM/Camera/IMG_2.jpg") + 500])
    records, skipped = _split(list(iter_files(cut, carve=False, archives=False)))
    with open_device(cut) as handle:
        read = {r.path: read_record(handle, r) for r in records}
    assert read == {
        "DCIM/100APPLE/IMG_0001.JPG": picture,
        "data/app/com.x/base.apk": inner.getvalue(),
    }
    assert any("DCIM/Camera/IMG_2.jpg" in s.reason and "cut off" in s.reason
               for s in skipped)  # fmt: skip


def test_damaged_central_directory_entry_loses_no_member(tmp_path: Path) -> None:
    """One entry of the central directory damaged: the members it and the
    entries after it name are listed from their local headers, with one
    skip saying so (the device failed, the last three members lost)."""
    files = {f"DCIM/IMG_{i}.JPG": b"\xff\xd8\xff" + bytes([i]) * 100 for i in range(5)}
    path = phone.write_ffs_zip(tmp_path / "cd.zip", files)
    raw = bytearray(path.read_bytes())
    third = [i for i in range(len(raw)) if raw.startswith(b"PK\x01\x02", i)][2]
    raw[third : third + 4] = b"XXXX"
    path.write_bytes(raw)
    records, skipped = _split(list(iter_files(path, carve=False, archives=False)))
    with open_device(path) as handle:
        read = {r.path: read_record(handle, r) for r in records}
    assert read == files
    (skip,) = skipped
    assert skip.reason.startswith(
        f"central directory damaged (bad central directory entry at byte {third})"
    )
    assert skip.reason.endswith("they reach the central directory")


def test_truncated_zip_members_not_readable_are_skips_not_files(
    tmp_path: Path,
) -> None:
    """Walked by local headers, an encrypted member and a bzip2 one are
    recorded as not read (as the central directory walk records them), not
    listed as files whose bytes are ciphertext or bzip2."""
    whole = tmp_path / "whole.zip"
    with zipfile.ZipFile(whole, "w") as zf:
        zf.writestr("a/secret.jpg", b"\xff\xd8\xff" + bytes(200))
        zf.writestr("a/packed.jpg", b"\xff\xd8\xff" + bytes(200),
                    compress_type=zipfile.ZIP_BZIP2)  # fmt: skip
        zf.writestr("a/plain.txt", b"plain")
    raw = bytearray(whole.read_bytes())
    raw[6] |= 0x1  # the first member's general purpose flags: encrypted
    cut = tmp_path / "cut.zip"
    cut.write_bytes(raw[: raw.index(b"PK\x01\x02")])
    records, skipped = _split(list(iter_files(cut, archives=False)))
    assert [r.path for r in records] == ["a/plain.txt"]
    assert {(str(s.location.inner), s.reason) for s in skipped if s.location.inner
            and "central directory" not in str(s.location.inner)} == {
        ("a/secret.jpg", "zip member not read: encrypted"),
        ("a/packed.jpg", "zip member not read: compression 12"),
    }  # fmt: skip


def test_truncated_zip_with_a_cut_zip64_field_is_a_skip(tmp_path: Path) -> None:
    head = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 45, 0, 0, 0, 0, 0,
                       0xFFFFFFFF, 0xFFFFFFFF, 5, 8)  # fmt: skip
    cut = tmp_path / "cut.zip"
    cut.write_bytes(head + b"a.jpg" + struct.pack("<HH", 1, 16) + b"\0" * 4)
    records, skipped = _split(list(iter_files(cut, archives=False)))
    assert records == []
    assert any("damaged zip64 field" in s.reason for s in skipped)


def test_ufdr_whose_report_cannot_be_read_lists_the_zip(
    tmp_path: Path, picture: bytes
) -> None:
    """report.xml compressed with bzip2 (not read here): one skip naming it,
    and every file listed by its path in the zip, not a traceback."""
    files = _files(picture, IOS_PICTURE)
    plain = phone.write_ufdr(tmp_path / "plain.ufdr", files)
    path = tmp_path / "bz.ufdr"
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w") as dst:
        for info in src.infolist():
            kind = zipfile.ZIP_BZIP2 if info.filename == "report.xml" else 0
            dst.writestr(info.filename, src.read(info), compress_type=kind)
    records, skipped = _split(list(iter_files(path, carve=False)))
    assert [str(s.location.inner) for s in skipped] == ["report.xml"]
    assert "compression method 12" in skipped[0].reason
    assert len(records) == len(files)


def test_backup_plists_that_are_no_dictionary_are_passed_over(
    tmp_path: Path, picture: bytes
) -> None:
    backup, _ = build("itunes-backup", tmp_path / "ev", picture)
    (backup / "Info.plist").write_bytes(plistlib.dumps(["not", "a", "dict"]))
    with open_device(backup) as handle:
        assert "Device Name" not in (handle.device.details or "")
    records, _ = _split(list(iter_files(backup, carve=False)))
    assert records


def test_a_zlib_bomb_in_an_android_backup_is_not_held(tmp_path: Path) -> None:
    """A member of 256 MiB of zeros (a few hundred KB compressed) is walked
    past without holding it: the inflated stream stays a few MiB ahead."""
    import tracemalloc

    path = phone.write_android_backup(
        tmp_path / "bomb.ab",
        {"apps/x/f/zeros.bin": bytes(256 << 20), "apps/x/f/after.txt": b"after"},
    )
    assert path.stat().st_size < 2 << 20
    tracemalloc.start()
    try:
        records, _ = _split(list(iter_files(path, carve=False, archives=False)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert {r.path for r in records} >= {"apps/x/f/after.txt"}
    assert peak < 64 << 20


def test_a_seek_back_in_a_large_tgz_member_resumes_from_a_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member too large to keep whole, read tail first (as a video decoder
    reads an iPhone MOV: its index is at the end), then head: the gzip
    stream goes back to its last checkpoint before the member instead of
    inflating the archive again from its first byte; the bytes are right."""
    from triage.ingest.content import open_record
    from triage.ingest.filesystems import extraction

    rng = random.Random(7)
    files = {f"a/{n}.bin": rng.randbytes(1 << 20) for n in range(6)}
    files["a/video.MOV"] = rng.randbytes(3 << 20)
    path = phone.write_ffs_tar(tmp_path / "x.tgz", files, gz=True)
    monkeypatch.setattr(extraction, "MEMBER_CACHE", 0)  # nothing kept whole
    monkeypatch.setattr(extraction, "CHECKPOINT", 256 << 10)
    made: list[Any] = []

    class Recorded(extraction._Inflate):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            made.append(self)

    monkeypatch.setattr(extraction, "_Inflate", Recorded)
    records, _ = _split(list(iter_files(path, carve=False, archives=False)))
    video = next(r for r in records if r.path == "a/video.MOV")
    start = len(made)
    with open_device(path) as handle, open_record(handle, video) as fh:
        fh.seek(video.size - 5000)
        tail = fh.read(5000)
        fh.seek(0)
        head = fh.read(5000)
    assert (head, tail) == (files["a/video.MOV"][:5000], files["a/video.MOV"][-5000:])
    inflated = sum(m.inflated for m in made[start:])  # a restart makes another
    # Reading to the tail inflated ~9 MiB; going back, a checkpoint (256 KiB)
    # and a read step (1 MiB) at most; from the archive's start: 6 MiB more.
    assert inflated < 12 << 20


def test_a_tgz_of_two_gzip_members_reads_every_member(tmp_path: Path) -> None:
    """A tar gzip-compressed in two members (as pgzip, bgzip or ``cat a.gz
    b.gz`` write it), split inside a file: every member reads back whole."""
    rng = random.Random(1)
    files = {
        f"DCIM/{n}.jpg": b"\xff\xd8\xff" + rng.randbytes(100_000) for n in range(3)
    }
    tar = gzip.decompress(phone.write_ffs_tar(tmp_path / "x.tgz", files, gz=True)
                          .read_bytes())  # fmt: skip
    path = tmp_path / "two.tgz"
    cut = len(tar) - 20_000
    path.write_bytes(gzip.compress(tar[:cut]) + gzip.compress(tar[cut:]))
    records, skipped = _split(list(iter_files(path, carve=False, archives=False)))
    with open_device(path) as handle:
        assert {r.path: read_record(handle, r) for r in records} == files
    assert not skipped


def test_gzip_checkpoints_serve_seeks_back_and_forth() -> None:
    """A seek back before the first checkpoint keeps the checkpoints, and a
    seek forward past one jumps to it rather than inflating again."""
    from triage.ingest.filesystems import extraction

    data = random.Random(2).randbytes(8 << 20)
    raw = gzip.compress(data)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(extraction, "CHECKPOINT", 256 << 10)
        made: list[Any] = []

        def reader() -> Any:
            made.append(extraction._Inflate(io.BytesIO(raw), 31))  # type: ignore[arg-type]
            return made[-1]

        stream = extraction._Stream(reader, reader)
        assert stream.read_at(7 << 20, 10) == data[7 << 20 : (7 << 20) + 10]
        assert stream.read_at(100, 10) == data[100:110]  # before the first
        before = made[-1].inflated
        assert stream.read_at(6 << 20, 10) == data[6 << 20 : (6 << 20) + 10]
    assert len(made) == 1  # never started again
    assert made[-1].inflated - before < 1 << 20  # not the 6 MiB again


def test_zip_descriptor_with_8_byte_sizes_and_no_zip64_field(tmp_path: Path) -> None:
    """Go and Java write a data descriptor with 8-byte sizes for a member over
    4 GiB without a zip64 field in its header: the member after it is
    found, stored or deflated (it was lost with all after it)."""
    for method in (zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED):
        members = [(n, b"\xff\xd8\xff" + n.encode() * 300, False) for n in "ab"]
        raw = _streamed_zip(members, method)
        at = raw.index(b"PK\x07\x08")  # a.jpg's descriptor, written as Go does
        sig, crc, csize, usize = struct.unpack_from("<4sIII", raw, at)
        raw = raw[:at] + struct.pack("<4sIQQ", sig, crc, csize, usize) + raw[at + 16 :]
        path = tmp_path / f"wide{method}.zip"
        path.write_bytes(raw)
        records, _ = _split(list(iter_files(path, carve=False, archives=False)))
        with open_device(path) as handle:
            read = {r.path: read_record(handle, r) for r in records}
        assert read == {n: d for n, d, _ in members}, method


def test_damaged_directory_after_an_encrypted_streamed_member(tmp_path: Path) -> None:
    """The directory damaged after naming an encrypted member whose size is
    only in its data descriptor: the walk goes on from that member's end as
    the directory gives it, so the members after it are still listed."""
    out = io.BytesIO()
    with zipfile.ZipFile(_NoSeek(out), "w", zipfile.ZIP_DEFLATED) as zf:
        for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
            with zf.open(name, "w") as fh:
                fh.write(b"\xff\xd8\xff" + name.encode() * 300)
    raw = bytearray(out.getvalue())
    local = [i for i in range(len(raw)) if raw.startswith(b"PK\x03\x04", i)]
    central = [i for i in range(len(raw)) if raw.startswith(b"PK\x01\x02", i)]
    raw[local[1] + 6] |= 1  # b.jpg encrypted, in its local header
    raw[central[1] + 8] |= 1  # and its directory entry
    raw[central[2] : central[2] + 4] = b"XXXX"  # c.jpg's entry damaged
    path = tmp_path / "c.zip"
    path.write_bytes(raw)
    records, skipped = _split(list(iter_files(path, carve=False, archives=False)))
    assert [r.path for r in records] == ["a.jpg", "c.jpg", "d.jpg"]
    assert [s.reason for s in skipped][0] == "zip member not read: encrypted"
    assert "(2 found, " in skipped[-1].reason


def test_manifest_db_file_ids_cannot_reach_outside_the_backup(
    tmp_path: Path,
) -> None:
    """A crafted Manifest.db: a file ID that is not 40 hex digits is a skip,
    never a path; a domain spelt like the unlisted folder reads nothing
    outside either."""
    files = {"HomeDomain/a.txt": b"a", f"{UNLISTED}/../outside.txt": b"inside"}
    backup = phone.write_itunes_backup(tmp_path / "b", files)
    (tmp_path / "outside.txt").write_bytes(b"EXAMINER'S FILE")
    db = sqlite3.connect(backup / "Manifest.db")
    db.execute(
        "UPDATE Files SET fileID = '../../outside.txt' WHERE relativePath = 'a.txt'"
    )
    db.commit()
    db.close()
    records, skipped = _split(list(iter_files(backup, carve=False)))
    with open_device(backup) as handle:
        read = [read_record(handle, r) for r in records]
    assert b"EXAMINER'S FILE" not in read
    assert any("is not a stored file name" in s.reason for s in skipped)


def test_manifest_db_damaged_part_way_loses_no_stored_file(tmp_path: Path) -> None:
    """A page in the middle of Manifest.db overwritten: the rows before it are
    listed with their paths, one skip names the damage, and the stored files
    it did not reach are listed by their stored names."""
    files = {f"HomeDomain/f{n:05}.txt": b"x%d" % n for n in range(3000)}
    backup = phone.write_itunes_backup(tmp_path / "b", files)
    manifest = backup / "Manifest.db"
    raw = bytearray(manifest.read_bytes())
    middle = len(raw) // 4096 // 2
    raw[middle * 4096 : (middle + 1) * 4096] = b"\xff" * 4096
    manifest.write_bytes(raw)
    records, skipped = _split(list(iter_files(backup, carve=False)))
    assert len(records) == len(files)
    named = [r for r in records if not r.path.startswith(UNLISTED)]
    assert 0 < len(named) < len(files)
    assert [s.reason.split(":")[0] for s in skipped] == [
        "Manifest.db is damaged",
        f"{len(files) - len(named)} stored file(s) not named in Manifest.db (or "
        "not read from it)",
    ]
