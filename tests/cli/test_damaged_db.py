"""A corrupt, truncated or non-SQLite case database: one clear line naming
it from every command, never a traceback, never written to (issue 15,
item 6)."""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.scan.conftest import corpus  # noqa: F401 - session fixture
from tests.scan.corpus import Corpus
from triage.cli import main


@pytest.fixture(scope="module")
def scanned_db(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: F811
    db = tmp_path_factory.mktemp("dbs") / "case.db"
    result = CliRunner().invoke(
        main,
        [
            "scan",
            str(corpus.dev1),
            "--hashset",
            str(corpus.bad_set),
            "--db",
            str(db),
            "--scheduler",
            "sync",
        ],  # fmt: skip
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    CliRunner().invoke(main, ["queue", "--db", str(db)], catch_exceptions=False)
    assert db.stat().st_size > 16 * 4096
    return db


def _root_pages(db: Path, tables: tuple[str, ...]) -> list[int]:
    con = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        assert con.execute("PRAGMA page_size").fetchone()[0] == 4096
        marks = ",".join("?" * len(tables))
        rows = con.execute(
            f"SELECT rootpage FROM sqlite_master WHERE name IN ({marks})", tables
        ).fetchall()
    finally:
        con.close()
    assert len(rows) == len(tables)
    return [r[0] for r in rows]


def _damage(kind: str, good: Path, path: Path) -> None:
    if kind == "not-sqlite":
        path.write_text("case notes, not a database\n" * 50)
        return
    shutil.copyfile(good, path)
    raw = bytearray(path.read_bytes())
    if kind == "truncated":
        del raw[len(raw) // 3 :]
    elif kind == "bad-header":
        raw[:16] = b"NOT SQLITE AT AL"
    elif kind == "bad-pages":  # the tables' first pages: garbage
        for page in _root_pages(good, ("devices", "media", "matches", "cases")):
            at = (page - 1) * 4096
            raw[at : at + 4096] = bytes([0xDE, 0xAD]) * 2048
    path.write_bytes(bytes(raw))


COMMANDS = [
    ["queue"],
    ["queue", "--json"],
    ["export", "--format", "csv", "-o", "{out}/x.csv"],
    ["export", "--format", "json", "-o", "{out}/x.json"],
    ["report", "-o", "{out}/r.html"],
    ["case", "list"],
    ["scan", "{dev}", "--hashset", "{set}", "--scheduler", "sync"],
]


@pytest.mark.parametrize("kind", ["truncated", "bad-header", "bad-pages", "not-sqlite"])
def test_damaged_database_is_one_clear_line_and_left_alone(
    kind: str,
    scanned_db: Path,
    corpus: Corpus,  # noqa: F811
    tmp_path: Path,
) -> None:
    db = tmp_path / f"{kind}.db"
    _damage(kind, scanned_db, db)
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    fill = {"out": str(tmp_path), "dev": str(corpus.dev1), "set": str(corpus.bad_set)}
    for command in COMMANDS:
        args = [a.format(**fill) for a in command] + ["--db", str(db)]
        result = CliRunner().invoke(main, args, catch_exceptions=False)
        said = result.stderr.strip()
        assert result.exit_code == 5, (args, result.output)
        assert said.startswith(f"triage: error: {db}: "), said
        assert "damaged" in said or "not a triage case database" in said
        assert "Traceback" not in result.output and len(said.splitlines()) == 1
        assert hashlib.sha256(db.read_bytes()).hexdigest() == before, args
    assert not (tmp_path / "x.csv").exists() and not (tmp_path / "r.html").exists()
