"""Bifragment gap carving for JPEG: find where a broken picture goes on.

A deleted JPEG written into a hole of a full filesystem lies in two pieces:
its start, up to some sector, then the rest further on (the clusters
between belong to another file). Carving straight reads the start and then
the other file's bytes. :func:`second_fragment` looks for the rest, as
Garfinkel's bifragment gap carving does, checked by decoding.

The quick way first, for a picture without restart markers whose first
piece ends where its free run does (the filesystem's allocation map says
where the next file's clusters begin: FAT, NTFS): the first piece is all
of that run, and the rest is looked for where a later free run starts (the
next hole), running cleanly to an end-of-image marker. Each such join is
checked whole by FFmpeg's decoder (``jpeg_whole``: every MCU, then at most
one byte, as below), nearest first, at most ``MAX_TRIES``: 12.5 ms for a
1280x960 picture where the search below takes 66 ms, 1.7 ms against 11 for
a 320x240 one. Only when none is the rest does the search below run:

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

Neither way runs for a picture that a deleted file listed by the walk
reads whole through the file system (``deleted_cover``: NTFS keeps a
deleted file's runs); in two pieces, the quick way still does.

Cost: one pass over at most ``WINDOW`` bytes (8 MiB) per broken baseline
JPEG (nothing is decoded when no sector there could start a second piece),
and decoding in Python at about 5 MB of entropy-coded data a second (a
1280x960 picture's 350 KB in 60 ms, several codes a lookup): the first
piece once (at most ``MAX_DECODED``, 4 MiB: a longer one is left partial),
then at most ``MAX_TRIES`` candidates (64 MCUs first, to drop wrong ones
early). With restart markers (most camera
JPEGs), decoding starts at the first piece's last marker in order (its MCU
number is known) and checks a candidate by the interval at the seam, the
markers' order and count, and the last interval: a few intervals, however
large the picture (4-8 ms against 55 ms for an 800x600 picture, measured
with one code a lookup). Progressive JPEGs, pictures in three pieces or
more and second pieces *before* the first are not found.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import numpy as np

from triage.ingest.carvers.base import Found
from triage.ingest.jpeg_entropy import Layout, State, decode, read_layout, unstuff
from triage.ingest.jpeg_entropy import stuffed_offset as _stuffed
from triage.ingest.jpeg_whole import decodes_whole

Read = Callable[[int, int], bytes]

SECTOR = 512  # pieces start and end on sector boundaries
WINDOW = 8 << 20  # how far past the first piece the second is looked for
MAX_SPLITS = 8  # first-piece ends tried, back from where decoding failed
MAX_TRIES = 32  # (first-piece end, second-piece start) pairs decoded
SIZE_SLACK = 3.0  # how far a second piece's size may be from the expected
_HEAD = 64 << 10  # bytes read for the headers
MAX_DECODED = 4 << 20  # entropy-coded bytes of a first piece decoded at most
_QUICK = 64  # MCUs decoded to drop a wrong candidate early
# 0xFF and a byte that may not appear in entropy-coded data (not a stuffed
# zero, a restart marker or fill): the end of the scan.
_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_RST = re.compile(rb"\xff[\xd0-\xd7]")


class Cover(Protocol):
    """Whether a deleted file the file system reads whole holds the broken
    picture (``deleted_cover``)."""

    def claimed(self) -> int | None:
        """The most pieces a deleted file's runs that start where the picture
        does put it in, None when no file's do: their runs only, nothing
        decoded (``pieces`` checks)."""

    def pieces(self) -> int | None:
        """Into how many pieces the deleted file that reads whole puts the
        picture, None when none does (one FFmpeg decode per file)."""


def second_fragment(
    read: Read,
    start: int,
    broken: int,
    free: Sequence[tuple[int, int]],
    covered: Cover | None = None,
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The two pieces, absolute ``(start, end)`` each, of the JPEG at
    ``start`` whose data stops making sense by ``broken``, with the second
    piece in ``free`` (absolute ``(start, end)`` ranges, sorted); None when
    no piece decodes as its rest. ``covered``: a deleted file that the file
    system reads whole (``deleted_cover``); then the Python search does not
    run, nor the quick way when it puts the picture in three pieces or more
    (no join of two pieces can be the picture). Its read is decoded only
    when that decides something: not when the quick way joins the picture."""
    first = read(start, broken - start)
    layout = read_layout(first[:_HEAD])
    if layout is None or broken <= start + layout.scan_start:
        return None
    entropy = first[layout.scan_start :]
    base = start + layout.scan_start  # absolute offset of entropy[0]
    ends = _ends_of_scans(read, free, base, broken + WINDOW)
    if not any(_sector_after(lo, base) < eoi for lo, _, eoi in ends):
        return None  # nowhere a second piece could start: nothing to decode
    claimed = covered.claimed() if covered is not None else None
    if covered is not None and claimed is not None and claimed > 2:
        pieces = covered.pieces()
        if pieces is not None and pieces > 2:
            return None
    if not layout.restart and _ends_a_run(free, broken):
        quick = _at_hole_starts(read, first, start, free, ends)
        if quick is not None:
            return quick
    if covered is not None and claimed is not None and covered.pieces() is not None:
        return None
    for skip, state0 in _resume_points(entropy, layout):
        if len(entropy) - skip > MAX_DECODED:
            return None  # too long to decode in Python: left partial
        try:
            found = _search(read, entropy[skip:], base + skip, state0, layout, ends)
        except _ResumeFailed:
            continue
        if found is not None:
            first_end, piece = found
            return (start, first_end), piece
    return None


