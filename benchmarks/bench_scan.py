"""End-to-end scan throughput against a naive scanner, on a generated corpus.

    python benchmarks/bench_scan.py            # ~2 GiB corpus (built once)
    python benchmarks/bench_scan.py --quick    # ~300 MiB corpus
    python benchmarks/bench_scan.py --photos   # ~2 GiB of 12 MP camera photos

Builds (once, reused from ``benchmarks/out/``) two devices: a bare ext4 raw
image and an E01 of an MBR disk with FAT32, full of generated pictures (some
renamed, zipped, deleted), fake videos, random filler and free space, plus a
known-bad hash set (planted entries and 100 000 random ones). Then measures,
in one run on the same machine:

* plain sequential read of every evidence file (the I/O floor), twice: cold,
  after dropping the files' pages from the page cache (``posix_fadvise
  DONTNEED`` on a read-only descriptor: the way a scan meets evidence it has
  not read before), and warm (memory speed, no disk at all);
* decoding every media item once, at the size the hashes need (the CPU
  floor): the same decode ``triage.hashmatch.hashing`` does, without hashing,
  in one process and split over two (the floor for two cores);
* the naive scanner: walk allocated files by extension, decode in full,
  pHash, compare by brute force with every set entry;
* ``triage.scan.scan`` with 1 and 2 local worker processes (warm cache),
  and with 2 after dropping the evidence from the page cache (cold), each in
  a fresh subprocess: driver CPU time from ``getrusage``; peak RSS of the
  driver and of the largest worker-side process from ``VmHWM`` in
  ``/proc/PID/status`` (the workers' read every 0.2 s while they run), since
  ``ru_maxrss`` survives ``exec`` and would report a parent's size;
* time to first hit with ``stop_after=1`` (2 workers).

``--repeat N`` takes every measure but the naive scan N times, in rounds one
after the other, and keeps the fastest of each (the notes list them all):
the ratios then compare best with best, and a machine that drifts during a
run affects floors and scans alike. It prints the seed, machine, date and a
table. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from triage.hashmatch.hashset import HashEntry

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

OUT = REPO / "benchmarks" / "out" / "scan"
SEED = 20261121
IMAGE_EXT = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")


# -- corpus ---------------------------------------------------------------------


def _pictures(rng: np.random.Generator, n: int, big_every: int) -> list[bytes]:
    """``n`` distinct JPEGs: a pool of generated scenes, each copy marked and
    re-encoded so every file has its own content (as on a real device)."""
    from PIL import ImageDraw

    from triage.sample.pictures import encode, make_picture

    pool = [make_picture(SEED + i, 640, 480) for i in range(40)]
    big = [make_picture(SEED + 1000 + i, 1600, 1200) for i in range(8)]
    out = []
    for i in range(n):
        base = (big[i % len(big)] if i % big_every == 0 else pool[i % len(pool)]).copy()
        draw = ImageDraw.Draw(base)
        x, y = (
            int(rng.integers(0, base.width - 12)),
            int(rng.integers(0, base.height - 12)),
        )
        draw.rectangle(
            (x, y, x + 10, y + 10), fill=tuple(int(v) for v in rng.integers(0, 255, 3))
        )
        out.append(encode(base, "JPEG", 80 + i % 15))
    return out


def _photos(rng: np.random.Generator, n: int) -> list[bytes]:
    """``n`` distinct camera-sized JPEGs (4000x3000, about 1.7 MB): a pool of
    generated scenes, each copy marked and re-encoded at its own quality."""
    from PIL import ImageDraw

    from triage.sample.pictures import encode, make_picture

    pool = [make_picture(SEED + 2000 + i, 4000, 3000) for i in range(24)]
    out = []
    for i in range(n):
        base = pool[i % len(pool)].copy()
        x, y = int(rng.integers(0, 3900)), int(rng.integers(0, 2900))
        ImageDraw.Draw(base).rectangle(
            (x, y, x + 80, y + 80), fill=tuple(int(v) for v in rng.integers(0, 255, 3))
        )
        out.append(encode(base, "JPEG", 85 + i % 10))
    return out


def _fake_video(rng: np.random.Generator, size: int) -> bytes:
    head = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    return head + rng.bytes(size - len(head))


def _device_files(
    rng: np.random.Generator, mib: int, tag: str, photos: bool = False
) -> tuple[dict[str, bytes], list[str], list[bytes]]:
    """Files for a device of about ``mib`` MiB: ~10% pictures, ~10% video,
    ~65% random filler; or, with ``photos``, a camera roll: ~80% 12 MP
    photos, ~10% video, ~5% filler. Returns (files, deleted paths, pictures)."""
    from triage.sample import zip_bytes

    if photos:
        pics = _photos(rng, max(20, int(mib * 0.8 * (1 << 20) / 1.7e6)))
    else:
        pics = _pictures(rng, max(60, mib * 1200 // 1024), big_every=9)
    files: dict[str, bytes] = {}
    for i, data in enumerate(pics):
        if i % 50 == 7:
            files[f"{tag}/docs/scan{i:05d}.dat"] = data  # renamed
        else:
            files[f"{tag}/DCIM/{i // 200:03d}/IMG_{i:05d}.jpg"] = data
    files[f"{tag}/dl/album.zip"] = zip_bytes(
        {f"a/{j}.jpg": pics[j] for j in range(0, 40, 4)}, zipfile.ZIP_STORED
    )
    for i in range(max(1, mib // 100)):
        files[f"{tag}/Movies/clip{i:03d}.mp4"] = _fake_video(rng, 10 << 20)
    filler = int(mib * (0.05 if photos else 0.65)) << 20
    for i in range(max(1, filler // (16 << 20))):
        files[f"{tag}/data/blob{i:04d}.bin"] = rng.bytes(16 << 20)
    for i in range(200):
        files[f"{tag}/notes/n{i:03d}.txt"] = (f"note {i}\n" * 400).encode()
    deleted = [p for p in files if p.endswith(".jpg")][5::60]
    return files, deleted, pics


def _ext4_device(
    rng: np.random.Generator, root: Path, mib: int, photos: bool
) -> tuple[str, list[bytes]]:
    """Device 1, a bare ext4 raw image; returns (its path, the pictures whose
    MD5s go in the hash set)."""
    from triage.sample import disk

    files, deleted, pics = _device_files(rng, mib, "u1", photos)
    ext4 = disk.build_filesystem(
        "ext4", files, root / "dev1.raw", size_mb=int(mib * 1.15), deleted=deleted
    )
    del files
    return str(ext4), pics[:: max(1, len(pics) // 25)]


def _e01_device(
    rng: np.random.Generator, root: Path, mib: int, photos: bool
) -> tuple[str, list[bytes]]:
    """Device 2, an E01 of an MBR disk with FAT32; returns (its first segment,
    its pictures)."""
    from triage.sample import disk

    files, deleted, pics2 = _device_files(rng, mib, "u2", photos)
    fat = disk.build_filesystem(
        "fat32", files, root / "dev2.fat", size_mb=int(mib * 1.15), deleted=deleted
    )
    del files
    raw = disk.build_disk(root / "dev2.disk", [fat], "mbr")
    fat.unlink()
    segments = disk.to_ewf(raw, root / "dev2", segment_size=512 << 20)
    raw.unlink()
    return str(segments[0]), pics2


def _known_entries(planted: list[bytes], pics2: list[bytes]) -> list[HashEntry]:
    """Hash set entries: the MD5 of each planted picture (category A), then the
    original PDQ and pHash of every tenth-or-so picture of device 2 (B)."""
    from triage.hashmatch.hashing import perceptual_hashes
    from triage.hashmatch.hashset import HashEntry

    entries = [
        HashEntry(f"md5-{i}", "A", None, (("md5", hashlib.md5(p).hexdigest()),))
        for i, p in enumerate(planted)
    ]
    for i, p in enumerate(pics2[:: max(1, len(pics2) // 10)]):
        result = perceptual_hashes(p, "image/jpeg", where=f"pdq-{i}")
        hashes = tuple(
            (h.algorithm, h.value) for h in result.hashes if h.variant == "original"
        )
        entries.append(HashEntry(f"pdq-{i}", "B", None, hashes))
    return entries


def _write_hashset(
    rng: np.random.Generator, entries: list[HashEntry], path: Path
) -> None:
    """The known entries plus 100 000 random ones (category C) in every
    column, written to ``path``."""
    from triage.hashmatch.hashset import HashSet

    n_random = 100_000
    ids = [e.entry_id for e in entries] + [f"r{i}" for i in range(n_random)]
    cats: list[str | None] = [e.category for e in entries] + ["C"] * n_random
    tables: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for column, width in (("md5", 16), ("pdq", 32), ("phash", 8)):
        known = [
            (bytes.fromhex(v), row)
            for row, e in enumerate(entries)
            for c, v in e.hashes
            if c == column
        ]
        rand = rng.integers(0, 256, (n_random, width), dtype=np.uint8)
        hashes = np.concatenate(
            [np.frombuffer(b"".join(k for k, _ in known), np.uint8).reshape(-1, width),
             rand]
        )  # fmt: skip
        rows = np.concatenate(
            [np.array([r for _, r in known], np.uint32),
             np.arange(len(entries), len(entries) + n_random, dtype=np.uint32)]
        )  # fmt: skip
        tables[column] = (hashes, rows)
    hs = HashSet.from_columns(ids, cats, None, tables, name="bench-bad")
    hs.write(path)


def build_corpus(kind: str) -> dict[str, Any]:
    """Build (or reuse) the devices and the hash set; returns the manifest.
    ``kind``: "full" (~2 GiB of mostly small pictures and filler), "quick"
    (~300 MiB of the same), "photos" (~2 GiB camera rolls of 12 MP JPEGs)."""
    # Imported before the reuse check, as they always were: the "corpus ready"
    # time printed by main() includes them.
    import triage.hashmatch.hashing  # noqa: F401
    import triage.hashmatch.hashset  # noqa: F401
    import triage.sample.disk  # noqa: F401

    root = OUT / kind
    manifest_path = root / "manifest.json"
    if manifest_path.exists():
        return json.loads(manifest_path.read_text())
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    mib = 160 if kind == "quick" else 1100  # > 2 GiB of evidence in all
    photos = kind == "photos"
    dev1, planted = _ext4_device(rng, root, mib, photos)
    dev2, pics2 = _e01_device(rng, root, mib, photos)
    entries = _known_entries(planted, pics2)
    set_path = root / "bench-bad.ths"
    _write_hashset(rng, entries, set_path)
    manifest = {
        "devices": [dev1, dev2],
        "hashset": str(set_path),
        "planted_exact": len(planted),
        "planted_perceptual": len(entries) - len(planted),
        "seed": SEED,
    }
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


def fast_variant(kind: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """The same corpus with its E01 device acquired again ``-c fast`` (deflate
    on every chunk, as most acquisitions are) instead of ``-c empty-block``:
    same content, so the scans compare the container's cost. Built once, in
    ``OUT/<kind>-fast`` (the raw device and the hash set are shared)."""
    from triage.ingest.evidence import open_device

    root = OUT / f"{kind}-fast"
    manifest_path = root / "manifest.json"
    if manifest_path.exists():
        return json.loads(manifest_path.read_text())
    root.mkdir(parents=True, exist_ok=True)
    raw = root / "dev2.disk"
    with open_device(manifest["devices"][1]) as handle, open(raw, "wb") as out:
        for offset in range(0, handle.size, 8 << 20):
            out.write(handle.read(offset, 8 << 20))
    subprocess.run(
        ["ewfacquire", "-u", "-q", "-t", str(root / "dev2"), "-f", "encase6",
         "-c", "fast", "-S", str(512 << 20), "-d", "sha1", "-C", "bench",
         "-D", "bench_scan -c fast", "-e", "triage", "-E", "1",
         "-N", "benign generated corpus", "-m", "fixed", "-M", "physical", str(raw)],
        check=True, capture_output=True,
    )  # fmt: skip
    raw.unlink()
    variant = {**manifest, "devices": [manifest["devices"][0], str(root / "dev2.E01")]}
    manifest_path.write_text(json.dumps(variant, indent=1))
    return variant


def _evidence_files(manifest: dict[str, Any]) -> list[Path]:
    from triage.ingest.evidence import discover_segments

    return [Path(s) for d in manifest["devices"] for s in discover_segments(d)]


# -- baselines ----------------------------------------------------------------


def drop_from_cache(files: list[Path]) -> None:
    """Ask the kernel to forget the cached pages of ``files`` (read-only open;
    the files are not changed). The next read comes from the disk. Dirty pages
    (a corpus just written) cannot be dropped, so everything is flushed first."""
    os.sync()
    for path in files:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def sequential_read(files: list[Path]) -> tuple[float, int]:
    total = 0
    t = time.perf_counter()
    for path in files:
        with open(path, "rb", buffering=0) as fh:
            while block := fh.read(8 << 20):
                total += len(block)
    return time.perf_counter() - t, total


def _decode_items(db: Path, hash_too: bool, part: int, parts: int) -> tuple[float, int]:
    """Decode every ``parts``-th distinct stored media item starting at ``part``;
    returns (seconds spent decoding, items)."""
    import sqlite3

    from triage.hashmatch.decode import decode_luma
    from triage.hashmatch.hashing import perceptual_hashes
    from triage.hashmatch.kernels import one_blas_thread
    from triage.ingest.content import read_record
    from triage.ingest.evidence import open_device
    from triage.store import Store

    one_blas_thread()  # as scan workers run
    con = sqlite3.connect(db)
    evidence = dict(con.execute("SELECT device_id, evidence FROM devices"))
    con.close()
    n = k = 0
    spent = 0.0
    with Store(db) as store:
        for dev, path in evidence.items():
            with open_device(path, dev) as handle:
                seen: set[str] = set()
                for item in store.media(dev):
                    if not item.decoded or item.hashes.md5 in seen:
                        continue
                    seen.add(item.hashes.md5)
                    k += 1
                    if k % parts != part:
                        continue
                    data = read_record(handle, item.record)
                    t = time.perf_counter()
                    if hash_too:
                        perceptual_hashes(data, item.record.media_type, where="b")
                    else:
                        decode_luma(data, item.record.media_type, where="bench")
                    spent += time.perf_counter() - t
                    n += 1
    return spent, n


def decode_once(
    db: Path, *, hash_too: bool = False, processes: int = 1
) -> tuple[float, int]:
    """Decode each stored media item once, as the hashing code does (same
    reduced-size decode), without hashing: the CPU floor of any scanner.
    ``hash_too``: run the whole ``perceptual_hashes`` (decode, PDQ with its
    dihedral variants, pHash, border trim) instead: triage's own floor.
    ``processes``: split the items over that many processes; the floor is the
    busiest one's decoding time (reads and start-up are not counted)."""
    if processes == 1:
        return _decode_items(db, hash_too, 0, 1)
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(processes) as pool:
        done = list(
            pool.map(
                _decode_items,
                [db] * processes,
                [hash_too] * processes,
                range(processes),
                [processes] * processes,
            )
        )
    return max(s for s, _ in done), sum(n for _, n in done)


