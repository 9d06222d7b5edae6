"""The scan's driver: devices in, a resumable case database out.

``scan()`` is the public entry point: it checks its arguments before any
work, plans a device id for each evidence file, starts the walk (a thread per
device, ``triage.scan.walk``), opens a runner (``"sync"``: this process;
``None``: a local Dask cluster; ``"tcp://host:port"``: a running ``dask
scheduler``) and runs a ``ScanDriver`` until every device is finished.

The driver runs in this process's main thread and is the only writer of the
``Store`` during a scan. It turns the walk's items into database rows,
events and tasks; keeps a few tasks per worker out; writes each finished
chunk in one transaction; and stops a device early once it has
``stop_after`` confident matches. Chunk keys are deterministic, so a resumed
scan skips chunks already in the database, and re-matches (from stored
hashes) chunks stored with other hash sets.
"""

from __future__ import annotations

import getpass
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any, Protocol

from triage.errors import DeviceBusy, TriageError, UsageError
from triage.hashmatch.policy import is_video
from triage.records import Match, MediaHash
from triage.scan import tasks
from triage.scan.deadlines import DEFAULT_TASK_TIMEOUT, Deadlines
from triage.scan.plan import (
    check_arguments,
    evidence_to_scan,
    inner_params,
    load_hashsets,
    plan_devices,
    run_parameters,
    scan_params,
    sets_key,
    split_stored_key,
    stored_key,
)
from triage.scan.runner import Runner, SyncRunner
from triage.scan.tasks import (
    ChunkResult,
    HashSetRef,
    RematchResult,
    ScanParams,
    WorkerState,
)
from triage.scan.walk import (
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
from triage.store import ChunkWrite, Store

log = logging.getLogger(__name__)

#: A files chunk closes at this many entries or this many bytes of files,
#: whichever comes first: small enough to balance two workers on one device
#: and to reach a first hit early, large enough that Dask's per-task overhead
#: (~1 ms) is noise next to decoding.
DEFAULT_CHUNK_FILES = 64
DEFAULT_CARVE_BYTES = 128 << 20
#: While there is room for more tasks, how often (seconds) the driver looks
#: at the walk again when no task has finished.
WALK_POLL = 0.05


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


@dataclass
class DeviceState:
    """What the driver knows of one device during the scan."""

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


@dataclass(frozen=True, slots=True)
class Task:
    """One unit to submit: process a chunk, or re-match its stored hashes."""

    state: DeviceState
    chunk: Chunk
    stored: tuple[tuple[MediaHash, bool], ...] | None = None  # set: re-match
    keyframes_only: bool = False  # the stored hashes' videos: key frames only
    attempt: int = 0  # 1: submitted again after a timeout

    def submit(
        self, runner: Runner, refs: tuple[HashSetRef, ...], params: ScanParams
    ) -> Any:
        # The task functions are looked up when submitted (a test may stand
        # in for them); the runner pickles them by name.
        if self.stored is None:
            return runner.submit(
                tasks.process_chunk, self.chunk, refs, params, runner.stop_token
            )
        return runner.submit(
            tasks.rematch_chunk,
            self.chunk.device_id,
            self.chunk.chunk_key,
            self.stored,
            refs,
            params,
        )


class ScanDriver:
    """One scan's loop over the walk and the runner, in the main thread.

    ``store`` is written by the driver only; ``refs`` are the hash sets every
    task matches against; ``parameters`` go into each device's run row.
    """

    def __init__(
        self,
        store: Store,
        walk: Walks,
        runner: Runner,
        refs: tuple[HashSetRef, ...],
        params: ScanParams,
        *,
        parameters: dict[str, Any],
        case_id: str | None = None,
        stop_after: int | None = None,
        progress: Progress | None = None,
        task_timeout: float | None = DEFAULT_TASK_TIMEOUT,
    ) -> None:
        self.store = store
        self.deadlines = Deadlines(task_timeout)
        self.walk = walk
        self.runner = runner
        self.refs = refs
        self.params = params
        self.key = sets_key(refs)
        self.parameters = parameters
        self.case_id = case_id
        self.stop_after = stop_after
        self.progress = progress
        self.states: dict[str, DeviceState] = {}
        self.order: list[str] = []  # devices in the order the walk reached them
        self.pending: dict[Any, Task] = {}  # future -> its task
        self._stored: dict[str, dict[str, str]] = {}  # device -> chunks stored

    def emit(self, event: ScanEvent) -> None:
        if self.progress is not None:
            self.progress(event)

    def _device_event(self, kind: str, state: DeviceState, **fields: Any) -> None:
        """Emit a ``kind`` event of ``state``'s device (``fields``: its values)."""
        self.emit(ScanEvent(kind, state.device_id, **fields))

    # -- the loop ---------------------------------------------------------

    def run(self) -> None:
        """Submit the walk's tasks, a few per worker at a time, and collect
        them as they finish, until the walk and every task are done."""
        source = self._walk_tasks()
        max_in_flight = 2 * self.runner.workers + 1
        exhausted = False
        while True:
            while not exhausted and len(self.pending) < max_in_flight:
                nxt = next(source, WALK_DONE)
                if nxt is WALK_DONE:
                    exhausted = True
                elif nxt is not None:
                    self._submit(nxt)
                    continue
                break  # the walk has nothing ready (yet): see to results
            if not self.pending:
                if exhausted:
                    break
                continue  # nothing to wait for but the walk: it blocks now
            # With room for more tasks, look at the walk again soon; a task
            # that finishes meanwhile ends the wait at once.
            room = not exhausted and len(self.pending) < max_in_flight
            done, _ = self.runner.wait_some(
                set(self.pending),
                self.deadlines.wait_timeout(WALK_POLL if room else None),
            )
            for fut in done:
                self._task_done(fut)
            for fut in self.deadlines.overdue(self.pending):
                self._timed_out(fut)
        for state in self.states.values():
            if state.outstanding == 0:
                self.finish(state)

    def _submit(self, task: Task) -> None:
        task.state.outstanding += 1
        fut = task.submit(self.runner, self.refs, self.params)
        self.pending[fut] = task
        self.deadlines.started(fut)

    def _timed_out(self, fut: Any) -> None:
        """A task with no result by its deadline (a hung worker): cancelled,
        and submitted once more; a second time, its device fails."""
        task = self.pending.pop(fut)
        self.deadlines.forget(fut)
        self.runner.shun(fut)
        fut.cancel()
        state = task.state
        state.outstanding -= 1
        if task.attempt == 0 and not state.stopped:
            log.warning("chunk %s timed out: submitted again", task.chunk.chunk_key)
            self._submit(replace(task, attempt=1))
            return
        state.failed = state.failed or (
            f"{state.evidence}: chunk {task.chunk.chunk_key}: no result after "
            f"{self.deadlines.timeout:.0f} s, twice (a worker hung); not scanned"
        )
        self._stop_device(state)
        if state.outstanding == 0:
            self.finish(state)

    def _task_done(self, fut: Any) -> None:
        self.deadlines.forget(fut)
        task = self.pending.pop(fut)
        state = task.state
        state.outstanding -= 1
        self.collect(fut, task)
        if self.stop_after is not None and state.confident >= self.stop_after:
            # Enough: drop this device's tasks that have not run yet (they
            # stay undone in the database, for a later scan).
            self._stop_device(state)
            self._cancel_tasks(state)
        if state.walk_done and state.outstanding == 0:
            self.finish(state)

    def _cancel_tasks(self, state: DeviceState) -> None:
        """Cancel the device's tasks out; a cancelled task may be running
        already: the workers are told to end it."""
        running = False
        for other, queued in list(self.pending.items()):
            if queued.state is state and not other.done():
                other.cancel()
                del self.pending[other]
                state.outstanding -= 1
                running = True
        if running:
            self.runner.stop_chunks(state.device_id)

    # -- from the walk -------------------------------------------------------

    def _walk_tasks(self) -> Iterator[Task | None]:
        """Turn the walk's messages into database rows, events and tasks.

        Yields None when the walk has nothing ready and the driver has other
        things to see to (tasks are out); when none is, waits for the walk.
        Items of a device the driver dropped (busy, stopped early) are
        ignored.
        """
        while True:
            item = self.walk.get(block=not self.pending)
            if item is NOTHING_YET:
                yield None
                continue
            if item is WALK_DONE:
                return
            if isinstance(item, OpenFailed | Opened):
                self._device_reached(item)
                continue
            state = self.states[item.device_id]
            if state.busy is not None:
                continue
            if isinstance(item, WalkEnd):
                if item.error is not None and not state.stopped:
                    state.failed = state.failed or item.error
                state.walk_done = True
                self._stored.pop(state.device_id, None)  # no more chunks to come
                if state.outstanding == 0:
                    self.finish(state)
                continue
            if state.stopped or (
                self.stop_after is not None and state.confident >= self.stop_after
            ):
                self._stop_device(state)
                self._stored.pop(state.device_id, None)
                if state.outstanding == 0:
                    self.finish(state)
                continue
            if isinstance(item, Skips):
                self.store.write_skipped(state.device_id, item.items)
            elif isinstance(item, ScanEvent):
                self.emit(item)
            else:
                yield from self._chunk_task(state, item)

    def _device_reached(self, item: Opened | OpenFailed) -> None:
        """Start the device's run, or, if it failed to open or is busy
        elsewhere, drop its walk and report it done."""
        state = self._start_device(item)
        self.order.append(state.device_id)
        if state.run_id < 0:
            self.walk.drop(state.device_id)
            status = "failed" if state.busy is None else "busy"
            self._device_event(
                "device-done", state, evidence=state.evidence, status=status
            )
            return
        self._device_event(
            "device-start", state, evidence=state.evidence, device_size=state.size
        )
        self._stored[state.device_id] = self.store.done_chunks(state.device_id)

    def _start_device(self, item: Opened | OpenFailed) -> DeviceState:
        """Register a device the walk reached and start its run (run id -1: it
        could not be opened, or another live scan has it)."""
        evidence = item.planned.evidence
        now = time.perf_counter()
        states, store = self.states, self.store
        if isinstance(item, OpenFailed):
            dev = item.planned.device_id
            store.register_failed(dev, evidence, self.case_id, item.error)
            state = states[dev] = DeviceState(dev, evidence, 0, -1, now)
            state.failed = item.error
            state.walk_done = state.finished = True
            return state
        device = item.device
        dev = device.device_id
        if dev in states:
            raise UsageError(f"device {dev} ({evidence}) is given twice")
        store.register_device(device, self.case_id)
        try:
            run_id = store.begin_scan(
                dev,
                hashsets=[h.as_dict() for h in self.refs],
                parameters=self.parameters,
                host=socket.gethostname(),
                user=_user(),
            )
        except DeviceBusy as exc:
            # Leave the device, its status and the other scan's run alone; the
            # summary carries the reason (the CLI prints it).
            state = states[dev] = DeviceState(dev, evidence, device.size, -1, now)
            state.busy = str(exc)
            state.walk_done = state.finished = True
            return state
        store.write_skipped(dev, item.skipped)
        state = states[dev] = DeviceState(dev, evidence, device.size, run_id, now)
        row = store.device(dev)
        if row is not None:
            state.confident = row.match_count
        return state

    def _chunk_task(self, state: DeviceState, chunk: Chunk) -> Iterator[Task]:
        """The task a walked chunk needs: none if an earlier run stored it with
        these hash sets, a re-match if it stored it with others, else a scan
        (also when a full scan finds it stored from the key-frame pass)."""
        stored = self._stored[state.device_id].get(chunk.chunk_key)
        sets, keyframes_only = split_stored_key(stored or "")
        if stored is None or (keyframes_only and not self.params.keyframes):
            yield Task(state, chunk)
        elif sets == self.key:
            state.chunks_resumed += 1
            self._device_event(
                "chunk", state, files=len(chunk.records), bytes=chunk.size_hint
            )
        else:
            media = tuple(
                (m.hashes, m.known_good)
                for m in self.store.chunk_media(state.device_id, chunk.chunk_key)
            )
            yield Task(state, chunk, media, keyframes_only)

    def _stop_device(self, state: DeviceState) -> None:
        """Stop a device early (``--stop-after``): no more of its walk is
        wanted; it is finished once its tasks out are in."""
        state.stopped = True
        if not state.walk_done:
            self.walk.drop(state.device_id)
            state.walk_done = True

    # -- results -------------------------------------------------------------

    def collect(self, fut: Any, task: Task) -> None:
        """Write one finished task to the database."""
        state = task.state
        try:
            result = fut.result()
        except TriageError as exc:
            state.failed = state.failed or str(exc)
            state.stopped = True  # submit nothing more for this device
            return
        except self.runner.lost as exc:
            state.failed = state.failed or (
                f"{state.evidence}: chunk {task.chunk.chunk_key}: worker lost: {exc}"
            )
            state.stopped = True
            return
        if isinstance(result, RematchResult):
            if result.needs_reading:
                self._submit(Task(state, task.chunk))
                return
            self.store.rematch_chunk(
                result.device_id,
                result.chunk_key,
                state.run_id,
                stored_key(self.key, task.keyframes_only),
                [h.name for h in self.refs],
                result.matches,
            )
            state.chunks_rematched += 1
        elif result.abandoned:
            return  # the device was stopped: the chunk stays undone
        else:
            assert isinstance(result, ChunkResult)
            self._write_chunk(state, task.chunk, result)
        confident = _confident(result.matches)
        if confident and state.first_hit is None:
            state.first_hit = time.perf_counter() - state.started
        state.confident += confident

    def _write_chunk(
        self, state: DeviceState, chunk: Chunk, result: ChunkResult
    ) -> None:
        # Marked when the key-frame pass stored it with any video, hashed or
        # not: a full scan reads it again (the others it resumes).
        videos = any(is_video(m.record.media_type) for m in result.media)
        keyframes_only = self.params.keyframes and videos
        self.store.write_chunk(
            ChunkWrite(
                device_id=result.device_id,
                chunk_key=result.chunk_key,
                run_id=state.run_id,
                sets_key=stored_key(self.key, keyframes_only),
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
        self._device_event(
            "chunk",
            state,
            files=result.files,
            bytes=chunk.size_hint,
            media=len(result.media),
            matches=_confident(result.matches),
        )

    def finish(self, state: DeviceState) -> None:
        """Close the device's run with its status (once)."""
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
        row = self.store.device(state.device_id)
        first_hit = state.first_hit
        if row is not None and row.first_hit_seconds is not None:
            first_hit = None  # keep the first run's time to first hit
        self.store.set_device_status(
            state.device_id,
            status,
            error=state.failed,
            first_hit_seconds=first_hit,
            scan_seconds=seconds,
        )
        self.store.finish_run(state.run_id, status)
        self._device_event("device-done", state, status=status)

    def interrupt_unfinished(self) -> None:
        """Mark the runs of devices not finished as interrupted."""
        for state in self.states.values():
            if not state.finished:
                self.store.finish_run(state.run_id, "interrupted")

    def summary(self, db: str, plan: Sequence[Planned], seconds: float) -> ScanSummary:
        """The scan's outcome (once it is over)."""
        return ScanSummary(
            db=db,
            devices=self.summaries(plan),
            hashsets=self.refs,
            scheduler=self.runner.name,
            workers=self.runner.workers,
            seconds=seconds,
        )

    def summaries(self, plan: Sequence[Planned]) -> tuple[DeviceSummary, ...]:
        """Each device's outcome, in the order the devices were given."""
        out = []
        given = {planned.device_id: k for k, planned in enumerate(plan)}
        for dev in sorted(self.order, key=lambda d: given.get(d, len(given))):
            state = self.states[dev]
            row = self.store.device(dev)
            assert row is not None
            out.append(
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
        return tuple(out)


def _confident(matches: Iterable[Match]) -> int:
    """Distinct media items with a known-bad match (known-good never counts)."""
    return len({m.address for m in matches if not m.known_good})


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


# -- the scan, from arguments to summary -----------------------------------------


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
    inner_sources: bool = True,
    params: ScanParams | None = None,
    progress: Progress | None = None,
    as_device: bool = False,
    task_timeout: float | None = DEFAULT_TASK_TIMEOUT,
) -> ScanSummary:
    """Scan devices into the case database ``db``; resumable at chunk level.

    One evidence path is one device (an E01's or split raw image's first
    segment); a folder is every evidence file in it. A device that cannot be
    opened is failed with its error; the others go on.

    ``devices_at_once`` devices are walked at a time and their chunks
    interleaved (default: ``TRIAGE_DEVICES_AT_ONCE`` with ``stop_after``, so
    that a device with known images is reached early even behind a large
    device without any; else 1, one device after the other). A cluster task
    has ``task_timeout`` seconds (``triage.scan.deadlines``).
    ``inner_sources=False``: no inner sources (archives are still expanded).

    Raises:
        UsageError: bad arguments (checked before any work starts).
        HashSetError: a hash set cannot be loaded.
        StoreError, ClusterError: the database, or the Dask scheduler, lost.
    """
    t0 = time.perf_counter()
    params = scan_params(inner_params(db, params, inner_sources), db, stop_after)
    devices_at_once = check_arguments(
        chunk_files, carve_bytes, stop_after, workers, devices_at_once, scheduler
    )
    evidence = evidence_to_scan(evidence_paths, device_id, as_device)
    refs = load_hashsets(hashsets)
    parameters = run_parameters(
        params,
        chunk_files=chunk_files,
        carve_bytes=carve_bytes,
        carving=carving,
        stop_after=stop_after,
        devices_at_once=devices_at_once,
        scheduler=scheduler or "local",
        workers=workers,
    )  # stored in each device's run row
    if scheduler is None:
        _start_forkserver()
    store = Store(db)
    plan = plan_devices(store, evidence, device_id)
    walk = Walks(plan, chunk_files=chunk_files, carve_bytes=carve_bytes,
                 carving=carving, at_once=devices_at_once)  # fmt: skip
    new_runner = partial(open_runner, scheduler, workers, refs, params)
    new_driver = partial(
        ScanDriver,
        store,
        walk,
        refs=refs,
        params=params,
        parameters=parameters,
        case_id=case_id,
        stop_after=stop_after,
        progress=progress,
        task_timeout=task_timeout,
    )
    driver = _drive(walk, new_runner, new_driver)
    summary = driver.summary(str(db), plan, time.perf_counter() - t0)
    store.close()
    return summary


def _drive(
    walk: Walks,
    new_runner: Callable[[], Runner],
    new_driver: Callable[[Runner], ScanDriver],
) -> ScanDriver:
    """Start the walk, open the runner and run a driver on it until the scan
    is over; whatever happens, stop the walk, mark the runs not finished as
    interrupted and close the runner. Returns the driver, done."""
    # The walk starts at once, and gets ahead while the index and the cluster
    # start (the queue between it and the driver is bounded).
    walk.start()
    runner: Runner | None = None
    driver: ScanDriver | None = None
    try:
        runner = new_runner()
        driver = new_driver(runner)
        driver.run()
    except BaseException:
        _wind_up(walk, driver, runner, failing=True)
        raise
    _wind_up(walk, driver, runner, failing=False)
    return driver


def _wind_up(
    walk: Walks, driver: ScanDriver | None, runner: Runner | None, *, failing: bool
) -> None:
    """Stop the walk, mark unfinished runs interrupted and close the runner,
    each whatever the one before did. When the scan is ``failing`` already
    (a full disk, a damaged database, Ctrl-C), a database error while marking
    the runs is logged, not raised over the first error: the next scan of
    the device closes a run left open."""
    try:
        walk.close()
        if driver is not None:
            driver.interrupt_unfinished()
    except TriageError as exc:
        if not failing:
            raise
        log.info("could not mark unfinished runs interrupted: %s", exc)
    finally:
        if runner is not None:
            runner.close()


def _start_forkserver() -> None:
    """Start the local cluster's forkserver now (it loads the task code
    meanwhile)."""
    from triage.scan.dask_runner import start_forkserver

    start_forkserver()


def open_runner(
    scheduler: str | None,
    workers: int | None,
    refs: tuple[HashSetRef, ...],
    params: ScanParams,
) -> Runner:
    """The runner for ``scheduler``, once the perceptual index is built (or
    opened) here, so that workers only memory-map it. In-process (``"sync"``)
    the prepared matcher is the one the tasks use; otherwise it is dropped
    before the cluster starts.

    Raises:
        UsageError: the Dask scheduler cannot be reached.
    """
    if scheduler == "sync":
        runner = SyncRunner()
        try:
            _prepare_index(runner.state, refs, params)
        except BaseException:
            runner.close()
            raise
        return runner
    state = WorkerState()
    try:
        _prepare_index(state, refs, params)
    finally:
        state.teardown()
    from triage.scan.dask_runner import DaskRunner

    return DaskRunner(scheduler, workers)


def _prepare_index(
    state: WorkerState, refs: tuple[HashSetRef, ...], params: ScanParams
) -> None:
    prepared = state.matcher(refs, params.index_cache)
    prepared.prepare()
    for warning in prepared.warnings:
        log.warning("%s", warning)
