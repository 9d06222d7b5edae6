"""vPDQ-compatible frame hashes of a video, decoded with PyAV from a stream.

vPDQ (Meta's ``vpdq``, ThreatExchange) samples one frame per second: frame
*n* (0 = the first decoded frame) is hashed when ``n % int(average fps) ==
0`` (upstream truncates the rate; a rate below 1 samples every frame), and
its timestamp is ``n / average fps``. Each sampled frame is converted to
RGB at its own size and hashed with PDQ on the float luma
(0.299 R + 0.587 G + 0.114 B, as ``pdqhash`` and Meta's ``fillFloatLumaFromRGB``
do). Here the PDQ is ``triage.hashmatch.frame_kernels.pdq_rgb`` on that
float luma: the same filter and DCT as ``pdqhash`` summed in another order,
so a bit may flip on a coefficient at the median
(``tests/hashmatch/test_video.py`` compares every frame with
``pdqhash.compute`` on the same RGB frame); the frame's pHash comes from
FFmpeg's grey plane, reduced (see ``frame_kernels``).

The video is decoded from a file object (``read``/``seek``): the evidence
stream itself, never a temporary copy. Bounds, each recorded as a note:

- at most ``MAX_FRAMES_HASHED`` frames per video (one hour at 1 fps), and
  at most ``MAX_VIDEO_SECONDS`` of decoding: the rest of a longer (or
  slower) video is not decoded;
- a frame over ``MAX_FRAME_PIXELS`` is refused (a bomb, not a video);
- a rate of 0, missing or above ``MAX_FPS`` is not trusted: frames are then
  sampled by their own timestamps, one per second;
- packets that fail to decode are counted and skipped: the frames around
  them are still hashed (a partial result with a note); so is a demuxer
  error part-way, and a video whose last frame comes well before the length
  its header gives (truncated: an MP4 without its index cannot be opened at
  all, a Matroska or AVI file cut short can).

Frames no sampled frame needs are not decoded at all (H.264 and HEVC:
unreferenced frames, and the frames after the last sampled one before an
IDR frame; see ``triage.hashmatch.video_frames``), frames then numbered by
their timestamps and checked against the decoder; where that cannot be
trusted the video is read again decoding every frame, and numbered by
counting as vPDQ does. The sampled frames and their numbers are the same
either way (``tests/hashmatch/test_video_frames.py``, and against Meta's
``vpdq`` in the slow test of ``tests/hashmatch/test_video.py``).

``keyframes=True`` (the ``--stop-after`` triage pass) decodes key frames
only (``skip_frame = "NONKEY"``), 8-25x cheaper, and hashes each of them;
their frame number is ``round(time * fps)``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import IO, Any

from triage.hashmatch import frame_kernels
from triage.hashmatch.decode import DecodeError
from triage.hashmatch.signals.pdq import DIHEDRAL_VARIANTS
from triage.hashmatch.video_frames import (
    MAX_BAD_PACKETS,
    SKIP_CODECS,
    Reading,
    Renumber,
    all_frames,
    decode_errors,
    sampled_frames,
)
from triage.records import PerceptualHash, VideoFrame

#: Frames hashed per video at most: one hour at vPDQ's one frame a second.
MAX_FRAMES_HASHED = 3600
#: Wall seconds one video may take to decode and hash: a 10-hour or 8K video
#: stops there (noted), whatever the frame cap.
MAX_VIDEO_SECONDS = 600.0
#: Largest frame decoded (width x height): 8K UHD is 33 MP; above 64 MP the
#: stream is refused as a bomb.
MAX_FRAME_PIXELS = 1 << 26
#: Rates above this (frames per second) are not believed.
MAX_FPS = 1000.0
#: A video whose last frame is this far (seconds) before the length its
#: header gives is noted as truncated or damaged.
TRUNCATION_SLACK = 1.0


@dataclass(frozen=True, slots=True)
class VideoHashes:
    """What hashing one video gave: its sampled frames, and how."""

    frames: tuple[VideoFrame, ...]
    width: int
    height: int
    fps: float | None  # the average rate used, None when not trusted
    decoded: int  # frames read, in output order (skipped ones included)
    duration: float | None  # seconds, as the headers give it, when they do
    keyframes: bool = False  # key frames only (the triage pass)
    capped: bool = False  # stopped at the frame cap or the time budget
    notes: tuple[str, ...] = ()
    skipped: int = 0  # of those, frames never decoded (unsampled, unreferenced)


def frame_hashes(
    frame: Any, *, dihedral: bool = True, phash: bool = True
) -> tuple[PerceptualHash, ...]:
    """PDQ (quality on "original"), its dihedral variants and pHash of one
    decoded PyAV frame (see ``triage.hashmatch.frame_kernels``)."""
    values, quality = frame_kernels.pdq_rgb(
        frame_kernels.frame_rgb(frame), dihedral=dihedral
    )
    out = [
        PerceptualHash("pdq", value, variant, quality)
        for variant, value in zip(DIHEDRAL_VARIANTS, values, strict=False)
    ]
    if phash:
        out.append(PerceptualHash("phash", frame_kernels.phash_frame(frame)))
    return tuple(out)


def _rate(stream: Any) -> tuple[float | None, str | None]:
    """The stream's average frame rate, or None and why it is not trusted."""
    rate = stream.average_rate or stream.guessed_rate
    value = float(rate) if isinstance(rate, Fraction | int | float) else 0.0
    if not value or not math.isfinite(value):
        return None, "no frame rate in the header: sampled one frame a second by time"
    if value > MAX_FPS:
        return None, (
            f"frame rate {value:g} fps is not believable: sampled one frame a "
            "second by time"
        )
    return value, None


