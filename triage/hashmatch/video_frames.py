"""Decoded frames of a video stream, numbered as vPDQ numbers them.

``all_frames`` decodes every packet (or, for the key-frame pass, the key
frames only) and numbers frames by counting them, as vPDQ does.

``sampled_frames`` gives only the frames vPDQ samples (``n % step == 0``)
and decodes as few others as it exactly can, for H.264 and HEVC:

- a frame no other frame references is not decoded unless sampled
  (``skip_frame = "NONREF"``, set packet by packet; for HEVC only where its
  header says the stream has one temporal sub-layer: FFmpeg skips every
  "sub-layer non-reference" picture, which a picture of a higher sub-layer
  may still reference);
- a frame after the last sampled one before an IDR frame (in decoding
  order), or before the end of the stream, is not given to the decoder at
  all, reference or not: an IDR frame marks every earlier frame unused for
  reference (its definition in H.264 and HEVC), so no sampled frame needs
  it. IDR frames are found by the type of their first slice (NAL unit type
  5 in H.264, 19 or 20 in HEVC), in packets read up to
  ``MAX_AHEAD_PACKETS`` ahead of the decoder.

A frame's number is then the rank of its timestamp among the packets'
timestamps (presentation order). Every frame the decoder gives back is
checked against that numbering, and no sampled number may go missing;
where anything disagrees (a packet without a timestamp or with a duplicate
one, a packet that fails to decode, a frame out of place) ``Renumber`` is
raised and the caller reads the video again with ``all_frames``.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any


def decode_errors(*others: type[Exception]) -> tuple[type[Exception], ...]:
    """PyAV's error class and ``others``, for an ``except`` clause of code
    that runs only once a video is open: PyAV (and FFmpeg with it) is
    imported on first use, not when triage starts."""
    import av  # noqa: PLC0415 - loaded by then; named here, not at start

    return (av.FFmpegError, *others)


#: Packets that may fail to decode before the video is given up.
MAX_BAD_PACKETS = 50
#: Codecs whose packets hold one frame each and whose FFmpeg decoder skips
#: a frame no other frame references when asked to (``skip_frame``).
SKIP_CODECS = frozenset({"h264", "hevc"})
#: Packets read ahead of the decoder to find the next IDR frame; at least
#: ``MIN_AHEAD_PACKETS`` (H.264 and HEVC reorder at most 16 frames), at
#: most ``MAX_AHEAD_BYTES`` of compressed data beyond that.
MAX_AHEAD_PACKETS = 600
MIN_AHEAD_PACKETS = 32
MAX_AHEAD_BYTES = 32 << 20

# First-slice NAL unit types that make a frame IDR, and how to read a type.
_IDR_TYPES = {"h264": frozenset({5}), "hevc": frozenset({19, 20})}
_VCL_TYPES = {"h264": range(1, 6), "hevc": range(0, 32)}
_NAL_TYPE: dict[str, Callable[[int], int]] = {
    "h264": lambda first: first & 0x1F,
    "hevc": lambda first: (first >> 1) & 0x3F,
}
# Where the NAL length size sits in avcC / hvcC extradata (low two bits + 1).
_LENGTH_SIZE_AT = {"h264": 4, "hevc": 21}


@dataclass
class Reading:
    """What went wrong while reading, and how far it got."""

    bad: list[str] = field(default_factory=list)  # packets that failed
    stopped: str | None = None  # why reading ended early (a demuxer error)
    last_time: float | None = None  # of the last frame read
    frames: int = 0  # frames read in output order, when the reader knows
    skipped: int = 0  # frames not decoded (unsampled, not needed)


class Renumber(Exception):
    """Numbering frames by their timestamps disagreed with the decoder."""


def packets(container: Any, stream: Any, reading: Reading) -> Iterator[Any]:
    """The packets of ``stream``; a demuxer error ends them (noted)."""
    demuxed = container.demux(stream)
    while True:
        try:
            packet = next(demuxed)
        except StopIteration:
            return
        except decode_errors(ValueError, OSError) as exc:
            reading.stopped = str(exc)
            return
        yield packet


def all_frames(
    container: Any, stream: Any, reading: Reading, *, keyframes: bool
) -> Iterator[tuple[int, Any]]:
    """Decoded frames of ``stream`` numbered in output order; packets that
    fail are noted in ``reading``. With ``keyframes``, other packets are not
    even given to the decoder."""
    for packet in packets(container, stream, reading):
        if keyframes and packet.size and not packet.is_keyframe:
            continue
        try:
            decoded = packet.decode()
        except decode_errors(ValueError) as exc:
            reading.bad.append(str(exc))
            if len(reading.bad) > MAX_BAD_PACKETS:
                return
            continue
        for frame in decoded:
            reading.last_time = frame.time
            reading.frames += 1
            yield reading.frames - 1, frame


def nonref_skippable(codec: str, extradata: bytes | None) -> bool:
    """Whether FFmpeg's ``skip_frame = "NONREF"`` skips only frames nothing
    references, for ``codec``: always in H.264 (``nal_ref_idc`` 0); in HEVC
    when the stream has one temporal sub-layer, as ``hvcC`` says (bits 3-5
    of byte 21) or an Annex B SPS does (``sps_max_sub_layers_minus1``, bits
    1-3 of the byte after its NAL header)."""
    if codec == "h264":
        return True
    if codec != "hevc" or not extradata:
        return False
    if extradata[0] == 1:
        return len(extradata) > 22 and (extradata[21] >> 3) & 7 == 1
    sps = extradata.find(b"\x00\x00\x01\x42")  # NAL type 33, layer 0
    return 0 <= sps < len(extradata) - 5 and (extradata[sps + 5] >> 1) & 7 == 0


def idr_test(codec: str, extradata: bytes | None) -> Callable[[bytes], bool] | None:
    """Whether a packet's data starts an IDR frame, for ``codec`` (None: not
    known for this codec). Length-prefixed NAL units (avcC / hvcC
    extradata) or Annex B start codes; the first slice decides."""
    if codec not in _IDR_TYPES:
        return None
    idr, vcl, nal_type = _IDR_TYPES[codec], _VCL_TYPES[codec], _NAL_TYPE[codec]
    at = _LENGTH_SIZE_AT[codec]
    if extradata and extradata[0] == 1 and len(extradata) > at:
        size = (extradata[at] & 3) + 1

        def prefixed(data: bytes) -> bool:
            pos = 0
            while pos + size < len(data):
                length = int.from_bytes(data[pos : pos + size], "big")
                kind = nal_type(data[pos + size])
                if kind in vcl:
                    return kind in idr
                pos += size + length
            return False

        return prefixed

    def annex_b(data: bytes) -> bool:
        pos = data.find(b"\x00\x00\x01")
        while 0 <= pos < len(data) - 3:
            kind = nal_type(data[pos + 3])
            if kind in vcl:
                return kind in idr
            pos = data.find(b"\x00\x00\x01", pos + 3)
        return False

    return annex_b


class _Sampler:
    """The state of ``sampled_frames``: packets read ahead, their numbers."""

    def __init__(self, stream: Any, reading: Reading, step: int) -> None:
        self.ctx, self.reading, self.step = stream.codec_context, reading, step
        self.time_base = stream.time_base
        self.is_idr = idr_test(self.ctx.name, self.ctx.extradata)
        self.nonref = nonref_skippable(self.ctx.name, self.ctx.extradata)
        self.order: list[int] = []  # timestamps of the packets read, sorted
        self.known: set[int] = set()
        self.chosen: dict[int, int] = {}  # timestamp -> number, sampled ones
        self.ahead: deque[tuple[int, Any]] = deque()  # (index, packet)
        self.ahead_bytes = 0
        self.unneeded: set[int] = set()  # indices no sampled frame needs
        self.read = 0  # packets read
        self.due = 0  # the next sampled number
        self.out = 0  # frames the decoder gave back
        self.last_pts = -(1 << 63)  # of the last of them: must grow

    def number(self, pts: int) -> int:
        return bisect.bisect_left(self.order, pts)

    def add(self, packet: Any) -> None:
        """Read ``packet`` ahead; an IDR one marks the packets before it back
        to the last sampled one as unneeded."""
        if packet.pts is None or packet.is_discard or packet.pts in self.known:
            raise Renumber("a packet without its own timestamp")
        bisect.insort(self.order, packet.pts)
        self.known.add(packet.pts)
        self.reading.last_time = float(packet.pts * self.time_base)
        if (
            self.is_idr is not None
            and packet.is_keyframe
            and self.is_idr(bytes(packet))
        ):
            self.mark_unneeded()
        self.ahead.append((self.read, packet))
        self.ahead_bytes += packet.size
        self.read += 1

    def mark_unneeded(self) -> None:
        """Mark the packets read ahead, back to the last sampled one, as
        unneeded: an IDR frame comes next, or nothing does."""
        for index, before in reversed(self.ahead):
            if index in self.unneeded or self.number(before.pts) % self.step == 0:
                break
            self.unneeded.add(index)

    def full(self) -> bool:
        return len(self.ahead) > MAX_AHEAD_PACKETS or (
            self.ahead_bytes > MAX_AHEAD_BYTES and len(self.ahead) > MIN_AHEAD_PACKETS
        )

    def decode_next(self) -> Iterator[tuple[int, Any]]:
        """Decode the packet at the head of the queue, if needed."""
        index, packet = self.ahead.popleft()
        self.ahead_bytes -= packet.size
        if index in self.unneeded:
            self.unneeded.discard(index)
            return
        number = self.number(packet.pts)
        sampled = number % self.step == 0
        self.ctx.skip_frame = "NONREF" if self.nonref and not sampled else "DEFAULT"
        if sampled:
            self.chosen[packet.pts] = number
        yield from self.decode(packet)

    def decode(self, packet: Any) -> Iterator[tuple[int, Any]]:
        """Frames the decoder gives back for ``packet`` (None: flush), the
        sampled ones checked and numbered."""
        try:
            decoded = self.ctx.decode(packet)
        except decode_errors(ValueError) as exc:
            raise Renumber(str(exc)) from exc
        for frame in decoded:
            self.out += 1
            if frame.pts not in self.known:
                raise Renumber(f"a frame at {frame.pts} no packet has")
            if frame.pts <= self.last_pts:  # timestamps in decoding order (AVI)
                raise Renumber(f"a frame at {frame.pts} after one at {self.last_pts}")
            self.last_pts = frame.pts
            number = self.number(frame.pts)
            if number % self.step:
                continue  # decoded because others reference it
            if self.chosen.get(frame.pts) != number or number != self.due:
                raise Renumber(f"frame {number} out of place")
            self.due = number + self.step
            self.reading.frames = number + 1
            yield number, frame


def sampled_frames(
    container: Any, stream: Any, reading: Reading, step: int
) -> Iterator[tuple[int, Any]]:
    """The frames of ``stream`` numbered ``n % step == 0`` in output order,
    decoding as few others as it can (see the module).

    Raises:
        Renumber: the numbering by timestamps cannot be trusted here.
    """
    sampler = _Sampler(stream, reading, step)
    for packet in packets(container, stream, reading):
        if not packet.size:
            break  # the demuxer's flush packet: the decoder is flushed below
        sampler.add(packet)
        while sampler.full():
            yield from sampler.decode_next()
    if reading.stopped is None:
        sampler.mark_unneeded()  # the last frames, if no sampled one needs them
    while sampler.ahead:
        yield from sampler.decode_next()
    yield from sampler.decode(None)
    if sampler.due < len(sampler.order):
        raise Renumber(f"frame {sampler.due} never came")
    reading.frames = len(sampler.order)
    reading.skipped = len(sampler.order) - sampler.out
