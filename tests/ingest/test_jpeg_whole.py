"""FFmpeg's check of a whole JPEG (``jpeg_whole``) against the Python decoder
(``jpeg_entropy``): the same answer on whole pictures, pictures with bytes
after their last MCU or missing from it, and joins of a first half to
shifted rests of itself and of another picture; and the bifragment search
taking the quick way where the first piece ends at its free run's end."""

from __future__ import annotations

import io
import random

import pytest

import triage.ingest.bifragment as bifragment
from triage.ingest.bifragment import second_fragment
from triage.ingest.jpeg_entropy import State, decode, read_layout, unstuff
from triage.ingest.jpeg_whole import decodes_whole
from triage.sample.pictures import make_picture


def _jpeg(
    seed: int, size: tuple[int, int], grey: bool = False, **opts: object
) -> bytes:
    picture = make_picture(seed, *size)
    out = io.BytesIO()
    (picture.convert("L") if grey else picture).save(out, "JPEG", **opts)
    return out.getvalue()


def _python_whole(picture: bytes) -> bool:
    """The Python decoder's verdict: every MCU, then at most one byte."""
    layout = read_layout(picture[: 64 << 10])
    assert layout is not None
    data, _ = unstuff(picture[layout.scan_start : -2])
    state, ok = decode(data, layout, State())
    return ok and state.mcus == layout.mcus and len(data) - (state.bit + 7) // 8 <= 1


@pytest.mark.parametrize(
    ("seed", "size", "grey", "opts"),
    [
        (1, (320, 240), False, {"quality": 95}),
        (2, (333, 222), False, {"quality": 75, "subsampling": 0}),
        (3, (300, 200), True, {"quality": 90}),
        (4, (400, 300), False, {"quality": 90, "optimize": True}),
    ],
)
def test_ffmpeg_and_python_agree(
    seed: int, size: tuple[int, int], grey: bool, opts: dict[str, object]
) -> None:
    mine = _jpeg(seed, size, grey, **opts)
    other = _jpeg(seed + 100, size, grey, **opts)
    rng = random.Random(seed)
    body, eoi = mine[:-2], mine[-2:]
    cut = (len(mine) // 2) // 512 * 512
    cases = {"whole": mine}
    for k in (1, 2, 3, 17, 512):
        junk = rng.randbytes(k).replace(b"\xff", b"\1")
        cases[f"{k} bytes after"] = body + junk + eoi
    for k in (1, 2, 9):
        cases[f"{k} bytes short"] = body[:-k] + eoi
    for shift in (-512, -7, -1, 1, 3, 512):
        cases[f"rest shifted {shift}"] = mine[:cut] + mine[cut + shift :]
    for shift in (-512, 0, 512):
        cases[f"other's rest {shift}"] = mine[:cut] + other[cut + shift :]
    verdicts = {name: (decodes_whole(v), _python_whole(v)) for name, v in cases.items()}
    assert all(a == b for a, b in verdicts.values()), verdicts
    assert verdicts["whole"] == (True, True)
    assert verdicts["2 bytes after"] == (False, False)
    assert verdicts["1 bytes short"] == (False, False)
    assert verdicts["other's rest 0"] == (False, False)


def test_a_first_piece_ending_at_its_free_run_is_joined_without_python_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    picture = _jpeg(41, (800, 600), quality=90)
    cut = (len(picture) // 2) // 512 * 512
    rng = random.Random(41)
    data = rng.randbytes(4096) + picture[:cut] + rng.randbytes(512 * 9)
    second = len(data)
    data += picture[cut:] + rng.randbytes(3000)
    start, first_end = 4096, 4096 + cut
    free = [(0, first_end), (second, len(data))]

    def no_python(*args: object, **kwargs: object) -> object:
        raise AssertionError("the Python decoder was used")

    monkeypatch.setattr(bifragment, "decode", no_python)
    pieces = second_fragment(lambda at, n: data[at : at + n], start, first_end, free)
    assert pieces == ((start, first_end), (second, second + len(picture) - cut))