def _header_length(container: Any, stream: Any, fps: float | None) -> float | None:
    """How long the headers say the video is (seconds), if they say."""
    lengths = [container.duration / 1e6 if container.duration else 0.0]
    if stream.duration and stream.time_base:
        lengths.append(float(stream.duration * stream.time_base))
    if stream.frames and fps:
        lengths.append(stream.frames / fps)
    return max(lengths) or None


def _origin(stream: Any) -> float:
    """When the stream starts (seconds; 0 when its header does not say):
    frame times are counted from there (an MPEG-TS starts at 1.4 s or hours
    in, an MP4 at 0)."""
    if stream.start_time is None or not stream.time_base:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _notes(
    reading: Reading,
    frames: int,
    *,
    capped: str | None,
    length: float | None,
    origin: float,
    keyframes: bool,
) -> list[str]:
    """What a partial result says of itself (``capped``: why the rest of the
    video was not decoded, if it was not)."""
    notes = []
    if reading.bad:
        notes.append(
            f"{len(reading.bad)} packet(s) failed to decode ({reading.bad[0]}): "
            f"{frames} frame(s) hashed around them"
            + ("; gave up" if len(reading.bad) > MAX_BAD_PACKETS else "")
        )
    if reading.stopped is not None:
        notes.append(f"reading stopped ({reading.stopped}): {frames} frame(s) hashed")
    if capped is not None:
        notes.append(f"{capped}: the rest of the video was not decoded")
    elif (
        not keyframes
        and length is not None
        and reading.last_time is not None
        and reading.last_time - origin + TRUNCATION_SLACK < length
    ):
        notes.append(
            f"the video ends at {reading.last_time - origin:.1f} s of the "
            f"{length:.1f} s "
            "its header gives: truncated or damaged"
        )
    return notes


def hash_video(
    fileobj: IO[bytes],
    *,
    where: str,
    keyframes: bool = False,
    max_frames: int = MAX_FRAMES_HASHED,
    dihedral: bool = True,
    skip_unneeded: bool = True,
) -> VideoHashes:
    """vPDQ frame hashes of the video read from ``fileobj`` (see the module;
    ``skip_unneeded=False`` decodes every frame, as vPDQ does).

    Raises:
        DecodeError: not a video PyAV can open, no video stream, a codec it
            cannot decode, frames too large, or not one frame decoded.
    """
    try:
        start = fileobj.tell()
    except (AttributeError, OSError):  # a stream with seek but no tell
        start = 0
    # One time budget for the video, whether it is read once or twice.
    limits = (max_frames, time.monotonic() + MAX_VIDEO_SECONDS)
    if skip_unneeded and not keyframes:
        try:
            return _read(fileobj, where, True, False, limits, dihedral)
        except Renumber:
            fileobj.seek(start)  # read again, decoding every frame
    return _read(fileobj, where, False, keyframes, limits, dihedral)


def _open(fileobj: IO[bytes], where: str) -> Any:
    import av  # noqa: PLC0415 - FFmpeg loads on first use, not at the CLI's start

    try:
        return av.open(fileobj, mode="r")
    except decode_errors(ValueError, OSError) as exc:
        raise DecodeError(where, f"not a decodable video: {exc}") from exc


def _video_stream(container: Any, where: str) -> Any:
    """The first video stream, checked (see ``hash_video``)."""
    if not container.streams.video:
        raise DecodeError(where, "no video stream (audio only?)")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if ctx is None or not getattr(ctx, "name", None):
        raise DecodeError(where, "video codec not known to FFmpeg")
    if ctx.width * ctx.height > MAX_FRAME_PIXELS:
        raise DecodeError(
            where,
            f"frames of {ctx.width}x{ctx.height} exceed {MAX_FRAME_PIXELS:,} pixels",
        )
    ctx.thread_count = 1  # a worker is one core's worth of work
    return stream