def naive_scan(manifest: dict[str, Any]) -> tuple[float, int, int]:
    """Walk allocated files by extension, decode in full, pHash, brute force."""
    import imagehash
    from PIL import Image

    from triage.hashmatch.hashset import HashSet
    from triage.ingest.content import read_record
    from triage.ingest.evidence import open_device
    from triage.ingest.listing import iter_entries
    from triage.ingest.volumes import iter_partitions
    from triage.records import Skipped

    hs = HashSet.load(manifest["hashset"])
    table, _ = hs.table("phash")
    known = np.frombuffer(table.tobytes(), dtype=">u8")
    t = time.perf_counter()
    items = hits = 0
    for path in manifest["devices"]:
        with open_device(path) as handle:
            for part in iter_partitions(handle):
                if isinstance(part, Skipped) or part.fs_type is None:
                    continue
                for rec in iter_entries(handle, part):
                    if isinstance(rec, Skipped) or rec.deleted:
                        continue
                    if not rec.path.lower().endswith(IMAGE_EXT):
                        continue
                    data = read_record(handle, rec)
                    with Image.open(io.BytesIO(data)) as img:
                        value = int(str(imagehash.phash(img.convert("RGB"))), 16)
                    items += 1
                    xor = np.bitwise_xor(known, np.uint64(value))
                    dist = np.unpackbits(xor.view(np.uint8)).reshape(-1, 64).sum(1)
                    hits += int((dist <= 8).any())
    return time.perf_counter() - t, items, hits


