"""Decode a baseline JPEG's entropy-coded data without making pixels.

Enough of a JPEG decoder to tell whether bytes *are* the rest of a given
picture: the Huffman tables, components and restart interval from the
headers (:func:`read_layout`), then Huffman decoding of whole MCUs (DC and
AC coefficients, no IDCT) from a given state, counting MCUs, until the data
ends, a code is not in the tables, a block holds more than 64
coefficients, or a restart marker is out of order. Used by the bifragment
gap search (``triage.ingest.bifragment``) as its decoder check. One table
lookup by the next 16 bits takes every whole code (with its magnitude bits)
that fits in them, so a block of short codes costs a few lookups, not one a
coefficient (3 times faster than one code a lookup). Baseline and
extended sequential Huffman JPEGs with one interleaved scan (or one
component) only; progressive and arithmetic-coded pictures give None.
"""

from __future__ import annotations

import functools
import struct
from array import array
from dataclasses import dataclass

import numpy as np

_SOF_SEQUENTIAL = {0xC0, 0xC1}
_SOF_OTHER = {0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}

_EOB = 1 << 13  # in a step of :attr:`Table.steps`: the run ends its block


@dataclass(frozen=True, slots=True, eq=False)
class Table:
    """A Huffman table as 65,536-entry lookups by the next 16 bits.

    ``lengths``/``symbols``: the code starting there (length 0: none).
    ``steps``: what the decoder does in one lookup. For a DC table: code
    length plus size (the magnitude bits skipped), 0 for no code or a size
    over 11. For an AC table: a run of whole codes and their magnitude bits
    that fit in the 16 bits, stopping after an end-of-block, packed as bits
    used (low 5 bits), coefficients advanced (8 bits) and ``_EOB``; 0 when
    not even one fits (a long code, or none): then one code at a time."""

    lengths: array[int]
    symbols: array[int]
    steps: array[int]


@dataclass(frozen=True, slots=True)
class Layout:
    """What decoding a picture's scan needs, from its headers."""

    scan_start: int  # offset of the entropy-coded data in the item
    #: (count, DC table, AC table) per component, the tables as their DHT
    #: counts and symbols (:func:`tables` makes their lookups when decoding)
    blocks: tuple[tuple[int, bytes, bytes], ...]
    mcus: int  # MCUs in the scan
    restart: int  # MCUs between restart markers, 0 for none


def _table(body: bytes) -> bytes | None:
    """The counts and symbols of the DHT table at the start of ``body``;
    None when they are cut short or give more codes than fit."""
    counts = body[:16]
    symbols = body[16 : 16 + sum(counts)]
    if len(counts) < 16 or len(symbols) < sum(counts):
        return None
    code = 0
    for length in range(1, 17):
        code += counts[length - 1]
        if code > 1 << length:
            return None
        code <<= 1
    return bytes(counts) + bytes(symbols)


def tables(layout: Layout) -> tuple[tuple[int, Table, Table], ...]:
    """(count, DC, AC) per component of ``layout``, with their lookups."""
    return tuple(
        (count, _built(dc, False), _built(ac, True)) for count, dc, ac in layout.blocks
    )


@functools.lru_cache(maxsize=32)
def _built(spec: bytes, ac: bool) -> Table:
    """The lookups of the table whose DHT counts and symbols are ``spec``
    (kept: most pictures use the same few tables)."""
    counts, symbols = spec[:16], spec[16:]
    lengths = np.zeros(65536, dtype=np.int32)
    values = np.zeros(65536, dtype=np.int32)
    code = 0
    k = 0
    for length in range(1, 17):
        for _ in range(counts[length - 1]):  # _table checked they fit
            span = 1 << (16 - length)
            at = code << (16 - length)
            lengths[at : at + span] = length
            values[at : at + span] = symbols[k]
            code += 1
            k += 1
        code <<= 1
    steps = _ac_steps(lengths, values) if ac else _dc_steps(lengths, values)
    return Table(_array(lengths, "B"), _array(values, "B"), _array(steps, "H"))


def _array(numbers: np.ndarray, code: str) -> array[int]:
    """A Python array of type ``code``, made by one copy: as fast to index
    as a list here, and small enough to stay in the CPU's cache."""
    return array(code, numbers.astype(np.dtype(code)).tobytes())


