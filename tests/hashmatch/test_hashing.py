"""Hashing media: digests, the fast decode path, variants, and hostile input."""

from __future__ import annotations

import hashlib
import io
import struct
import time
import zlib
from functools import cache

import imagehash
import numpy as np
import pdqhash
import pytest
from PIL import Image

from triage.errors import MediaError, UsageError
from triage.hashmatch.decode import (
    MAX_IMAGE_PIXELS,
    DecodeError,
    decode_full_rgb,
    decode_luma,
)
from triage.hashmatch.hashing import (
    DIHEDRAL_VARIANTS,
    TRIMMED,
    PerceptualResult,
    digest_stream,
    find_border,
    perceptual_hashes,
)
from triage.hashmatch.policy import UndecodableMediaError, hash_media
from triage.hashmatch.signals import SIGNALS, bits_to_hex, hamming
from triage.records import MediaHash
from triage.sample.pictures import TRANSFORMS, encode, make_picture, package_photos

PDQ = SIGNALS.get("pdq")
PHASH = SIGNALS.get("phash")


@cache
def picture(seed: int, width: int = 640, height: int = 480) -> Image.Image:
    return make_picture(seed, width, height)


@cache
def jpeg(seed: int, width: int, height: int, quality: int = 90) -> bytes:
    return encode(picture(seed, width, height), "JPEG", quality)


def value(result: PerceptualResult, algorithm: str, variant: str = "original") -> str:
    found = [
        h.value
        for h in result.hashes
        if h.algorithm == algorithm and h.variant == variant
    ]
    assert len(found) == 1, (algorithm, variant, result.hashes)
    return found[0]


def best(result: PerceptualResult, algorithm: str, reference: str) -> int:
    """Smallest distance from any variant of ``result`` to ``reference``."""
    return min(
        hamming(h.value, reference) for h in result.hashes if h.algorithm == algorithm
    )


def reference_pdq(data: bytes, mime: str) -> tuple[str, int]:
    """pdqhash.compute on the full-size RGB decode: the slow reference."""
    full = np.asarray(decode_full_rgb(data, mime, where="reference"))
    bits, quality = pdqhash.compute(full)
    return bits_to_hex(bits), int(quality)


# -- digests -----------------------------------------------------------------


def test_digest_stream_equals_hashlib_on_the_whole() -> None:
    data = bytes(range(256)) * 5000
    chunks = [data[i : i + 4096] for i in range(0, len(data), 4096)]
    assert digest_stream(iter(chunks)) == (
        hashlib.md5(data).hexdigest(),
        hashlib.sha1(data).hexdigest(),
    )


def test_digest_stream_known_vectors() -> None:
    assert digest_stream([]) == (
        "d41d8cd98f00b204e9800998ecf8427e",
        "da39a3ee5e6b4b0d3255bfef95601890afd80709",
    )
    assert digest_stream([b"a", b"bc"]) == (
        "900150983cd24fb0d6963f7d28e17f72",
        "a9993e364706816aba3e25717850c26c9cd0d89d",
    )


# -- stable values -----------------------------------------------------------

# Pinned from make_picture (PNG, lossless, so no encoder differences). A change
# here means the picture generator, the decode path or a hash changed: check
# which before updating the pins, because stored hashes would stop matching.
PINNED = {
    1: {
        "pixels_md5": "99a7c8798efe5ba8f058021704b9a2e6",
        "pdq": "c3a307c8170b5faa2eaa3a0e78259e5f7d18f17de050e0fedb488bb3a3c1130e",
        "phash": "b03841e689bf05df",
        "dhash": "9f9e3e3f8c8c8cce",
    },
    2: {
        "pixels_md5": "9408e57953358443df13e9ee50d340a3",
        "pdq": "b9d92658871532655c71d3913899371e35c69c637b89cdd227d06e4ac26bd574",
        "phash": "a297eb2985a5ca63",
        "dhash": "cfccccc69695cdcd",
    },
}


