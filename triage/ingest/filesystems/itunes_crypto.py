"""Encrypted iTunes/Finder backups, decrypted in memory with the password.

An encrypted backup (``Manifest.plist`` ``IsEncrypted``) holds:

- ``BackupKeyBag``: a keybag (TLV) whose class keys are wrapped (RFC 3394)
  with a key derived from the password: PBKDF2-SHA256 (``DPSL``, ``DPIC``
  rounds: 10 million in real backups) then PBKDF2-SHA1 (``SALT``, ``ITER``).
  Backups before iOS 10.2 have the second step only.
- ``ManifestKey``: 4 bytes of protection class (little-endian) and the
  wrapped key of ``Manifest.db``, itself AES-256-CBC (IV zero, PKCS#7).
- in ``Manifest.db`` each file's ``file`` blob (an NSKeyedArchiver plist):
  ``Size``, ``ProtectionClass`` and ``EncryptionKey`` (4 bytes of class, then
  the wrapped file key); the stored file ``xx/<fileID>`` is AES-256-CBC with
  IV zero and PKCS#7 padding.

The keybag parse and unlock, key unwrapping and the file-blob parse come
from ``iphone_backup_decrypt`` (a maintained library, MIT). Its own
``EncryptedBackup`` writes the decrypted ``Manifest.db`` to a temporary
folder, so it is not used: here ``Manifest.db`` is decrypted into bytes and
opened with ``sqlite3``'s ``deserialize`` (read-only, temporary storage in
memory), and files are read through a seekable decrypting reader
(``cbc.CbcReader``), so nothing decrypted is ever written anywhere and a
large video streams with bounded memory.

The password-derived key is kept in this process's memory (never on disk)
so each worker pays the 10-million-round derivation once, not per chunk.
"""

from __future__ import annotations

import hashlib
import plistlib
import sqlite3
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iphone_backup_decrypt.exceptions import UnsafeBackupError
from iphone_backup_decrypt.utils import BackupKeyBag, FilePlist

from triage.errors import FilesystemError
from triage.ingest.filesystems.cbc import BLOCK, CbcReader

WRONG_PASSWORD = "wrong password"
SQLITE_MAGIC = b"SQLite format 3\x00"
_IV = bytes(BLOCK)
#: The most PBKDF2-SHA1 rounds a legacy keybag may ask for (the library's
#: own bound for ``ITER``): a hostile backup does not hold a worker for hours.
MAX_ITER = 1_000_000
#: (digest of the keybag, digest of the password) -> the derived key.
_DERIVED: dict[tuple[bytes, bytes], bytes] = {}


def load_manifest_plist(dev: str, folder: Path) -> dict[str, Any]:
    """``Manifest.plist`` of the backup.

    Raises:
        FilesystemError: missing or unreadable.
    """
    try:
        with open(folder / "Manifest.plist", "rb") as fh:
            plist = plistlib.load(fh)
    except (OSError, plistlib.InvalidFileException, ValueError) as exc:
        raise FilesystemError(
            where=dev, reason=f"Manifest.plist is unreadable: {exc}"
        ) from exc
    if not isinstance(plist, dict):
        raise FilesystemError(where=dev, reason="Manifest.plist is not a dictionary")
    return plist


def unlock_keybag(dev: str, name: str, plist: dict[str, Any], password: str) -> Any:
    """The backup's keybag, unlocked with ``password``.

    Raises:
        FilesystemError: "encrypted backup of NAME: wrong password", or a
            keybag that is missing, damaged or has unsafe iteration counts.
    """
    raw = plist.get("BackupKeyBag")
    if not isinstance(raw, bytes):
        raise FilesystemError(
            where=dev, reason=f"encrypted backup of {name}: no BackupKeyBag"
        )
    try:
        bag = BackupKeyBag(raw)
    except (ValueError, KeyError, TypeError, struct.error) as exc:
        raise FilesystemError(
            where=dev,
            reason=f"encrypted backup of {name}: BackupKeyBag is damaged: {exc}",
        ) from exc
    secret = password.encode("utf-8")
    cache = (hashlib.sha256(raw).digest(), hashlib.sha256(secret).digest())
    try:
        if cache in _DERIVED:
            unlocked = bag.unlock_with_key(_DERIVED[cache])
        elif b"DPIC" in bag.attrs:  # iOS 10.2 on: the library's derivation
            unlocked = bag.unlock_with_passphrase(secret)
        else:  # before: PBKDF2-SHA1 of the password only
            unlocked = bag.unlock_with_key(_legacy_key(bag.attrs, secret))
    except (UnsafeBackupError, KeyError, TypeError, ValueError) as exc:
        raise FilesystemError(
            where=dev, reason=f"encrypted backup of {name}: keybag not usable: {exc}"
        ) from exc
    if not unlocked:
        raise FilesystemError(
            where=dev, reason=f"encrypted backup of {name}: {WRONG_PASSWORD}"
        )
    _DERIVED[cache] = bytes(bag.passphrase_key)
    return bag


