"""The scan driver's walk: devices to chunks of addresses, in threads.

Sleuth Kit can spend a long time in one call: FAT's orphan search reads all
free space when the walk reaches $OrphanFiles (a second per ~400 MB of E01
zeros here), a large NTFS $MFT loads at the first folder. If the loop that
submits tasks ran the walk itself, the workers would wait out every such
call with nothing queued. So each device is walked in a background thread
that works ahead of the submitting loop (at most ``WALK_AHEAD`` items) and
does nothing but ingest: it opens and closes its own device handle and
never touches the database (``Walks`` runs them in order). The driver's main
thread (``triage.scan.driver``) turns their messages into database rows, events
and tasks. No Dask here: plain threads and queues, testable alone.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import queue
import threading
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

from triage.errors import EvidenceError, FilesystemError
from triage.ingest.bifragment import WINDOW
from triage.ingest.carve import MAX_ITEM, unallocated_runs, zeros_hold_nothing
from triage.ingest.evidence import open_device
from triage.ingest.listing import SYSTEM_FOLDERS, iter_entries, listing_damage
from triage.ingest.volumes import partitions_or_whole
from triage.records import Device, FileRecord, Partition, Skipped, Stage

_T = TypeVar("_T")

#: A files chunk closes at this many entries (``chunk_files``) or this many
#: bytes of files, whichever comes first.
CHUNK_FILE_BYTES = 256 << 20
#: Where a run of free space is cut into carve chunks, a picture that starts
#: before the cut may run on past it: each chunk may read on into the rest of
#: the run, up to the longest item any carver follows (``MAX_ITEM``), but only
#: to follow such a picture (nothing there is searched; items that start after
#: the cut belong to the next chunk). So a straddling picture comes out whole.
CARVE_REACH = MAX_ITEM


@dataclass(frozen=True, slots=True)
class Chunk:
    """A bounded unit of work: some file entries of a partition, or some
    unallocated byte ranges of it to carve. Addresses only; picklable."""

    device_id: str
    evidence: str
    chunk_key: str
    partition: Partition
    records: tuple[FileRecord, ...] = ()
    # (absolute offset, length, bytes past the range an item starting in it may
    # run on into: the rest of the free run, up to CARVE_REACH)
    carve_ranges: tuple[tuple[int, int, int], ...] = ()
    # Free space (absolute (start, end)) from the chunk's first range to
    # bifragment.WINDOW past its last: where a broken JPEG's rest may lie.
    carve_free: tuple[tuple[int, int], ...] = ()

    @property
    def size_hint(self) -> int:
        """Bytes of evidence the chunk covers (for progress)."""
        return sum(r.size for r in self.records) + sum(
            n for _, n, _ in self.carve_ranges
        )


@dataclass(frozen=True, slots=True)
class ScanEvent:
    """Progress of a scan, for a live display.

    ``kind``: "device-start", "walked" (more entries found), "chunk" (a chunk
    was committed to the database, or found done by an earlier run),
    "device-done". The callback runs in the driver right after the commit, so
    a test can kill the scan there and know exactly what was stored.
    """

    kind: str
    device_id: str
    evidence: str = ""
    device_size: int = 0
    files: int = 0
    bytes: int = 0
    media: int = 0
    matches: int = 0
    walked_files: int = 0
    walked_bytes: int = 0
    status: str = ""


#: Items the walk may run ahead of the submitting loop (chunks, their
#: "walked" events, skip lists): ~64 chunks of at most DEFAULT_CHUNK_FILES
#: entries each, a few MB of addresses, never a device's whole file list.
WALK_AHEAD = 128
#: Walks of devices dropped mid-walk that may still run (each finishing the
#: Sleuth Kit call it is in) while the next device is walked, per device
#: walked at once.
LET_GO_AT_ONCE = 1
WALK_DONE: Any = object()  # the walk is over
NOTHING_YET: Any = object()  # the walk has no item ready


@dataclass(frozen=True, slots=True)
class Planned:
    """A device to walk, with the id the driver chose for it."""

    path: Path
    evidence: str
    device_id: str


@dataclass(frozen=True, slots=True)
class Opened:
    """The walk opened a device (its acquisition gaps read from the image)."""

    planned: Planned
    device: Device
    skipped: tuple[Skipped, ...]


@dataclass(frozen=True, slots=True)
class OpenFailed:
    planned: Planned
    error: str


@dataclass(frozen=True, slots=True)
class Skips:
    """Skipped items the walk found, for the database."""

    device_id: str
    items: tuple[Skipped, ...]


@dataclass(frozen=True, slots=True)
class WalkEnd:
    """The walk is done with a device (``error``: why it stopped early)."""

    device_id: str
    error: str | None = None


WalkItem = Opened | OpenFailed | Skips | WalkEnd | ScanEvent | Chunk


def walk_one(
    planned: Planned, *, chunk_files: int, carve_bytes: int, carving: bool
) -> Iterator[WalkItem]:
    """Open and walk one planned device; pure ingest, no database. Ends with
    ``WalkEnd`` (or is just ``OpenFailed``)."""
    try:
        handle = open_device(planned.evidence, planned.device_id)
    except EvidenceError as exc:
        yield OpenFailed(planned, str(exc))
        return
    with handle:
        dev = handle.device.device_id
        yield Opened(planned, handle.device, tuple(handle.acquisition_skips()))
        error = None
        try:
            yield from _walk_device(
                handle, dev, planned.evidence, chunk_files, carve_bytes, carving
            )
        except EvidenceError as exc:
            error = str(exc)
        yield WalkEnd(dev, error)


class Walks:
    """The walk of every planned device, in order, each device in a thread of
    its own (``Background``), ``at_once`` devices at a time.

    The items of the ``at_once`` oldest walks are handed out in turn (one
    from each that has one ready), so their chunks interleave; with 1, one
    device after the other. A device's walk no longer counts once it has
    walked everything: the next device's walk starts then, and gets ahead
    while the earlier device's chunks are still being worked (its items wait
    their turn), up to ``2 * at_once`` walks in all, so the driver never
    holds more than that many devices' ``WALK_AHEAD`` items, however many
    devices the batch has. A device the driver drops (busy elsewhere, stopped early)
    is let go: its thread stops at its next item and closes its evidence
    itself, and the walk goes on with the next device at once, even if that
    thread is still inside a long Sleuth Kit call (which cannot be
    interrupted; it finishes in the background).
    """

    def __init__(
        self,
        plan: Sequence[Planned],
        *,
        chunk_files: int,
        carve_bytes: int,
        carving: bool,
        at_once: int = 1,
    ) -> None:
        if at_once < 1:
            raise ValueError("at_once must be at least 1")
        self._plan = list(plan)
        self._chunk_files = chunk_files
        self._carve_bytes = carve_bytes
        self._carving = carving
        self._at_once = at_once
        self._walks: list[tuple[str, Background[WalkItem]]] = []  # in order
        self._let_go: list[Background[WalkItem]] = []
        self._turn = 0  # which of the walks read in turn goes next
        self._ready = threading.Event()  # set by a walk when it queues an item

    def start(self) -> None:
        """Start walking the first devices (``get`` would, when first called)."""
        self._fill()

    def _fill(self) -> None:
        # At most 2 x at_once walks: those read in turn, and as many walked
        # in full ahead of them; each holds up to WALK_AHEAD items.
        while (
            self._plan
            and len(self._walks) < 2 * self._at_once
            and sum(1 for _, w in self._walks if not w.finished) < self._at_once
        ):
            self._start_next()

    def _start_next(self) -> None:
        if self._plan:
            # A walk let go may still be inside a long Sleuth Kit call (an
            # orphan search of a big card), using a core: never more than
            # LET_GO_AT_ONCE per device walked at once; beyond that, wait for
            # the oldest.
            self._let_go = [w for w in self._let_go if w.alive]
            while len(self._let_go) > LET_GO_AT_ONCE * self._at_once:
                self._let_go.pop(0).close()
            planned = self._plan.pop(0)
            items = walk_one(
                planned,
                chunk_files=self._chunk_files,
                carve_bytes=self._carve_bytes,
                carving=self._carving,
            )
            walk = Background(items, WALK_AHEAD, "triage-walk", ready=self._ready)
            self._walks.append((planned.device_id, walk))

    def get(self, block: bool = True) -> WalkItem:
        """The next item of the walk (``WALK_DONE`` after the last device;
        ``NOTHING_YET`` if ``block`` is false and none is ready)."""
        while True:
            self._fill()
            if not self._walks:
                return WALK_DONE
            self._ready.clear()  # an item queued from now on sets it again
            readable = min(len(self._walks), self._at_once)
            for k in range(readable):
                i = (self._turn + k) % readable
                item = self._walks[i][1].get(block=False)
                if item is NOTHING_YET:
                    continue
                if item is WALK_DONE:
                    del self._walks[i]
                    break  # look again: the walks have moved up
                self._turn = i + 1
                return item
            else:
                if not block:
                    return NOTHING_YET
                self._ready.wait(0.1)

    def drop(self, device_id: str) -> None:
        """Stop walking ``device_id`` (if it is still being walked)."""
        for k, (dev, walk) in enumerate(self._walks):
            if dev == device_id:
                del self._walks[k]
                walk.let_go()
                self._let_go.append(walk)
                return

    def close(self) -> None:
        """Stop every walk; wait for those not let go earlier (those end on
        their own, when the Sleuth Kit call they are in returns)."""
        for _, walk in self._walks:
            walk.close()
        self._walks = []


def _walk_device(
    handle: Any,
    dev: str,
    evidence: str,
    chunk_files: int,
    carve_bytes: int,
    carving: bool,
) -> Iterator[Skips | ScanEvent | Chunk]:
    """The chunks of a device, in a deterministic order: for each partition,
    its file entries in batches, then its unallocated space in pieces; with
    the skips and progress found on the way."""
    file_chunks = 0
    # From the first read on, note runs of zeros in what the walk reads (FAT's
    # orphan search reads all free space): carving leaves them out below.
    zeros_read = handle.watch_zeros()
    for part in _partitions(handle, dev, evidence):
        if isinstance(part, Skips):
            yield part
            continue
        if part.allocated and part.fs_type is not None:
            file_chunks = yield from _file_chunks(
                handle, dev, evidence, part, chunk_files, file_chunks
            )
        if not carving:
            continue
        # Free space the walk itself read as zeros (FAT's orphan search reads
        # all of it) holds nothing to carve: no signature starts with a zero
        # byte. Only the rest is cut into carve chunks; a picture that runs on
        # into zeros is still followed there (the reach).
        zeros = zeros_read.runs() if zeros_hold_nothing() else []
        yield from _carve_chunks(handle, dev, evidence, part, carve_bytes, zeros)


def _file_chunks(
    handle: Any,
    dev: str,
    evidence: str,
    part: Partition,
    chunk_files: int,
    file_chunks: int,
) -> Generator[Skips | ScanEvent | Chunk, None, int]:
    """A partition's file entries in batches (``file_chunks``: how many the
    device had before); returns how many it has after."""
    batch: list[FileRecord] = []
    first = seen = batch_bytes = 0
    try:
        for entry in iter_entries(handle, part, defer=SYSTEM_FOLDERS):
            if isinstance(entry, Skipped):
                yield Skips(dev, (entry,))
                continue
            batch.append(entry)
            seen += 1
            batch_bytes += entry.size
            # A device's first chunks are small (8, 16, 32 files):
            # results, and a first hit, arrive early.
            limit = min(chunk_files, 8 << min(file_chunks, 8))
            if len(batch) >= limit or batch_bytes >= CHUNK_FILE_BYTES:
                file_chunks += 1
                yield ScanEvent(
                    "walked",
                    dev,
                    walked_files=len(batch),
                    walked_bytes=batch_bytes,
                )
                yield _files_chunk(dev, evidence, part, first, batch)
                first = seen
                batch = []
                batch_bytes = 0
    except FilesystemError as exc:
        yield Skips(dev, (Skipped.at_partition(part, Stage.FILESYSTEM, str(exc)),))
    yield Skips(dev, tuple(listing_damage(handle, part)))
    if batch:
        yield ScanEvent(
            "walked",
            dev,
            walked_files=len(batch),
            walked_bytes=sum(r.size for r in batch),
        )
        yield _files_chunk(dev, evidence, part, first, batch)
    return file_chunks


def _carve_chunks(
    handle: Any,
    dev: str,
    evidence: str,
    part: Partition,
    carve_bytes: int,
    zeros: Sequence[tuple[int, int]],
) -> Iterator[Skips | ScanEvent | Chunk]:
    """A partition's free space outside ``zeros``, in carve chunks of
    ``carve_bytes``, each range with its reach into the rest of its run."""
    ranges: list[tuple[int, int, int]] = []
    total = 0
    free: list[tuple[int, int]] = []
    try:
        free = [(o, o + n) for o, n in unallocated_runs(handle, part)]
        for run_start, run_end in free:
            for offset, end in _outside(run_start, run_end, zeros):
                while offset < end:
                    take = min(end - offset, carve_bytes - total)
                    extra = min(CARVE_REACH, run_end - offset - take)
                    ranges.append((offset, take, extra))
                    total += take
                    offset += take
                    if total >= carve_bytes:
                        yield ScanEvent("walked", dev, walked_bytes=total)
                        yield _carve_chunk(dev, evidence, part, ranges, free)
                        ranges, total = [], 0
    except FilesystemError as exc:
        yield Skips(
            dev,
            (Skipped.at_partition(part, Stage.CARVE, str(exc), inner="unallocated"),),
        )
    yield Skips(dev, tuple(handle.damage_skips()))
    if ranges:
        yield ScanEvent("walked", dev, walked_bytes=total)
        yield _carve_chunk(dev, evidence, part, ranges, free)


def _outside(
    start: int, end: int, holes: Sequence[tuple[int, int]]
) -> Iterator[tuple[int, int]]:
    """The parts of ``[start, end)`` outside ``holes`` (sorted, disjoint)."""
    at = start
    first = bisect.bisect_right(holes, (start, start)) - 1
    for lo, hi in holes[max(first, 0) :]:
        if lo >= end:
            break
        if hi <= at:
            continue
        if lo > at:
            yield at, lo
        at = max(at, hi)
    if at < end:
        yield at, end


def _partitions(handle: Any, dev: str, evidence: str) -> Iterator[Partition | Skips]:
    """The device's partitions, and what could not be read of its volume
    system. A device with neither a partition table nor a readable
    filesystem is carved whole."""
    for part in partitions_or_whole(handle, dev, evidence):
        yield Skips(dev, tuple(handle.damage_skips()))
        if isinstance(part, Skipped):
            yield Skips(dev, (part,))
            continue
        yield part


class _Raised(NamedTuple):
    error: BaseException


class Background(Generic[_T]):
    """Runs an iterator in a thread of its own and hands its items over, in
    order, through a queue of at most ``ahead`` items.

    The iterator is also closed in that thread, so a generator that holds
    resources (open evidence) releases them where it used them. An exception
    in it is raised here, at the point of the stream where it happened.
    """

    def __init__(
        self,
        source: Iterator[_T],
        ahead: int,
        name: str,
        ready: threading.Event | None = None,
    ) -> None:
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=ahead)
        self._ready = ready  # set after each item queued, if given
        self._stop = threading.Event()
        self._done = False
        self.finished = False  # the source is exhausted (items may be queued)
        self._thread = threading.Thread(
            target=self._run, args=(source,), name=name, daemon=True
        )
        self._thread.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
            except queue.Full:
                continue
            if self._ready is not None:
                self._ready.set()
            return True
        return False

    def _run(self, source: Iterator[_T]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    break
            else:
                self.finished = True
                self._put(WALK_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            self.finished = True
            self._put(_Raised(exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    def get(self, block: bool = True) -> _T:
        """The next item; ``WALK_DONE`` at the end; ``NOTHING_YET`` if
        ``block`` is false and no item is ready. Raises what the iterator
        raised, where it raised it."""
        if self._done:
            return WALK_DONE
        try:
            item = self._queue.get(block=block)
        except queue.Empty:
            return NOTHING_YET
        if item is WALK_DONE:
            self._done = True
        elif isinstance(item, _Raised):
            self._done = True
            raise item.error
        return item

    @property
    def alive(self) -> bool:
        """Whether the thread is still running (maybe inside its source)."""
        return self._thread.is_alive()

    def let_go(self) -> None:
        """Stop the thread after its current item, without waiting for it:
        it closes its source itself, in its own time."""
        self._done = True
        self._stop.set()

    def close(self) -> None:
        """Stop the thread (after its current item) and wait for it."""
        self.let_go()
        while self._thread.is_alive():
            try:
                while True:
                    self._queue.get_nowait()
            except queue.Empty:
                pass
            self._thread.join(timeout=0.1)


def _files_chunk(
    dev: str, evidence: str, part: Partition, first: int, batch: list[FileRecord]
) -> Chunk:
    digest = hashlib.sha1("\n".join(r.address for r in batch).encode()).hexdigest()
    key = f"p{part.index}:files:{first}+{len(batch)}:{digest[:12]}"
    return Chunk(dev, evidence, key, part, records=tuple(batch))


def _carve_chunk(
    dev: str,
    evidence: str,
    part: Partition,
    ranges: list[tuple[int, int, int]],
    free: Sequence[tuple[int, int]],
) -> Chunk:
    start = ranges[0][0]
    end = ranges[-1][0] + ranges[-1][1]
    key = f"p{part.index}:carve:{start}+{end - start}:{len(ranges)}"
    first = max(bisect.bisect_right(free, (start, start)) - 1, 0)
    near = tuple(itertools.takewhile(lambda run: run[0] < end + WINDOW, free[first:]))
    return Chunk(dev, evidence, key, part, carve_ranges=tuple(ranges), carve_free=near)
