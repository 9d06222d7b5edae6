"""Exports: VICS 2.0 JSON for full-examination tools (acceptance 4), JSON, CSV."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from tests.queue.casedb import Dev, Item, hit, populate
from triage.casework import case_data, open_store
from triage.errors import UsageError
from triage.queue.data import CaseData
from triage.queue.export import (
    VICS_CONTEXT,
    export,
    export_vics,
    vics_category,
    vics_target,
)

CGI = ("vics", "77", "md5", 0, "3")


def data_for(tmp_path: Path, devices: list[Dev]) -> CaseData:
    db = populate(tmp_path / "case.db", [], devices)
    with open_store(db) as store:
        return case_data(store)


@pytest.fixture
def mixed(tmp_path: Path) -> CaseData:
    return data_for(tmp_path, [
        Dev("phone", None, [
            Item("DCIM/a.jpg", b"aaa", matches=[hit("1", "A")]),
            Item("DCIM/old.jpg", b"aaa", deleted=True, matches=[hit("1", "A")]),
            Item("", b"carved", carved_at=4096, matches=[CGI]),
            Item("logo.png", b"logo", known_good=True,
                 matches=[("nsrl", "n1", "sha1", 0, None)]),
            Item("cmp.jpg", b"cmp", matches=[("vics", "80", "md5", 0, "4")]),
            Item("near.jpg", b"near", matches=[hit("2", "C", "pdq", 20)]),
        ]),
        Dev("laptop", None, [Item("x/a copy.jpg", b"aaa", matches=[hit("1", "A")])]),
    ])  # fmt: skip


def test_vics_export_shape(mixed: CaseData) -> None:
    doc = json.loads(export_vics(mixed))
    assert doc["@odata.context"] == VICS_CONTEXT
    assert doc["@odata.context"].endswith("/2.0.xml/Default/$metadata#Media")
    media = {m["MD5"]: m for m in doc["value"]}
    md5 = {k: hashlib.md5(k).hexdigest().upper() for k in (b"aaa", b"carved", b"near")}
    # Known-good (NSRL) and VICS 4 comparison images are not suspected material.
    assert set(media) == set(md5.values())
    assert [m["MediaID"] for m in doc["value"]] == [1, 2, 3]
    for m in doc["value"]:
        assert re.fullmatch(r"[0-9A-F]{32}", m["MD5"])
        assert re.fullmatch(r"[0-9A-F]{40}", m["SHA1"])
        assert isinstance(m["Category"], int)
    same = media[md5[b"aaa"]]
    assert same["Category"] == 1 and same["Comments"] == "CAID category A"
    files = {
        (f["FilePath"], f["Deleted"], f["Unallocated"]) for f in same["MediaFiles"]
    }
    assert files == {
        ("phone/DCIM/a.jpg", "false", "false"),
        ("phone/DCIM/old.jpg", "true", "false"),
        ("laptop/x/a copy.jpg", "false", "false"),
    }
    assert {f["SourceID"] for f in same["MediaFiles"]} == {"phone", "laptop"}
    assert {f["MD5"] for f in same["MediaFiles"]} == {md5[b"aaa"]}
    assert same["IsPrecategorized"] == "true" and same["MimeType"] == "image/jpeg"
    assert {f["FileName"] for f in same["MediaFiles"]} == {
        "a.jpg",
        "old.jpg",
        "a copy.jpg",
    }
    carved = media[md5[b"carved"]]
    assert carved["Category"] == 3 and "Comments" not in carved
    (cf,) = carved["MediaFiles"]
    assert cf["Unallocated"] == "true" and cf["PhysicalLocation"] == 4096
    assert same["MediaFiles"][0]["Written"] == "2023-11-14T22:13:20Z"
    # Unknown values are left out, never null (typed readers reject null).
    assert "PhysicalLocation" not in same["MediaFiles"][0]
    assert "null" not in export_vics(mixed)


def test_vics_names_the_archive_a_member_was_in(tmp_path: Path) -> None:
    member = Item(
        "DCIM/pics.zip",
        b"zipped",
        archive=("inner.zip", "sub/m.jpg"),
        matches=[hit("1", "A")],
    )
    data = data_for(tmp_path, [Dev("phone", None, [member])])
    ((entry,),) = [m["MediaFiles"] for m in json.loads(export_vics(data))["value"]]
    assert entry["FileName"] == "m.jpg"
    assert entry["FilePath"] == "phone/DCIM/pics.zip!inner.zip!sub/m.jpg"
    assert entry["ParentFileName"] == "inner.zip"
    assert entry["ParentFilePath"] == "phone/DCIM/pics.zip!inner.zip"


def test_vics_categories() -> None:
    assert vics_category("2", "vics") == (2, None)
    assert vics_category("B", "caid") == (1, "CAID category B")
    assert vics_category("B", "caid", "caid") == (2, None)
    assert vics_category("A", "caid", "caid") == (1, None)
    assert vics_category(None, "local") == (1, "ungraded known-bad")
    with pytest.raises(UsageError, match="no CAID grade"):
        vics_category("1", "vics", "caid")


def test_vics_export_empty(tmp_path: Path) -> None:
    data = data_for(tmp_path, [Dev("clean", None, [Item("a.jpg", b"a")])])
    assert json.loads(export(data, "vics")) == {
        "@odata.context": VICS_CONTEXT,
        "value": [],
    }


def _read_back(path: Path, scheme: str | None) -> dict[str, str | None]:
    formats = pytest.importorskip("triage.hashmatch.formats", reason="H4's importers")
    built, report = formats.import_files([path], "vics", name="back", scheme=scheme)
    assert not report.bad_lines
    return {e.values("md5")[0]: e.category for e in built.iter_entries()}


def test_caid_vics_export_reads_back_exactly(tmp_path: Path) -> None:
    """A CAID-graded case exports A/B/C as 1/2/3, which the hash set importer
    reads back with scheme caid: same MD5s, same categories (acceptance 4)."""
    data = data_for(tmp_path, [
        Dev("d1", None, [
            Item("a.jpg", b"a", matches=[hit("1", "A")]),
            Item("b.jpg", b"b", deleted=True, matches=[hit("2", "B")]),
            Item("c.jpg", b"c", matches=[hit("3", "C", "pdq", 12)]),
        ]),
        Dev("d2", None, [Item("a2.jpg", b"a", matches=[hit("1", "A")])]),
    ])  # fmt: skip
    assert vics_target(data) == "caid"
    path = tmp_path / "caid.json"
    path.write_text(export(data, "vics"))
    expected = {hashlib.md5(x).hexdigest(): c for x, c in
                ((b"a", "A"), (b"b", "B"), (b"c", "C"))}  # fmt: skip
    assert _read_back(path, "caid") == expected


def test_mixed_vics_export_reads_back(mixed: CaseData, tmp_path: Path) -> None:
    """Mixed CAID and VICS categories export in VICS numbering (CAID letters
    become VICS 1, the letter kept in Comments); the importer reads the same
    MD5s and VICS categories back."""
    path = tmp_path / "vics.json"
    path.write_text(export(mixed, "vics"))
    doc = json.loads(path.read_text())
    expected = {m["MD5"].lower(): str(m["Category"]) for m in doc["value"]}
    assert _read_back(path, None) == expected
    assert sorted(expected.values()) == ["1", "1", "3"]


def test_vics_export_reads_back_with_hashset_cli(tmp_path: Path) -> None:
    """The same round trip through ``triage hashset import`` (H4's CLI)."""
    from click.testing import CliRunner

    from triage.cli import main

    if "hashset" not in main.commands:
        pytest.skip("`triage hashset` is not registered (triage/cli/hashset.py)")
    from triage.hashmatch.hashset import HashSet

    data = data_for(tmp_path, [
        Dev("d1", None, [Item("a.jpg", b"a", matches=[hit("1", "B")])]),
    ])  # fmt: skip
    path = tmp_path / "export.json"
    path.write_text(export(data, "vics"))
    out = tmp_path / "back.ths"
    result = CliRunner().invoke(
        main,
        ["hashset", "import", str(path), "-o", str(out), "--format", "vics",
         "--scheme", "caid"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    back = HashSet.load(out)
    assert {e.values("md5")[0]: e.category for e in back.iter_entries()} == {
        hashlib.md5(b"a").hexdigest(): "B"
    }


def test_a_carved_copy_of_a_deleted_file_names_it(tmp_path: Path) -> None:
    """One picture found twice, as a deleted file and carved from its free
    clusters: the carved item says which listed file has the same content."""
    from triage.queue.report import render_report

    data = data_for(tmp_path, [
        Dev("phone", None, [
            Item("DCIM/old.jpg", b"pic", deleted=True, matches=[hit("1", "A")]),
            Item("", b"pic", carved_at=8192, matches=[hit("1", "A")]),
            Item("", b"other", carved_at=65536, matches=[hit("2", "B")]),
        ]),
    ])  # fmt: skip
    media = {
        m["address"]: m for m in json.loads(export(data, "json"))["devices"][0]["media"]
    }
    same = {m["carve_offset"]: m["same_content_as"] for m in media.values()}
    assert same == {None: [], 8192: ["DCIM/old.jpg (deleted)"], 65536: []}
    assert "same content as DCIM/old.jpg (deleted)" in render_report(data)
