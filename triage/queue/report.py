"""The HTML report: one self-contained file an investigator can open anywhere.

No network: CSS and JavaScript are inline, and a Content-Security-Policy
allows only those two blocks (by SHA-256) and ``data:`` images, so even a
mistake elsewhere cannot load or run anything else. Every string that comes
from evidence or the database is HTML-escaped (paths are attacker-controlled).

No image content by default. With previews, each matched item gets a small
greyscale thumbnail blurred hard (``GaussianBlur``) before it is embedded, and
shown further blurred by CSS until clicked: staff see only what they choose
to, and never a clear picture.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import warnings
from collections.abc import Iterable, Mapping
from importlib import resources
from string import Template

from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from triage.queue.data import CaseData, DeviceDetail, MatchedMedia
from triage.queue.explain import explain
from triage.queue.rank import video_note
from triage.queue.score import (
    Calibration,
    grade,
    load_calibration,
    match_probability,
)
from triage.records import Source

PREVIEW_PIXELS = 96  # longest side of a thumbnail
PREVIEW_BLUR = 4.0  # GaussianBlur radius at that size: shapes only, no detail
PREVIEW_MAX_PIXELS = 50_000_000  # refuse to decode larger pictures (bombs)

MAX_MEDIA_ROWS = 500  # matched items listed per device; `triage export` has all

PreviewKey = tuple[str, str]  # (device id, address)


def _item_rank(item: MatchedMedia, cal: Calibration) -> tuple[float, float, str]:
    """Sort key: counted matches first, worst category and surest first."""
    best, worst = 0.0, -1.0
    for m in item.matches:
        p = match_probability(m, cal)
        if p is not None:
            best = max(best, p)
            worst = max(worst, grade(m.category, m.scheme).order)
    return (-worst, -best, item.address)


def _e(value: object) -> str:
    """HTML-escape anything (None shows as an em dash)."""
    if value is None or value == "":
        return "&mdash;"
    return html.escape(str(value), quote=True)


def _resource(name: str) -> str:
    return (
        resources.files("triage.queue")
        .joinpath("templates", name)
        .read_text(encoding="utf-8")
    )


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "sha256-" + base64.b64encode(digest).decode("ascii")


def thumbnail_data_uri(data: bytes) -> str:
    """A small, greyscale, hard-blurred JPEG of a picture, as a ``data:`` URI.

    Raises:
        ValueError: the bytes are not a picture Pillow can decode safely (the
            message says why).
    """
    try:
        import pillow_heif

        pillow_heif.register_heif_opener()
    except ImportError:  # HEIC previews need pillow-heif; others do not
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as img:
                if img.width * img.height > PREVIEW_MAX_PIXELS:
                    raise ValueError(
                        f"{img.width}x{img.height} pixels is too large to preview"
                    )
                img.draft("L", (PREVIEW_PIXELS * 2, PREVIEW_PIXELS * 2))
                small = ImageOps.exif_transpose(img).convert("L")
                small.thumbnail((PREVIEW_PIXELS, PREVIEW_PIXELS))
        except (
            UnidentifiedImageError,
            Image.DecompressionBombError,
            Image.DecompressionBombWarning,
            OSError,
            SyntaxError,
        ) as exc:
            raise ValueError(f"cannot decode for preview: {exc}") from exc
    blurred = small.filter(ImageFilter.GaussianBlur(PREVIEW_BLUR))
    out = io.BytesIO()
    blurred.save(out, "JPEG", quality=60)
    return "data:image/jpeg;base64," + base64.b64encode(out.getvalue()).decode()


def _seconds(value: float | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def _flags(item: MatchedMedia) -> str:
    flags = []
    if item.deleted:
        flags.append('<span class="flag deleted">deleted</span>')
    if item.carved:
        flags.append('<span class="flag carved">carved</span>')
        if item.same_content_as:
            flags.append(
                '<br><span class="muted">same content as '
                + ", ".join(_e(p) for p in item.same_content_as)
                + "</span>"
            )
    if item.archive:
        flags.append('<span class="flag archive">archive</span>')
    source = None if item.record is None else item.record.source
    if source is Source.THUMBNAIL_CACHE:
        flags.append('<span class="flag inner">thumbnail cache</span>')
    elif source is Source.EMBEDDED:
        flags.append('<span class="flag inner">inside another file</span>')
    return "".join(flags) or '<span class="flag">allocated</span>'


def _queue_table(data: CaseData) -> str:
    rows = []
    for d in data.devices:
        r, f, s = d.row, d.row.facts, d.row.score
        confident = s.confident_items
        exact = sum(1 for i in confident if i.exact)
        cats: dict[str, int] = {}
        for i in confident:
            cats[i.grade.label] = cats.get(i.grade.label, 0) + 1
        cat_text = ", ".join(f"{n} {label}" for label, n in cats.items())
        matches = (
            f"{exact} exact / {len(confident) - exact} perceptual"
            + (f"<br>{_e(cat_text)}" if cat_text else "")
            + (f"<br>{len(s.possible_items)} possible" if s.possible_items else "")
        )
        status = _e(f.status) + (
            '<br><span class="attention">manual attention</span>' if r.attention else ""
        )
        rows.append(
            f'<tr class="queue-row tier-{_e(r.tier)}" data-rank="{r.rank}" '
            f'data-device="{_e(f.device_id)}">'
            f'<td class="num">{r.rank}</td>'
            f'<td><a href="#dev-{r.rank}">{_e(f.device_id)}</a></td>'
            f"<td>{_e(f.case_id)}</td>"
            f'<td class="tier">{_e(r.tier)}</td>'
            f'<td class="num">{r.priority:.3f}</td>'
            f'<td class="num">{s.likelihood:.3f}</td>'
            f"<td>{matches}</td>"
            f'<td class="num">{f.deleted_media} / {f.carved_media}</td>'
            f"<td>{_e(r.case.access_to_children)}<br>"
            f"risk {_e(r.case.risk_band or 'not assessed')}</td>"
            f"<td>{status}</td>"
            f'<td class="reason">{_e(r.reason)}</td></tr>'
        )
    head = (
        '<table id="queue-table"><thead><tr><th class="num">Rank</th><th>Device</th>'
        '<th>Case</th><th>Tier</th><th class="num">Priority</th>'
        '<th class="num">Likelihood</th><th>Matches (confident items)</th>'
        '<th class="num">Deleted / carved media</th><th>Safeguarding</th>'
        "<th>Status</th><th>Reason</th></tr></thead><tbody>"
    )
    if not rows:
        return '<p class="muted">No devices in this database.</p>'
    tiers: dict[str, int] = {}
    for d in data.devices:
        tiers[d.row.tier] = tiers.get(d.row.tier, 0) + 1
    summary = ", ".join(
        f"{n} {label}"
        for label, n in (
            ("with known material", tiers.get("known-material", 0)),
            ("needing manual attention", tiers.get("needs-attention", 0)),
            ("not yet scanned", tiers.get("not-scanned", 0)),
            ("with nothing known found", tiers.get("nothing-found", 0)),
        )
        if n
    )
    return (
        f'<p id="summary"><strong>{len(data.devices)} device(s):</strong> '
        f"{_e(summary)}.</p>" + head + "".join(rows) + "</tbody></table>"
    )


def _cases_table(data: CaseData) -> str:
    used: dict[str, int] = {}
    for d in data.devices:
        used[d.row.case.case_id] = used.get(d.row.case.case_id, 0) + 1
    rows = []
    for case_id in sorted(used):
        case = data.cases.get(case_id)
        access = case.access_to_children if case else "unknown"
        risk = (case.risk_band if case else None) or "not assessed"
        rows.append(
            f'<tr data-case="{_e(case_id)}"><td>{_e(case_id)}</td><td>{_e(access)}'
            f'</td><td>{_e(risk)}</td><td class="num">{used[case_id]}</td>'
            f"<td>{_e(case.note if case else 'not in the case table')}</td></tr>"
        )
    if not rows:
        return ""
    return (
        '<table id="cases-table"><thead><tr><th>Case</th><th>Access to children'
        '</th><th>Risk band</th><th class="num">Devices</th><th>Note</th></tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _match_table(
    detail: DeviceDetail,
    cal: Calibration,
    previews: Mapping[PreviewKey, str] | None,
) -> str:
    if not detail.media:
        return '<p class="muted">No matches.</p>'
    head = ["Path", "Where", "Set", "Entry", "Category", "Algorithm", "Distance", "p"]
    if previews is not None:
        head.insert(0, "Preview")
    out = [
        '<table class="matches"><thead><tr>'
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr></thead><tbody>"
    ]
    ordered = sorted(detail.media, key=lambda i: _item_rank(i, cal))
    for item in ordered[:MAX_MEDIA_ROWS]:
        n = len(item.matches)
        for j, m in enumerate(item.matches):
            cells = []
            if j == 0:
                span = f' rowspan="{n}"' if n > 1 else ""
                if previews is not None:
                    preview = previews.get((item.device_id, item.address))
                    if preview is None or all(x.known_good for x in item.matches):
                        cell = '<span class="muted">none</span>'
                    elif preview.startswith("data:image/"):
                        cell = (
                            f'<img class="preview" src="{_e(preview)}" '
                            'alt="blurred preview" title="Click to reveal" '
                            'role="button" aria-pressed="false">'
                            '<div class="hint">blurred; click</div>'
                        )
                    else:
                        cell = f'<span class="muted">{_e(preview)}</span>'
                    cells.append(f'<td class="preview-cell"{span}>{cell}</td>')
                cells.append(
                    f'<td class="path mono"{span}>{_e(item.path)}'
                    f'<br><span class="muted">md5 {_e(item.md5)}</span></td>'
                    f"<td{span}>{_flags(item)}</td>"
                )
            p = match_probability(m, cal)
            note = video_note(m)
            if m.known_good:
                p_text = "known-good"
            else:
                p_text = "not counted" if p is None else f"{p:.3f}"
            cells.append(
                f"<td>{_e(m.set_name)}</td><td>{_e(m.entry_id)}</td>"
                f'<td>{_e(m.category)} <span class="muted">{_e(m.scheme)}</span></td>'
                f'<td>{_e(m.algorithm)} <span class="muted">{_e(m.variant)}</span>'
                + (f'<br><span class="muted">{_e(note)}</span>' if note else "")
                + "</td>"
                f'<td class="num">{m.distance}</td><td class="num">{p_text}</td>'
            )
            out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    if len(ordered) > MAX_MEDIA_ROWS:
        out.append(
            f'<p class="muted">{len(ordered) - MAX_MEDIA_ROWS} more matched items '
            "not listed here (least severe last): `triage export --format csv` "
            "lists every match.</p>"
        )
    return "".join(out)


def _skipped_table(detail: DeviceDetail) -> str:
    if not detail.skipped:
        return '<p class="muted">Nothing was skipped.</p>'
    rows = "".join(
        f'<tr><td class="path mono">{_e(loc)}</td><td>{_e(stage)}</td>'
        f"<td>{_e(reason)}</td></tr>"
        for loc, stage, reason in detail.skipped
    )
    return (
        '<table class="skipped"><thead><tr><th>Location</th><th>Stage</th>'
        f"<th>Reason</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def _device_section(
    detail: DeviceDetail,
    cal: Calibration,
    previews: Mapping[PreviewKey, str] | None,
) -> str:
    r, f = detail.row, detail.row.facts
    attention = ""
    if r.attention:
        attention = (
            '<div class="banner danger"><strong>Manual attention:</strong><ul>'
            + "".join(f"<li>{_e(a)}</li>" for a in r.attention)
            + "</ul></div>"
        )
    kv = [
        ("Case", f.case_id),
        ("Status", f.status),
        ("Tier", r.tier),
        ("Evidence", "\n".join(detail.segments) or f.evidence),
        ("Container", detail.container),
        ("Size (bytes)", detail.size),
        ("Stored digest", detail.stored_digest),
        ("Scan time (s)", _seconds(detail.scan_seconds)),
        ("First confident hit (s)", _seconds(f.first_hit_seconds)),
        ("Media items", f.media_count),
        (
            "Deleted / carved / in archives",
            (f"{f.deleted_media} / {f.carved_media} / {f.archive_media}"),
        ),
        ("Items not read", f.skipped_count),
        ("Failure", f.failure),
    ]
    dl = "".join(f'<dt>{_e(k)}</dt><dd class="mono path">{_e(v)}</dd>' for k, v in kv)
    return (
        f'<section class="device" id="dev-{r.rank}" data-device="{_e(f.device_id)}">'
        f"<h3>#{r.rank} {_e(f.device_id)}</h3>"
        f'<p class="reason">{_e(r.reason)}</p>{attention}'
        f'<dl class="kv">{dl}</dl>'
        f"<h4>Why this rank</h4><pre>{_e(chr(10).join(explain(r)))}</pre>"
        f"<h4>Matches</h4>{_match_table(detail, cal, previews)}"
        f"<h4>Skipped (could not be read or processed)</h4>{_skipped_table(detail)}"
        "</section>"
    )


def _audit(data: CaseData) -> str:
    meta = "".join(
        f'<dt>{_e(k)}</dt><dd class="mono">{_e(v)}</dd>'
        for k, v in sorted(data.meta.items())
    )
    sets: dict[tuple[str, str], dict[str, object]] = {}
    run_rows = []
    for d in data.devices:
        for run in d.runs:
            for hs in run.get("hashsets") or []:
                key = (str(hs.get("name")), str(hs.get("digest")))
                sets.setdefault(key, hs)
            run_rows.append(
                f"<tr><td>{_e(run.get('run_id'))}</td>"
                f"<td>{_e(run.get('device_id'))}</td>"
                f"<td>{_e(run.get('tool_version'))}</td>"
                f"<td>{_e(run.get('host'))}</td><td>{_e(run.get('user'))}</td>"
                f"<td>{_e(run.get('started_at'))}</td>"
                f"<td>{_e(run.get('finished_at'))}</td>"
                f"<td>{_e(run.get('status'))}</td></tr>"
            )
    set_rows = "".join(
        f"<tr><td>{_e(hs.get('name'))}</td><td>{_e(hs.get('kind'))}</td>"
        f'<td class="mono path">{_e(hs.get("digest"))}</td>'
        f'<td class="mono path">{_e(hs.get("path"))}</td></tr>'
        for _, hs in sorted(sets.items())
    )
    evidence_rows = "".join(
        f"<tr><td>{_e(d.row.device_id)}</td>"
        f'<td class="mono path">{_e(chr(10).join(d.segments))}</td>'
        f'<td>{_e(d.container)}</td><td class="num">{_e(d.size)}</td>'
        f'<td class="mono path">{_e(d.stored_digest)}</td></tr>'
        for d in data.devices
    )
    return (
        '<dl class="kv">'
        f"<dt>Report generated</dt><dd>{_e(data.generated_at)}</dd>"
        f"<dt>triage version</dt><dd>{_e(data.tool_version)}</dd>"
        f'<dt>Case database</dt><dd class="mono path">{_e(data.database)}</dd>'
        f'<dt>Database SHA-256</dt><dd class="mono">{_e(data.database_sha256)}</dd>'
        f"<dt>Calibration</dt><dd>{_e(data.calibration)}</dd>"
        f"<dt>Case filter</dt><dd>{_e(data.case_id or 'all cases')}</dd>"
        f"{meta}</dl>"
        "<h3>Hash sets used</h3>"
        + (
            "<table><thead><tr><th>Name</th><th>Kind</th><th>Digest</th>"
            f"<th>Path</th></tr></thead><tbody>{set_rows}</tbody></table>"
            if set_rows
            else '<p class="muted">No scan runs recorded.</p>'
        )
        + "<h3>Evidence</h3><table><thead><tr><th>Device</th><th>Segments</th>"
        '<th>Container</th><th class="num">Size</th><th>Stored digest</th></tr>'
        f"</thead><tbody>{evidence_rows}</tbody></table>"
        + "<h3>Scan runs</h3>"
        + (
            "<table><thead><tr><th>Run</th><th>Device</th><th>Version</th>"
            "<th>Host</th><th>User</th><th>Started</th><th>Finished</th>"
            f"<th>Status</th></tr></thead><tbody>{''.join(run_rows)}</tbody></table>"
            if run_rows
            else '<p class="muted">No scan runs recorded.</p>'
        )
    )


def render_report(
    data: CaseData,
    previews: Mapping[PreviewKey, str] | None = None,
    calibration: Calibration | None = None,
) -> str:
    """The report as one HTML string. ``previews`` maps (device, address) to
    a ``data:`` URI from ``thumbnail_data_uri`` or a reason there is none;
    ``None`` means no previews at all (the default: no image content)."""
    cal = calibration or load_calibration()
    style = _resource("report.css")
    script = _resource("report.js")
    title = "triage report" + (f": case {data.case_id}" if data.case_id else "")
    if previews is None:
        banner = (
            '<div class="banner">This report contains <strong>no image '
            "content</strong>. Paths and hashes only.</div>"
        )
    else:
        banner = (
            '<div class="banner danger" id="preview-warning"><strong>Warning:'
            "</strong> this report contains blurred greyscale previews of "
            "media that matched known indecent-image hash sets. They stay "
            "blurred until you click one. Open only if your role requires it, "
            "and follow your welfare procedures.</div>"
        )
    body = Template(_resource("report.html")).substitute(
        title=_e(title),
        tool_version=_e(data.tool_version),
        generated_at=_e(data.generated_at),
        database=_e(data.database),
        banner=banner,
        queue_table=_queue_table(data),
        cases_table=_cases_table(data),
        devices="".join(_device_section(d, cal, previews) for d in data.devices)
        or '<p class="muted">No devices.</p>',
        audit=_audit(data),
        style=style,
        script=script,
        style_hash=_csp_hash(style),
        script_hash=_csp_hash(script),
    )
    return body


def make_previews(
    sources: Iterable[tuple[MatchedMedia, bytes | str]],
) -> dict[PreviewKey, str]:
    """Thumbnails (or reasons) for the items ``sources`` yields with their bytes."""
    out: dict[PreviewKey, str] = {}
    for item, blob in sources:
        key = (item.device_id, item.address)
        if isinstance(blob, str):
            out[key] = blob
        elif item.media_type and not item.media_type.startswith("image/"):
            out[key] = f"no preview for {item.media_type}"
        else:
            try:
                out[key] = thumbnail_data_uri(blob)
            except ValueError as exc:
                out[key] = str(exc)
    return out
