"""Encrypted phone backups with ``--password``: an iTunes/Finder backup and
an Android ``.ab`` are read with the right password (decrypted in memory,
every file byte for byte), recorded as skipped naming the device with a
wrong one or none; a document zip found in a folder is not a device."""

from __future__ import annotations

import os
import tempfile
import zipfile
from pathlib import Path

import pytest
from iphone_backup_decrypt import EncryptedBackup

from tests.conftest import evidence_state
from triage.errors import FilesystemError
from triage.ingest import iter_files
from triage.ingest.content import read_record
from triage.ingest.evidence import find_evidence, identify, open_device
from triage.ingest.filesystems import android_crypto
from triage.ingest.filesystems.cbc import CbcReader
from triage.ingest.filesystems.passwords import PASSWORD_ENV
from triage.records import FileRecord, Skipped
from triage.sample import phone
from triage.sample.pictures import encode, make_picture

BACKUP_PICTURE = "CameraRollDomain/Media/DCIM/100APPLE/IMG_0001.JPG"
ANDROID_PICTURE = "data/media/0/DCIM/Camera/IMG_20240102_030405.jpg"
PASSWORD = "correct horse ☃"  # not ASCII: UTF-8 reaches PBKDF2


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    picture = encode(make_picture(41, 320, 240), "JPEG", 90)
    return {
        BACKUP_PICTURE: picture,
        "HomeDomain/Library/notes.txt": b"shopping list\n",
        "HomeDomain/Library/sixteen.bin": bytes(range(16)),  # a whole pad block
        "HomeDomain/Media/empty.bin": b"",
        "HomeDomain/Media/video.mov": os.urandom(3 * 1024 * 1024 + 5),
    }


def _split(items: list[FileRecord | Skipped]) -> tuple[list[FileRecord], list[Skipped]]:
    return (
        [i for i in items if isinstance(i, FileRecord)],
        [i for i in items if isinstance(i, Skipped)],
    )


def _state(root: Path) -> dict[str, tuple[str, int, int]]:
    return evidence_state(sorted(p for p in [root, *root.rglob("*")] if p.is_file()))


# --- iTunes / Finder ----------------------------------------------------------


