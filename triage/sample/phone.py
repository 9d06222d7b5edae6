"""Benign phone extractions built at run time, in every kind ``triage`` reads.

Each writer takes ``files`` (the phone's path -> bytes) and writes one
extraction: a full-file-system zip (zip64 on request) or tar (plain, gzip),
a Cellebrite-style UFDR (``report.xml`` naming each file's phone path and
its "Local Path" in the zip), an iTunes/Finder backup folder (``Manifest.db``
and ``xx/<sha1>`` files), an Android ``.ab`` backup (header + zlib tar) and a
plain folder. They follow the public descriptions of those formats; nothing
here comes from a real phone.
"""

from __future__ import annotations

import hashlib
import io
import plistlib
import random
import sqlite3
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from Crypto.Cipher import AES

#: Files' times in generated extractions (2024-01-02 03:04:05 UTC).
FIXED_TIME = 1704164645
UFDR_NS = "http://pa.cellebrite.com/report/2.0"


def write_ffs_zip(
    out: Path, files: Mapping[str, bytes], *, zip64: bool = False
) -> Path:
    """A full-file-system zip (stored members: camera files do not shrink)."""
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for path, data in files.items():
            info = zipfile.ZipInfo(path, date_time=(2024, 1, 2, 3, 4, 5))
            with zf.open(info, "w", force_zip64=zip64) as fh:
                fh.write(data)
    return out


def write_ffs_tar(out: Path, files: Mapping[str, bytes], *, gz: bool = False) -> Path:
    """A full-file-system tar (``gz``: gzip-compressed)."""
    with tarfile.open(out, "w:gz" if gz else "w") as tar:
        _add_tar(tar, files)
    return out


def _add_tar(tar: tarfile.TarFile, files: Mapping[str, bytes]) -> None:
    for path, data in files.items():
        info = tarfile.TarInfo(path)
        info.size, info.mtime = len(data), FIXED_TIME
        tar.addfile(info, io.BytesIO(data))


