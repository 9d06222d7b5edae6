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


def test_restart_markers_are_passed_once_however_far_the_data_goes() -> None:
    """A restart interval of one MCU: the decoder makes its word table as it
    goes, and a growth landing on an interval's first MCU must not make it
    check the marker it already passed."""
    picture = _jpeg(6, (640, 480), quality=90, restart_marker_blocks=1)
    layout = read_layout(picture[: 64 << 10])
    assert layout is not None and layout.restart
    whole, ok = decode(unstuff(picture[layout.scan_start : -2])[0], layout, State())
    assert ok and whole.mcus == layout.mcus


def test_headers_too_short_for_their_fields_are_no_layout() -> None:
    """What the carver accepts as a JPEG start may hold any segment: a short
    SOF, DRI or SOS body, or zero sampling factors, is not a layout (not an
    exception that would end carving)."""
    picture = _jpeg(7, (64, 48), quality=90)
    assert read_layout(picture) is not None

    def cut(marker: bytes, keep: int) -> bytes:
        at = picture.index(marker)
        body = (keep + 2).to_bytes(2, "big") + picture[at + 4 : at + 4 + keep]
        return picture[:at] + marker + body

    for marker in (b"\xff\xc0", b"\xff\xda"):
        assert read_layout(cut(marker, 3)) is None
    dri = picture[:2] + b"\xff\xdd\x00\x03\x00" + picture[2:]
    assert read_layout(dri) is None
    zeroed = bytearray(_jpeg(8, (64, 48), quality=90, subsampling=0))
    sof = zeroed.index(b"\xff\xc0")
    for i in range(3):  # every component's sampling byte: 0x00
        zeroed[sof + 11 + 3 * i] = 0
    assert read_layout(bytes(zeroed)) is None
