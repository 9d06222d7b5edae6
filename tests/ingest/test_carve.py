"""Carving and allocation maps, checked against planted bytes and ``blkls``."""

from __future__ import annotations

import io
import random
import struct
import subprocess
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.conftest import require_tools
from triage.errors import EvidenceError
from triage.ingest.carve import (
    BLOCK,
    CARVERS,
    DEFAULT_FORMATS,
    carve,
    carve_partition,
    unallocated_runs,
)
from triage.ingest.evidence import open_device
from triage.ingest.filesystems import open_filesystem
from triage.ingest.volumes import iter_partitions
from triage.records import FileRecord, Partition, Skipped, Source
from triage.sample.disk import build_filesystem
from triage.sample.pictures import encode, make_picture


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def jpeg() -> bytes:
    return encode(make_picture(11, 160, 120), "JPEG")


@pytest.fixture(scope="module")
def png() -> bytes:
    return encode(make_picture(12, 90, 70), "PNG")


class FakeDevice:
    """A device over bytes; reads in ``bad`` ranges fail like a damaged E01."""

    def __init__(self, data: bytes, bad: tuple[int, int] | None = None) -> None:
        self.data, self.bad, self.reads = data, bad, 0

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, offset: int, size: int) -> bytes:
        self.reads += 1
        if self.bad and offset < self.bad[1] and offset + size > self.bad[0]:
            raise EvidenceError(f"dev: read error at {offset}")
        return self.data[offset : offset + size]


def region(size: int) -> Partition:
    return Partition("dev", "/e/dev.raw", 2, 0, size, "unallocated", allocated=False)


ALL_FORMATS = tuple(CARVERS)  # the helper carves every format, not just the default


def carved(
    device: FakeDevice, start: int = 0, formats: tuple[str, ...] = ALL_FORMATS
) -> list[FileRecord | Skipped]:
    run = device.size - start
    return list(carve(device, region(device.size), start, run, formats=formats))  # type: ignore[arg-type]


def test_planted_pictures_are_carved_with_offsets_and_same_pixels(
    jpeg: bytes, png: bytes
) -> None:
    data = bytearray(random.Random(5).randbytes(6 * BLOCK))
    plants = {
        4097: jpeg,
        BLOCK - 3: png,  # the signature straddles a block boundary
        3 * BLOCK - 5000: jpeg,  # the picture straddles a block boundary
        5 * BLOCK + 77: png,
    }
    for offset, blob in plants.items():
        data[offset : offset + len(blob)] = blob
    device = FakeDevice(bytes(data))
    items = carved(device)
    assert all(isinstance(i, FileRecord) for i in items)
    got = {i.carve_offset: i for i in items if isinstance(i, FileRecord)}
    assert set(got) == set(plants)
    for offset, blob in plants.items():
        item = got[offset]
        assert item.size == len(blob)
        assert item.source is Source.CARVED and item.inode is None
        assert item.media_type == ("image/jpeg" if blob is jpeg else "image/png")
        assert item.path == f"$Carved/{offset}.{'jpg' if blob is jpeg else 'png'}"
        assert item.address == f"p2:carve@{offset}"
        recovered = device.data[offset : offset + item.size]
        assert recovered == blob
        assert np.array_equal(pixels(recovered), pixels(blob))


def test_a_search_can_start_mid_device(jpeg: bytes) -> None:
    data = bytearray(3 * BLOCK)
    data[100:100 + len(jpeg)] = jpeg  # fmt: skip
    data[2 * BLOCK + 9 : 2 * BLOCK + 9 + len(jpeg)] = jpeg
    items = carved(FakeDevice(bytes(data)), start=BLOCK + 1)
    assert [i.carve_offset for i in items if isinstance(i, FileRecord)] == [
        2 * BLOCK + 9
    ]


