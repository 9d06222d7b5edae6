"""The one per-item hashing policy the scan, ``hash_media`` and ``hashset
build`` share: what is hashed, with which signals, under which floors."""

from __future__ import annotations

import hashlib

from triage.hashmatch.policy import HashPolicy, PictureHashes, Unhashed
from triage.hashmatch.signals import PDQ_QUALITY_FLOOR, exact_signals
from triage.records import MediaHash, PerceptualHash
from triage.sample.pictures import encode, make_picture


def test_what_is_decoded() -> None:
    policy = HashPolicy(max_decode_bytes=1000)
    assert policy.decodes("image/jpeg", 1000)
    assert not policy.decodes("image/jpeg", 1001)
    assert not policy.decodes("video/mp4", 10)
    assert not HashPolicy(decode=False).decodes("image/png", 10)
    assert policy.size_note("image/jpeg", 1000) is None
    assert policy.size_note("video/mp4", 5000) is None  # never decoded anyway
    note = policy.size_note("image/jpeg", 5000)
    assert note is not None and "larger than the decode limit (1000)" in note


def test_every_exact_signal_and_the_perceptual_ones() -> None:
    data = encode(make_picture(3, 320, 240), "JPEG", 90)
    media, unhashed = HashPolicy().hash_item("a", data, "image/jpeg", where="a")
    assert unhashed is None
    assert [n for n, _ in media.digests] == sorted(s.name for s in exact_signals())
    for name, value in media.digests:
        assert value == hashlib.new(name, data).hexdigest()
    assert {h.algorithm for h in media.perceptual} == {"pdq", "phash"}
    assert (media.width, media.height) == (320, 240)


def test_an_undecodable_picture_keeps_its_digests() -> None:
    policy = HashPolicy()
    outcome = policy.picture(b"\xff\xd8\xff junk", "image/jpeg", where="x.jpg")
    assert isinstance(outcome, Unhashed) and not outcome.decoded
    media, unhashed = policy.hash_item("x", b"\xff\xd8junk", "image/jpeg", where="x")
    assert unhashed is not None and media.md5 and not media.perceptual
    tiny_png = encode(make_picture(1, 64, 64).resize((3, 3)), "PNG")
    tiny = policy.picture(tiny_png, None, where="t")
    assert isinstance(tiny, Unhashed) and tiny.decoded and "too small" in tiny.reason
    photo = policy.picture(encode(make_picture(1, 64, 64), "PNG"), None, where="p")
    assert isinstance(photo, PictureHashes)


def test_reference_values_keep_original_and_trimmed_above_the_floor() -> None:
    low = PDQ_QUALITY_FLOOR - 1
    media = MediaHash(
        "r",
        "a" * 32,
        perceptual=(
            PerceptualHash("pdq", "1" * 64, "original", PDQ_QUALITY_FLOOR),
            PerceptualHash("pdq", "2" * 64, "rot90", 90),
            PerceptualHash("pdq", "3" * 64, "trimmed", low),
            PerceptualHash("phash", "4" * 16, "trimmed"),
        ),
    )
    pairs, notes = HashPolicy().reference_values(media)
    assert pairs == [("md5", "a" * 32), ("pdq", "1" * 64), ("phash", "4" * 16)]
    assert notes == [f"PDQ (trimmed) quality {low} < {PDQ_QUALITY_FLOOR} not stored"]
