"""Every import format round-trips; bad lines are named and can be skipped."""

from __future__ import annotations

import csv
import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from triage.errors import HashSetError
from triage.hashmatch.formats import (
    HASHSET_FORMATS,
    detect_format,
    import_files,
    normalise_category,
    read_entries,
)
from triage.hashmatch.hashset import HashEntry


def _h(seed: str, nbytes: int) -> str:
    return hashlib.sha512(seed.encode()).digest()[:nbytes].hex()


KNOWN = [
    {
        "id": str(1000 + i),
        "md5": _h(f"md5-{i}", 16),
        "sha1": _h(f"sha1-{i}", 20),
        "pdq": _h(f"pdq-{i}", 32) if i % 2 else None,
        "phash": _h(f"ph-{i}", 8) if i % 3 else None,
        "category": "ABC"[i % 3],
        "name": f"picture {i}.jpg",
    }
    for i in range(12)
]


def _entries(path: Path, **kwargs) -> list[HashEntry]:
    hs, _ = import_files([path], name="t", **kwargs)
    return list(hs.iter_entries())


def _by_hash(entries: list[HashEntry], column: str) -> dict[str, HashEntry]:
    return {e.values(column)[0]: e for e in entries}


def test_csv_round_trip_any_column_order_and_case(tmp_path: Path) -> None:
    path = tmp_path / "ref.csv"
    with open(path, "w", newline="") as out:
        w = csv.writer(out)
        w.writerow(["SHA-1", "Category", "size", "MD5", "PDQ", "Name", "pHash"])
        for k in KNOWN:
            w.writerow(
                [
                    k["sha1"].upper(),
                    k["category"],
                    10,
                    k["md5"],
                    k["pdq"] or "",
                    k["name"],
                    k["phash"] or "",
                ]
            )
    assert detect_format(path).name == "csv"
    hs, report = import_files([path], name="ref")
    assert hs.scheme == "caid" and hs.kind == "known-bad" and not report.bad_lines
    got = _by_hash(list(hs.iter_entries()), "md5")
    for line, k in enumerate(KNOWN, start=2):
        e = got[k["md5"]]
        assert e.entry_id == f"ref.csv:{line}"
        assert (e.category, e.name) == (k["category"], k["name"])
        assert e.values("sha1") == (k["sha1"],)
        assert e.values("pdq") == ((k["pdq"],) if k["pdq"] else ())
        assert e.values("phash") == ((k["phash"],) if k["phash"] else ())
    assert hs.sources[0]["format"] == "csv" and hs.sources[0]["entries"] == 12
    assert hs.sources[0]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_csv_bad_lines_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "md5,category\n"
        f"{KNOWN[0]['md5']},A\n"
        "not-a-hash,B\n"  # line 3
        f"{KNOWN[1]['md5']},B,extra\n"  # line 4
        ",C\n"  # line 5: no hash
        f"{KNOWN[2]['md5']},Z\n"  # line 6: not a CAID category once inferred
        f"{KNOWN[3]['md5']},C\n"
    )
    with pytest.raises(HashSetError, match=r"bad\.csv:3: md5 value must be 32 hex"):
        import_files([path], name="t")
    hs, report = import_files([path], name="t", skip_bad_lines=True, scheme="caid")
    assert [(b.line, b.reason[:14]) for b in report.bad_lines] == [
        (3, "md5 value must"),
        (4, "3 fields, the "),
        (5, "no hash value "),
        (6, "'Z' is not a C"),
    ]
    assert str(report.bad_lines[0]).startswith(f"{path}:3: ")
    assert {e.values("md5")[0] for e in hs.iter_entries()} == {
        KNOWN[0]["md5"],
        KNOWN[3]["md5"],
    }
    assert hs.sources[0]["bad_lines"] == 4
    # a category the scheme refuses is a bad line too, named by its line
    other = tmp_path / "cats.csv"
    other.write_text(f"md5,category\n{KNOWN[0]['md5']},A\n{KNOWN[1]['md5']},Z\n")
    with pytest.raises(HashSetError, match=r"cats\.csv:3: 'Z' is not a CAID"):
        import_files([other], name="t", scheme="caid")


def test_csv_header_without_hash_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("name,category\na,B\n")
    with pytest.raises(HashSetError, match=r"x\.csv:1: no hash column"):
        import_files([path], name="t", fmt="csv")


