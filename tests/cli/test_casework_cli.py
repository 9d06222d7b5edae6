"""``triage case``, ``queue``, ``report`` and ``export`` from the command line."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.queue.casedb import Dev, Item, hit, populate
from tests.queue.test_casework import CASES, planted_devices
from triage.cli import main


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return populate(tmp_path / "case.db", CASES, planted_devices())


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == code, result.output
    return result.output


def lines(text: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in text.splitlines() if line.strip()]


QUEUE_FIELDS = {
    "rank", "device_id", "case_id", "status", "tier", "evidence_kind",
    "priority", "evidence",
    "likelihood", "severity", "worst_category", "safeguarding",
    "access_to_children", "risk_band", "known_items", "exact_items",
    "perceptual_items", "possible_items", "categories", "matches",
    "deleted_only_items", "carved_items", "archive_items", "media_count",
    "deleted_media", "carved_media", "archive_media", "skipped_count",
    "attention", "failure", "first_hit_seconds", "reason",
}  # fmt: skip


def test_queue_json_orders_planted_devices_first(db: Path) -> None:
    rows = lines(run("queue", "--db", str(db), "--json"))
    assert [r["rank"] for r in rows] == list(range(1, 9))
    assert set(rows[0]) == QUEUE_FIELDS
    with_hits = [r for r in rows if r["known_items"] or r["possible_items"]]
    without = [r for r in rows if not (r["known_items"] or r["possible_items"])]
    assert max(r["rank"] for r in with_hits) < min(r["rank"] for r in without)
    assert [r["device_id"] for r in rows[:3]] == [
        "home-phone",
        "unk-usb",
        "none-laptop",
    ]
    assert rows[2]["categories"] == {"category A": 2}
    assert rows[2]["deleted_only_items"] == 1
    assert rows[3]["tier"] == "needs-attention" and rows[3]["attention"]
    # The same order as the documented rule: known material by priority.
    known = [r for r in rows if r["tier"] == "known-material"]
    assert [r["priority"] for r in known] == sorted(
        (r["priority"] for r in known), reverse=True
    )


def test_queue_table_case_limit_and_explain(db: Path) -> None:
    out = run("queue", "--db", str(db))
    assert "Examination queue" in out and "home-phone" in out
    rows = lines(run("queue", "--db", str(db), "--case", "NONE", "--json"))
    assert [r["device_id"] for r in rows] == ["none-laptop", "none-broken"]
    assert len(lines(run("queue", "--db", str(db), "--json", "--limit", "2"))) == 2
    text = run("queue", "--db", str(db), "--explain", "none-laptop")
    assert "priority   = evidence x (1 + 2 x weight)" in text
    assert "caid#3" in text
    row = lines(run("queue", "--db", str(db), "--explain", "unk-usb", "--json"))[0]
    assert row["device_id"] == "unk-usb" and any("pdq" in s for s in row["explain"])
    out = run("queue", "--db", str(db), "--explain", "nope", code=2)
    assert "no device 'nope'" in out
    out = run("queue", "--db", str(db), "--case", "X", "--all-cases", code=2)
    assert "not both" in out


def test_db_is_required_and_must_exist(tmp_path: Path) -> None:
    out = run("queue", code=2)
    assert "--db" in out
    out = run("queue", "--db", str(tmp_path / "none.db"), code=5)
    assert out.startswith("triage: error:") and "no such case database" in out
    assert "Traceback" not in out
    assert not (tmp_path / "none.db").exists()


def test_case_set_list_import(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    out = run("case", "set", "OP-1", "--access-to-children", "lives-with",
              "--db", str(db))  # fmt: skip
    assert "lives-with" in out
    run(
        "case",
        "set",
        "OP-1",
        "--risk-band",
        "very-high",
        "--note",
        "hi",
        "--db",
        str(db),
    )
    cases = tmp_path / "cases.csv"
    cases.write_text("case_id,access_to_children\nOP-2,works with\nOP-3,\n")
    assert "imported 2 case(s)" in run("case", "import", str(cases), "--db", str(db))
    rows = lines(run("case", "list", "--db", str(db), "--json"))
    assert [(r["case_id"], r["access_to_children"], r["risk_band"]) for r in rows] == [
        ("OP-1", "lives-with", "very-high"),
        ("OP-2", "works-with", None),
        ("OP-3", "unknown", None),
    ]
    assert set(rows[0]) == {
        "case_id", "access_to_children", "risk_band", "note", "devices",
        "device_status", "updated_at",
    }  # fmt: skip
    assert "OP-2" in run("case", "list", "--db", str(db))
    out = run("case", "set", "OP-1", "--access-to-children", "often", "--db", str(db),
              code=2)  # fmt: skip
    assert "often" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("case_id,risk_band\nOP-9,high\nOP-10,severe\n")
    out = run("case", "import", str(bad), "--db", str(db), code=2)
    assert "bad.csv: line 3: risk_band 'severe'" in out
    # nothing from the bad file was written
    assert "OP-9" not in {
        r["case_id"] for r in lines(run("case", "list", "--db", str(db), "--json"))
    }


def test_export_json_and_csv(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "q.json"
    run("export", "--db", str(db), "--format", "json", "-o", str(out))
    doc = json.loads(out.read_text())
    assert doc["format"] == "triage-export" and doc["version"] == 1
    assert [d["device_id"] for d in doc["devices"]][:3] == [
        "home-phone", "unk-usb", "none-laptop",
    ]  # fmt: skip
    laptop = doc["devices"][2]
    assert {m["path"] for m in laptop["media"]} == {"Users/x/p.jpg", "Users/x/q.jpg"}
    assert laptop["runs"][0]["hashsets"][0]["digest"].startswith("sha256:")
    out_csv = tmp_path / "q.csv"
    run("export", "--db", str(db), "--format", "csv", "-o", str(out_csv))
    rows = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    assert {(r["device_id"], r["entry_id"], r["deleted"]) for r in rows} >= {
        ("none-laptop", "3", "1"), ("none-laptop", "2", "0"),
    }  # fmt: skip
    nsrl = [r for r in rows if r["set_name"] == "nsrl"]
    assert nsrl and all(r["known_good"] == "1" and r["p"] == "" for r in nsrl)


def test_csv_neutralises_formulas(tmp_path: Path) -> None:
    db = populate(tmp_path / "c.db", [], [
        Dev("d", None, [Item("=HYPERLINK(\"http://x\")", b"z", matches=[hit("1")])]),
    ])  # fmt: skip
    out = tmp_path / "q.csv"
    run("export", "--db", str(db), "--format", "csv", "-o", str(out))
    row = next(csv.DictReader(io.StringIO(out.read_text())))
    assert row["path"] == '\'=HYPERLINK("http://x")'


def test_never_writes_over_evidence(tmp_path: Path) -> None:
    evidence = tmp_path / "dev.E01"
    evidence.write_bytes(b"EVF\x09\x0d\x0a\xff\x00" + b"\0" * 100)
    before = evidence.read_bytes()
    item = Item("a.jpg", b"a", matches=[hit("1")])
    db = populate(
        tmp_path / "c.db", [], [Dev("d", None, [item], evidence=str(evidence))]
    )
    for cmd in (["report"], ["export", "--format", "json"]):
        out = run(*cmd, "--db", str(db), "-o", str(evidence), code=2)
        assert "refusing to write over evidence" in out
    assert evidence.read_bytes() == before


def test_report_without_previews_has_no_image_data(db: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    assert "8 device(s)" in run("report", "--db", str(db), "-o", str(out))
    html = out.read_text()
    assert "<img" not in html and "data:image" not in html
    assert html.index('data-device="home-phone"') < html.index('data-device="unk-usb"')
    assert "E01 segment 2 missing" in html and "bad MFT" in html


def _read_only_mount_works() -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs none /mnt"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@pytest.mark.skipif(
    not _read_only_mount_works(),
    reason="needs unshare -rm (user and mount namespaces) to mount read-only",
)
def test_queue_report_export_read_a_database_on_read_only_storage(
    db: Path, tmp_path: Path
) -> None:
    """An investigator's copy of the case folder, mounted read-only: every
    reading command works and nothing is written (a read-only mount lets
    nothing through, so success proves it)."""
    folder = db.parent
    assert sorted(p.name for p in folder.iterdir()) == ["case.db"]  # closed cleanly
    out = tmp_path.parent / f"{tmp_path.name}-out"
    out.mkdir()
    triage = f"{sys.executable} -c 'from triage.cli import main; main()'"
    script = (
        f"mount --bind {folder} {folder} && mount -o remount,bind,ro {folder} && "
        f"{triage} queue --db {db} --json > {out}/queue.json && "
        f"{triage} case list --db {db} --json > {out}/cases.json && "
        f"{triage} report --db {db} -o {out}/report.html && "
        f"{triage} export --db {db} --format csv -o {out}/export.csv && "
        f"! touch {folder}/probe 2>/dev/null"
    )
    done = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(p.name for p in folder.iterdir()) == ["case.db"]
    assert (out / "queue.json").read_text() == run("queue", "--db", str(db), "--json")
    assert "8 device(s)" in (out / "report.html").read_text()
    assert len((out / "export.csv").read_text().splitlines()) > 1
