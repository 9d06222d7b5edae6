"""The case database: one SQLite file per case (or batch of cases).

One package, by concern: ``schema`` (the tables), ``migrations`` (older
versions), ``connection`` (open, check, migrate, transactions), ``cases``,
``devices``, ``runs`` (runs, chunks, resume), ``results`` (media,
perceptual hashes, matches, skips) and ``queries`` (what the queue, report,
export and case list read). ``Store`` is all of them; no SQL lives outside
this package.

Only the scan driver (``triage.scan.driver``) writes during a scan; the queue and
report read. SQLite in WAL mode, so readers never block the writer, with
foreign keys on. The schema is versioned in ``meta`` (``schema_version``); a
database of an older version is migrated in place when opened for writing
(version 1 -> 2: ``runs.pid`` added; 2 -> 3: the location columns of
``skipped``, filled once from each row's location text; 3 -> 4:
``media.sha1`` moved into ``digests``; 4 -> 5: ``media.carve_runs`` and
``carve_note`` added; 5 -> 6: ``video_frames`` and the video columns of
``matches``; 6 -> 7: ``devices.details``), in one transaction; a newer
one, or one no migration exists for, is refused with a ``StoreError`` that says which
version it has and which this ``triage`` reads.

Readers (queue, report, export, case list) open it read-only
(``Store(path, read_only=True)``): SQLite refuses any write on that
connection, an older database is read through TEMP views as if migrated
(the file keeps its version), and a database on read-only storage (an
investigator's share) opens too.

Every chunk of work is written in ONE transaction (its media, perceptual
hashes, matches, skips and the ``chunks`` row that says it is done), with
``INSERT OR REPLACE`` on natural keys, so a scan killed at any point and run
again never loses or duplicates a row.

Schema (version 7). Times are POSIX seconds (REAL) unless named ``*_at``,
which are ISO-8601 UTC text. JSON columns hold JSON text.

``meta(key PK, value)``
    ``schema_version`` = "7", ``created_at``, ``created_by`` (tool version).

``cases(case_id PK, access_to_children NOT NULL DEFAULT 'unknown', risk_band,
note, updated_at)``
    What investigators know; ``access_to_children`` is one of
    lives-with|works-with|regular-contact|none|unknown.

``devices(device_id PK, case_id -> cases, evidence, segments JSON, container,
size, stored_digest, status, error, first_hit_seconds, media_count,
updated_at, match_count, skipped_count, bytes_scanned, scan_seconds, details)``
    ``status`` is one of awaiting|scanning|scanned|stopped-early|failed.
    ``container`` names the evidence kind too (``triage.ingest.kinds``);
    ``details`` is what a phone extraction says of the phone ("model=..;
    os=..; extraction=.."), NULL for disk images.
    ``error`` says why a device failed. ``first_hit_seconds``: seconds from the
    start of the device's scan to its first confident match (NULL: none yet).
    ``media_count``/``match_count``/``skipped_count`` are totals kept up to
    date after every chunk (``match_count`` counts distinct matched media
    items, known-good excluded). ``scan_seconds`` is wall time of the last run.

``runs(run_id PK autoincrement, device_id -> devices, tool_version, hashsets
JSON [{name, digest, path, kind}], parameters JSON, host, user, started_at,
finished_at, status, pid)``
    One row per device per ``triage scan``; ``status`` running|scanned|
    stopped-early|failed|interrupted (a row left ``running`` was killed; the
    next scan of the device closes it). ``pid``: the scanning process on
    ``host``, so readers can tell a scan in progress from a killed one
    (``Store.interrupted_devices``; a pid reused by a process that started
    after the run is not taken for it), and a second scan on the same host
    leaves a device alone while its first scan is alive
    (``Store.begin_scan``). ``parameters`` holds the scan's knobs, among
    them ``expanders_off`` (expanders not used: every inner source with
    ``triage scan --no-inner-sources``; no schema change, it is JSON).

``chunks(device_id, chunk_key, run_id -> runs, items, done_at, sets_key,
PK(device_id, chunk_key))``
    A unit of work that is finished. ``chunk_key`` is deterministic
    (``p<partition>:files:<first>+<count>:<digest of addresses>`` or
    ``p<partition>:carve:<offset>+<length>``) so a resumed scan skips it.
    ``sets_key`` identifies the hash sets its media were matched against; a
    later scan with other sets re-matches the stored hashes without re-reading.
    It ends with ``+keyframes`` when the chunk holds videos hashed from their
    key frames only (the ``--stop-after`` pass): a later full scan reads and
    decodes that chunk again (then stores it unmarked); a later key-frame pass
    resumes or re-matches a chunk either way. Chunks without a video hashed
    are stored unmarked by either pass.

``media(device_id, address, path, partition_index, inode, size, source,
deleted, orphan, archive_path JSON, carve_offset, media_type, mtime, atime,
ctime, crtime, md5, width, height, display_path, chunk_key, known_good,
decoded, partition_offset, carve_runs JSON, carve_note,
PK(device_id, address))``
    One row per media item (image/video, by content signature, not by name),
    including deleted files, archive members and carved items. ``source`` is
    ``filesystem``, ``archive``, ``carved``, ``embedded`` (a picture inside a
    file that is not an archive: an EXIF thumbnail, a PDF image object, an
    SQLite BLOB, or a JPEG/PNG found by signature inside any other file,
    ``offset 0x…``, or inside a stream of an OLE document, ``Data offset
    0x…``; its place is the last ``archive_path`` name) or
    ``thumbnail-cache`` (a picture kept by a thumbnail cache: thumbcache_*.db,
    Thumbs.db, Android .thumbdata/imgcache; ``display_path`` ends with its
    entry, e.g. ``…/thumbcache_256.db!entry 7 (1a2b3c4d5e6f7788)``). ``address`` is
    ``FileRecord.address``. ``known_good`` = 1: excluded by a known-good set,
    not decoded. ``decoded`` = 1: perceptual hashes were computed (see
    ``perceptual``); 0 with ``known_good`` = 0 means decoding failed and a
    ``skipped`` row says why. ``partition_offset`` (bytes from the start of
    the device) lets a reader re-open the item without the volume system.
    ``carve_runs`` (JSON ``[[start, end], ...]``, absolute byte ranges, NULL
    for a contiguous item): the pieces of a carved item read one after the
    other (ext2/3 indirect blocks left out, a JPEG's second fragment).
    ``carve_note``: why a carved item is not a whole file (``partial: ...``;
    its perceptual hashes are of what decodes), or ``thumbnail of the broken
    picture at N`` for an EXIF thumbnail carved on its own; NULL: whole.
    ``md5`` is the content key (indexed): identical content is decoded once
    and carved copies are tied to listed files by it.

``digests(device_id, address, algorithm, value, PK(device_id, address,
algorithm))``
    Exact digests (hex) of media rows, one row per exact signal computed
    (``md5``, ``sha1``, ...): a new exact signal needs no new column.

``perceptual(device_id, address, algorithm, variant, value, quality,
PK(device_id, address, algorithm, variant))``
    Perceptual hashes (hex) of media rows: PDQ and pHash, original, dihedral
    and trimmed variants.

``video_frames(device_id, address, frame_number, timestamp, algorithm,
variant, value, quality, PK(device_id, address, frame_number, algorithm,
variant))``
    A video's sampled frames (vPDQ: frame ``n`` when ``n % int(average
    fps) == 0``, or its key frames in a ``--stop-after`` pass), one row per
    hash of a frame: PDQ ``original`` with its quality (the vPDQ feature),
    PDQ's dihedral variants and pHash (to find known pictures shown in the
    video). ``timestamp`` in seconds. A rescan against other sets re-matches
    videos from these rows without decoding; ``media.decoded`` = 1 for a
    video with frames.

``matches(device_id, address, set_name, set_digest, entry_id, algorithm,
variant, distance, category, scheme, known_good, item_share, known_share,
at_seconds, PK(device_id, address, set_digest, entry_id, algorithm,
variant))``
    A media item matched an entry of a hash set. Re-scanning with a new
    version of a set (same name, other digest) replaces that set's rows. A
    known video matched by its frames (``algorithm`` ``vpdq``, ``distance``
    the median of the matched frames' distances) has ``item_share`` and
    ``known_share``: percent of the item's usable frames found in the known
    video, and of the known video's frames found in the item. A known
    picture found in a video's frame has ``at_seconds``, when it is first
    shown. NULL otherwise.

``skipped(device_id, location, stage, reason, scope, partition_index, path,
inner_location, byte_start, byte_end, PK(device_id, location, stage))``
    Everything that could not be read or processed, and why (nothing is
    skipped silently): a ``records.Skipped``. ``stage`` is a ``records.Stage``
    (ingest|volume|filesystem|carve|hash|unreadable|match|evidence|
    acquisition). Where it is, as columns (a ``records.Location``): ``scope``
    (file|device|bytes|volume|filesystem|partition|position), the partition
    index, the display ``path`` of a file (or the evidence file), the
    ``inner_location`` inside it (archive member path, a folder, "listing",
    "unallocated", a volume's description) and the device bytes
    ``byte_start``..``byte_end`` (end exclusive; start only: one offset).
    ``location`` is the text people read, rendered from those columns (e.g.
    ``DCIM/a.jpg``, ``x.zip!b.png``, ``partition 2 @ 1048576 (NTFS)``,
    ``p2:unallocated@0+4096``, ``bytes A-B``: stage ``evidence``, an E01
    chunk failing its checksum; ``acquisition``, sectors the acquisition
    could not read); it is the key and the sort order, never parsed back.
    Version-2 rows are converted once by the migration
    (``legacy_location``): each location text form becomes its columns
    (rendering back to the same text); any other text is a file's display
    path (no partition) or, stage ``volume``, the evidence file.
"""