def _vics(version: str) -> dict:
    context = (
        {
            "odata.metadata": "http://github.com/ICMEC/ProjectVic/DataModels/1.3.xml/"
            "$metadata#Media"
        }
        if version == "1.3"
        else {
            "@odata.context": "http://github.com/VICSDATAMODEL/ProjectVic/"
            "DataModels/2.0.xml/$metadata#Media"
        }
    )
    value = []
    for i, k in enumerate(KNOWN):
        alternatives = [{"HashName": "PhotoDNA", "HashValue": "QUJD" * 36}]
        if k["pdq"]:
            alternatives.append({"HashName": "PDQ", "HashValue": k["pdq"].upper()})
        media = {
            "MediaID": int(k["id"]),
            "Category": i % 5,
            "MD5": k["md5"].upper(),
            "SHA1": k["sha1"].upper(),
            "MediaSize": 1234,
            "IsPrecategorized": "false",
            "MediaFiles": [
                {"FileName": k["name"], "FilePath": "C:\\x", "MD5": k["md5"]}
            ],
        }
        key = "AlternativeHashes"
        if i % 2 and version == "1.3":  # on the file rather than the media
            media["MediaFiles"][0][key] = alternatives
        else:
            media[key] = alternatives
        value.append(media)
    return {**context, "value": value}


@pytest.mark.parametrize("version", ["1.3", "2.0"])
def test_vics_round_trip(tmp_path: Path, version: str) -> None:
    path = tmp_path / f"vics{version}.json"
    path.write_text(json.dumps(_vics(version), indent=2))
    assert detect_format(path).name == "vics"
    hs, report = import_files([path], name="v")
    assert hs.scheme == "vics" and hs.kind == "known-bad"
    assert report.ignored == {"PhotoDNA": 12}
    assert hs.sources[0]["ignored_hashes"] == {"PhotoDNA": 12}
    got = {e.entry_id: e for e in hs.iter_entries()}
    for i, k in enumerate(KNOWN):
        e = got[k["id"]]
        assert e.category == str(i % 5) and e.name == k["name"]
        assert e.values("md5") == (k["md5"],) and e.values("sha1") == (k["sha1"],)
        assert e.values("pdq") == ((k["pdq"],) if k["pdq"] else ())


def test_vics_bad_media_names_its_line_and_is_skippable(tmp_path: Path) -> None:
    doc = _vics("2.0")
    doc["value"][3]["MD5"] = "XYZ"
    doc["value"][5]["Category"] = 9
    del doc["value"][7]["MediaID"]
    path = tmp_path / "v.json"
    text = json.dumps(doc, indent=2)
    path.write_text(text)
    lines = text.splitlines()
    starts = [n for n, line in enumerate(lines, 1) if line == "    {"]
    with pytest.raises(HashSetError, match=rf"v\.json:{starts[3]}: md5 value"):
        import_files([path], name="t")
    hs, report = import_files([path], name="t", skip_bad_lines=True)
    assert [b.line for b in report.bad_lines] == [starts[3], starts[5], starts[7]]
    assert "not a VICS category" in report.bad_lines[1].reason
    assert len(hs) == len(KNOWN) - 3


def test_vics_malformed_json_is_fatal_with_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    text = json.dumps(_vics("1.3"), indent=2)
    cut = text.index('"MediaID": 1005')
    path.write_text(text[:cut] + '"MediaID": 1005,, ' + text[cut + 16 :])
    line = text[:cut].count("\n") + 1
    with pytest.raises(HashSetError, match=rf"broken\.json:{line}: malformed JSON"):
        import_files([path], name="t", skip_bad_lines=True)


def test_vics_streams_across_read_chunks(tmp_path: Path) -> None:
    """A file several MiB long is read in 1 MiB chunks, ids and lines intact."""
    media = [
        {"MediaID": i, "Category": 1, "MD5": _h(f"s{i}", 16), "Comment": "x" * 300}
        for i in range(12_000)
    ]
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"odata.metadata": "m", "value": media}, indent=1))
    assert path.stat().st_size > 4 << 20
    entries = list(read_entries(path))
    assert [int(e.entry_id) for e in entries] == list(range(12_000))
    assert entries[-1].values("md5") == (_h("s11999", 16),)


