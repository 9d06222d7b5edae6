"""Frames no sampled frame needs are not decoded, and that changes nothing:
the same sampled frames, numbers, hashes and notes as decoding every frame,
on H.264 and HEVC in MP4, Matroska and MPEG-TS, closed and open GOPs; a
stream where the numbering cannot be trusted is read again in full."""

from __future__ import annotations

import io
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

import numpy as np
import pytest

from triage.hashmatch import video
from triage.hashmatch import video_frames as video_frames_module
from triage.hashmatch.video import hash_video
from triage.hashmatch.video_frames import idr_test, nonref_skippable
from triage.sample.videos import encode_video, video_frames


def _frames(seed: int, seconds: int = 6, fps: int = 10) -> Iterable[np.ndarray]:
    return video_frames(seed, seconds=seconds, fps=fps, width=320, height=240)


_X265 = "log-level=error:keyint=20"
CASES = {
    # closed GOPs of 2 s: frames after the second sample of each are unneeded
    "h264-mp4": dict(options={"x264-params": "keyint=20:min-keyint=20"}),
    "h264-no-b-frames": dict(options={"x264-params": "keyint=15:bframes=0"}),
    "h264-mkv": dict(container="matroska", options={"x264-params": "keyint=25"}),
    "h264-ts": dict(container="mpegts", options={"x264-params": "keyint=20"}),
    "h264-open-gop": dict(options={"x264-params": "keyint=20:open-gop=1"}),
    "h264-ntsc": dict(fps=Fraction(30000, 1001), options={"x264-params": "keyint=45"}),
    "hevc-mp4": dict(codec="libx265", options={"x265-params": _X265 + ":open-gop=0"}),
    "hevc-ts-open": dict(
        codec="libx265", container="mpegts", options={"x265-params": _X265}
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_skipping_unneeded_frames_changes_nothing(case: str) -> None:
    kwargs: dict[str, Any] = dict(CASES[case])
    fps = kwargs.get("fps", 10)
    data = encode_video(_frames(len(case), fps=round(fps)), **kwargs)
    fast = hash_video(io.BytesIO(data), where=case)
    full = hash_video(io.BytesIO(data), where=case, skip_unneeded=False)
    assert fast.frames == full.frames and len(full.frames) >= 6
    assert (fast.decoded, fast.notes) == (full.decoded, full.notes)
    assert full.skipped == 0 and fast.skipped > 0


def test_timestamps_in_decoding_order_make_it_decode_every_frame() -> None:
    """H.264 with B-frames in AVI: its timestamps count packets in decoding
    order, so numbering frames by them would hash the wrong ones (frames 10
    and 50 were 42 and 38 bits off); the video is read again in full."""
    data = encode_video(
        _frames(7), container="avi", options={"x264-params": "keyint=20"}
    )
    fast = hash_video(io.BytesIO(data), where="b.avi")
    full = hash_video(io.BytesIO(data), where="b.avi", skip_unneeded=False)
    assert fast.frames == full.frames and len(full.frames) >= 6
    assert fast.skipped == 0


def test_frames_before_an_idr_frame_are_not_decoded_even_if_referenced() -> None:
    # No B-frames: every frame is a reference, so only the IDR rule skips.
    data = encode_video(_frames(3), options={"x264-params": "keyint=20:bframes=0"})
    fast = hash_video(io.BytesIO(data), where="t")
    # per 20-frame GOP, frames 0 and 10 are sampled; 11-19 are not needed
    # (before the next IDR frame, or the end)
    assert fast.skipped == 3 * 9 and fast.decoded == 60


def test_a_stream_that_fails_to_decode_is_read_again_in_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = bytearray(
        encode_video(_frames(4, seconds=10), options={"x264-params": "keyint=20"})
    )
    rng = np.random.default_rng(0)
    for start in range(len(data) * 4 // 10, len(data) * 6 // 10, 997):
        data[start : start + 200] = rng.integers(0, 256, 200, dtype=np.uint8).tobytes()
    calls = []
    real = video.all_frames

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(video, "all_frames", counted)
    got = hash_video(io.BytesIO(bytes(data)), where="t")
    assert calls == [1] and got.skipped == 0  # the full reading
    full = hash_video(io.BytesIO(bytes(data)), where="t", skip_unneeded=False)
    assert got == full
    assert any("failed to decode" in n for n in got.notes)


def _nal(kind: int, hevc: bool = False) -> bytes:
    header = bytes([kind << 1, 1]) if hevc else bytes([0x60 | kind])
    return header + b"\x88\x84\x00"


@pytest.mark.parametrize(("hevc", "idr", "other"), [(False, 5, 1), (True, 19, 1)])
def test_idr_frames_are_told_by_their_first_slice(
    hevc: bool, idr: int, other: int
) -> None:
    codec = "hevc" if hevc else "h264"
    sei = 39 if hevc else 6  # a non-slice unit before the slice is passed over
    annex_b = idr_test(codec, None)
    assert annex_b is not None
    start = b"\x00\x00\x00\x01"
    assert annex_b(start + _nal(sei, hevc) + start + _nal(idr, hevc))
    assert not annex_b(start + _nal(sei, hevc) + start + _nal(other, hevc))
    assert not annex_b(b"no start code here")
    # avcC / hvcC: NAL lengths of 4 bytes (low bits of byte 4 / byte 21)
    extradata = bytes([1, 0, 0, 0, 0xFF] + [0] * 16 + [0xF3])
    prefixed = idr_test(codec, extradata)
    assert prefixed is not None

    def units(*nals: bytes) -> bytes:
        return b"".join(len(n).to_bytes(4, "big") + n for n in nals)

    assert prefixed(units(_nal(sei, hevc), _nal(idr, hevc)))
    assert not prefixed(units(_nal(other, hevc), _nal(idr, hevc)))
    assert not prefixed(b"\x00\x00")
    assert idr_test("mpeg4", None) is None


def test_hevc_unreferenced_frames_are_skipped_only_with_one_temporal_layer() -> None:
    def hvcc(layers: int) -> bytes:  # byte 21: rate(2) layers(3) nested(1) size(2)
        return bytes([1] + [0] * 20 + [(layers << 3) | 3, 0])

    assert nonref_skippable("h264", None)
    assert nonref_skippable("hevc", hvcc(1))
    assert not nonref_skippable("hevc", hvcc(3))  # a higher layer may refer
    assert not nonref_skippable("hevc", hvcc(0))  # not known
    assert not nonref_skippable("hevc", None)
    start, sps = b"\x00\x00\x01", b"\x42\x01"  # Annex B: the SPS says
    assert nonref_skippable("hevc", start + b"\x40\x01\x0c" + start + sps + b"\x01")
    assert not nonref_skippable("hevc", start + sps + b"\x05")  # 3 layers
    assert not nonref_skippable("mpeg4", None)


def test_the_key_frame_pass_gives_the_decoder_key_frames_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    given: list[tuple[bool, int]] = []
    real = video_frames_module.packets

    class Watched:
        def __init__(self, packet: Any) -> None:
            self.packet = packet
            self.size, self.is_keyframe = packet.size, packet.is_keyframe

        def decode(self) -> Any:
            given.append((self.is_keyframe, self.size))
            return self.packet.decode()

    def watched(*args: Any) -> Any:
        return (Watched(p) for p in real(*args))

    monkeypatch.setattr(video_frames_module, "packets", watched)
    data = encode_video(_frames(5), options={"x264-params": "keyint=20"})
    got = hash_video(io.BytesIO(data), where="t", keyframes=True)
    assert [f.number for f in got.frames] == [0, 20, 40]
    keys = [key for key, size in given if size]  # the last, empty: a flush
    assert keys == [True, True, True]
