"""The hash set file: round trip, canonical digest, damage detection."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest

from triage.errors import HashSetError
from triage.hashmatch.hashset import FORMAT_VERSION, MAGIC, HashEntry, HashSet


def _hex(seed: str, nbytes: int) -> str:
    return hashlib.sha256(seed.encode()).digest()[:nbytes].hex()


def _entries(n: int = 30) -> list[HashEntry]:
    out = []
    for i in range(n):
        hashes = [("md5", _hex(f"m{i}", 16)), ("sha1", _hex(f"s{i}", 20))]
        if i % 3:
            hashes.append(("pdq", _hex(f"p{i}", 32)))
        if i % 5 == 0:  # several PDQ hashes on one entry
            hashes.append(("pdq", _hex(f"p2{i}", 32)))
        if i % 2:
            hashes.append(("phash", _hex(f"h{i}", 8)))
        out.append(
            HashEntry(
                f"media-{i}",
                [None, "A", "B", "C"][i % 4],
                f"name {i} é" if i % 2 else None,
                tuple(sorted(hashes)),
            )
        )
    return out


def _canon(entries: list[HashEntry]) -> list[HashEntry]:
    return sorted(
        (
            HashEntry(e.entry_id, e.category, e.name, tuple(sorted(e.hashes)))
            for e in entries
        ),
        key=lambda e: (e.entry_id, e.category or "", e.name or ""),
    )


def test_round_trip_keeps_every_entry_and_digest(tmp_path: Path) -> None:
    entries = _entries()
    built = HashSet.from_entries(entries, name="ref", kind="known-bad", scheme="caid")
    path = tmp_path / "ref.hset"
    built.write(path)
    loaded = HashSet.load(path)
    assert loaded.digest == built.digest and loaded.digest.startswith("sha256:")
    assert (loaded.name, loaded.kind, loaded.scheme) == ("ref", "known-bad", "caid")
    assert _canon(list(loaded.iter_entries())) == _canon(entries)
    assert loaded.counts() == {
        "entries": 30,
        "md5": 30,
        "sha1": 30,
        "pdq": 26,
        "phash": 15,
        "dhash": 0,
    }
    assert loaded.category_counts() == {"none": 8, "A": 8, "B": 7, "C": 7}
    assert loaded.version == FORMAT_VERSION


def test_digest_is_canonical_over_order_name_and_time() -> None:
    entries = _entries()
    a = HashSet.from_entries(entries, name="one")
    b = HashSet.from_entries(list(reversed(entries)), name="two")
    assert a.digest == b.digest
    changed = list(entries)
    changed[3] = HashEntry(changed[3].entry_id, "A", changed[3].name, changed[3].hashes)
    assert HashSet.from_entries(changed, name="one").digest != a.digest
    assert HashSet.from_entries(entries, name="one", kind="known-good").digest != (
        a.digest
    )


def test_duplicate_entries_merge_and_duplicate_hashes_drop() -> None:
    e = HashEntry("x", "A", None, (("md5", _hex("a", 16)),))
    f = HashEntry("x", "A", None, (("md5", _hex("a", 16)), ("sha1", _hex("b", 20))))
    merged = HashSet.from_entries([e, f, e], name="m")
    assert len(merged) == 1
    assert merged.counts()["md5"] == 1 and merged.counts()["sha1"] == 1
    # the same id with another category is a different entry, kept apart
    assert len(HashSet.from_entries([e, HashEntry("x", "B")], name="m")) == 2


def test_from_columns_builds_large_sets_in_numpy(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    n = 200_000
    ids = np.char.add(b"e", np.arange(n).astype("S7"))
    pdq = rng.integers(0, 256, (n, 32), dtype=np.uint8)
    built = HashSet.from_columns(
        ids, [None] * n, None, {"pdq": (pdq, np.arange(n))}, name="big"
    )
    built.write(tmp_path / "big.hset")
    loaded = HashSet.load(tmp_path / "big.hset")
    hashes, rows = loaded.table("pdq")
    assert len(hashes) == n and loaded.digest == built.digest
    # every stored hash still belongs to the entry it was given to
    sample = rng.integers(0, n, 50)
    for i in sample:
        assert bytes(pdq[int(loaded.entry_id(int(rows[i]))[1:])]) == bytes(hashes[i])


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "s.hset"
    HashSet.from_entries(_entries(), name="s").write(path)
    return path


def test_altered_content_is_detected(tmp_path: Path) -> None:
    path = _write(tmp_path)
    data = bytearray(path.read_bytes())
    (length,) = struct.unpack_from("<Q", data, 16)
    arrays = {a["name"]: a for a in json.loads(data[24 : 24 + length])["arrays"]}
    data[arrays["md5.hashes"]["offset"] + 5] ^= 0x01  # one bit of one MD5
    path.write_bytes(bytes(data))
    with pytest.raises(HashSetError, match=r"s\.hset: content does not match"):
        HashSet.load(path)
    assert HashSet.load(path, verify=False).name == "s"


def test_altered_kind_in_header_is_detected(tmp_path: Path) -> None:
    path = _write(tmp_path)
    data = path.read_bytes()
    (length,) = struct.unpack_from("<Q", data, 16)
    header = json.loads(data[24 : 24 + length])
    header["kind"] = "known-good"  # same arrays, same length, another meaning
    raw = json.dumps(header).encode().ljust(length)
    path.write_bytes(data[:24] + raw + data[24 + length :])
    with pytest.raises(HashSetError, match="does not match its digest"):
        HashSet.load(path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d[: len(d) // 2], "truncated"),
        (lambda d: b"NOTASET!" + d[8:], "not a triage hash set"),
        (lambda d: d[:8] + struct.pack("<I", FORMAT_VERSION + 1) + d[12:], "newer"),
        (lambda d: d[:24] + b"[[[[" + d[28:], "header is damaged"),
        (lambda d: b"", "not a triage hash set"),
    ],
)
def test_damaged_files_name_the_file(tmp_path: Path, mutate, message: str) -> None:
    path = _write(tmp_path)
    path.write_bytes(mutate(path.read_bytes()))
    with pytest.raises(HashSetError, match=message) as info:
        HashSet.load(path)
    assert str(path) in str(info.value)


def test_file_layout_is_documented_header(tmp_path: Path) -> None:
    path = _write(tmp_path)
    data = path.read_bytes()
    magic, version, _, length = struct.unpack_from("<8sIIQ", data)
    assert magic == MAGIC and version == FORMAT_VERSION
    header = json.loads(data[24 : 24 + length])
    assert header["format"] == "triage-hashset" and header["counts"]["entries"] == 30
    assert all(a["offset"] % 64 == 0 for a in header["arrays"])
    assert "dhash.rows" not in {a["name"] for a in header["arrays"]}  # empty column


def test_loading_never_writes_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path)
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    loaded = HashSet.load(path)
    list(loaded.iter_entries())
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_bad_kind_and_scheme_are_refused() -> None:
    with pytest.raises(HashSetError, match="known-bad, known-good"):
        HashSet.from_entries([], name="x", kind="bad")
    with pytest.raises(HashSetError, match="caid, vics"):
        HashSet.from_entries([], name="x", scheme="nope")


def test_empty_set_round_trips(tmp_path: Path) -> None:
    HashSet.from_entries([], name="empty").write(tmp_path / "e.hset")
    loaded = HashSet.load(tmp_path / "e.hset")
    assert len(loaded) == 0 and list(loaded.iter_entries()) == []


def test_nameless_sets_store_no_name_column(tmp_path: Path) -> None:
    entries = [
        HashEntry(f"e{i}", None, None, (("md5", _hex(f"{i}", 16)),)) for i in range(5)
    ]
    path = tmp_path / "n.hset"
    HashSet.from_entries(entries, name="n").write(path)
    data = path.read_bytes()
    (length,) = struct.unpack_from("<Q", data, 16)
    header = json.loads(data[24 : 24 + length])
    names = {a["name"] for a in header["arrays"]}
    assert "entries.names.blob" not in names
    assert {a["dtype"] for a in header["arrays"] if a["name"].endswith("offsets")} == {
        "<u4"
    }
    loaded = HashSet.load(path)
    assert [e.name for e in loaded.iter_entries()] == [None] * 5
    assert [e.entry_id for e in loaded.iter_entries()] == [f"e{i}" for i in range(5)]
