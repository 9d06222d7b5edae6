"""Non-media files for tests and benchmarks: a browser-cache-like entry that
holds a picture behind a header of its own, and files that hold no picture
at all (the in-file signature scan must find nothing in them).

Everything is generated from a seed; nothing is a real program or cache.
"""

from __future__ import annotations

import random
import struct
import zlib

#: A Chrome "simple cache" entry starts with this magic (little-endian), and
#: each of its streams ends with an EOF record starting with the second.
SIMPLE_CACHE_MAGIC = 0xFCFB6D1BA7725C30
SIMPLE_EOF_MAGIC = 0xF4FA6F45970D41D8


def cache_entry(body: bytes, url: str = "https://example.invalid/a.jpg") -> bytes:
    """A browser-cache-like file: a binary header and the URL key, ``body``
    (a picture, stored as received), an EOF record, then the HTTP headers as
    a second stream and its EOF record (the layout of Chrome's simple cache
    ``*_0`` files, close enough for a signature search)."""
    key = url.encode()
    head = struct.pack("<QIII", SIMPLE_CACHE_MAGIC, 5, len(key), zlib.crc32(key))
    head += struct.pack("<I", 0) + key

    def eof(stream: bytes) -> bytes:
        crc = zlib.crc32(stream)
        return struct.pack("<QIII", SIMPLE_EOF_MAGIC, 1, crc, len(stream))

    headers = (
        b"HTTP/1.1 200\x00content-type: image/jpeg\x00cache-control: max-age=3600"
        b"\x00\x00"
    )
    return head + body + eof(body) + headers + eof(headers)


def random_binary(seed: int, size: int) -> bytes:
    """``size`` bytes of seeded noise (an unknown binary, encrypted data)."""
    return random.Random(seed).randbytes(size)


def program(seed: int, size: int, resource: bytes = b"") -> bytes:
    """A PE-like file ("MZ" header, "PE" signature) of noise, with
    ``resource`` (an icon, say) inside: programs are not searched."""
    body = bytearray(random_binary(seed, size))
    body[:2] = b"MZ"
    struct.pack_into("<I", body, 0x3C, 0x80)
    body[0x80:0x84] = b"PE\x00\x00"
    if resource:
        at = size // 2
        body[at : at + len(resource)] = resource
    return bytes(body)


def unrelated_files(seed: int, picture: bytes) -> dict[str, bytes]:
    """Non-media files that hold no whole picture: noise, zeros, text in UTF-8
    and UTF-16, a log, noise full of JPEG and PNG signatures that do not
    parse, ``picture`` (a JPEG) cut short, compressed, or with every byte
    after its header flipped, and a program holding ``picture`` (programs are
    not searched). Keys are paths on a device."""
    rng = random.Random(seed)
    noise = bytearray(random_binary(seed, 3 << 20))
    for _ in range(2000):  # JPEG and PNG signatures that lead nowhere
        at = rng.randrange(len(noise) - 16)
        noise[at : at + 8] = rng.choice(
            (b"\xff\xd8\xff\xe0\x00\x10JF", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xdb")
        )
    mangled = picture[:20] + bytes(b ^ 0x5A for b in picture[20:])
    return {
        "ProgramData/app/blob.bin": random_binary(seed + 1, 2 << 20),
        "ProgramData/app/signatures.bin": bytes(noise),
        "ProgramData/app/zeros.dat": bytes(1 << 20),
        "Users/a/AppData/Local/app/cut.cache": random_binary(seed + 2, 5000)
        + picture[: len(picture) // 2]
        + random_binary(seed + 3, 9000),
        "Users/a/AppData/Local/app/packed.bin": b"\x01PACK"
        + zlib.compress(picture * 3)
        + random_binary(seed + 4, 7000),
        "Users/a/AppData/Local/app/mangled.bin": random_binary(seed + 5, 6000)
        + mangled,
        "Windows/app.exe": program(seed + 6, 1 << 20, picture),
        "Users/a/notes.txt": b"Shopping list and meeting notes.\n" * 3000,
        "Users/a/report.reg": "\ufeffWindows Registry Editor Version 5.00\r\n".encode(
            "utf-16-le"
        )
        + ("[HKEY_CURRENT_USER\\Software\\App]\r\n" * 400).encode("utf-16-le"),
        "Windows/Logs/setup.log": "".join(
            f"{k:06d} step {rng.random():.6f} ok\n" for k in range(20000)
        ).encode(),
    }
