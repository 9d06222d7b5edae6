"""Small typed records that pass between the stages.

Records are *addresses*, not handles: they say where a thing is (evidence path,
partition offset, inode, path inside the filesystem, member path inside an
archive, byte offset of a carved item) so they pickle cheaply to Dask workers,
which reopen the evidence themselves. Standard library only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Source(StrEnum):
    """How an item was found."""

    FILESYSTEM = "filesystem"  # a file (allocated or deleted) in a filesystem
    ARCHIVE = "archive"  # a member of an archive (possibly nested)
    CARVED = "carved"  # recovered by signature from unallocated/unpartitioned space
    # A picture inside another file that is not an archive: a JPEG's EXIF
    # thumbnail, a PDF's image, an SQLite BLOB ("!exif-thumbnail", "!object 12").
    EMBEDDED = "embedded"
    # A picture kept by a thumbnail cache (thumbcache_*.db, Thumbs.db, Android
    # .thumbdata/imgcache): the system saw the original, which may be gone.
    THUMBNAIL_CACHE = "thumbnail-cache"


@dataclass(frozen=True, slots=True)
class Device:
    """One piece of evidence: a disk image made of one or more segment files."""

    device_id: str
    segments: tuple[str, ...]  # absolute paths, first segment first
    container: str  # registered container name: "raw", "split", "ewf", ...
    size: int  # logical size of the media in bytes
    stored_digest: str | None = None  # e.g. "md5:..." recorded inside an E01

    @property
    def evidence(self) -> str:
        return self.segments[0]


@dataclass(frozen=True, slots=True)
class Partition:
    """A region of a device holding (or not holding) a filesystem.

    ``index`` is the position in the volume system listing (0 for a bare
    filesystem with no partition table). Unallocated (unpartitioned) regions are
    reported with ``allocated=False`` so they can be carved.
    """

    device_id: str
    evidence: str
    index: int
    offset: int  # bytes from the start of the device
    length: int  # bytes
    description: str
    allocated: bool = True
    fs_type: str | None = None  # "ntfs", "fat32", "ext4", ... once detected


@dataclass(frozen=True, slots=True)
class FileRecord:
    """One regular file, archive member or carved item on a device."""

    device_id: str
    evidence: str  # first segment of the evidence
    partition_index: int
    partition_offset: int  # bytes from the start of the device
    path: str  # fls -r -p style: "dir/sub/name" (no leading slash)
    size: int
    source: Source = Source.FILESYSTEM
    inode: int | None = None  # inode / MFT entry; None for carved items
    deleted: bool = False
    orphan: bool = False  # found under $OrphanFiles
    # A deleted name whose inode now belongs to another file (fls "(realloc)"):
    # size, times and content are that file's, so it is listed, never hashed.
    reallocated: bool = False
    mtime: float | None = None  # POSIX seconds, None where the FS has none
    atime: float | None = None
    ctime: float | None = None  # metadata change time
    crtime: float | None = None  # creation time
    media_type: str | None = None  # MIME type sniffed from content, None if not media
    archive_path: tuple[str, ...] = ()  # member names, outermost archive first
    carve_offset: int | None = None  # absolute byte offset in the device, if carved
    # A carved item that is not one contiguous range: its absolute (start, end)
    # pieces in order (ext2/3 indirect blocks left out, a JPEG's second
    # fragment). Empty: the item is ``size`` bytes at ``carve_offset``.
    carve_runs: tuple[tuple[int, int], ...] = ()
    # Why a carved item is not a whole file ("partial: ..."), or that it is
    # the thumbnail of a broken picture carved on its own; None: whole.
    carve_note: str | None = None

    @property
    def address(self) -> str:
        """A stable key, unique within a device, used to store and resume work."""
        if self.source is Source.CARVED:
            base = f"p{self.partition_index}:carve@{self.carve_offset}"
        else:
            base = f"p{self.partition_index}:i{self.inode}:{self.path}"
        if self.archive_path:
            base += "!" + "!".join(self.archive_path)
        return base

    @property
    def display_path(self) -> str:
        """What a person reads: the path, with archive members after ``!``."""
        if self.source is Source.CARVED:
            return f"<carved @ {self.carve_offset}>"
        return "!".join((self.path, *self.archive_path))

    @property
    def is_media(self) -> bool:
        return self.media_type is not None


class Stage(StrEnum):
    """Which step of the work a problem stopped."""

    INGEST = "ingest"  # listing a filesystem, classifying, expanding an archive
    VOLUME = "volume"  # the volume system, or a partition's filesystem, will not open
    FILESYSTEM = "filesystem"  # a filesystem walk stopped part-way
    CARVE = "carve"  # free space could not be found or read for carving
    HASH = "hash"  # an item could not be read, decoded or hashed
    UNREADABLE = "unreadable"  # an item's bytes include what the image cannot give
    MATCH = "match"  # one exact hash of an item agrees with a set entry, one not
    EVIDENCE = "evidence"  # an E01 chunk failing its checksum (reads as zeros)
    ACQUISITION = "acquisition"  # sectors the acquisition could not read


class Scope(StrEnum):
    """What a ``Location`` points at; each renders as triage always wrote it."""

    FILE = "file"  # a file, archive member or carved item: "path!member"
    DEVICE = "device"  # the evidence file itself: its path
    BYTES = "bytes"  # bytes of the device: "bytes 512-1023" (inclusive end)
    VOLUME = "volume"  # a volume-system entry: "partition 2 @ 1048576 (NTFS)"
    FILESYSTEM = "filesystem"  # in partition 2's filesystem: "partition 2:/a/b"
    PARTITION = "partition"  # a partition or its free space: "p2:unallocated@0+4096"
    POSITION = "position"  # one point of a partition's region: "p2 @ 40960"


@dataclass(frozen=True, slots=True)
class Location:
    """Where a problem is: structured, so nothing has to parse it back.

    ``partition`` is the volume-system index; ``path`` the display path of a
    file (or the evidence file); ``inner`` a place inside it (archive member
    path, a folder of a filesystem, "unallocated", a volume's description,
    later "entry 7"); ``start``/``end`` a byte range of the device (``end``
    exclusive) or one offset (``end`` None). ``str()`` gives the text shown in
    ``ls``, the queue, the report and exports.
    """

    scope: Scope
    partition: int | None = None
    path: str | None = None
    inner: str | None = None
    start: int | None = None
    end: int | None = None

    def __str__(self) -> str:
        inner = self.inner
        if self.scope is Scope.BYTES:
            return f"bytes {self.start}-{(self.end or 0) - 1}"
        if self.scope is Scope.VOLUME:
            desc = f" ({inner})" if inner else ""
            return f"partition {self.partition} @ {self.start}{desc}"
        place = "" if inner is None else f":{inner}"
        if self.scope is Scope.FILESYSTEM:
            return f"partition {self.partition}{place}"
        if self.scope is Scope.PARTITION:
            text = f"p{self.partition}{place}"
            if self.start is not None and self.end is not None:
                text += f"@{self.start}+{self.end - self.start}"
            return text
        if self.scope is Scope.POSITION:
            return f"p{self.partition} @ {self.start}"
        path = self.path or ""
        return path if inner is None else f"{path}!{inner}"


@dataclass(frozen=True, slots=True)
class Skipped:
    """Something that could not be read or processed, where, and why.

    Nothing is skipped silently: every skip becomes one of these, stored with
    the scan, and shown in the report. Build one with the ``at_*`` helpers.
    """

    device_id: str
    location: Location
    stage: Stage
    reason: str

    @property
    def where(self) -> str:
        """The location as people read it (``ls``, report, exports)."""
        return str(self.location)

    @classmethod
    def at_file(
        cls,
        record: FileRecord,
        stage: Stage,
        reason: str,
        *,
        member: str | None = None,
    ) -> Skipped:
        """A file, archive member or carved item (``member``: a member of it
        that is not a record of its own)."""
        if record.source is Source.CARVED:  # shown as "<carved @ N>"
            path, inner = record.display_path, member
            start = record.carve_offset
            end = None if start is None else start + record.size
            if record.carve_runs:
                end = record.carve_runs[-1][1]
        else:
            path = record.path
            parts = (*record.archive_path, *(() if member is None else (member,)))
            inner = "!".join(parts) if parts else None
            start = end = None
        at = Location(Scope.FILE, record.partition_index, path, inner, start, end)
        return cls(record.device_id, at, stage, reason)

    @classmethod
    def at_path(cls, device_id: str, path: str, stage: Stage, reason: str) -> Skipped:
        """An item known only by its display path."""
        return cls(device_id, Location(Scope.FILE, path=path), stage, reason)

    @classmethod
    def at_device(
        cls, device_id: str, evidence: str, stage: Stage, reason: str
    ) -> Skipped:
        """The evidence as a whole (``evidence``: its first file)."""
        return cls(device_id, Location(Scope.DEVICE, path=evidence), stage, reason)

    @classmethod
    def at_bytes(
        cls, device_id: str, start: int, end: int, stage: Stage, reason: str
    ) -> Skipped:
        """Bytes ``start`` to ``end`` (exclusive) of the device."""
        at = Location(Scope.BYTES, start=start, end=end)
        return cls(device_id, at, stage, reason)

    @classmethod
    def at_volume(
        cls,
        device_id: str,
        index: int,
        offset: int,
        stage: Stage,
        reason: str,
        *,
        description: str = "",
    ) -> Skipped:
        """Volume-system entry ``index`` at byte ``offset`` of the device."""
        at = Location(Scope.VOLUME, index, inner=description or None, start=offset)
        return cls(device_id, at, stage, reason)

    @classmethod
    def at_filesystem(
        cls,
        partition: Partition,
        stage: Stage,
        reason: str,
        *,
        inner: str | None = None,
    ) -> Skipped:
        """The filesystem of ``partition``, or a place in it (a folder path,
        "listing")."""
        at = Location(Scope.FILESYSTEM, partition.index, inner=inner)
        return cls(partition.device_id, at, stage, reason)

    @classmethod
    def at_partition(
        cls,
        partition: Partition,
        stage: Stage,
        reason: str,
        *,
        inner: str | None = None,
        start: int | None = None,
        end: int | None = None,
    ) -> Skipped:
        """``partition`` as the scan cuts it up, or an area of it
        ("unallocated"), optionally bytes ``start`` to ``end`` of the device."""
        at = Location(Scope.PARTITION, partition.index, None, inner, start, end)
        return cls(partition.device_id, at, stage, reason)

    @classmethod
    def at_position(
        cls, partition: Partition, offset: int, stage: Stage, reason: str
    ) -> Skipped:
        """Byte ``offset`` of the device, inside ``partition``'s region."""
        at = Location(Scope.POSITION, partition.index, start=offset)
        return cls(partition.device_id, at, stage, reason)


