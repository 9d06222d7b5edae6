"""The batch scan: many devices, in parallel with Dask, resumable, into a case DB.

This is the only module that imports Dask. The work itself is plain functions
(``process_chunk``, ``rematch_chunk``) over picklable addresses, testable
without a cluster; Dask only runs them:

* the **driver** (this process) opens each device, walks its partitions and
  file entries (metadata only) and cuts them into bounded chunks of
  ``chunk_files`` entries, plus carve chunks over unallocated space. Chunk keys
  are deterministic, so a resumed scan skips chunks already in the database.
  The walk runs in a thread per device, a bounded queue ahead of the loop
  that submits chunks (never a whole device's file list in memory), so a long
  Sleuth Kit call (FAT's orphan search, a big $MFT) does not hold up
  submitting and storing; that loop, in the main thread, writes each finished
  chunk to the ``Store`` in one transaction, in the driver only;
* a **worker** opens the evidence itself (a small per-process cache of open
  handles), classifies by content (archives expanded), reads each media item
  once, computes MD5/SHA-1 and checks exact and known-good matches *before*
  any decoding, then decodes once per distinct content (PDQ, pHash) and
  matches perceptually. The hash-set index is loaded once per worker process
  (cache keyed by path and digest), never pickled with the tasks.

Schedulers: ``"sync"`` runs the same functions in a plain in-process loop (no
cluster; for debugging and tests); ``None`` starts a ``LocalCluster`` with one
single-threaded process per core; ``"tcp://host:port"`` uses an existing
``dask scheduler``. Workers must see the evidence and hash-set files at the
same paths as the driver.
"""

from __future__ import annotations

import concurrent.futures
import getpass
import hashlib
import logging
import os
import socket
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from triage.errors import (
    DeviceBusy,
    EvidenceError,
    HashSetError,
    MediaError,
    TriageError,
    UsageError,
)
from triage.hashmatch.hashset import HashSet
from triage.hashmatch.kernels import one_blas_thread
from triage.hashmatch.matcher import Matcher
from triage.hashmatch.policy import HashPolicy, PictureOutcome, Unhashed, with_picture
from triage.ingest.carve import carve
from triage.ingest.classify import classify
from triage.ingest.content import iter_chunks, read_record, record_unreadable
from triage.ingest.evidence import (
    DAMAGED,
    Unreadable,
    damage_records,
    find_evidence,
    open_device,
    unreadable_records,
)
from triage.ingest.media import is_media
from triage.records import (
    FileRecord,
    Match,
    MediaHash,
    Skipped,
    Stage,
)
from triage.store import ChunkWrite, Store
from triage.walking import (
    CHUNK_FILE_BYTES,
    NOTHING_YET,
    WALK_DONE,
    Chunk,
    Opened,
    OpenFailed,
    Planned,
    ScanEvent,
    Skips,
    WalkEnd,
    Walks,
)

log = logging.getLogger(__name__)

#: A files chunk closes at this many entries or this many bytes of files,
#: whichever comes first: small enough to balance two workers on one device
#: and to reach a first hit early, large enough that Dask's per-task overhead
#: (~1 ms) is noise next to decoding.
DEFAULT_CHUNK_FILES = 64
DEFAULT_CARVE_BYTES = 128 << 20
#: Images up to this size are read whole and decoded; larger media (and all
#: video) are hashed as a stream (MD5/SHA-1 only) so memory stays bounded.
DEFAULT_MAX_DECODE_BYTES = 64 << 20
#: Devices walked at a time, their chunks in turn, in triage mode
#: (``--stop-after``): the first look at each of a batch comes early, and a
#: device with known images is not kept waiting behind large devices without
#: any. Each costs a thread, an open evidence file and up to ``WALK_AHEAD``
#: walked items in the driver.
TRIAGE_DEVICES_AT_ONCE = 4
#: While there is room for more tasks, how often (seconds) the driver looks
#: at the walk again when no task has finished.
WALK_POLL = 0.05
#: Dask settings for the workers of a LocalCluster this module starts.
#: The nanny's default MALLOC_TRIM_THRESHOLD_=65536 makes glibc hand memory
#: back after every large free: the decode/PDQ loop then spends 2.6x the CPU
#: (measured, see benchmarks/README.md). The statistical profiler samples
#: every worker thread each 10 ms, only for the dashboard. Both are off; the
#: thread limits (one BLAS/OpenMP thread per single-threaded worker) stay.
#: Workers are forked from a forkserver (a fresh, single-threaded process that
#: has imported Dask and numpy once), not spawned each from scratch: less
#: start-up CPU per worker (0.3 against 0.7 s here) and a quicker close. The
#: forkserver starts with the environment above, so workers keep it (checked:
#: one OpenBLAS thread, no MALLOC_TRIM_THRESHOLD_).
WORKER_CONFIG: dict[str, Any] = {
    "distributed.worker.multiprocessing-method": "forkserver",
    "distributed.nanny.pre-spawn-environ": {
        "OMP_NUM_THREADS": 1,
        "MKL_NUM_THREADS": 1,
        "OPENBLAS_NUM_THREADS": 1,
    },
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.gil.enabled": False,
}
#: What the forkserver imports before it forks any worker: Dask, and the task
#: code with all it needs (numpy, scipy, Pillow, pytsk3...), which each worker
#: otherwise imports when its first task arrives (0.28 s here).
WORKER_PRELOAD = ("distributed", "triage.pipeline")


