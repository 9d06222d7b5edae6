"""Decode a baseline JPEG's entropy-coded data without making pixels.

Enough of a JPEG decoder to tell whether bytes *are* the rest of a given
picture: the Huffman tables, components and restart interval from the
headers (:func:`read_layout`), then Huffman decoding of whole MCUs (DC and
AC coefficients, no IDCT) from a given state, counting MCUs, until the data
ends, a code is not in the tables, a block holds more than 64
coefficients, or a restart marker is out of order. Used by the bifragment
gap search (``triage.ingest.bifragment``) as its decoder check. Baseline and
extended sequential Huffman JPEGs with one interleaved scan (or one
component) only; progressive and arithmetic-coded pictures give None.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

_SOF_SEQUENTIAL = {0xC0, 0xC1}
_SOF_OTHER = {0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}

#: A Huffman table as a 65,536-entry lookup by the next 16 bits:
#: (code length, symbol), code length 0 where no code starts so.
Table = list[tuple[int, int]]


@dataclass(frozen=True, slots=True)
class Layout:
    """What decoding a picture's scan needs, from its headers."""

    scan_start: int  # offset of the entropy-coded data in the item
    blocks: tuple[tuple[int, Table, Table], ...]  # (count, DC, AC) per component
    mcus: int  # MCUs in the scan
    restart: int  # MCUs between restart markers, 0 for none


def _table(body: bytes) -> Table | None:
    counts = body[:16]
    symbols = body[16 : 16 + sum(counts)]
    if len(counts) < 16 or len(symbols) < sum(counts):
        return None
    table: Table = [(0, 0)] * 65536
    code = 0
    k = 0
    for length in range(1, 17):
        for _ in range(counts[length - 1]):
            if code >= 1 << length:
                return None
            span = 1 << (16 - length)
            at = code << (16 - length)
            table[at : at + span] = [(length, symbols[k])] * span
            code += 1
            k += 1
        code <<= 1
    return table


def read_layout(head: bytes) -> Layout | None:
    """The layout of the JPEG whose first bytes (through its first SOS) are
    ``head``; None when it is not a sequential Huffman picture with one
    interleaved scan."""
    tables: dict[tuple[int, int], Table] = {}
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
                tables[(body[at] >> 4, body[at] & 15)] = table
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
            return _scan_layout(body, pos + 2 + length, frame, tables, restart)
        pos += 2 + length
    return None


def _scan_layout(
    body: bytes,
    scan_start: int,
    frame: tuple[int, int, dict[int, int]] | None,
    tables: dict[tuple[int, int], Table],
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
        dc, ac = tables.get((0, ids >> 4)), tables.get((1, ids & 15))
        if dc is None or ac is None or selector not in sampling:
            return None
        s = sampling[selector]
        blocks.append(((s >> 4) * (s & 15) if count > 1 else 1, dc, ac))
    if count == 1:
        hmax = vmax = 1
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
    padded = data + b"\xff\xff\xff"  # ones past the end, as JPEG pads
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
        after = _mcu(padded, bit, end, layout)
        if after is None:
            return State(bit, mcus, rst), False
        if after > end:
            break  # the data ran out inside this MCU
        bit = after
        mcus += 1
        if trace is not None:
            trace.append(State(bit, mcus, rst))
    return State(bit, mcus, rst), True


def _mcu(data: bytes, bit: int, end: int, layout: Layout) -> int | None:
    """The bit position after one MCU at ``bit``; None on a decoding error,
    past ``end`` when the data ran out. ``data`` ends with three 0xFF bytes
    of padding (not counted in ``end``), so a peek never runs short."""
    peek = int.from_bytes
    for count, dc, ac in layout.blocks:
        for _ in range(count):
            if bit > end:
                return bit
            at = bit >> 3
            code = (peek(data[at : at + 3], "big") >> (8 - (bit & 7))) & 0xFFFF
            length, size = dc[code]
            if not length or size > 11:
                return end + 1 if bit + 16 > end else None  # ran out, or wrong
            bit += length + size
            k = 1
            while k < 64:
                if bit > end:
                    return bit
                at = bit >> 3
                code = (peek(data[at : at + 3], "big") >> (8 - (bit & 7))) & 0xFFFF
                length, symbol = ac[code]
                if not length:
                    return end + 1 if bit + 16 > end else None
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
