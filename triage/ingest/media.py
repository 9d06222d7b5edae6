"""Recognise media and archives by their content, never by their name.

One signature table, :data:`SIGNATURES`, maps a name to a :class:`Signature`
(MIME type, kind, and a test over the first :data:`SNIFF_BYTES` of a file).
Seized devices hold renamed, extensionless and deliberately disguised files, so
names are ignored: ``holiday.dat`` that starts ``FF D8 FF`` is a JPEG.

Tests are ordered most specific first (the ISO-BMFF ``ftyp`` brands decide
between HEIC, AVIF, MP4, QuickTime and 3GP, the RIFF form type between WebP and
AVI). Weak magic numbers (BMP's ``BM``) are checked for plausible header fields
so text and random bytes are not mistaken for media.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass

from triage.registry import Registry

#: How many leading bytes a file costs to classify. Enough for an ``ftyp`` box
#: with a long list of compatible brands, a Matroska EBML header and the
#: ``ustar`` magic of a tar file at offset 257.
SNIFF_BYTES = 4096

IMAGE = "image"
VIDEO = "video"
ARCHIVE = "archive"
#: A file that is neither media nor an archive but may hold pictures (a PDF,
#: an SQLite database): registered by the expander that reads it.
CONTAINER = "container"


@dataclass(frozen=True, slots=True)
class Signature:
    """One recognisable format.

    Whether an archive's members are walked is not said here: the
    ``EXPANDERS`` table (``triage.ingest.expanders``) says it, with the reason
    for the formats recognised but not expanded.
    """

    name: str
    mime: str
    kind: str  # IMAGE | VIDEO | ARCHIVE | CONTAINER
    test: Callable[[bytes], bool]


#: Every recognisable format, most specific first (tried in this order).
SIGNATURES: Registry[Signature] = Registry("media signature")


def register(signature: Signature) -> Signature:
    """Add a signature to the table (usable as a decorator); names are unique.

    Raises:
        ValueError: "duplicate signature name ..." when the name is taken.
    """
    if signature.name in SIGNATURES:
        raise ValueError(f"duplicate signature name {signature.name!r}")
    return SIGNATURES.register(signature)


def _prefix(*magics: bytes) -> Callable[[bytes], bool]:
    return lambda h: any(h.startswith(m) for m in magics)


# --- ISO base media file format (MP4, MOV, 3GP, HEIF, AVIF) -------------------

# Brand -> MIME. Major brand first, then compatible brands, so a file whose
# major brand is the generic "mif1" but which lists "heic" is HEIC.
_FTYP_BRANDS: dict[bytes, str] = {
    b"heic": "image/heic",
    b"heix": "image/heic",
    b"heim": "image/heic",
    b"heis": "image/heic",
    b"hevc": "image/heic-sequence",
    b"hevx": "image/heic-sequence",
    b"hevm": "image/heic-sequence",
    b"hevs": "image/heic-sequence",
    b"avif": "image/avif",
    b"avis": "image/avif",
    b"mif1": "image/heif",
    b"mif2": "image/heif",
    b"msf1": "image/heif-sequence",
    b"qt  ": "video/quicktime",
    b"3g2a": "video/3gpp2",
    b"3g2b": "video/3gpp2",
    b"3g2c": "video/3gpp2",
    b"isom": "video/mp4",
    b"iso2": "video/mp4",
    b"iso3": "video/mp4",
    b"iso4": "video/mp4",
    b"iso5": "video/mp4",
    b"iso6": "video/mp4",
    b"iso8": "video/mp4",
    b"mp41": "video/mp4",
    b"mp42": "video/mp4",
    b"mp71": "video/mp4",
    b"avc1": "video/mp4",
    b"M4V ": "video/mp4",
    b"M4VH": "video/mp4",
    b"M4VP": "video/mp4",
    b"dash": "video/mp4",
    b"f4v ": "video/mp4",
    b"mmp4": "video/mp4",
    b"MSNV": "video/mp4",
    b"NDAS": "video/mp4",
    b"XAVC": "video/mp4",
    b"crx ": "image/x-canon-cr3",
}
# Brands that say "audio only": such a file is not media for triage purposes
# even if it also lists a generic brand such as isom.
_GENERIC_BRANDS = {b"mif1", b"mif2", b"msf1", b"isom", b"mp41", b"mp42"} | {
    b"iso%d" % n for n in range(2, 10)
}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}


def _ftyp_brands(header: bytes) -> list[bytes] | None:
    if len(header) < 16 or header[4:8] != b"ftyp":
        return None
    size = struct.unpack(">I", header[:4])[0]
    if size < 16 or size % 4:
        return None
    end = min(size, len(header))
    brands = [header[8:12]]  # major brand; header[12:16] is the minor version
    brands += [header[i : i + 4] for i in range(16, end - 3, 4)]
    return brands


def ftyp_mime(header: bytes) -> str | None:
    """The MIME type an ISO-BMFF ``ftyp`` box declares, or None."""
    brands = _ftyp_brands(header)
    if not brands:
        return None
    if brands[0] in _AUDIO_BRANDS:
        return None
    # Specific brands win over the generic ones any writer may list.
    for brand in [b for b in brands if b not in _GENERIC_BRANDS] + brands:
        if brand[:3] in (b"3gp", b"3gg") or brand in (b"3gs7", b"3ge6", b"3ge7"):
            return "video/3gpp"
        if brand in _FTYP_BRANDS:
            return _FTYP_BRANDS[brand]
    return None


def _ftyp_kind(prefix: str) -> Callable[[bytes], bool]:
    def test(header: bytes) -> bool:
        mime = ftyp_mime(header)
        return mime is not None and mime.startswith(prefix)

    return test


# QuickTime files written before ftyp existed start straight with an atom.
_QT_ATOMS = {b"moov", b"mdat", b"wide", b"pnot"}


def _legacy_quicktime(header: bytes) -> bool:
    if len(header) < 8 or header[4:8] not in _QT_ATOMS:
        return False
    size = struct.unpack(">I", header[:4])[0]
    if header[4:8] == b"wide":
        return size == 8 and header[12:16] == b"mdat"
    return size == 1 or size >= 8


# --- other containers ----------------------------------------------------------


def _riff(form: bytes) -> Callable[[bytes], bool]:
    return lambda h: len(h) >= 12 and h[:4] == b"RIFF" and h[8:12] == form


def _bmp(header: bytes) -> bool:
    if len(header) < 26 or header[:2] != b"BM":
        return False
    file_size, reserved, pixel_offset, dib_size = struct.unpack("<IIII", header[2:18])
    if reserved != 0 or dib_size not in (12, 16, 40, 52, 56, 64, 108, 124):
        return False
    return 14 + dib_size <= pixel_offset and (
        file_size == 0 or file_size > pixel_offset
    )


def _tiff(header: bytes) -> bool:
    if len(header) < 8:
        return False
    if header[:4] in (b"II*\x00", b"MM\x00*"):
        order = "<" if header[:2] == b"II" else ">"
        return struct.unpack(order + "I", header[4:8])[0] >= 8
    # BigTIFF: version 43, offset size 8, reserved 0.
    return header[:8] in (b"II+\x00\x08\x00\x00\x00", b"MM\x00+\x00\x08\x00\x00")


def _read_vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at ``pos``: (value, next position)."""
    if pos >= len(data) or data[pos] == 0:
        return None
    first = data[pos]
    length = 8 - first.bit_length() + 1
    if pos + length > len(data):
        return None
    value = first if keep_marker else first & ((1 << (8 - length)) - 1)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    return value, pos + length


