"""Attacker-controlled names (issue 15, item 9): file and folder names from
evidence, hash-set names and entry ids, and case notes holding HTML and
script, control characters, bidirectional overrides, a 4,000-character path
and spreadsheet formulas are shown safely: escaped in the terminal, inert in
the HTML report (rendered in headless Chromium: no script runs), exact in
``--json`` and the JSON export, neutralised in the CSV export."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import evidence_state, require_tools
from tests.test_report_browser import _open, browser  # noqa: F401 - fixture
from triage.cli import main
from triage.hashmatch.hashset import HashEntry, HashSet
from triage.sample.disk import build_filesystem
from triage.sample.pictures import encode, make_picture

DEEP = "/".join(["d" * 249] * 16)  # with the file name, 4,008 characters
NAMES = {
    "script": "<script>window.__pwned=1</script>.jpg",
    "img": '<img src=x onerror="window.__pwned=2">.jpg',
    "svg": '"><svg onload=window.__pwned=3>.jpg',
    "ansi": "\x1b[31mred\x1b[0m\x07bell\x1b]0;title\x07.jpg",
    "newline": "two\nlines\r.jpg",
    "tab": "tab\there.jpg",
    "bidi": "\u202egpj.exe",
    "formula": '=HYPERLINK("x","click").jpg',
    "plus": "+cmd.jpg",
    "at": "@SUM(A1).jpg",
    "minus": "-2+3.jpg",
    "long": DEEP + "/long.jpg",
}
SET_NAME = "<script>window.__pwned=9</script>\x1b[2Jset"
NOTE = "<img src=x onerror=window.__pwned=8>\x1b[2J=cmd|' /C calc'!A0"
#: What a terminal must never receive raw (tab and newline only as the
#: separators of ``ls``'s columns and lines).
CONTROL = {chr(c) for c in (*range(0x20), *range(0x7F, 0xA0))} | {"\u202e"}


def _run(*args: str) -> Any:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert "Traceback" not in result.output
    return result


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    require_tools("mke2fs")
    root = tmp_path_factory.mktemp("hostile")
    files, entries = {}, []
    for i, (key, name) in enumerate(NAMES.items()):
        data = encode(make_picture(100 + i, 64, 48))
        files[name] = data
        md5 = hashlib.md5(data).hexdigest()
        entries.append(HashEntry(f"<b>{key}</b>\x1b[0m", "A", None, (("md5", md5),)))
    image = build_filesystem("ext2", files, root / "hostile.raw", size_mb=8)
    hashset = root / "h.ths"
    HashSet.from_entries(entries, name=SET_NAME, kind="known-bad").write(hashset)
    db = root / "case.db"
    before = evidence_state([image])
    scanned = _run("scan", str(image), "--hashset", str(hashset), "--db", str(db),
                   "--case", "C<1>", "--scheduler", "sync")  # fmt: skip
    assert scanned.exit_code == 0, scanned.output
    assert _run("case", "set", "C<1>", "--note", NOTE, "--db", str(db)).exit_code == 0
    assert evidence_state([image]) == before
    return {"image": image, "db": db, "root": root, "set": hashset}


def _assert_terminal_safe(text: str) -> None:
    for line in text.splitlines():
        bad = {c for c in line if c in CONTROL and c != "\t"}
        assert not bad, (bad, line[:200])
    assert "\r" not in text


def test_ls_text_is_one_escaped_line_per_file(case: dict[str, Path]) -> None:
    result = _run("ls", "--no-carve", str(case["image"]))
    assert result.exit_code == 0
    _assert_terminal_safe(result.stdout)
    paths = [line.split("\t")[-1] for line in result.stdout.splitlines()]
    assert len(paths) == len(NAMES)  # a newline in a name did not split it
    assert "two\\nlines\\r.jpg" in paths and "tab\\there.jpg" in paths
    assert "\\x1b[31mred\\x1b[0m\\x07bell\\x1b]0;title\\x07.jpg" in paths
    assert "\\u202egpj.exe" in paths and DEEP + "/long.jpg" in paths


def test_ls_json_is_valid_and_exact(case: dict[str, Path]) -> None:
    result = _run("ls", "--no-carve", "--json", str(case["image"]))
    assert result.exit_code == 0
    _assert_terminal_safe(result.stdout)  # JSON escapes every control character
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert {r["display_path"] for r in records} == set(NAMES.values())


def test_queue_cases_and_hashset_info_are_escaped(case: dict[str, Path]) -> None:
    db = str(case["db"])
    for args in (
        ("queue", "--db", db),
        ("queue", "--db", db, "--explain", "hostile.raw"),
        ("case", "list", "--db", db),
        ("hashset", "info", str(case["set"])),
    ):
        result = _run(*args)
        assert result.exit_code == 0, result.output
        _assert_terminal_safe(result.output)
    listed = _run("case", "list", "--db", db).stdout
    assert "\\x1b[2J" in listed.replace("\n", "").replace("│", "").replace(" ", "")
    info = json.loads(_run("hashset", "info", "--json", str(case["set"])).stdout)
    assert info["name"] == SET_NAME  # --json: exact


def test_json_export_is_exact_and_csv_neutralises_formulas(
    case: dict[str, Path],
) -> None:
    out = case["root"]
    db = str(case["db"])
    assert _run("export", "--db", db, "--format", "json", "-o",
                str(out / "x.json")).exit_code == 0  # fmt: skip
    assert _run("export", "--db", db, "--format", "csv", "-o",
                str(out / "x.csv")).exit_code == 0  # fmt: skip
    doc = json.loads((out / "x.json").read_text())
    text = json.dumps(doc)
    for name in NAMES.values():
        assert json.dumps(name)[1:-1] in text  # exact, escaped as JSON
    rows = list(csv.DictReader(io.StringIO((out / "x.csv").read_text())))
    paths = {row["path"] for row in rows}
    assert len(rows) == len(NAMES)
    for key in ("formula", "plus", "at", "minus"):
        assert "'" + NAMES[key] in paths and NAMES[key] not in paths
    for row in rows:
        for value in row.values():
            assert value[:1] not in ("=", "+", "-", "@", "\t", "\r"), value


def test_report_shows_names_as_text_and_runs_no_script(
    case: dict[str, Path],
    browser: Any,  # noqa: F811
) -> None:
    report = case["root"] / "report.html"
    result = _run("report", "--db", str(case["db"]), "-o", str(report))
    assert result.exit_code == 0, result.output
    context, page, requests, errors = _open(browser, report)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.wait_for_timeout(300)  # onerror/onload handlers would have run
        assert page.evaluate("() => window.__pwned") is None
        assert dialogs == [] and requests == [] and errors == []
        assert page.locator("script").count() == 1  # the report's own
        assert page.locator("img, svg").count() == 0
        body = page.inner_text("body")
        for key in ("script", "img", "svg"):
            assert NAMES[key] in body
        assert "<b>script</b>" in body and "window.__pwned=9" in body
    finally:
        context.close()


def test_unpaired_utf16_surrogate_on_ntfs_is_shown_safely(tmp_path: Path) -> None:
    """An NTFS name with an unpaired surrogate (not valid UTF-16): Sleuth Kit
    converts it leniently (``^`` for what cannot be converted), and every
    output shows that text without error."""
    require_tools("mkntfs", "ntfs-3g")
    files = {"pairQ.jpg": encode(make_picture(1, 32, 32))}
    raw = bytearray(build_filesystem("ntfs", files, tmp_path / "n.img").read_bytes())
    needle = "pairQ".encode("utf-16-le")
    at, patched = raw.find(needle), 0
    while at >= 0:  # the $FILE_NAME attribute and the folder's index entry
        raw[at + 8 : at + 10] = b"\x00\xd8"  # "Q" -> a lone high surrogate
        at, patched = raw.find(needle, at + 1), patched + 1
    assert patched == 2
    image = tmp_path / "surrogate.img"
    image.write_bytes(bytes(raw))
    text = _run("ls", "--no-carve", str(image))
    listed = _run("ls", "--no-carve", "--json", str(image))
    assert text.exit_code == listed.exit_code == 0
    _assert_terminal_safe(text.stdout)
    names = [json.loads(line)["display_path"] for line in listed.stdout.splitlines()]
    odd = [n for n in names if n.startswith("pair")]
    assert odd == ["pair^jpg"]
    assert odd[0] in text.stdout
