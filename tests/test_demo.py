"""The README's first command: ``triage demo`` runs the whole chain.

The demo's devices are built with a known number of planted known pictures
each (``DemoCorpus.expected``); the queue must find exactly those, put every
device holding known pictures above every device without, and flag the
unreadable card for attention rather than rank it as clean.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import require_tools
from triage.cli import main
from triage.sample.demo import KNOWN, MARKER

DEMO_TOOLS = (
    "mkfs.fat", "mcopy", "mkntfs", "ntfs-3g", "mkfs.exfat", "mount.exfat-fuse",
    "mke2fs", "ewfacquire", "sfdisk", "sgdisk",
)  # fmt: skip


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    require_tools(*DEMO_TOOLS)
    out = tmp_path_factory.mktemp("demo") / "demo-out"
    result = CliRunner().invoke(main, ["demo", str(out), "--workers", "1"])
    assert result.exit_code == 0, result.output
    return out, result.output


def _queue(out: Path) -> list[dict[str, object]]:
    result = CliRunner().invoke(main, ["queue", "--db", str(out / "case.db"), "--json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.strip()]


def test_demo_finds_every_planted_known_picture(demo_run: tuple[Path, str]) -> None:
    out, _ = demo_run
    rows = {r["device_id"]: r for r in _queue(out)}
    expected = {
        "elm-laptop.E01": 3,
        "elm-usb.raw": 0,
        "ash-desktop.raw": 3,
        "oak-phone.001": 2,
        "oak-iphone.zip": 1,
    }
    for device, count in expected.items():
        assert rows[device]["known_items"] == count, rows[device]
    # The wallpaper on every device is in the known-good set: never a match.
    assert all(r["matches"] >= r["known_items"] for r in rows.values())
    assert rows["ash-desktop.raw"]["carved_items"] == 1
    assert rows["elm-laptop.E01"]["deleted_only_items"] == 1
    # A known picture whose original is gone, kept by Explorer's thumbcache.
    assert (
        "1 known image only in a thumbnail cache" in rows["elm-laptop.E01"]["reason"]
    ), rows["elm-laptop.E01"]
    assert rows["oak-phone.001"]["archive_items"] == 1
    # A known video re-encoded to another codec and size, found by its frames.
    assert (
        "1 known video (category A) re-encoded, 100% of its frames"
        in rows["oak-phone.001"]["reason"]
    ), rows["oak-phone.001"]
    # The phone extraction zip is a device, its members its files (not
    # archive members).
    assert rows["oak-iphone.zip"]["evidence_kind"] == "ffs-zip"
    assert rows["oak-iphone.zip"]["archive_items"] == 0
    assert rows["oak-phone.001"]["evidence_kind"] == "disk-image"


def test_demo_queue_order_and_failed_card(demo_run: tuple[Path, str]) -> None:
    out, _ = demo_run
    rows = _queue(out)
    order = [r["device_id"] for r in rows]
    with_known = [r["rank"] for r in rows if r["known_items"]]
    clean = [r["rank"] for r in rows if not r["known_items"] and not r["attention"]]
    assert max(with_known) < min(clean), order
    card = next(r for r in rows if r["device_id"] == "yew-card.raw")
    # Random bytes: the device opens but holds no readable filesystem, so it
    # is flagged for manual attention rather than counted as clean.
    assert card["attention"], card
    assert card["known_items"] == 0
    # Flagged for attention, not sunk below the clean devices.
    assert card["rank"] < min(clean), order
    for row in rows:
        assert row["reason"], row


def test_demo_report_has_no_images(demo_run: tuple[Path, str]) -> None:
    out, output = demo_run
    html = (out / "report.html").read_text()
    assert "elm-laptop" in html and "OP-ELM" in html
    assert not re.search(r"<img\b|data:image/", html)
    assert "report.html" in output
    assert (out / MARKER).is_file()
    # Reference pictures are generated stand-ins: one file per known seed.
    assert len(list((out / "reference").rglob("*.jpg"))) == sum(
        map(len, KNOWN.values())
    )


def test_demo_negative_devices_give_no_item_from_inside_files(
    demo_run: tuple[Path, str],
) -> None:
    """Issue 13 acceptance 2: no inner source (thumbnail caches, pictures
    inside other files, the in-file signature scan) turns up an item on the
    demo's devices without known pictures."""
    out, _ = demo_run
    con = sqlite3.connect(f"file:{out / 'case.db'}?mode=ro", uri=True)
    try:
        rows = con.execute(
            "SELECT device_id, display_path FROM media WHERE source IN "
            "('embedded', 'thumbnail-cache') AND device_id IN "
            "('elm-usb.raw', 'yew-card.raw')"
        ).fetchall()
    finally:
        con.close()
    assert rows == []


def test_demo_refuses_a_folder_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    result = CliRunner().invoke(main, ["demo", str(tmp_path)])
    assert result.exit_code == 2
    assert "not made by 'triage demo'" in result.output
    assert (tmp_path / "precious.txt").read_text() == "keep me"
