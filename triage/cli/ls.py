"""``triage ls``: list every file, archive member and carved item on devices.

One line per item on stdout (or one JSON object per line with ``--json``).
A device that cannot be read prints one line on stderr naming it and the
problem, and the other devices are still listed. Skipped items are shown too:
on stderr in text mode, as ``{"skipped": {...}}`` objects in JSON mode.

Exit status: 0 when everything was read; 1 when some items were skipped (each
printed); 3 when a device or one of its partitions could not be read, or an
argument is not evidence.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from triage.cli.common import (
    ERROR_CONSOLE,
    echo_json,
    evidence_options,
    print_error,
    terminal_safe,
    use_passwords,
)
from triage.errors import EvidenceError, TriageError
from triage.records import FileRecord, Skipped, Stage

#: Exit status when at least one device, partition or argument could not be read.
EXIT_DEVICE_FAILED = EvidenceError.exit_code
#: Exit status when every device was read but some items were skipped.
EXIT_ITEMS_SKIPPED = 1

#: The keys of each ``--json`` item line, in the README's order.
JSON_FIELDS: tuple[str, ...] = (
    "device_id",
    "evidence",
    "partition_index",
    "partition_offset",
    "path",
    "display_path",
    "archive_path",
    "source",
    "inode",
    "size",
    "allocated",
    "deleted",
    "orphan",
    "reallocated",
    "carve_offset",
    "media_type",
    "mtime",
    "atime",
    "ctime",
    "crtime",
    "address",
    "carve_runs",
    "carve_note",
    "evidence_kind",
)


def record_json(record: FileRecord) -> dict[str, Any]:
    """A record as the JSON object ``triage ls --json`` prints."""
    return {
        "device_id": record.device_id,
        "evidence": record.evidence,
        "partition_index": record.partition_index,
        "partition_offset": record.partition_offset,
        "path": record.path,
        "display_path": record.display_path,
        "archive_path": list(record.archive_path),
        "source": str(record.source),
        "inode": record.inode,
        "size": record.size,
        "allocated": not record.deleted,
        "deleted": record.deleted,
        "orphan": record.orphan,
        "reallocated": record.reallocated,
        "carve_offset": record.carve_offset,
        "media_type": record.media_type,
        "mtime": _iso(record.mtime),
        "atime": _iso(record.atime),
        "ctime": _iso(record.ctime),
        "crtime": _iso(record.crtime),
        "address": record.address,
        "carve_runs": [list(run) for run in record.carve_runs] or None,
        "carve_note": record.carve_note,
    }


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    try:
        return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None  # a corrupt timestamp outside what datetime can hold


def record_line(record: FileRecord) -> str:
    """A record as one tab-separated text line (path last: it may hold spaces;
    control characters in names are escaped, so one record is one line)."""
    status = "deleted" if record.deleted else "allocated"
    if record.orphan:
        status += ",orphan"
    if record.reallocated:
        status += ",realloc"
    where = f"@{record.carve_offset}" if record.carve_offset is not None else "-"
    fields = [
        terminal_safe(record.device_id),
        f"p{record.partition_index}@{record.partition_offset}",
        str(record.source),
        status,
        "-" if record.inode is None else str(record.inode),
        str(record.size),
        where,
        record.media_type or "-",
        _iso(record.mtime) or "-",
        _iso(record.atime) or "-",
        _iso(record.ctime) or "-",
        _iso(record.crtime) or "-",
        terminal_safe(record.display_path),
    ]
    return "\t".join(fields)


def _kind(record: FileRecord, kinds: dict[str, str]) -> str:
    """The evidence kind of a record's device (asked once per evidence)."""
    from triage.ingest.kinds import evidence_kind

    if record.evidence not in kinds:
        kinds[record.evidence] = evidence_kind(record.evidence)
    return kinds[record.evidence]


