"""End to end: ``triage scan --case`` of small generated devices, then
``triage queue --json`` (acceptance 2, second test).

Four FAT16 devices, generated pictures only. Known-bad set (CAID) holds the
MD5s of three "known" pictures; two devices carry them (one only as a deleted
file), two carry only unrelated pictures. Cases: the device with one category-C
known picture belongs to a household with children; the device with two
category-A pictures to a case with no access to children.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import require_tools
from triage.cli import main
from triage.hashmatch.hashset import HashEntry, HashSet
from triage.sample.disk import build_filesystem
from triage.sample.pictures import encode, make_picture


def pic(seed: int) -> bytes:
    return encode(make_picture(seed, 96, 72), quality=85)


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_tools("mkfs.fat", "mcopy")
    pytest.importorskip("triage.scan")
    tmp = tmp_path_factory.mktemp("e2e")
    known = {"k1": (pic(101), "A"), "k2": (pic(102), "A"), "k3": (pic(103), "C")}
    hs = HashSet.from_entries(
        [
            HashEntry(eid, cat, f"{eid}.jpg", (("md5", hashlib.md5(data).hexdigest()),))
            for eid, (data, cat) in known.items()
        ],
        name="caid-test",
        scheme="caid",
    )
    set_path = tmp / "caid.ths"
    hs.write(set_path)
    devices = {
        "laptop-none": ({"Users/a.jpg": known["k1"][0], "Users/b.jpg": known["k2"][0],
                         "Users/c.jpg": pic(1)}, ["Users/b.jpg"]),
        "phone-home": ({"DCIM/x.jpg": known["k3"][0], "DCIM/y.jpg": pic(2)}, []),
        "tablet-home": ({"DCIM/z.jpg": pic(3), "DCIM/w.jpg": pic(4)}, []),
        "usb-none": ({"f/q.jpg": pic(5)}, []),
    }  # fmt: skip
    db = tmp / "case.db"
    cli("case", "set", "HOME", "--access-to-children", "lives-with", "--db", str(db))
    cli("case", "set", "NONE", "--access-to-children", "none", "--db", str(db))
    for name, (files, deleted) in devices.items():
        image = build_filesystem("fat16", files, tmp / f"{name}.raw", deleted=deleted)
        case = "HOME" if name.endswith("home") else "NONE"
        cli("scan", str(image), "--hashset", str(set_path), "--db", str(db),
            "--case", case, "--device-id", name, "--scheduler", "sync")  # fmt: skip
    return db


def test_scanned_devices_queue_in_documented_order(scanned: Path) -> None:
    rows = [
        json.loads(x) for x in cli("queue", "--db", str(scanned), "--json").splitlines()
    ]
    order = [r["device_id"] for r in rows]
    # Every device with planted known pictures above every device without.
    assert order[:2] == ["phone-home", "laptop-none"]
    assert set(order[2:]) == {"tablet-home", "usb-none"}
    # Among those without, the household with children first.
    assert order[2:] == ["tablet-home", "usb-none"]
    phone, laptop = rows[0], rows[1]
    assert phone["known_items"] == 1 and phone["categories"] == {"category C": 1}
    assert laptop["known_items"] == 2 and laptop["categories"] == {"category A": 2}
    assert laptop["deleted_only_items"] == 1
    assert laptop["tier"] == phone["tier"] == "known-material"
    assert "suspect lives with children" in phone["reason"]
    # The documented rule: priority = evidence x (1 + 2 x safeguarding).
    for r in rows[:2]:
        assert r["priority"] == pytest.approx(
            r["evidence"] * (1 + 2 * r["safeguarding"]), abs=1e-5
        )
    assert rows[2]["tier"] == rows[3]["tier"] == "nothing-found"
