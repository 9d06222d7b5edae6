"""The scan's work, as plain functions a worker runs: no Dask here.

``process_chunk`` classifies, hashes and matches the media of one chunk (a
bounded list of file addresses, or of free-space ranges to carve);
``rematch_chunk`` matches a stored chunk's hashes against other hash sets.
Both take picklable addresses and open the evidence themselves, so the same
functions run in a test, in the driver's own process (``scheduler="sync"``)
and on a Dask worker (``triage.scan.dask_runner`` only calls them).

A worker reads each media item once, computes its exact digests (MD5, SHA-1,
SHA-256: every exact signal) and checks exact and known-good matches *before*
any decoding, then decodes once per distinct content (PDQ, pHash) and matches
perceptually; what is hashed, under which floors, is ``triage.hashmatch.
policy``'s rule.

What a worker keeps between tasks (open evidence handles, the loaded hash
sets and their index, the decoded-hash cache, the devices the driver has
stopped) is one ``WorkerState``: installed on each Dask worker by the
runner's plugin, with a ``setup`` and a ``teardown``; made on first use
elsewhere (tests, the sync runner installs its own).
"""

from __future__ import annotations

import io
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Generic, TypeVar

from triage.errors import EvidenceError, HashSetError, MediaError
from triage.hashmatch.hashset import HashSet
from triage.hashmatch.kernels import one_blas_thread
from triage.hashmatch.matcher import Matcher
from triage.hashmatch.policy import (
    HashPolicy,
    PictureOutcome,
    Unhashed,
    VideoOutcome,
    with_picture,
    with_video,
)
from triage.ingest.archives import ArchiveLimits
from triage.ingest.carve import carve, decodable
from triage.ingest.classify import classify
from triage.ingest.content import (
    iter_chunks,
    open_record,
    read_record,
    record_unreadable,
)
from triage.ingest.evidence import (
    DAMAGED,
    Unreadable,
    damage_records,
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
from triage.scan.walk import Chunk

#: Images up to this size are read whole and decoded; larger media (and all
#: video) are hashed as a stream (exact digests only) so memory stays bounded.
DEFAULT_MAX_DECODE_BYTES = 64 << 20

# -- records passed to workers and back ---------------------------------------


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
    # Expanders not used (by name): ``inner_sources()`` for a scan without
    # the inner sources (``triage scan --no-inner-sources``).
    expanders_off: frozenset[str] = frozenset()
    # Videos: key frames only (the --stop-after triage pass), not vPDQ's
    # one frame a second.
    keyframes: bool = False


@dataclass(frozen=True, slots=True)
class MediaItem:
    """A media item found in a chunk, with its hashes."""

    record: FileRecord
    hashes: MediaHash
    known_good: bool = False


@dataclass(frozen=True, slots=True)
class ChunkTaskResult:
    """What a task on one stored chunk of one device hands back."""

    device_id: str
    chunk_key: str


@dataclass(frozen=True, slots=True)
class ChunkResult(ChunkTaskResult):
    """What ``process_chunk`` found: media and their hashes, matches, skips."""

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
class RematchResult(ChunkTaskResult):
    """Matches of a stored chunk against other hash sets, from stored hashes."""

    matches: tuple[Match, ...]
    needs_reading: bool  # an item once excluded as known-good must now be decoded


# -- what a worker keeps between tasks ----------------------------------------

_HANDLE_CACHE_SIZE = 4
_DIGEST_CACHE_SIZE = 4096
#: Videos' frame hashes kept per worker: a video's are up to a few MB (3,600
#: frames with their dihedral variants), so few are kept.
_VIDEO_CACHE_SIZE = 16
#: What a content's decoding gave: its hashes, or why there are none.
Perceptual = PictureOutcome


K = TypeVar("K")
V = TypeVar("V")


class Recent(Generic[K, V]):
    """The values of the last ``size`` keys used (the least recently used
    go first)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        hit = self._values.get(key)
        if hit is not None:
            self._values.move_to_end(key)
        return hit

    def put(self, key: K, value: V) -> None:
        self._values[key] = value
        self._values.move_to_end(key)
        while len(self._values) > self.size:
            self._values.popitem(last=False)

    def clear(self) -> None:
        self._values.clear()

    def __len__(self) -> int:
        return len(self._values)


#: What a video's decode depends on besides its bytes: (MD5, key frames
#: only, frame cap, dihedral variants).
VideoKey = tuple[str, bool, int, bool]


class WorkerState:
    """A worker process's caches and stop signals, kept between tasks.

    * open device handles (LRU, a few: a chunk of the same device follows);
    * the matcher of the scan's hash sets (loaded once, keyed by path and
      digest; one generation of sets at a time);
    * md5 -> what decoding that content gave: identical content is decoded
      once per worker, across chunks and devices (pictures; and videos, with
      the options their frames depend on, a few at a time);
    * ``stopped``: devices the driver has stopped early, as (scan token,
      device id), so that a chunk of such a device still running gives up at
      its next item instead of decoding on for nothing (its result would be
      dropped: the driver cancels it). The token keeps scans that share a
      cluster apart.
    """

    def __init__(self) -> None:
        self.handles: OrderedDict[tuple[str, str], tuple[ExitStack, Any]] = (
            OrderedDict()
        )
        self.matchers: dict[tuple[tuple[str, str], ...], Matcher] = {}
        self.perceptual: Recent[str, Perceptual] = Recent(_DIGEST_CACHE_SIZE)
        self.videos: Recent[VideoKey, VideoOutcome] = Recent(_VIDEO_CACHE_SIZE)
        self.stopped: set[tuple[str | None, str]] = set()

    def setup(self) -> None:
        """Make this process fit to hash: one BLAS thread (a worker is one
        core's worth of work)."""
        one_blas_thread()

    def teardown(self) -> None:
        """Close every cached handle and forget everything kept."""
        self.close_caches()
        self.stopped.clear()

    def close_caches(self) -> None:
        """Close every cached evidence handle and forget loaded hash sets and
        decoded hashes (a cold worker); stop signals stay."""
        while self.handles:
            _, (stack, _) = self.handles.popitem()
            stack.close()
        self.matchers.clear()
        self.perceptual.clear()
        self.videos.clear()

    def handle(self, evidence: str, device_id: str) -> Any:
        """An open device handle from the cache (LRU, a few entries)."""
        key = (evidence, device_id)
        hit = self.handles.get(key)
        if hit is not None:
            self.handles.move_to_end(key)
            return hit[1]
        stack = ExitStack()
        try:
            handle = stack.enter_context(open_device(evidence, device_id))
        except BaseException:
            stack.close()
            raise
        self.handles[key] = (stack, handle)
        while len(self.handles) > _HANDLE_CACHE_SIZE:
            _, (old, _) = self.handles.popitem(last=False)
            old.close()
        return handle

    def matcher(
        self, hashsets: Sequence[HashSetRef], index_cache: str | None = None
    ) -> Matcher:
        """The matcher for these hash sets, loaded once per worker.

        Raises:
            HashSetError: a set file changed since the scan started.
        """
        key = (
            *((h.path, h.digest) for h in hashsets),
            ("index_cache", str(index_cache)),
        )
        matcher = self.matchers.get(key)
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
            self.matchers.clear()  # one generation of sets per worker is enough
            self.matchers[key] = matcher
        return matcher

    def cached_perceptual(self, md5: str) -> Perceptual | None:
        return self.perceptual.get(md5)

    def remember_perceptual(self, md5: str, value: Perceptual) -> None:
        self.perceptual.put(md5, value)


_installed: WorkerState | None = None


def install_worker_state(state: WorkerState) -> None:
    """Make ``state`` the one this process's tasks use (a runner's set-up)."""
    global _installed
    _installed = state


def uninstall_worker_state(state: WorkerState) -> None:
    """Tear ``state`` down; tasks no longer use it (if they did)."""
    global _installed
    if _installed is state:
        _installed = None
    state.teardown()


def worker_state() -> WorkerState:
    """The state this process's tasks use: the installed one, else one set
    up now (a task called directly, as in a test)."""
    if _installed is None:
        state = WorkerState()
        state.setup()
        install_worker_state(state)
        return state
    return _installed


def close_worker_caches() -> None:
    """Close every cached evidence handle and forget loaded hash sets."""
    worker_state().close_caches()


def stop_chunks(token: str, device_id: str) -> None:
    """Worker side: chunks of ``device_id`` in scan ``token`` give up."""
    worker_state().stopped.add((token, device_id))


def forget_stopped(token: str) -> None:
    """Worker side: drop what ``stop_chunks`` noted for scan ``token``."""
    stopped = worker_state().stopped
    stopped.difference_update({k for k in stopped if k[0] == token})


def _cached_perceptual(md5: str) -> Perceptual | None:
    return worker_state().cached_perceptual(md5)


def _remember_perceptual(md5: str, value: Perceptual) -> None:
    worker_state().remember_perceptual(md5, value)


# -- the work -----------------------------------------------------------------


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


@lru_cache(maxsize=8)
def _policy(params: ScanParams) -> HashPolicy:
    """The per-item hashing rule for a scan with ``params``."""
    return HashPolicy(
        decode=params.decode,
        max_decode_bytes=params.max_decode_bytes,
        keyframes=params.keyframes,
    )


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
) -> Perceptual:
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
    if data is None and policy.decodes_video(record.media_type):
        _video(policy, handle, record, plain, out)
        return
    if data is None:
        out.media.append(MediaItem(record, plain))
        return
    todo = decodable(record, data)
    # A partial JPEG decodes with its end marker added: not the same decode
    # as a file of the same bytes, so not the same cache entry.
    key = plain.md5 if todo is data else f"{plain.md5}+eoi"
    outcome = _picture(policy, key, todo, record, out)
    if isinstance(outcome, Unhashed):
        out.skipped.append(Skipped.at_file(record, Stage.HASH, outcome.reason))
        out.media.append(MediaItem(record, plain))
        return
    hashes, _ = with_picture(plain, outcome)
    out.media.append(MediaItem(record, hashes))