@pytest.mark.parametrize("style", ["gnu", "binary", "bsd"])
@pytest.mark.parametrize("column", ["md5", "sha1"])
def test_sum_files_round_trip(tmp_path: Path, style: str, column: str) -> None:
    path = tmp_path / f"list.{column}"
    tag = column.upper()
    rows = {
        "gnu": [f"{k[column]}  {k['name']}" for k in KNOWN],
        "binary": [f"{k[column]} *{k['name']}" for k in KNOWN],
        "bsd": [f"{tag} ({k['name']}) = {k[column]}" for k in KNOWN],
    }[style]
    path.write_text("\n".join(rows) + "\n")
    assert detect_format(path).name == f"{column}sum"
    entries = _entries(path)
    got = {e.values(column)[0]: e for e in entries}
    for line, k in enumerate(KNOWN, start=1):
        assert got[k[column]].name == k["name"]
        assert got[k[column]].entry_id == f"{path.name}:{line}"


def test_md5sum_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "x.md5"
    path.write_text(f"{KNOWN[0]['md5']}  a\nthis is not a line\n{KNOWN[1]['md5']}  b\n")
    with pytest.raises(HashSetError, match=r"x\.md5:2: not a md5sum line"):
        import_files([path], name="t", fmt="md5sum")
    hs, report = import_files([path], name="t", fmt="md5sum", skip_bad_lines=True)
    assert len(hs) == 2 and report.bad_lines[0].line == 2


def test_hashkeeper_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "set.hsh"
    with open(path, "w", newline="") as out:
        w = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC)
        w.writerow(
            [
                "file_id",
                "hashset_id",
                "file_name",
                "directory",
                "hash",
                "file_size",
                "date_modified",
                "time_modified",
                "time_zone",
                "comments",
                "date_accessed",
                "time_accessed",
            ]
        )
        for i, k in enumerate(KNOWN):
            w.writerow(
                [
                    i,
                    7,
                    k["name"],
                    "C:\\pics",
                    k["md5"].upper(),
                    100,
                    "01/01/2001",
                    "00:00:00",
                    "",
                    "",
                    "",
                    "",
                ]
            )
    assert detect_format(path).name == "hashkeeper"
    got = _by_hash(_entries(path), "md5")
    assert {k["md5"] for k in KNOWN} == set(got)
    assert got[KNOWN[0]["md5"]].name == "C:\\pics/picture 0.jpg"


def test_nsrl_legacy_is_known_good(tmp_path: Path) -> None:
    path = tmp_path / "NSRLFile.txt"
    with open(path, "w", newline="") as out:
        w = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC)
        w.writerow(
            [
                "SHA-1",
                "MD5",
                "CRC32",
                "FileName",
                "FileSize",
                "ProductCode",
                "OpSystemCode",
                "SpecialCode",
            ]
        )
        for k in KNOWN:
            w.writerow(
                [
                    k["sha1"].upper(),
                    k["md5"].upper(),
                    "0000ABCD",
                    k["name"],
                    100,
                    1,
                    "362",
                    "",
                ]
            )
        w.writerow(["nothex", KNOWN[0]["md5"], "", "x", 1, 1, "1", ""])
    assert detect_format(path).name == "nsrl"
    with pytest.raises(HashSetError, match=r"NSRLFile\.txt:14: sha1 value"):
        import_files([path], name="nsrl")
    hs, report = import_files([path], name="nsrl", skip_bad_lines=True)
    assert (
        hs.kind == "known-good" and hs.scheme == "nsrl" and len(report.bad_lines) == 1
    )
    got = _by_hash(list(hs.iter_entries()), "sha1")
    assert all(got[k["sha1"]].values("md5") == (k["md5"],) for k in KNOWN)