def _legacy_key(attrs: dict[bytes, Any], secret: bytes) -> bytes:
    """The class-key unwrapping key of a keybag without ``DPIC`` (before iOS
    10.2): PBKDF2-SHA1 of the password.

    Raises:
        ValueError: an iteration count that is not 1 to ``MAX_ITER``.
    """
    rounds = attrs[b"ITER"]
    if not isinstance(rounds, int) or not 1 <= rounds <= MAX_ITER:
        raise ValueError(f"ITER iteration count {rounds!r} out of bounds")
    return hashlib.pbkdf2_hmac("sha1", secret, attrs[b"SALT"], rounds, 32)


def class_key_unwrap(dev: str, bag: Any, blob: bytes, what: str) -> bytes:
    """The key of ``blob`` (4 bytes of protection class, little-endian, then
    the wrapped key).

    Raises:
        FilesystemError: too short, an unknown class, or it does not unwrap.
    """
    if len(blob) < 4 + 40:
        raise FilesystemError(where=dev, reason=f"{what}: wrapped key too short")
    (protection,) = struct.unpack("<l", blob[:4])
    try:
        return bytes(bag.unwrap_key_for_class(protection, blob[4:]))
    except ValueError as exc:
        raise FilesystemError(
            where=dev, reason=f"{what}: key does not unwrap: {exc}"
        ) from exc


def _decrypted(dev: str, path: Path, key: bytes) -> bytearray:
    """The plaintext of the encrypted ``Manifest.db`` at ``path`` (the file's
    bytes are let go on return).

    Raises:
        FilesystemError: it cannot be read, or does not decrypt.
    """
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise FilesystemError(
            where=dev, reason=f"Manifest.db: cannot read: {exc}"
        ) from exc
    reader = CbcReader(lambda at, size: data[at : at + size], len(data), key, _IV)
    try:
        return bytearray(reader.pread(0, reader.plain_size()))
    except ValueError as exc:
        raise FilesystemError(
            where=dev, reason=f"Manifest.db does not decrypt: {exc}"
        ) from exc


def decrypted_manifest(
    dev: str, path: Path, plist: dict[str, Any], bag: Any
) -> sqlite3.Connection | None:
    """``Manifest.db`` decrypted in memory and opened read-only (None: the
    backup has no ``ManifestKey``, as before iOS 10.2: it is not encrypted).

    Raises:
        FilesystemError: missing, does not decrypt, or not SQLite then.
    """
    blob = plist.get("ManifestKey")
    if blob is None:
        return None
    key = class_key_unwrap(dev, bag, bytes(blob), "Manifest.db")
    plain = _decrypted(dev, path, key)  # held alone: SQLite copies it again
    if not plain.startswith(SQLITE_MAGIC):
        raise FilesystemError(
            where=dev, reason="Manifest.db does not decrypt to SQLite"
        )
    plain[18:20] = b"\x01\x01"  # a WAL-mode header cannot be opened in memory
    db = sqlite3.connect(":memory:", check_same_thread=False)
    try:
        db.deserialize(plain)  # SQLite keeps its own copy
        db.execute("PRAGMA temp_store = MEMORY")
        db.execute("PRAGMA query_only = ON")
    except sqlite3.DatabaseError as exc:
        db.close()
        raise FilesystemError(
            where=dev, reason=f"decrypted Manifest.db: {exc}"
        ) from exc
    return db


@dataclass(frozen=True, slots=True)
class StoredFile:
    """What a ``file`` blob of an encrypted backup says of one file."""

    size: int
    mtime: float | None
    key_blob: bytes | None  # class (4 bytes LE) + wrapped key; None: not encrypted


def stored_file(blob: bytes | None) -> StoredFile:
    """The ``file`` blob of a ``Files`` row, parsed.

    Raises:
        ValueError: missing or not the NSKeyedArchiver plist expected.
    """
    if not blob:
        raise ValueError("no file blob in Manifest.db")
    try:
        parsed = FilePlist(bytes(blob))
        key_blob = None
        if parsed.encryption_key is not None:  # the wrapped key, class cut off
            protection = struct.pack("<l", int(parsed.protection_class))
            key_blob = protection + bytes(parsed.encryption_key)
        mtime = parsed.mtime
        return StoredFile(
            int(parsed.filesize), float(mtime) if mtime else None, key_blob
        )
    except (
        plistlib.InvalidFileException, KeyError, IndexError, TypeError,
        AttributeError, ValueError, struct.error,
    ) as exc:  # fmt: skip
        raise ValueError(f"file blob is not readable: {exc!r}") from exc


def plain_size(
    info: StoredFile, stored_size: int, reader: Callable[[], CbcReader]
) -> int:
    """The decrypted size of a stored file: the blob's ``Size`` when it fits
    the ciphertext (PKCS#7 adds 1 to 16 bytes), else from the padding.

    Raises:
        ValueError: not whole AES blocks, or bad padding.
    """
    if stored_size % BLOCK:
        raise ValueError(f"{stored_size} bytes: not a whole number of AES blocks")
    if stored_size - BLOCK <= info.size < stored_size:
        return info.size
    return reader().plain_size()


def file_reader(
    read_cipher: Callable[[int, int], bytes], stored_size: int, key: bytes
) -> CbcReader:
    """The decrypting reader of one stored file (IV zero)."""
    return CbcReader(read_cipher, stored_size, key, _IV)
