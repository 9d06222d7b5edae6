"""``triage demo``: the whole chain on a generated sample, start to finish.

It builds demo evidence (``triage.sample.demo``), then runs the same commands
a user would, printing each one first, so the output doubles as a walkthrough.
"""

from __future__ import annotations

import shlex
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from triage.cli.common import processes_option
from triage.errors import TriageError

if TYPE_CHECKING:
    from triage.sample.demo import DemoCorpus


def _run(
    main: click.Group, args: list[str], *, allowed: tuple[int, ...] = (0,)
) -> None:
    click.secho(f"\n$ triage {shlex.join(args)}", bold=True)
    code = main.main(args, prog_name="triage", standalone_mode=False)
    code = 0 if code is None else int(code)
    if code not in allowed:
        raise TriageError(f"demo step failed (exit {code}): triage {shlex.join(args)}")


def _make_sets(main: click.Group, corpus: DemoCorpus, sets: Path) -> tuple[Path, Path]:
    """Build the demo's known-bad set and import its known-good list."""
    sets.mkdir(exist_ok=True)
    known, good = sets / "demo-known.ths", sets / "known-good.ths"
    _run(main, ["hashset", "build", str(corpus.reference_dir), "-o", str(known),
                "--name", "demo-known"])  # fmt: skip
    _run(main, ["hashset", "import", str(corpus.known_good_list), "-o", str(good),
                "--format", "md5sum", "--kind", "known-good",
                "--name", "demo-known-good"])  # fmt: skip
    return known, good


def _scan_cases(
    main: click.Group,
    corpus: DemoCorpus,
    sets: tuple[Path, Path],
    db: Path,
    workers: int,
) -> None:
    """One ``triage scan`` per case, its devices together."""
    known, good = sets
    by_case: dict[str, list[str]] = {}
    for dev in (*corpus.devices, *corpus.broken):
        by_case.setdefault(dev.case_id, []).append(str(dev.evidence))
    for case_id, evidence in by_case.items():
        # A scan exits 3 when a device could not be read (the broken card):
        # that is the point of OP-YEW, so the demo goes on.
        _run(main, ["scan", *evidence, "--hashset", str(known),
                    "--hashset", str(good), "--db", str(db),
                    "--case", case_id, "--workers", str(workers)],
             allowed=(0, 3))  # fmt: skip


@click.command("demo")
@click.argument(
    "out", type=click.Path(file_okay=False, path_type=Path), default="demo-out"
)
@processes_option("--workers", 2, "Dask worker processes for the scans.")
@click.pass_context
def demo(ctx: click.Context, out: Path, workers: int) -> None:
    """Generate demo devices and a demo hash set, scan them into a case
    database, print the queue and write the report, all under OUT.

    Every picture is generated; the "known" set is a stand-in made from
    generated pictures, so the demo holds nothing but benign content.
    """
    main = ctx.find_root().command  # the group demo is registered on
    if not isinstance(main, click.Group):
        raise TriageError("'demo' runs only as a command of the triage group")
    started = time.monotonic()
    # The generators (Pillow drawing, PyAV encoding) load with the command only.
    from triage.sample.demo import build_demo, prepare_output  # noqa: PLC0415

    prepare_output(out)
    click.secho(f"building demo evidence in {out}/evidence ...", bold=True)
    corpus = build_demo(out)
    for dev in (*corpus.devices, *corpus.broken):
        click.echo(f"  {dev.device_id:<12} case {dev.case_id:<7} {dev.evidence}")

    sets = _make_sets(main, corpus, out / "hashsets")
    db = out / "case.db"
    _run(main, ["case", "import", str(corpus.cases_csv), "--db", str(db)])
    _scan_cases(main, corpus, sets, db, workers)
    _run(main, ["queue", "--db", str(db)])
    _run(main, ["report", "--db", str(db), "-o", str(out / "report.html")])
    click.secho(
        f"\ndemo finished in {time.monotonic() - started:.0f} s: "
        f"open {out / 'report.html'} in a browser; "
        f"'triage queue --db {db} --explain DEVICE' explains a rank.",
        bold=True,
    )


def register(main: click.Group) -> None:
    """Add ``triage demo`` to ``main``."""
    main.add_command(demo)
