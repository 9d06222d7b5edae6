"""vPDQ video hashing: speed against decoding, the key-frame pass, memory, and
a device of videos and pictures.

    python benchmarks/bench_video.py speed  [--seconds 30] [--repeat 3]
                                            [--content NAME|both|all]
    python benchmarks/bench_video.py drift  [--seconds 30] [--content ...]
    python benchmarks/bench_video.py memory [--8k]
    python benchmarks/bench_video.py device [--videos 50] [--pictures 2000]

``speed``: a generated 720p H.264 video (30 fps, a key frame every 2 s;
benign panned scenes of ``make_picture``, "textured": its pixel noise makes
key frames of ~220 KiB), and the same scenes blurred by 1 px ("smooth":
key frames of ~60 KiB, closer to shared or re-encoded footage), and
"camera-like" footage at three bit rates (the scenes blurred 0.6 px with
fresh Gaussian noise of sigma 2 on every frame, as a sensor gives, so that
predicted frames cost bits too; x264 rate-controlled at 2.5, 5 and 8
Mbit/s: ``camera-2.5M``, ``camera-5M``, ``camera-8M``); ``--content``
names one, ``both`` (textured and smooth) or ``all`` (the default); then,
for each, in one process, one thread, best of ``--repeat`` interleaved rounds:
PyAV decoding every frame and nothing else; PyAV decoding the key-frame
packets only; vPDQ hashing (``hash_video``: the frames no sampled frame
needs are not decoded, one frame a second converted to RGB and hashed);
the same decoding every frame (``skip_unneeded=False``); the key-frame pass
(``keyframes=True``); hashing the key frames alone, decoded beforehand.
Times in CPU seconds (``time.process_time``) and wall seconds; "x real
time" is the video's length over CPU time.

``drift``: on every frame of those videos, PDQ as ``hash_video`` computes it
against ``pdqhash`` on the same RGB frame, and the frame's pHash against
the pHash of the RGB frame taken as a picture; then ``hash_video``'s frames
against Meta's ``vpdq`` (when installed: the ``vpdq`` extra).

``memory``: peak resident memory (``VmHWM`` of a fresh child process that
only imports triage, reads the file and hashes it) with a 1080p and a 4K
video (``--8k``: and an 8K one).

``device``: a FAT32 image of ``--videos`` short videos (5 s, 320x240; one of
them a re-encode of a known video, in the middle) and ``--pictures``
generated JPEGs (one of them known, in the middle), scanned with 2 local
workers: whole scan and time to first hit with ``stop_after=1``, against the
same device with the videos left out; each in-process (``scheduler="sync"``:
all the work in this process, so ``process_time`` is its whole CPU cost)
and with 2 local workers (wall only), rounds alternating, best of
``--rounds``.

Prints the machine, load and a table. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageFilter

from triage.hashmatch.kernels import one_blas_thread
from triage.hashmatch.video import frame_hashes, hash_video
from triage.sample.videos import encode_video, make_video, video_frames

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "out"


def _header(what: str) -> None:
    print(f"# bench_video.py {what}: {platform.machine()} {platform.python_version()}"
          f" av {av.__version__}, load {os.getloadavg()[0]:.2f}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")  # fmt: skip


@dataclass(frozen=True)
class Content:
    """What a speed video shows and how it is encoded."""

    label: str
    blur: float = 0.0  # Gaussian blur radius of each frame, px
    noise: float = 0.0  # sigma of fresh Gaussian noise on each frame (sensor-like)
    bit_rate: int | None = None  # x264 bit rate (maxrate = it); None: CRF 23

    @property
    def tag(self) -> str:
        return (
            (f"-blur{self.blur:g}" if self.blur else "")
            + (f"-noise{self.noise:g}" if self.noise else "")
            + (f"-{self.bit_rate // 1000}k" if self.bit_rate else "")
        )


#: Content of the speed and drift rows.
CONTENTS = {
    "textured": Content("textured (panned scenes with pixel noise, as generated)"),
    "smooth": Content(
        "smooth (the same scenes blurred, radius 1 px: no pixel noise)", blur=1.0
    ),
    **{
        f"camera-{rate:g}M": Content(
            f"camera-like (scenes blurred 0.6 px, fresh noise sigma 2 on every "
            f"frame as a sensor gives, {rate:g} Mbit/s)",
            blur=0.6,
            noise=2.0,
            bit_rate=int(rate * 1_000_000),
        )
        for rate in (2.5, 5, 8)
    },
}


def _video(
    name: str,
    width: int,
    height: int,
    seconds: int,
    fps: int = 30,
    content: Content = CONTENTS["textured"],
) -> bytes:
    """A generated H.264 video (a key frame every 2 s) showing ``content``,
    cached in benchmarks/out/."""
    path = OUT / f"{name}-{width}x{height}-{seconds}s{content.tag}.mp4"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        frames = video_frames(
            11, seconds=seconds, fps=fps, width=width, height=height,
            scene_seconds=4,
        )  # fmt: skip
        if content.blur:
            radius = ImageFilter.GaussianBlur(content.blur)
            frames = (np.asarray(Image.fromarray(f).filter(radius)) for f in frames)
        if content.noise:
            rng, sigma = np.random.default_rng(5), content.noise
            frames = (
                np.clip(f + rng.normal(0, sigma, f.shape), 0, 255).astype(np.uint8)
                for f in frames
            )
        path.write_bytes(
            encode_video(frames, fps=fps, gop=2 * fps, bit_rate=content.bit_rate)
        )
    return path.read_bytes()


def _decode_only(data: bytes, *, keyframes: bool = False) -> int:
    """PyAV decoding every frame (or only the key-frame packets), one thread."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = 1
        if keyframes:
            stream.codec_context.skip_frame = "NONKEY"
        return sum(
            len(packet.decode())
            for packet in container.demux(stream)
            if packet.is_keyframe or not keyframes or not packet.size
        )