def write_android_backup(
    out: Path,
    files: Mapping[str, bytes],
    *,
    encrypted: bool = False,
    password: str = "sample password",
    version: int = 5,
    rounds: int = 10,
    seed: int = 14,
) -> Path:
    """An ``adb backup`` file, compressed; ``encrypted``: AES-256 under
    ``password`` as Android writes it (``rounds`` of PBKDF2: Android uses
    10,000). From ``version`` 2 on PBKDF2 gets the UTF-8 of the password and
    of the master key cast to Java chars (for its checksum); in version 1
    the low 8 bits of each (a latin-1 password, the raw key)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add_tar(tar, files)
    data = zlib.compress(buf.getvalue())
    head = b"ANDROID BACKUP\n%d\n1\n" % version
    if not encrypted:
        out.write_bytes(head + b"none\n" + data)
        return out
    rand = random.Random(seed)
    salt, ck_salt, user_iv = rand.randbytes(64), rand.randbytes(64), rand.randbytes(16)
    key, iv = rand.randbytes(32), rand.randbytes(16)
    # Version 1 handed PBKDF2 the low 8 bits of each character.
    secret = password.encode() if version >= 2 else password.encode("latin-1")
    user_key = hashlib.pbkdf2_hmac("sha1", secret, salt, rounds, 32)
    as_chars = "".join(chr(b if b < 0x80 else 0xFF00 | b) for b in key).encode()
    checksum = hashlib.pbkdf2_hmac(
        "sha1", as_chars if version >= 2 else key, ck_salt, rounds, 32
    )
    blob = bytes([16]) + iv + bytes([32]) + key + bytes([32]) + checksum
    blob = AES.new(user_key, AES.MODE_CBC, iv=user_iv).encrypt(_pad(blob))
    hexed = [x.hex().upper().encode() for x in (salt, ck_salt, user_iv, blob)]
    lines = [b"AES-256", hexed[0], hexed[1], b"%d" % rounds, hexed[2], hexed[3]]
    payload = AES.new(key, AES.MODE_CBC, iv=iv).encrypt(_pad(data))
    out.write_bytes(head + b"\n".join(lines) + b"\n" + payload)
    return out


def ufdr_report(
    files: Mapping[str, str], *, model: str = "iPhone 12", os_version: str = "17.1"
) -> bytes:
    """A report.xml: ``files`` maps each phone path to its member path."""
    entries = []
    for n, (phone_path, local) in enumerate(files.items()):
        entries.append(
            f'<file fs="Data" path={quoteattr("/" + phone_path)} id="f{n}" '
            'deleted="Intact"><metadata section="File">'
            f'<item name="Local Path"><![CDATA[{local.replace("/", chr(92))}]]>'
            "</item></metadata></file>"
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<project xmlns="{UFDR_NS}">'
        '<sourceExtractions><extractionInfo id="0" type="FullFileSystem" '
        'name="Sample"/></sourceExtractions>'
        '<metadata section="Device Info">'
        f'<item name="DeviceInfoDetectedModel">{escape(model)}</item>'
        f'<item name="DeviceInfoOSVersion">{escape(os_version)}</item>'
        f"</metadata><taggedFiles>{''.join(entries)}</taggedFiles></project>"
    ).encode()


def write_ufdr(
    out: Path,
    files: Mapping[str, bytes],
    *,
    missing: tuple[str, ...] = (),
    report: bytes | None = None,
) -> Path:
    """A UFDR zip: ``files/<n>_<name>`` members and a report.xml naming each
    with its phone path; ``missing`` phone paths are in the report only."""
    locals_ = {p: f"files/{n}_{p.rsplit('/', 1)[-1]}" for n, p in enumerate(files)}
    named = dict(locals_)
    named.update({p: f"files/missing_{n}" for n, p in enumerate(missing)})
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("report.xml", report if report is not None else ufdr_report(named))
        for path, data in files.items():
            zf.writestr(locals_[path], data)
    return out


def write_itunes_backup(
    out: Path,
    files: Mapping[str, bytes],
    *,
    device_name: str = "Sample iPhone",
    encrypted: bool = False,
    password: str = "sample password",
    missing: tuple[str, ...] = (),
) -> Path:
    """An iTunes/Finder backup folder. ``files`` paths are
    ``domain/relativePath`` (``CameraRollDomain/Media/DCIM/…``); ``missing``
    ones are in Manifest.db without their stored file. ``encrypted``: under
    ``password`` (``write_encrypted_backup``)."""
    if encrypted:
        return write_encrypted_backup(
            out, files, password=password, device_name=device_name, missing=missing
        )
    out.mkdir(parents=True)
    info = {"Device Name": device_name, "Product Type": "iPhone13,2",
            "Product Version": "17.1"}  # fmt: skip
    (out / "Info.plist").write_bytes(plistlib.dumps(info))
    (out / "Manifest.plist").write_bytes(
        plistlib.dumps(
            {"IsEncrypted": encrypted, "Lockdown": {"DeviceName": device_name}}
        )
    )
    db = sqlite3.connect(out / "Manifest.db")
    db.execute(_FILES_TABLE)
    for path in [*files, *missing]:
        domain, relative = path.split("/", 1)
        file_id = _file_id(domain, relative)
        db.execute("INSERT INTO Files VALUES (?, ?, ?, 1, NULL)",
                   (file_id, domain, relative))  # fmt: skip
        if path in files:
            (out / file_id[:2]).mkdir(exist_ok=True)
            (out / file_id[:2] / file_id).write_bytes(files[path])
    db.execute("INSERT INTO Files VALUES ('dir0', 'HomeDomain', 'Library', 2, NULL)")
    db.commit()
    db.close()
    return out


_FILES_TABLE = (
    "CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, "
    "relativePath TEXT, flags INTEGER, file BLOB)"
)


def _file_id(domain: str, relative: str) -> str:
    return hashlib.sha1(f"{domain}-{relative}".encode()).hexdigest()


# --- encrypted backups ----------------------------------------------------------
#
# The layout public descriptions of iOS 10.2+ backups give (and that
# iphone_backup_decrypt reads): a keybag (TLV) in Manifest.plist whose class
# keys are wrapped (RFC 3394) with PBKDF2-SHA1(PBKDF2-SHA256(password, DPSL,
# DPIC), SALT, ITER); Manifest.db and each file AES-256-CBC, IV zero, PKCS#7,
# under keys wrapped with a class key. Real backups use DPIC = 10,000,000 and
# ITER = 10,000; the samples default to a few rounds so tests stay fast.

#: Protection classes given keys in the sample keybag (files use 3, the
#: manifest 4, as iOS does).
_CLASSES = (1, 2, 3, 4, 5, 6, 7, 11)
FILE_CLASS, MANIFEST_CLASS = 3, 4


def _tlv(tag: bytes, value: bytes | int) -> bytes:
    data = struct.pack(">L", value) if isinstance(value, int) else value
    return tag + struct.pack(">L", len(data)) + data


def _pad(data: bytes) -> bytes:
    n = 16 - len(data) % 16
    return data + bytes([n]) * n


def cbc_encrypt(key: bytes, data: bytes) -> bytes:
    """AES-256-CBC, IV zero, PKCS#7: how a backup stores a file."""
    return AES.new(key, AES.MODE_CBC, iv=bytes(16)).encrypt(_pad(data))