# -- records passed to workers ------------------------------------------------


@dataclass(frozen=True, slots=True)
class HashSetRef:
    """Where a hash set is and which version was meant: workers load it once."""

    path: str
    name: str
    digest: str
    kind: str

    def as_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "digest": self.digest,
            "path": self.path,
            "kind": self.kind,
        }


@dataclass(frozen=True, slots=True)
class ScanParams:
    """Knobs that change what a chunk produces (stored in the run row)."""

    max_decode_bytes: int = DEFAULT_MAX_DECODE_BYTES
    # Folder of memory-mapped perceptual index tables, keyed by set digests:
    # built once, then shared read-only by every worker process.
    index_cache: str | None = None
    decode: bool = True  # False: cryptographic hashes and exact matches only


@dataclass(frozen=True, slots=True)
class MediaItem:
    """A media item found in a chunk, with its hashes."""

    record: FileRecord
    hashes: MediaHash
    known_good: bool = False


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """What ``process_chunk`` found: media and their hashes, matches, skips."""

    device_id: str
    chunk_key: str
    media: tuple[MediaItem, ...]
    matches: tuple[Match, ...]
    skipped: tuple[Skipped, ...]
    files: int = 0  # entries classified (archive members included)
    bytes_read: int = 0  # bytes of media content read
    decoded: int = 0  # items decoded (not served from the digest cache)
    seconds: float = 0.0
    # Given up part-way because the driver stopped the device (--stop-after):
    # the rest is empty and the chunk is not done.
    abandoned: bool = False


@dataclass(frozen=True, slots=True)
class RematchResult:
    """Matches of a stored chunk against other hash sets, from stored hashes."""

    device_id: str
    chunk_key: str
    matches: tuple[Match, ...]
    needs_reading: bool  # an item once excluded as known-good must now be decoded


# -- worker side: plain functions and per-process caches ----------------------

_HANDLE_CACHE_SIZE = 4
_HANDLES: OrderedDict[tuple[str, str], tuple[ExitStack, Any]] = OrderedDict()
_MATCHERS: dict[tuple[tuple[str, str], ...], Matcher] = {}
_DIGEST_CACHE_SIZE = 4096
# md5 -> what decoding gave (the hashes, or why there are none): identical
# content is decoded once per worker process, across chunks and devices.
_PERCEPTUAL: OrderedDict[str, PictureOutcome] = OrderedDict()


def _handle(evidence: str, device_id: str) -> Any:
    """An open device handle from the per-process cache (LRU, a few entries)."""
    key = (evidence, device_id)
    hit = _HANDLES.get(key)
    if hit is not None:
        _HANDLES.move_to_end(key)
        return hit[1]
    stack = ExitStack()
    try:
        handle = stack.enter_context(open_device(evidence, device_id))
    except BaseException:
        stack.close()
        raise
    _HANDLES[key] = (stack, handle)
    while len(_HANDLES) > _HANDLE_CACHE_SIZE:
        _, (old, _) = _HANDLES.popitem(last=False)
        old.close()
    return handle


def close_worker_caches() -> None:
    """Close every cached evidence handle and forget loaded hash sets."""
    while _HANDLES:
        _, (stack, _) = _HANDLES.popitem()
        stack.close()
    _MATCHERS.clear()
    _PERCEPTUAL.clear()


def _matcher(hashsets: Sequence[HashSetRef], index_cache: str | None = None) -> Matcher:
    """The matcher for these hash sets, loaded once per worker process.

    Raises:
        HashSetError: a set file changed since the scan started.
    """
    key = (*((h.path, h.digest) for h in hashsets), ("index_cache", str(index_cache)))
    matcher = _MATCHERS.get(key)
    if matcher is None:
        sets = []
        for ref in hashsets:
            loaded = HashSet.load(ref.path)
            if loaded.digest != ref.digest:
                raise HashSetError(
                    f"{ref.path}: hash set changed while the scan ran (digest "
                    f"{loaded.digest}, expected {ref.digest})"
                )
            sets.append(loaded)
        # One thread: a worker process is one core's worth of work.
        matcher = Matcher(sets, threads=1, index_cache=index_cache)
        _MATCHERS.clear()  # one generation of sets per worker is enough
        _MATCHERS[key] = matcher
    return matcher


def _cached_perceptual(md5: str) -> PictureOutcome | None:
    hit = _PERCEPTUAL.get(md5)
    if hit is not None:
        _PERCEPTUAL.move_to_end(md5)
    return hit


def _item_unreadable(
    handle: Any, record: FileRecord, touched: list[tuple[int, int]]
) -> list[Unreadable]:
    """What of ``record``'s bytes, just read, the image could not give:
    found by where the record lies (Sleuth Kit may have served its bytes from
    a cache filled by an earlier read), or, for data without runs, by the
    damaged chunks this read ``touched``."""
    found = record_unreadable(handle, record)
    if found is None:
        return [Unreadable(lo, hi, DAMAGED) for lo, hi in touched]
    return found


def _remember_perceptual(md5: str, value: PictureOutcome) -> None:
    _PERCEPTUAL[md5] = value
    while len(_PERCEPTUAL) > _DIGEST_CACHE_SIZE:
        _PERCEPTUAL.popitem(last=False)


