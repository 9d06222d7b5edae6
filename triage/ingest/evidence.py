"""Open seized-device images, read-only, whatever container holds them.

Every container (raw, split raw, EWF, VMDK, VHD/VHDX, QCOW2) is a module of
``triage.ingest.containers`` that registers once in ``CONTAINERS``: a name,
how to recognise it (signature first, file name only for raw segments), how
to find its segments from the first one, and how to open them as a flat
``Reader``. ``open_device`` wraps the reader in a
``DeviceHandle``, through which every backend reads any container the same
way (the Sleuth Kit adapter lives in ``triage.ingest._sleuthkit``); the
handle also counts the bytes read, which the ingest benchmark reports.

Evidence is never written: raw segments are opened with ``open(path, "rb")``,
the libyal libraries (libewf, libvmdk, libvhdi, libqcow) with mode ``"r"``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple

from triage.errors import EvidenceError
from triage.ingest.containers import CONTAINERS, HEAD_BYTES, Container, Reader
from triage.ingest.containers.base import clean_error, is_later_segment, split_names
from triage.records import Device, Skipped, Stage
from triage.resources import Closing

__all__ = [
    "CONTAINERS",
    "DAMAGED",
    "DAMAGE_REASON",
    "UNACQUIRED_REASON",
    "Container",
    "DeviceHandle",
    "Reader",
    "Unreadable",
    "ZeroRuns",
    "damage_records",
    "discover_segments",
    "find_evidence",
    "identify",
    "is_device_folder",
    "open_device",
    "register",
    "unreadable_records",
]

#: Add a container format (names are unique): ``CONTAINERS.register``.
register = CONTAINERS.register


def identify(path: Path | str) -> Container:
    """The container format of ``path``, by signature (name only for split raw).

    Raises:
        EvidenceError: missing, empty, unreadable or not a disk image.
    """
    path = Path(path)
    if path.is_dir():
        return _folder_kind(path)
    try:
        with open(path, "rb") as fh:
            # st_size is 0 for a block device (a write-blocked disk): seek.
            size = fh.seek(0, os.SEEK_END)
            fh.seek(0)
            head = fh.read(HEAD_BYTES)
    except FileNotFoundError as exc:
        raise EvidenceError(f"{path}: no such evidence file") from exc
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if size == 0:
        raise EvidenceError(f"{path}: empty file (0 bytes), not a disk image")
    for container in CONTAINERS.values():
        if not container.folder and container.matches(path, head, size):
            return container
    raise EvidenceError(
        f"{path}: not a disk image: no known container signature "
        f"({', '.join(CONTAINERS)}) and its size ({size} bytes) is not a "
        "whole number of 512-byte sectors"
    )


def _folder_kind(path: Path) -> Container:
    """What a folder given as one device is (an iTunes backup, else a folder
    of files), by its structure."""
    for container in CONTAINERS.values():
        if container.folder and container.matches(path, b"", 0):
            return container
    raise EvidenceError(f"{path}: is a folder, not an evidence file")


def is_device_folder(path: Path | str) -> bool:
    """Whether a folder is one device by its structure alone (an iTunes
    backup), rather than a folder of evidence files."""
    path = Path(path)
    return path.is_dir() and any(
        c.folder and c.name != "folder" and c.matches(path, b"", 0)
        for c in CONTAINERS.values()
    )


def discover_segments(path: Path | str) -> tuple[str, ...]:
    """Every segment file of the evidence whose first segment is ``path``."""
    path = Path(path).absolute()
    return identify(path).segments(path)


_RAW_SUFFIXES = frozenset({".dd", ".raw", ".img", ".bin", ".iso", ".dmg", ".ima"})


def find_evidence(folder: Path | str) -> list[Path]:
    """Evidence files under ``folder`` (first segments only), sorted.

    A file counts when it has a container signature, or a raw/split-raw name
    (``.dd``, ``.raw``, ``.img``, ``.001`` ...) and a whole number of sectors,
    so notes and hash lists beside the images are not mistaken for disks.
    A file its container passes over (``Container.passed_over``: a .docx,
    .odt or .apk is a zip, not a phone extraction) is not a device here.
    """
    found: list[Path] = []
    backups: list[Path] = []
    for path in sorted(Path(folder).rglob("*")):
        if any(b in path.parents for b in backups):
            continue  # a file of a backup found above
        if is_device_folder(path):
            backups.append(path)
            found.append(path)
            continue
        if not path.is_file() or is_later_segment(path):
            continue
        try:
            container = identify(path)
        except EvidenceError:
            continue
        if container.name == "raw" and path.suffix.lower() not in _RAW_SUFFIXES:
            if split_names(path) is None:
                continue
        if container.passed_over is not None and container.passed_over(path):
            continue  # a document, not a device (it opens when named)
        found.append(path)
    return found


# --- the handle ---------------------------------------------------------------


class ZeroRuns:
    """Long runs of zero bytes seen in what was read, merged as reads follow
    one another (Sleuth Kit's FAT orphan search reads all free space in 64
    KiB blocks, in order).

    Only runs of at least ``min_run`` bytes are kept, and at most
    ``max_runs`` of them (a few MB of memory at worst); reads that are not
    all zeros are ignored. What it reports is what the reader gave: a damaged
    E01 chunk, which libewf reads as zeros, is zeros here too (and reported
    as damage by the reader).
    """

    def __init__(self, min_run: int = 1 << 20, max_runs: int = 1 << 16) -> None:
        self.min_run = min_run
        self.max_runs = max_runs
        self._done: list[tuple[int, int]] = []
        self._start = self._end = -1

    def saw(self, offset: int, data: bytes) -> None:
        """Note a read of ``data`` at ``offset``."""
        if not data or data != _zeros(len(data)):
            return
        end = offset + len(data)
        if self._start <= offset <= self._end:
            self._end = max(self._end, end)
            return
        self._close()
        self._start, self._end = offset, end

    def _close(self) -> None:
        if self._end - self._start >= self.min_run and len(self._done) < self.max_runs:
            self._done.append((self._start, self._end))
        self._start = self._end = -1

    def runs(self) -> list[tuple[int, int]]:
        """The runs so far, (start, end) absolute, sorted and disjoint."""
        found = list(self._done)
        if self._end - self._start >= self.min_run:
            found.append((self._start, self._end))
        merged: list[tuple[int, int]] = []
        for start, end in sorted(found):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged


@lru_cache(maxsize=8)
def _zeros(size: int) -> bytes:
    return bytes(size)


class DeviceHandle(Closing):
    """An open device: its ``Device`` record and a counting reader.

    Use as a context manager. Every read (``read``, and the filesystem and
    volume backends' reads through ``read_media``) is counted, and long runs
    of zeros in it are noted once ``watch_zeros`` is called. ``cache`` holds
    what backends parse once per device (the Sleuth Kit image adapter, one
    opened filesystem per partition offset) so walking and reading share
    it; it is dropped on close.
    """

    def __init__(self, device: Device, reader: Reader) -> None:
        self.device = device
        self._reader = reader
        self.cache: dict[object, Any] = {}
        self._gaps: list[tuple[int, int]] | None = None
        self._bytes_read = 0
        self._read_error: str | None = None
        self._zero_runs: ZeroRuns | None = None

    @property
    def size(self) -> int:
        return self._reader.size

    @property
    def bytes_read(self) -> int:
        """Bytes read from the evidence through the backends and ``read``."""
        return self._bytes_read

    def read_media(self, offset: int, size: int) -> bytes:
        """Media bytes by absolute offset, as the container gives them.

        For backends whose library reads through a callback (Sleuth Kit):
        the container's ``OSError`` passes through, and its message is kept
        for ``take_read_error``, since the library reports it in vaguer
        words of its own.
        """
        try:
            data = self._reader.read(offset, size)
        except OSError as exc:
            self._read_error = f"cannot read {size} bytes at offset {offset}: " + (
                clean_error(exc)
            )
            raise
        self._bytes_read += len(data)
        if self._zero_runs is not None:
            self._zero_runs.saw(offset, data)
        return data

    def read(self, offset: int, size: int) -> bytes:
        """Read media bytes by absolute offset (short at the end of the media).

        Raises:
            EvidenceError: the container could not deliver the bytes.
        """
        try:
            return bytes(self.read_media(offset, size))
        except OSError as exc:
            raise EvidenceError(
                f"{self.device.device_id}: {self.take_read_error() or exc}"
            ) from exc

    def watch_zeros(self) -> ZeroRuns:
        """From now on, note long runs of zeros in what is read through this
        handle (Sleuth Kit's reads and ``read``), so that a later pass over
        the same bytes (carving free space the walk has read) can leave them
        out."""
        if self._zero_runs is None:
            self._zero_runs = ZeroRuns()
        return self._zero_runs

    def take_damage(self) -> list[tuple[int, int]]:
        """Byte ranges (start, end) read since the last call that the
        container knows are damaged (E01 chunks failing their checksum, which
        read as zeros). Empty for containers that cannot tell."""
        take = getattr(self._reader, "take_damage", None)
        return take() if take is not None else []

    def damage_within(
        self, extents: Sequence[tuple[int, int]]
    ) -> list[tuple[int, int]]:
        """The damaged chunks found so far that lie in ``extents`` (absolute
        byte ranges): a read of those bytes, even one Sleuth Kit served from
        its cache, got zeros there."""
        within = getattr(self._reader, "damage_within", None)
        return within(extents) if within is not None else []

    def damage_skips(self) -> list[Skipped]:
        """``take_damage`` as ``Skipped`` records, one per damaged chunk."""
        return damage_records(self.device.device_id, self.take_damage())

    def acquisition_gaps(self) -> list[tuple[int, int]]:
        """Byte ranges of the original device the acquisition could not read,
        as the image records them (E01 error2 section); they hold zeros.
        Empty for containers that record none."""
        if self._gaps is None:
            gaps = getattr(self._reader, "acquisition_gaps", None)
            self._gaps = gaps() if gaps is not None else []
        return self._gaps

    def acquisition_skips(self) -> list[Skipped]:
        """``acquisition_gaps`` as ``Skipped`` records (stage ``acquisition``)."""
        return unreadable_records(
            self.device.device_id,
            [Unreadable(lo, hi, UNACQUIRED) for lo, hi in self.acquisition_gaps()],
        )

    def has_unreadable(self) -> bool:
        """Whether any part of the device is known to read as zeros in place
        of its content (damaged chunks found so far, or acquisition gaps)."""
        return bool(self.acquisition_gaps() or self.damage_within([(0, self.size)]))

    def unreadable_within(self, extents: Sequence[tuple[int, int]]) -> list[Unreadable]:
        """The damaged chunks (found so far) and acquisition gaps in
        ``extents`` (absolute byte ranges), clipped to them."""
        out = [Unreadable(lo, hi, DAMAGED) for lo, hi in self.damage_within(extents)]
        for lo, hi in self.acquisition_gaps():
            for start, end in extents:
                if lo < end and start < hi:
                    out.append(Unreadable(max(lo, start), min(hi, end), UNACQUIRED))
        return sorted(set(out))

    def take_read_error(self) -> str | None:
        """The last container read error (then forgotten), if any.

        Sleuth Kit reports a failed read of the container in its own words;
        this is what the container library actually said.
        """
        message, self._read_error = self._read_error, None
        return message

    def close(self) -> None:
        self.cache.clear()
        self._reader.close()


DAMAGE_REASON = (
    "E01 chunk fails its checksum, or a VMDK/VHD/QCOW2 block cannot be read "
    "(damaged image): read as zeros"
)
UNACQUIRED_REASON = (
    "the acquisition could not read these sectors of the original device (the "
    "E01 records it): the image holds zeros there, not their content"
)
DAMAGED, UNACQUIRED = "damaged image chunk", "not acquired"


class Unreadable(NamedTuple):
    """A byte range of the device whose content the image cannot give: a
    ``DAMAGED`` chunk or an ``UNACQUIRED`` gap. Both read as zeros."""

    start: int
    end: int
    kind: str

    def __str__(self) -> str:
        return f"bytes {self.start}-{self.end - 1} ({self.kind})"


def unreadable_records(device_id: str, ranges: Sequence[Unreadable]) -> list[Skipped]:
    """One ``Skipped`` per range: stage ``evidence`` for a damaged chunk,
    ``acquisition`` for a gap, location ``bytes A-B``."""
    return [
        Skipped.at_bytes(device_id, u.start, u.end, Stage.EVIDENCE, DAMAGE_REASON)
        if u.kind == DAMAGED
        else Skipped.at_bytes(
            device_id, u.start, u.end, Stage.ACQUISITION, UNACQUIRED_REASON
        )
        for u in ranges
    ]


def damage_records(device_id: str, ranges: Sequence[tuple[int, int]]) -> list[Skipped]:
    """One ``Skipped`` (stage ``evidence``, location ``bytes A-B``) per
    damaged range. The reason does not say what was reading, so the row is
    the same whichever reader found it first (resumed scans stay equal)."""
    return unreadable_records(
        device_id, [Unreadable(lo, hi, DAMAGED) for lo, hi in ranges]
    )


def open_device(path: Path | str, device_id: str | None = None) -> DeviceHandle:
    """Open evidence read-only, whatever its container, as a ``DeviceHandle``.

    ``Device.stored_digest`` holds the digests recorded in an E01
    ("md5:<hex> sha1:<hex>", space-separated) when present.

    Raises:
        EvidenceError: naming the file and the container, for anything that
            will not open (missing segment, truncated E01, no parent, ...).
    """
    path = Path(path).absolute()
    container = identify(path)
    segments = container.segments(path)
    try:
        reader = container.open(segments)
    except EvidenceError:
        raise
    except (OSError, RuntimeError, ValueError) as exc:
        raise EvidenceError(
            f"{path}: cannot open as {container.description}: {clean_error(exc)}"
        ) from exc
    device = Device(
        device_id=device_id or path.name,
        segments=tuple(segments),
        container=container.name,
        size=reader.size,
        stored_digest=(
            container.stored_digest(reader) if container.stored_digest else None
        ),
        details=container.describe(segments) if container.describe else None,
    )
    return DeviceHandle(device, reader)