def overlapping(
    free: Sequence[tuple[int, int]], lo: int, hi: int
) -> Sequence[tuple[int, int]]:
    """The ranges of ``free`` (sorted, not overlapping) that may overlap
    ``[lo, hi)``: found by bisection, so a long free list is not walked
    for each broken picture (callers still check each range)."""
    first = max(bisect.bisect_left(free, (lo,)) - 1, 0)
    return free[first : bisect.bisect_left(free, (hi,))]


def _ends_a_run(free: Sequence[tuple[int, int]], at: int) -> bool:
    """Whether a range of ``free`` (sorted, not overlapping) ends at ``at``."""
    i = bisect.bisect_left(free, (at,)) - 1  # the last range starting before
    return i >= 0 and free[i][1] == at


def _search(
    read: Read,
    entropy: bytes,
    base: int,
    state0: State,
    layout: Layout,
    ends: list[tuple[int, int, int]],
) -> tuple[int, tuple[int, int]] | None:
    """Decode ``entropy`` (at absolute ``base``, from ``state0``), then try
    the second pieces: (where the first piece ends, the second piece)."""
    data, removals = unstuff(entropy)
    trace = [state0]
    state, ok = decode(data, layout, state0, trace=trace)
    if state.mcus >= layout.mcus:
        return None  # whole already: not broken in its scan
    if not ok and state.mcus == state0.mcus and state0.mcus:
        raise _ResumeFailed  # the restart marker resumed from was no good
    broken = base + len(entropy)
    failed = base + _stuffed(state.bit // 8, removals) if not ok else broken
    tries = 0
    for split in _splits(failed, base):
        seam = _seam(entropy, split - base, removals, trace)
        if seam is None:
            continue
        tail, at = seam
        # The rest holds the MCUs not decoded yet, at about the first piece's
        # bytes per MCU: candidates are tried closest to that size first.
        done = at.mcus - state0.mcus
        rate = (split - base) / max(done, 1)
        expected = (layout.mcus - at.mcus) * rate
        for begin, eoi in _starts(ends, split, expected):
            tries += 1
            if tries > MAX_TRIES:
                return None
            rest = tail + read(begin, eoi - begin)
            if _decodes_to_the_end(rest, layout, at):
                return split, (begin, eoi + 2)
    return None


def _at_hole_starts(
    read: Read,
    first: bytes,
    start: int,
    free: Sequence[tuple[int, int]],
    ends: list[tuple[int, int, int]],
) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The quick way, for a first piece that ends where its free run does
    (the filesystem's allocation map says where the next file's clusters
    begin): the second piece starting where a later free run starts (the
    next hole) and running cleanly to an EOI, checked whole by FFmpeg
    (``jpeg_whole``), nearest first, at most ``MAX_TRIES``."""
    split = start + len(first)
    reach = max((lo for lo, _, _ in ends), default=split) + 1
    holes = {lo for lo, _ in overlapping(free, split + 1, reach) if split < lo}
    tries = [(lo, eoi) for lo, _, eoi in ends if lo in holes and lo % SECTOR == 0]
    for begin, eoi in tries[:MAX_TRIES]:
        if decodes_whole(first + read(begin, eoi + 2 - begin)):
            return (start, split), (begin, eoi + 2)
    return None


class _ResumeFailed(Exception):
    """Decoding from a restart marker failed at once: start further back."""


def _resume_points(entropy: bytes, layout: Layout) -> Iterator[tuple[int, State]]:
    """Where decoding may start and the state there: at the last restart
    marker of the run of markers in order from the scan's start (its MCU
    number is known: so many intervals), so a long first piece is not
    decoded from its beginning; then from the beginning."""
    if layout.restart:
        count = 0
        last = None
        for m in _RST.finditer(entropy):
            if m.group()[1] != 0xD0 + count % 8:
                break
            last = m.start()
            count += 1
        if last is not None:
            yield last, State(0, count * layout.restart, (count - 1) % 8)
    yield 0, State()


def _sector_after(lo: int, floor: int) -> int:
    first = max(lo, floor + 1)
    return first + -first % SECTOR


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
    for piece_lo, piece_hi in overlapping(free, lo, hi):
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
    last MCU and then ends (at most the padding byte). With restart markers,
    only the interval at the seam and the last one are decoded: the markers
    between, in order and as many as the MCUs left need, stand for the rest."""
    data, removals = unstuff(rest)
    if layout.restart:
        return _restarts_to_the_end(rest, data, removals, layout, state)
    quick, ok = decode(data, layout, state, until=state.mcus + _QUICK)
    if not ok:
        return False
    done, ok = decode(data, layout, quick)
    if not ok or done.mcus != layout.mcus:
        return False
    return len(data) - (done.bit + 7) // 8 <= 1


