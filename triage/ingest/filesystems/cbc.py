"""AES-CBC ciphertext read as plaintext with random access, in memory.

CBC decrypts any block from its own ciphertext and the block before it (the
first block's "before" is the IV), so a reader can start anywhere: reading
plaintext bytes ``[a, b)`` costs the ciphertext blocks that cover them plus
one before. Nothing is ever decrypted to disk, and memory is what one read
asks for. Used for encrypted iTunes/Finder backups (each file, IV zero) and
encrypted Android backups (the payload, IV from the header).

PKCS#7 padding: the last block ends with ``n`` bytes of value ``n``
(1..16); ``plain_size`` finds the plaintext length from it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from Crypto.Cipher import AES

BLOCK = 16


class CbcReader:
    """Plaintext of an AES-CBC ciphertext, ``read_cipher(offset, size)``
    giving the ciphertext bytes (``cipher_size`` of them in all)."""

    def __init__(
        self,
        read_cipher: Callable[[int, int], bytes],
        cipher_size: int,
        key: bytes,
        iv: bytes,
    ) -> None:
        self._read, self._key, self._iv = read_cipher, key, iv
        #: Whole blocks only: a cut-off last block cannot be decrypted.
        self.cipher_size = cipher_size - cipher_size % BLOCK

    def pread(self, offset: int, size: int) -> bytes:
        """Up to ``size`` plaintext bytes at ``offset`` (padding included:
        the caller trims to ``plain_size``)."""
        end = min(offset + size, self.cipher_size)
        if size <= 0 or offset >= end:
            return b""
        first = offset - offset % BLOCK
        last = -(-end // BLOCK) * BLOCK
        if first == 0:
            iv, data = self._iv, memoryview(self._read(0, last))
        else:
            raw = memoryview(self._read(first - BLOCK, last - first + BLOCK))
            iv, data = bytes(raw[:BLOCK]), raw[BLOCK:]
        data = data[: len(data) - len(data) % BLOCK]  # a short read: whole blocks
        if len(iv) < BLOCK or not data:
            return b""
        plain = AES.new(self._key, AES.MODE_CBC, iv=iv).decrypt(data)
        if offset == first and end - first == len(plain):
            return plain  # an aligned read: no copy
        return plain[offset - first : end - first]

    def padding(self) -> int:
        """The PKCS#7 padding length of the last block.

        Raises:
            ValueError: no whole block, or the last block's padding is not
                valid (wrong key, or damaged or cut-off data).
        """
        if self.cipher_size == 0:
            raise ValueError("no whole AES block")
        tail = self.pread(self.cipher_size - BLOCK, BLOCK)
        n = tail[-1] if len(tail) == BLOCK else 0
        if not 1 <= n <= BLOCK or tail[-n:] != bytes([n]) * n:
            raise ValueError("invalid PKCS#7 padding (wrong key or damaged data)")
        return n

    def plain_size(self) -> int:
        """The plaintext length (padding removed).

        Raises:
            ValueError: as ``padding``.
        """
        return self.cipher_size - self.padding()


class CbcFile:
    """A ``CbcReader`` as a read-only file object (seekable), ``size``
    plaintext bytes long."""

    def __init__(self, reader: CbcReader, size: int) -> None:
        self._reader, self._size, self._pos = reader, size, 0

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = self._size - self._pos
        size = max(0, min(size, self._size - self._pos))
        data = self._reader.pread(self._pos, size)
        self._pos += len(data)
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        base = {os.SEEK_SET: 0, os.SEEK_CUR: self._pos, os.SEEK_END: self._size}
        self._pos = max(0, base[whence] + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def close(self) -> None:
        """Nothing of its own to close."""
