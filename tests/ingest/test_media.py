"""Content sniffing: real bytes from Pillow/pillow-heif and minimal valid headers."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import random
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from tests.conftest import require_tools
from triage.ingest.classify import classify
from triage.ingest.evidence import open_device
from triage.ingest.expanders import is_expandable
from triage.ingest.listing import iter_entries
from triage.ingest.media import (
    SIGNATURES,
    SNIFF_BYTES,
    Signature,
    is_archive,
    is_media,
    register,
    sniff,
)
from triage.ingest.volumes import iter_partitions
from triage.records import FileRecord, Partition, Skipped
from triage.sample.disk import build_filesystem


def _picture(fmt: str, mode: str = "RGB", **options: object) -> bytes:
    image = Image.new(mode, (32, 24))
    if mode == "RGB":
        image.putdata(
            [(x * 8 % 256, y * 10 % 256, 90) for y in range(24) for x in range(32)]
        )
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _heic() -> bytes:
    pillow_heif = pytest.importorskip("pillow_heif")
    pillow_heif.register_heif_opener()
    return _picture("HEIF")


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x02\x00" + b"".join(compatible)
    box = struct.pack(">I", 8 + len(body)) + b"ftyp" + body
    return (
        box
        + struct.pack(">I", 8)
        + b"free"
        + struct.pack(">I", 16)
        + b"mdat"
        + bytes(8)
    )


def _ebml(doctype: bytes) -> bytes:
    children = (
        b"\x42\x86\x81\x01"  # EBMLVersion 1
        + b"\x42\xf7\x81\x01"  # EBMLReadVersion 1
        + b"\x42\xf2\x81\x04"  # EBMLMaxIDLength 4
        + b"\x42\xf3\x81\x08"  # EBMLMaxSizeLength 8
        + b"\x42\x82"
        + bytes([0x80 | len(doctype)])
        + doctype
        + b"\x42\x87\x81\x04"  # DocTypeVersion
        + b"\x42\x85\x81\x02"  # DocTypeReadVersion
    )
    header = b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(children)]) + children
    return header + b"\x18\x53\x80\x67\x01\x00\x00\x00\x00\x00\x00\x00"  # Segment


def _riff(form: bytes, first_chunk: bytes) -> bytes:
    body = form + first_chunk + struct.pack("<I", 4) + bytes(4)
    return b"RIFF" + struct.pack("<I", len(body)) + body


ASF_HEADER = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c") + struct.pack(
    "<QIBB", 30, 0, 1, 2
)


IMAGES = {
    "image/jpeg": lambda: _picture("JPEG", quality=90),
    "image/png": lambda: _picture("PNG"),
    "image/gif": lambda: _picture("GIF"),
    "image/bmp": lambda: _picture("BMP"),
    "image/webp": lambda: _picture("WEBP"),
    "image/tiff": lambda: _picture("TIFF"),
    "image/jp2": lambda: _picture("JPEG2000"),
    "image/avif": lambda: _picture("AVIF"),
    "image/heic": _heic,
}


@pytest.mark.parametrize("mime", sorted(IMAGES))
def test_pictures_written_by_pillow_are_recognised(mime: str) -> None:
    data = IMAGES[mime]()
    assert sniff(data[:SNIFF_BYTES]) == mime
    assert is_media(mime)


def test_tiff_in_both_byte_orders() -> None:
    little = _picture("TIFF")
    big = _picture("TIFF", mode="I;16B")
    assert little[:2] == b"II" and big[:2] == b"MM"
    assert sniff(little) == sniff(big) == "image/tiff"


def test_bmp_with_v5_header_and_old_os2_header() -> None:
    # Pillow writes BITMAPINFOHEADER (40); RGBA goes out with a V5 header (124).
    rgba = _picture("BMP", mode="RGBA")
    assert struct.unpack("<I", rgba[14:18])[0] in (40, 108, 124)
    assert sniff(rgba) == "image/bmp"
    os2 = (
        b"BM"
        + struct.pack("<IIII", 26 + 6, 0, 26, 12)
        + struct.pack("<HHHH", 1, 1, 1, 24)
    )
    assert sniff(os2 + b"\x00\x00\xff\x00\x00\x00") == "image/bmp"


VIDEOS = {
    "mp4 isom": (_ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41"), "video/mp4"),
    "mp4 mp42": (_ftyp(b"mp42", b"mp42", b"isom"), "video/mp4"),
    "m4v": (_ftyp(b"M4V ", b"M4V ", b"M4A ", b"mp42"), "video/mp4"),
    "mov": (_ftyp(b"qt  ", b"qt  "), "video/quicktime"),
    "3gp": (_ftyp(b"3gp4", b"isom", b"3gp4"), "video/3gpp"),
    "3gp5": (_ftyp(b"3gp5", b"3gp5"), "video/3gpp"),
    "3g2": (_ftyp(b"3g2a", b"3g2a"), "video/3gpp2"),
    "mov without ftyp": (struct.pack(">I", 16) + b"moov" + bytes(8), "video/quicktime"),
    "avi": (_riff(b"AVI ", b"LIST"), "video/x-msvideo"),
    "mkv": (_ebml(b"matroska"), "video/x-matroska"),
    "webm": (_ebml(b"webm"), "video/webm"),
    "wmv": (ASF_HEADER, "video/x-ms-asf"),
    "flv": (b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00", "video/x-flv"),
    "mpeg-ps": (b"\x00\x00\x01\xba\x44\x00\x04\x00\x04\x01", "video/mpeg"),
    "mpeg-ts": ((b"\x47\x40\x00\x10" + bytes(184)) * 6, "video/mp2t"),
}


@pytest.mark.parametrize("name", sorted(VIDEOS))
def test_video_containers_from_minimal_headers(name: str) -> None:
    data, mime = VIDEOS[name]
    assert sniff(data) == mime
    assert is_media(mime)


def test_heif_brands_decide_between_image_and_video() -> None:
    assert sniff(_ftyp(b"mif1", b"mif1", b"heic")) == "image/heic"
    assert sniff(_ftyp(b"mif1", b"mif1", b"miaf")) == "image/heif"
    assert sniff(_ftyp(b"msf1", b"msf1", b"iso8")) == "image/heif-sequence"
    assert sniff(_ftyp(b"msf1", b"msf1", b"hevc")) == "image/heic-sequence"
    assert sniff(_ftyp(b"isom", b"isom", b"3gp5")) == "video/3gpp"
    assert sniff(_ftyp(b"hevc", b"msf1")) == "image/heic-sequence"


def test_audio_only_containers_are_not_media() -> None:
    assert sniff(_ftyp(b"M4A ", b"M4A ", b"mp42", b"isom")) is None
    assert sniff(_riff(b"WAVE", b"fmt ")) is None
    assert sniff(b"ID3\x04\x00\x00\x00\x00\x00\x00") is None


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("a.txt", "hello")
    return out.getvalue()


def _tar() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        info = tarfile.TarInfo("a.txt")
        info.size = 5
        archive.addfile(info, io.BytesIO(b"hello"))
    return out.getvalue()


ARCHIVES = {
    "application/zip": _zip,
    "application/gzip": lambda: gzip.compress(b"hello", mtime=0),
    "application/x-bzip2": lambda: bz2.compress(b"hello"),
    "application/x-xz": lambda: lzma.compress(b"hello"),
    "application/x-tar": _tar,
    "application/x-7z-compressed": lambda: b"7z\xbc\xaf\x27\x1c\x00\x04" + bytes(24),
    "application/vnd.rar": lambda: b"Rar!\x1a\x07\x01\x00" + bytes(16),
}


@pytest.mark.parametrize("mime", sorted(ARCHIVES))
def test_archives_are_recognised_but_are_not_media(mime: str) -> None:
    assert sniff(ARCHIVES[mime]()) == mime
    assert is_archive(mime)
    assert not is_media(mime)
    walked = {"zip", "gzip", "x-bzip2", "x-xz", "x-tar", "x-7z-compressed", "vnd.rar"}
    assert is_expandable(mime) == (mime.split("/")[1] in walked)


def test_empty_zip_is_still_a_zip() -> None:
    out = io.BytesIO()
    zipfile.ZipFile(out, "w").close()
    assert out.getvalue()[:4] == b"PK\x05\x06"
    assert sniff(out.getvalue()) == "application/zip"


NOT_MEDIA = {
    "empty": b"",
    "one byte": b"\xff",
    "text": b"Dear Sir,\nPlease find the minutes attached.\n" * 20,
    "text starting BM": b"BM is the bank manager's initials.\n" * 4,
    "text starting BZh": b"BZh, said nobody, ever.\n" * 4,
    "html": b"<!DOCTYPE html><html><body>photo.jpg</body></html>",
    "jpeg name only": b"IMG_0001.JPG\n",
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n",
    "elf": b"\x7fELF\x02\x01\x01" + bytes(57),
    "zeros": bytes(SNIFF_BYTES),
    "truncated ftyp": b"\x00\x00\x00\x18ftyp",
    "ebml without doctype end": b"\x1a\x45\xdf\xa3\x9f\x42\x86",
}


@pytest.mark.parametrize("name", sorted(NOT_MEDIA))
def test_non_media_is_not_recognised(name: str) -> None:
    mime = sniff(NOT_MEDIA[name])
    assert mime is None and not is_media(mime)


def test_random_bytes_are_not_recognised() -> None:
    rng = random.Random(20261121)
    hits = [
        block[:8].hex()
        for block in (rng.randbytes(SNIFF_BYTES) for _ in range(500))
        if sniff(block) is not None
    ]
    assert hits == []


def test_recognition_ignores_what_comes_after_the_header() -> None:
    # A truncated read (a short file) still sniffs from the bytes it has.
    jpeg = _picture("JPEG")
    assert sniff(jpeg[:3]) == "image/jpeg"
    assert sniff(jpeg + b"trailing junk") == "image/jpeg"


def test_signature_names_are_unique() -> None:
    with pytest.raises(ValueError, match="duplicate signature name 'jpeg'"):
        register(Signature("jpeg", "image/jpeg", "image", lambda h: False))
    assert len({s.name for s in SIGNATURES.values()}) == len(SIGNATURES)


def test_classify_costs_one_small_read_per_non_media_file(tmp_path: Path) -> None:
    require_tools("mkfs.fat", "mcopy")
    big_text = b"minutes of the meeting\n" * ((6 << 20) // 23)
    cab = b"MSCF\0\0\0\0" + bytes(24)  # a format recognised, not expanded
    with io.BytesIO() as out:
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr("in/zip.jpg", _picture("JPEG"))
        zipped = out.getvalue()
    jpeg = _picture("JPEG")
    image = build_filesystem(
        "fat32",
        {
            "big.log": big_text,
            "pic.bin": jpeg,
            "empty": b"",
            "noext": jpeg,
            "a.zip": zipped,
            "b.cab": cab,
        },
        tmp_path / "fat.img",
    )
    with open_device(image) as handle:
        [part] = [p for p in iter_partitions(handle) if isinstance(p, Partition)]
        entries = [e for e in iter_entries(handle, part) if isinstance(e, FileRecord)]
        by_path = {e.path: e for e in entries}
        before = handle.bytes_read
        [log] = list(classify(handle, [by_path["big.log"]]))
        cost = handle.bytes_read - before
        items = list(classify(handle, entries))
        unexpanded = list(classify(handle, entries, archives=False))
    got = {r.display_path: r for r in items if isinstance(r, FileRecord)}
    assert log.media_type is None and log.size == len(big_text)
    # Sleuth Kit reads the device in 64 KiB cache lines: the 4 KiB sniff plus
    # the FAT chain it follows to find the first cluster cost a few of them,
    # never the 6 MiB file.
    assert cost <= 256 * 1024, f"a non-media file cost {cost} bytes of reads"
    assert got["pic.bin"].media_type == got["noext"].media_type == "image/jpeg"
    assert got["empty"].media_type is None and got["empty"].size == 0
    assert got["a.zip!in/zip.jpg"].media_type == "image/jpeg"
    assert got["a.zip"].media_type is None  # archives are not media themselves
    skips = [(s.where, s.reason) for s in items if isinstance(s, Skipped)]
    assert skips == [("b.cab", "cab archive recognised but not expanded")]
    # archives=False lists the zip but not its members (and still reports the cab).
    assert "a.zip!in/zip.jpg" not in {
        r.display_path for r in unexpanded if isinstance(r, FileRecord)
    }
    assert len(unexpanded) == len(items) - 1