@lru_cache(maxsize=8)
def _policy(params: ScanParams) -> HashPolicy:
    """The per-item hashing rule for a scan with ``params``."""
    return HashPolicy(decode=params.decode, max_decode_bytes=params.max_decode_bytes)


def _note_damage(handle: Any, record: FileRecord, out: _ChunkOut) -> None:
    """Record what of ``record``'s bytes, just read, the image could not give."""
    touched = handle.take_damage()
    out.skipped.extend(damage_records(record.device_id, touched))
    unreadable = _item_unreadable(handle, record, touched)
    if unreadable:
        # Hashed as read all the same: no exact match can come of the zeros,
        # but a perceptual one still can, and that is worth knowing.
        # Damaged chunks as whole-chunk rows (acquisition gaps were recorded
        # whole when the device was opened).
        damaged = [u for u in unreadable if u.kind == DAMAGED]
        out.skipped.extend(unreadable_records(record.device_id, damaged))
        out.skipped.append(
            Skipped.at_file(
                record,
                Stage.UNREADABLE,  # its own stage: a decode error may follow
                "its bytes include what the image cannot give ("
                + ", ".join(map(str, unreadable))
                + "), which reads as zeros: hashed as read",
            )
        )


def _picture(
    policy: HashPolicy, md5: str, data: bytes, record: FileRecord, out: _ChunkOut
) -> PictureOutcome:
    """The decoded picture's outcome, decoded once per content (MD5) per
    worker process."""
    cached = out.local.get(md5) or _cached_perceptual(md5)
    if cached is None:
        cached = policy.picture(data, record.media_type, where=record.display_path)
        if not isinstance(cached, Unhashed) or cached.decoded:
            out.decoded += 1
        _remember_perceptual(md5, cached)
    out.local[md5] = cached
    return cached


def _hash_item(
    handle: Any,
    record: FileRecord,
    matcher: Matcher,
    params: ScanParams,
    out: _ChunkOut,
) -> None:
    """Hash one media item by the scan's policy, cheapest checks first, and
    match it."""
    policy = _policy(params)
    if policy.decodes(record.media_type, record.size):
        data: bytes | None = read_record(handle, record)
        assert data is not None
        digests = policy.digests([data])
        out.bytes_read += len(data)
    else:
        data = None
        counted = _Counted(iter_chunks(handle, record))
        digests = policy.digests(counted)
        out.bytes_read += counted.total
        note = policy.size_note(record.media_type, record.size)
        if note is not None:
            out.skipped.append(Skipped.at_file(record, Stage.HASH, note))
    _note_damage(handle, record, out)
    plain = MediaHash(record.address, digests=digests)
    if matcher.is_known_good(digests):
        # Known-good (e.g. NSRL) content: never decoded, never a hit.
        out.media.append(MediaItem(record, plain, True))
        return
    if data is None:
        out.media.append(MediaItem(record, plain))
        return
    outcome = _picture(policy, plain.md5, data, record, out)
    if isinstance(outcome, Unhashed):
        out.skipped.append(Skipped.at_file(record, Stage.HASH, outcome.reason))
        out.media.append(MediaItem(record, plain))
        return
    hashes, _ = with_picture(plain, outcome)
    out.media.append(MediaItem(record, hashes))


# Devices the driver has stopped early, as (scan token, device id): told to
# every worker by ``Client.run`` (``stop_chunks``), so that a chunk of such a
# device still running gives up at its next item instead of decoding on for
# nothing (its result would be dropped: the driver cancels it). The token
# keeps scans that share a cluster apart.
_STOPPED: set[tuple[str, str]] = set()


def stop_chunks(token: str, device_id: str) -> None:
    """Worker side: chunks of ``device_id`` in scan ``token`` give up."""
    _STOPPED.add((token, device_id))


def forget_stopped(token: str) -> None:
    """Worker side: drop what ``stop_chunks`` noted for scan ``token``."""
    _STOPPED.difference_update({k for k in _STOPPED if k[0] == token})


class _Counted:
    """Iterate byte blocks, counting them."""

    def __init__(self, blocks: Iterable[bytes]) -> None:
        self._blocks = blocks
        self.total = 0

    def __iter__(self) -> Iterator[bytes]:
        for block in self._blocks:
            self.total += len(block)
            yield block


@dataclass
class _ChunkOut:
    media: list[MediaItem] = field(default_factory=list)
    matches: list[Match] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    local: dict[str, PictureOutcome] = field(default_factory=dict)
    files: int = 0
    bytes_read: int = 0
    decoded: int = 0


