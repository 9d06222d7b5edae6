"""Phone extractions: scan time of a generated extraction zip against the same
files as a folder and as an ext4 image, the driver's memory as the member
count grows, and APFS listing speed against Sleuth Kit.

    python benchmarks/bench_phone.py                      # 5,000 files, ~1 GiB
    python benchmarks/bench_phone.py --files 50000 --mib 10240   # the issue's size
    python benchmarks/bench_phone.py --files 50000 --mib 3072 --width 640

Builds (once, in ``benchmarks/out/phone/``) one phone's files: camera
pictures in ``private/var/mobile/Media/DCIM/1xxAPPLE/`` (generated JPEGs, each
copy made distinct by a trailer after its end marker, as bench_scan does with
marks) and larger random files standing in for videos (``.MOV`` names, no
video signature: read and hashed as non-media), about ``--mib`` in all, one
known picture planted deep. Then, in one run, each in a fresh subprocess:

* ``triage.scan.scan`` of the zip (``ffs-zip``), the folder (``--as-device``)
  and an ext4 image made from the folder (``mke2fs -d``): wall time, driver
  CPU (``getrusage`` of the process and its children) and the driver's peak
  RSS (``VmHWM``), with ``--workers`` local workers (default: the in-process
  scheduler, so CPU is the whole scan's);
* the listing (``iter_files``) of zips of 10,000 to ``--members-max`` tiny
  members: peak RSS against member count (the central directory is held);
* APFS: listing the dfvfs ``apfs.raw`` (the largest APFS image here, 8 files)
  against pytsk3 listing an ext4 image of the same size and files, each
  repeated ``--apfs-rounds`` times (open + list).

Prints the seed, machine, date and a table. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

OUT = REPO / "benchmarks" / "out" / "phone"
SEED = 20261203
DEEP = "private/var/mobile/Media/DCIM/117APPLE/IMG_7777.JPG"
DFVFS = REPO.parent / "shared" / "testdata" / "dfvfs" / "apfs.raw"


def build_files(
    root: Path, files: int, mib: int, width: int = 1024
) -> tuple[Path, bytes]:
    """The phone's files under ``root/files`` (made once); the known picture."""
    from triage.sample.pictures import encode, make_picture

    folder = root / "files"
    known = encode(make_picture(SEED, 1024, 768), "JPEG", 90)
    stamp = root / f"built-{files}-{mib}"
    if stamp.exists():
        return folder, known
    shutil.rmtree(root, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = random.Random(SEED)
    height = width * 3 // 4
    pool = [encode(make_picture(SEED + i, width, height), "JPEG", 88)
            for i in range(40)]  # fmt: skip
    videos = max(1, files // 50)
    picture_bytes = sum(len(p) for p in pool) / len(pool) * (files - videos)
    video_size = max(1 << 20, int((mib << 20) - picture_bytes) // videos)
    for n in range(files):
        where = folder / f"private/var/mobile/Media/DCIM/{100 + n // 1000}APPLE"
        where.mkdir(parents=True, exist_ok=True)
        if n % 50 == 49:
            (where / f"IMG_{n:05d}.MOV").write_bytes(rng.randbytes(video_size))
        else:
            data = pool[n % len(pool)] + n.to_bytes(8, "big")  # distinct copy
            (where / f"IMG_{n:05d}.JPG").write_bytes(data)
    (folder / DEEP).parent.mkdir(parents=True, exist_ok=True)
    (folder / DEEP).write_bytes(known)
    stamp.write_text("ok\n")
    return folder, known


def build_zip(folder: Path, out: Path) -> Path:
    if out.exists():
        return out
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder).as_posix())
    return out


def build_ext4(folder: Path, out: Path) -> Path:
    if out.exists():
        return out
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    mib = int(size * 1.15 / (1 << 20)) + 64
    subprocess.run(
        ["mke2fs", "-q", "-t", "ext4", "-d", str(folder), "-N", "200000",
         str(out), f"{mib}M"],
        check=True, env={**os.environ, "E2FSPROGS_FAKE_TIME": "1704164645"},
    )  # fmt: skip
    return out


def build_set(known: bytes, out: Path) -> Path:
    from triage.hashmatch.hashset import HashEntry, HashSet

    entry = HashEntry("e-known", "A", None, (
        ("md5", hashlib.md5(known).hexdigest()),
        ("sha1", hashlib.sha1(known).hexdigest())))  # fmt: skip
    HashSet.from_entries([entry], name="known-bad", kind="known-bad").write(out)
    return out


_SCAN = """
import json, resource, sys, time
from triage.scan import scan
evidence, hashset, db, workers, as_device = sys.argv[1:6]
t0, c0 = time.perf_counter(), time.process_time()
kw = {"workers": int(workers)} if int(workers) else {"scheduler": "sync"}
s = scan([evidence], [hashset], db, as_device=as_device == "1", **kw)
wall = time.perf_counter() - t0
ru = resource.getrusage(resource.RUSAGE_SELF)
rc = resource.getrusage(resource.RUSAGE_CHILDREN)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
d = s.devices[0]
print(json.dumps({"wall": wall, "cpu": ru.ru_utime + ru.ru_stime,
    "cpu_children": rc.ru_utime + rc.ru_stime, "hwm_mib": int(hwm) / 1024,
    "status": d.status, "files": d.files, "media": d.media, "matches": d.matches}))
"""

_LIST = """
import json, sys
from triage.ingest import iter_files
n = sum(1 for _ in iter_files(sys.argv[1], archives=False, carve=False))
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]
print(json.dumps({"items": n, "hwm_mib": int(hwm) / 1024}))
"""


def _run(code: str, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], cwd=REPO, capture_output=True,
        text=True, check=True, env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def scans(root: Path, folder: Path, known: bytes, workers: int) -> list[str]:
    zipped = build_zip(folder, root / "phone.zip")
    ext4 = build_ext4(folder, root / "phone.ext4")
    hashset = build_set(known, root / "known.ths")
    rows = []
    for name, evidence, as_device in (
        ("ffs-zip", zipped, "0"), ("folder", folder, "1"), ("ext4 image", ext4, "0"),
    ):  # fmt: skip
        db = root / f"case-{name.split()[0]}.db"
        db.unlink(missing_ok=True)
        r = _run(_SCAN, str(evidence), str(hashset), str(db), str(workers), as_device)
        rows.append(
            f"| scan {name} | {r['wall']:.1f} s | {r['cpu']:.1f} s "
            f"(+{r['cpu_children']:.1f} s workers) | {r['hwm_mib']:.0f} MiB | "
            f"{r['files']} files, {r['media']} media, {r['matches']} match(es), "
            f"{r['status']} |"
        )
    return rows


def member_memory(root: Path, counts: list[int]) -> list[str]:
    rows = []
    for count in counts:
        path = root / f"tiny-{count}.zip"
        if not path.exists():
            with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
                for n in range(count):
                    zf.writestr(
                        f"private/var/mobile/Containers/Data/{n // 1000:04d}/f{n}.txt",
                        b"x",
                    )
        r = _run(_LIST, str(path))
        rows.append(f"| list zip of {count:,} members | - | - | "
                    f"{r['hwm_mib']:.0f} MiB | {r['items']} items |")  # fmt: skip
    return rows


def apfs_listing(root: Path, rounds: int) -> list[str]:
    import pyfsapfs  # noqa: F401  (fail early when absent)

    from triage.ingest import iter_files

    if not DFVFS.exists():
        return ["| APFS listing | - | - | - | apfs.raw absent |"]
    files = root / "apfs-files"
    shutil.rmtree(files, ignore_errors=True)
    listed = [r for r in iter_files(DFVFS, carve=False, archives=False)
              if hasattr(r, "path")]  # fmt: skip
    from triage.ingest.content import read_record
    from triage.ingest.evidence import open_device

    with open_device(DFVFS) as handle:
        for r in listed:
            target = files / r.path.replace(":", "_")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(read_record(handle, r))
    ext4 = root / "apfs-same.ext4"
    ext4.unlink(missing_ok=True)
    size = DFVFS.stat().st_size
    subprocess.run(["mke2fs", "-q", "-t", "ext4", "-d", str(files), str(ext4),
                    f"{size // 1024}k"], check=True)  # fmt: skip
    rows = []
    for name, image in (("APFS (libfsapfs)", DFVFS), ("ext4 (pytsk3)", ext4)):
        t0, c0 = time.perf_counter(), time.process_time()
        n = 0
        for _ in range(rounds):
            n += sum(1 for _ in iter_files(image, carve=False, archives=False))
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        rows.append(f"| list {name}, {size >> 20} MiB, x{rounds} | {wall:.2f} s | "
                    f"{cpu:.2f} s | - | {n // rounds} items a listing, "
                    f"{wall / rounds * 1000:.1f} ms a listing |")  # fmt: skip
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--files", type=int, default=5000)
    ap.add_argument("--mib", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=0, help="0: in-process (sync)")
    ap.add_argument("--width", type=int, default=1024, help="camera picture width")
    ap.add_argument("--members-max", type=int, default=200000)
    ap.add_argument("--apfs-rounds", type=int, default=200)
    ap.add_argument("--only", choices=("scan", "members", "apfs"))
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    root = OUT / f"{args.files}-{args.mib}-{args.width}"
    root.mkdir(exist_ok=True)
    print(f"seed {SEED}; {platform.node()} {platform.machine()} "
          f"{os.cpu_count()} cpus; {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; "
          f"load {os.getloadavg()[0]:.2f}")  # fmt: skip
    print("| measure | wall | CPU | peak RSS | notes |\n|---|---|---|---|---|")
    rows: list[str] = []
    if args.only in (None, "scan"):
        folder, known = build_files(root, args.files, args.mib, args.width)
        rows += scans(root, folder, known, args.workers)
    if args.only in (None, "members"):
        counts = [c for c in (10000, 50000, 200000, 1000000) if c <= args.members_max]
        rows += member_memory(OUT, counts)
    if args.only in (None, "apfs"):
        rows += apfs_listing(OUT, args.apfs_rounds)
    for row in rows:
        print(row)
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