def wrap_key(kek: bytes, key: bytes) -> bytes:
    """``key`` wrapped with ``kek`` (RFC 3394, as keybags wrap keys)."""
    return bytes(AES.new(kek, AES.MODE_KW).seal(key))


def backup_keybag(
    password: str, rand: random.Random, *, dpic: int, iterations: int
) -> tuple[bytes, dict[int, bytes]]:
    """A backup keybag (TLV bytes) and its class keys by class; ``dpic`` 0:
    the layout before iOS 10.2 (no ``DPIC``/``DPSL``: PBKDF2-SHA1 only)."""
    dpsl, salt = rand.randbytes(20), rand.randbytes(20)
    secret = password.encode()
    if dpic:
        secret = hashlib.pbkdf2_hmac("sha256", secret, dpsl, dpic, 32)
    kek = hashlib.pbkdf2_hmac("sha1", secret, salt, iterations, 32)
    parts = [
        _tlv(b"VERS", 4 if dpic else 3), _tlv(b"TYPE", 1),
        _tlv(b"UUID", rand.randbytes(16)), _tlv(b"HMCK", rand.randbytes(40)),
        _tlv(b"WRAP", 0), _tlv(b"SALT", salt), _tlv(b"ITER", iterations),
    ]  # fmt: skip
    if dpic:
        parts += [_tlv(b"DPWT", 1), _tlv(b"DPIC", dpic), _tlv(b"DPSL", dpsl)]
    keys = {}
    for clas in _CLASSES:
        keys[clas] = rand.randbytes(32)
        parts += [
            _tlv(b"UUID", rand.randbytes(16)), _tlv(b"CLAS", clas), _tlv(b"WRAP", 3),
            _tlv(b"KTYP", 0), _tlv(b"WPKY", wrap_key(kek, keys[clas])),
        ]  # fmt: skip
    return b"".join(parts), keys


