"""Issue 13: iOS and macOS keep thumbnails as plain picture files (iOS Photos'
``PhotoData/Thumbnails/V2/…/IMG_0001.JPG/5005.JPG``, a folder named like the
original; macOS Photos' ``resources/derivatives/…_c.jpeg``). A scan finds
them as files by content, wherever they are, and matches a thumbnail of a
known picture whose original is gone."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

from tests.conftest import require_tools
from tests.scan.helpers import matched_entries
from triage.hashmatch.hashing import perceptual_hashes
from triage.hashmatch.hashset import HashEntry, HashSet
from triage.sample import disk
from triage.sample.pictures import encode, make_picture
from triage.scan import scan

IOS = "private/var/mobile/Media/PhotoData/Thumbnails/V2/DCIM/100APPLE"
MACOS = "Users/a/Pictures/Photos Library.photoslibrary/resources/derivatives/3"


def _thumb(img: Image.Image, box: int) -> bytes:
    small = img.copy()
    small.thumbnail((box, box), Image.Resampling.LANCZOS)
    return encode(small, "JPEG", 80)


def _entry(eid: str, img: Image.Image) -> HashEntry:
    result = perceptual_hashes(encode(img, "PNG"), "image/png", where=eid)
    hashes = tuple((h.algorithm, h.value) for h in result.hashes
                   if h.variant == "original")  # fmt: skip
    return HashEntry(eid, "A", None, hashes)


def test_ios_and_macos_thumbnails_are_found_as_files(tmp_path: Path) -> None:
    require_tools("mke2fs")
    ios, mac = make_picture(111, 640, 480), make_picture(112, 640, 480)
    files = {
        f"{IOS}/IMG_0001.JPG/5005.JPG": _thumb(ios, 256),
        f"{MACOS}/3A1B2C3D-0000-4E5F-8A9B-0C1D2E3F4A5B_1_105_c.jpeg": _thumb(mac, 512),
        f"{IOS}/IMG_0002.JPG/5005.JPG": _thumb(make_picture(113, 640, 480), 256),
    }
    image = disk.build_filesystem("ext2", files, tmp_path / "apple.raw", size_mb=8)
    bad = tmp_path / "bad.ths"
    HashSet.from_entries(
        [_entry("k-ios", ios), _entry("k-mac", mac)], name="bad", kind="known-bad"
    ).write(bad)
    db = tmp_path / "case.db"
    scan([image], [bad], db, scheduler="sync")
    assert matched_entries(db, "apple.raw") == {
        "k-ios": {f"{IOS}/IMG_0001.JPG/5005.JPG"},
        "k-mac": {f"{MACOS}/3A1B2C3D-0000-4E5F-8A9B-0C1D2E3F4A5B_1_105_c.jpeg"},
    }
