"""``triage scan`` from the command line: JSON summary, exit codes, resuming."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.scan.conftest import corpus  # noqa: F401 - session fixture
from tests.scan.corpus import Corpus
from triage.cli import main

DEVICE_FIELDS = {
    "device_id", "evidence", "status", "error", "run_id", "files", "bytes_read",
    "media", "matches", "skipped", "chunks_done", "chunks_resumed",
    "chunks_rematched", "first_hit_seconds", "seconds", "task_seconds",
}  # fmt: skip


def _run(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_scan_json_summary(corpus: Corpus, tmp_path: Path) -> None:  # noqa: F811
    db = tmp_path / "case.db"
    args = [
        "scan", str(corpus.dev1), str(corpus.dev3), "--hashset", str(corpus.bad_set),
        "--hashset", str(corpus.good_set), "--db", str(db), "--case", "C-9",
        "--scheduler", "sync", "--json",
    ]  # fmt: skip
    code, out, _ = _run(args)
    assert code == 0, out
    summary = json.loads(out)
    assert set(summary) == {"db", "scheduler", "workers", "seconds", "hashsets",
                            "devices"}  # fmt: skip
    assert summary["scheduler"] == "sync" and summary["db"] == str(db)
    assert {h["name"] for h in summary["hashsets"]} == {"known-bad", "known-good"}
    devices = {d["device_id"]: d for d in summary["devices"]}
    assert set(devices) == {"dev1.raw", "dev3.E01"}
    for d in devices.values():
        assert set(d) == DEVICE_FIELDS
        assert d["status"] == "scanned" and d["error"] is None
    assert devices["dev1.raw"]["matches"] >= 5
    assert devices["dev3.E01"]["matches"] == 0
    # Again: everything is resumed, nothing re-done.
    code, out, _ = _run(args)
    assert code == 0
    again = {d["device_id"]: d for d in json.loads(out)["devices"]}
    assert all(d["chunks_done"] == 0 and d["chunks_resumed"] > 0
               for d in again.values())  # fmt: skip
    assert again["dev1.raw"]["matches"] == devices["dev1.raw"]["matches"]


def test_failed_device_exits_3_and_others_are_scanned(
    corpus: Corpus,  # noqa: F811
    tmp_path: Path,
) -> None:
    db = tmp_path / "case.db"
    code, out, err = _run([
        "scan", str(corpus.broken), str(corpus.dev3), "--hashset", str(corpus.bad_set),
        "--db", str(db), "--scheduler", "sync",
    ])  # fmt: skip
    assert code == 3
    assert "broken.E01" in err and "Traceback" not in err + out
    assert "dev3.E01" in out and "scanned" in out


def test_bad_hash_set_is_one_clear_line(corpus: Corpus, tmp_path: Path) -> None:  # noqa: F811
    junk = tmp_path / "junk.ths"
    junk.write_bytes(b"not a hash set")
    code, out, err = _run([
        "scan", str(corpus.dev3), "--hashset", str(junk), "--db",
        str(tmp_path / "c.db"), "--scheduler", "sync",
    ])  # fmt: skip
    assert code == 4
    assert "junk.ths" in err and "Traceback" not in err
    assert not (tmp_path / "c.db").exists()


def test_workers_and_scheduler_exclude_each_other(
    corpus: Corpus,  # noqa: F811
    tmp_path: Path,
) -> None:
    code, _, err = _run([
        "scan", str(corpus.dev3), "--hashset", str(corpus.bad_set), "--db",
        str(tmp_path / "c.db"), "--workers", "2", "--scheduler", "tcp://127.0.0.1:1",
    ])  # fmt: skip
    assert code == 2 and "exclude" in err