def process_chunk(
    chunk: Chunk,
    hashsets: Sequence[HashSetRef],
    params: ScanParams = ScanParams(),
    stop_token: str | None = None,
) -> ChunkResult:
    """Classify, hash and match every media item of one chunk (worker side).

    A problem with one item becomes a ``Skipped`` and the chunk goes on.
    With ``stop_token``, the chunk gives up (an empty, ``abandoned`` result)
    at the first item after ``stop_chunks(stop_token, chunk.device_id)``.

    Raises:
        EvidenceError: the evidence itself cannot be opened (the device fails).
        HashSetError: a hash set cannot be loaded.
    """
    start = time.perf_counter()
    one_blas_thread()
    matcher = _matcher(hashsets, params.index_cache)
    handle = _handle(chunk.evidence, chunk.device_id)
    out = _ChunkOut()
    out.skipped.extend(handle.damage_skips())  # normally none: taken below
    found: Iterable[FileRecord | Skipped]
    if chunk.carve_ranges:
        found = _carve_ranges(handle, chunk)
    else:
        found = classify(handle, chunk.records)
    stopped = (stop_token, chunk.device_id)
    for item in found:
        if stopped in _STOPPED:
            return ChunkResult(
                chunk.device_id,
                chunk.chunk_key,
                (),
                (),
                (),
                seconds=time.perf_counter() - start,
                abandoned=True,
            )
        if isinstance(item, Skipped):
            out.skipped.append(item)
            continue
        out.files += 1
        if item.media_type is None or not is_media(item.media_type):
            continue
        # Damage read so far (file headers, archives) is not this item's own:
        # its own bytes are read again in _hash_item, which checks them.
        out.skipped.extend(handle.damage_skips())
        try:
            _hash_item(handle, item, matcher, params, out)
        except (MediaError, EvidenceError, OSError) as exc:
            out.skipped.append(Skipped.at_file(item, Stage.HASH, _reason(exc)))
    out.skipped.extend(handle.damage_skips())  # carving, file headers
    items = [(m.record.display_path, m.hashes) for m in out.media]
    out.matches = _match_batch(matcher, chunk.device_id, items, out.skipped)
    return ChunkResult(
        device_id=chunk.device_id,
        chunk_key=chunk.chunk_key,
        media=tuple(out.media),
        matches=tuple(out.matches),
        skipped=tuple(out.skipped),
        files=out.files,
        bytes_read=out.bytes_read,
        decoded=out.decoded,
        seconds=time.perf_counter() - start,
    )


def _carve_ranges(handle: Any, chunk: Chunk) -> Iterator[FileRecord | Skipped]:
    for offset, length, extra in chunk.carve_ranges:
        try:
            yield from carve(handle, chunk.partition, offset, length, reach=extra)
        except (EvidenceError, OSError) as exc:
            yield Skipped.at_partition(
                chunk.partition,
                Stage.CARVE,
                _reason(exc),
                inner="unallocated",
                start=offset,
                end=offset + length,
            )


def _match_batch(
    matcher: Matcher,
    device_id: str,
    items: Sequence[tuple[str, MediaHash]],
    skipped: list[Skipped],
) -> list[Match]:
    """Match a chunk's hashes in one vectorised search (each set entry once per
    item, exact preferred). Hash collisions (an item agreeing with one of an
    entry's MD5/SHA-1 but not the other) are not matches; they are reported."""
    before = len(matcher.conflicts)
    found = matcher.match_many([hashes for _, hashes in items])
    for conflict in matcher.conflicts[before:]:
        owner = next(
            (where for where, h in items if any(v in conflict for _, v in h.digests)),
            "?",
        )
        skipped.append(Skipped.at_path(device_id, owner, Stage.MATCH, conflict))
    del matcher.conflicts[before:]
    return [m for per_item in found for m in per_item]


def rematch_chunk(
    device_id: str,
    chunk_key: str,
    media: Sequence[tuple[MediaHash, bool]],
    hashsets: Sequence[HashSetRef],
    params: ScanParams = ScanParams(),
) -> RematchResult:
    """Match stored hashes ``(hashes, was_known_good)`` against the current
    sets, without reading or decoding anything (worker side)."""
    matcher = _matcher(hashsets, params.index_cache)
    needs_reading = any(
        was_known_good
        and not hashes.perceptual
        and not matcher.is_known_good(hashes.digests)
        for hashes, was_known_good in media
    )  # excluded as known-good before, never decoded: the chunk must be re-read
    conflicts: list[Skipped] = []
    matches = _match_batch(
        matcher, device_id, [(h.address, h) for h, _ in media], conflicts
    )
    return RematchResult(device_id, chunk_key, tuple(matches), needs_reading)


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text


# -- the driver --------------------------------------------------------------


class Progress(Protocol):
    def __call__(self, event: ScanEvent) -> None: ...


@dataclass(frozen=True, slots=True)
class DeviceSummary:
    """The outcome for one device (totals from the database, so a resumed scan
    reports the whole device)."""

    device_id: str
    evidence: str
    status: str
    error: str | None
    run_id: int | None
    files: int  # entries classified in this run (archive members included)
    bytes_read: int  # bytes of media content read in this run
    media: int
    matches: int
    skipped: int
    chunks_done: int  # chunks processed in this run
    chunks_resumed: int  # chunks already in the database, skipped
    chunks_rematched: int  # stored chunks re-matched against new sets
    first_hit_seconds: float | None
    seconds: float
    task_seconds: float  # summed time workers spent in this device's chunks

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class ScanSummary:
    db: str
    devices: tuple[DeviceSummary, ...]
    hashsets: tuple[HashSetRef, ...]
    scheduler: str
    workers: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "db": self.db,
            "scheduler": self.scheduler,
            "workers": self.workers,
            "seconds": round(self.seconds, 3),
            "hashsets": [h.as_dict() for h in self.hashsets],
            "devices": [d.as_dict() for d in self.devices],
        }