@pytest.mark.parametrize("seed", sorted(PINNED))
def test_pinned_values(seed: int) -> None:
    img = picture(seed)
    expected = PINNED[seed]
    assert hashlib.md5(img.tobytes()).hexdigest() == expected["pixels_md5"]
    result = perceptual_hashes(
        encode(img, "PNG"),
        "image/png",
        where="pin",
        algorithms=("pdq", "phash", "dhash"),
    )
    assert value(result, "pdq") == expected["pdq"]
    assert value(result, "phash") == expected["phash"]
    assert value(result, "dhash") == expected["dhash"]
    assert all(
        h.quality is not None and h.quality >= 80
        for h in result.hashes
        if h.algorithm == "pdq"
    )


def test_same_bytes_same_hashes() -> None:
    data = jpeg(3, 800, 600)
    first = perceptual_hashes(data, "image/jpeg", where="a")
    second = perceptual_hashes(data, "image/jpeg", where="b")
    assert first.hashes == second.hashes


def test_make_picture_is_deterministic_with_unrelated_seeds() -> None:
    assert make_picture(3).tobytes() == make_picture(3).tobytes()
    results = [
        perceptual_hashes(encode(make_picture(seed), "PNG"), "image/png", where="s")
        for seed in range(100, 116)
    ]
    pdq = [value(r, "pdq") for r in results]
    assert all(
        h.quality is not None and h.quality >= 80
        for r in results
        for h in r.hashes
        if h.algorithm == "pdq"
    )
    closest = min(hamming(a, b) for i, a in enumerate(pdq) for b in pdq[i + 1 :])
    assert closest > 2 * PDQ.default_threshold


def test_package_photos_are_loaded_rgb_pictures() -> None:
    photos = package_photos()
    if not photos:
        pytest.skip("scikit-image (sample photos) is not installed")
    assert all(p.mode == "RGB" and min(p.size) >= 256 for p in photos)


# -- fast path agrees with the full decode -----------------------------------


@pytest.mark.parametrize(
    ("size", "quality"),
    [
        ((640, 480), 90),
        ((1024, 768), 85),
        ((1920, 1080), 90),
        ((1080, 1920), 80),
        ((4000, 3000), 90),
    ],
)
@pytest.mark.parametrize("seed", [4, 5])
def test_fast_pdq_agrees_with_full_decode_jpeg(
    seed: int, size: tuple[int, int], quality: int
) -> None:
    data = jpeg(seed, *size, quality)
    expected, expected_quality = reference_pdq(data, "image/jpeg")
    assert expected_quality >= 80
    result = perceptual_hashes(data, "image/jpeg", where="fast")
    assert (result.width, result.height) == size
    assert hamming(value(result, "pdq"), expected) <= 10
    full_phash = str(imagehash.phash(decode_full_rgb(data, "image/jpeg", where="r")))
    assert hamming(value(result, "phash"), full_phash) <= 4


@pytest.mark.parametrize(
    ("fmt", "mime", "mode"),
    [
        ("PNG", "image/png", "RGB"),
        ("PNG", "image/png", "L"),
        ("JPEG", "image/jpeg", "L"),
        ("TIFF", "image/tiff", "RGB"),
    ],
)
def test_fast_pdq_agrees_with_full_decode_other(fmt: str, mime: str, mode: str) -> None:
    data = encode(picture(6, 2400, 1800).convert(mode), fmt)
    expected, expected_quality = reference_pdq(data, mime)
    assert expected_quality >= 80
    result = perceptual_hashes(data, mime, where="fast")
    assert hamming(value(result, "pdq"), expected) <= 10


def test_decode_reduces_large_jpeg_with_dct_scaling() -> None:
    decoded = decode_luma(jpeg(7, 4000, 3000), "image/jpeg", where="big")
    assert decoded.luma.mode == "L"
    assert (decoded.width, decoded.height) == (4000, 3000)
    assert decoded.luma.size == (1000, 750)  # 1/4 scale: short side >= 512


