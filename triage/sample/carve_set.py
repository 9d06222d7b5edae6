"""A benign set of every carved format, for carving tests and benchmarks.

``carve_originals(seed)`` gives pictures (JPEG of three sizes, PNG, GIF,
BMP, WebP, TIFF, HEIC) and short videos (MP4, MOV, 3GP, AVI) made from
generated scenes, sized so that on an ext2 filesystem with 1 KiB blocks
the large ones cross one indirect block (12 KiB to 268 KiB) or the
double-indirect pair (over 268 KiB). Videos are encoded with PyAV (MPEG-4
Part 2 / H.263: no patent-encumbered encoder needed).
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from triage.sample.pictures import encode, make_picture

#: container format -> (PyAV muxer, codec, file extension)
VIDEO_FORMATS: dict[str, tuple[str, str, str]] = {
    "mp4": ("mp4", "mpeg4", "mp4"),
    "mov": ("mov", "mpeg4", "mov"),
    "3gp": ("3gp", "h263", "3gp"),
    "avi": ("avi", "mpeg4", "avi"),
}


def make_video(
    kind: str, seed: int, frames: int = 12, width: int = 176, height: int = 144
) -> bytes:
    """A short benign video: a generated scene panning, ``frames`` frames at
    10 fps, in ``kind`` (a key of :data:`VIDEO_FORMATS`)."""
    import av  # noqa: PLC0415 - optional: only videos need it

    muxer, codec, _ = VIDEO_FORMATS[kind]
    scene = np.asarray(make_picture(seed, width * 2, height))
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=muxer) as out:
        stream = out.add_stream(codec, rate=10)
        if not isinstance(stream, av.VideoStream):
            raise TypeError(f"{codec} is not a video codec")
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.bit_rate = 400_000
        for i in range(frames):
            left = (i * width) // max(frames - 1, 1)
            frame = np.ascontiguousarray(scene[:, left : left + width])
            video = av.VideoFrame.from_ndarray(frame, format="rgb24")
            for packet in stream.encode(video):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buffer.getvalue()


def carve_originals(seed: int = 0, *, videos: bool = True) -> dict[str, bytes]:
    """File name -> content of one of each carved format (names say the
    size class: ``small`` < 12 KiB, ``one_ind`` crosses one ext2 indirect
    block at 1 KiB blocks, ``two_ind`` the double-indirect pair)."""

    def picture(k: int, w: int, h: int) -> Image.Image:
        return make_picture(seed * 100 + k, w, h)

    out = {
        "small.jpg": encode(picture(1, 96, 64), "JPEG"),
        "one_ind.jpg": encode(picture(2, 320, 240), "JPEG", 95),
        "two_ind.jpg": encode(picture(3, 1280, 960), "JPEG", 95),
        "one_ind.png": encode(picture(4, 100, 80), "PNG"),
        "one_ind.gif": encode(picture(5, 200, 150), "GIF"),
        "one_ind.bmp": encode(picture(6, 100, 80), "BMP"),
        "one_ind.webp": encode(picture(7, 320, 240), "WEBP", 90),
        "one_ind.tif": encode(picture(8, 100, 80), "TIFF"),
        "one_ind.heic": encode(picture(9, 320, 240), "HEIF", 90),
    }
    if videos:
        for n, kind in enumerate(VIDEO_FORMATS):
            ext = VIDEO_FORMATS[kind][2]
            out[f"one_ind.{ext}"] = make_video(kind, seed * 100 + 20 + n)
    return out