class _Runner(Protocol):
    workers: int
    name: str
    stop_token: str | None  # names this scan's stopped devices to its workers
    lost: tuple[type[BaseException], ...]  # "a worker died running the task"

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any: ...

    def wait_some(
        self, pending: set[Any], timeout: float | None = None
    ) -> tuple[set[Any], set[Any]]: ...

    def stop_chunks(self, device_id: str) -> None: ...

    def close(self) -> None: ...


class _SyncRunner:
    """Runs each task at once in this process: no cluster, same functions."""

    workers = 1
    name = "sync"
    lost: tuple[type[BaseException], ...] = ()
    stop_token: str | None = None

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args))
        except TriageError as exc:
            future.set_exception(exc)
        return future

    def wait_some(
        self, pending: set[Any], timeout: float | None = None
    ) -> tuple[set[Any], set[Any]]:
        return set(pending), set()

    def stop_chunks(self, device_id: str) -> None:
        pass  # each task has run to its end by the time it is submitted

    def close(self) -> None:
        close_worker_caches()


def _start_forkserver() -> None:
    """Start the forkserver a local cluster forks its workers from, now.

    Called before the scan's own set-up (hash sets, index, the walk), so the
    forkserver imports ``WORKER_PRELOAD`` meanwhile, on the other core, and
    the workers start with the task code loaded. It starts with the
    environment the nanny would give it (``WORKER_CONFIG``'s pre-spawn
    variables, which the nanny also sets in this process; a variable already
    set wins, as in Dask), since the forked workers keep it. Nothing happens
    if it is running already: the rest of this process's clusters reuse it.
    """
    import multiprocessing.forkserver

    import dask
    from distributed.utils import get_mp_context

    with dask.config.set(WORKER_CONFIG):
        context = get_mp_context()
    context.set_forkserver_preload(list(WORKER_PRELOAD))
    environ = WORKER_CONFIG["distributed.nanny.pre-spawn-environ"]
    os.environ.update({k: os.environ.get(k, str(v)) for k, v in environ.items()})
    multiprocessing.forkserver.ensure_running()