def _dc_steps(lengths: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    return np.where((lengths > 0) & (sizes <= 11), lengths + sizes, 0)


def _ac_steps(lengths: np.ndarray, symbols: np.ndarray) -> np.ndarray:
    """For every 16-bit window at once: the whole codes (with their
    magnitude bits) at its start, up to and with an end-of-block. Each round
    takes one more code of the windows still going."""
    steps = np.zeros(65536, dtype=np.int32)
    going = np.arange(65536, dtype=np.int32)  # windows still taking codes
    used = np.zeros(65536, dtype=np.int32)  # bits taken, of those windows
    advanced = np.zeros(65536, dtype=np.int32)
    while going.size:
        at = (going << used) & 0xFFFF  # the bits not used yet, on top
        length, symbol = lengths[at], symbols[at]
        size = symbol & 15
        fits = (length > 0) & (used + length + size <= 16)
        going, used, advanced = going[fits], used[fits], advanced[fits]
        length, symbol, size = length[fits], symbol[fits], size[fits]
        used += length + size
        eob = (size == 0) & (symbol != 0xF0)
        advanced += np.where(size > 0, (symbol >> 4) + 1, np.where(eob, 0, 16))
        steps[going] = used | (advanced << 5) | (eob * _EOB)
        going, used, advanced = going[~eob], used[~eob], advanced[~eob]
    return steps


def read_layout(head: bytes) -> Layout | None:
    """The layout of the JPEG whose first bytes (through its first SOS) are
    ``head``; None when it is not a sequential Huffman picture with one
    interleaved scan."""
    try:
        return _read_layout(head)
    except (struct.error, IndexError):  # a segment too short for its fields
        return None


def _read_layout(head: bytes) -> Layout | None:
    specs: dict[tuple[int, int], bytes] = {}
    frame: tuple[int, int, dict[int, int]] | None = None
    restart = 0
    pos = 2
    while pos + 4 <= len(head):
        marker, length = head[pos + 1], struct.unpack_from(">H", head, pos + 2)[0]
        body = head[pos + 4 : pos + 2 + length]
        if head[pos] != 0xFF or len(body) < length - 2:
            return None
        if marker == 0xC4:
            at = 0
            while at < len(body):
                table = _table(body[at + 1 :])
                if table is None:
                    return None
                specs[(body[at] >> 4, body[at] & 15)] = table
                at += 17 + sum(body[at + 1 : at + 17])
        elif marker in _SOF_SEQUENTIAL:
            height, width, count = struct.unpack_from(">HHB", body, 1)
            sampling = {body[6 + 3 * i]: body[7 + 3 * i] for i in range(count)}
            frame = (width, height, sampling)
        elif marker in _SOF_OTHER:
            return None
        elif marker == 0xDD:
            restart = struct.unpack_from(">H", body)[0]
        elif marker == 0xDA:
            return _scan_layout(body, pos + 2 + length, frame, specs, restart)
        pos += 2 + length
    return None


def _scan_layout(
    body: bytes,
    scan_start: int,
    frame: tuple[int, int, dict[int, int]] | None,
    specs: dict[tuple[int, int], bytes],
    restart: int,
) -> Layout | None:
    if frame is None or not body:
        return None
    width, height, sampling = frame
    count = body[0]
    if count != len(sampling) or not width or not height:
        return None  # one scan per component: not handled
    hmax = max(s >> 4 for s in sampling.values())
    vmax = max(s & 15 for s in sampling.values())
    blocks = []
    for i in range(count):
        selector, ids = body[1 + 2 * i], body[2 + 2 * i]
        dc, ac = specs.get((0, ids >> 4)), specs.get((1, ids & 15))
        if dc is None or ac is None or selector not in sampling:
            return None
        s = sampling[selector]
        blocks.append(((s >> 4) * (s & 15) if count > 1 else 1, dc, ac))
    if count == 1:
        hmax = vmax = 1
    if not hmax or not vmax:
        return None  # zero sampling factors: no MCU size
    mcus = -(-width // (8 * hmax)) * -(-height // (8 * vmax))
    return Layout(scan_start, tuple(blocks), mcus, restart)


def unstuff(data: bytes) -> tuple[bytes, np.ndarray]:
    """Entropy-coded bytes with each stuffed 0x00 after 0xFF removed, and
    where each removal happened (as indexes into the result), for
    :func:`stuffed_offset`."""
    raw = np.frombuffer(data, dtype=np.uint8)
    removed = np.flatnonzero((raw[:-1] == 0xFF) & (raw[1:] == 0)) + 1
    return data.replace(b"\xff\x00", b"\xff"), removed - np.arange(len(removed))


def stuffed_offset(index: int, removals: np.ndarray) -> int:
    """The offset in the stuffed bytes of byte ``index`` of the unstuffed."""
    return index + int(np.searchsorted(removals, index, side="right"))


@dataclass(slots=True)
class State:
    """Where decoding is: bit position, MCUs done, next restart number."""

    bit: int = 0
    mcus: int = 0
    rst: int = 0


def decode(
    data: bytes,
    layout: Layout,
    state: State,
    *,
    until: int | None = None,
    trace: list[State] | None = None,
) -> tuple[State, bool]:
    """Decode whole MCUs of unstuffed ``data`` from ``state`` (restart
    markers in it are checked and passed), until all of the picture's MCUs
    are done, the data runs out (or ``until`` MCUs are done), or an error.

    Returns the state after the last whole MCU, and False on a decoding
    error (a code not in the tables, more than 64 coefficients, a restart
    marker missing or out of order). ``trace`` gets the state after every
    MCU."""
    bit, mcus, rst = state.bit, state.mcus, state.rst
    end = len(data) * 8
    words = _Words(data)
    blocks = tables(layout)
    stop = layout.mcus if until is None else min(layout.mcus, until)
    while mcus < stop:
        if layout.restart and mcus and mcus % layout.restart == 0 and bit >= 0:
            at = (bit + 7) >> 3
            if at + 2 > len(data):
                break
            if data[at] != 0xFF or data[at + 1] != 0xD0 + rst:
                return State(bit, mcus, rst), False
            bit = (at + 2) * 8
            rst = (rst + 1) & 7
        while True:  # the restart marker above is passed once, whatever this takes
            try:
                after = _mcu(words.words, bit, end, blocks)
                break
            except IndexError:  # past the words made so far: make more, again
                words.grow()
        if after is None:
            return State(bit, mcus, rst), False
        if after > end:
            break  # the data ran out inside this MCU
        bit = after
        mcus += 1
        if trace is not None:
            trace.append(State(bit, mcus, rst))
    return State(bit, mcus, rst), True


class _Words:
    """The data as 24-bit big-endian numbers, one per byte offset (three
    0xFF bytes of padding after its end, as JPEG pads), made as decoding
    gets to them: a quick check of a few MCUs makes a few, not all."""

    def __init__(self, data: bytes) -> None:
        self._data = np.frombuffer(data + b"\xff\xff\xff", dtype=np.uint8)
        self.words: array[int] = array("I")
        self.grow()

    def grow(self) -> None:
        have = len(self.words)
        want = min(max(2 * have, 16 << 10), len(self._data) - 2)
        if want <= have:
            raise IndexError("past the data's padding")  # not expected
        raw = self._data[have : want + 2].astype(np.uint32)
        more = (raw[:-2] << 16) | (raw[1:-1] << 8) | raw[2:]
        self.words += array("I", more.tobytes())


def _mcu(
    words: array[int],
    bit: int,
    end: int,
    blocks: tuple[tuple[int, Table, Table], ...],
) -> int | None:
    """The bit position after one MCU at ``bit``; None on a decoding error,
    past ``end`` when the data ran out. Raises IndexError when ``words``
    (see :class:`_Words`) does not reach far enough yet."""
    for count, dc, ac in blocks:
        dc_steps, ac_steps, ac_lengths, ac_symbols = (
            dc.steps,
            ac.steps,
            ac.lengths,
            ac.symbols,
        )
        for _ in range(count):
            if bit > end:
                return bit
            step = dc_steps[(words[bit >> 3] >> (8 - (bit & 7))) & 0xFFFF]
            if not step:  # no code, or a size over 11
                return end + 1 if bit + 16 > end else None  # ran out, or wrong
            bit += step
            k = 1
            while k < 64:
                if bit > end:
                    return bit
                code = (words[bit >> 3] >> (8 - (bit & 7))) & 0xFFFF
                step = ac_steps[code]
                if step and k + ((step >> 5) & 0xFF) <= 63:
                    bit += step & 31  # several codes at once
                    if step & _EOB:
                        break
                    k += (step >> 5) & 0xFF
                    continue
                length = ac_lengths[code]  # one code, its bits past the 16
                if not length:
                    return end + 1 if bit + 16 > end else None
                symbol = ac_symbols[code]
                bit += length + (symbol & 15)
                if symbol & 15:
                    k += (symbol >> 4) + 1
                elif symbol == 0xF0:
                    k += 16
                else:
                    break  # end of block
            if k > 64:
                return None
    return bit