def _rds3(path: Path, rows: list[tuple]) -> None:
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE FILE (sha256 VARCHAR NOT NULL, sha1 VARCHAR NOT NULL, md5 "
        "VARCHAR NOT NULL, crc32 VARCHAR NOT NULL, file_name VARCHAR NOT NULL, "
        "file_size INTEGER NOT NULL, package_id INTEGER NOT NULL)"
    )
    db.executemany("INSERT INTO FILE VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    db.commit()
    db.close()


def test_nsrl_rds3_round_trip_read_only(tmp_path: Path) -> None:
    path = tmp_path / "RDS_minimal.db"
    _rds3(
        path,
        [
            (
                _h(k["id"], 32).upper(),
                k["sha1"].upper(),
                k["md5"].upper(),
                "ABCD0123",
                k["name"],
                10,
                5,
            )
            for k in KNOWN
        ],
    )
    before = (path.read_bytes(), path.stat().st_mtime_ns)
    assert detect_format(path).name == "nsrl-rds3"
    hs, _ = import_files([path], name="rds")
    assert hs.kind == "known-good" and len(hs) == len(KNOWN)
    got = _by_hash(list(hs.iter_entries()), "md5")
    assert got[KNOWN[4]["md5"]].entry_id == "RDS_minimal.db:5"
    assert got[KNOWN[4]["md5"]].values("sha1") == (KNOWN[4]["sha1"],)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert not list(tmp_path.glob("*-wal")) and not list(tmp_path.glob("*-journal"))


def test_rds3_bad_row_and_wrong_database(tmp_path: Path) -> None:
    path = tmp_path / "rds.db"
    _rds3(path, [("", "zz", KNOWN[0]["md5"], "", "a", 1, 1)])
    with pytest.raises(HashSetError, match=r"rds\.db:1: sha1 value"):
        import_files([path], name="t")
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(HashSetError, match="not an NSRL RDS v3 database"):
        import_files([other], name="t")


def test_several_files_into_one_set_and_kind_conflicts(tmp_path: Path) -> None:
    a, b, nsrl = tmp_path / "a.md5", tmp_path / "b.md5", tmp_path / "NSRLFile.txt"
    a.write_text(f"{KNOWN[0]['md5']}  x\n")
    b.write_text(f"{KNOWN[1]['md5']}  y\n")
    nsrl.write_text(
        '"SHA-1","MD5","CRC32","FileName","FileSize","ProductCode",'
        f'"OpSystemCode","SpecialCode"\n"{KNOWN[2]["sha1"]}","'
        f'{KNOWN[2]["md5"]}","0","z",1,1,"1",""\n'
    )
    hs, _ = import_files([a, b], name="ab")
    assert {e.entry_id for e in hs.iter_entries()} == {"a.md5:1", "b.md5:1"}
    assert [s["file"] for s in hs.sources] == ["a.md5", "b.md5"]
    with pytest.raises(HashSetError, match="mix known-good"):
        import_files([a, nsrl], name="x")
    assert import_files([a, nsrl], name="x", kind="known-bad")[0].kind == "known-bad"


def test_unrecognised_file_and_unknown_format(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello world\n")
    with pytest.raises(HashSetError, match="not a recognised hash set format"):
        import_files([path], name="t")
    with pytest.raises(HashSetError, match="known: auto, nsrl-rds3, vics"):
        import_files([path], name="t", fmt="xml")
    with pytest.raises(HashSetError, match="no such file"):
        import_files([tmp_path / "missing.csv"], name="t")


def test_category_schemes() -> None:
    assert [
        normalise_category("caid", c)
        for c in ("A", "b", "Cat C", "category a", "1", "2", "3", "", None)
    ] == ["A", "B", "C", "A", "A", "B", "C", None, None]
    for bad in ("D", "4", "0"):
        with pytest.raises(ValueError, match="not a CAID category"):
            normalise_category("caid", bad)
    assert normalise_category("vics", 3) == "3"
    with pytest.raises(ValueError, match="not a VICS category"):
        normalise_category("vics", "5")
    assert normalise_category("local", " holiday ") == "holiday"


def test_numeric_csv_categories_stay_local_unless_said(tmp_path: Path) -> None:
    path = tmp_path / "n.csv"
    path.write_text(f"md5,category\n{KNOWN[0]['md5']},1\n{KNOWN[1]['md5']},3\n")
    assert import_files([path], name="t")[0].scheme == "local"
    caid = import_files([path], name="t", scheme="caid")[0]
    assert sorted(caid.category_counts()) == ["A", "C"]
    assert import_files([path], name="t", scheme="vics")[0].categories == ("1", "3")


def test_registry_is_one_dict_with_every_format() -> None:
    assert set(HASHSET_FORMATS) == {
        "csv",
        "vics",
        "md5sum",
        "sha1sum",
        "hashkeeper",
        "nsrl",
        "nsrl-rds3",
        "vpdq",
    }
