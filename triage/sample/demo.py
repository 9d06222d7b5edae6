"""The built-in demo: generated devices, cases and hash sets.

Everything here is generated: the "known" pictures are seeded synthetic images
(``triage.sample.pictures``) standing in for a reference collection, so the
demo shows the whole chain with nothing but benign content. What each device
holds is decided here, so the demo's expected outcome is known in advance
(``DemoCorpus.expected``) and tested.

Cases and devices (see ``build_demo``):

* OP-ELM, the suspect lives with children: a laptop (NTFS on GPT, acquired to
  E01) with one known picture renamed ``.dat`` and one deleted; a USB stick
  (bare FAT32) with nothing known on it.
* OP-ASH, no access to children: a desktop (MBR with FAT16 and ext4, raw) with
  three known pictures: one in a zip, one resized and recompressed (found only
  perceptually), one in unpartitioned space (found only by carving).
* OP-OAK, the suspect works with children: a phone card (exFAT, split raw) with
  one known picture inside a zip inside a zip, and a known video re-encoded
  to another codec and size (found only by its vPDQ frames).
* OP-YEW, access unknown: a memory card image that is unreadable (random
  bytes), which must be flagged for attention, not treated as clean.

Every device also holds unrelated pictures, documents and a wallpaper that a
known-good (NSRL-style) set recognises and excludes.
"""

from __future__ import annotations

import csv
import hashlib
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from triage.errors import UsageError
from triage.sample import disk, zip_bytes
from triage.sample.pictures import encode, make_picture
from triage.sample.thumbcaches import thumbcache_db
from triage.sample.videos import encode_video, make_video, video_frames

MARKER = ".triage-demo"
SIZE = (480, 360)

# Reference ("known") pictures: category -> seeds. Generated stand-ins only.
KNOWN = {"A": (501, 502, 503, 504), "B": (511, 512), "C": (521, 522)}
# A reference ("known") video, category A: generated scenes, 6 s.
KNOWN_VIDEO_SEED, KNOWN_VIDEO_SECONDS = 531, 6


@dataclass(frozen=True, slots=True)
class DemoDevice:
    case_id: str
    evidence: Path  # first segment
    known: int  # how many distinct known pictures were planted on it

    @property
    def device_id(self) -> str:
        """What ``triage scan`` names the device by default: the file name."""
        return self.evidence.name


@dataclass
class DemoCorpus:
    root: Path
    reference_dir: Path  # known/<category>/<name>.jpg|.mp4, for `hashset build`
    known_good_list: Path  # md5sum-style list of known-good files
    cases_csv: Path
    devices: list[DemoDevice] = field(default_factory=list)
    broken: list[DemoDevice] = field(default_factory=list)

    @property
    def expected(self) -> dict[str, int]:
        """Device id -> number of distinct known pictures planted on it."""
        return {d.device_id: d.known for d in self.devices}


def _jpeg(seed: int, quality: int = 90) -> bytes:
    return encode(make_picture(seed, *SIZE), "JPEG", quality)


def _documents(seed: int, count: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    words = "invoice meeting notes budget travel recipe letter minutes plan".split()
    docs: dict[str, bytes] = {}
    for i in range(count):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(50, 400)))
        docs[f"Documents/{rng.choice(words)}-{i}.txt"] = text.encode()
    return docs


def _others(first_seed: int, count: int, folder: str) -> dict[str, bytes]:
    return {f"{folder}/IMG_{first_seed + i:04d}.jpg": _jpeg(first_seed + i, 85)
            for i in range(count)}  # fmt: skip


def prepare_output(out: Path) -> None:
    """Make ``out`` ready for a demo run, refusing to clobber anything else.

    A folder made by an earlier demo run (it holds the marker file) is reused
    and emptied; any other non-empty folder is refused.
    """
    if out.exists() and any(out.iterdir()):
        if not (out / MARKER).is_file():
            raise UsageError(
                f"{out} is not empty and was not made by 'triage demo'; "
                "name a new or empty folder"
            )
        for child in out.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("made by 'triage demo'; safe to delete\n")


def _write_reference(
    reference: Path, known: dict[str, tuple[str, Image.Image]], jpeg: dict[str, bytes]
) -> None:
    """Write each known picture's JPEG as ``reference/<category>/<name>.jpg``."""
    for name, (cat, _) in known.items():
        target = reference / cat / f"{name}.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(jpeg[name])


def _elm_laptop(
    work: Path,
    evidence: Path,
    known: dict[str, bytes],
    wallpaper: bytes,
    thumbnail: bytes,
) -> DemoDevice:
    """OP-ELM laptop: NTFS on GPT, acquired to E01; one known picture
    renamed ``.dat``, one deleted, and one found only as the thumbnail
    Windows Explorer cached of it (the original is not on the device)."""
    explorer = "Users/sam/AppData/Local/Microsoft/Windows/Explorer"
    laptop_files = {
        f"{explorer}/thumbcache_256.db": thumbcache_db(
            [("1a2b3c4d5e6f7788", thumbnail), ("8877665544332211", wallpaper)]
        ),
        **_others(1000, 12, "Users/sam/Pictures"),
        **_documents(1, 15),
        "Users/sam/AppData/cache/blob0001.dat": known["A-501"],  # renamed
        "Users/sam/Downloads/img_2231.jpg": known["B-511"],  # deleted below
        "Windows/Web/wallpaper.jpg": wallpaper,
    }
    ntfs = disk.build_filesystem(
        "ntfs", laptop_files, work / "laptop.ntfs",
        deleted=["Users/sam/Downloads/img_2231.jpg"],
    )  # fmt: skip
    gpt = disk.build_disk(work / "laptop.raw", [ntfs], "gpt")
    return DemoDevice("OP-ELM", disk.to_ewf(gpt, evidence / "elm-laptop")[0], 3)


