"""Read a carved item as if ext2/3 indirect blocks were not in the middle of it.

An ext2/3 file is mapped block by block: 12 direct pointers in the inode, then
an *indirect* block holding the next ``block / 4`` block numbers, then a
double-indirect block (and its first indirect block), and so on. The
allocator writes these map blocks in line with the data, so a large file
that is otherwise contiguous reads on disk as::

    data[0:12] IND data[12:12+n] DIND IND data[...n] IND data[...n] ...

with ``n = block / 4``. When the inode is gone (deleted, superblock wiped)
a carver that reads the bytes straight keeps those blocks inside the picture
(a JPEG 1 KiB too long, a PNG whose next chunk is garbage). PhotoRec leaves
them out; so does :class:`SkipMapBlocks`.

Where: before logical data block ``12 + m * n`` (m = 0, 1, 2...) up to three
map blocks in a row may sit. What: a map block is a run of non-zero,
evenly spaced little-endian block numbers (step 1 for an indirect block,
``n + 1`` for a double, ``n * (n + 1) + 1`` for a triple) followed only by
zeros, whose first number is the block right after it. The block size (1,
2 or 4 KiB) is unknown while the filesystem cannot be read: the first map
block found decides it, with the filesystem's start implied by its first
number (which must lie before the item and on a sector); every later
map block of the item must agree. Random or picture data passes that test
with negligible probability.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: ``read(offset, size)`` of the device by absolute offset (short at its end).
Read = Callable[[int, int], bytes]

BLOCK_SIZES = (1024, 2048, 4096)  # ext2/3 block sizes a map block is tried at
DIRECT = 12  # block pointers held in the inode itself
_MAX_RUN = 3  # TIND + DIND + IND in a row


def fs_may_map_blocks(fs_type: str | None) -> bool:
    """Whether carving in a partition of ``fs_type`` should look for ext2/3
    map blocks: unknown (unreadable) filesystems and the ext family."""
    return fs_type is None or fs_type.startswith("ext")


def _checkpoints(block: int) -> tuple[int, int]:
    """(first, step) of the logical offsets where map blocks may sit."""
    return DIRECT * block, (block // 4) * block


class SkipMapBlocks:
    """A ``read`` over an item starting at ``start`` in logical offsets
    (absolute, as if the item were contiguous), leaving ext2/3 map blocks out.

    ``gaps`` says what was left out: (logical offset, physical offset,
    length), in order. :meth:`runs` gives the item's physical pieces.
    """

    def __init__(self, read: Read, start: int, block: int | None = None) -> None:
        self._read = read
        self.start = start
        self.block = block  # None: not known yet (found with the first map block)
        self._base: int | None = None  # where block 0 of the filesystem is
        self.gaps: list[tuple[int, int, int]] = []
        self._shift = 0  # total length of the gaps found
        # Next logical offset (relative) at which each block size's map blocks
        # may sit; all sizes while the block size is unknown.
        sizes = (block,) if block else BLOCK_SIZES
        self._next = {b: _checkpoints(b)[0] for b in sizes}
        self._decided = min(self._next.values())

    # --- layout -------------------------------------------------------------

    def _physical(self, rel: int) -> int:
        """Absolute physical offset of relative logical offset ``rel``."""
        shift = 0
        for logical, _, length in self.gaps:
            if logical > rel:
                break
            shift += length
        return self.start + rel + shift

    def _map_block_base(self, at: int, block: int) -> int | None:
        """Where the filesystem starts, if the ``block`` bytes at absolute
        ``at`` are a map block consistent with the item (and with the map
        blocks found before); else None."""
        data = self._read(at, block)
        if len(data) < block:
            return None
        words = np.frombuffer(data, dtype="<u4")
        if words[0] == 0:
            return None
        zeros = np.flatnonzero(words == 0)
        count = int(zeros[0]) if zeros.size else len(words)
        if zeros.size and zeros.size != len(words) - count:
            return None  # a zero, then numbers again: not a block map
        per = block // 4
        if count > 1:
            steps = np.diff(words[:count].astype(np.int64))
            if not (steps == steps[0]).all() or int(steps[0]) not in (
                1,
                per + 1,
                per * (per + 1) + 1,
            ):
                return None
        base = at + block - int(words[0]) * block  # block 0 of the filesystem
        if self._base is not None:
            return base if base == self._base else None
        # The filesystem starts before the item and on a sector (so the item
        # starts on a sector: a picture inside another file is never cut).
        return base if 0 <= base <= self.start and base % 512 == 0 else None

    def _settle(self, block: int, rel: int) -> None:
        """Look for map blocks before logical ``rel`` at block size ``block``."""
        at = self._physical(rel)
        found = 0
        while found < _MAX_RUN:
            base = self._map_block_base(at + found * block, block)
            if base is None:
                break
            self._base = base
            found += 1
        if found:
            if self.block is None:  # the block size is now known
                self.block = block
                self._next = {block: self._next[block]}
            self.gaps.append((rel, at, found * block))
            self._shift += found * block

    def _decide(self, upto: int) -> None:
        """Settle every checkpoint before relative logical offset ``upto``."""
        while self._decided < upto:
            block = min(self._next, key=self._next.__getitem__)
            rel = self._next[block]
            self._settle(block, rel)
            if block in self._next:
                self._next[block] = rel + _checkpoints(block)[1]
            self._decided = min(self._next.values())

    # --- reading ------------------------------------------------------------

    def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes at absolute logical ``offset``."""
        rel = offset - self.start
        if rel < 0 or size <= 0:
            return self._read(offset, size) if rel < 0 else b""
        if rel + size > self._decided:
            self._decide(rel + size)
        if not self.gaps:
            return self._read(offset, size)
        parts = []
        for lo, hi, phys in self._pieces(rel, rel + size):
            data = self._read(phys, hi - lo)
            parts.append(data)
            if len(data) < hi - lo:
                break
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _pieces(self, lo: int, hi: int) -> list[tuple[int, int, int]]:
        """(logical lo, logical hi, physical lo) of the contiguous pieces
        that hold relative logical ``[lo, hi)``."""
        out = []
        edges = [g[0] for g in self.gaps] + [hi]
        shift = 0
        begin = 0
        for k, edge in enumerate(edges):
            a, b = max(lo, begin), min(hi, edge)
            if a < b:
                out.append((a, b, self.start + a + shift))
            if k < len(self.gaps):
                shift += self.gaps[k][2]
                begin = edge
            if begin >= hi:
                break
        return out

    def runs(self, size: int) -> tuple[tuple[int, int], ...]:
        """Absolute physical (start, end) pieces of the item's first ``size``
        logical bytes."""
        return tuple((phys, phys + hi - lo) for lo, hi, phys in self._pieces(0, size))
