"""Large reads of a FAT file straight from the device, by its clusters.

Sleuth Kit reads a file of a FAT file system through its own image layer
and copies the bytes twice on the way (into its buffer, then into a Python
bytes object): a 47 MiB file on FAT32 read in 1 MiB pieces took 70 ms of
CPU time, against 16 ms for the same bytes read from the device by the
file's runs (``python benchmarks/bench_photorec.py``'s FAT32 image, where
the in-file signature scan reads its one large live file; figures in
benchmarks/HISTORY.md). On FAT a file's bytes are its clusters' bytes, in
order, as far as its size: no sparse runs, no initialised size (exFAT has
one, its valid data length: not read here), no compression. So a read of
at least ``DIRECT_MIN`` bytes maps the file's offsets through the data runs
Sleuth Kit built for it (a live file's FAT chain; for a deleted file, the
clusters Sleuth Kit assumes it had) and reads those bytes of the device.

Where that might not give Sleuth Kit's bytes, Sleuth Kit reads as before:
a run flagged (sparse, filler), runs that do not follow on from offset 0
or do not cover the file's size, a run past the file system's last block,
a file with more than one attribute, and a device read that fails or comes
back short (Sleuth Kit then reports it in its own words).
"""

from __future__ import annotations

import bisect
from typing import Any

from triage.errors import EvidenceError
from triage.ingest.evidence import DeviceHandle

__all__ = ["DIRECT_MIN", "DIRECT_TYPES", "FatRuns"]

#: File systems whose files are read this way.
DIRECT_TYPES = frozenset({"fat12", "fat16", "fat32"})
#: Reads smaller than this go through Sleuth Kit (a header sniff: the runs
#: are not worth looking up for it).
DIRECT_MIN = 64 << 10


class FatRuns:
    """``read(offset, size)`` of one FAT file from the device by its runs;
    None where Sleuth Kit must read instead (see the module docstring). The
    runs are looked up at the first read."""

    def __init__(
        self,
        handle: DeviceHandle,
        tsk_file: Any,
        size: int,
        fs_offset: int,
        block: tuple[int, int],
    ) -> None:
        self._handle, self._file, self._size = handle, tsk_file, size
        self._base = fs_offset
        self._block_size, self._blocks = block
        self._starts: list[int] | None = None  # file offset of each run
        self._where: list[int] = []  # device offset of each run
        self._usable = True

    def _load(self) -> bool:
        """Whether the runs can stand for Sleuth Kit's read (looked up once)."""
        if self._starts is not None or not self._usable:
            return self._usable
        self._usable = False
        attrs = list(self._file)
        if len(attrs) != 1:
            return False
        starts, where, blocks = [], [], 0
        for run in attrs[0]:
            offset, addr, length = int(run.offset), int(run.addr), int(run.len)
            if int(run.flags) or offset != blocks or length <= 0:
                return False
            if addr + length > self._blocks:
                return False
            starts.append(blocks * self._block_size)
            where.append(self._base + addr * self._block_size)
            blocks += length
        if blocks * self._block_size < self._size:
            return False
        self._starts, self._where, self._usable = starts, where, True
        return True

    def read(self, offset: int, size: int) -> bytes | None:
        """``size`` bytes of the file at ``offset`` (within its size), or
        None: Sleuth Kit must read them."""
        if size < DIRECT_MIN or not self._load() or self._starts is None:
            return None
        parts = []
        index = bisect.bisect_right(self._starts, offset) - 1
        left, at = size, offset
        while left > 0:
            ends = (
                self._starts[index + 1] if index + 1 < len(self._starts) else self._size
            )
            want = min(left, ends - at)
            if want <= 0:
                return None
            device_at = self._where[index] + at - self._starts[index]
            try:
                data = self._handle.read(device_at, want)
            except (EvidenceError, OSError):
                return None
            if len(data) != want:
                return None
            parts.append(data)
            at, left, index = at + want, left - want, index + 1
        return parts[0] if len(parts) == 1 else b"".join(parts)
