"""Exports: VICS 2.0 JSON for full-examination tools (acceptance 4), JSON, CSV."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from tests.queue.casedb import Dev, Item, hit, populate
from triage.casework import case_data, open_store
from triage.queue.data import CaseData
from triage.queue.export import VICS_CONTEXT, export, export_vics, vics_category

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
        ("phone/DCIM/a.jpg", False, False),
        ("phone/DCIM/old.jpg", True, False),
        ("laptop/x/a copy.jpg", False, False),
    }
    assert {f["FileName"] for f in same["MediaFiles"]} == {
        "a.jpg",
        "old.jpg",
        "a copy.jpg",
    }
    carved = media[md5[b"carved"]]
    assert carved["Category"] == 3 and "Comments" not in carved
    (cf,) = carved["MediaFiles"]
    assert cf["Unallocated"] is True and cf["PhysicalLocation"] == 4096
    assert same["MediaFiles"][0]["Written"] == "2023-11-14T22:13:20Z"


def test_vics_categories() -> None:
    assert vics_category("2", "vics") == (2, None)
    assert vics_category("B", "caid") == (1, "CAID category B")
    assert vics_category(None, "local") == (1, "ungraded known-bad")


def test_vics_export_empty(tmp_path: Path) -> None:
    data = data_for(tmp_path, [Dev("clean", None, [Item("a.jpg", b"a")])])
    assert json.loads(export(data, "vics")) == {
        "@odata.context": VICS_CONTEXT,
        "value": [],
    }


def test_vics_export_reads_back_with_hashset_import(
    mixed: CaseData, tmp_path: Path
) -> None:
    """``triage hashset import`` reads our VICS export back: same MD5s and
    categories (VICS categories pass through; CAID letters become VICS 1)."""
    formats = pytest.importorskip(
        "triage.hashmatch.formats", reason="H4's importers (triage.hashmatch.formats)"
    )
    from click.testing import CliRunner

    from triage.cli import main
    from triage.hashmatch.hashset import HashSet

    path = tmp_path / "export.json"
    path.write_text(export_vics(mixed))
    out = tmp_path / "back.ths"
    result = CliRunner().invoke(
        main, ["hashset", "import", str(path), "-o", str(out), "--format", "vics"]
    )
    assert result.exit_code == 0, result.output
    back = HashSet.load(out)
    expected = {
        m["MD5"].lower(): str(m["Category"])
        for m in json.loads(path.read_text())["value"]
    }
    got = {
        e.md5[0].lower()
        if isinstance(e.md5, (list, tuple))
        else str(e.md5).lower(): e.category
        for e in back.entries()
    }
    assert got == expected
    assert formats is not None
