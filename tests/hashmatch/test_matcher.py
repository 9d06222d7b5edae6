"""Matching against several sets: exact, perceptual, known-good, dedupe."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import Image, ImageDraw

from triage.errors import HashSetError
from triage.hashmatch.hashset import HashEntry, HashSet
from triage.hashmatch.matcher import Matcher
from triage.hashmatch.policy import hash_media
from triage.records import MediaHash, PerceptualHash


def _h(seed: str, nbytes: int) -> str:
    return hashlib.sha512(seed.encode()).digest()[:nbytes].hex()


def _flip(hex_value: str, bits: int, offset: int = 0) -> str:
    """``hex_value`` with ``bits`` distinct bits flipped."""
    n = int(hex_value, 16)
    for i in range(bits):
        n ^= 1 << (offset + i * 3) % (len(hex_value) * 4)
    return f"{n:0{len(hex_value)}x}"


BAD = [
    HashEntry(
        f"vic-{i}",
        "ABC"[i % 3],
        None,
        (
            ("md5", _h(f"m{i}", 16)),
            ("sha1", _h(f"s{i}", 20)),
            ("pdq", _h(f"p{i}", 32)),
            ("phash", _h(f"h{i}", 8)),
        ),
    )
    for i in range(50)
]
GOOD = [
    HashEntry(
        f"NSRLFile.txt:{i + 2}",
        None,
        "system.dll",
        (
            ("md5", _h(f"g{i}", 16)),
            ("sha1", _h(f"gs{i}", 20)),
        ),
    )
    for i in range(20)
]


@pytest.fixture(scope="module")
def sets() -> tuple[HashSet, HashSet]:
    bad = HashSet.from_entries(BAD, name="caid", kind="known-bad", scheme="caid")
    good = HashSet.from_entries(GOOD, name="nsrl", kind="known-good", scheme="nsrl")
    return bad, good


def test_exact_md5_and_sha1(sets) -> None:
    bad, good = sets
    matcher = Matcher([bad, good])
    (m,) = matcher.match_exact(
        "p0:i5:a.jpg", {"md5": _h("m7", 16), "sha1": _h("s7", 20)}
    )
    assert (m.set_name, m.set_digest, m.entry_id) == ("caid", bad.digest, "vic-7")
    assert (m.algorithm, m.distance, m.category, m.scheme) == ("sha1", 0, "B", "caid")
    assert not m.known_good and m.address == "p0:i5:a.jpg"
    # md5 alone (no sha1 given) still matches, named md5
    (m,) = matcher.match_exact("x", {"md5": _h("m7", 16).upper().lower()})
    assert m.algorithm == "md5"
    assert (
        matcher.match_exact("x", {"md5": _h("nope", 16), "sha1": _h("nope", 20)}) == []
    )


def test_md5_collision_is_not_a_match_and_is_recorded(sets) -> None:
    matcher = Matcher(list(sets))
    assert (
        matcher.match_exact("x", {"md5": _h("m3", 16), "sha1": _h("other", 20)}) == []
    )
    assert len(matcher.conflicts) == 1 and "vic-3" in matcher.conflicts[0]


def test_known_good(sets) -> None:
    bad, good = sets
    matcher = Matcher([bad, good])
    assert matcher.is_known_good({"md5": _h("g4", 16), "sha1": _h("gs4", 20)})
    assert matcher.is_known_good({"md5": None, "sha1": _h("gs4", 20)})
    assert not matcher.is_known_good(
        {"md5": _h("m4", 16), "sha1": _h("s4", 20)}
    )  # known-bad
    (m,) = matcher.match_exact("x", {"md5": _h("g4", 16), "sha1": _h("gs4", 20)})
    assert m.known_good and m.set_name == "nsrl" and m.scheme == "nsrl"


def test_perceptual_threshold_quality_and_variant_dedupe(sets) -> None:
    matcher = Matcher(list(sets))
    target = _h("p9", 32)
    hashes = [
        PerceptualHash("pdq", _flip(target, 6), "original", quality=90),
        PerceptualHash("pdq", _flip(target, 2, 1), "rot90", quality=90),
        PerceptualHash("pdq", _flip(target, 2, 5), "flipx", quality=90),
    ]
    (m,) = matcher.match_perceptual("a", hashes)
    assert (m.entry_id, m.algorithm, m.distance, m.variant) == (
        "vic-9",
        "pdq",
        2,
        "rot90",
    )
    at_limit = PerceptualHash("pdq", _flip(target, 31), quality=60)
    beyond = PerceptualHash("pdq", _flip(target, 32), quality=60)
    assert [m.distance for m in matcher.match_perceptual("a", [at_limit])] == [31]
    assert matcher.match_perceptual("a", [beyond]) == []
    low = PerceptualHash("pdq", target, quality=49)
    assert matcher.match_perceptual("a", [low]) == []  # never matched below 50
    strict = Matcher(list(sets), thresholds={"pdq": 10})
    assert strict.match_perceptual("a", [at_limit]) == []


def test_phash_and_exact_beats_perceptual(sets) -> None:
    matcher = Matcher(list(sets))
    media = MediaHash(
        "a",
        _h("m1", 16),
        _h("s1", 20),
        perceptual=(
            PerceptualHash("phash", _flip(_h("h1", 8), 3)),
            PerceptualHash("phash", _flip(_h("h2", 8), 4)),
        ),
    )
    found = matcher.match(media)
    assert [(m.entry_id, m.algorithm, m.distance) for m in found] == [
        ("vic-1", "sha1", 0),
        ("vic-2", "phash", 4),
    ]


def test_several_sets_report_each_set(sets) -> None:
    bad, _ = sets
    copy = HashSet.from_entries(BAD[:5], name="local-copy", scheme="caid")
    matcher = Matcher([bad, copy])
    found = matcher.match(
        MediaHash(
            "a",
            _h("m2", 16),
            _h("s2", 20),
            (PerceptualHash("pdq", _h("p2", 32), quality=100),),
        )
    )
    assert sorted((m.set_name, m.entry_id, m.algorithm) for m in found) == [
        ("caid", "vic-2", "sha1"),
        ("local-copy", "vic-2", "sha1"),
    ]
    with pytest.raises(HashSetError, match="given twice: caid"):
        Matcher([bad, bad])
    same_name = HashSet.from_entries(BAD[:2], name="caid", scheme="caid")
    found = Matcher([bad, same_name]).match_exact("a", {"md5": _h("m1", 16)})
    assert sorted(m.set_digest for m in found) == sorted([bad.digest, same_name.digest])


def test_batch_equals_single_and_brute_force() -> None:
    rng = np.random.default_rng(2)
    n = 6000
    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    half = n // 2
    one = HashSet.from_columns(
        [f"a{i}" for i in range(half)],
        [None] * half,
        None,
        {"pdq": (codes[:half], np.arange(half))},
        name="one",
    )
    two = HashSet.from_columns(
        [f"b{i}" for i in range(half)],
        [None] * half,
        None,
        {"pdq": (codes[half:], np.arange(half))},
        name="two",
    )
    matcher = Matcher([one, two])
    media = []
    for i in range(0, n, 97):
        bits = np.unpackbits(codes[i])
        bits[rng.choice(256, int(rng.integers(0, 36)), replace=False)] ^= 1
        value = np.packbits(bits).tobytes().hex()
        media.append(
            MediaHash(
                f"m{i}",
                _h(f"x{i}", 16),
                _h(f"y{i}", 20),
                (PerceptualHash("pdq", value, quality=80),),
            )
        )
    batch = matcher.match_many(media)
    assert batch == [matcher.match(m) for m in media]
    for m, found in zip(media, batch, strict=True):
        q = np.frombuffer(bytes.fromhex(m.perceptual[0].value), np.uint8)
        dist = np.unpackbits(codes ^ q, axis=1).sum(axis=1)
        want = {
            ("one", f"a{i}") if i < half else ("two", f"b{i - half}")
            for i in np.flatnonzero(dist <= 31)
        }
        assert {(x.set_name, x.entry_id) for x in found} == want


def _picture(seed: int) -> Image.Image:
    """A benign generated picture: coloured shapes on a plain ground (PDQ needs
    edges; smooth noise gives low-confidence hashes)."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (320, 240), tuple(int(x) for x in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, 300)), int(rng.integers(0, 220))
        box = [x0, y0, x0 + int(rng.integers(20, 160)), y0 + int(rng.integers(20, 120))]
        fill = tuple(int(x) for x in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
    return image


def _jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def test_real_pictures_match_after_reencode_and_rotation() -> None:
    """End to end with the real hashing: a set built from originals matches a
    re-encoded, rotated copy perceptually and not an unrelated picture."""
    references = [
        hash_media(f"ref{i}", _jpeg(_picture(i), 95), "image/jpeg") for i in range(6)
    ]
    entries = [
        HashEntry(
            r.address,
            "A",
            None,
            (
                ("md5", r.md5),
                ("sha1", r.sha1),
                *[
                    (p.algorithm, p.value)
                    for p in r.perceptual
                    if p.variant == "original" and p.algorithm in ("pdq", "phash")
                ],
            ),
        )
        for r in references
    ]
    matcher = Matcher([HashSet.from_entries(entries, name="ref", scheme="caid")])
    copy = _picture(3).rotate(90, expand=True)
    seized = hash_media("p0:i9:x.jpg", _jpeg(copy, 70), "image/jpeg")
    found = matcher.match(seized)
    assert [(m.entry_id, m.algorithm) for m in found] == [("ref3", "pdq")]
    assert found[0].variant != "original" and found[0].distance <= 31
    other = hash_media("p0:i10:y.jpg", _jpeg(_picture(99), 90), "image/jpeg")
    assert matcher.match(other) == []
    exact = hash_media("p0:i11:z.jpg", _jpeg(_picture(2), 95), "image/jpeg")
    assert [(m.entry_id, m.algorithm) for m in matcher.match(exact)] == [
        ("ref2", "sha1")
    ]


def test_index_cache_is_reused_and_keyed_by_set_digest(tmp_path) -> None:
    rng = np.random.default_rng(8)
    n = 20_000
    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    hs = HashSet.from_columns(
        [f"e{i}" for i in range(n)],
        [None] * n,
        None,
        {"pdq": (codes, np.arange(n))},
        name="c",
    )
    query = MediaHash(
        "a",
        "0" * 32,
        "0" * 40,
        (PerceptualHash("pdq", _flip(codes[77].tobytes().hex(), 5), quality=90),),
    )
    first = Matcher([hs], index_cache=tmp_path)
    assert [m.entry_id for m in first.match(query)] == ["e77"]
    (folder,) = [p for p in tmp_path.iterdir() if p.name.startswith("pdq-t31-")]
    stamp = (folder / "index.json").stat().st_mtime_ns
    second = Matcher([hs], index_cache=tmp_path)
    assert second.match(query) == first.match(query)
    assert (folder / "index.json").stat().st_mtime_ns == stamp  # opened, not rebuilt
    other = HashSet.from_columns(
        ["x"], [None], None, {"pdq": (codes[:1], np.arange(1))}, name="d"
    )
    Matcher([other], index_cache=tmp_path).prepare()
    assert len([p for p in tmp_path.iterdir() if p.name.startswith("pdq-")]) == 2
    assert not first.warnings and not second.warnings