def _elm_usb(evidence: Path, wallpaper: bytes) -> DemoDevice:
    """OP-ELM USB stick: bare FAT32, nothing known."""
    usb = disk.build_filesystem(
        "fat32",
        {**_others(1100, 8, "DCIM/100CAM"), **_documents(2, 5),
         "wallpaper.jpg": wallpaper},
        evidence / "elm-usb.raw",
    )  # fmt: skip
    return DemoDevice("OP-ELM", usb, 0)


def _ash_desktop(
    work: Path,
    evidence: Path,
    known: dict[str, bytes],
    resized: Image.Image,
    wallpaper: bytes,
) -> DemoDevice:
    """OP-ASH desktop: MBR with FAT16 and ext4; a known picture in a zip, a
    resized copy, and one in unpartitioned space."""
    fat = disk.build_filesystem(
        "fat16",
        {**_others(1200, 6, "photos"), "downloads/pack.zip":
         zip_bytes({"set/p1.jpg": known["A-502"], "readme.txt": b"hello"}),
         "wallpaper.jpg": wallpaper},
        work / "desk.fat16",
    )  # fmt: skip
    ext4 = disk.build_filesystem(
        "ext4",
        {**_others(1300, 10, "home/alex/Pictures"), **_documents(3, 10),
         "home/alex/.thumbs/t_0042.jpg": encode(resized, "JPEG", 70)},
        work / "desk.ext4",
    )  # fmt: skip
    # The first partition starts at 1 MiB; plant in the free gap after it.
    gap_at = -(-(disk.MIB + fat.stat().st_size) // 4096) * 4096 + 8192
    desk = disk.build_disk(
        evidence / "ash-desktop.raw", [fat, ext4], "mbr",
        gap=2 * disk.MIB, gap_data={gap_at: known["B-512"]},
    )  # fmt: skip
    return DemoDevice("OP-ASH", desk, 3)


def _oak_phone(
    work: Path, evidence: Path, known: dict[str, bytes], wallpaper: bytes
) -> DemoDevice:
    """OP-OAK phone card: exFAT, split raw; a known picture in a nested zip
    and the known video re-encoded (MPEG-4 in AVI, 1.5x the size)."""
    video = encode_video(
        video_frames(KNOWN_VIDEO_SEED, seconds=KNOWN_VIDEO_SECONDS),
        codec="mpeg4", container="avi", size=(480, 360),
    )  # fmt: skip
    exfat = disk.build_filesystem(
        "exfat",
        {**_others(1400, 8, "DCIM/Camera"), "Download/backup.zip":
         zip_bytes({"old.zip": zip_bytes({"2019/IMG_0001.jpg": known["C-522"]})}),
         "DCIM/Camera/VID_0007.avi": video, "wallpaper.jpg": wallpaper},
        work / "oak-phone.exfat",
    )  # fmt: skip
    phone = disk.to_split_raw(exfat, evidence / "oak-phone", 4 * disk.MIB, "001")[0]
    return DemoDevice("OP-OAK", phone, 2)


def _write_cases(path: Path) -> None:
    """The demo's cases, as ``triage case import`` reads them."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["case_id", "access_to_children", "risk_band", "note"])
        writer.writerow(["OP-ELM", "lives-with", "very-high",
                         "Suspect lives with two children (demo)"])  # fmt: skip
        writer.writerow(["OP-ASH", "none", "medium", "Lives alone (demo)"])
        writer.writerow(["OP-OAK", "works-with", "high", "Sports coach (demo)"])
        writer.writerow(["OP-YEW", "unknown", "", "Not yet assessed (demo)"])


def build_demo(out: Path) -> DemoCorpus:
    """Generate the demo evidence, reference pictures, known-good list and cases."""
    work = out / "build"
    evidence = out / "evidence"
    evidence.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)

    known = {f"{cat}-{seed}": (cat, make_picture(seed, *SIZE))
             for cat, seeds in KNOWN.items() for seed in seeds}  # fmt: skip
    known_jpeg = {name: encode(img, "JPEG", 92) for name, (_, img) in known.items()}
    _write_reference(out / "reference", known, known_jpeg)
    (out / "reference" / "A" / f"A-{KNOWN_VIDEO_SEED}.mp4").write_bytes(
        make_video(KNOWN_VIDEO_SEED, seconds=KNOWN_VIDEO_SECONDS)
    )
    wallpaper = _jpeg(900, 95)  # known-good: on every device, never a match
    good_list = out / "known-good.md5"
    good_list.write_text(f"{hashlib.md5(wallpaper).hexdigest()}  wallpaper.jpg\n")

    corpus = DemoCorpus(out, out / "reference", good_list, out / "cases.csv")
    resized = known["C-521"][1].resize((320, 240), Image.Resampling.LANCZOS)
    thumb = known["A-504"][1].resize((256, 192), Image.Resampling.LANCZOS)
    corpus.devices += [
        _elm_laptop(work, evidence, known_jpeg, wallpaper, encode(thumb, "JPEG", 80)),
        _elm_usb(evidence, wallpaper),
        _ash_desktop(work, evidence, known_jpeg, resized, wallpaper),
        _oak_phone(work, evidence, known_jpeg, wallpaper),
    ]
    # OP-YEW memory card: unreadable.
    card = evidence / "yew-card.raw"
    card.write_bytes(random.Random(7).randbytes(2 * disk.MIB))
    corpus.broken.append(DemoDevice("OP-YEW", card, 0))

    _write_cases(corpus.cases_csv)
    shutil.rmtree(work)
    return corpus
