"""The carver's signature search in one window (``carve._Signatures``):
every magic of every format where it should be, against a brute-force
search, whichever way the sector-start formats are checked (one by one in
Python for a few candidates, numpy for many), across the window's end too."""

from __future__ import annotations

import random

import pytest

from triage.ingest import carve as carve_module
from triage.ingest.carve import SECTOR, _Signatures, carve_formats
from triage.ingest.magic_search import straddling


def _truth(data: bytes, base: int, cut: int) -> list[tuple[int, str]]:
    """(offset, format) of every magic that starts before ``cut`` in
    ``data`` (the window is ``data[:cut]``, the rest its tail), by a search
    at every byte; sector-start formats only where their item starts on a
    sector of the device (``base`` is the window's offset in it)."""
    out = []
    for fmt in carve_formats():
        for at in range(cut):
            if not data.startswith(fmt.magic, at):
                continue
            if fmt.aligned and (base + at - fmt.lead) % SECTOR:
                continue
            out.append((at, fmt.name))
    order = [f.name for f in carve_formats()]
    return sorted(out, key=lambda hit: (hit[0], order.index(hit[1])))


def _planted(seed: int, crowded: bool) -> bytes:
    rng = random.Random(seed)
    data = bytearray(rng.randbytes(64 * SECTOR + 16))
    magics = [f.magic for f in carve_formats()]
    for n in range(300):
        magic = magics[n % len(magics)]
        at = rng.randrange(0, len(data) - len(magic))
        if n % 2:  # half of them on sector starts (or 4 bytes in: ftyp)
            at = at - at % SECTOR + rng.choice((0, 4))
        data[at : at + len(magic)] = magic
    if crowded:  # a 'B' opening every sector: many BMP candidates
        for at in range(0, len(data) - 1, SECTOR):
            data[at] = ord("B")
    return bytes(data)


def _found(data: bytes, base: int, cut: int) -> list[tuple[int, str]]:
    signatures = _Signatures(data[:cut], carve_formats(), base, data[cut : cut + 7])
    out = []
    while (hit := signatures.next(0, cut)) is not None:
        out.append((hit[0], hit[1].name))
    return out


@pytest.mark.parametrize("across", [b"GIF8", b"RIFF"])
@pytest.mark.parametrize("crowded", [False, True])
@pytest.mark.parametrize("base", [0, 4, 1000, SECTOR * 7 + 3])
def test_every_signature_is_found_once_in_order(
    across: bytes, crowded: bool, base: int
) -> None:
    data = _planted(base + crowded, crowded)
    # The window ends 2 bytes into a magic (RIFF on a sector start of the
    # device, GIF8 anywhere).
    at = 60 * SECTOR - base % SECTOR + (0 if across == b"RIFF" else 77)
    data = data[:at] + across + data[at + 4 :]
    cut = at + 2
    found = _found(data, base, cut)
    assert (at, "gif" if across == b"GIF8" else "webp") in found
    assert found == _truth(data, base, cut)


def test_both_ways_on_sectors_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _planted(5, crowded=True)
    cut = len(data) - 9
    want = _found(data, 3, cut)
    monkeypatch.setattr(carve_module, "_FEW", 10**9)  # never numpy
    assert _found(data, 3, cut) == want
    monkeypatch.setattr(carve_module, "_FEW", -1)  # always numpy
    assert _found(data, 3, cut) == want


def test_straddling_finds_magics_across_the_end_only() -> None:
    magics = [b"GIF8", b"\xff\xd8\xff", b"RIFF"]
    head, tail = b"xxGIF8xxxRI", b"FFab"
    assert straddling(head, tail, magics) == [(9, 2)]
    assert straddling(b"x\xff", b"\xd8\xffGIF8", magics) == [(1, 1)]
    assert straddling(b"\xff\xd8", b"", magics) == []
    assert straddling(b"", b"GIF8", magics) == []
