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
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
OUT = REPO / "benchmarks" / "out" / "scan" / "winlike"
SEED = 20261121


def main() -> None:
    from triage.hashmatch.hashset import HashEntry, HashSet
    from triage.sample import disk
    from triage.sample.pictures import encode, make_picture

    manifest_path = OUT / "manifest.json"
    if manifest_path.exists():
        print(f"{manifest_path} exists: reused")
        return
    start = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
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
    size_mb = sum(len(v) for v in files.values()) // (1 << 20) + 64
    image = disk.build_filesystem("ntfs", files, OUT / "laptop.raw", size_mb=size_mb)
    known = holidays[17]
    entry = HashEntry(
        "holiday-17", "A", None, (("md5", hashlib.md5(known).hexdigest()),)
    )
    hashset = OUT / "winlike-bad.ths"
    HashSet.from_entries([entry], name="winlike-bad").write(hashset)
    manifest = {"devices": [str(image)], "hashset": str(hashset), "seed": SEED}
    manifest_path.write_text(json.dumps(manifest, indent=1))
    print(f"built {image} ({image.stat().st_size >> 20} MiB, {len(files)} files) "
          f"in {time.perf_counter() - start:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