def _key_frames(data: bytes) -> list[Any]:
    """The decoded key frames of ``data`` (to time their hashing alone)."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONKEY"
        return [
            frame
            for packet in container.demux(stream)
            if packet.is_keyframe or not packet.size
            for frame in packet.decode()
        ]


def _hash_frames(frames: list[Any]) -> str:
    """``frame_hashes`` of each frame (RGB, PDQ and its dihedral variants,
    pHash), as the key-frame pass computes them."""
    for frame in frames:
        frame_hashes(frame, dihedral=True)
    return f"{len(frames)}"


def _hashed(data: bytes, **options: Any) -> str:
    got = hash_video(io.BytesIO(data), where="b", **options)
    return f"{len(got.frames)} ({got.decoded - got.skipped} decoded)"


def _chosen(content: str) -> list[str]:
    """The contents ``--content`` names: one, "both" (textured and smooth,
    as before the camera-like rows) or "all"."""
    if content == "all":
        return list(CONTENTS)
    return ["textured", "smooth"] if content == "both" else [content]


def speed(args: argparse.Namespace) -> None:
    for name in _chosen(args.content):
        content = CONTENTS[name]
        label = content.label
        data = _video("speed", 1280, 720, args.seconds, content=content)
        with av.open(io.BytesIO(data)) as container:
            keys = [p.size for p in container.demux(video=0) if p.is_keyframe]
        keys = [size for size in keys if size]
        _header(f"speed, 720p H.264 30 fps, {args.seconds} s, key frame every 2 s, "
                f"{label}: {len(data) / 2**20:.1f} MiB, key frames "
                f"{sum(keys) / len(keys) / 1024:.0f} KiB on average")  # fmt: skip
        _speed_table(data, args.seconds, args.repeat)


def _speed_table(data: bytes, seconds: int, repeat: int) -> None:
    keys = _key_frames(data)
    rows = [
        ("decode only (every frame)", lambda: f"{_decode_only(data)}"),
        ("decode only (key frames)", lambda: f"{_decode_only(data, keyframes=True)}"),
        ("vPDQ hashing (1 frame/s)", lambda: _hashed(data)),
        ("vPDQ hashing, every frame decoded",
         lambda: _hashed(data, skip_unneeded=False)),
        ("key-frame pass", lambda: _hashed(data, keyframes=True)),
        ("hashing the decoded key frames alone", lambda: _hash_frames(keys)),
    ]  # fmt: skip
    best = _interleaved([fn for _, fn in rows], repeat)
    print("| measure | CPU s | wall s | x real time (CPU) | frames | vs decode |")
    print("|---|---|---|---|---|---|")
    base = best[0][0]
    for (name, _), (cpu, wall, out) in zip(rows, best, strict=True):
        print(f"| {name} | {cpu:.3f} | {wall:.3f} | {seconds / cpu:.1f} | "
              f"{out} | {cpu / base:.2f}x |")  # fmt: skip


def _interleaved(
    fns: list[Callable[[], str]], repeat: int
) -> list[tuple[float, float, str]]:
    """Best (least CPU) of ``repeat`` rounds of each of ``fns``, the rounds
    interleaved so that a busier spell of the machine hits them all alike."""
    best = [(float("inf"), float("inf"), "")] * len(fns)
    for _ in range(repeat):
        for k, fn in enumerate(fns):
            wall, cpu = time.perf_counter(), time.process_time()
            out = fn()
            cpu = time.process_time() - cpu
            wall = time.perf_counter() - wall
            if cpu < best[k][0]:
                best[k] = (cpu, wall, out)
    return best


_CHILD = """
import io, sys, time
from triage.hashmatch.kernels import one_blas_thread
from triage.hashmatch.video import hash_video
one_blas_thread()

