"""What a scan is to do, settled before any work starts: its arguments
checked, evidence arguments expanded to devices, each device's id, and the
hash sets (with their digests, so workers load exactly those versions)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

from triage.errors import UsageError
from triage.hashmatch.hashset import HashSet
from triage.ingest.evidence import find_evidence, is_device_folder
from triage.ingest.expanders import inner_sources as inner_source_names
from triage.scan.tasks import HashSetRef, ScanParams
from triage.scan.walk import CHUNK_FILE_BYTES, Planned
from triage.store import Store

#: Devices walked at a time, their chunks in turn, in triage mode
#: (``--stop-after``): the first look at each of a batch comes early, and a
#: device with known images is not kept waiting behind large devices without
#: any. Each costs a thread, an open evidence file and up to ``WALK_AHEAD``
#: walked items in the driver.
TRIAGE_DEVICES_AT_ONCE = 4


def check_arguments(
    chunk_files: int,
    carve_bytes: int,
    stop_after: int | None,
    workers: int | None,
    devices_at_once: int | None,
    scheduler: str | None,
) -> int:
    """Refuse bad arguments before any work; the devices walked at once.

    Raises:
        UsageError: naming the bad argument.
    """
    if chunk_files < 1:
        raise UsageError("chunk_files must be at least 1")
    if carve_bytes < 1 << 16:
        raise UsageError("carve_bytes must be at least 64 KiB")
    if stop_after is not None and stop_after < 1:
        raise UsageError("--stop-after must be at least 1")
    if workers is not None and workers < 1:
        raise UsageError("--workers must be at least 1")
    if devices_at_once is not None and devices_at_once < 1:
        raise UsageError("--devices-at-once must be at least 1")
    if scheduler not in (None, "sync") and not str(scheduler).startswith(
        ("tcp://", "tls://", "inproc://")
    ):
        raise UsageError(
            f"unknown scheduler {scheduler!r}: use 'sync' or a tcp://HOST:PORT address"
        )
    if devices_at_once is None:
        return TRIAGE_DEVICES_AT_ONCE if stop_after is not None else 1
    return devices_at_once


def load_hashsets(paths: Sequence[str | Path]) -> tuple[HashSetRef, ...]:
    """Check every hash set loads, and note its digest (before any work)."""
    refs = []
    for path in paths:
        loaded = HashSet.load(path)
        refs.append(
            HashSetRef(
                str(Path(path).resolve()), loaded.name, loaded.digest, loaded.kind
            )
        )
    return tuple(refs)


def sets_key(hashsets: Sequence[HashSetRef]) -> str:
    """A short id of a collection of hash sets (order does not matter)."""
    joined = "\n".join(sorted(h.digest for h in hashsets))
    return hashlib.sha1(joined.encode()).hexdigest()[:16]


#: How a chunk's stored ``sets_key`` ends when its videos were hashed from
#: their key frames only (the ``--stop-after`` pass): a full scan reads and
#: decodes such a chunk again rather than resume or re-match it.
KEYFRAMES_MARK = "+keyframes"


def stored_key(key: str, keyframes: bool) -> str:
    """The ``sets_key`` a chunk is stored with: ``key``, marked when its
    videos were hashed from key frames only."""
    return key + KEYFRAMES_MARK if keyframes else key


def split_stored_key(stored: str) -> tuple[str, bool]:
    """(sets key, videos hashed from key frames only) of a stored key."""
    if stored.endswith(KEYFRAMES_MARK):
        return stored[: -len(KEYFRAMES_MARK)], True
    return stored, False


def default_params(db: str | Path) -> ScanParams:
    """What chunks produce unless told otherwise: the perceptual index's
    tables kept beside the database (``case.db.index``)."""
    return ScanParams(index_cache=str(Path(db).with_name(Path(db).name + ".index")))


def scan_params(
    params: ScanParams | None, db: str | Path, stop_after: int | None
) -> ScanParams:
    """What chunks produce: ``params`` (default: ``default_params``), with
    videos hashed from their key frames only when the scan stops after a
    number of hits (the fast triage pass)."""
    chosen = params if params is not None else default_params(db)
    if stop_after is not None and not chosen.keyframes:
        chosen = replace(chosen, keyframes=True)
    return chosen


def evidence_to_scan(
    paths: Sequence[str | Path], device_id: str | None, as_device: bool = False
) -> list[Path]:
    """The evidence files the arguments name (``expand_evidence``).

    Raises:
        UsageError: none, or several for one ``device_id``.
    """
    evidence = expand_evidence(paths, as_device)
    if not evidence:
        raise UsageError("no evidence to scan")
    if device_id is not None and len(evidence) != 1:
        raise UsageError("--device-id names one device: give exactly one evidence")
    return evidence


def expand_evidence(paths: Sequence[str | Path], as_device: bool = False) -> list[Path]:
    """Evidence arguments to first segments: a folder means every evidence
    file in it, unless it is one device by its structure (an iTunes backup)
    or ``as_device`` says every folder given is one device (``folder``).
    The same file given twice is scanned once."""
    out: list[Path] = []
    seen: set[Path] = set()
    for p in paths:
        path = Path(p)
        whole = not path.is_dir() or as_device or is_device_folder(path)
        for found in [path] if whole else find_evidence(path):
            key = found.resolve()
            if key not in seen:
                seen.add(key)
                out.append(found)
    return out


def plan_devices(
    store: Store, evidence: Sequence[Path], device_id: str | None
) -> list[Planned]:
    """The device id of each evidence file: given, already in the database,
    or a new one (its file name, made unique)."""
    plan: list[Planned] = []
    taken: list[str] = []
    for path in evidence:
        where = str(path.resolve()) if path.exists() else str(path)
        wanted = (
            device_id
            or store.device_for_evidence(where)
            or _free_device_id(store, taken, path)
        )
        taken.append(wanted)
        plan.append(Planned(path, where, wanted))
    return plan


def _free_device_id(store: Store, taken: Iterable[str], path: Path) -> str:
    """A device id for new evidence: its file name, or, when another device
    already has that name (``disk.E01`` in two case folders), the parent
    folder too, then a counter."""
    used = set(taken)
    candidates = [path.name, f"{path.parent.name}/{path.name}"]
    candidates += [f"{path.parent.name}/{path.name}#{n}" for n in range(2, 1000)]
    for name in candidates:
        if name not in used and store.device(name) is None:
            return name
    raise UsageError(f"{path}: no free device id; give one with --device-id")


def run_parameters(params: ScanParams, **knobs: object) -> dict[str, object]:
    """What a run row stores of the scan's knobs and ``params``."""
    return {
        "chunk_files": knobs["chunk_files"],
        "chunk_file_bytes": CHUNK_FILE_BYTES,
        "carve_bytes": knobs["carve_bytes"],
        "carving": knobs["carving"],
        "stop_after": knobs["stop_after"],
        "devices_at_once": knobs["devices_at_once"],
        "max_decode_bytes": params.max_decode_bytes,
        "decode": params.decode,
        "expanders_off": sorted(params.expanders_off),
        "video_keyframes": params.keyframes,
        "scheduler": knobs["scheduler"],
        "workers": knobs["workers"],
    }


def inner_params(
    db: str | Path, params: ScanParams | None, inner_sources: bool
) -> ScanParams:
    """``params`` (the defaults for ``db`` when None), without the inner
    sources (thumbnail caches, pictures inside other files, the in-file
    signature scan) unless ``inner_sources``; ``params.expanders_off``
    leaves out expanders by name."""
    if params is None:
        params = default_params(db)
    if not inner_sources:
        off = params.expanders_off | inner_source_names()
        params = dataclasses.replace(params, expanders_off=off)
    return params
