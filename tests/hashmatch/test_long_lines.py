"""A hash list with an absurdly long line: a bad line named ``file:line``,
the rest imported, memory bounded (issue 15, item 3)."""

from __future__ import annotations

import hashlib
import json
import tracemalloc
from pathlib import Path

import pytest

from triage.errors import HashSetError
from triage.hashmatch.formats import import_files, vics
from triage.hashmatch.formats.text import MAX_LINE

LONG = 20 << 20  # 20 MiB without a newline


def _md5(i: int) -> str:
    return hashlib.md5(str(i).encode()).hexdigest()


def _sha1(i: int) -> str:
    return hashlib.sha1(str(i).encode()).hexdigest()


def _write_with_long_line(path: Path, head: str, good: list[str], long: str) -> None:
    """``head`` lines, good[0], then a 20 MiB line starting with ``long``,
    then good[1:]: written in pieces, never held whole."""
    with open(path, "w", newline="") as out:
        out.write(head + good[0] + "\n" + long)
        piece = "x" * (1 << 20)
        for _ in range(LONG // len(piece)):
            out.write(piece)
        out.write("\n" + "\n".join(good[1:]) + "\n")


NSRL_HEAD = '"SHA-1","MD5","CRC32","FileName","FileSize","ProductCode"\n'
HSH_HEAD = "file_id,hashset_id,file_name,directory,hash,file_size\n"
CASES = {
    "md5sum": ("", [f"{_md5(i)}  n{i}" for i in range(3)], f"{_md5(9)}  "),
    "sha1sum": ("", [f"{_sha1(i)} *n{i}" for i in range(3)], f"{_sha1(9)} *"),
    "csv": ("md5,name\n", [f"{_md5(i)},n{i}" for i in range(3)], f"{_md5(9)},"),
    "hashkeeper": (
        HSH_HEAD,
        [f"{i},1,n{i},d,{_md5(i)},1" for i in range(3)],
        '9,1,"',
    ),
    "nsrl": (
        NSRL_HEAD,
        [f'"{_sha1(i).upper()}","{_md5(i)}","0","n{i}",1,1' for i in range(3)],
        f'"{_sha1(9)}","{_md5(9)}","0","',
    ),
}


@pytest.mark.parametrize("fmt", sorted(CASES))
def test_overlong_line_is_a_bad_line_and_memory_stays_bounded(
    tmp_path: Path, fmt: str
) -> None:
    head, good, long = CASES[fmt]
    path = tmp_path / f"list.{fmt}"
    _write_with_long_line(path, head, good, long)
    bad_at = head.count("\n") + 2
    with pytest.raises(HashSetError, match=rf"list\.{fmt}:{bad_at}: line longer"):
        import_files([path], name="t", fmt=fmt)
    tracemalloc.start()
    try:
        hs, report = import_files([path], name="t", fmt=fmt, skip_bad_lines=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [(b.line, b.reason.split(" (")[0]) for b in report.bad_lines] == [
        (bad_at, f"line longer than {MAX_LINE} characters")
    ]
    assert str(report.bad_lines[0]).startswith(f"{path}:{bad_at}: ")
    assert len(hs) == 3  # the lines after the long one are read, numbered right
    ids = sorted(e.entry_id for e in hs.iter_entries())
    assert ids[-1] == f"{path.name}:{bad_at + 2}"
    assert peak < 8 << 20, f"peak {peak >> 20} MiB while importing a 20 MiB line"


def test_csv_quoted_record_over_many_short_lines_is_bounded(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    body = "\n".join("y" * 80 for _ in range(2000))  # 160 KiB inside one quote
    path.write_text(f'md5,name\n{_md5(1)},"{body}"\n{_md5(2)},ok\n')
    hs, report = import_files([path], name="t", fmt="csv", skip_bad_lines=True)
    assert report.bad_lines and "line longer than" in report.bad_lines[0].reason
    assert _md5(1) not in {e.values("md5")[0] for e in hs.iter_entries()}


def test_vics_value_over_the_bound_is_an_error_naming_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(vics, "MAX_JSON_VALUE", 1 << 20)
    media = [
        {"MediaID": 1, "Category": 1, "MD5": _md5(1)},
        {"MediaID": 2, "Category": 1, "MD5": _md5(2), "Comment": "z" * (5 << 20)},
    ]
    path = tmp_path / "v.json"
    path.write_text(json.dumps({"odata.metadata": "m", "value": media}, indent=1))
    text = path.read_text()
    line = text[: text.index('"MediaID": 2')].count("\n")  # the object's "{"
    with pytest.raises(HashSetError, match=rf"v\.json:{line}: a JSON value longer"):
        import_files([path], name="t", skip_bad_lines=True)
