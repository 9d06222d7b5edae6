"""Whether bytes are one whole baseline JPEG, checked by FFmpeg's decoder.

The bifragment search (``triage.ingest.bifragment``) joins a broken
picture's first piece to a candidate second piece and must tell whether the
result is the picture: every MCU of the scan decodes without an error, and
the data ends right after the last MCU (at most one padding byte).
``jpeg_entropy`` checks that in Python (about 5 MB of entropy-coded data a
second); FFmpeg's MJPEG decoder (bundled with PyAV, already a dependency for
video) does it in C, some 10 times faster, in two decodes with
``err_detect=explode`` (any error fails the decode: a code not in the
tables, more than 64 coefficients in a block, a DC code out of range):

1. The picture with 128 one bits (16 bytes 0xFF, each stuffed as ``FF 00``)
   put before its EOI marker must decode. FFmpeg decodes exactly the MCUs
   the frame header counts and then stops; if the data runs out before they
   are done, it reads the one bits, and no Huffman code is all ones, so it
   fails (its own end-of-data check alone lets the last MCU run short, and
   past the data it reads zeros, which decode). A code that starts in the
   data may end in the ones (27 bits at most, with its magnitude bits); the
   next one then reads 16 ones or more. So the data holds all the MCUs,
   without an error.
2. The same with the last two bytes of the entropy-coded data left out must
   *not* decode: the MCUs then need more than the data has, so they end in
   the last two bytes. Data that goes on past them (a second piece that
   starts too early, another picture's tail holding more MCUs, bytes after
   the scan) still decodes, and is refused.

That is the Python check's criterion (all MCUs, then at most one byte).
One case differs, on the safe side: when the two bytes left out end in
one bits that the appended ones stand in for, check 2 decodes and a whole
picture is refused; the caller then asks the Python decoder. ``lowres=3``
spares FFmpeg most of the inverse-DCT work: only the entropy decoding is
wanted. Progressive and arithmetic-coded pictures are not checked here.
"""

from __future__ import annotations

#: One bits (0xFF stuffed as FF 00) put before the EOI marker: 128 of them.
_ONES = b"\xff\x00" * 16
_EOI = b"\xff\xd9"


def decodes_whole(picture: bytes) -> bool:
    """Whether ``picture`` (a baseline JPEG from SOI to its EOI marker)
    decodes to exactly the MCUs its frame header counts, with at most one
    byte after the last of them."""
    if not picture.endswith(_EOI) or len(picture) < 8:
        return False
    body = picture[: -len(_EOI)]
    return _decodes(body + _ONES + _EOI) and not _decodes(body[:-2] + _ONES + _EOI)


def decodes_every_mcu(picture: bytes) -> bool:
    """Whether ``picture`` (a baseline JPEG from SOI to its EOI marker) holds
    every MCU its frame header counts, each decoding without an error: check
    1 above alone (bytes after the last MCU allowed), one decode."""
    if not picture.endswith(_EOI) or len(picture) < 8:
        return False
    return _decodes(picture[: -len(_EOI)] + _ONES + _EOI)


def _decodes(data: bytes) -> bool:
    """Whether FFmpeg decodes ``data`` to a frame without any error."""
    import av  # noqa: PLC0415 - FFmpeg loads on first use, not at the CLI's start

    codec = av.CodecContext.create("mjpeg", "r")
    codec.options = {"err_detect": "explode", "lowres": "3"}
    codec.thread_count = 1
    try:
        frames = codec.decode(av.Packet(data))
        frames += codec.decode(None)
    except av.error.FFmpegError:
        return False
    return len(frames) == 1