def _read(
    fileobj: IO[bytes],
    where: str,
    skip: bool,
    keyframes: bool,
    limits: tuple[int, float],
    dihedral: bool,
) -> VideoHashes:
    """``hash_video``; ``skip``: unsampled unreferenced frames are not decoded
    where the codec allows (raises ``Renumber`` where that fails)."""
    with _open(fileobj, where) as container:
        stream = _video_stream(container, where)
        ctx = stream.codec_context
        width, height = ctx.width, ctx.height
        if keyframes:
            ctx.skip_frame = "NONKEY"
        fps, note = _rate(stream)
        length = _header_length(container, stream, fps)
        origin = _origin(stream)
        reading = Reading()
        step = max(int(fps), 1) if fps else 1
        if skip and step > 1 and ctx.name in SKIP_CODECS:
            frames_in = sampled_frames(container, stream, reading, step)
        else:
            frames_in = all_frames(container, stream, reading, keyframes=keyframes)
        frames, decoded, capped = _sample(
            frames_in,
            fps,
            step=step,
            origin=origin,
            keyframes=keyframes,
            limits=limits,
            dihedral=dihedral,
            where=where,
        )
    notes = ([note] if note else []) + _notes(
        reading,
        len(frames),
        capped=capped,
        length=length,
        origin=origin,
        keyframes=keyframes,
    )
    if not frames:
        reason = "; ".join(notes) or "no frame could be decoded"
        raise DecodeError(where, f"no video frame decoded: {reason}")
    return VideoHashes(
        tuple(frames),
        width,
        height,
        fps,
        decoded if capped else max(decoded, reading.frames),
        length,
        keyframes=keyframes,
        capped=capped is not None,
        notes=tuple(notes),
        skipped=reading.skipped,
    )


def _sample(
    decoded_frames: Iterator[tuple[int, Any]],
    fps: float | None,
    *,
    step: int,
    origin: float,
    keyframes: bool,
    limits: tuple[int, float],
    dihedral: bool,
    where: str,
) -> tuple[list[VideoFrame], int, str | None]:
    """Pick and hash frames by the vPDQ rule (or by time when ``fps`` is
    None; every one in key-frame mode) from (output number, frame) pairs:
    (frames, frames read, why stopped early). Times count from ``origin``.
    Stops at ``limits``: frames hashed, and the ``time.monotonic()``
    deadline, checked at every frame decoded (hashed or not)."""
    max_frames, deadline = limits
    out: list[VideoFrame] = []
    count = 0
    next_second = 0.0
    for n, frame in decoded_frames:
        count = n + 1
        late = time.monotonic() > deadline
        if late and out:  # the first frame is hashed whatever it cost
            return out, count, _budget_spent(len(out))
        picked = _pick(n, frame, fps, step, origin, keyframes, next_second)
        if picked is None:
            if late:  # nothing hashed yet, and nothing due: give up
                return out, count, _budget_spent(0)
            continue
        seconds, number = picked
        if keyframes and out and number <= out[-1].number:
            number = out[-1].number + 1  # key frames closer than 1/fps apart
        if fps is None and not keyframes:
            next_second = math.floor(seconds) + 1.0
        if frame.width * frame.height > MAX_FRAME_PIXELS:
            raise DecodeError(where, f"a frame of {frame.width}x{frame.height}")
        if len(out) >= max_frames:
            return out, count, f"capped at {max_frames} frames hashed (one a second)"
        try:
            hashes = frame_hashes(frame, dihedral=dihedral)
        except decode_errors(ValueError) as exc:  # a frame FFmpeg cannot convert
            raise DecodeError(where, f"frame {number} cannot be hashed: {exc}") from exc
        out.append(VideoFrame(number, round(seconds, 3), hashes))
    return out, count, None


def _pick(
    n: int,
    frame: Any,
    fps: float | None,
    step: int,
    origin: float,
    keyframes: bool,
    next_second: float,
) -> tuple[float, int] | None:
    """(seconds, frame number) of the ``n``-th frame output if it is to be
    hashed, else None: every key frame in key-frame mode, frame ``n % step
    == 0`` (vPDQ), or the first frame of each second by time."""
    when = None if frame.time is None else frame.time - origin
    if keyframes:
        seconds = when if when is not None else n / (fps or 1.0)
        return seconds, (round(seconds * fps) if fps else n)
    if fps is None:
        if when is None or when + 1e-6 < next_second:
            return None
        return when, n
    if n % step:
        return None
    return n / fps, n


def _budget_spent(hashed: int) -> str:
    return (
        f"stopped after {MAX_VIDEO_SECONDS:g} s of decoding (the time budget of "
        f"a video), {hashed} frames hashed"
    )
