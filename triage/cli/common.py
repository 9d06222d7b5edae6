"""Shared CLI plumbing: error reporting, JSON output, common options."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from triage.errors import TriageError

ERROR_CONSOLE = Console(stderr=True, highlight=False, soft_wrap=True)

#: What a terminal must never be sent from evidence text (file names, hash-set
#: names, case notes, reasons naming them): C0 and C1 control characters (a
#: name with ESC could recolour or retitle the terminal, one with a newline
#: could fake a line), DEL, the bidirectional overrides and isolates that
#: reorder what is shown ("Trojan Source"), and lone surrogates (undecodable
#: UTF-16, which would also stop the output with an encoding error).
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def terminal_safe(text: str) -> str:
    """``text`` with every character unsafe on a terminal shown as an escape
    (``\\n``, ``\\t``, ``\\x1b``, ``\\u202e``); the rest as it is. For
    people to read: ``--json`` keeps the exact text."""
    return _UNSAFE.sub(_escaped, text)


class DebugGroup(click.Group):
    """A click group that turns ``TriageError`` into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TriageError as exc:
            if "--debug" in sys.argv[1:]:
                raise
            print_error(str(exc))
            ctx.exit(exc.exit_code)


def print_error(message: str) -> None:
    """One clear line on stderr, never a traceback (control characters from
    evidence names escaped, so it stays one line)."""
    ERROR_CONSOLE.print(f"triage: error: {terminal_safe(message)}", markup=False)


def echo_json(obj: Any) -> None:
    """One JSON object per line (JSON Lines), keys sorted for stable output."""
    click.echo(json.dumps(obj, sort_keys=True, default=str))


def processes_option(name: str, default: int, help: str) -> Callable[[Any], Any]:
    """A count of worker processes (at least 1), its default shown."""
    return click.option(
        name, type=click.IntRange(min=1), default=default, show_default=True, help=help
    )


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
                help="Password for encrypted APFS volumes, iTunes/Finder backups "
                "and Android .ab backups (or set TRIAGE_PASSWORD).",
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
    from triage.ingest.filesystems.passwords import set_passwords

    set_passwords(password, recovery)
