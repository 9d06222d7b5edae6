"""The Python JPEG entropy decoder (``jpeg_entropy``) against a plain
reference: one Huffman code at a time, as the JPEG standard describes it.
The decoder takes several codes per lookup; it must stop at the same MCU,
at the same bit, with the same verdict, on whole pictures, cut ones, and
pictures whose data turns to noise or to another picture's."""

from __future__ import annotations

import io
import random

import pytest

from triage.ingest.jpeg_entropy import (
    Layout,
    State,
    decode,
    read_layout,
    tables,
    unstuff,
)
from triage.sample.pictures import make_picture


def _reference_mcu(data: bytes, bit: int, end: int, layout: Layout) -> int | None:
    for count, dc, ac in tables(layout):
        for _ in range(count):
            if bit > end:
                return bit
            code = (
                int.from_bytes(data[bit >> 3 : (bit >> 3) + 3]) >> (8 - (bit & 7))
            ) & 0xFFFF
            length, size = dc.lengths[code], dc.symbols[code]
            if not length or size > 11:
                return end + 1 if bit + 16 > end else None
            bit += length + size
            k = 1
            while k < 64:
                if bit > end:
                    return bit
                at = bit >> 3
                code = (int.from_bytes(data[at : at + 3]) >> (8 - (bit & 7))) & 0xFFFF
                length, symbol = ac.lengths[code], ac.symbols[code]
                if not length:
                    return end + 1 if bit + 16 > end else None
                bit += length + (symbol & 15)
                if symbol & 15:
                    k += (symbol >> 4) + 1
                elif symbol == 0xF0:
                    k += 16
                else:
                    break
            if k > 64:
                return None
    return bit


def _reference(data: bytes, layout: Layout, until: int | None) -> tuple[State, bool]:
    """Without restart markers (the decoder's own code handles those)."""
    bit = mcus = 0
    end = len(data) * 8
    padded = data + b"\xff\xff\xff"
    stop = layout.mcus if until is None else min(layout.mcus, until)
    while mcus < stop:
        after = _reference_mcu(padded, bit, end, layout)
        if after is None:
            return State(bit, mcus, 0), False
        if after > end:
            break
        bit, mcus = after, mcus + 1
    return State(bit, mcus, 0), True


def _jpeg(seed: int, size: tuple[int, int], **opts: object) -> bytes:
    out = io.BytesIO()
    make_picture(seed, *size).save(out, "JPEG", **opts)
    return out.getvalue()


@pytest.mark.parametrize(
    ("seed", "size", "opts"),
    [
        (1, (320, 240), {"quality": 95}),
        (2, (333, 222), {"quality": 50, "subsampling": 0}),
        (3, (200, 150), {"quality": 100}),
        (4, (256, 192), {"quality": 85, "optimize": True}),
    ],
)
def test_the_decoder_stops_where_the_reference_does(
    seed: int, size: tuple[int, int], opts: dict[str, object]
) -> None:
    picture = _jpeg(seed, size, **opts)
    other = _jpeg(seed + 50, size, **opts)
    layout = read_layout(picture[: 64 << 10])
    assert layout is not None and not layout.restart
    head = picture[layout.scan_start : -2]
    rng = random.Random(seed)
    cases = [head, head[: len(head) // 3]]
    for _ in range(12):
        cut = rng.randrange(16, len(head))
        tail = rng.choice(
            [rng.randbytes(600), bytes(600), other[cut:-2], head[cut + 7 :]]
        )
        cases.append(head[:cut] + tail)
    for case in cases:
        data, _ = unstuff(case)
        for until in (None, 5):
            got = decode(data, layout, State(), until=until)
            assert got == _reference(data, layout, until)
    whole, ok = decode(unstuff(head)[0], layout, State())
    assert ok and whole.mcus == layout.mcus


def test_a_table_with_more_codes_than_fit_is_refused() -> None:
    picture = bytearray(_jpeg(5, (64, 48), quality=90))
    dht = picture.index(b"\xff\xc4")
    assert read_layout(bytes(picture)) is not None
    picture[dht + 5] = 3  # three codes of one bit: only two fit
    assert read_layout(bytes(picture)) is None