def ebml_doctype(header: bytes) -> str | None:
    """The DocType of an EBML header (``matroska``, ``webm``), or None."""
    head = _read_vint(header, 0, keep_marker=True)
    if head is None or head[0] != 0x1A45DFA3:
        return None
    size = _read_vint(header, head[1], keep_marker=False)
    if size is None:
        return None
    pos, end = size[1], min(len(header), size[1] + size[0])
    while pos < end:
        element = _read_vint(header, pos, keep_marker=True)
        if element is None:
            return None
        length = _read_vint(header, element[1], keep_marker=False)
        if length is None:
            return None
        start, stop = length[1], length[1] + length[0]
        if element[0] == 0x4282:  # DocType
            return header[start:stop].rstrip(b"\x00").decode("ascii", "replace")
        pos = stop
    # DocType is mandatory; its default value is "matroska".
    return "matroska" if pos == size[1] + size[0] else None


def _ebml(doctype: str) -> Callable[[bytes], bool]:
    return lambda h: h[:4] == b"\x1a\x45\xdf\xa3" and ebml_doctype(h) == doctype


def _mpeg_ts(header: bytes) -> bool:
    packets = min(len(header) // 188, 8)
    return packets >= 4 and all(header[i * 188] == 0x47 for i in range(packets))


def _bzip2(header: bytes) -> bool:
    # "BZh" + block size digit + the magic of a block (pi) or of the end (sqrt pi).
    return (
        header[:3] == b"BZh"
        and header[3:4] in (b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9")
        and header[4:10]
        in (bytes.fromhex("314159265359"), bytes.fromhex("177245385090"))
    )


def _tar(header: bytes) -> bool:
    return header[257:262] == b"ustar"


_ASF_GUID = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")

# The table, most specific first (registration order is lookup order).
for _sig in (
    Signature("jpeg", "image/jpeg", IMAGE, _prefix(b"\xff\xd8\xff")),
    Signature("png", "image/png", IMAGE, _prefix(b"\x89PNG\r\n\x1a\n")),
    Signature("gif", "image/gif", IMAGE, _prefix(b"GIF87a", b"GIF89a")),
    Signature("webp", "image/webp", IMAGE, _riff(b"WEBP")),
    Signature("tiff", "image/tiff", IMAGE, _tiff),
    Signature("bmp", "image/bmp", IMAGE, _bmp),
    Signature(
        "jpeg2000", "image/jp2", IMAGE, _prefix(b"\x00\x00\x00\x0cjP  \r\n\x87\n")
    ),
    Signature("jpegxl", "image/jxl", IMAGE, _prefix(b"\x00\x00\x00\x0cJXL \r\n\x87\n")),
    Signature("isobmff-image", "image/heic", IMAGE, _ftyp_kind("image/")),
    Signature("isobmff-video", "video/mp4", VIDEO, _ftyp_kind("video/")),
    Signature("quicktime-legacy", "video/quicktime", VIDEO, _legacy_quicktime),
    Signature("avi", "video/x-msvideo", VIDEO, _riff(b"AVI ")),
    Signature("webm", "video/webm", VIDEO, _ebml("webm")),
    Signature("matroska", "video/x-matroska", VIDEO, _ebml("matroska")),
    Signature("asf", "video/x-ms-asf", VIDEO, _prefix(_ASF_GUID)),
    Signature("flv", "video/x-flv", VIDEO, _prefix(b"FLV\x01")),
    Signature("mpeg-ps", "video/mpeg", VIDEO, _prefix(b"\x00\x00\x01\xba")),
    Signature("mpeg-ts", "video/mp2t", VIDEO, _mpeg_ts),
    Signature(
        "zip",
        "application/zip",
        ARCHIVE,
        _prefix(b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08PK\x03\x04"),
    ),
    Signature(
        "7z", "application/x-7z-compressed", ARCHIVE, _prefix(b"7z\xbc\xaf\x27\x1c")
    ),
    Signature("rar", "application/vnd.rar", ARCHIVE, _prefix(b"Rar!\x1a\x07")),
    Signature("gzip", "application/gzip", ARCHIVE, _prefix(b"\x1f\x8b\x08")),
    Signature("bzip2", "application/x-bzip2", ARCHIVE, _bzip2),
    Signature("xz", "application/x-xz", ARCHIVE, _prefix(b"\xfd7zXZ\x00")),
    Signature("zstd", "application/zstd", ARCHIVE, _prefix(b"\x28\xb5\x2f\xfd")),
    Signature(
        "cab", "application/vnd.ms-cab-compressed", ARCHIVE, _prefix(b"MSCF\0\0\0\0")
    ),
    Signature("tar", "application/x-tar", ARCHIVE, _tar),
):
    register(_sig)


def identify(header: bytes) -> Signature | None:
    """The first signature in the table that matches ``header``."""
    for signature in SIGNATURES.values():
        if signature.test(header):
            return signature
    return None


def sniff(header: bytes) -> str | None:
    """The MIME type of a file from its first bytes (media or archive), or None
    (also for a ``CONTAINER``: ``identify`` tells those).

    ``header`` should be the first :data:`SNIFF_BYTES` of the file (fewer for a
    short file). ISO-BMFF files get their precise type (``image/heic``,
    ``video/quicktime``, ``video/3gpp``...) from the ``ftyp`` brands, Matroska
    from its DocType.
    """
    signature = identify(header)
    if signature is None or signature.kind == CONTAINER:
        return None  # a PDF or a database is no media type of ours
    if signature.name.startswith("isobmff"):
        return ftyp_mime(header)
    return signature.mime


def is_media(mime: str | None) -> bool:
    """True for pictures and videos (``image/*``, ``video/*``)."""
    return mime is not None and mime.split("/", 1)[0] in (IMAGE, VIDEO)


def is_archive(mime: str | None) -> bool:
    """True for any recognised archive, expanded or not."""
    return any(s.kind == ARCHIVE and s.mime == mime for s in SIGNATURES.values())
