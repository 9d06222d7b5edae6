"""``triage scan``: scan devices for known images into a case database.

The scan package (and Dask) is imported only when the command runs, so the
rest of the CLI starts fast.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from triage.cli.common import (
    echo_json,
    evidence_options,
    print_error,
    terminal_safe,
    use_passwords,
)
from triage.cli.interrupt import Interrupted, interruptible
from triage.errors import UsageError

if TYPE_CHECKING:
    from triage.scan import ScanEvent, ScanSummary

#: Exit status when the scan ran but at least one device failed, or was left
#: alone because another scan on this machine is scanning it now ("busy").
EXIT_DEVICE_FAILED = 3


@dataclass
class _Counts:
    files: int = 0
    bytes: int = 0
    media: int = 0
    matches: int = 0
    walked_bytes: int = 0


def _label(device_id: str) -> str:
    """A device id as a progress label: control characters escaped, and no
    rich markup (the label is rendered as markup)."""
    return escape(terminal_safe(device_id))


@dataclass
class LiveProgress:
    """A rich live display: one bar per device and one overall (bytes of
    evidence walked vs processed, with files, media and matches)."""

    console: Console
    progress: Progress = field(init=False)
    overall: TaskID = field(init=False)
    tasks: dict[str, TaskID] = field(default_factory=dict)
    counts: dict[str, _Counts] = field(default_factory=dict)
    total: _Counts = field(default_factory=_Counts)

    def __post_init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}", justify="left"),
            BarColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
        )
        self.overall = self.progress.add_task("all devices", total=None, stats="")

    def __enter__(self) -> LiveProgress:
        return self  # the display starts with the first event

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    @staticmethod
    def _stats(c: _Counts) -> str:
        return (
            f"{c.files} files {c.bytes / 1e6:.0f} MB {c.media} media "
            f"{c.matches} matches"
        )

    def __call__(self, event: ScanEvent) -> None:
        if not self.progress.live.is_started:
            self.progress.start()
        dev = event.device_id
        if dev not in self.counts:
            self.counts[dev] = _Counts()
            self.tasks[dev] = self.progress.add_task(_label(dev), total=None, stats="")
        c = self.counts[dev]
        task = self.tasks[dev]
        if event.kind == "walked":
            c.walked_bytes += event.walked_bytes
            self.total.walked_bytes += event.walked_bytes
            self.progress.update(task, total=max(c.walked_bytes, 1))
            self.progress.update(self.overall, total=max(self.total.walked_bytes, 1))
        elif event.kind == "chunk":
            for target in (c, self.total):
                target.files += event.files
                target.bytes += event.bytes
                target.media += event.media
                target.matches += event.matches
            self.progress.update(task, completed=c.bytes, stats=self._stats(c))
            self.progress.update(
                self.overall, completed=self.total.bytes, stats=self._stats(self.total)
            )
        elif event.kind == "device-done":
            self.progress.update(
                task,
                description=f"{_label(dev)} \\[{event.status}]",
                total=max(c.bytes, 1),
                completed=max(c.bytes, 1),
            )


def _print_summary(console: Console, summary: ScanSummary) -> None:
    table = Table(title=f"triage scan -> {summary.db}")
    for col in ("device", "status", "media", "matches", "skipped", "first hit s"):
        table.add_column(
            col, justify="left" if col in ("device", "status") else "right"
        )
    for d in summary.devices:
        hit = "-" if d.first_hit_seconds is None else f"{d.first_hit_seconds:.1f}"
        table.add_row(
            Text(terminal_safe(d.device_id)),
            d.status,
            str(d.media),
            str(d.matches),
            str(d.skipped),
            hit,
        )
    console.print(table)
    for d in summary.devices:
        if d.error:
            print_error(f"device {d.device_id}: {d.error}")
    console.print(
        f"{len(summary.devices)} device(s) in {summary.seconds:.1f} s "
        f"({summary.scheduler}, {summary.workers} worker(s))",
        highlight=False,
    )


_DEVICES_AT_ONCE = click.option(
    "--devices-at-once",
    type=click.IntRange(min=1),
    help="Devices walked at a time, their work interleaved "
    "(default: 4 with --stop-after, else 1).",
)
TASK_TIMEOUT_OPTION = click.option(
    "--task-timeout",
    type=click.FloatRange(min=1),
    default=None,
    help="Seconds a chunk may take on a cluster before it is retried "
    "once, then its device failed (default 1800).",
)
_NO_INNER_SOURCES = click.option(
    "--no-inner-sources",
    "no_inner_sources",
    is_flag=True,
    help="Do not look inside files for pictures (thumbnail caches, EXIF "
    "thumbnails, PDF/SQLite pictures, the in-file signature scan); "
    "archives are still expanded.",
)


def register(main: click.Group) -> None:
    @main.command("scan")
    @click.argument("evidence", nargs=-1, required=True, type=click.Path())
    @click.option(
        "--hashset",
        "hashsets",
        multiple=True,
        required=True,
        type=click.Path(exists=True, dir_okay=False),
        help="A hash set file (repeat for several).",
    )
    @click.option(
        "--db", required=True, type=click.Path(dir_okay=False), help="Case database."
    )
    @click.option("--case", "case_id", help="Case id the devices belong to.")
    @click.option("--device-id", help="Name for the device (one evidence only).")
    @click.option(
        "--workers", type=click.IntRange(min=1), help="Local worker processes."
    )
    @click.option(
        "--scheduler", help="Use a running Dask scheduler (tcp://HOST:8786), or 'sync'."
    )
    @click.option(
        "--stop-after",
        type=click.IntRange(min=1),
        help="Stop a device after N confidently matched items (marked stopped-early).",
    )
    @_DEVICES_AT_ONCE
    @click.option(
        "--chunk-files",
        type=click.IntRange(min=1),
        default=None,
        help="Files per task.",
    )
    @_NO_INNER_SOURCES
    @TASK_TIMEOUT_OPTION
    @click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
    @evidence_options
    def scan_command(
        evidence: tuple[str, ...],
        hashsets: tuple[str, ...],
        db: str,
        case_id: str | None,
        device_id: str | None,
        workers: int | None,
        scheduler: str | None,
        stop_after: int | None,
        devices_at_once: int | None,
        chunk_files: int | None,
        no_inner_sources: bool,
        task_timeout: float | None,
        as_json: bool,
        **opened: Any,  # evidence_options: as_device, passwords
    ) -> None:
        """Scan EVIDENCE (disk images, or folders of them) for known images.

        One evidence argument is one device (E01 and split raw segments are
        found from the first file). Resumable: run the same command again after
        an interruption and finished work is skipped. A device another scan on
        this machine is scanning now is left alone ("busy"). Exit status 3 if
        any device failed or was busy.
        """
        if workers is not None and scheduler not in (None, "sync"):
            raise UsageError("--workers and --scheduler exclude each other")
        kwargs: dict[str, Any] = {
            "case_id": case_id,
            "device_id": device_id,
            "workers": workers,
            "scheduler": scheduler,
            "stop_after": stop_after,
            "devices_at_once": devices_at_once,
            "chunk_files": chunk_files,
            "inner_sources": not no_inner_sources,
            **opened,  # as_device; the passwords, taken by _run_scan
        }
        if task_timeout is not None:
            kwargs["task_timeout"] = task_timeout
        _run_scan(list(evidence), list(hashsets), db, as_json, kwargs)


def _run_scan(
    evidence: list[str],
    hashsets: list[str],
    db: str,
    as_json: bool,
    kwargs: dict[str, Any],
) -> None:
    """Run the scan (with a live display on a terminal), print its summary,
    and exit 3 if a device failed or was busy."""
    from triage.scan import DEFAULT_CHUNK_FILES, scan

    use_passwords(kwargs.pop("password"), kwargs.pop("recovery_password"))
    kwargs["chunk_files"] = kwargs["chunk_files"] or DEFAULT_CHUNK_FILES
    console = Console(stderr=False)
    live = sys.stdout.isatty() and not as_json
    try:
        with interruptible(
            f"stopped at once; {db} is whole (work not committed is rolled back "
            "when it is next opened): run the same command again to resume"
        ):
            if live:
                with LiveProgress(console) as display:
                    summary = scan(evidence, hashsets, db, progress=display, **kwargs)
            else:
                summary = scan(evidence, hashsets, db, **kwargs)
    except Interrupted as exc:
        print_error(
            f"scan interrupted ({exc}): finished chunks are kept in {db}; run "
            "the same command again to resume"
        )
        click.get_current_context().exit(exc.exit_status)
    if as_json:
        echo_json(summary.as_dict())
    else:
        _print_summary(console, summary)
    if any(d.status in ("failed", "busy") for d in summary.devices):
        click.get_current_context().exit(EXIT_DEVICE_FAILED)