def test_truncated_picture_is_still_reported(jpeg: bytes, png: bytes) -> None:
    data = bytearray(random.Random(6).randbytes(2 * BLOCK))
    half_jpeg = jpeg[: len(jpeg) // 2]
    data[1000 : 1000 + len(half_jpeg)] = half_jpeg
    # A PNG whose second chunk has a bad CRC: reported up to its last good chunk.
    bad_png = bytearray(png)
    ihdr_end = 8 + 12 + 13
    bad_png[ihdr_end + 10] ^= 0xFF
    data[BLOCK : BLOCK + len(bad_png)] = bad_png
    items = [i for i in carved(FakeDevice(bytes(data))) if isinstance(i, FileRecord)]
    got = {i.carve_offset: i for i in items}
    assert got[1000].media_type == "image/jpeg"
    assert got[1000].size >= len(half_jpeg)  # cut where the structure breaks
    assert got[BLOCK].size == ihdr_end


def test_thumbnail_inside_a_carved_jpeg_is_not_reported_twice(jpeg: bytes) -> None:
    thumb = encode(make_picture(13, 32, 24), "JPEG")
    # Put a whole JPEG inside a COM segment right after SOI, like an EXIF thumbnail.
    comment = b"\xff\xfe" + struct.pack(">H", len(thumb) + 2) + thumb
    outer = jpeg[:2] + comment + jpeg[2:]
    assert np.array_equal(pixels(outer), pixels(jpeg))
    data = bytearray(BLOCK)
    data[512 : 512 + len(outer)] = outer
    items = carved(FakeDevice(bytes(data)))
    assert [(i.carve_offset, i.size) for i in items if isinstance(i, FileRecord)] == [
        (512, len(outer))
    ]


def test_no_false_positives_in_random_data_zeros_or_text() -> None:
    rng = np.random.default_rng(20261121)
    for blob in (
        rng.bytes(8 * BLOCK),
        bytes(4 * BLOCK),
        b"\xff\xd8\xff" * (BLOCK // 3),  # signature soup: every hit fails fast
        b"\x89PNG\r\n\x1a\n" * (BLOCK // 8),
        b"The quick brown fox. " * (BLOCK // 21),
    ):
        start = time.perf_counter()
        assert carved(FakeDevice(blob)) == []
        assert time.perf_counter() - start < 10


def test_a_read_error_skips_one_block_and_carving_goes_on(jpeg: bytes) -> None:
    data = bytearray(4 * BLOCK)
    data[10 : 10 + len(jpeg)] = jpeg
    data[3 * BLOCK + 10 : 3 * BLOCK + 10 + len(jpeg)] = jpeg
    device = FakeDevice(bytes(data), bad=(BLOCK + 5, BLOCK + 6))
    items = carved(device)
    records = [i.carve_offset for i in items if isinstance(i, FileRecord)]
    skips = [i for i in items if isinstance(i, Skipped)]
    assert records == [10, 3 * BLOCK + 10]
    assert len(skips) == 1 and skips[0].stage == "carve"
    assert skips[0].where.startswith("p2 @ ") and "read error" in skips[0].reason


def test_each_byte_is_read_about_once(jpeg: bytes) -> None:
    data = bytearray(random.Random(8).randbytes(16 * BLOCK))
    for n in range(16):
        data[n * BLOCK + 99 : n * BLOCK + 99 + len(jpeg)] = jpeg
    device = FakeDevice(bytes(data))
    assert len(carved(device)) == 16
    assert device.reads <= 17  # one aligned block read each (plus the tail)


# --- allocation maps against Sleuth Kit's blkls -------------------------------

FILES = {
    "keep/a.txt": b"a" * 5000,
    "keep/b.bin": bytes(range(256)) * 300,
    "gone/c.bin": b"c" * 70_000,
    "gone.txt": b"d" * 3000,
}


def _blkls_free(image: Path) -> set[int]:
    listing = subprocess.run(
        ["blkls", "-l", str(image)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    return {int(line.split("|")[0]) for line in listing[3:] if line.endswith("|f")}


@pytest.mark.parametrize(
    ("fs", "size_mb"),
    [
        ("fat12", None),
        ("fat16", None),
        ("fat32", None),
        ("exfat", None),
        ("ntfs", None),
        ("ext2", None),
        ("ext4", 96),  # several block groups, most with uninitialised bitmaps
    ],
)
def test_unallocated_runs_equal_blkls(
    tmp_path: Path, fs: str, size_mb: int | None
) -> None:
    require_tools("blkls", "mkfs.fat", "mkntfs", "mkfs.exfat", "mke2fs")
    image = build_filesystem(
        fs,
        FILES,
        tmp_path / f"{fs}.img",
        size_mb=size_mb,
        deleted=["gone/c.bin", "gone.txt"],
    )
    with open_device(image) as handle:
        [part] = [p for p in iter_partitions(handle) if isinstance(p, Partition)]
        assert part.fs_type == fs
        unit = open_filesystem(handle, part.offset).block_size
        runs = list(unallocated_runs(handle, part))
    ours: set[int] = set()
    for offset, length in runs:
        assert offset % unit == 0 and length % unit == 0
        ours.update(range(offset // unit, (offset + length) // unit))
    assert ours == _blkls_free(image)
    assert ours  # deleted files left free space behind


def test_unpartitioned_region_is_one_run() -> None:
    part = Partition("dev", "/e", 3, 1 << 20, 5 << 20, "Unallocated", allocated=False)
    assert list(unallocated_runs(None, part)) == [(1 << 20, 5 << 20)]


def test_unsupported_filesystem_is_one_skipped(tmp_path: Path) -> None:
    part = Partition("dev", "/e", 1, 0, 1 << 20, "UFS", fs_type="ufs2")
    [skip] = list(carve_partition(None, part))
    assert isinstance(skip, Skipped) and skip.stage == "carve"
    assert skip.where == "partition 1 @ 0"
    assert "ufs2 is not carved" in skip.reason and "known: exfat, ext2" in skip.reason


def test_hfs_plus_allocation_file_equals_blkls(dfvfs_dir: Path) -> None:
    require_tools("blkls")
    image = dfvfs_dir / "hfsplus.raw"
    with open_device(image) as handle:
        [part] = [p for p in iter_partitions(handle) if isinstance(p, Partition)]
        assert part.fs_type == "hfs+"
        unit = open_filesystem(handle, 0).block_size
        ours = {
            block
            for offset, length in unallocated_runs(handle, part)
            for block in range(offset // unit, (offset + length) // unit)
        }
    assert ours == _blkls_free(image) and len(ours) > 100


def test_carve_speed_is_near_read_speed(tmp_path: Path) -> None:
    # Recorded in the report: MB/s of carve on random data and on zeros.
    rng = np.random.default_rng(1)
    for name, blob in (("random", rng.bytes(32 * BLOCK)), ("zeros", bytes(32 * BLOCK))):
        image = tmp_path / f"{name}.raw"
        image.write_bytes(blob)
        with open_device(image) as handle:
            part = region(handle.size)
            start = time.perf_counter()
            assert list(carve(handle, part, 0, handle.size)) == []
            rate = 32 / (time.perf_counter() - start)
        assert rate > 50, f"{name}: {rate:.0f} MiB/s"


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(kind + body))
    )


def test_png_needs_a_valid_ihdr_first() -> None:
    fake = (
        b"\x89PNG\r\n\x1a\n" + _png_chunk(b"tEXt", b"hello") + _png_chunk(b"IEND", b"")
    )
    data = bytearray(BLOCK)
    data[64 : 64 + len(fake)] = fake
    assert carved(FakeDevice(bytes(data))) == []


@pytest.mark.parametrize(
    "options",
    [
        {"progressive": True},
        {"restart_marker_blocks": 4},
        {"quality": 100, "subsampling": 0},
    ],
    ids=["progressive", "restart-markers", "q100-444"],
)
def test_jpeg_variants_are_carved_whole(options: dict[str, object]) -> None:
    out = io.BytesIO()
    make_picture(21, 200, 150).save(out, "JPEG", **options)
    blob = out.getvalue()
    data = bytearray(random.Random(9).randbytes(BLOCK))
    data[333 : 333 + len(blob)] = blob
    [item] = carved(FakeDevice(bytes(data)))
    assert isinstance(item, FileRecord)
    assert (item.carve_offset, item.size) == (333, len(blob))


def test_many_small_runs_cost_only_their_own_bytes(jpeg: bytes) -> None:
    data = bytearray(random.Random(10).randbytes(8 * BLOCK))
    runs = [(n * 64 * 1024 + 512, 4096) for n in range(128)]  # fragmented free space
    data[runs[5][0] : runs[5][0] + 4096] = jpeg[:4096]  # a fragment of a picture
    device = FakeDevice(bytes(data))
    read = 0
    original = device.read

    def counting(offset: int, size: int) -> bytes:
        nonlocal read
        out = original(offset, size)
        read += len(out)
        return out

    device.read = counting  # type: ignore[method-assign]
    found = [
        item
        for offset, length in runs
        for item in carve(device, region(device.size), offset, length)  # type: ignore[arg-type]
    ]
    assert read <= 128 * (4096 + 8)
    assert [(i.carve_offset, i.size) for i in found if isinstance(i, FileRecord)] == [
        (runs[5][0], 4096)
    ]


def test_mutated_and_cut_pictures_never_raise_or_overrun(
    jpeg: bytes, png: bytes
) -> None:
    """Seeded fuzzing: damaged, cut pictures in random data give records that
    stay inside the run, never an exception."""
    rng = random.Random(20261121)
    for _ in range(80):
        data = bytearray(rng.randbytes(BLOCK // 4))
        for blob in (jpeg, png):
            damaged = bytearray(blob)
            for _ in range(rng.randint(0, 6)):
                damaged[rng.randrange(len(damaged))] = rng.randrange(256)
            cut = rng.randint(10, len(damaged))
            at = rng.randrange(len(data) - cut)
            data[at : at + cut] = damaged[:cut]
        for item in carved(FakeDevice(bytes(data))):
            assert isinstance(item, FileRecord)
            assert item.carve_offset is not None
            assert 0 < item.size <= len(data) - item.carve_offset


def _encoded(fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    make_picture(31, 120, 90).save(out, fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "mime", "options"),
    [
        ("GIF", "image/gif", {}),
        ("BMP", "image/bmp", {}),
        ("WEBP", "image/webp", {"quality": 80}),
        ("WEBP", "image/webp", {"lossless": True}),
    ],
    ids=["gif", "bmp", "webp-lossy", "webp-lossless"],
)
def test_gif_bmp_webp_are_carved_whole(
    fmt: str, mime: str, options: dict[str, object]
) -> None:
    blob = _encoded(fmt, **options)
    data = bytearray(random.Random(12).randbytes(2 * BLOCK))
    at = BLOCK - 512  # across the block boundary, on a sector (BMP, WebP: aligned)
    data[at : at + len(blob)] = blob
    items = [i for i in carved(FakeDevice(bytes(data))) if isinstance(i, FileRecord)]
    assert [(i.carve_offset, i.size, i.media_type) for i in items] == [
        (at, len(blob), mime)
    ]
    assert np.array_equal(pixels(bytes(data[at : at + len(blob)])), pixels(blob))


def test_animated_gif_and_cut_gif(png: bytes) -> None:
    frames = [make_picture(40 + n, 64, 48) for n in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100)
    gif = out.getvalue()
    data = bytearray(BLOCK)
    data[10 : 10 + len(gif)] = gif
    cut = len(gif) // 2
    data[BLOCK // 2 : BLOCK // 2 + cut] = gif[:cut]
    items = [i for i in carved(FakeDevice(bytes(data))) if isinstance(i, FileRecord)]
    got = {i.carve_offset: i.size for i in items}
    assert got[10] == len(gif)
    assert BLOCK // 2 in got  # the cut copy is still reported


def test_bmp_and_riff_lookalikes_are_not_carved() -> None:
    wav = b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + bytes(28)
    text = b"BM, RIFF and GIF8 appear in ordinary text. " * 2000
    bogus_bmp = b"BM" + struct.pack("<IIII", 5000, 0, 54, 40) + bytes(40)  # 0x0 image
    for blob in (wav * 100, text, bogus_bmp * 50):
        assert carved(FakeDevice(blob)) == []


def test_formats_can_be_chosen_and_unknown_ones_are_named(
    jpeg: bytes, png: bytes
) -> None:
    data = bytearray(BLOCK)
    data[100 : 100 + len(jpeg)] = jpeg
    data[50_000 : 50_000 + len(png)] = png
    device = FakeDevice(bytes(data))
    only_png = list(carve(device, region(BLOCK), 0, BLOCK, formats=["png"]))  # type: ignore[arg-type]
    assert [i.carve_offset for i in only_png if isinstance(i, FileRecord)] == [50_000]
    with pytest.raises(ValueError, match="unknown carve format.*jxl.*known: jpeg, png"):
        list(carve(device, region(BLOCK), 0, BLOCK, formats=["jxl"]))  # type: ignore[arg-type]


def test_every_format_is_carved_by_default(jpeg: bytes) -> None:
    assert DEFAULT_FORMATS == tuple(CARVERS)
    assert {"jpeg", "png", "gif", "bmp", "webp", "tiff", "isobmff", "avi"} <= set(
        DEFAULT_FORMATS
    )
    gif = _encoded("GIF")
    data = bytearray(BLOCK)
    data[10 : 10 + len(gif)] = gif
    data[90_000 : 90_000 + len(jpeg)] = jpeg
    device = FakeDevice(bytes(data))
    default = list(carve(device, region(BLOCK), 0, BLOCK))  # type: ignore[arg-type]
    assert [i.carve_offset for i in default if isinstance(i, FileRecord)] == [
        10,
        90_000,
    ]
    only = list(carve(device, region(BLOCK), 0, BLOCK, formats=["jpeg"]))  # type: ignore[arg-type]
    assert [i.carve_offset for i in only if isinstance(i, FileRecord)] == [90_000]


def test_bitmap_runs_merge_across_chunks() -> None:
    from triage.ingest.filesystems.allocation import bitmap_runs as _bitmap_runs

    # Least significant bit first: 16 free, 8 used, 4 used, then free (cut at 30).
    chunks = [b"\x00", b"\x00\xff", b"\x0f"]
    assert list(_bitmap_runs(chunks, 30)) == [(0, 16), (28, 2)]
    assert list(_bitmap_runs([b"".join(chunks)], 30)) == [(0, 16), (28, 2)]
    # A short bitmap does not claim the units it does not cover.
    assert list(_bitmap_runs([b"\x00"], 20)) == [(0, 8)]
    assert list(_bitmap_runs([b"\x7f"], 8, order="big")) == [(0, 1)]


def test_an_item_straddling_the_run_end_is_followed_into_the_reach_only(
    jpeg: bytes,
) -> None:
    cut = 3 * BLOCK + 1000  # where the run is cut (as a scan cuts free space)
    data = bytearray(6 * BLOCK)
    data[cut - 100 : cut - 100 + len(jpeg)] = jpeg  # starts before the cut
    data[cut + 20_000 : cut + 20_000 + len(jpeg)] = jpeg  # wholly after it
    device = FakeDevice(bytes(data))

    def found(reach: int) -> list[tuple[int | None, int]]:
        items = carve(device, region(device.size), 0, cut, reach=reach)  # type: ignore[arg-type]
        return [(i.carve_offset, i.size) for i in items if isinstance(i, FileRecord)]

    # Without reach the picture cannot be followed past the run's end: at most
    # its first 100 bytes (too few to pass as a JPEG here).
    assert all(size <= 100 for _, size in found(0))
    # With reach the picture comes out whole; the one after the cut is left
    # to whoever carves the next piece.
    assert found(2 * BLOCK) == [(cut - 100, len(jpeg))]
    after = carve(device, region(device.size), cut, device.size - cut)  # type: ignore[arg-type]
    offsets = [i.carve_offset for i in after if isinstance(i, FileRecord)]
    assert offsets == [cut + 20_000]


def test_a_format_whose_magic_starts_with_zero_stops_zero_skipping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from triage.ingest import carve as carving

    assert carving.zeros_hold_nothing()
    from triage.registry import Registry

    ico = carving.CarveFormat("ico", b"\x00\x00\x01\x00", "image/x-icon", "ico",
                              carving.CARVERS.get("bmp").parse)  # fmt: skip
    table: Registry[carving.CarveFormat] = Registry("carve format")
    for fmt in (*carving.CARVERS.values(), ico):
        table.register(fmt)
    monkeypatch.setattr(carving, "CARVERS", table)
    assert not carving.zeros_hold_nothing()