@pytest.mark.parametrize(
    ("size", "fmt", "mime", "reduced"),
    [
        ((6000, 600), "PNG", "image/png", (1200, 600)),
        ((600, 6000), "JPEG", "image/jpeg", (600, 1200)),
        ((2400, 1800), "PNG", "image/png", (800, 600)),
    ],
)
def test_reduction_keeps_pdq_close_for_any_aspect(
    size: tuple[int, int], fmt: str, mime: str, reduced: tuple[int, int]
) -> None:
    data = encode(picture(28, *size), fmt)
    decoded = decode_luma(data, mime, where="pano")
    assert decoded.luma.size == reduced
    expected, _quality = reference_pdq(data, mime)
    result = perceptual_hashes(data, mime, where="pano")
    assert hamming(value(result, "pdq"), expected) <= 10


def test_large_16_bit_png_is_scaled_not_clipped() -> None:
    grey = np.asarray(picture(29, 1600, 1200).convert("L")).astype(np.uint16) * 257
    data = _save(Image.fromarray(grey), "PNG")
    eight_bit = encode(Image.fromarray((grey // 257).astype(np.uint8)), "PNG")
    result = perceptual_hashes(data, "image/png", where="16bit")
    expected = perceptual_hashes(eight_bit, "image/png", where="8bit")
    assert hamming(value(result, "pdq"), value(expected, "pdq")) <= 2


# -- formats -----------------------------------------------------------------


def _save(img: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, fmt, **options)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "mime", "make", "tolerance"),
    [
        ("png", "image/png", lambda im: _save(im, "PNG"), 0),
        ("bmp", "image/bmp", lambda im: _save(im, "BMP"), 0),
        ("tiff", "image/tiff", lambda im: _save(im, "TIFF"), 0),
        ("webp", "image/webp", lambda im: _save(im, "WEBP", quality=90), 10),
        ("heic", "image/heic", lambda im: encode(im, "HEIF", 90), 10),
        (
            "gif",
            "image/gif",
            lambda im: _save(im.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"),
            20,
        ),
        ("jpeg-cmyk", "image/jpeg", lambda im: _save(im.convert("CMYK"), "JPEG"), 10),
        (
            "jpeg-progressive",
            "image/jpeg",
            lambda im: _save(im, "JPEG", quality=90, progressive=True),
            10,
        ),
        (
            "png-16bit",
            "image/png",
            lambda im: _save(
                Image.fromarray(np.asarray(im.convert("L")).astype(np.uint16) * 257),
                "PNG",
            ),
            0,
        ),
        ("png-rgba", "image/png", lambda im: _save(im.convert("RGBA"), "PNG"), 0),
    ],
)
def test_formats_decode_to_the_same_picture(
    name: str, mime: str, make: object, tolerance: int
) -> None:
    img = picture(8, 800, 600)
    original = perceptual_hashes(encode(img, "PNG"), "image/png", where="png")
    data = make(img)  # type: ignore[operator]
    result = perceptual_hashes(data, mime, where=name)
    assert (result.width, result.height) == (800, 600)
    assert hamming(value(result, "pdq"), value(original, "pdq")) <= tolerance


def test_palette_png_with_transparency_does_not_warn() -> None:
    # Pillow warns about this when converting; pytest's filterwarnings=error
    # would turn a leaked warning into a failure here.
    img = picture(9).convert("P", palette=Image.Palette.ADAPTIVE)
    img.info["transparency"] = bytes([0] * 256)
    result = perceptual_hashes(_save(img, "PNG"), "image/png", where="p")
    assert value(result, "pdq")


def test_gif_first_frame_only_and_fast() -> None:
    rng = np.random.default_rng(0)
    frames = [
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8), "L").convert(
            "P"
        )
        for _ in range(3000)
    ]
    data = _save(frames[0], "GIF", save_all=True, append_images=frames[1:], loop=0)
    perceptual_hashes(data, "image/gif", where="warm-up")
    started = time.perf_counter()
    result = perceptual_hashes(data, "image/gif", where="animated.gif")
    elapsed = time.perf_counter() - started
    assert elapsed < 0.5, f"3000-frame GIF took {elapsed:.2f} s: frames were read"
    first = perceptual_hashes(_save(frames[0], "GIF"), "image/gif", where="one")
    assert value(result, "pdq") == value(first, "pdq")
    assert (result.width, result.height) == (16, 16)


