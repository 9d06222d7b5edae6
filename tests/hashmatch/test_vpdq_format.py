"""vPDQ files as Meta's ``vpdq`` writes them: one per video, a line per
frame; a folder of them is one set; a malformed line names ``file:line``."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from triage.cli import main
from triage.errors import HashSetError
from triage.hashmatch.formats import detect_format, import_files
from triage.hashmatch.formats.vpdq import LOW_QUALITY

A = "e271017837246aaccddea259648fb7d62f435c89d9e99b2497763e216c8d055c"
B = "c0f11178372c6aaccddea259648fbfd62f434c89c9e99b249772be216c8d055c"
C = "c0f10b78372c6aacc5dea25b748fb7d22f434c89c9a9db249772b6216c8d855c"


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "vpdq"
    folder.mkdir()
    (folder / "one.mp4.txt").write_text(
        f"0,100,{A},0.000\n30,98,{B},1.000\n60,20,{C},2.000\n"
    )
    (folder / "two.mp4.txt").write_text(f"0,100,{C},0.000\n25,100,{A},1.000\n")
    return folder


def test_sniffed_and_a_folder_is_one_set_of_one_entry_per_file(
    tmp_path: Path,
) -> None:
    folder = _folder(tmp_path)
    assert detect_format(folder / "one.mp4.txt").name == "vpdq"
    hs, report = import_files([folder], name="videos", scheme="caid")
    assert len(hs) == 2
    entries = {e.entry_id: e for e in hs.iter_entries()}
    assert set(entries) == {"one.mp4.txt", "two.mp4.txt"}
    assert sorted(entries["one.mp4.txt"].values("vpdq")) == sorted([A, B])
    assert report.ignored[LOW_QUALITY] == 1  # quality 20 never matches
    counts = hs.counts()
    assert (counts["videos"], counts["vpdq"]) == (2, 4)
    assert [s["format"] for s in hs.sources] == ["vpdq", "vpdq"]


def test_a_malformed_line_names_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text(f"0,100,{A},0.000\n1,100,{A[:-1]},1.0\n")
    with pytest.raises(HashSetError, match=r"bad.txt:2: not a vPDQ line"):
        import_files([bad], "vpdq", name="x")
    worse = tmp_path / "worse.txt"
    worse.write_text(f"0,101,{A},0.000\n")
    with pytest.raises(HashSetError, match=r"worse.txt:1: quality 101"):
        import_files([worse], "vpdq", name="x")


def test_cli_import_of_a_folder_and_info_counts_videos(tmp_path: Path) -> None:
    folder = _folder(tmp_path)
    out = tmp_path / "v.ths"
    runner = CliRunner()
    result = runner.invoke(main, ["hashset", "import", str(folder), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 entries (4 vpdq)" in result.output
    info = runner.invoke(main, ["hashset", "info", str(out)])
    assert "videos:   2 (4 frames)" in info.output
