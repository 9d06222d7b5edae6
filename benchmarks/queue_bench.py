"""Benchmark the queue: scoring and ranking, loading from SQLite, report, export.

Usage: python benchmarks/queue_bench.py [--devices 1000] [--matches 200] [--seed 7]

Synthetic facts (seeded): each device gets up to --matches matches spread over
exact and PDQ matches to CAID A/B/C items, some deleted or carved, with copies
of the same item; a fifth of devices have none. The database part writes the
same rows through the Store API, then times ``build_queue``, ``case_data``,
``render_report`` and the three exports.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from triage.casework import build_queue, case_data, open_store  # noqa: E402
from triage.queue.export import export  # noqa: E402
from triage.queue.rank import rank  # noqa: E402
from triage.queue.report import render_report  # noqa: E402
from triage.queue.score import DeviceFacts, DeviceMatch, load_calibration  # noqa: E402
from triage.records import Case, Device, FileRecord, Match, MediaHash  # noqa: E402
from triage.store import ChunkWrite, Store  # noqa: E402

ACCESS = ("lives-with", "works-with", "regular-contact", "none", "unknown")


def synth(rng: random.Random, n_dev: int, n_match: int) -> list[DeviceFacts]:
    out = []
    for d in range(n_dev):
        k = 0 if rng.random() < 0.2 else rng.randint(1, n_match)
        matches = []
        for j in range(k):
            exact = rng.random() < 0.5
            matches.append(
                DeviceMatch(
                    address=f"p0:i{j}:f{j}.jpg",
                    set_name="caid",
                    entry_id=str(rng.randint(1, max(2, k // 2))),
                    algorithm="md5" if exact else "pdq",
                    distance=0 if exact else rng.randint(0, 45),
                    category=rng.choice("ABC"),
                    scheme="caid",
                    path=f"f{j}.jpg",
                    deleted=rng.random() < 0.2,
                    carved=rng.random() < 0.05,
                )
            )
        out.append(
            DeviceFacts(
                f"dev{d:05d}",
                f"case{d % 50:02d}",
                "scanned",
                media_count=rng.randint(k, 10 * k + 100),
                matches=tuple(matches),
            )  # fmt: skip
        )
    return out


def cases(rng: random.Random) -> dict[str, Case]:
    return {
        f"case{i:02d}": Case(f"case{i:02d}", rng.choice(ACCESS), rng.choice(
            ("low", "medium", "high", "very-high", None)))
        for i in range(50)
    }  # fmt: skip


def to_db(path: Path, facts: list[DeviceFacts], case_map: dict[str, Case]) -> None:
    with Store(path) as store:
        for c in case_map.values():
            store.set_case(c)
        for f in facts:
            ev = f"/evidence/{f.device_id}.E01"
            store.register_device(Device(f.device_id, (ev,), "ewf", 1 << 30), f.case_id)
            media, matches, seen = [], [], set()
            for m in f.matches:
                if m.address in seen:
                    continue
                seen.add(m.address)
                rec = FileRecord(f.device_id, ev, 0, 0, m.path, 1000, inode=int(
                    m.address.split(":")[1][1:]), deleted=m.deleted,
                    media_type="image/jpeg")  # fmt: skip
                md5 = hashlib.md5(m.address.encode()).hexdigest()
                media.append(
                    (rec, MediaHash(rec.address, md5, md5 + "00000000"), False)
                )
                matches.append(
                    Match(rec.address, "caid", "sha256:x", m.entry_id,
                          m.algorithm, m.distance, m.category, "caid")
                )  # fmt: skip
            store.write_chunk(
                ChunkWrite(f.device_id, "c", None, "s", media, matches, [])
            )
            store.set_device_status(f.device_id, "scanned")


def timed(fn):  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--devices", type=int, default=1000)
    ap.add_argument("--matches", type=int, default=200)
    ap.add_argument("--db-devices", type=int, default=200)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    cpu = platform.processor() or platform.machine()
    print(f"seed {args.seed}; {platform.node()} {cpu} {os.cpu_count()} cpus, "
          f"Python {platform.python_version()}; "
          f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")  # fmt: skip
    cal = load_calibration()
    case_map = cases(rng)
    facts = synth(rng, args.devices, args.matches)
    n_matches = sum(len(f.matches) for f in facts)
    rows = []
    _, t = timed(lambda: rank(facts, case_map, cal))
    rows.append((f"rank (pure): {args.devices} devices, {n_matches} matches", t))
    small = facts[: args.db_devices]
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        _, t = timed(lambda: to_db(db, small, case_map))
        n_small = sum(len(f.matches) for f in small)
        rows.append((f"write DB via Store: {len(small)} devices, {n_small} matches", t))
        with open_store(db) as store:
            _, t = timed(lambda: build_queue(store))
            rows.append(("build_queue from DB (load facts + rank)", t))
            data, t = timed(lambda: case_data(store))
            rows.append(("case_data (queue + per-device detail + audit)", t))
        html, t = timed(lambda: render_report(data, None, cal))
        rows.append((f"render_report ({len(html) / 1e6:.1f} MB HTML)", t))
        for fmt in ("json", "csv", "vics"):
            text, t = timed(lambda fmt=fmt: export(data, fmt, cal))  # type: ignore[misc]
            rows.append((f"export {fmt} ({len(text) / 1e6:.1f} MB)", t))
    width = max(len(r[0]) for r in rows)
    print(f"{'step':<{width}}  seconds")
    for name, t in rows:
        print(f"{name:<{width}}  {t:7.3f}")


if __name__ == "__main__":
    main()
