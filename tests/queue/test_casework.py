"""Facts, cases and the queue read from a case database (acceptance 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.queue.casedb import Dev, Item, hit, populate
from triage.casework import (
    build_queue,
    case_data,
    import_cases,
    load_facts,
    open_store,
    read_cases_file,
    set_case,
)
from triage.errors import StoreError, UsageError
from triage.records import Case, Partition, Skipped, Stage
from triage.store import Store

CASES = [
    Case("HOME", "lives-with", "high"),
    Case("WORK", "works-with", "medium"),
    Case("NONE", "none", "low"),
    Case("UNK", "unknown"),
]


def planted_devices() -> list[Dev]:
    return [
        Dev("home-phone", "HOME", [
            Item("DCIM/a.jpg", b"a", matches=[hit("1", "C")]),
            Item("DCIM/b.jpg", b"b"),
        ]),
        Dev("none-laptop", "NONE", [
            Item("Users/x/p.jpg", b"p", matches=[hit("2", "A")]),
            Item("Users/x/q.jpg", b"q", deleted=True, matches=[hit("3", "A")]),
        ]),
        Dev("unk-usb", "UNK", [
            Item("x.jpg", b"x", matches=[hit("4", "B", "pdq", 12)]),
        ]),
        Dev("work-tablet", "WORK", [Item("clean.jpg", b"c")]),
        Dev("home-clean", "HOME", [Item("cat.jpg", b"k")]),
        Dev("none-broken", "NONE", [], skipped=[
            Skipped.at_volume("none-broken", 2, 1048576, Stage.VOLUME,
                              "cannot open filesystem: bad MFT", description="NTFS"),
        ]),  # fmt: skip
        Dev("unk-failed", "UNK", status="failed", error="E01 segment 2 missing"),
        Dev("home-nsrl", "HOME", [
            Item("logo.png", b"l", known_good=True,
                 matches=[("nsrl", "n1", "sha1", 0, None)]),
        ]),  # fmt: skip
    ]  # fmt: skip


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return populate(tmp_path / "case.db", CASES, planted_devices())


def test_facts_from_database(db: Path) -> None:
    with open_store(db) as store:
        facts = {f.device_id: f for f in load_facts(store)}
    laptop = facts["none-laptop"]
    assert laptop.media_count == 2 and laptop.deleted_media == 1
    assert {m.entry_id for m in laptop.matches} == {"2", "3"}
    deleted = next(m for m in laptop.matches if m.entry_id == "3")
    assert deleted.deleted and deleted.path == "Users/x/q.jpg"
    assert facts["none-broken"].unreadable == (
        "partition 2 @ 1048576 (NTFS): cannot open filesystem: bad MFT",
    )
    assert facts["unk-failed"].status == "failed"
    assert facts["unk-failed"].failure == "E01 segment 2 missing"


def test_queue_puts_planted_devices_first_in_documented_order(db: Path) -> None:
    with open_store(db) as store:
        rows = build_queue(store)
    order = [r.device_id for r in rows]
    planted = {"home-phone", "none-laptop", "unk-usb"}
    assert set(order[:3]) == planted
    # Home (lives with children, high risk) first even with one category-C item;
    # unknown access (a category-B near-identical copy) above the certain
    # category-A pair from a case with no access to children.
    assert order[:3] == ["home-phone", "unk-usb", "none-laptop"]
    # Then the devices that cannot be called clean, by safeguarding weight.
    assert order[3:5] == ["unk-failed", "none-broken"]
    # Then nothing found, by safeguarding: home before work.
    assert order[5:] == ["home-clean", "home-nsrl", "work-tablet"]
    assert rows[0].reason.startswith("1 known image (1 category C)")
    assert "suspect lives with children" in rows[0].reason
    assert "1 only in deleted space" in rows[2].reason


def test_queue_for_one_case(db: Path) -> None:
    with open_store(db) as store:
        rows = build_queue(store, "HOME")
        assert [r.device_id for r in rows] == ["home-phone", "home-clean", "home-nsrl"]
        with pytest.raises(UsageError, match="no case 'NOPE'"):
            build_queue(store, "NOPE")


def test_case_data_has_audit_trail(db: Path) -> None:
    with open_store(db) as store:
        data = case_data(store)
    laptop = next(d for d in data.devices if d.row.device_id == "none-laptop")
    assert laptop.runs and laptop.runs[0]["hashsets"][0]["name"] == "caid"
    assert {m.path for m in laptop.media} == {"Users/x/p.jpg", "Users/x/q.jpg"}
    assert len(data.database_sha256) == 64


def test_missing_database_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no such case database"):
        open_store(tmp_path / "nope.db")


def test_set_case_keeps_unchanged_fields(tmp_path: Path) -> None:
    with Store(tmp_path / "c.db") as store:
        set_case(store, "K1", access_to_children="works-with", risk_band="high")
        set_case(store, "K1", note="school caretaker")
        assert store.cases() == [Case("K1", "works-with", "high", "school caretaker")]
        with pytest.raises(UsageError, match="not one of"):
            set_case(store, "K1", access_to_children="sometimes")


def test_import_cases_csv_and_json(tmp_path: Path) -> None:
    csv_path = tmp_path / "cases.csv"
    csv_path.write_text(
        "case_id,access_to_children,risk_band,note\n"
        "C1,Lives with,very high,\n"
        "C2,none,low,burglary\n"
    )
    json_path = tmp_path / "cases.json"
    json_path.write_text(json.dumps({"cases": [{"case_id": "C3"}]}))
    with Store(tmp_path / "c.db") as store:
        import_cases(store, csv_path)
        import_cases(store, json_path)
        assert store.cases() == [
            Case("C1", "lives-with", "very-high"),
            Case("C2", "none", "low", "burglary"),
            Case("C3", "unknown"),
        ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("case_id,access_to_children\nC1,none\nC2,maybe\n", "line 3: access_to"),
        ("case_id,risk_band\nC1,extreme\n", "line 2: risk_band 'extreme'"),
        ("case,access\nC1,none\n", "line 1: CSV header must name case_id"),
        ("case_id\nC1\nC1\n", "line 3: case C1 repeats"),
        ("case_id,note\n\n ,x\n", "line 3: case_id is empty"),
    ],
)
def test_bad_cases_file_names_the_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "cases.csv"
    path.write_text(text)
    with pytest.raises(UsageError, match=message):
        read_cases_file(path)


P0 = Partition("d", "/evidence/d.E01", 0, 0, 1 << 20, "FAT16")
P1 = Partition("d", "/evidence/d.E01", 1, 1 << 20, 1 << 20, "FAT16")


def test_skipped_rows_split_into_regions_conflicts_and_items(tmp_path: Path) -> None:
    skips = [
        Skipped.at_partition(P0, Stage.FILESYSTEM, "walk stopped: bad inode table"),
        Skipped.at_partition(
            P1, Stage.CARVE, "read error", inner="unallocated", start=0, end=4096
        ),
        Skipped.at_path(
            "d", "DCIM/x.jpg", Stage.MATCH, "md5 agrees with caid#5, sha1 not"
        ),
        Skipped.at_path("d", "DCIM/bad.jpg", Stage.HASH, "cannot decode JPEG"),
        Skipped.at_device("d", "/evidence/d.E01", Stage.VOLUME, "no partition table"),
    ]
    db = populate(
        tmp_path / "c.db", [], [Dev("d", None, [Item("a", b"a")], skipped=skips)]
    )
    with open_store(db) as store:
        (facts,) = load_facts(store)
    assert facts.skipped_count == 5
    assert facts.unreadable == (
        "/evidence/d.E01: no partition table",
        "p0: walk stopped: bad inode table",
        "p1:unallocated@0+4096: read error",
    )
    assert facts.conflicts == ("DCIM/x.jpg: md5 agrees with caid#5, sha1 not",)