class _DaskRunner:
    """Runs tasks on a dask.distributed cluster (local or remote)."""

    def __init__(self, scheduler: str | None, workers: int | None) -> None:
        import dask
        from distributed import Client, KilledWorker, LocalCluster

        self.lost: tuple[type[BaseException], ...] = (KilledWorker,)
        self._cluster: Any = None
        self.stop_token: str | None = uuid.uuid4().hex
        self._stopped = False
        if scheduler is None:
            n = workers or os.cpu_count() or 1
            with dask.config.set(WORKER_CONFIG):
                self._cluster = LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # any free port: never collide
                    silence_logs=logging.ERROR,
                )
            self._client = Client(self._cluster)
            self.name = "local"
        else:
            try:
                self._client = Client(scheduler, timeout=30)
            except (OSError, TimeoutError) as exc:
                raise UsageError(
                    f"cannot reach the Dask scheduler at {scheduler}: {exc}"
                ) from exc
            self.name = scheduler
        info = self._client.scheduler_info()
        self.workers = max(1, len(info.get("workers", {})) or (workers or 1))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        return self._client.submit(fn, *args, pure=False)

    def wait_some(
        self, pending: set[Any], timeout: float | None = None
    ) -> tuple[set[Any], set[Any]]:
        from distributed import wait

        try:
            done, not_done = wait(
                list(pending), timeout=timeout, return_when="FIRST_COMPLETED"
            )
        except TimeoutError:
            return set(), set(pending)
        return set(done), set(not_done)

    def stop_chunks(self, device_id: str) -> None:
        # A round trip to every worker (milliseconds: the function runs on
        # their event loops, not behind their tasks). Waited for, so that it
        # is not lost if the client closes next; a worker that fails to take
        # it runs its chunk to the end, as without it.
        self._stopped = True
        self._tell(stop_chunks, self.stop_token, device_id)

    def _tell(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on every worker now; a lost connection only
        costs what the call would have saved (logged)."""
        started = time.perf_counter()
        try:
            self._client.run(fn, *args, on_error="ignore")
        except OSError as exc:  # distributed's CommClosedError among them
            log.warning("could not tell the workers %s%s: %s", fn.__name__, args, exc)
            return
        log.debug(
            "%s%s on workers: %.3f s", fn.__name__, args, time.perf_counter() - started
        )

    def close(self) -> None:
        if self._stopped and self._cluster is None:  # a shared cluster lives on
            self._tell(forget_stopped, self.stop_token)
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()


@dataclass(frozen=True, slots=True)
class _Task:
    """One unit to submit: process a chunk, or re-match its stored hashes."""

    state: _DeviceState
    chunk: Chunk
    stored: tuple[tuple[MediaHash, bool], ...] | None = None  # set: re-match

    def submit(
        self, runner: _Runner, refs: tuple[HashSetRef, ...], params: ScanParams
    ) -> Any:
        if self.stored is None:
            return runner.submit(
                process_chunk, self.chunk, refs, params, runner.stop_token
            )
        return runner.submit(
            rematch_chunk,
            self.chunk.device_id,
            self.chunk.chunk_key,
            self.stored,
            refs,
            params,
        )


@dataclass
class _DeviceState:
    device_id: str
    evidence: str
    size: int
    run_id: int
    started: float
    confident: int = 0
    outstanding: int = 0
    walk_done: bool = False
    stopped: bool = False
    failed: str | None = None
    busy: str | None = None  # another live scan has the device: not scanned
    first_hit: float | None = None
    files: int = 0
    bytes_read: int = 0
    chunks_done: int = 0
    chunks_resumed: int = 0
    chunks_rematched: int = 0
    task_seconds: float = 0.0
    seconds: float = 0.0
    finished: bool = False


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


def expand_evidence(paths: Sequence[str | Path]) -> list[Path]:
    """Evidence arguments to first segments: a folder means every evidence
    file in it. The same file given twice is scanned once."""
    out: list[Path] = []
    seen: set[Path] = set()
    for p in paths:
        path = Path(p)
        for found in find_evidence(path) if path.is_dir() else [path]:
            key = found.resolve()
            if key not in seen:
                seen.add(key)
                out.append(found)
    return out


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


def scan(
    evidence_paths: Sequence[str | Path],
    hashsets: Sequence[str | Path],
    db: str | Path,
    *,
    case_id: str | None = None,
    device_id: str | None = None,
    workers: int | None = None,
    scheduler: str | None = None,
    stop_after: int | None = None,
    devices_at_once: int | None = None,
    chunk_files: int = DEFAULT_CHUNK_FILES,
    carve_bytes: int = DEFAULT_CARVE_BYTES,
    carving: bool = True,
    params: ScanParams | None = None,
    progress: Progress | None = None,
) -> ScanSummary:
    """Scan devices into the case database ``db``; resumable at chunk level.

    One evidence path is one device (the first segment of an E01 or split raw
    image); a folder is every evidence file in it. A device that cannot be
    opened is marked failed with its error and the others go on.

    ``devices_at_once`` devices are walked at a time and their chunks
    interleaved (default: ``TRIAGE_DEVICES_AT_ONCE`` with ``stop_after``, so
    that a device with known images is reached early even behind a large
    device without any; else 1, one device after the other).

    Raises:
        UsageError: bad arguments (checked before any work starts).
        HashSetError: a hash set cannot be loaded.
        StoreError: the database cannot be used.
    """
    t0 = time.perf_counter()
    if params is None:
        params = ScanParams(
            index_cache=str(Path(db).with_name(Path(db).name + ".index"))
        )
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
    if devices_at_once is None:
        devices_at_once = TRIAGE_DEVICES_AT_ONCE if stop_after is not None else 1
    if scheduler not in (None, "sync") and not str(scheduler).startswith(
        ("tcp://", "tls://", "inproc://")
    ):
        raise UsageError(
            f"unknown scheduler {scheduler!r}: use 'sync' or a tcp://HOST:PORT address"
        )
    evidence = expand_evidence(evidence_paths)
    if not evidence:
        raise UsageError("no evidence to scan")
    if device_id is not None and len(evidence) != 1:
        raise UsageError("--device-id names one device: give exactly one evidence")
    refs = load_hashsets(hashsets)
    key = sets_key(refs)
    parameters = {
        "chunk_files": chunk_files,
        "chunk_file_bytes": CHUNK_FILE_BYTES,
        "carve_bytes": carve_bytes,
        "carving": carving,
        "stop_after": stop_after,
        "devices_at_once": devices_at_once,
        "max_decode_bytes": params.max_decode_bytes,
        "decode": params.decode,
        "scheduler": scheduler or "local",
        "workers": workers,
    }

    if scheduler is None:
        _start_forkserver()
    store = Store(db)
    plan = _plan(store, evidence, device_id)
    states: dict[str, _DeviceState] = {}
    order: list[str] = []
    # The walk starts at once, and gets ahead while the index and the cluster
    # start (the queue between it and the loop below is bounded).
    walk = Walks(
        plan,
        chunk_files=chunk_files,
        carve_bytes=carve_bytes,
        carving=carving,
        at_once=devices_at_once,
    )
    walk.start()
    runner: _Runner | None = None

    def emit(event: ScanEvent) -> None:
        if progress is not None:
            progress(event)

    def finish(state: _DeviceState) -> None:
        if state.finished:
            return
        state.finished = True
        seconds = state.seconds = time.perf_counter() - state.started
        if state.failed is not None:
            status = "failed"
        elif state.stopped:
            status = "stopped-early"
        else:
            status = "scanned"
        row = store.device(state.device_id)
        first_hit = state.first_hit
        if row is not None and row.first_hit_seconds is not None:
            first_hit = None  # keep the first run's time to first hit
        store.set_device_status(
            state.device_id,
            status,
            error=state.failed,
            first_hit_seconds=first_hit,
            scan_seconds=seconds,
        )
        store.finish_run(state.run_id, status)
        emit(ScanEvent("device-done", state.device_id, status=status))

    try:
        # Build (or open) the perceptual index once, here, so that workers
        # only memory-map it; in-process, this is the matcher the tasks use.
        prepared = _matcher(refs, params.index_cache)
        prepared.prepare()
        for warning in prepared.warnings:
            log.warning("%s", warning)
        del prepared
        if scheduler != "sync":
            _MATCHERS.clear()
        runner = (
            _SyncRunner() if scheduler == "sync" else _DaskRunner(scheduler, workers)
        )
        pending: dict[Any, _Task] = {}
        max_in_flight = 2 * runner.workers + 1
        source = _driver_tasks(
            walk,
            lambda: not pending,
            store,
            states,
            order,
            refs,
            key,
            parameters,
            case_id=case_id,
            stop_after=stop_after,
            emit=emit,
            finish=finish,
        )
        exhausted = False
        while True:
            while not exhausted and len(pending) < max_in_flight:
                nxt = next(source, WALK_DONE)
                if nxt is WALK_DONE:
                    exhausted = True
                elif nxt is not None:
                    nxt.state.outstanding += 1
                    pending[nxt.submit(runner, refs, params)] = nxt
                    continue
                break  # the walk has nothing ready (yet): see to results
            if not pending:
                if exhausted:
                    break
                continue  # nothing to wait for but the walk: it blocks now
            # With room for more tasks, look at the walk again soon; a task
            # that finishes meanwhile ends the wait at once.
            room = not exhausted and len(pending) < max_in_flight
            done, _ = runner.wait_some(set(pending), WALK_POLL if room else None)
            for fut in done:
                task = pending.pop(fut)
                state = task.state
                state.outstanding -= 1
                _collect(fut, task, store, runner, pending, refs, params, key, emit)
                if stop_after is not None and state.confident >= stop_after:
                    # Enough: drop this device's tasks that have not run yet
                    # (they stay undone in the database, for a later scan).
                    _stop_device(state, walk)
                    running = False
                    for other, queued in list(pending.items()):
                        if queued.state is state and not other.done():
                            other.cancel()
                            del pending[other]
                            state.outstanding -= 1
                            running = True
                    if running:  # a cancelled task may be running: end it
                        runner.stop_chunks(state.device_id)
                if state.walk_done and state.outstanding == 0:
                    finish(state)
        for state in states.values():
            if state.outstanding == 0:
                finish(state)
    finally:
        walk.close()
        for state in states.values():
            if not state.finished:
                store.finish_run(state.run_id, "interrupted")
        if runner is not None:
            runner.close()

    summaries = []
    given = {planned.device_id: k for k, planned in enumerate(plan)}
    for dev in sorted(order, key=lambda d: given.get(d, len(given))):  # as given
        state = states[dev]
        row = store.device(dev)
        assert row is not None
        summaries.append(
            DeviceSummary(
                device_id=dev,
                evidence=state.evidence,
                status="busy" if state.busy else row.status,
                error=state.busy or row.error,
                run_id=state.run_id if state.run_id > 0 else None,
                files=state.files,
                bytes_read=state.bytes_read,
                media=row.media_count,
                matches=row.match_count,
                skipped=row.skipped_count,
                chunks_done=state.chunks_done,
                chunks_resumed=state.chunks_resumed,
                chunks_rematched=state.chunks_rematched,
                first_hit_seconds=row.first_hit_seconds,
                seconds=round(state.seconds, 3),
                task_seconds=round(state.task_seconds, 3),
            )
        )
    store.close()
    return ScanSummary(
        db=str(db),
        devices=tuple(summaries),
        hashsets=refs,
        scheduler=runner.name if runner is not None else "",
        workers=runner.workers if runner is not None else 0,
        seconds=time.perf_counter() - t0,
    )


def _collect(
    fut: Any,
    task: _Task,
    store: Store,
    runner: _Runner,
    pending: dict[Any, _Task],
    refs: tuple[HashSetRef, ...],
    params: ScanParams,
    key: str,
    emit: Callable[[ScanEvent], None],
) -> None:
    """Write one finished task to the database (driver side)."""
    state = task.state
    try:
        result = fut.result()
    except TriageError as exc:
        state.failed = state.failed or str(exc)
        state.stopped = True  # submit nothing more for this device
        return
    except runner.lost as exc:
        state.failed = state.failed or (
            f"{state.evidence}: chunk {task.chunk.chunk_key}: worker lost: {exc}"
        )
        state.stopped = True
        return
    if isinstance(result, RematchResult):
        if result.needs_reading:
            again = _Task(state, task.chunk)
            state.outstanding += 1
            pending[again.submit(runner, refs, params)] = again
            return
        set_names = [h.name for h in refs]
        store.rematch_chunk(
            result.device_id,
            result.chunk_key,
            state.run_id,
            key,
            set_names,
            result.matches,
        )
        state.chunks_rematched += 1
        confident = _confident(result.matches)
    elif result.abandoned:
        return  # the device was stopped: the chunk stays undone
    else:
        assert isinstance(result, ChunkResult)
        store.write_chunk(
            ChunkWrite(
                device_id=result.device_id,
                chunk_key=result.chunk_key,
                run_id=state.run_id,
                sets_key=key,
                media=[(m.record, m.hashes, m.known_good) for m in result.media],
                matches=result.matches,
                skipped=result.skipped,
                bytes_read=result.bytes_read,
            )
        )
        state.chunks_done += 1
        state.task_seconds += result.seconds
        state.files += result.files
        state.bytes_read += result.bytes_read
        confident = _confident(result.matches)
        emit(
            ScanEvent(
                "chunk",
                state.device_id,
                files=result.files,
                bytes=task.chunk.size_hint,
                media=len(result.media),
                matches=confident,
            )
        )
    if confident and state.first_hit is None:
        state.first_hit = time.perf_counter() - state.started
    state.confident += confident


def _confident(matches: Iterable[Match]) -> int:
    """Distinct media items with a known-bad match (known-good never counts)."""
    return len({m.address for m in matches if not m.known_good})


def _plan(
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


def _driver_tasks(
    walk: Walks,
    idle: Callable[[], bool],
    store: Store,
    states: dict[str, _DeviceState],
    order: list[str],
    refs: tuple[HashSetRef, ...],
    key: str,
    parameters: dict[str, Any],
    *,
    case_id: str | None,
    stop_after: int | None,
    emit: Callable[[ScanEvent], None],
    finish: Callable[[_DeviceState], None],
) -> Iterator[_Task | None]:
    """Turn the walk's messages into database rows, events and tasks.

    Runs in the driver's main thread (the only one that uses ``store``).
    Yields None when the walk has nothing ready and the driver has other
    things to see to (``idle()`` false: tasks are out); when it is idle,
    waits for the walk. Items of a device the driver dropped (busy, stopped
    early) are ignored.
    """
    done: dict[str, dict[str, str]] = {}  # device -> chunks stored earlier
    while True:
        item = walk.get(block=idle())
        if item is NOTHING_YET:
            yield None
            continue
        if item is WALK_DONE:
            return
        if isinstance(item, OpenFailed | Opened):
            state = _start_device(item, store, refs, parameters, case_id, states)
            order.append(state.device_id)
            if state.run_id < 0:  # failed to open, or busy elsewhere
                walk.drop(state.device_id)
                status = "failed" if state.busy is None else "busy"
                emit(
                    ScanEvent(
                        "device-done",
                        state.device_id,
                        evidence=state.evidence,
                        status=status,
                    )
                )
                continue
            emit(
                ScanEvent(
                    "device-start",
                    state.device_id,
                    evidence=state.evidence,
                    device_size=state.size,
                )
            )
            done[state.device_id] = store.done_chunks(state.device_id)
            continue
        state = states[item.device_id]
        if state.busy is not None:
            continue
        if isinstance(item, WalkEnd):
            if item.error is not None and not state.stopped:
                state.failed = state.failed or item.error
            state.walk_done = True
            done.pop(state.device_id, None)  # no more of its chunks to come
            if state.outstanding == 0:
                finish(state)
            continue
        if state.stopped or (stop_after is not None and state.confident >= stop_after):
            _stop_device(state, walk)
            done.pop(state.device_id, None)
            if state.outstanding == 0:
                finish(state)
            continue
        if isinstance(item, Skips):
            store.write_skipped(state.device_id, item.items)
        elif isinstance(item, ScanEvent):
            emit(item)
        else:
            yield from _chunk_task(state, item, done[state.device_id], key, store, emit)


def _stop_device(state: _DeviceState, walk: Walks) -> None:
    """Stop a device early (``--stop-after``): no more of its walk is
    wanted; it is finished once its tasks out are in."""
    state.stopped = True
    if not state.walk_done:
        walk.drop(state.device_id)
        state.walk_done = True


def _start_device(
    item: Opened | OpenFailed,
    store: Store,
    refs: tuple[HashSetRef, ...],
    parameters: dict[str, Any],
    case_id: str | None,
    states: dict[str, _DeviceState],
) -> _DeviceState:
    """Register a device the walk reached and start its run (run id -1: it
    could not be opened, or another live scan has it)."""
    evidence = item.planned.evidence
    now = time.perf_counter()
    if isinstance(item, OpenFailed):
        dev = item.planned.device_id
        store.register_failed(dev, evidence, case_id, item.error)
        state = states[dev] = _DeviceState(dev, evidence, 0, -1, now)
        state.failed = item.error
        state.walk_done = state.finished = True
        return state
    device = item.device
    dev = device.device_id
    if dev in states:
        raise UsageError(f"device {dev} ({evidence}) is given twice")
    store.register_device(device, case_id)
    try:
        run_id = store.begin_scan(
            dev,
            hashsets=[h.as_dict() for h in refs],
            parameters=parameters,
            host=socket.gethostname(),
            user=_user(),
        )
    except DeviceBusy as exc:
        # Leave the device, its status and the other scan's run alone; the
        # summary carries the reason (the CLI prints it).
        state = states[dev] = _DeviceState(dev, evidence, device.size, -1, now)
        state.busy = str(exc)
        state.walk_done = state.finished = True
        return state
    store.write_skipped(dev, item.skipped)
    state = states[dev] = _DeviceState(dev, evidence, device.size, run_id, now)
    row = store.device(dev)
    if row is not None:
        state.confident = row.match_count
    return state


def _chunk_task(
    state: _DeviceState,
    chunk: Chunk,
    done: dict[str, str],
    key: str,
    store: Store,
    emit: Callable[[ScanEvent], None],
) -> Iterator[_Task]:
    """The task a walked chunk needs: none if an earlier run stored it with
    these hash sets, a re-match if it stored it with others, else a scan."""
    stored = done.get(chunk.chunk_key)
    if stored == key:
        state.chunks_resumed += 1
        emit(
            ScanEvent(
                "chunk",
                state.device_id,
                files=len(chunk.records),
                bytes=chunk.size_hint,
            )
        )
    elif stored is not None:
        media = tuple(
            (m.hashes, m.known_good)
            for m in store.chunk_media(state.device_id, chunk.chunk_key)
        )
        yield _Task(state, chunk, media)
    else:
        yield _Task(state, chunk)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
