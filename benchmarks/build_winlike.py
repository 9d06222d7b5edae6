"""Build a small Windows-like NTFS device for timing triage's walk order.

    python benchmarks/build_winlike.py
    python benchmarks/ab_scan.py OLD_CHECKOUT . --corpus winlike --workers 2 \\
        --stop-after 1

``benchmarks/out/scan/winlike/`` gets ``laptop.raw`` (NTFS, no partition
table): 3,000 generated program icons (PNG, 32-256 px) under ``Program
Files``, 500 more under ``Windows/System32`` and 40 generated 1920x1080
wallpapers (JPEG) under ``Windows/Web``, then a user's 30 generated holiday
pictures (JPEG, 1024x768) under ``Users/bob/Pictures``, one of which is the
only entry (its MD5) of ``winlike-bad.ths``; and a ``manifest.json`` that
``ab_scan.py`` reads. Sleuth Kit lists the folders alphabetically, so a walk
in its order decodes every icon of ``Program Files`` before it reaches
``Users``. Every picture is generated; built once (reused
if present). Not collected by pytest.

    python benchmarks/build_winlike.py --non-media
    python benchmarks/bench_signature_scan.py

With ``--non-media`` the device goes to ``benchmarks/out/scan/winlike-files/``
and also holds what a Windows device holds besides pictures (issue 13): a
browser cache (Chrome-simple-cache-like entries, 40 with a web picture and
one with a known picture kept nowhere else, 80 with other bodies; four
8 MiB block files with a few small pictures), programs (PE-like noise under
``Windows/System32`` and ``Program Files``: not searched), unknown binaries
and registry-hive-like files (noise), documents (DOCX and PDF with a picture
each) and text (logs, XML, UTF-16 .inf). The hash set then also holds the
cached known picture.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
OUT = REPO / "benchmarks" / "out" / "scan" / "winlike"
SEED = 20261121


def _pictures() -> tuple[dict[str, bytes], list[bytes]]:
    """The pictures of the default device, and the user's holiday pictures."""
    from triage.sample.pictures import encode, make_picture

    files: dict[str, bytes] = {}
    for k in range(3000):
        side = (32, 48, 64, 128, 256)[k % 5]
        files[f"Program Files/Vendor{k // 300}/App{k // 30}/res/icon{k}.png"] = encode(
            make_picture(SEED + k, side, side), "PNG"
        )
    for k in range(500):
        files[f"Windows/System32/icons/sys{k}.png"] = encode(
            make_picture(SEED + 5000 + k, 48, 48), "PNG"
        )
    for k in range(40):
        files[f"Windows/Web/Wallpaper/Theme{k // 8}/img{k}.jpg"] = encode(
            make_picture(SEED + 6000 + k, 1920, 1080), "JPEG", 85
        )
    holidays = [
        encode(make_picture(SEED + 7000 + k, 1024, 768), "JPEG", 88) for k in range(30)
    ]
    for k, data in enumerate(holidays):
        files[f"Users/bob/Pictures/Holiday/IMG_{k:04d}.jpg"] = data
    return files, holidays


CHROME = "Users/bob/AppData/Local/Google/Chrome/User Data/Default/Cache/Cache_Data"