@dataclass(frozen=True, slots=True)
class PerceptualHash:
    algorithm: str  # registered name: "pdq", "phash", ...
    value: str  # lowercase hex
    variant: str = "original"  # "original", "trimmed", or a dihedral name
    quality: int | None = None  # PDQ quality 0-100


@dataclass(frozen=True, slots=True)
class VideoFrame:
    """One sampled frame of a video, as vPDQ names it: its frame number (0 =
    the first decoded frame), its timestamp in seconds, and its perceptual
    hashes (PDQ "original" with its quality, which is the vPDQ feature; its
    dihedral variants and pHash, to find known pictures shown in the video)."""

    number: int
    timestamp: float
    hashes: tuple[PerceptualHash, ...]

    @property
    def pdq(self) -> PerceptualHash | None:
        """The frame's vPDQ feature: its PDQ "original" value and quality."""
        for h in self.hashes:
            if h.algorithm == "pdq" and h.variant == "original":
                return h
        return None


@dataclass(frozen=True, slots=True, init=False)
class MediaHash:
    """All hashes of one media item.

    ``digests`` holds its exact digests as ``(signal name, lowercase hex)``
    pairs, sorted by name: whichever exact signals were computed (MD5, SHA-1,
    SHA-256, ...). MD5 is also the item's *content key*: the scan caches
    perceptual results by it, the case database indexes media by it and ties
    carved copies to listed files with it, so every item carries one. The
    positional ``md5`` and ``sha1`` arguments are shorthands for those two
    digests; ``digests=`` gives any others.
    """

    address: str  # FileRecord.address
    digests: tuple[tuple[str, str], ...]
    perceptual: tuple[PerceptualHash, ...]
    width: int | None  # of the decoded image, when decoded
    height: int | None
    # A video's sampled frames (vPDQ), in order; () for pictures.
    frames: tuple[VideoFrame, ...]

    def __init__(
        self,
        address: str,
        md5: str | None = None,
        sha1: str | None = None,
        perceptual: tuple[PerceptualHash, ...] = (),
        width: int | None = None,
        height: int | None = None,
        *,
        digests: Iterable[tuple[str, str]] = (),
        frames: Iterable[VideoFrame] = (),
    ) -> None:
        found = {name: value for name, value in digests if value}
        for name, value in (("md5", md5), ("sha1", sha1)):
            if value:
                found[name] = value
        object.__setattr__(self, "address", address)
        object.__setattr__(self, "digests", tuple(sorted(found.items())))
        object.__setattr__(self, "perceptual", tuple(perceptual))
        object.__setattr__(self, "width", width)
        object.__setattr__(self, "height", height)
        object.__setattr__(self, "frames", tuple(frames))

    def digest(self, name: str) -> str | None:
        """The exact digest by signal ``name``, None when not computed."""
        for key, value in self.digests:
            if key == name:
                return value
        return None

    @property
    def md5(self) -> str:
        """The content key (see the class docstring); "" when absent."""
        return self.digest("md5") or ""

    @property
    def sha1(self) -> str:
        return self.digest("sha1") or ""


@dataclass(frozen=True, slots=True)
class Match:
    """A media item matched an entry of a known hash set."""

    address: str  # FileRecord.address
    set_name: str
    set_digest: str
    entry_id: str  # stable id of the entry within the set (e.g. MediaID, line number)
    algorithm: str  # "md5", "sha1", "pdq", "phash", ...
    distance: int  # 0 for cryptographic matches
    category: str | None = None  # as the set says it: "A", "B", "C", "1", ...
    scheme: str | None = None  # "caid", "vics", "nsrl", "local"
    known_good: bool = False  # from a known-good (ignorable) set such as NSRL
    variant: str = "original"  # which query variant matched (dihedral, trimmed)
    # A known video (algorithm "vpdq"): share (0-100) of the item's usable
    # frames found in the known video, and of the known video's frames found
    # in the item.
    item_share: float | None = None
    known_share: float | None = None
    # A known picture shown in a video: when (seconds), the first time.
    at_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class Case:
    """What investigators know about a case, for safeguarding priority."""

    case_id: str
    # lives-with | works-with | regular-contact | none | unknown
    access_to_children: str = "unknown"
    risk_band: str | None = None  # low|medium|high|very-high
    note: str | None = None