def _restarts_to_the_end(
    rest: bytes, data: bytes, removals: np.ndarray, layout: Layout, state: State
) -> bool:
    every = layout.restart
    boundary = min((state.mcus // every + 1) * every, layout.mcus)
    seam, ok = decode(data, layout, state, until=boundary)
    if not ok or seam.mcus != boundary:
        return False
    if boundary == layout.mcus:
        return len(data) - (seam.bit + 7) // 8 <= 1
    at = _stuffed((seam.bit + 7) // 8, removals)
    marks = list(_RST.finditer(rest, at))
    if not marks or marks[0].start() != at:
        return False
    for n, m in enumerate(marks):
        if m.group()[1] != 0xD0 + (seam.rst + n) % 8:
            return False
    last = boundary + (len(marks) - 1) * every  # MCUs before the last marker
    if not last < layout.mcus <= last + every:
        return False
    tail, _ = unstuff(rest[marks[-1].start() :])
    number = (seam.rst + len(marks) - 1) % 8
    done, ok = decode(tail, layout, State(0, last, number))
    return ok and done.mcus == layout.mcus and len(tail) - (done.bit + 7) // 8 <= 1


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
    near = overlapping(free, cut + 1, cut + WINDOW)
    starts = [lo for lo, _ in near if cut < lo < cut + WINDOW][:MAX_TRIES]
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
