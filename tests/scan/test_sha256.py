"""SHA-256, an exact signal added as one module, works end to end: imported
from a CSV ``sha256`` column and a VICS ``SHA256`` field, shown by ``hashset
info``, computed by the scan for every media item, stored, matched by a set
that holds nothing else, and exported as JSON, CSV and VICS."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner

from tests.scan.conftest import corpus  # noqa: F401 - session fixture
from tests.scan.corpus import Corpus, _jpeg
from triage.cli import main
from triage.hashmatch.formats import import_files
from triage.hashmatch.signals import SIGNALS

KNOWN_A = _jpeg(11)  # dev1's docs/report.dat (see corpus.py)


def _run(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output + result.stderr
    return result.stdout


def test_sha256_is_a_registered_exact_signal() -> None:
    signal = SIGNALS.get("sha256")
    assert signal.is_exact and signal.bits == 256
    assert (signal.csv_column, signal.vics_name) == ("sha256", "SHA256")


def test_vics_sha256_field_and_alternative_hash_are_imported(tmp_path: Path) -> None:
    one, two = hashlib.sha256(b"one").hexdigest(), hashlib.sha256(b"two").hexdigest()
    doc = {
        "@odata.context": "x",
        "value": [
            {"MediaID": 1, "Category": 1, "SHA256": one.upper()},
            {
                "MediaID": 2,
                "Category": 2,
                "AlternativeHashes": [{"HashName": "SHA256", "HashValue": two}],
            },
        ],
    }
    path = tmp_path / "v.json"
    path.write_text(json.dumps(doc))
    built, report = import_files([path], "vics", name="v")
    assert not report.ignored and not report.bad_lines
    assert {e.entry_id: e.values("sha256") for e in built.iter_entries()} == {
        "1": (one,),
        "2": (two,),
    }


def test_scan_matches_stores_and_exports_sha256(
    corpus: Corpus,  # noqa: F811
    tmp_path: Path,
) -> None:
    digest = hashlib.sha256(KNOWN_A).hexdigest()
    source = tmp_path / "only-sha256.csv"
    source.write_text(f"id,category,sha256\ns-A,A,{digest.upper()}\n")
    set_file = tmp_path / "only-sha256.ths"
    _run("hashset", "import", str(source), "--format", "csv", "-o", str(set_file))
    info = json.loads(_run("hashset", "info", str(set_file), "--json"))
    assert info["counts"]["sha256"] == 1 and "md5" not in {
        c for c, n in info["counts"].items() if n
    }
    assert "  sha256:   1" in _run("hashset", "info", str(set_file)).splitlines()

    db = tmp_path / "case.db"
    _run("scan", str(corpus.dev1), "--hashset", str(set_file), "--db", str(db),
         "--scheduler", "sync")  # fmt: skip
    con = sqlite3.connect(db)
    try:
        matches = con.execute(
            "SELECT m.display_path, x.entry_id, x.algorithm FROM matches x "
            "JOIN media m USING (device_id, address)"
        ).fetchall()
        media = con.execute("SELECT count(*) FROM media").fetchone()[0]
        stored = dict(
            con.execute(
                "SELECT m.display_path, d.value FROM digests d JOIN media m "
                "USING (device_id, address) WHERE d.algorithm = 'sha256'"
            ).fetchall()
        )
    finally:
        con.close()
    assert matches == [("docs/report.dat", "s-A", "sha256")]
    assert len(stored) == media > 5  # every media item, not only the match
    assert stored["docs/report.dat"] == digest

    out = tmp_path / "export"
    out.mkdir()
    for fmt in ("json", "csv", "vics"):
        _run("export", "--db", str(db), "--format", fmt, "-o", str(out / fmt))
    doc = json.loads((out / "json").read_text())
    (item,) = [m for d in doc["devices"] for m in d["media"]]
    assert item["sha256"] == digest and item["md5"] == hashlib.md5(KNOWN_A).hexdigest()
    (row,) = csv.DictReader(io.StringIO((out / "csv").read_text()))
    assert row["sha256"] == digest and row["algorithm"] == "sha256"
    (vics,) = json.loads((out / "vics").read_text())["value"]
    assert vics["SHA256"] == digest.upper()