from __future__ import annotations

from triage.store.devices import DeviceRow
from triage.store.migrations import legacy_location
from triage.store.queries import QueriesMixin
from triage.store.results import (
    ChunkWrite,
    ResultsMixin,
    StoredMedia,
    record_from_row,
    skipped_from_row,
)
from triage.store.runs import RunsMixin
from triage.store.schema import (
    ACCESS_TO_CHILDREN,
    DEVICE_STATUSES,
    LOCATION_COLUMNS,
    SCHEMA_VERSION,
)


class Store(RunsMixin, ResultsMixin, QueriesMixin):
    """The case database at ``path`` (created, with the current schema, if absent).

    Cases, devices, runs and chunks (``RunsMixin`` and its bases), results
    (``ResultsMixin``) and the readers' queries (``QueriesMixin``) over one
    connection.

    Raises:
        StoreError: the file is not a triage database, was written by another
            schema version, or cannot be opened.
    """


__all__ = [
    "ACCESS_TO_CHILDREN",
    "DEVICE_STATUSES",
    "LOCATION_COLUMNS",
    "SCHEMA_VERSION",
    "ChunkWrite",
    "DeviceRow",
    "Store",
    "StoredMedia",
    "legacy_location",
    "record_from_row",
    "skipped_from_row",
]
