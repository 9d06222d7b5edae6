"""The ``triage`` command line.

Each stage's commands live in their own module and register on ``main``.
Errors derived from ``TriageError`` print one clear line and map to an exit
code; a traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import importlib

import click

from triage import __version__
from triage.cli.common import ERROR_CONSOLE, DebugGroup

# The modules that add commands to ``main``, in help order.
COMMAND_MODULES: tuple[str, ...] = (
    "triage.cli.ls",
    "triage.cli.hashset",
    "triage.cli.scan",
    "triage.cli.casework",
    "triage.cli.demo",
)


@click.group(cls=DebugGroup)
@click.version_option(__version__, prog_name="triage")
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """Digital triage of seized devices for known images."""
    from triage.hashmatch.kernels import one_blas_thread
    from triage.ingest import keep_local_zone_steady

    one_blas_thread()  # hashing's small products: a 2nd BLAS thread only spins
    keep_local_zone_steady()  # same zone; Sleuth Kit's FAT times stat it less
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug


def _register() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a real missing dependency, not a missing module
                raise
            continue
        module.register(main)


_register()

__all__ = ["main", "ERROR_CONSOLE"]
