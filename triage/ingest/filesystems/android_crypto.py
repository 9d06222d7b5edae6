"""Encrypted Android backups (``adb backup`` with a password), decrypted as
they are read, in memory.

After the four plain header lines (``ANDROID BACKUP``, version, compressed,
``AES-256``) an encrypted ``.ab`` has five more: the user password salt
(hex), the master key checksum salt (hex), the PBKDF2 rounds, the user key
IV (hex) and the master key blob (hex). Then:

1. user key = PBKDF2-HMAC-SHA1(password, user salt, rounds, 32 bytes);
2. the blob, AES-256-CBC under (user key, user IV) with PKCS#7 padding,
   holds ``len, master IV, len, master key, len, checksum``;
3. checksum = PBKDF2-HMAC-SHA1(master key, checksum salt, rounds): a wrong
   password fails here (or at the padding or lengths before it);
4. the rest of the file is AES-256-CBC under (master key, master IV), and
   decrypted it is the zlib stream (or plain tar) of an unencrypted backup.

The quirk: Android derives both keys with Java's ``PBEKeySpec``, which takes
*characters*. From version 2 on, the master key bytes are first cast one by
one to Java ``char`` (sign-extended: byte 0x80 becomes U+FF80) and PBKDF2
encodes the characters as UTF-8, so the checksum is computed over that
encoding, not over the raw key; version 1 used the low 8 bits of each char
(the raw bytes). Both are tried for version 1, as Android itself does.

No maintained library does this, so it is written here on pycryptodome's
AES; the payload is decrypted block-wise through ``cbc.CbcReader`` (never
whole in memory, never on disk).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from Crypto.Cipher import AES

from triage.errors import FilesystemError
from triage.ingest.filesystems.cbc import BLOCK, CbcFile, CbcReader

ENCRYPTION = b"AES-256"
WRONG_PASSWORD = "wrong password"
#: The most PBKDF2 rounds a header may ask for (Android writes 10,000): a
#: hostile header does not hold a worker for hours.
MAX_ROUNDS = 5_000_000


@dataclass(frozen=True, slots=True)
class EncryptedHeader:
    """The five header lines of an encrypted ``.ab`` and where data starts."""

    version: int
    user_salt: bytes
    checksum_salt: bytes
    rounds: int
    user_iv: bytes
    master_blob: bytes
    data_at: int


def read_header(dev: str, head: bytes, at: int, version: int) -> EncryptedHeader:
    """The encryption lines of an ``.ab`` header, from byte ``at`` of
    ``head`` (the file's first bytes).

    Raises:
        FilesystemError: a line missing or not what it should be.
    """
    lines = head[at:].split(b"\n", 5)
    if len(lines) < 6:
        raise FilesystemError(
            where=dev, reason="encrypted Android backup: header cut short"
        )
    try:
        salt, ck_salt, iv, blob = (bytes.fromhex(lines[i].decode("ascii"))
                                   for i in (0, 1, 3, 4))  # fmt: skip
        rounds = int(lines[2])
    except (ValueError, UnicodeDecodeError) as exc:
        raise FilesystemError(
            where=dev, reason=f"encrypted Android backup: bad header line ({exc})"
        ) from exc
    if not 1 <= rounds <= MAX_ROUNDS or len(iv) != BLOCK or len(blob) % BLOCK:
        raise FilesystemError(
            where=dev,
            reason=f"encrypted Android backup: bad header (rounds {rounds}, "
            f"IV {len(iv)} bytes, key blob {len(blob)} bytes)",
        )
    data_at = at + sum(len(line) + 1 for line in lines[:5])
    return EncryptedHeader(version, salt, ck_salt, rounds, iv, blob, data_at)


def java_chars_utf8(raw: bytes) -> bytes:
    """``raw`` cast byte by byte to Java ``char`` (sign-extended) and encoded
    as UTF-8, as Android's PBKDF2 sees the master key from version 2 on."""
    return "".join(chr(b if b < 0x80 else 0xFF00 | b) for b in raw).encode("utf-8")


def _attempts(
    password: str, version: int
) -> list[tuple[bytes, Callable[[bytes], bytes]]]:
    """(password bytes, master key encoding) as PBKDF2 sees them: UTF-8 of
    Java chars; for version 1 also their low 8 bits (the raw bytes)."""
    utf8 = (password.encode("utf-8"), java_chars_utf8)
    if version >= 2:
        return [utf8]
    low = bytes(ord(c) & 0xFF for c in password)
    return [utf8, (low, lambda raw: raw)]


def _split_blob(plain: bytes) -> tuple[bytes, bytes, bytes] | None:
    """(master IV, master key, checksum) from a decrypted blob (None: the
    padding or the lengths do not hold, so the password is wrong)."""
    n = plain[-1] if plain else 0
    if not 1 <= n <= BLOCK or plain[-n:] != bytes([n]) * n:
        return None
    plain, parts, at = plain[:-n], [], 0
    for _ in range(3):
        if at >= len(plain):
            return None
        size = plain[at]
        parts.append(plain[at + 1 : at + 1 + size])
        at += 1 + size
        if len(parts[-1]) != size:
            return None
    return parts[0], parts[1], parts[2]


def master_key(dev: str, header: EncryptedHeader, password: str) -> tuple[bytes, bytes]:
    """(master key, master IV) of the backup, the checksum verified.

    Raises:
        FilesystemError: "encrypted Android backup: wrong password".
    """
    for secret, encode in _attempts(password, header.version):
        user_key = hashlib.pbkdf2_hmac(
            "sha1", secret, header.user_salt, header.rounds, 32
        )
        cipher = AES.new(user_key, AES.MODE_CBC, iv=header.user_iv)
        found = _split_blob(cipher.decrypt(header.master_blob))
        if found is None:
            continue
        iv, key, checksum = found
        expected = hashlib.pbkdf2_hmac(
            "sha1", encode(key), header.checksum_salt, header.rounds, 32
        )
        if expected == checksum and len(key) == 32 and len(iv) == BLOCK:
            return key, iv
    raise FilesystemError(
        where=dev, reason=f"encrypted Android backup: {WRONG_PASSWORD}"
    )


def payload(
    read: Callable[[int, int], bytes], size: int, key: bytes, iv: bytes
) -> CbcFile:
    """The decrypted payload (``size`` ciphertext bytes from ``read``) as a
    seekable file; a cut-off or damaged end keeps every whole block before
    it (the tar reader then records where it stopped)."""
    reader = CbcReader(read, size, key, iv)
    try:
        plain = reader.plain_size()
    except ValueError:
        plain = reader.cipher_size
    return CbcFile(reader, plain)
