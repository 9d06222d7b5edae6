"""Bifragment gap carving for JPEG: find where a broken picture goes on.

A deleted JPEG written into a hole of a full filesystem lies in two pieces:
its start, up to some sector, then the rest further on (the clusters
between belong to another file). Carving straight reads the start and then
the other file's bytes. :func:`second_fragment` looks for the rest, as
Garfinkel's bifragment gap carving does, checked by decoding:

1. The picture's scan is Huffman-decoded (``jpeg_entropy``, no pixels)
   from its start until the data ends or a code fails. The first piece
   ends at a sector boundary at or before that point: the sectors up to
   ``MAX_SPLITS`` back are tried, nearest first.
2. The second piece starts on a sector after that, within
   ``WINDOW`` bytes and inside the free space given. Only sectors from
   which the entropy-coded data runs, by JPEG's byte-stuffing rules, to an
   end-of-image marker (FF D9) with no other marker between are kept: one
   regular-expression pass over the window finds them all.
3. Each (end of first piece, start of second) pair whose second piece is
   within a factor of ``SIZE_SLACK`` of the size the MCUs still to come
   should take (at the first piece's bytes per MCU), closest to it first
   and at most ``MAX_TRIES``, is decoded from the state where the first
   piece's last whole MCU ended: it must decode without error and end exactly at
   the picture's last MCU (the count the frame header gives), right before
   the end-of-image marker; restart markers must come in order.

Cost: one pass over at most ``WINDOW`` bytes (8 MiB) per broken baseline
JPEG, and decoding in Python at about 2 MB of entropy-coded data a second
(60 KB in 30 ms): the first piece once, then at most ``MAX_TRIES``
candidates (64 MCUs first, to drop wrong ones early). Progressive JPEGs,
pictures in three pieces or more and second pieces *before* the first are
not found.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Sequence

import numpy as np

from triage.ingest.carvers.base import Found
from triage.ingest.jpeg_entropy import Layout, State, decode, read_layout, unstuff
from triage.ingest.jpeg_entropy import stuffed_offset as _stuffed

Read = Callable[[int, int], bytes]

SECTOR = 512  # pieces start and end on sector boundaries
WINDOW = 8 << 20  # how far past the first piece the second is looked for
MAX_SPLITS = 8  # first-piece ends tried, back from where decoding failed
MAX_TRIES = 32  # (first-piece end, second-piece start) pairs decoded
SIZE_SLACK = 3.0  # how far a second piece's size may be from the expected
_HEAD = 64 << 10  # bytes read for the headers
_QUICK = 64  # MCUs decoded to drop a wrong candidate early
# 0xFF and a byte that may not appear in entropy-coded data (not a stuffed
# zero, a restart marker or fill): the end of the scan.
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


def second_fragment(
    read: Read, start: int, broken: int, free: Sequence[tuple[int, int]]
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The two pieces, absolute ``(start, end)`` each, of the JPEG at
    ``start`` whose data stops making sense by ``broken``, with the second
    piece in ``free`` (absolute ``(start, end)`` ranges, sorted); None when
    no piece decodes as its rest."""
    first = read(start, broken - start)
    layout = read_layout(first[:_HEAD])
    if layout is None or broken <= start + layout.scan_start:
        return None
    entropy = first[layout.scan_start :]
    base = start + layout.scan_start  # absolute offset of entropy[0]
    data, removals = unstuff(entropy)
    trace = [State()]
    state, ok = decode(data, layout, State(), trace=trace)
    if state.mcus >= layout.mcus:
        return None  # whole already: not broken in its scan
    failed = base + _stuffed(state.bit // 8, removals) if not ok else broken
    splits = _splits(failed, base)
    if not splits:
        return None
    ends = _ends_of_scans(read, free, splits[0], splits[0] + WINDOW)
    tries = 0
    for split in splits:
        seam = _seam(entropy, split - base, removals, trace)
        if seam is None:
            continue
        tail, at = seam
        # The rest holds the MCUs not decoded yet, at about the first piece's
        # bytes per MCU: candidates are tried closest to that size first.
        rate = (split - base) / max(at.mcus, 1)
        expected = (layout.mcus - at.mcus) * rate
        for begin, eoi in _starts(ends, split, expected):
            tries += 1
            if tries > MAX_TRIES:
                return None
            rest = tail + read(begin, eoi - begin)
            if _decodes_to_the_end(rest, layout, at):
                return (start, split), (begin, eoi + 2)
    return None


def _splits(failed: int, base: int) -> list[int]:
    """Sector boundaries where the first piece may end, nearest the failure
    first (decoding notices the wrong bytes a little after they start)."""
    last = failed - failed % SECTOR
    return [s for s in range(last, last - MAX_SPLITS * SECTOR, -SECTOR) if s > base]


def _seam(
    entropy: bytes, cut: int, removals: np.ndarray, trace: list[State]
) -> tuple[bytes, State] | None:
    """The first piece's entropy-coded bytes (up to ``cut``) from where its
    last whole MCU ends, and the decoding state there (from ``trace``, the
    states after each MCU decoded without error)."""
    kept = cut - int(np.searchsorted(removals + np.arange(len(removals)), cut))
    bits = [s.bit for s in trace]
    index = bisect.bisect_right(bits, kept * 8) - 1
    if index < 0:
        return None
    state = trace[index]
    at = _stuffed(state.bit // 8, removals)
    return entropy[at:cut], State(state.bit & 7, state.mcus, state.rst)


def _ends_of_scans(
    read: Read, free: Sequence[tuple[int, int]], lo: int, hi: int
) -> list[tuple[int, int, int]]:
    """(piece start, piece end, EOI offset) of each stretch of ``free``
    within ``[lo, hi)`` that ends in an end-of-image marker preceded by
    valid entropy-coded data: from any sector in ``[piece start, EOI)`` the
    data runs to that EOI."""
    out = []
    for piece_lo, piece_hi in free:
        a, b = max(piece_lo, lo), min(piece_hi, hi)
        if a >= b:
            continue
        window = read(a, b - a)
        last = 0  # data after the previous marker is where a run may start
        for m in _MARKER.finditer(window):
            if m.group() == b"\xff\xd9":
                out.append((a + last, b, a + m.start()))
            last = m.end()
    return out


def _starts(
    ends: list[tuple[int, int, int]], split: int, expected: float
) -> Iterator[tuple[int, int]]:
    """(second-piece start, its EOI offset) candidates after ``split``, on
    sectors, whose length is within a factor of ``SIZE_SLACK`` of
    ``expected``, the closest to it first."""
    out = []
    for run_lo, _, eoi in ends:
        first = max(run_lo, split + 1)
        first += -first % SECTOR
        for begin in range(first, eoi, SECTOR):
            size = eoi - begin
            if expected / SIZE_SLACK <= size <= expected * SIZE_SLACK:
                out.append((abs(size - expected), begin, eoi))
    out.sort()
    for _, begin, eoi in out:
        yield begin, eoi


def _decodes_to_the_end(rest: bytes, layout: Layout, state: State) -> bool:
    """Whether ``rest`` (stuffed, from ``state``) decodes to the picture's
    last MCU and then ends (at most the padding byte)."""
    data, _ = unstuff(rest)
    quick, ok = decode(data, layout, state, until=state.mcus + _QUICK)
    if not ok:
        return False
    done, ok = decode(data, layout, quick)
    if not ok or done.mcus != layout.mcus:
        return False
    return len(data) - (done.bit + 7) // 8 <= 1


def rest_at_free_starts(
    read: Read,
    start: int,
    cut: int,
    free: Sequence[tuple[int, int]],
    parse: Callable[[Read, int], Found | None],
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """For a format whose structure checks itself (PNG: a CRC per chunk):
    the item at ``start`` whose first piece ends at ``cut`` (where its free
    run ends), with its second piece starting where a later run of ``free``
    starts (the next hole), within ``WINDOW``: the first, of at most
    ``MAX_TRIES``, that ``parse`` follows to a whole item."""
    starts = [lo for lo, _ in free if cut < lo < cut + WINDOW][:MAX_TRIES]
    for begin in starts:
        joined = _TwoPieces(read, start, cut, begin)
        found = parse(joined.read, start)
        if found is not None and found.complete and found.size > cut - start:
            return (start, cut), (begin, begin + found.size - (cut - start))
    return None


class _TwoPieces:
    """``read`` over an item as if ``[start, cut)`` and then ``begin...``
    were one run (absolute offsets as the item's own)."""

    def __init__(self, read: Read, start: int, cut: int, begin: int) -> None:
        self._read, self.cut, self.shift = read, cut, begin - cut

    def read(self, offset: int, size: int) -> bytes:
        if offset + size <= self.cut:
            return self._read(offset, size)
        if offset >= self.cut:
            return self._read(offset + self.shift, size)
        head = self._read(offset, self.cut - offset)
        return head + self._read(self.cut + self.shift, offset + size - self.cut)
