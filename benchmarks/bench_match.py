"""Benchmark hash set build/load and PDQ matching at 1 M and 10 M known hashes.

    python benchmarks/bench_match.py                  # 1 M and 10 M
    python benchmarks/bench_match.py --sizes 1000000  # quicker

Known PDQ hashes are half uniform random, half clustered near-duplicates
(clusters of 10 within ~16 bits of a centre: the realistic case, a picture
re-encoded many times). Queries are half planted near neighbours of known
hashes (distance 0..40, so some fall just past the threshold 31) and half
random. Each size runs the matching side in a fresh child process so resident
memory (RSS, psutil) is measured cleanly: after imports, after loading the set
(with digest verification), after building the index, after querying.
Exactness is checked against a numpy brute-force scan on a sample of queries.
Exact MD5 lookups (binary search over the sorted column, what the matcher
does) are compared with a Python dict on 1 M MD5s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

THRESHOLD = 31


def _flip_random_bits(
    codes: np.ndarray, counts: np.ndarray, rng: np.random.Generator
) -> None:
    """Flip up to ``counts[i]`` random bits of row i in place (distinct per pass)."""
    rows = np.arange(len(codes))
    for j in range(int(counts.max(initial=0))):
        active = rows[counts > j]
        pos = rng.integers(0, codes.shape[1] * 8, len(active))
        codes[active, pos // 8] ^= (1 << (7 - pos % 8)).astype(np.uint8)


def make_known(n: int, rng: np.random.Generator) -> np.ndarray:
    half = n // 2
    uniform = rng.integers(0, 256, (half, 32), dtype=np.uint8)
    centres = rng.integers(0, 256, (-(-(n - half) // 10), 32), dtype=np.uint8)
    clustered = np.repeat(centres, 10, axis=0)[: n - half]
    _flip_random_bits(clustered, rng.integers(0, 17, len(clustered)), rng)
    codes = np.vstack([uniform, clustered])
    return codes[rng.permutation(n)]


def make_queries(codes: np.ndarray, q: int, rng: np.random.Generator) -> np.ndarray:
    planted = codes[rng.integers(0, len(codes), q // 2)].copy()
    _flip_random_bits(planted, rng.integers(0, 41, len(planted)), rng)
    random = rng.integers(0, 256, (q - q // 2, 32), dtype=np.uint8)
    return np.vstack([planted, random])


def rss() -> int:
    import psutil

    return int(psutil.Process().memory_info().rss)


def child(set_path: str, queries_path: str, sample: int, threads: str) -> None:
    """Load, index, query; print one JSON line of measurements."""
    from triage.hashmatch.hashset import HashSet
    from triage.hashmatch.index import describe
    from triage.hashmatch.matcher import Matcher
    from triage.records import MediaHash, PerceptualHash

    out: dict[str, object] = {"rss_start": rss()}
    queries = np.load(queries_path)
    t0 = time.perf_counter()
    hs = HashSet.load(set_path)
    out["load_s"] = time.perf_counter() - t0
    out["rss_loaded"] = rss()
    matcher = Matcher([hs])
    t0 = time.perf_counter()
    matcher.prepare()
    out["index_build_s"] = time.perf_counter() - t0
    out["rss_indexed"] = rss()
    built = matcher._perceptual["pdq"]  # the benchmark looks at the index itself
    assert built is not None
    out["index"] = describe(built.index)
    for n_threads in [int(t) for t in threads.split(",")]:
        built.index.threads = n_threads
        t0, c0 = time.perf_counter(), time.process_time()
        result = built.index.search(queries)
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
        out[f"index_qps_{n_threads}t"] = len(queries) / elapsed
        out[f"index_cpu_s_{n_threads}t"] = cpu
        out["matches"] = len(result)
    out["rss_queried"] = rss()
    # Through the Matcher API (Match records, one PDQ per item).
    items = [
        MediaHash(
            f"m{i}",
            "0" * 32,
            "0" * 40,
            (PerceptualHash("pdq", queries[i].tobytes().hex(), quality=90),),
        )
        for i in range(min(len(queries), 5000))
    ]
    t0 = time.perf_counter()
    matcher.match_many(items)
    out["matcher_items_per_s"] = len(items) / (time.perf_counter() - t0)
    # Exactness against brute force on a sample (planted and random queries).
    codes, _ = hs.table("pdq")
    words = np.ascontiguousarray(codes).view(np.uint64)
    rng = np.random.default_rng(0)
    picks = np.concatenate(
        [
            rng.choice(len(queries) // 2, sample // 2, replace=False),
            len(queries) // 2
            + rng.choice(len(queries) // 2, sample // 2, replace=False),
        ]
    )
    found = built.index.search(queries[picks])
    got = set(zip(found.query.tolist(), found.code.tolist(), strict=True))
    want: set[tuple[int, int]] = set()
    qwords = np.ascontiguousarray(queries[picks]).view(np.uint64)
    t0 = time.perf_counter()
    for qi, qw in enumerate(qwords):
        dist = np.bitwise_count(words ^ qw).sum(axis=1, dtype=np.int32)
        want |= {(qi, int(c)) for c in np.flatnonzero(dist <= THRESHOLD)}
    out["brute_qps"] = len(picks) / (time.perf_counter() - t0)
    out["sample"] = len(picks)
    out["sample_true_matches"] = len(want)
    out["missed"] = len(want - got)
    out["extra"] = len(got - want)
    print(json.dumps(out))


def exact_lookup_bench(rng: np.random.Generator) -> dict[str, float]:
    """Binary search over the sorted MD5 column vs a dict, 1 M MD5s."""
    from triage.hashmatch.hashset import HashSet
    from triage.hashmatch.matcher import Matcher

    n = 1_000_000
    md5 = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    hs = HashSet.from_columns(
        np.char.add(b"m", np.arange(n).astype("S7")),
        [None] * n,
        None,
        {"md5": (md5, np.arange(n))},
        name="md5",
    )
    matcher = Matcher([hs])
    probes = [md5[i].tobytes().hex() for i in rng.integers(0, n, 50_000)]
    misses = [rng.bytes(16).hex() for _ in range(50_000)]
    t0 = time.perf_counter()
    for value in probes + misses:
        matcher.match_exact("x", {"md5": value, "sha1": None})
    search_s = (time.perf_counter() - t0) / 100_000
    before = rss()
    t0 = time.perf_counter()
    table = {md5[i].tobytes(): i for i in range(n)}
    dict_build = time.perf_counter() - t0
    dict_bytes = rss() - before
    t0 = time.perf_counter()
    for value in probes + misses:
        table.get(bytes.fromhex(value))
    dict_s = (time.perf_counter() - t0) / 100_000
    return {
        "searchsorted_us": search_s * 1e6,
        "dict_us": dict_s * 1e6,
        "dict_build_s": dict_build,
        "dict_mib": dict_bytes / 2**20,
        "sorted_keys_mib": hs.table("md5")[0].nbytes / 2**20 + n * 8 / 2**20,
    }


def faiss_comparison(rng: np.random.Generator, n: int = 1_000_000) -> list[str]:
    """faiss IndexBinaryMultiHash set up to be exact (substrings cover all 256
    bits, nflip = floor(t / nhash)) against HammingIndex, one thread each."""
    import faiss
    import psutil

    from triage.hashmatch.index import HammingIndex

    codes = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    queries = make_queries(codes, 2000, rng)
    faiss.omp_set_num_threads(1)
    flat = faiss.IndexBinaryFlat(256)
    flat.add(codes)
    lims_f, _, ids_f = flat.range_search(queries, THRESHOLD + 1)  # strict <
    oracle = [set(ids_f[lims_f[i] : lims_f[i + 1]]) for i in range(len(queries))]
    lines = []
    for nhash, b, nflip in ((16, 16, 1), (8, 32, 3)):
        before = psutil.Process().memory_info().rss
        index = faiss.IndexBinaryMultiHash(256, nhash, b)
        index.nflip = nflip
        t0 = time.perf_counter()
        index.add(codes)
        add_s = time.perf_counter() - t0
        grown = (psutil.Process().memory_info().rss - before) / 2**20
        c0 = time.process_time()
        lims, _, ids = index.range_search(queries, THRESHOLD + 1)
        cpu = time.process_time() - c0
        exact = all(
            set(ids[lims[i] : lims[i + 1]]) == oracle[i] for i in range(len(queries))
        )
        lines.append(
            f"| faiss IndexBinaryMultiHash nhash={nhash} b={b} nflip={nflip} | "
            f"{add_s:.1f} | {grown:.0f} | {len(queries) / cpu:,.0f} | {exact} |"
        )
        del index
    t0 = time.perf_counter()
    mine = HammingIndex(codes, THRESHOLD, threads=1)
    add_s = time.perf_counter() - t0
    # RSS growth is blurred here by pages faiss freed; count the arrays instead
    # (codes included, as faiss's figure includes its copy of them).
    grown = mine.nbytes_used / 2**20
    c0 = time.process_time()
    found = mine.search(queries)
    cpu = time.process_time() - c0
    got = [set() for _ in range(len(queries))]
    for q, c in zip(found.query.tolist(), found.code.tolist(), strict=True):
        got[q].add(c)
    lines.append(
        f"| triage HammingIndex (numpy MIH) | {add_s:.1f} | {grown:.0f} | "
        f"{len(queries) / cpu:,.0f} | {got == oracle} |"
    )
    return lines


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,10000000")
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--sample", type=int, default=200)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--seed", type=int, default=20261121)
    parser.add_argument(
        "--faiss",
        action="store_true",
        help="also compare with faiss IndexBinaryMultiHash at 1 M",
    )
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    return parser.parse_args()


def _print_header(seed: int) -> None:
    print(
        f"seed {seed}; {platform.node()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"numpy {np.__version__}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; "
        f"load average {os.getloadavg()[0]:.2f}"
    )


def _write_set(codes: np.ndarray, path: Path) -> tuple[float, float]:
    """A hash set of ``codes`` (categories A, B, C, none in turn) built and
    written to ``path``; returns (build seconds, write seconds)."""
    from triage.hashmatch.hashset import HashSet

    n = len(codes)
    ids = np.char.add(b"pdq-", np.arange(n).astype(f"S{len(str(n))}"))
    cats = np.array(["A", "B", "C", None], dtype=object)[np.arange(n) % 4]
    t0 = time.perf_counter()
    hs = HashSet.from_columns(
        ids,
        list(cats),
        None,
        {"pdq": (codes, np.arange(n))},
        name=f"bench-{n}",
        scheme="caid",
    )
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    hs.write(path)
    write_s = time.perf_counter() - t0
    return build_s, write_s


def _measure_child(
    set_path: Path, queries_path: Path, sample: int, threads: str
) -> dict[str, Any]:
    """Run ``child`` in a fresh process; returns its measurements."""
    proc = subprocess.run(
        [
            sys.executable,
            __file__,
            "--sample",
            str(sample),
            "--child",
            str(set_path),
            str(queries_path),
            threads,
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _measure_size(
    n: int, args: argparse.Namespace, rng: np.random.Generator, tmp: str
) -> dict[str, Any]:
    """Build, write, load, index and query a set of ``n`` known PDQ hashes."""
    codes = make_known(n, rng)
    queries = make_queries(codes, args.queries, rng)
    qpath = Path(tmp) / "queries.npy"
    np.save(qpath, queries)
    path = Path(tmp) / "set.hset"
    build_s, write_s = _write_set(codes, path)
    size = path.stat().st_size
    del codes
    m = _measure_child(path, qpath, args.sample, args.threads)
    m.update(n=n, build_s=build_s, write_s=write_s, file_mib=size / 2**20)
    path.unlink()
    return m


def _print_pdq_table(rows: list[dict[str, Any]], threads: list[str]) -> None:
    mib = 2**20
    print()
    print(
        "| known PDQ | build set (s) | write (s) | file (MiB) | load+verify (s) "
        "| index build (s) | RSS after load (MiB) | RSS index+queries (MiB) "
        + "".join(f"| index q/s {t} thr " for t in threads)
        + "| Matcher items/s | exact vs brute force |"
    )
    print("|" + "---|" * (10 + len(threads)))
    for m in rows:
        qps = "".join(f"| {m[f'index_qps_{t}t']:,.0f} " for t in threads)
        print(
            f"| {m['n']:,} | {m['build_s']:.1f} | {m['write_s']:.1f} | "
            f"{m['file_mib']:.0f} | {m['load_s']:.2f} | {m['index_build_s']:.1f} | "
            f"{(m['rss_loaded'] - m['rss_start']) / mib:.0f} | "
            f"{(m['rss_queried'] - m['rss_start']) / mib:.0f} {qps}| "
            f"{m['matcher_items_per_s']:,.0f} | {m['sample']} queries, "
            f"{m['sample_true_matches']} true matches, {m['missed']} missed, "
            f"{m['extra']} extra |"
        )


def _print_index_notes(
    rows: list[dict[str, Any]], threads: list[str], queries: int
) -> None:
    for m in rows:
        cpu = ", ".join(
            f"{t} thr: {queries / m[f'index_cpu_s_{t}t']:,.0f} queries per CPU-s"
            for t in threads
        )
        print(
            f"index for {m['n']:,}: {m['index']}; {cpu}; "
            f"brute force {m['brute_qps']:.1f} q/s"
        )


def _print_exact_table(exact: dict[str, float]) -> None:
    print()
    print("| exact MD5 lookup, 1 M set | µs per lookup | build (s) | memory (MiB) |")
    print("|---|---|---|---|")
    print(
        "| Matcher.match_exact (binary search on the sorted column, Match built "
        f"on hits) | "
        f"{exact['searchsorted_us']:.1f} | 0 (on disk sorted) | "
        f"{exact['sorted_keys_mib']:.0f} |"
    )
    print(
        f"| bare Python dict lookup, bytes -> row | {exact['dict_us']:.1f} | "
        f"{exact['dict_build_s']:.1f} | {exact['dict_mib']:.0f} |"
    )


def _print_faiss_table(rng: np.random.Generator) -> None:
    """Print the table's head, then run ``faiss_comparison`` for its rows."""
    print()
    print(
        "| 1 M uniform PDQ, t = 31, 1 thread | build (s) | memory (MiB) "
        "| queries per CPU-s | equal to flat range search |"
    )
    print("|---|---|---|---|---|")
    for line in faiss_comparison(rng):
        print(line)


def main() -> None:
    args = _parse_args()
    if args.child:
        child(args.child[0], args.child[1], args.sample, args.child[2])
        return

    _print_header(args.seed)
    rng = np.random.default_rng(args.seed)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-match-") as tmp:
        rows = [_measure_size(n, args, rng, tmp) for n in sizes]
    threads = args.threads.split(",")
    _print_pdq_table(rows, threads)
    _print_index_notes(rows, threads, args.queries)
    _print_exact_table(exact_lookup_bench(rng))
    if args.faiss:
        _print_faiss_table(rng)
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