def test_tiny_picture_gets_no_perceptual_hash_but_a_note() -> None:
    result = perceptual_hashes(
        encode(Image.new("RGB", (1, 1)), "GIF"), None, where="px"
    )
    assert result.hashes == ()
    assert any("too small" in note for note in result.notes)


# -- hostile and broken input -------------------------------------------------


def _png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (valid CRC)."""
    small = encode(Image.new("L", (8, 8)), "PNG")
    body = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    ihdr = struct.pack(">I", 13) + body + struct.pack(">I", zlib.crc32(body))
    return small[:8] + ihdr + small[33:]


def _corrupt_png() -> bytes:
    data = bytearray(encode(picture(10, 200, 150), "PNG"))
    start = data.find(b"IDAT") + 100
    data[start : start + 40] = bytes(40)
    return bytes(data)


BAD_INPUT = {
    "zero bytes": (b"", "image/jpeg", "empty"),
    "bomb over our limit": (_png_claiming_size(20000, 15000), "image/png", "bomb"),
    "bomb over Pillow's limit": (_png_claiming_size(40000, 40000), "image/png", "bomb"),
    "truncated jpeg": (jpeg(11, 800, 600)[:20000], "image/jpeg", "truncated"),
    "corrupt png": (_corrupt_png(), "image/png", "corrupt"),
    "jpeg said to be png": (jpeg(11, 800, 600), "image/png", "not a decodable"),
    "video": (jpeg(11, 800, 600), "video/mp4", "not an image"),
    "unsupported image type": (b"\xff\x0a" + bytes(100), "image/jxl", "unsupported"),
    "random bytes": (bytes(range(256)) * 40, "image/jpeg", "not a decodable"),
    "postscript never opened": (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n",
        None,
        "not a decodable",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_a_media_error_with_reason(case: str) -> None:
    data, mime, reason = BAD_INPUT[case]
    where = f"p1:i42:DCIM/{case}.bin"
    started = time.perf_counter()
    with pytest.raises(MediaError) as info:
        perceptual_hashes(data, mime, where=where)
    assert time.perf_counter() - started < 1.0
    error = info.value
    assert isinstance(error, DecodeError)
    assert error.where == where
    assert reason in error.reason.lower()
    assert str(error).startswith(where + ": ")


def test_bomb_limit_is_explicit() -> None:
    assert MAX_IMAGE_PIXELS == Image.MAX_IMAGE_PIXELS
    assert MAX_IMAGE_PIXELS >= 200_000_000  # a 200 MP phone photo still decodes


# -- variants ----------------------------------------------------------------

# Meta's dihedral names, as Pillow transposes (checked below).
TRANSPOSE_OF_VARIANT = {
    "rot90": Image.Transpose.ROTATE_90,
    "rot180": Image.Transpose.ROTATE_180,
    "rot270": Image.Transpose.ROTATE_270,
    "flipx": Image.Transpose.FLIP_TOP_BOTTOM,
    "flipy": Image.Transpose.FLIP_LEFT_RIGHT,
    "flipplus": Image.Transpose.TRANSPOSE,
    "flipminus": Image.Transpose.TRANSVERSE,
}


def test_dihedral_variants_are_named_as_the_pillow_transforms() -> None:
    img = picture(12, 800, 600)
    result = perceptual_hashes(encode(img, "PNG"), "image/png", where="d")
    pdq = {h.variant: h.value for h in result.hashes if h.algorithm == "pdq"}
    assert set(DIHEDRAL_VARIANTS) <= set(pdq)
    for variant, transpose in TRANSPOSE_OF_VARIANT.items():
        moved = perceptual_hashes(
            encode(img.transpose(transpose), "PNG"), "image/png", where=variant
        )
        original = value(moved, "pdq")
        distances = {name: hamming(original, v) for name, v in pdq.items()}
        assert min(distances, key=distances.__getitem__) == variant, distances
        assert distances[variant] <= 16


def test_dihedral_can_be_turned_off() -> None:
    data = jpeg(13, 640, 480)
    result = perceptual_hashes(data, "image/jpeg", where="x", dihedral=False)
    assert [h.variant for h in result.hashes if h.algorithm == "pdq"] == ["original"]
    full = perceptual_hashes(data, "image/jpeg", where="x")
    assert value(result, "pdq") == value(full, "pdq")


def test_letterbox_gives_a_trimmed_variant_close_to_the_original() -> None:
    img = picture(14, 800, 600)
    original = perceptual_hashes(encode(img, "PNG"), "image/png", where="o")
    assert not [h for h in original.hashes if h.variant == TRIMMED]
    boxed = TRANSFORMS["letterbox"](img)
    result = perceptual_hashes(encode(boxed, "JPEG", 85), "image/jpeg", where="b")
    assert result.trimmed_box is not None
    left, top, right, bottom = result.trimmed_box
    assert abs(left) <= 2 and abs(right - boxed.width) <= 2
    assert abs(top - (boxed.height - 600) // 2) <= 6
    assert hamming(value(result, "pdq", TRIMMED), value(original, "pdq")) <= 12
    assert hamming(value(result, "phash", TRIMMED), value(original, "phash")) <= 4
    # without trimming, the letterboxed copy is far from the original
    assert hamming(value(result, "pdq"), value(original, "pdq")) > PDQ.default_threshold


def test_find_border_ignores_pictures_without_one() -> None:
    for seed in range(15, 20):
        assert find_border(np.asarray(picture(seed).convert("L"))) is None
    flat = np.full((100, 100), 7, np.uint8)
    assert find_border(flat) is None  # nothing inside: not a border


# -- transformations match, unrelated pictures do not -------------------------

# Which algorithm is expected to catch each copy at its default threshold.
# PDQ is weak against cropping (a known property); pHash takes those.
EXPECTED_MATCH = {
    "resize-50": ("pdq", "phash"),
    "resize-25": ("pdq", "phash"),
    "jpeg-q70": ("pdq", "phash"),
    "jpeg-q50": ("pdq", "phash"),
    "greyscale": ("pdq", "phash"),
    "crop-2": ("phash",),
    "crop-5": ("phash",),
    "letterbox": ("pdq", "phash"),
    "frame": ("pdq", "phash"),
    "watermark": ("pdq", "phash"),
    "flip-h": ("pdq",),
    "rotate-90": ("pdq",),
    "rotate-180": ("pdq",),
    "resize-50+jpeg-q70": ("pdq", "phash"),
}


@pytest.fixture(scope="module")
def known() -> dict[int, PerceptualResult]:
    return {
        seed: perceptual_hashes(jpeg(seed, 1024, 768), "image/jpeg", where=str(seed))
        for seed in (21, 22, 23)
    }


@pytest.mark.parametrize("transform", sorted(EXPECTED_MATCH))
def test_transformed_copies_match(
    transform: str, known: dict[int, PerceptualResult]
) -> None:
    for seed, reference in known.items():
        copy = TRANSFORMS[transform](picture(seed, 1024, 768))
        if "jpeg-q" in transform:
            data, mime = encode(copy, "PNG"), "image/png"
        else:
            data, mime = encode(copy, "JPEG", 90), "image/jpeg"
        result = perceptual_hashes(data, mime, where=transform)
        for name in EXPECTED_MATCH[transform]:
            algorithm = SIGNALS.get(name)
            distance = best(result, name, value(reference, name))
            assert algorithm.matches(distance), (seed, transform, name, distance)


def test_unrelated_pictures_do_not_match(known: dict[int, PerceptualResult]) -> None:
    others = [
        perceptual_hashes(jpeg(seed, 1024, 768), "image/jpeg", where=str(seed))
        for seed in range(30, 40)
    ]
    for reference in known.values():
        for other in others:
            for algorithm in (PDQ, PHASH):
                distance = best(other, algorithm.name, value(reference, algorithm.name))
                assert not algorithm.matches(distance), (algorithm.name, distance)


def test_two_crops_of_one_picture_with_little_overlap_do_not_match() -> None:
    img = picture(24, 2000, 1000)
    left = perceptual_hashes(encode(img.crop((0, 0, 900, 1000))), None, where="left")
    right = perceptual_hashes(
        encode(img.crop((1100, 0, 2000, 1000))), None, where="right"
    )
    for algorithm in (PDQ, PHASH):
        distance = best(right, algorithm.name, value(left, algorithm.name))
        assert not algorithm.matches(distance), (algorithm.name, distance)


# -- hash_media --------------------------------------------------------------


def test_hash_media_picture() -> None:
    data = jpeg(25, 640, 480)
    media = hash_media("p1:i5:a.jpg", data, "image/jpeg")
    assert isinstance(media, MediaHash)
    assert media.md5 == hashlib.md5(data).hexdigest()
    assert media.sha1 == hashlib.sha1(data).hexdigest()
    assert (media.width, media.height) == (640, 480)
    names = {(h.algorithm, h.variant) for h in media.perceptual}
    assert {("pdq", v) for v in DIHEDRAL_VARIANTS} <= names
    assert ("phash", "original") in names


def test_hash_media_video_is_digests_only() -> None:
    media = hash_media("p1:i6:clip.mp4", b"\x00\x00\x00\x18ftypmp42", "video/mp4")
    assert media.perceptual == () and media.width is None
    assert media.md5 == hashlib.md5(b"\x00\x00\x00\x18ftypmp42").hexdigest()


def test_hash_media_undecodable_keeps_the_digests() -> None:
    data = jpeg(26, 640, 480)[:5000]
    with pytest.raises(UndecodableMediaError) as info:
        hash_media("p1:i7:broken.jpg", data, "image/jpeg", where="DCIM/broken.jpg")
    error = info.value
    assert isinstance(error, MediaError)
    assert error.where == "DCIM/broken.jpg"
    assert "truncated" in error.reason
    assert error.media_hash.md5 == hashlib.md5(data).hexdigest()
    assert error.media_hash.address == "p1:i7:broken.jpg"


@pytest.mark.parametrize("name", ["md5", "nope"])
def test_perceptual_hashes_refuses_other_algorithms(name: str) -> None:
    with pytest.raises(UsageError):
        perceptual_hashes(jpeg(27, 64, 48), "image/jpeg", where="x", algorithms=[name])


def test_decoders_table_routes_by_media_type(monkeypatch: pytest.MonkeyPatch) -> None:
    """A decoder registered for a new type is the one used for it; Pillow
    keeps the still pictures, and an unknown type still names the item."""
    from PIL import Image

    from triage.hashmatch import decode
    from triage.registry import Registry

    assert decode.DECODERS.names()[0] == "pillow"
    assert decode.decoder_for("image/jpeg", "x").name == "pillow"
    assert decode.decoder_for(None, "x").name == "pillow"
    with pytest.raises(decode.DecodeError, match="not an image type 'video/mp4'"):
        decode.decoder_for("video/mp4", "dev:/a.mp4")

    seen: list[tuple[str | None, str]] = []

    def fake(
        data: bytes, media_type: str | None, where: str, min_side: int
    ) -> decode.Decoded:
        seen.append((media_type, where))
        return decode.Decoded(Image.new("L", (64, 64), 128), 64, 64, "FAKE")

    table: Registry[decode.Decoder] = Registry("decoder")
    for d in decode.DECODERS.values():
        table.register(d)
    table.register(decode.Decoder("fake", lambda m: m == "video/x-fake", fake))
    monkeypatch.setattr(decode, "DECODERS", table)
    out = decode.decode_luma(b"abc", "video/x-fake", where="dev:/v")
    assert (out.format, seen) == ("FAKE", [("video/x-fake", "dev:/v")])
    with pytest.raises(ValueError, match="decoder 'pillow' is already registered"):
        table.register(decode.Decoder("pillow", lambda m: False, fake))