def test_encrypted_backup_with_its_password_reads_every_file(
    tmp_path: Path, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    backup = phone.write_itunes_backup(
        tmp_path / "enc", files, encrypted=True, password=PASSWORD
    )
    before = _state(backup)
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    records, skipped = _split(list(iter_files(backup, archives=False)))
    assert skipped == []
    assert {r.path: r.size for r in records} == {p: len(d) for p, d in files.items()}
    with open_device(backup) as handle:
        for record in records:
            assert read_record(handle, record) == files[record.path], record.path
    deep = next(r for r in records if r.path == BACKUP_PICTURE)
    assert deep.is_media and deep.media_type == "image/jpeg"
    assert _state(backup) == before


def test_encrypted_backup_before_ios_10_2(
    tmp_path: Path, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No DPIC/DPSL in the keybag (PBKDF2-SHA1 only) and a plain Manifest.db:
    the files are still decrypted."""
    backup = phone.write_encrypted_backup(
        tmp_path / "old", files, password=PASSWORD, dpic=0
    )
    assert (backup / "Manifest.db").read_bytes().startswith(b"SQLite format 3")
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    records, skipped = _split(list(iter_files(backup, archives=False)))
    assert skipped == [] and {r.path for r in records} == set(files)
    with open_device(backup) as handle:
        for record in records:
            assert read_record(handle, record) == files[record.path], record.path
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    _, skipped = _split(list(iter_files(backup)))
    assert [s.reason for s in skipped] == [
        "encrypted backup of Sample iPhone: wrong password"
    ]


def test_the_library_decrypts_what_the_sample_writes(
    tmp_path: Path, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """iphone_backup_decrypt's own reader (it writes its decrypted manifest to
    a temporary folder, kept inside tmp_path here) agrees with the writer."""
    backup = phone.write_itunes_backup(
        tmp_path / "enc", files, encrypted=True, password=PASSWORD
    )
    (tmp_path / "lib").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "lib"))
    library = EncryptedBackup(backup_directory=str(backup), passphrase=PASSWORD)
    for path, data in files.items():
        domain, relative = path.split("/", 1)
        got = library.extract_file_as_bytes(relative, domain_like=domain)
        assert got == data, path
    del library  # its __del__ removes its temporary folder


@pytest.mark.parametrize(
    ("password", "why"),
    [(None, "not read (give --password)"), ("wrong", "wrong password")],
)
def test_encrypted_backup_without_the_password_is_a_skip(
    tmp_path: Path,
    files: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
    password: str | None,
    why: str,
) -> None:
    backup = phone.write_itunes_backup(
        tmp_path / "enc", files, encrypted=True, password=PASSWORD,
        device_name="Alex's iPhone",
    )  # fmt: skip
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    if password:
        monkeypatch.setenv(PASSWORD_ENV, password)
    before = _state(backup)
    records, skipped = _split(list(iter_files(backup)))
    assert records == []
    assert [(s.device_id, s.reason) for s in skipped] == [
        ("enc", f"encrypted backup of Alex's iPhone: {why}")
    ]
    with pytest.raises(FilesystemError, match="^enc: encrypted backup of Alex's"):
        list(iter_files(backup, carve=False))
    assert _state(backup) == before


def test_damaged_encrypted_file_is_a_skip_naming_it(
    tmp_path: Path, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    backup = phone.write_itunes_backup(
        tmp_path / "enc", files, encrypted=True, password=PASSWORD
    )
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    stored = next(p for p in backup.rglob("*") if p.stat().st_size > 3 << 20)
    stored.write_bytes(stored.read_bytes()[:-7])  # not whole AES blocks
    records, skipped = _split(list(iter_files(backup, archives=False)))
    assert {r.path for r in records} == set(files) - {"HomeDomain/Media/video.mov"}
    assert [str(s.location.inner) for s in skipped] == ["HomeDomain/Media/video.mov"]
    assert "not a whole number of AES blocks" in skipped[0].reason
    assert stored.name in skipped[0].reason


def test_damaged_manifest_and_file_blob(
    tmp_path: Path, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Manifest.db that does not decrypt fails the device naming it; a
    file row whose blob is not a plist is one skip naming the file."""
    import sqlite3

    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    backup = phone.write_itunes_backup(
        tmp_path / "enc", files, encrypted=True, password=PASSWORD
    )
    db = bytearray((backup / "Manifest.db").read_bytes())
    db[0] ^= 0xFF  # the first block decrypts to garbage: no SQLite header
    (backup / "Manifest.db").write_bytes(bytes(db))
    with pytest.raises(FilesystemError, match="^enc: Manifest.db does not decrypt"):
        list(iter_files(backup, carve=False))
    old = phone.write_encrypted_backup(
        tmp_path / "old", files, password=PASSWORD, dpic=0
    )
    con = sqlite3.connect(old / "Manifest.db")
    con.execute(
        "UPDATE Files SET file = x'00' WHERE relativePath = 'Library/notes.txt'"
    )
    con.commit()
    con.close()
    records, skipped = _split(list(iter_files(old, archives=False)))
    assert {r.path for r in records} == set(files) - {"HomeDomain/Library/notes.txt"}
    assert [str(s.location.inner) for s in skipped] == ["HomeDomain/Library/notes.txt"]
    assert "file blob is not readable" in skipped[0].reason


def test_wal_mode_manifest_opens_in_memory(tmp_path: Path) -> None:
    """A Manifest.db saved in WAL mode cannot be deserialized as it is;
    its header is switched to rollback mode in memory (never on disk)."""
    import random
    import sqlite3
    import struct

    from triage.ingest.filesystems import itunes_crypto

    plain = tmp_path / "plain.db"
    con = sqlite3.connect(plain)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE Files (x)")
    con.execute("INSERT INTO Files VALUES (1)")
    con.commit()
    con.close()
    data = plain.read_bytes()
    assert data[18:20] == b"\x02\x02"
    keybag, keys = phone.backup_keybag("pw", random.Random(1), dpic=1, iterations=1)
    key = os.urandom(32)
    (tmp_path / "Manifest.db").write_bytes(phone.cbc_encrypt(key, data))
    plist = {
        "BackupKeyBag": keybag,
        "ManifestKey": struct.pack("<l", 4) + phone.wrap_key(keys[4], key),
    }
    bag = itunes_crypto.unlock_keybag("dev", "a phone", plist, "pw")
    db = itunes_crypto.decrypted_manifest("dev", tmp_path / "Manifest.db", plist, bag)
    assert db is not None and db.execute("SELECT x FROM Files").fetchall() == [(1,)]
    with pytest.raises(sqlite3.OperationalError, match="readonly|read-only|query"):
        db.execute("INSERT INTO Files VALUES (2)")


def test_cbc_reader_reads_any_range_from_the_blocks_it_needs() -> None:
    """Random access: any plaintext range from its own ciphertext blocks
    plus one before (bounded memory for a large video)."""
    from Crypto.Cipher import AES

    plain = os.urandom(100_003)
    key, iv = os.urandom(32), os.urandom(16)
    pad = 16 - len(plain) % 16
    cipher = AES.new(key, AES.MODE_CBC, iv=iv).encrypt(plain + bytes([pad]) * pad)
    asked: list[int] = []

    def read(offset: int, size: int) -> bytes:
        asked.append(size)
        return cipher[offset : offset + size]

    reader = CbcReader(read, len(cipher), key, iv)
    assert reader.plain_size() == len(plain)
    for offset, size in [(0, 1), (0, 16), (15, 2), (16, 16), (4095, 4099),
                         (99_990, 13), (50_000, 1)]:  # fmt: skip
        asked.clear()
        assert reader.pread(offset, size) == plain[offset : offset + size]
        assert max(asked) <= size + 2 * 16 + 16
    wrong = CbcReader(read, len(cipher), os.urandom(32), iv)
    with pytest.raises(ValueError, match="padding"):
        wrong.plain_size()


# --- Android ------------------------------------------------------------------


def _android_files(files: dict[str, bytes]) -> dict[str, bytes]:
    """The files with Android paths, the deep picture first."""
    out = {ANDROID_PICTURE: files[BACKUP_PICTURE]}
    out.update({f"data/{p.split('/', 1)[1]}": d for p, d in files.items()})
    return out


def test_java_char_encoding_of_the_master_key() -> None:
    """Bytes from 0x80 are sign-extended to U+FF80.. and UTF-8 encoded."""
    raw = bytes([0x41, 0x7F, 0x80, 0xFF])
    assert android_crypto.java_chars_utf8(raw) == b"A\x7f\xef\xbe\x80\xef\xbf\xbf"


@pytest.mark.parametrize("version", [1, 5])
def test_encrypted_android_backup_with_its_password(
    tmp_path: Path,
    files: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
    version: int,
) -> None:
    content = _android_files(files)
    path = phone.write_android_backup(
        tmp_path / "e.ab", content, encrypted=True, password="pässword",
        version=version,
    )  # fmt: skip
    before = _state(path)
    monkeypatch.setenv(PASSWORD_ENV, "pässword")
    records, skipped = _split(list(iter_files(path, archives=False)))
    assert skipped == []
    assert {r.path: r.size for r in records} == {p: len(d) for p, d in content.items()}
    with open_device(path) as handle:
        for record in reversed(records):  # backwards: each read restarts
            assert read_record(handle, record) == content[record.path], record.path
    assert _state(path) == before


@pytest.mark.parametrize(
    ("password", "why"),
    [(None, "encrypted Android backup (AES-256): not read (give --password)"),
     ("wrong", "encrypted Android backup: wrong password")],
)  # fmt: skip
def test_encrypted_android_backup_without_the_password_is_a_skip(
    tmp_path: Path,
    files: dict[str, bytes],
    monkeypatch: pytest.MonkeyPatch,
    password: str | None,
    why: str,
) -> None:
    path = phone.write_android_backup(
        tmp_path / "e.ab", _android_files(files), encrypted=True
    )
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    if password:
        monkeypatch.setenv(PASSWORD_ENV, password)
    records, skipped = _split(list(iter_files(path)))
    assert records == []
    assert [(s.device_id, s.reason) for s in skipped] == [("e.ab", why)]


def test_cut_encrypted_android_backup_keeps_what_came_before(
    tmp_path: Path, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    content = _android_files(files)
    path = phone.write_android_backup(
        tmp_path / "c.ab", content, encrypted=True, password="pw"
    )
    path.write_bytes(path.read_bytes()[: -(1 << 20)])
    monkeypatch.setenv(PASSWORD_ENV, "pw")
    records, skipped = _split(list(iter_files(path, carve=False, archives=False)))
    assert ANDROID_PICTURE in {r.path for r in records}
    assert skipped and "the rest is lost" in skipped[-1].reason


# --- documents are not extractions ------------------------------------------------


def _zip(path: Path, names: list[str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name in names:
            zf.writestr(name, b"x")
    return path


def test_documents_in_a_folder_are_not_extractions(
    tmp_path: Path, files: dict[str, bytes]
) -> None:
    ev = tmp_path / "ev"
    ev.mkdir()
    docs = [
        _zip(ev / "letter.docx", ["[Content_Types].xml", "_rels/.rels",
                                  "word/document.xml"]),
        _zip(ev / "sheet.bin", ["docProps/app.xml", "[Content_Types].xml"]),
        _zip(ev / "text.odt", ["mimetype", "content.xml", "META-INF/manifest.xml"]),
        _zip(ev / "app.apk", ["AndroidManifest.xml", "classes.dex",
                              "META-INF/MANIFEST.MF"]),
        _zip(ev / "lib.jar", ["META-INF/MANIFEST.MF", "org/example/Main.class"]),
    ]  # fmt: skip
    extraction = phone.write_ffs_zip(
        ev / "phone.zip",
        {"private/var/mobile/Media/DCIM/100APPLE/IMG_0001.JPG": files[BACKUP_PICTURE],
         "META-INF/notes.txt": b"not a jar"},
    )  # fmt: skip
    assert find_evidence(ev) == [extraction]
    # Named explicitly, a document still opens as a zip device.
    for doc in docs:
        assert identify(doc).name == "ffs-zip"
    records, skipped = _split(list(iter_files(docs[0], carve=False)))
    assert skipped == [] and {r.path for r in records} == {
        "[Content_Types].xml", "_rels/.rels", "word/document.xml"
    }  # fmt: skip


def test_ls_with_password_lists_the_decrypted_backups(
    tmp_path: Path, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from triage.cli import main

    monkeypatch.setenv(PASSWORD_ENV, "")  # restored after the CLI sets it
    content = _android_files(files)
    backup = phone.write_itunes_backup(
        tmp_path / "enc", files, encrypted=True, password=PASSWORD
    )
    ab = phone.write_android_backup(
        tmp_path / "e.ab", content, encrypted=True, password=PASSWORD
    )
    done = CliRunner().invoke(
        main, ["ls", "--json", "--password", PASSWORD, str(backup), str(ab)]
    )
    assert done.exit_code == 0, done.output
    assert f'"path": "{BACKUP_PICTURE}"' in done.output
    assert f'"path": "{ANDROID_PICTURE}"' in done.output
    assert '"evidence_kind": "itunes-backup"' in done.output


def test_a_decrypted_manifest_without_files_table_names_the_device(
    tmp_path: Path, files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Checked as a plain Manifest.db is: no ``Files`` table is an error
    naming the device, not a database error part-way through the walk."""
    import sqlite3

    from triage.ingest.filesystems import phone as phone_fs

    backup = phone.write_itunes_backup(
        tmp_path / "enc", files, encrypted=True, password=PASSWORD
    )
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    real = phone_fs.crypto.decrypted_manifest

    def without_files(*args: object) -> sqlite3.Connection:
        real(*args)  # type: ignore[arg-type]  # decrypts, as before
        db = sqlite3.connect(":memory:", check_same_thread=False)
        db.execute("CREATE TABLE Other (x)")
        return db

    monkeypatch.setattr(phone_fs.crypto, "decrypted_manifest", without_files)
    with pytest.raises(FilesystemError, match="enc: Manifest.db has no usable Files"):
        list(iter_files(backup, carve=False))
