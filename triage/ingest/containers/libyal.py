"""Adapter of a libyal handle (pyewf, pyvmdk, pyvhdi, pyqcow) to ``Reader``."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol


class Damage(Protocol):
    """What a container records as unreadable (EWF: ``ewf._EwfErrors``)."""

    def touched(self, start: int, end: int) -> list[tuple[int, int]]: ...

    def known(self, start: int, end: int) -> list[tuple[int, int]]: ...

    def acquisition_gaps(self) -> list[tuple[int, int]]: ...


#: Piece size when a read of a VMDK, VHD or QCOW2 fails part-way: the read
#: is done again in pieces of this size, and only those that fail are zeros.
SALVAGE_PIECE = 4096


class ReadFailures:
    """The byte ranges a container library could not read (a VMDK grain
    table, VHD block map or QCOW2 cluster table pointing nowhere), which
    ``LibyalReader`` hands on as zeros: the same view of damage EWF's
    checksum errors give (``Damage``)."""

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = []

    def add(self, start: int, end: int) -> None:
        if self.ranges and self.ranges[-1][1] == start:
            self.ranges[-1] = (self.ranges[-1][0], end)
        elif (start, end) not in self.ranges:
            self.ranges.append((start, end))

    def touched(self, start: int, end: int) -> list[tuple[int, int]]:
        return self.known(start, end)

    def known(self, start: int, end: int) -> list[tuple[int, int]]:
        return [(lo, hi) for lo, hi in self.ranges if lo < end and start < hi]

    def acquisition_gaps(self) -> list[tuple[int, int]]:
        return []


class LibyalReader:
    """Adapts a libyal handle (pyewf/pyvmdk/pyvhdi/pyqcow) to ``Reader``.

    ``errors``: for EWF, what the image records as unreadable (``Damage``).
    libewf reads a chunk that fails its checksum as zeros; the reader lets it
    (Sleuth Kit can go on listing the rest) and keeps the damaged ranges a
    read touched for ``take_damage``, so that every one is reported.
    """

    def __init__(
        self,
        handle: Any,
        *,
        keep: Sequence[Any] = (),
        errors: Damage | None = None,
    ) -> None:
        self._handle = handle
        self._keep = list(keep)  # parent handles that must outlive this one
        self._lock = threading.Lock()  # libyal handles keep a current offset
        self.size = int(handle.get_media_size())
        # Without a checksum view of its own (all but EWF), a failed read is
        # salvaged piece by piece and its failures kept as damage.
        self._failures = ReadFailures() if errors is None else None
        self._errors = errors if errors is not None else self._failures
        self._touched: set[tuple[int, int]] = set()

    def read(self, offset: int, size: int) -> bytes:
        size = max(0, min(size, self.size - offset))
        if size == 0:
            return b""
        with self._lock:
            try:
                data: bytes = self._handle.read_buffer_at_offset(size, offset)
            except OSError:
                if self._failures is None:
                    raise
                data = self._salvage(offset, size)
            if self._errors is not None:
                self._touched.update(self._errors.touched(offset, offset + size))
        return data

    def _salvage(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset`` read again in pieces, the pieces that
        fail as zeros (recorded). The first piece of the device failing
        means its very structure is unreadable: that error stands."""
        assert self._failures is not None
        out = bytearray()
        for start in range(offset, offset + size, SALVAGE_PIECE):
            want = min(SALVAGE_PIECE, offset + size - start)
            try:
                out += self._handle.read_buffer_at_offset(want, start)
            except OSError:
                if start < SALVAGE_PIECE:
                    raise
                self._failures.add(start, start + want)
                out += bytes(want)
        return bytes(out)

    def damage_within(
        self, extents: Sequence[tuple[int, int]]
    ) -> list[tuple[int, int]]:
        """The damaged chunks known so far that lie in any of ``extents``."""
        if self._errors is None:
            return []
        with self._lock:
            return sorted(
                {piece for lo, hi in extents for piece in self._errors.known(lo, hi)}
            )

    def acquisition_gaps(self) -> list[tuple[int, int]]:
        """Byte ranges the acquisition could not read (zeros in the image)."""
        if self._errors is None:
            return []
        with self._lock:
            return self._errors.acquisition_gaps()

    def take_damage(self) -> list[tuple[int, int]]:
        """Damaged byte ranges (start, end) read since the last call."""
        with self._lock:
            touched, self._touched = self._touched, set()
        return sorted(touched)

    def close(self) -> None:
        self._handle.close()
        for parent in self._keep:
            parent.close()
