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
        self._errors = errors
        self._touched: set[tuple[int, int]] = set()

    def read(self, offset: int, size: int) -> bytes:
        size = max(0, min(size, self.size - offset))
        if size == 0:
            return b""
        with self._lock:
            data: bytes = self._handle.read_buffer_at_offset(size, offset)
            if self._errors is not None:
                self._touched.update(self._errors.touched(offset, offset + size))
        return data

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
