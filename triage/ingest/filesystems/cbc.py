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

from collections.abc import Callable

from Crypto.Cipher import AES

from triage.ingest.filesystems.base import RecordIO

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


class CbcFile(RecordIO):
    """A ``CbcReader`` as a read-only file object (seekable), ``size``
    plaintext bytes long."""

    def __init__(self, reader: CbcReader, size: int) -> None:
        super().__init__(reader.pread, size)
