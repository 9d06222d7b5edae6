"""``triage hashset``: build, import and inspect hash set files.

``build`` hashes a folder of reference pictures; ``import`` reads published
formats (CSV, Project VIC VICS JSON, md5sum/sha1sum, HashKeeper, NSRL);
``info`` shows what a set holds and the content digest scans record.

Problems with single items (an unreadable reference picture, a malformed line
skipped with ``--skip-bad-lines``) are printed on stderr, one line each naming
the file (and line), and the set is still written; the exit status is then 1.
A set that would be empty, or a file that cannot be read at all, is an error.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import click

from triage.cli.common import (
    ERROR_CONSOLE,
    echo_json,
    output_option,
    processes_option,
    terminal_safe,
)
from triage.errors import HashSetError, MediaError, UsageError
from triage.hashmatch.formats import HASHSET_FORMATS, import_files, infer_scheme
from triage.hashmatch.formats import normalise_category as _normalise
from triage.hashmatch.hashset import COLUMNS, KINDS, SCHEMES, HashEntry, HashSet
from triage.hashmatch.policy import HashPolicy, Unhashed, is_video
from triage.hashmatch.signals.vpdq import VPDQ
from triage.ingest.media import SNIFF_BYTES, sniff

#: Exit status when the set was written but some items were skipped.
EXIT_ITEMS_SKIPPED = 1

#: The keys of ``triage hashset info --json``, in the README's order.
INFO_JSON_FIELDS: tuple[str, ...] = (
    "path",
    "format",
    "version",
    "name",
    "kind",
    "scheme",
    "created",
    "digest",
    "counts",
    "categories",
    "sources",
)

#: Largest reference picture read into memory by ``build`` (a video is
#: streamed from its file, whatever its size).
MAX_REFERENCE_BYTES = 512 << 20
#: How ``build`` hashes a reference picture: the scan's signals, without the
#: dihedral variants (the scan computes those of the seized copy instead).
REFERENCE_POLICY = HashPolicy(dihedral=False)
FORCE_OPTION = click.option(
    "--force", is_flag=True, help="Replace an existing output file."
)


def warn(message: str) -> None:
    ERROR_CONSOLE.print(f"triage: warning: {terminal_safe(message)}", markup=False)


def info_json(hs: HashSet) -> dict[str, Any]:
    """What ``triage hashset info --json`` prints for a set."""
    header = hs.header()
    return {
        "path": hs.path,
        "format": header["format"],
        "version": hs.version,
        "name": hs.name,
        "kind": hs.kind,
        "scheme": hs.scheme,
        "created": hs.created,
        "digest": hs.digest,
        "counts": hs.counts(),
        "categories": hs.category_counts(),
        "sources": list(hs.sources),
    }


def _check_output(output: Path, force: bool) -> None:
    if output.exists() and not force:
        raise UsageError(f"{output} exists; use --force to replace it")


def _reference_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            warn(f"{path}: symbolic link not followed")
        elif path.is_file():
            yield path


def _categories_csv(path: Path) -> dict[str, str]:
    """``path,category`` rows (header required) keyed by relative POSIX path."""
    out: dict[str, str] = {}
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = [h.strip().lower() for h in next(reader, [])]
            if header[:2] != ["path", "category"]:
                raise HashSetError(f"{path}:1: header must be path,category")
            for row in reader:
                if not any(c.strip() for c in row):
                    continue
                if len(row) < 2:
                    raise HashSetError(f"{path}:{reader.line_num}: need path,category")
                out[Path(row[0].strip()).as_posix()] = row[1].strip()
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise HashSetError(f"{path}: cannot read categories: {exc}") from exc
    return out


def _hash_reference(path: Path, entry_id: str) -> tuple[list[tuple[str, str]], str]:
    """(column, hex) pairs of one reference picture or video, and a note ('' if
    none). A picture is read whole (up to ``MAX_REFERENCE_BYTES``), a video
    streamed from its file (any size).

    Raises:
        MediaError: not a readable picture or video at all.
    """
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as exc:
        raise MediaError(f"cannot read: {exc.strerror or exc}") from exc
    media_type = sniff(head)
    if is_video(media_type):
        return _hash_reference_video(path, entry_id)
    if media_type is None or not media_type.startswith("image/"):
        raise MediaError(f"not a picture (content: {media_type or 'unknown'})")
    if size > MAX_REFERENCE_BYTES:
        raise MediaError(f"picture larger than {MAX_REFERENCE_BYTES >> 20} MiB")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MediaError(f"cannot read: {exc.strerror or exc}") from exc
    media, unhashed = REFERENCE_POLICY.hash_item(
        entry_id, data, media_type, where=str(path)
    )
    if unhashed is not None and not unhashed.decoded:
        raise MediaError(f"cannot decode {media_type}: {unhashed.reason}")
    pairs, notes = REFERENCE_POLICY.reference_values(media)
    return [(c, v) for c, v in pairs if c in COLUMNS], "; ".join(notes)


def _hash_reference_video(
    path: Path, entry_id: str
) -> tuple[list[tuple[str, str]], str]:
    """(column, hex) pairs of one reference video: its digests and the vPDQ
    frames of quality >= 50, both streamed from its file.

    Raises:
        MediaError: no frame could be decoded, or the file cannot be read.
    """
    try:
        with open(path, "rb") as fh:
            outcome = REFERENCE_POLICY.video(fh, where=str(path))
            fh.seek(0)
            pairs = list(REFERENCE_POLICY.digests(iter(lambda: fh.read(1 << 20), b"")))
    except OSError as exc:
        raise MediaError(f"cannot read: {exc.strerror or exc}") from exc
    if isinstance(outcome, Unhashed):
        raise MediaError(f"cannot decode video: {outcome.reason}")
    low = 0
    for frame in outcome.frames:
        h = frame.pdq
        if h is None or not VPDQ.usable(h.quality):
            low += 1
            continue
        pairs.append((VPDQ.name, h.value))
    notes = list(outcome.notes)
    if low:
        notes.append(
            f"{low} of {len(outcome.frames)} frames of quality < 50 not stored"
        )
    if low == len(outcome.frames):
        notes.append("no usable frame: matched by its digests only")
    return [(c, v) for c, v in pairs if c in COLUMNS], "; ".join(notes)


def _hash_reference_job(
    job: tuple[Path, str],
) -> tuple[list[tuple[str, str]], str, str | None]:
    """:func:`_hash_reference` for a worker process: errors come back as text."""
    try:
        pairs, note = _hash_reference(*job)
    except MediaError as exc:
        return [], "", str(exc)
    return pairs, note, None


@click.group("hashset")
def hashset() -> None:
    """Build, import and inspect known-image hash sets."""


@hashset.command("build")
@click.argument(
    "ref_dir", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@output_option("The hash set file to write.")
@click.option("--name", help="Set name (default: the folder name).")
@click.option(
    "--categories",
    "categories_csv",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV with path,category (paths relative to REF_DIR). "
    "Default: the first sub-folder name, e.g. REF_DIR/A/x.jpg is A.",
)
@click.option(
    "--kind", type=click.Choice(KINDS), default="known-bad", show_default=True
)
@click.option(
    "--scheme",
    type=click.Choice(SCHEMES),
    help="Category scheme (default: caid if every category is A/B/C, else local).",
)
@FORCE_OPTION
@processes_option("--jobs", 1, "Worker processes hashing pictures.")
@click.pass_context
def build(
    ctx: click.Context,
    ref_dir: Path,
    output: Path,
    name: str | None,
    categories_csv: Path | None,
    kind: str,
    scheme: str | None,
    force: bool,
    jobs: int,
) -> None:
    """Hash the reference pictures under REF_DIR into a set file."""
    # Reference videos are hashed too (vPDQ frames); the help text is kept.
    _check_output(output, force)
    given = _categories_csv(categories_csv) if categories_csv else None
    raw: list[HashEntry] = []
    failed = 0
    paths = list(_reference_files(ref_dir))
    todo = [(p, p.relative_to(ref_dir).as_posix()) for p in paths]
    if jobs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(min(jobs, len(todo))) as pool:
            results = list(pool.map(_hash_reference_job, todo, chunksize=4))
    else:
        results = [_hash_reference_job(job) for job in todo]
    for path, (pairs, note, error) in zip(paths, results, strict=True):
        rel = path.relative_to(ref_dir).as_posix()
        if error is not None:
            warn(f"{path}: {error}")
            failed += 1
            continue
        if note:
            warn(f"{path}: {note}")
        if given is not None:
            category = given.get(rel)
        else:
            parts = Path(rel).parts
            category = parts[0] if len(parts) > 1 else None
        raw.append(HashEntry(rel, category, path.name, tuple(pairs)))
    if not raw:
        raise HashSetError(
            f"{ref_dir}: no reference picture could be hashed"
            + (f" ({failed} failed)" if failed else " (the folder is empty)")
        )
    if given is not None:
        missing = sorted(set(given) - {e.entry_id for e in raw})
        for rel in missing:
            warn(f"{categories_csv}: {rel} is not a hashed picture in {ref_dir}")
    chosen = scheme or infer_scheme(e.category for e in raw)
    entries = []
    for entry in raw:
        try:
            category = _normalise(chosen, entry.category)
        except ValueError as exc:
            raise HashSetError(f"{ref_dir / entry.entry_id}: {exc}") from exc
        entries.append(HashEntry(entry.entry_id, category, entry.name, entry.hashes))
    built = HashSet.from_entries(
        entries,
        name=name or ref_dir.resolve().name,
        kind=kind,
        scheme=chosen,
        sources=[
            {
                "folder": ref_dir.resolve().name,
                "format": "pictures",
                "entries": len(entries),
                "failed": failed,
            }
        ],
    )
    built.write(output)
    videos = built.counts().get("videos", 0)
    shown = f"{len(built) - videos} pictures"
    if videos:
        shown += f", {videos} video{'s' if videos > 1 else ''}"
    click.echo(
        f"{output}: {shown} ({failed} skipped), {built.kind}, "
        f"scheme {built.scheme}, {built.digest}"
    )
    if failed:
        ctx.exit(EXIT_ITEMS_SKIPPED)


@hashset.command("import")
@click.argument(
    "files",
    nargs=-1,
    required=True,
    type=click.Path(exists=True, path_type=Path),
)
@output_option("The hash set file to write.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["auto", *HASHSET_FORMATS]),
    default="auto",
    show_default=True,
)
@click.option("--name", help="Set name (default: the first file's name).")
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    help="Default: known-good for NSRL, else known-bad.",
)
@click.option(
    "--scheme",
    type=click.Choice(SCHEMES),
    help="Category scheme (default from the format or categories).",
)
@click.option(
    "--skip-bad-lines",
    is_flag=True,
    help="Report malformed lines and import the rest.",
)
@FORCE_OPTION
@click.pass_context
def import_(
    ctx: click.Context,
    files: tuple[Path, ...],
    output: Path,
    fmt: str,
    name: str | None,
    kind: str | None,
    scheme: str | None,
    skip_bad_lines: bool,
    force: bool,
) -> None:
    """Import published hash set FILES into one set file."""
    _check_output(output, force)
    built, report = import_files(
        files,
        fmt,
        name=name or files[0].stem,
        kind=kind,
        scheme=scheme,
        skip_bad_lines=skip_bad_lines,
    )
    for bad in report.bad_lines:
        warn(f"skipped {bad}")
    for hash_name, count in sorted(report.ignored.items()):
        warn(f"ignored {count} {hash_name} hashes (not matched by triage)")
    if not len(built):
        raise HashSetError("no entries were imported; the set was not written")
    built.write(output)
    counts = built.counts()
    held = ", ".join(f"{counts[c]} {c}" for c in COLUMNS if counts.get(c))
    click.echo(
        f"{output}: {len(built)} entries ({held}), {len(report.bad_lines)} bad "
        f"lines skipped, {built.kind}, scheme {built.scheme}, {built.digest}"
    )
    if report.bad_lines:
        ctx.exit(EXIT_ITEMS_SKIPPED)


@hashset.command("info")
@click.argument(
    "set_file", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def info(set_file: Path, as_json: bool) -> None:
    """Show what SET_FILE holds, and verify its digest."""
    hs = HashSet.load(set_file)
    data = info_json(hs)
    if as_json:
        echo_json(data)
        return
    click.echo(f"{hs.path}")
    for key in ("name", "kind", "scheme", "version", "created", "digest"):
        click.echo(f"  {key + ':':9} {terminal_safe(str(data[key]))}")
    counts = data["counts"]
    click.echo(f"  entries:  {counts['entries']}")
    if counts.get("videos"):
        click.echo(f"  videos:   {counts['videos']} ({counts['vpdq']} frames)")
    for column in COLUMNS:
        if counts.get(column):
            click.echo(f"  {column + ':':9} {counts[column]}")
    if data["categories"]:
        cats = ", ".join(f"{c}: {n}" for c, n in data["categories"].items())
        click.echo(f"  categories: {terminal_safe(cats)}")
    for source in data["sources"]:
        line = ", ".join(f"{k}={v}" for k, v in source.items())
        click.echo("  source:   " + terminal_safe(line))


def register(main: click.Group) -> None:
    """Add ``triage hashset`` to ``main``."""
    main.add_command(hashset)
