"""A small generated case for scan tests: four devices and two hash sets.

Every picture is generated (``triage.sample.pictures``); the expected matches
come from how the devices were built, never from running the scanner.

* ``dev1.raw`` (MBR: FAT16 + ext2): a known picture renamed to ``.dat``, one in
  a zip, one in a zip inside a zip, one deleted, one planted in the
  unpartitioned gap after the first partition (found only by carving), plus
  unrelated pictures and a text file.
* ``dev2.001``.. (split raw, bare ext4): transformed copies of known pictures
  (resized and re-encoded, rotated 90 degrees, framed by a border) that only a
  perceptual match finds, plus a known-good picture.
* ``dev3.E01`` (EWF of a GPT disk with NTFS): the negative device, unrelated
  pictures and the known-good picture only.
* ``broken.E01``: not evidence at all (must fail, alone).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageOps

from triage.hashmatch.hashing import perceptual_hashes
from triage.hashmatch.hashset import HashEntry, HashSet
from triage.sample import disk, zip_bytes
from triage.sample.pictures import encode, make_picture

SIZE = (320, 240)


def _jpeg(seed: int, quality: int = 90, size: tuple[int, int] = SIZE) -> bytes:
    return encode(make_picture(seed, *size), "JPEG", quality)


@dataclass
class Corpus:
    root: Path
    dev1: Path
    dev2: Path
    dev3: Path
    broken: Path
    bad_set: Path
    good_set: Path
    bad_set_v2: Path
    # device id -> {display path fragment: entry id} every planted known item
    expected: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def devices(self) -> list[Path]:
        return [self.dev1, self.dev2, self.dev3]


def build_corpus(root: Path) -> Corpus:
    root.mkdir(parents=True, exist_ok=True)
    known = {name: _jpeg(seed) for name, seed in
             (("A", 11), ("B", 12), ("C", 13), ("D", 14), ("E", 15))}  # fmt: skip
    # Perceptual-only entries: the set holds the original's PDQ/pHash, the device
    # holds a transformed copy.
    originals = {
        "F": make_picture(16, 640, 480),
        "G": make_picture(17, *SIZE),
        "H": make_picture(18, *SIZE),
    }
    good = _jpeg(40)

    def other(seed: int) -> bytes:
        return _jpeg(seed, 85)

    # dev1: MBR with FAT16 and ext2, carve target in the gap after partition 1.
    fat_files = {
        "DCIM/holiday.jpg": other(100),
        "docs/report.dat": known["A"],  # renamed
        "docs/notes.txt": b"shopping list\n" * 50,
        "dl/pack.zip": zip_bytes({"x/b.jpg": known["B"], "readme.txt": b"hi"}),
        "dl/outer.zip": zip_bytes({"inner.zip": zip_bytes({"deep/c.jpg": known["C"]})}),
        "tmp/gone.jpg": known["D"],  # deleted below
        "tmp/keep.png": encode(make_picture(101, 160, 120), "PNG"),
    }
    fat = disk.build_filesystem(
        "fat16", fat_files, root / "p1.fat", deleted=["tmp/gone.jpg"]
    )
    ext2 = disk.build_filesystem(
        "ext2", {"home/u/a.jpg": other(102), "home/u/b.jpg": other(103)},
        root / "p2.ext2",
    )  # fmt: skip
    # Unaligned, and ~61 KiB into the free space: a 64 KiB carve cut (see
    # test_carving_in_small_pieces_finds_the_same_items) goes through it.
    gap_at = disk.MIB + -(-fat.stat().st_size // 512) * 512 + 62_440
    dev1 = disk.build_disk(
        root / "dev1.raw",
        [fat, ext2],
        "mbr",
        gap=2 * disk.MIB,
        gap_data={gap_at: known["E"]},
    )

    # dev2: bare ext4 split in 3 MiB segments.
    f_copy = encode(originals["F"].resize(SIZE, Image.Resampling.LANCZOS), "JPEG", 70)
    g_copy = encode(originals["G"].rotate(90, expand=True), "JPEG", 92)
    h_copy = encode(
        ImageOps.expand(originals["H"], border=24, fill=(0, 0, 0)), "JPEG", 92
    )
    ext4 = disk.build_filesystem(
        "ext4",
        {
            "Pictures/resized.jpg": f_copy,
            "Pictures/sideways.jpg": g_copy,
            "Pictures/framed.jpg": h_copy,
            "Pictures/wallpaper.jpg": good,
            "Pictures/cat.jpg": other(104),
            "Pictures/dupe1.jpg": other(105),
            "Pictures/dupe2.jpg": other(105),
            "Pictures/broken.jpg": other(108)[:700],  # truncated: a bad JPEG
        },
        root / "dev2.ext4",
    )
    split_dir = root / "dev2"
    segments = disk.to_split_raw(ext4, split_dir, 3 * disk.MIB, "001")
    dev2 = segments[0]

    # dev3: the negative device, NTFS in GPT, acquired to E01.
    ntfs = disk.build_filesystem(
        "ntfs",
        {
            "Users/p/Pictures/beach.jpg": other(106),
            "Users/p/Pictures/dog.jpg": other(107),
            "Users/p/wall.jpg": good,
        },
        root / "dev3.ntfs",
    )
    gpt = disk.build_disk(root / "dev3.raw", [ntfs], "gpt")
    dev3 = disk.to_ewf(gpt, root / "dev3")[0]

    broken = root / "broken.E01"
    broken.write_bytes(b"EVF\x09\x0d\x0a\xff\x00" + b"\x00" * 4000)

    def exact(eid: str, data: bytes, cat: str) -> HashEntry:
        import hashlib

        return HashEntry(
            eid,
            cat,
            None,
            (
                ("md5", hashlib.md5(data).hexdigest()),
                ("sha1", hashlib.sha1(data).hexdigest()),
            ),
        )

    def perceptual(eid: str, img: Image.Image, cat: str) -> HashEntry:
        result = perceptual_hashes(encode(img, "PNG"), "image/png", where=eid)
        hashes = tuple(
            (h.algorithm, h.value)
            for h in result.hashes
            if h.variant == "original" and h.algorithm in ("pdq", "phash")
        )
        return HashEntry(eid, cat, None, hashes)

    entries = [exact(f"e-{k}", v, "A") for k, v in known.items()]
    entries += [perceptual(f"e-{k}", img, "B") for k, img in originals.items()]
    bad = HashSet.from_entries(entries, name="known-bad", kind="known-bad")
    bad_set = root / "bad.ths"
    bad.write(bad_set)
    good_hs = HashSet.from_entries(
        [exact("g-1", good, "")], name="known-good", kind="known-good", scheme="nsrl"
    )
    good_set = root / "good.ths"
    good_hs.write(good_set)
    # A newer version of the bad set: one more entry (dev1's holiday picture).
    bad2 = HashSet.from_entries(
        [*entries, exact("e-new", fat_files["DCIM/holiday.jpg"], "C")],
        name="known-bad",
        kind="known-bad",
    )
    bad_set_v2 = root / "bad-v2.ths"
    bad2.write(bad_set_v2)

    expected = {
        "dev1.raw": {
            "docs/report.dat": "e-A",
            "dl/pack.zip!x/b.jpg": "e-B",
            "dl/outer.zip!inner.zip!deep/c.jpg": "e-C",
            "tmp/gone.jpg": "e-D",
            f"<carved @ {gap_at}>": "e-E",
        },
        "dev2.001": {
            "Pictures/resized.jpg": "e-F",
            "Pictures/sideways.jpg": "e-G",
            "Pictures/framed.jpg": "e-H",
        },
        "dev3.E01": {},
    }
    return Corpus(
        root, dev1, dev2, dev3, broken, bad_set, good_set, bad_set_v2, expected
    )
