"""``triage case``, ``triage queue``, ``triage report`` and ``triage export``.

Cases carry what investigators know about risk to children; the queue ranks
devices for examination with a reason for every rank (docs/queue.md). Queue,
report and export only read the case database.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from rich.text import Text

from triage.casework import (
    build_queue,
    case_data,
    case_list,
    import_cases,
    iter_preview_sources,
    open_store,
    set_case,
)
from triage.cli.common import echo_json, output_option, terminal_safe
from triage.errors import UsageError
from triage.queue.data import queue_row_json
from triage.queue.explain import explain
from triage.queue.export import EXPORTERS, VICS_SCHEMES, export
from triage.queue.rank import ACCESS_WEIGHT, RISK_BANDS, RankedDevice
from triage.queue.report import make_previews, render_report

DB_OPTION = click.option(
    "--db",
    "db",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The case database (SQLite) written by `triage scan`.",
)
PREVIEW_MAX_BYTES = 64 << 20


def _write_output(path: Path, text: str, evidence: set[str]) -> None:
    """Write atomically, and never onto evidence."""
    target = path.resolve()
    if str(target) in evidence:
        raise UsageError(f"{path}: refusing to write over evidence")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise UsageError(f"{path}: cannot write: {exc}") from exc


def _evidence_paths(store_rows: list[tuple[str, ...]]) -> set[str]:
    out: set[str] = set()
    for segments in store_rows:
        for s in segments:
            try:
                out.add(str(Path(s).resolve()))
            except OSError:
                out.add(s)
    return out


def _matches_cell(row: RankedDevice) -> str:
    s = row.score
    confident = s.confident_items
    exact = sum(1 for i in confident if i.exact)
    text = f"{exact} / {len(confident) - exact}"
    cats: dict[str, int] = {}
    for i in confident:
        cats[i.grade.label] = cats.get(i.grade.label, 0) + 1
    if cats:
        text += "\n" + ", ".join(
            f"{n} {label.replace('category ', 'cat ')}" for label, n in cats.items()
        )
    if s.possible_items:
        text += f"\n{len(s.possible_items)} possible"
    return text


_STATUS_TEXT = {
    "awaiting": "awaiting scan",
    "scanning": "scanning",
    "interrupted": "INTERRUPTED",
    "scanned": "scanned",
    "stopped-early": "stopped early",
    "failed": "FAILED",
}


WIDE = 120  # below this many columns, reasons go under the table


def _print_queue(console: Console, rows: list[RankedDevice]) -> None:
    """The rank table; on narrow terminals the reasons follow it as a list."""
    wide = console.width >= WIDE
    table = Table(title="Examination queue", show_lines=wide, expand=wide)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("device", overflow="fold", min_width=8)
    table.add_column("case", overflow="fold")
    table.add_column("likelihood", justify="right")
    table.add_column("matches\nexact / perc.")
    table.add_column("deleted /\ncarved", justify="right")
    table.add_column("safeguarding")
    table.add_column("status")
    if wide:
        table.add_column("reason", ratio=3, overflow="fold", min_width=30)
    for r in rows:
        f = r.facts
        status = Text(_STATUS_TEXT.get(f.status, f.status))
        if r.attention:
            status.append("\nATTENTION", style="bold yellow")
        style = {"known-material": "bold red", "needs-attention": "yellow"}.get(
            r.tier, ""
        )
        cells: list[str | Text] = [
            str(r.rank),
            Text(terminal_safe(f.device_id), style=style),
            Text(terminal_safe(f.case_id or "-")),
            f"{r.score.likelihood:.3f}" if r.score.has_evidence else "-",
            _matches_cell(r),
            f"{f.deleted_media} / {f.carved_media}",
            Text(f"{r.case.access_to_children}\nrisk {r.case.risk_band or 'n/a'}"),
            status,
        ]
        if wide:
            cells.append(Text(terminal_safe(r.reason)))
        table.add_row(*cells)
    console.print(table)
    if not wide:
        for r in rows:
            console.print(
                Text(terminal_safe(f"{r.rank:>3}. {r.device_id}: {r.reason}"))
            )


@click.group("case")
def case_group() -> None:
    """Cases: what investigators know about risk to children."""


@case_group.command("set")
@click.argument("case_id")
@click.option(
    "--access-to-children",
    type=click.Choice(list(ACCESS_WEIGHT)),
    help="Does the suspect live with, work with, or have regular contact "
    "with children? 'unknown' is weighted as probable contact.",
)
@click.option("--risk-band", type=click.Choice(list(RISK_BANDS)))
@click.option("--note", help="Free text shown in the report.")
@DB_OPTION
def case_set(
    case_id: str,
    access_to_children: str | None,
    risk_band: str | None,
    note: str | None,
    db: Path,
) -> None:
    """Create or update CASE_ID (options not given keep their value)."""
    with open_store(db, create=True) as store:
        case = set_case(
            store,
            case_id,
            access_to_children=access_to_children,
            risk_band=risk_band,
            note=note,
        )
    click.echo(
        f"case {case.case_id}: access to children {case.access_to_children}, "
        f"risk band {case.risk_band or 'not assessed'}"
    )


@case_group.command("import")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@DB_OPTION
def case_import(path: Path, db: Path) -> None:
    """Import cases from CSV or JSON (case_id, access_to_children,
    risk_band, note). Every row is checked before any is written."""
    with open_store(db, create=True) as store:
        cases = import_cases(store, path)
    click.echo(f"imported {len(cases)} case(s) from {path}")


def _print_cases(rows: list[dict[str, Any]]) -> None:
    """The cases as a table, with each case's devices counted by status."""
    table = Table(title="Cases")
    for col in ("case", "access to children", "risk band", "devices", "note"):
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(
            Text(terminal_safe(row["case_id"])),
            Text(terminal_safe(row["access_to_children"])),
            Text(terminal_safe(row["risk_band"] or "not assessed")),
            Text(
                f"{row['devices']} "
                + ", ".join(f"{k} {v}" for k, v in row["device_status"].items())
            ),
            Text(terminal_safe(row["note"] or "")),
        )
    Console().print(table)