# -- scans in fresh processes ------------------------------------------------


def _run_scan_child(config: dict[str, Any]) -> dict[str, Any]:
    from triage.scan import scan

    t = time.perf_counter()
    summary = scan(
        config["devices"],
        [config["hashset"]],
        config["db"],
        workers=config.get("workers"),
        scheduler=config.get("scheduler"),
        stop_after=config.get("stop_after"),
    )
    seconds = time.perf_counter() - t
    return {
        "seconds": seconds,
        "media": sum(d.media for d in summary.devices),
        "matches": sum(d.matches for d in summary.devices),
        "first_hit": min(
            (d.first_hit_seconds for d in summary.devices if d.first_hit_seconds),
            default=None,
        ),
        "statuses": [d.status for d in summary.devices],
        "task_seconds": sum(d.task_seconds for d in summary.devices),
        "driver_cpu": sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
        "driver_rss": _peak_rss(os.getpid()) or 0,
    }


def _peak_rss(pid: int) -> int | None:
    """Peak resident size of process ``pid`` since it started or last exec'd
    (``VmHWM``), in bytes. Not ``ru_maxrss``: Linux keeps that across exec, so
    a spawned worker would report the size of the process it was forked from."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def run_scan(config: dict[str, Any]) -> dict[str, Any]:
    """One scan in a fresh process. While it runs, the peak size of each of
    its descendants (Dask nannies and workers) is read every 0.2 s; the
    largest is reported as ``worker_rss`` (the workers hold the index and the
    pictures; a nanny is smaller)."""
    import threading

    import psutil

    child = subprocess.Popen(
        [sys.executable, __file__, "--child", json.dumps(config)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peaks: dict[int, int] = {}
    done = threading.Event()

    def watch() -> None:
        parent = psutil.Process(child.pid)
        while not done.wait(0.2):
            try:
                for proc in parent.children(recursive=True):
                    peak = _peak_rss(proc.pid)
                    if peak is not None:
                        peaks[proc.pid] = max(peak, peaks.get(proc.pid, 0))
            except psutil.Error:
                pass

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    out, err = child.communicate()
    done.set()
    watcher.join()
    if child.returncode != 0:
        raise SystemExit(f"scan child failed:\n{err[-3000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["worker_rss"] = max(peaks.values(), default=0)
    return result


def _row(
    label: str, res: dict[str, Any], evidence_bytes: int
) -> tuple[str, float, str]:
    secs = res["seconds"]
    return (
        label,
        secs,
        f"{evidence_bytes / secs / 1e6:.0f} MB/s, {res['media'] / secs:.0f} media/s, "
        f"{res['media']} media, {res['matches']} matched, tasks "
        f"{res['task_seconds']:.1f} s, driver CPU {res['driver_cpu']:.1f} s, "
        f"worker peak {res['worker_rss'] / 2**20:.0f} MiB, driver "
        f"{res['driver_rss'] / 2**20:.0f} MiB",
    )


class _Rounds:
    """Every measure is taken once per round, rounds one after the other (so a
    machine that drifts affects all of them alike); the fastest of each is
    kept, and the notes give all of them."""

    def __init__(self) -> None:
        self.seen: dict[str, list[float]] = {}
        self.results: dict[str, list[dict[str, Any]]] = {}

    def keep(self, name: str, seconds: float) -> float:
        self.seen.setdefault(name, []).append(seconds)
        return seconds

    def scan(self, name: str, config: dict[str, Any]) -> None:
        result = run_scan(config)
        self.keep(name, result["seconds"])
        self.results.setdefault(name, []).append(result)

    def fastest(self, name: str) -> float:
        return min(self.seen[name])

    def best(self, name: str) -> dict[str, Any]:
        return min(self.results[name], key=lambda r: r["seconds"])

    def spread(self, name: str) -> str:
        values = self.seen[name]
        if len(values) == 1:
            return ""
        return f" (min of {', '.join(f'{v:.2f}' for v in values)})"


Row = tuple[str, float, str]


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="~300 MiB corpus")
    parser.add_argument(
        "--photos", action="store_true", help="~2 GiB of 12 MP camera photos instead"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--skip-naive", action="store_true")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="rounds of every measure but the naive scan; the fastest is kept",
    )
    parser.add_argument(
        "--ewf-compression",
        choices=("empty-block", "fast"),
        default="empty-block",
        help="how the E01 device is acquired (fast: deflate on every chunk)",
    )
    return parser.parse_args()


def _print_header(kind: str, ewf_compression: str) -> None:
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    print(
        f"seed {SEED}  machine {platform.node()} {platform.machine()} "
        f"{os.cpu_count()} cores  python {platform.python_version()}  date {now}  "
        f"corpus {kind} (E01 -c {ewf_compression})  "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def _prepare_corpus(
    kind: str, ewf_compression: str
) -> tuple[dict[str, Any], list[Path], int, int]:
    """Build or reuse the corpus; returns (manifest, evidence files, their
    bytes, the hash set's bytes)."""
    t = time.perf_counter()
    manifest = build_corpus(kind)
    if ewf_compression == "fast":
        manifest = fast_variant(kind, manifest)
    files = _evidence_files(manifest)
    evidence_bytes = sum(f.stat().st_size for f in files)
    index_bytes = Path(manifest["hashset"]).stat().st_size
    print(
        f"corpus ready in {time.perf_counter() - t:.1f} s: {len(files)} evidence "
        f"files, {evidence_bytes / 2**20:.0f} MiB; hash set "
        f"{index_bytes / 2**20:.1f} MiB"
    )
    return manifest, files, evidence_bytes, index_bytes


def _run_round(
    rounds: _Rounds, manifest: dict[str, Any], files: list[Path]
) -> tuple[int, int]:
    """One round of every measure but the naive scan; returns the items
    decoded (decode only, decode + hashes)."""
    drop_from_cache(files)
    rounds.keep("cold read", sequential_read(files)[0])
    rounds.keep("warm read", sequential_read(files)[0])
    with tempfile.TemporaryDirectory(prefix="bench-scan-") as tmp:
        base = {"devices": manifest["devices"], "hashset": manifest["hashset"]}
        rounds.scan("one", {**base, "db": f"{tmp}/w1.db", "workers": 1})
        db = Path(f"{tmp}/w1.db")
        dec1, dec_n = decode_once(db)
        rounds.keep("decode 1", dec1)
        rounds.keep("decode 2", decode_once(db, processes=2)[0])
        hashed, hash_n = decode_once(db, hash_too=True)
        rounds.keep("decode + hashes", hashed)
        rounds.scan("two", {**base, "db": f"{tmp}/w2.db", "workers": 2})
        drop_from_cache(files)
        rounds.scan("cold", {**base, "db": f"{tmp}/cold.db", "workers": 2})
        rounds.scan(
            "first",
            {**base, "db": f"{tmp}/stop.db", "workers": 2, "stop_after": 1},
        )
    return dec_n, hash_n


def _floor_rows(
    rounds: _Rounds, evidence_bytes: int, dec_n: int, hash_n: int
) -> list[Row]:
    """The I/O and CPU floors: plain reads and decoding."""
    cold_s, warm_s = rounds.fastest("cold read"), rounds.fastest("warm read")
    return [
        (
            "plain sequential read, cold",
            cold_s,
            f"{evidence_bytes / cold_s / 1e6:.0f} MB/s{rounds.spread('cold read')}",
        ),
        (
            "plain sequential read, warm",
            warm_s,
            f"{evidence_bytes / warm_s / 1e6:.0f} MB/s{rounds.spread('warm read')}",
        ),
        (
            "decode each media item once, 1 process",
            rounds.fastest("decode 1"),
            f"{dec_n} items{rounds.spread('decode 1')}",
        ),
        (
            "decode each media item once, 2 processes",
            rounds.fastest("decode 2"),
            f"busiest process{rounds.spread('decode 2')}",
        ),
        (
            "decode + perceptual hashes, 1 process",
            rounds.fastest("decode + hashes"),
            f"{hash_n} items{rounds.spread('decode + hashes')}",
        ),
    ]


def _naive_row(manifest: dict[str, Any]) -> tuple[Row, float]:
    """The naive scanner, once; returns (row, seconds)."""
    naive_s, naive_n, naive_hits = naive_scan(manifest)
    row = (
        "naive: by extension, full decode, pHash, brute force",
        naive_s,
        f"{naive_n} items, {naive_hits} hits",
    )
    return row, naive_s


def _scan_rows(rounds: _Rounds, evidence_bytes: int) -> list[Row]:
    """The triage scans (fastest of each) and the time to first hit."""
    rows: list[Row] = []
    for label, name in (
        ("triage scan, 1 worker (warm)", "one"),
        ("triage scan, 2 workers (warm)", "two"),
        ("triage scan, 2 workers (cold)", "cold"),
    ):
        label_, secs, note = _row(label, rounds.best(name), evidence_bytes)
        rows.append((label_, secs, note + rounds.spread(name)))
    first = rounds.best("first")
    rows.append(
        (
            "stop-after 1 (2 workers): first hit",
            first["first_hit"] or -1,
            f"whole run {first['seconds']:.1f} s, {first['statuses']}",
        )
    )
    return rows


def _print_table(rows: list[Row]) -> None:
    width = max(len(r[0]) for r in rows)
    print(f"\n{'measure'.ljust(width)}  {'seconds':>8}  notes")
    for label, secs, note in rows:
        print(f"{label.ljust(width)}  {secs:8.2f}  {note}")


def _print_ratios(rounds: _Rounds, naive_s: float | None, index_bytes: int) -> None:
    """Scans against their floors, and the workers' peak size, with targets."""
    cold_s, warm_s = rounds.fastest("cold read"), rounds.fastest("warm read")
    dec1_s, dec2_s = rounds.fastest("decode 1"), rounds.fastest("decode 2")
    hash_s = rounds.fastest("decode + hashes")
    one, two = rounds.best("one")["seconds"], rounds.best("two")["seconds"]
    cold = rounds.best("cold")["seconds"]
    print("\nratios (targets in brackets):")
    ratios = [
        ("2-worker scan, cold / max(cold read, decode on 2)",
         cold / max(cold_s, dec2_s), "[<= 1.5]"),
        ("1-worker scan, warm / max(warm read, decode on 1)",
         one / max(warm_s, dec1_s), "[<= 1.5]"),
        ("2-worker scan, warm / max(warm read, decode on 2)",
         two / max(warm_s, dec2_s), "[<= 1.5]"),
        ("1-worker scan, warm / max(warm read, decode + hashes)",
         one / max(warm_s, hash_s), ""),
        ("speed-up, 2 workers vs 1 (warm)", one / two, "[>= 1.7]"),
    ]  # fmt: skip
    if naive_s is not None:
        ratios.append(("naive / 1-worker scan", naive_s / one, ""))
    for label, value, target in ratios:
        print(f"  {label.ljust(54)} {value:6.2f}  {target}")
    limit = (1 << 30) + index_bytes
    peak = max(
        r["worker_rss"] for name in ("one", "two", "cold") for r in rounds.results[name]
    )
    print(
        f"  {'worker peak RSS'.ljust(54)} {peak / 2**20:6.0f}  "
        f"[< 1 GiB + index = {limit / 2**20:.0f} MiB]"
    )


def main() -> None:
    args = _parse_args()
    if args.child:
        print(json.dumps(_run_scan_child(json.loads(args.child))))
        return

    kind = "photos" if args.photos else "quick" if args.quick else "full"
    _print_header(kind, args.ewf_compression)
    manifest, files, evidence_bytes, index_bytes = _prepare_corpus(
        kind, args.ewf_compression
    )

    rounds = _Rounds()
    for _ in range(args.repeat):
        dec_n, hash_n = _run_round(rounds, manifest, files)
    rows = _floor_rows(rounds, evidence_bytes, dec_n, hash_n)
    naive_s = None
    if not args.skip_naive:
        naive_row, naive_s = _naive_row(manifest)
        rows.append(naive_row)
    rows += _scan_rows(rounds, evidence_bytes)
    _print_table(rows)
    _print_ratios(rounds, naive_s, index_bytes)


if __name__ == "__main__":
    main()
