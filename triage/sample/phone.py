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
import sqlite3
import tarfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

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
    out: Path, files: Mapping[str, bytes], *, encrypted: bool = False
) -> Path:
    """An ``adb backup`` file: version 5, compressed; ``encrypted`` writes
    the AES-256 header lines and random bytes (it is never read)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _add_tar(tar, files)
    if encrypted:
        header = b"ANDROID BACKUP\n5\n1\nAES-256\n" + b"00" * 32 + b"\n"
        out.write_bytes(header + hashlib.sha256(buf.getvalue()).digest() * 64)
    else:
        out.write_bytes(b"ANDROID BACKUP\n5\n1\nnone\n" + zlib.compress(buf.getvalue()))
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
    missing: tuple[str, ...] = (),
) -> Path:
    """An iTunes/Finder backup folder. ``files`` paths are
    ``domain/relativePath`` (``CameraRollDomain/Media/DCIM/…``); ``missing``
    ones are in Manifest.db without their stored file."""
    out.mkdir(parents=True)
    info = {"Device Name": device_name, "Product Type": "iPhone13,2",
            "Product Version": "17.1"}  # fmt: skip
    (out / "Info.plist").write_bytes(plistlib.dumps(info))
    (out / "Manifest.plist").write_bytes(
        plistlib.dumps(
            {"IsEncrypted": encrypted, "Lockdown": {"DeviceName": device_name}}
        )
    )
    if encrypted:
        (out / "Manifest.db").write_bytes(hashlib.sha256(b"x").digest() * 128)
        return out
    db = sqlite3.connect(out / "Manifest.db")
    db.execute(
        "CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, "
        "relativePath TEXT, flags INTEGER, file BLOB)"
    )
    for path in [*files, *missing]:
        domain, relative = path.split("/", 1)
        file_id = hashlib.sha1(f"{domain}-{relative}".encode()).hexdigest()
        db.execute("INSERT INTO Files VALUES (?, ?, ?, 1, NULL)",
                   (file_id, domain, relative))  # fmt: skip
        if path in files:
            (out / file_id[:2]).mkdir(exist_ok=True)
            (out / file_id[:2] / file_id).write_bytes(files[path])
    db.execute("INSERT INTO Files VALUES ('dir0', 'HomeDomain', 'Library', 2, NULL)")
    db.commit()
    db.close()
    return out


def write_folder(out: Path, files: Mapping[str, bytes]) -> Path:
    """A folder of the files (a phone's media copied off)."""
    for path, data in files.items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return out