@case_group.command("list")
@DB_OPTION
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
def case_list_cmd(db: Path, as_json: bool) -> None:
    """List cases with their safeguarding details and device counts."""
    with open_store(db) as store:
        rows = case_list(store)
    if as_json:
        for row in rows:
            echo_json(row)
        return
    _print_cases(rows)


def _explain_one(
    rows: list[RankedDevice],
    device_id: str,
    db: Path,
    case_id: str | None,
    as_json: bool,
) -> None:
    """Print why ``device_id`` has its rank (``queue --explain``).

    Raises:
        UsageError: the device is not in the queue.
    """
    found = [r for r in rows if r.device_id == device_id]
    if not found:
        raise UsageError(
            f"no device {device_id!r} in {db}" + (f" case {case_id}" if case_id else "")
        )
    if as_json:
        row = queue_row_json(found[0])
        row["explain"] = explain(found[0])
        echo_json(row)
    else:
        click.echo("\n".join(terminal_safe(line) for line in explain(found[0])))


@click.command("queue")
@DB_OPTION
@click.option("--case", "case_id", help="Only this case's devices.")
@click.option(
    "--all-cases", is_flag=True, help="Every device in the database (default)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
@click.option("--limit", type=click.IntRange(min=1), help="Show the top N.")
@click.option("--explain", "explain_device", metavar="DEVICE", help="Explain one rank.")
def queue_cmd(
    db: Path,
    case_id: str | None,
    all_cases: bool,
    as_json: bool,
    limit: int | None,
    explain_device: str | None,
) -> None:
    """Rank devices for examination, with a reason for every rank."""
    if case_id and all_cases:
        raise UsageError("give --case or --all-cases, not both")
    with open_store(db) as store:
        rows = build_queue(store, case_id)
    if explain_device is not None:
        _explain_one(rows, explain_device, db, case_id, as_json)
        return
    if limit is not None:
        rows = rows[:limit]
    if as_json:
        for r in rows:
            echo_json(queue_row_json(r))
        return
    if not rows:
        click.echo("no devices" + (f" in case {case_id}" if case_id else ""))
        return
    _print_queue(Console(), rows)


@click.command("report")
@DB_OPTION
@output_option("The HTML file to write.", dir_okay=False)
@click.option("--case", "case_id", help="Only this case's devices.")
@click.option(
    "--previews",
    is_flag=True,
    help="Embed blurred greyscale thumbnails of matched media (read back "
    "from the evidence, read-only), revealed on click.",
)
def report_cmd(db: Path, output: Path, case_id: str | None, previews: bool) -> None:
    """Write one self-contained HTML report (no network, no images unless
    --previews)."""
    with open_store(db) as store:
        data = case_data(store, case_id)
    thumbs = None
    if previews:
        thumbs = make_previews(iter_preview_sources(data, PREVIEW_MAX_BYTES))
    evidence = _evidence_paths([d.segments for d in data.devices])
    _write_output(output, render_report(data, thumbs), evidence)
    click.echo(
        f"wrote {output} ({len(data.devices)} device(s)"
        + (
            f", {sum(v.startswith('data:') for v in thumbs.values())} previews"
            if thumbs is not None
            else ""
        )
        + ")"
    )


@click.command("export")
@DB_OPTION
@click.option("--format", "fmt", type=click.Choice(EXPORTERS.names()), required=True)
@output_option("The file to write.", dir_okay=False)
@click.option("--case", "case_id", help="Only this case's devices.")
@click.option(
    "--vics-scheme",
    type=click.Choice(VICS_SCHEMES),
    default="auto",
    show_default=True,
    help="Category numbering of a VICS export: caid (A/B/C as 1/2/3) or "
    "vics (Project VIC 0-4); auto is caid when every match is CAID-graded.",
)
def export_cmd(
    db: Path, fmt: str, output: Path, case_id: str | None, vics_scheme: str
) -> None:
    """Export the queue and matches as JSON, CSV (one row per match) or
    VICS 2.0 JSON (matched media, for full-examination tools)."""
    with open_store(db) as store:
        data = case_data(store, case_id)
    evidence = _evidence_paths([d.segments for d in data.devices])
    _write_output(output, export(data, fmt, vics_scheme=vics_scheme), evidence)
    click.echo(f"wrote {output} ({fmt}, {len(data.devices)} device(s))")


def register(main: click.Group) -> None:
    """Add the casework commands to ``main``."""
    for command in (case_group, queue_cmd, report_cmd, export_cmd):
        main.add_command(command)