def hwm():  # peak resident KiB of this process (ru_maxrss survives exec)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

data = open(sys.argv[1], "rb").read()
before = hwm()
t = time.process_time()
frames = hash_video(io.BytesIO(data), where="b").frames
print(before, hwm(), len(frames), time.process_time() - t)
"""


def memory(args: argparse.Namespace) -> None:
    _header("memory")
    print("| video | file MiB | RSS before MiB | peak RSS MiB | frames | CPU s |")
    print("|---|---|---|---|---|---|")
    sizes = (("1080p", (1920, 1080), 10), ("4K", (3840, 2160), 5))
    if args.eight_k:
        sizes += (("8K", (7680, 4320), 2),)
    for name, (w, h), seconds in sizes:
        data = _video("memory", w, h, seconds)
        path = OUT / f"memory-{w}x{h}-{seconds}s.mp4"
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, str(path)],
            capture_output=True, text=True, check=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        ).stdout.split()  # fmt: skip
        before, peak, frames, cpu = int(out[0]), int(out[1]), out[2], float(out[3])
        print(f"| {name} H.264 {seconds} s | {len(data) / 2**20:.1f} | "
              f"{before / 1024:.0f} | {peak / 1024:.0f} | {frames} | "
              f"{cpu:.2f} |")  # fmt: skip


def drift(args: argparse.Namespace) -> None:
    """Every frame of the speed videos: the PDQ ``hash_video`` computes
    (``frame_kernels``) against ``pdqhash.compute`` on the same RGB frame,
    and the frame's pHash (FFmpeg's grey plane, area-reduced) against a
    picture's (the RGB frame as a picture: Pillow's grey, ``reduce_to``,
    ``kernels.phash``)."""
    import pdqhash

    from triage.hashmatch import frame_kernels, kernels
    from triage.hashmatch.decode import DECODE_MIN_SIDE, reduce_to
    from triage.hashmatch.signals import bits_to_hex, hamming

    _header(f"drift, 720p H.264 30 fps, {args.seconds} s, every frame")
    print("| content | frames | PDQ bits differing from pdqhash: frames, max | "
          "quality differing | pHash bits against the picture path: mean, max |\n"
          "|---|---|---|---|---|")  # fmt: skip
    for content in _chosen(args.content):
        data = _video("speed", 1280, 720, args.seconds, content=CONTENTS[content])
        pdq_bits, qualities, phash_bits = [], 0, []
        with av.open(io.BytesIO(data)) as container:
            for frame in container.decode(video=0):
                rgb = frame.to_ndarray(format="rgb24")
                bits, quality = pdqhash.compute(rgb)
                (value, *_), ours = frame_kernels.pdq_rgb(rgb, dihedral=False)
                pdq_bits.append(hamming(value, bits_to_hex(bits)))
                qualities += ours != int(quality)
                grey = reduce_to(Image.fromarray(rgb).convert("L"), DECODE_MIN_SIDE)
                picture = kernels.phash(np.asarray(grey))
                phash_bits.append(hamming(frame_kernels.phash_frame(frame), picture))
        print(f"| {content} | {len(pdq_bits)} | "
              f"{sum(1 for b in pdq_bits if b)}, {max(pdq_bits)} | {qualities} | "
              f"{np.mean(phash_bits):.2f}, {max(phash_bits)} |")  # fmt: skip
    for content in _chosen(args.content):
        data = _video("speed", 1280, 720, args.seconds, content=CONTENTS[content])
        _against_vpdq(content, data)


def _against_vpdq(content: str, data: bytes) -> None:
    """``hash_video`` (frames skipped) against Meta's ``vpdq``, if installed."""
    try:
        import vpdq  # type: ignore[import-not-found]
    except ImportError:
        print(f"({content}: vpdq not installed, not compared)")
        return
    with tempfile.NamedTemporaryFile(suffix=".mp4") as tmp:  # generated content
        tmp.write(data)
        tmp.flush()
        reference = [(r.frame_number, round(r.timestamp, 3), r.quality, r.hex)
                     for r in vpdq.computeHash(tmp.name)]  # fmt: skip
    got = hash_video(io.BytesIO(data), where="b")
    ours = [(f.number, f.timestamp, f.pdq.quality, f.pdq.value)
            for f in got.frames if f.pdq is not None]  # fmt: skip
    print(f"({content}: {len(ours)} frames, {got.skipped} of {got.decoded} not "
          f"decoded; equal to Meta's vpdq: {ours == reference})")  # fmt: skip