def _file_blob(relative: str, size: int, key_blob: bytes | None) -> bytes:
    """The NSKeyedArchiver plist of an ``MBFile`` (``Files.file``)."""
    mbfile: dict[str, object] = {
        "$class": plistlib.UID(3), "RelativePath": plistlib.UID(2), "Size": size,
        "ProtectionClass": FILE_CLASS, "LastModified": FIXED_TIME,
        "Birth": FIXED_TIME, "LastStatusChange": FIXED_TIME, "Mode": 0o100644,
        "UserID": 501, "GroupID": 501, "InodeNumber": 1000, "Flags": 0,
    }  # fmt: skip
    mbclass = {"$classname": "MBFile", "$classes": ["MBFile", "NSObject"]}
    objects: list[object] = ["$null", mbfile, relative, mbclass]
    if key_blob is not None:
        mbfile["EncryptionKey"] = plistlib.UID(4)
        objects += [
            {"NS.data": key_blob, "$class": plistlib.UID(5)},
            {"$classname": "NSMutableData",
             "$classes": ["NSMutableData", "NSData", "NSObject"]},
        ]  # fmt: skip
    archive = {"$version": 100000, "$archiver": "NSKeyedArchiver",
               "$top": {"root": plistlib.UID(1)}, "$objects": objects}  # fmt: skip
    return plistlib.dumps(archive, fmt=plistlib.FMT_BINARY)


def write_encrypted_backup(
    out: Path,
    files: Mapping[str, bytes],
    *,
    password: str,
    device_name: str = "Sample iPhone",
    missing: tuple[str, ...] = (),
    dpic: int = 10,
    iterations: int = 10,
    seed: int = 14,
) -> Path:
    """An encrypted iTunes/Finder backup (iOS 10.2+ layout) of ``files``,
    under ``password``; ``dpic``/``iterations`` are the PBKDF2 rounds (real
    backups: 10,000,000 and 10,000). ``dpic`` 0: the layout before iOS 10.2
    (PBKDF2-SHA1 only, ``Manifest.db`` not encrypted, the files are)."""
    rand = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    keybag, keys = backup_keybag(password, rand, dpic=dpic, iterations=iterations)
    db = sqlite3.connect(":memory:")
    db.execute(_FILES_TABLE)
    for path in [*files, *missing]:
        domain, relative = path.split("/", 1)
        file_id, key = _file_id(domain, relative), rand.randbytes(32)
        data = files.get(path, b"")
        key_blob = struct.pack("<l", FILE_CLASS) + wrap_key(keys[FILE_CLASS], key)
        blob = _file_blob(relative, len(data), key_blob)
        db.execute("INSERT INTO Files VALUES (?, ?, ?, 1, ?)",
                   (file_id, domain, relative, blob))  # fmt: skip
        if path in files:
            (out / file_id[:2]).mkdir(exist_ok=True)
            (out / file_id[:2] / file_id).write_bytes(cbc_encrypt(key, data))
    db.execute("INSERT INTO Files VALUES ('dir0', 'HomeDomain', 'Library', 2, ?)",
               (_file_blob("Library", 0, None),))  # fmt: skip
    db.commit()
    manifest_key = rand.randbytes(32)
    plain_db = db.serialize()
    (out / "Manifest.db").write_bytes(
        cbc_encrypt(manifest_key, plain_db) if dpic else plain_db
    )
    db.close()
    info = {"Device Name": device_name, "Product Type": "iPhone13,2",
            "Product Version": "17.1"}  # fmt: skip
    (out / "Info.plist").write_bytes(plistlib.dumps(info))
    wrapped = wrap_key(keys[MANIFEST_CLASS], manifest_key)
    manifest = {
        "IsEncrypted": True, "BackupKeyBag": keybag, "Version": "10.0",
        "ManifestKey": struct.pack("<l", MANIFEST_CLASS) + wrapped,
        "Lockdown": {"DeviceName": device_name, "ProductVersion": "17.1"},
    }  # fmt: skip
    if not dpic:  # before iOS 10.2: Manifest.db itself is not encrypted
        del manifest["ManifestKey"]
    (out / "Manifest.plist").write_bytes(plistlib.dumps(manifest))
    return out


def write_folder(out: Path, files: Mapping[str, bytes]) -> Path:
    """A folder of the files (a phone's media copied off)."""
    for path, data in files.items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return out