def _evidence(arguments: tuple[str, ...], as_device: bool) -> Iterator[Path | str]:
    """Each argument, folders expanded (unless one device: an iTunes backup,
    or any folder with ``as_device``); a folder without evidence is an error
    message (a ``str``) in the stream."""
    from triage.ingest.evidence import find_evidence, is_device_folder

    for arg in arguments:
        path = Path(arg)
        if path.is_dir() and not (as_device or is_device_folder(path)):
            found = find_evidence(path)
            if not found:
                yield f"{path}: no evidence found in this folder"
            yield from found
        else:
            yield path


def register(main: click.Group) -> None:
    """Add ``triage ls`` to the command group."""

    @main.command("ls")
    @click.argument("evidence", nargs=-1, required=True)
    @click.option("--media-only", is_flag=True, help="Only media (images, video).")
    @click.option("--json", "as_json", is_flag=True, help="One JSON object a line.")
    @click.option("--no-carve", is_flag=True, help="Do not carve unallocated space.")
    @click.option("--no-archives", is_flag=True, help="Do not expand archives.")
    @evidence_options
    @click.pass_context
    def ls(
        ctx: click.Context,
        evidence: tuple[str, ...],
        media_only: bool,
        as_json: bool,
        no_carve: bool,
        no_archives: bool,
        as_device: bool,
        password: str | None,
        recovery_password: str | None,
    ) -> None:
        """List files, deleted files, archive members and carved items.

        EVIDENCE is any number of images (raw, split raw, E01, VMDK, VHD,
        QCOW2, VHDX, or a block device; give the first segment) or folders
        holding them. Paths follow Sleuth Kit's "fls -r -p"; archive members
        follow a "!"; carved items show as "<carved @ OFFSET>".

        Text columns (tab-separated): device, partition@offset, source,
        status, inode, size, carve offset, media type, mtime, atime, ctime,
        crtime (UTC), path. Problems go to stderr, one line each.

        Exit status: 0 all read; 1 some items skipped; 3 a device, partition
        or argument could not be read.
        """
        from triage.ingest import iter_files

        debug = bool((ctx.obj or {}).get("debug")) or "--debug" in sys.argv[1:]
        use_passwords(password, recovery_password)
        failed = partial = False
        kinds: dict[str, str] = {}
        for item in _evidence(evidence, as_device):
            if isinstance(item, str):
                print_error(item)
                failed = True
                continue
            try:
                for entry in iter_files(
                    item,
                    media_only=media_only,
                    archives=not no_archives,
                    carve=not no_carve,
                ):
                    if isinstance(entry, Skipped):
                        failed |= entry.stage is Stage.VOLUME
                        partial = True
                        _print_skipped(entry, as_json)
                    elif as_json:
                        echo_json(
                            {**record_json(entry), "evidence_kind": _kind(entry, kinds)}
                        )
                    else:
                        click.echo(record_line(entry))
            except TriageError as exc:
                if debug:
                    raise
                print_error(_name_device(item, exc))
                failed = True
        if failed:
            ctx.exit(EXIT_DEVICE_FAILED)
        if partial:
            ctx.exit(EXIT_ITEMS_SKIPPED)


def _name_device(path: Path | str, exc: TriageError) -> str:
    """The error line, starting with the device when the message does not."""
    message = str(exc)
    name = Path(path).name
    if message.startswith((str(path), name)):
        return message
    return f"{path}: {message}"


def _print_skipped(skipped: Skipped, as_json: bool) -> None:
    if as_json:
        echo_json(
            {
                "skipped": {
                    "device_id": skipped.device_id,
                    "where": skipped.where,
                    "stage": skipped.stage,
                    "reason": skipped.reason,
                }
            }
        )
    else:
        ERROR_CONSOLE.print(
            terminal_safe(
                f"triage: skipped: {skipped.device_id}: {skipped.where}: "
                f"{skipped.reason}"
            ),
            markup=False,
        )
