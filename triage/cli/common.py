"""Shared CLI plumbing: error reporting, JSON output, common options."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from triage.errors import TriageError

ERROR_CONSOLE = Console(stderr=True, highlight=False, soft_wrap=True)


class DebugGroup(click.Group):
    """A click group that turns ``TriageError`` into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TriageError as exc:
            if "--debug" in sys.argv[1:]:
                raise
            ERROR_CONSOLE.print(f"triage: error: {exc}", markup=False)
            ctx.exit(exc.exit_code)


def print_error(message: str) -> None:
    """One clear line on stderr, never a traceback."""
    ERROR_CONSOLE.print(f"triage: error: {message}", markup=False)


def echo_json(obj: Any) -> None:
    """One JSON object per line (JSON Lines), keys sorted for stable output."""
    click.echo(json.dumps(obj, sort_keys=True, default=str))


def output_option(help: str, *, dir_okay: bool = True) -> Callable[[Any], Any]:
    """The required ``-o/--output PATH`` every writing command takes."""
    return click.option(
        "-o",
        "--output",
        required=True,
        type=click.Path(dir_okay=dir_okay, path_type=Path),
        help=help,
    )


def evidence_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every command that opens evidence takes: ``--as-device``,
    ``--password`` and ``--recovery-password``."""
    for option in reversed(
        (
            click.option(
                "--as-device",
                is_flag=True,
                help="Each folder given is one device (a phone's files copied "
                "off), read-only, not a folder of images.",
            ),
            click.option(
                "--password",
                help="Password for encrypted APFS volumes (or set TRIAGE_PASSWORD).",
            ),
            click.option(
                "--recovery-password",
                help="Recovery key for encrypted APFS volumes (or set "
                "TRIAGE_RECOVERY_PASSWORD).",
            ),
        )
    ):
        command = option(command)
    return command


def use_passwords(password: str | None, recovery: str | None) -> None:
    """Hand the passwords to the ingest layer (and the worker processes)."""
    from triage.ingest.filesystems.apfs import set_passwords

    set_passwords(password, recovery)
