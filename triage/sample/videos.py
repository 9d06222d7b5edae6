"""Benign videos for tests, the demo and benchmarks, made with PyAV.

``video_frames(seed)`` is a deterministic sequence of RGB frames: scenes of
the project's generated pictures (``make_picture``), each panned slowly for
``scene_seconds``, so every second looks different and different seeds are
unrelated. ``encode_video`` writes frames in any container and codec PyAV's
FFmpeg offers; ``make_video`` does both; ``slideshow`` shows given pictures
for a few seconds each. Nothing here is anything but generated shapes.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from fractions import Fraction

import av
import numpy as np
from PIL import Image

from triage.sample.pictures import make_picture

#: How far a scene's picture is larger than the frame: the pan's room.
_PAN_MARGIN = 1.25


def video_frames(
    seed: int,
    *,
    seconds: float = 10.0,
    fps: int = 10,
    width: int = 320,
    height: int = 240,
    scene_seconds: float = 2.0,
) -> Iterator[np.ndarray]:
    """``seconds * fps`` RGB frames (height x width x 3, uint8)."""
    big = (int(width * _PAN_MARGIN), int(height * _PAN_MARGIN))
    per_scene = max(1, round(scene_seconds * fps))
    scene: np.ndarray | None = None
    for n in range(round(seconds * fps)):
        k, step = divmod(n, per_scene)
        if step == 0 or scene is None:
            picture = make_picture(seed * 1000 + k, big[0], big[1])
            scene = np.asarray(picture.convert("RGB"))
        t = step / per_scene
        x = int(t * (big[0] - width))
        y = int(t * (big[1] - height) / 2)
        yield np.ascontiguousarray(scene[y : y + height, x : x + width])


def encode_video(
    frames: Iterable[np.ndarray],
    *,
    fps: int | Fraction = 10,
    codec: str = "libx264",
    container: str = "mp4",
    size: tuple[int, int] | None = None,
    gop: int | None = None,
    bit_rate: int | None = None,
    options: Mapping[str, str] | None = None,
) -> bytes:
    """The frames encoded as one video stream; ``size`` (width, height)
    rescales them (even sides, as yuv420p needs); ``bit_rate`` (bits a
    second) rate-controls the encoder (capped at it, with a 2 s buffer) where
    it would otherwise choose its own (x264: CRF 23); ``options`` are the
    encoder's own (``x264-params``, ...)."""
    stream_of = iter(frames)
    first = next(stream_of, None)
    if first is None:
        raise ValueError("no frames to encode")
    width, height = size or (first.shape[1], first.shape[0])
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = width - width % 2, height - height % 2
        stream.pix_fmt = "yuv420p"
        if gop is not None:
            stream.codec_context.gop_size = gop
        chosen = dict(options or {})
        if bit_rate is not None:
            stream.bit_rate = bit_rate
            chosen |= {"maxrate": str(bit_rate), "bufsize": str(2 * bit_rate)}
        stream.codec_context.options = chosen
        for rgb in itertools.chain((first,), stream_of):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            if (frame.width, frame.height) != (stream.width, stream.height):
                frame = frame.reformat(width=stream.width, height=stream.height)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return buffer.getvalue()


def make_video(
    seed: int,
    *,
    seconds: float = 10.0,
    fps: int = 10,
    width: int = 320,
    height: int = 240,
    codec: str = "libx264",
    container: str = "mp4",
    gop: int | None = None,
) -> bytes:
    """A generated video of ``seed`` (see ``video_frames``), encoded."""
    frames = video_frames(seed, seconds=seconds, fps=fps, width=width, height=height)
    return encode_video(frames, fps=fps, codec=codec, container=container, gop=gop)


def slideshow(
    pictures: Sequence[Image.Image],
    *,
    seconds_each: float = 3.0,
    fps: int = 10,
    width: int = 320,
    height: int = 240,
) -> Iterator[np.ndarray]:
    """Frames showing each picture, resized to the frame, for ``seconds_each``."""
    for picture in pictures:
        rgb = np.asarray(picture.convert("RGB").resize((width, height)))
        for _ in range(round(seconds_each * fps)):
            yield rgb
