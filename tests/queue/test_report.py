"""Report rendering without a browser: escaping, CSP, previews and their
failures (the browser checks are in tests/test_report_browser.py)."""

from __future__ import annotations

import base64
import hashlib
import io
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.queue.casedb import Dev, Item, hit, populate
from triage.casework import case_data, iter_preview_sources, open_store
from triage.queue.data import CaseData
from triage.queue.report import make_previews, render_report, thumbnail_data_uri
from triage.records import Case
from triage.sample.pictures import encode, make_picture

EVIL = '"><script>alert(1)</script><img src=x onerror=alert(2)>'


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def data(tmp_path: Path) -> CaseData:
    db = populate(tmp_path / "c.db", [Case("K" + EVIL, "lives-with", None, EVIL)], [
        Dev("dev" + EVIL, "K" + EVIL, [
            Item("dir/" + EVIL + ".jpg", b"x", matches=[hit("1" + EVIL, "A")]),
        ], skipped=[]),
        Dev("other", None, [], status="failed", error=EVIL),
    ])  # fmt: skip
    with open_store(db) as store:
        return case_data(store)


def test_everything_from_evidence_is_escaped(tmp_path: Path) -> None:
    html = render_report(data(tmp_path))
    parser = Tags()
    parser.feed(html)
    tags = [t for t, _ in parser.tags]
    assert tags.count("script") == 1 and "img" not in tags
    assert not any(
        k.startswith("on") for _, attrs in parser.tags for k in attrs
    )  # no event handler attributes at all
    assert EVIL not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 4


def test_csp_allows_only_our_inline_blocks(tmp_path: Path) -> None:
    html = render_report(data(tmp_path))
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None
    policy = csp.group(1)
    assert "default-src 'none'" in policy and "img-src data:" in policy
    style = re.search(r"<style>(.*?)</style>", html, re.S)
    script = re.search(r"<script>(.*?)</script>", html, re.S)
    assert style and script
    for block, directive in ((style, "style-src"), (script, "script-src")):
        digest = base64.b64encode(hashlib.sha256(block.group(1).encode()).digest())
        assert f"{directive} 'sha256-{digest.decode()}'" in policy
    assert "http://" not in html.replace("http://www.w3.org", "")
    assert "https://" not in html


def test_thumbnail_is_small_grey_and_blurred() -> None:
    picture = make_picture(4, 400, 300)
    uri = thumbnail_data_uri(encode(picture))
    assert uri.startswith("data:image/jpeg;base64,")
    thumb = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
    assert thumb.mode == "L" and max(thumb.size) <= 96
    # Blurred: far less edge energy than a plain greyscale thumbnail.
    plain = picture.convert("L")
    plain.thumbnail((96, 96))

    def edges(img: Image.Image) -> float:
        px = np.asarray(img, dtype=np.int32)
        return float(np.abs(np.diff(px, axis=1)).sum())

    assert edges(thumb) < 0.5 * edges(plain)


def test_thumbnail_refuses_garbage_and_bombs() -> None:
    with pytest.raises(ValueError, match="cannot decode"):
        thumbnail_data_uri(b"\xff\xd8\xff\xe0 not really a jpeg")
    big = Image.new("L", (10000, 6000))
    out = io.BytesIO()
    big.save(out, "PNG")
    with pytest.raises(ValueError, match="too large|cannot decode"):
        thumbnail_data_uri(out.getvalue())


def test_preview_of_missing_evidence_says_why(tmp_path: Path) -> None:
    d = data(tmp_path)
    previews = make_previews(iter_preview_sources(d, 1 << 20))
    assert len(previews) == 1
    (reason,) = previews.values()
    assert reason.startswith("cannot read back:")
    html = render_report(d, previews)
    assert "cannot read back:" in html and "<img" not in html
    assert 'id="preview-warning"' in html


def test_uncalibrated_matches_and_long_lists(tmp_path: Path) -> None:
    import triage.queue.report as report_module
    from triage.queue.export import export

    items = [
        Item(f"f{i:03d}.jpg", bytes([i]), matches=[hit(str(i), "C")]) for i in range(12)
    ]
    items.append(Item("w.jpg", b"w", matches=[("caid", "w1", "wavelet", 2, "A")]))
    items.append(Item("a.jpg", b"a", matches=[hit("a1", "A")]))
    db = populate(tmp_path / "c.db", [], [Dev("d", None, items)])
    with open_store(db) as store:
        d = case_data(store)
    old = report_module.MAX_MEDIA_ROWS
    report_module.MAX_MEDIA_ROWS = 5
    try:
        html = render_report(d)
    finally:
        report_module.MAX_MEDIA_ROWS = old
    assert "9 more matched items" in html
    assert html.index("a.jpg") < html.index("f000.jpg")  # category A listed first
    assert "w.jpg" not in html  # uncalibrated: sorted last, beyond the cut
    for fmt in ("json", "csv", "vics"):
        text = export(d, fmt)
        assert ("w.jpg" in text) == (fmt != "vics")
