"""Files that hold pictures inside them, built in memory for tests and demos.

A JPEG carrying an EXIF thumbnail of another picture, a PDF whose image
objects are given pictures (JPEG as DCTDecode, others as Flate pixels), and a
chat-app-like SQLite database with pictures in a BLOB column. Written by hand
(PDF, EXIF) so tests can also damage them exactly.
"""

from __future__ import annotations

import io
import sqlite3
import struct
import zlib
from collections.abc import Mapping

from PIL import Image


def jpeg_with_thumbnail(main: bytes, thumbnail: bytes) -> bytes:
    """``main`` (a JPEG) with an EXIF segment whose IFD1 thumbnail is
    ``thumbnail`` (a JPEG under 64 KiB)."""
    # TIFF header, IFD0 with one entry (Orientation), IFD1 with the thumbnail.
    ifd0 = struct.pack("<H", 1) + struct.pack("<HHII", 0x112, 3, 1, 1)
    ifd1_at = 8 + len(ifd0) + 4
    ifd1 = struct.pack("<H", 3)
    data_at = ifd1_at + 2 + 3 * 12 + 4
    ifd1 += struct.pack("<HHII", 0x103, 3, 1, 6)  # Compression: JPEG
    ifd1 += struct.pack("<HHII", 0x201, 4, 1, data_at)
    ifd1 += struct.pack("<HHII", 0x202, 4, 1, len(thumbnail))
    tiff = b"II*\x00" + struct.pack("<I", 8) + ifd0 + struct.pack("<I", ifd1_at)
    tiff += ifd1 + struct.pack("<I", 0) + thumbnail
    payload = b"Exif\x00\x00" + tiff
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("thumbnail too large for one EXIF segment")
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return main[:2] + app1 + main[2:]


def _stream(entries: bytes, data: bytes, length: bytes | None = None) -> bytes:
    length = length if length is not None else b"%d" % len(data)
    return (
        b"<< "
        + entries
        + b" /Length "
        + length
        + b" >>\nstream\n"
        + data
        + (b"\nendstream")
    )


def pdf_bytes(objects: Mapping[int, bytes], root: int = 1) -> bytes:
    """A PDF of the given numbered objects, with a classic xref table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets: dict[int, int] = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    xref, size = len(out), max(objects) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    for number in range(1, size):
        at = offsets.get(number)
        out += b"0000000000 65535 f \n" if at is None else b"%010d 00000 n \n" % at
    out += b"trailer\n<< /Size %d /Root %d 0 R >>\n" % (size, root)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def image_object(picture: bytes) -> bytes:
    """An image XObject: a JPEG as it is (DCTDecode), any other picture as
    Flate-compressed RGB pixels."""
    with Image.open(io.BytesIO(picture)) as image:
        width, height, fmt = image.width, image.height, image.format
        pixels = b"" if fmt == "JPEG" else image.convert("RGB").tobytes()
    head = b"/Type /XObject /Subtype /Image /Width %d /Height %d " % (width, height)
    head += b"/ColorSpace /DeviceRGB /BitsPerComponent 8 "
    if fmt == "JPEG":
        return _stream(head + b"/Filter /DCTDecode", picture)
    return _stream(head + b"/Filter /FlateDecode", zlib.compress(pixels))


def pdf_with_pictures(pictures: list[bytes], *, looping: bool = False) -> bytes:
    """A one-page PDF showing ``pictures`` (objects 5, 6, ...). ``looping``
    makes its page tree its own child and an extra object refer to itself."""
    names = b" ".join(b"/Im%d %d 0 R" % (i, 5 + i) for i in range(len(pictures)))
    draw = b" ".join(
        b"q 100 0 0 100 0 0 cm /Im%d Do Q" % i for i in range(len(pictures))
    )
    kids = b"[3 0 R 2 0 R]" if looping else b"[3 0 R]"
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids " + kids + b" /Count 1 /Parent 2 0 R >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /XObject << " + names + b" >> >> /Contents 4 0 R >>",
        4: _stream(b"", draw),
    }
    for i, picture in enumerate(pictures):
        objects[5 + i] = image_object(picture)
    if looping:
        extra = 5 + len(pictures)
        objects[extra] = b"%d 0 R" % extra
        objects[extra + 1] = _stream(
            b"/Type /XObject /Subtype /Image", b"x", b"%d 0 R" % extra
        )
    return pdf_bytes(objects)


def chat_database(pictures: Mapping[int, bytes], *, filler_rows: int = 0) -> bytes:
    """A chat-app-like SQLite database (bytes): ``messages`` rows whose
    ``thumb_image`` BLOB holds ``pictures[rowid]``, other rows text only, and
    a ``media_keys`` table of BLOBs that are not pictures."""
    con = sqlite3.connect(":memory:")
    try:
        con.execute(
            "CREATE TABLE messages (_id INTEGER PRIMARY KEY, key_remote TEXT, "
            "data TEXT, thumb_image BLOB)"
        )
        con.execute("CREATE TABLE media_keys (_id INTEGER PRIMARY KEY, key BLOB)")
        last = max([*pictures, filler_rows])
        for rowid in range(1, last + 1):
            con.execute(
                "INSERT INTO messages VALUES (?, ?, ?, ?)",
                (rowid, "4477001@s.example", f"message {rowid} " * 8,
                 pictures.get(rowid)),
            )  # fmt: skip
            con.execute("INSERT INTO media_keys VALUES (?, ?)", (rowid, bytes(32)))
        con.commit()
        return con.serialize()
    finally:
        con.close()