def _video(
    policy: HashPolicy,
    handle: Any,
    record: FileRecord,
    plain: MediaHash,
    out: _ChunkOut,
) -> None:
    """Decode a video's sampled frames from its own stream (an archive
    member, which cannot seek, from its bytes in memory) and keep them; the
    same content with the same options is decoded once per worker."""
    if record.archive_path and record.size > _video_member_limit(policy):
        reason = (
            f"video of {record.size} bytes inside an archive is larger "
            "than the decode limit: exact digests only"
        )
        out.skipped.append(Skipped.at_file(record, Stage.HASH, reason))
        out.media.append(MediaItem(record, plain))
        return
    videos = worker_state().videos
    key = None
    if plain.md5 is not None:
        key = (plain.md5, policy.keyframes, policy.max_video_frames, policy.dihedral)
    outcome = videos.get(key) if key is not None else None
    if outcome is None:
        with ExitStack() as stack:
            if record.archive_path:
                stream: Any = io.BytesIO(read_record(handle, record))
            else:
                stream = stack.enter_context(open_record(handle, record))
            outcome = policy.video(stream, where=record.display_path)
        out.decoded += 1
        if key is not None:
            videos.put(key, outcome)
    hashes, unhashed = with_video(plain, outcome)
    if unhashed is not None:
        out.skipped.append(Skipped.at_file(record, Stage.HASH, unhashed.reason))
    elif not isinstance(outcome, Unhashed) and outcome.notes:
        # One row per item and stage: the notes together (a partial result).
        reason = "; ".join(outcome.notes)
        out.skipped.append(Skipped.at_file(record, Stage.HASH, reason))
    out.media.append(MediaItem(record, hashes))


def _video_member_limit(policy: HashPolicy) -> int:
    """Largest video inside an archive decoded (it is held in memory)."""
    return policy.max_decode_bytes or DEFAULT_MAX_DECODE_BYTES


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
    local: dict[str, Perceptual] = field(default_factory=dict)
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
    state = worker_state()
    matcher = state.matcher(hashsets, params.index_cache)
    handle = state.handle(chunk.evidence, chunk.device_id)
    out = _ChunkOut()
    out.skipped.extend(handle.damage_skips())  # normally none: taken below
    found: Iterable[FileRecord | Skipped]
    if chunk.carve_ranges:
        found = _carve_ranges(handle, chunk)
    else:
        limits = ArchiveLimits(expanders_off=params.expanders_off)
        found = classify(handle, chunk.records, limits=limits)
    stopped = (stop_token, chunk.device_id)
    for item in found:
        if stopped in state.stopped:
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
            yield from carve(
                handle,
                chunk.partition,
                offset,
                length,
                reach=extra,
                free=chunk.carve_free or None,
            )
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
    matcher = worker_state().matcher(hashsets, params.index_cache)
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