def _device_files(videos: int, pictures: int) -> tuple[dict[str, bytes], bytes, bytes]:
    from triage.sample.pictures import encode, make_picture

    known_video = make_video(900, seconds=5)
    known_picture = encode(make_picture(901, 640, 480))
    files: dict[str, bytes] = {}
    for i in range(pictures):
        files[f"Pictures/{i // 200:02}/IMG_{i:05}.jpg"] = (
            known_picture if i == pictures // 2 else encode(make_picture(10_000 + i))
        )
    for i in range(videos):
        files[f"Videos/VID_{i:03}.mp4"] = (
            encode_video(
                video_frames(900, seconds=5),
                codec="mpeg4",
                container="avi",
                size=(480, 360),
            )  # fmt: skip
            if i == videos // 2
            else make_video(20_000 + i, seconds=5)
        )
    return files, known_video, known_picture


def device(args: argparse.Namespace) -> None:
    from triage.cli import main as cli
    from triage.sample.disk import build_filesystem
    from triage.scan import scan

    work = OUT / f"device-{args.videos}v-{args.pictures}p"
    work.mkdir(parents=True, exist_ok=True)
    with_videos, without = work / "with-videos.raw", work / "pictures-only.raw"
    bad = work / "known.ths"
    if not bad.exists():
        files, known_video, known_picture = _device_files(args.videos, args.pictures)
        ref = work / "ref" / "A"
        ref.mkdir(parents=True, exist_ok=True)
        (ref / "known.mp4").write_bytes(known_video)
        (ref / "known.jpg").write_bytes(known_picture)
        build_filesystem("fat32", files, with_videos)
        pictures_only = {k: v for k, v in files.items() if k.startswith("Pictures/")}
        build_filesystem("fat32", pictures_only, without)
        try:
            cli(["hashset", "build", str(ref.parent), "-o", str(bad)],
                standalone_mode=False)  # fmt: skip
        except SystemExit:
            pass
    _header(f"device: {args.videos} videos + {args.pictures} pictures, "
            f"best of {args.rounds} rounds")  # fmt: skip
    runs = (
        ("whole scan, sync (1 process)", "sync", None),
        ("whole scan, 2 workers", None, None),
        ("--stop-after 1, 2 workers", None, 1),
    )
    devices = (("pictures only", without), ("with videos", with_videos))
    best: dict[tuple[str, str], tuple[float, float, Any]] = {}
    for _ in range(args.rounds):  # alternate, so drift hits both alike
        for label, evidence in devices:
            for run, scheduler, stop in runs:
                with tempfile.TemporaryDirectory() as tmp:
                    db = Path(tmp) / "case.db"
                    wall, cpu = time.perf_counter(), time.process_time()
                    summary = scan([evidence], [bad], db, workers=2,
                                   scheduler=scheduler, stop_after=stop)  # fmt: skip
                    wall = time.perf_counter() - wall
                    cpu = time.process_time() - cpu
                (d,) = summary.as_dict()["devices"]
                held = best.get((label, run))
                if held is None or wall < held[0]:
                    best[(label, run)] = (wall, cpu, d)
    print("| device | run | wall s | CPU s (sync only) | first hit s | media |"
          " matches |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for (label, run), (wall, cpu, d) in best.items():
        hit = d["first_hit_seconds"]
        shown_cpu = f"{cpu:.2f}" if "sync" in run else "-"
        print(f"| {label} | {run} | {wall:.2f} | {shown_cpu} | "
              f"{'-' if hit is None else f'{hit:.2f}'} | {d['media']} | "
              f"{d['matches']} |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--seconds", type=int, default=30)
    s.add_argument("--repeat", type=int, default=3)
    s.add_argument("--content", choices=[*CONTENTS, "both", "all"], default="all")
    r = sub.add_parser("drift")
    r.add_argument("--seconds", type=int, default=30)
    r.add_argument("--content", choices=[*CONTENTS, "both", "all"], default="all")
    m = sub.add_parser("memory")
    m.add_argument("--8k", dest="eight_k", action="store_true", help="and 8K")
    d = sub.add_parser("device")
    d.add_argument("--videos", type=int, default=50)
    d.add_argument("--pictures", type=int, default=2000)
    d.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    one_blas_thread()  # as scan workers do: one core's worth of work
    {"speed": speed, "drift": drift, "memory": memory, "device": device}[args.what](
        args
    )


if __name__ == "__main__":
    main()