def _non_media() -> tuple[dict[str, bytes], bytes]:
    """Non-media files (see the module docstring) and the known picture kept
    only in the browser cache."""
    import random

    from triage.sample import zip_bytes
    from triage.sample.binaries import cache_entry, program, random_binary
    from triage.sample.inner import pdf_with_pictures
    from triage.sample.pictures import encode, make_picture

    rng = random.Random(SEED)
    files: dict[str, bytes] = {}

    def web(k: int) -> bytes:
        picture = make_picture(SEED + 8000 + k, 400, 300)
        return encode(picture, "JPEG", 80) if k % 2 else encode(picture, "PNG")

    known = encode(make_picture(SEED + 8999, 640, 480), "JPEG", 85)
    for k in range(121):
        if k < 40:
            body = web(k)
        elif k == 40:
            body = known
        else:
            body = random_binary(SEED + k, rng.randrange(2_000, 200_000))
        files[f"{CHROME}/{rng.getrandbits(64):016x}_0"] = cache_entry(
            body, f"https://example.invalid/{k}"
        )
    for k in range(4):  # block files: noise with a few small pictures
        blob = bytearray(random_binary(SEED + 100 + k, 8 << 20))
        for j in range(3):
            small = encode(make_picture(SEED + 8100 + 3 * k + j, 64, 64), "PNG")
            at = (j + 1) * (2 << 20)
            blob[at : at + len(small)] = small
        files[f"{CHROME}/data_{k}"] = bytes(blob)
    for k in range(120):  # programs: sniffed, not searched
        files[f"Windows/System32/lib{k:03d}.dll"] = program(SEED + 200 + k, 1 << 20)
    for k in range(30):
        files[f"Program Files/Vendor{k % 10}/App{k}/app.exe"] = program(
            SEED + 400 + k, 2 << 20
        )
    for k in range(60):  # unknown binaries: searched
        files[f"ProgramData/Vendor{k % 6}/store{k:02d}.dat"] = random_binary(
            SEED + 500 + k, 1536 << 10
        )
    hive = b"regf" + bytes(4092)
    software = hive + random_binary(SEED + 600, 40 << 20)
    files["Windows/System32/config/SOFTWARE"] = software
    files["Users/bob/NTUSER.DAT"] = hive + random_binary(SEED + 601, 8 << 20)
    for k in range(20):
        picture = encode(make_picture(SEED + 8200 + k, 320, 240), "JPEG", 85)
        files[f"Users/bob/Documents/report{k:02d}.docx"] = zip_bytes(
            {"word/document.xml": b"<w:document>" + b"<w:p>text</w:p>" * 2000
             + b"</w:document>", "word/media/image1.jpeg": picture}
        )  # fmt: skip
        files[f"Users/bob/Documents/scan{k:02d}.pdf"] = pdf_with_pictures([picture])
    for k in range(100):
        files[f"Windows/Logs/setup{k:03d}.log"] = "".join(
            f"{j:06d} step {rng.random():.6f} ok\n" for j in range(2500)
        ).encode()
        files[f"Windows/INF/dev{k:03d}.inf"] = (
            "\ufeff[Version]\r\n" + "Signature=$Windows NT$\r\n" * 800
        ).encode("utf-16-le")
    return files, known


def main() -> None:
    from triage.hashmatch.hashset import HashEntry, HashSet
    from triage.sample import disk

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--non-media", action="store_true", help="add non-media files (issue 13)"
    )
    non_media = ap.parse_args().non_media
    out = OUT.with_name("winlike-files") if non_media else OUT
    manifest_path = out / "manifest.json"
    if manifest_path.exists():
        print(f"{manifest_path} exists: reused")
        return
    start = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    files, holidays = _pictures()
    known = [("holiday-17", holidays[17])]
    if non_media:
        extra, cached = _non_media()
        files.update(extra)
        known.append(("cached-known", cached))
    size_mb = sum(len(v) for v in files.values()) // (1 << 20) + 64
    image = disk.build_filesystem("ntfs", files, out / "laptop.raw", size_mb=size_mb)
    entries = [
        HashEntry(name, "A", None, (("md5", hashlib.md5(data).hexdigest()),))
        for name, data in known
    ]
    hashset = out / "winlike-bad.ths"
    HashSet.from_entries(entries, name="winlike-bad").write(hashset)
    manifest = {"devices": [str(image)], "hashset": str(hashset), "seed": SEED}
    manifest_path.write_text(json.dumps(manifest, indent=1))
    print(f"built {image} ({image.stat().st_size >> 20} MiB, {len(files)} files) "
          f"in {time.perf_counter() - start:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
