"""The HTML report in a real headless browser (issue 5, acceptance 3).

Debian's Chromium through Playwright, with every network request blocked and
recorded: the report must load with no console errors, show the queue in rank
order, hold no image unless --previews, and keep previews blurred until clicked.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import ON_CI, require_tools
from tests.queue.evidence_db import EVIL_PATH, build_case
from triage.cli import main

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    require_tools("mke2fs", "debugfs")
    tmp = tmp_path_factory.mktemp("report")
    db, image, _ = build_case(tmp)
    before = image.read_bytes()
    runner = CliRunner()
    out: dict[str, Any] = {"db": db}
    for name, extra in (("plain", []), ("previews", ["--previews"])):
        path = tmp / f"{name}.html"
        result = runner.invoke(
            main, ["report", "--db", str(db), "-o", str(path), *extra]
        )
        assert result.exit_code == 0, result.output
        out[name] = path
    assert image.read_bytes() == before  # evidence untouched
    queue = runner.invoke(main, ["queue", "--db", str(db), "--json"])
    out["queue"] = [json.loads(line) for line in queue.output.splitlines()]
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        if ON_CI:
            pytest.fail(f"{CHROMIUM} missing: run scripts/setup.sh")
        pytest.skip(f"no browser at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield b
        finally:
            b.close()


def _open(browser: Any, path: Path) -> tuple[Any, Any, list[str], list[str]]:
    context = browser.new_context()
    requests: list[str] = []
    errors: list[str] = []

    def block(route: Any) -> None:
        if route.request.url != path.as_uri():
            requests.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    context.route("**/*", block)
    page = context.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on(
        "request", lambda r: None if r.url == path.as_uri() else requests.append(r.url)
    )
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return context, page, requests, errors


def test_report_loads_offline_in_rank_order_without_images(
    browser: Any, reports: dict[str, Any]
) -> None:
    context, page, requests, errors = _open(browser, reports["plain"])
    try:
        assert errors == []
        assert requests == []
        shown = page.eval_on_selector_all(
            "#queue-table tbody tr", "rows => rows.map(r => r.dataset.device)"
        )
        assert shown == [row["device_id"] for row in reports["queue"]]
        assert shown == ["dev1", "dev2"]
        assert page.locator("img").count() == 0
        html = reports["plain"].read_text()
        assert "data:image" not in html
        # Paths from evidence are text, never markup.
        assert page.locator("img[src=x]").count() == 0
        assert page.get_by_text(EVIL_PATH).count() >= 1
        assert html.count("<script") == 1  # ours; set names and paths are escaped
        assert page.locator("script").count() == 1
        assert page.locator("text=no image content").count() == 1
    finally:
        context.close()


def test_previews_blurred_until_clicked(browser: Any, reports: dict[str, Any]) -> None:
    context, page, requests, errors = _open(browser, reports["previews"])
    try:
        assert errors == [] and requests == []
        assert page.locator("#preview-warning").is_visible()
        imgs = page.locator("img.preview")
        assert imgs.count() == 3  # a.jpg, deleted b.jpg, the oddly named one
        first = imgs.first
        assert "blur" in first.evaluate("e => getComputedStyle(e).filter")
        assert first.evaluate("e => e.src").startswith("data:image/jpeg;base64,")
        first.click()
        assert first.evaluate("e => getComputedStyle(e).filter") == "none"
        assert "blur" in imgs.nth(1).evaluate("e => getComputedStyle(e).filter")
        first.click()
        assert "blur" in first.evaluate("e => getComputedStyle(e).filter")
        # The embedded thumbnail itself is small and greyscale.
        size = first.evaluate("e => [e.naturalWidth, e.naturalHeight]")
        assert max(size) <= 96
        grey = first.evaluate(
            """e => { const c = document.createElement('canvas');
                 c.width = e.naturalWidth; c.height = e.naturalHeight;
                 const x = c.getContext('2d'); x.drawImage(e, 0, 0);
                 const d = x.getImageData(0, 0, c.width, c.height).data;
                 for (let i = 0; i < d.length; i += 4) {
                   if (d[i] !== d[i+1] || d[i] !== d[i+2]) return false; }
                 return true; }"""
        )
        assert grey is True
        assert requests == []
    finally:
        context.close()
