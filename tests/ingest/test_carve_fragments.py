"""Carving ext2/3 files whose data is interrupted by indirect blocks.

Images are built with ``mke2fs -d`` (1 KiB blocks: an indirect block after
12 KiB of data, a double-indirect and an indirect block after 268 KiB), the
pictures are deleted or the superblock is wiped, so only carving finds them;
every carved item must equal its original byte for byte.
"""

from __future__ import annotations

import hashlib
import random
import shutil
import struct
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.conftest import require_tools
from triage.cli import main
from triage.ingest import iter_files
from triage.ingest.blockmap import SkipMapBlocks
from triage.ingest.carve import carve
from triage.ingest.content import read_record
from triage.ingest.evidence import open_device
from triage.records import FileRecord, Partition, Skipped, Source, Stage
from triage.sample.carve_set import carve_originals
from triage.sample.disk import build_filesystem


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


@pytest.fixture(scope="module")
def originals() -> dict[str, bytes]:
    """One of each carved format; the large ones cross ext2 map blocks.
    Not the AVI: its header holds 3 KiB of zeros (a reserved index), which
    ``mke2fs -d`` stores as a hole, so its bytes are not on the disk to be
    carved (a planted AVI is checked in test_carve.py)."""
    return {k: v for k, v in carve_originals(3).items() if not k.endswith(".avi")}


def _sizes_ok(originals: dict[str, bytes]) -> None:
    for name, data in originals.items():
        if name.startswith("small."):
            assert len(data) < 12 * 1024, name
        elif name.startswith("one_ind."):
            assert 12 * 1024 < len(data) < 268 * 1024, name
        else:
            assert len(data) > 268 * 1024, name


@pytest.fixture(scope="module")
def ext2_images(
    tmp_path_factory: pytest.TempPathFactory, originals: dict[str, bytes]
) -> dict[str, Path]:
    require_tools("mke2fs", "debugfs")
    _sizes_ok(originals)
    root = tmp_path_factory.mktemp("frag")
    files = {f"pics/{name}": data for name, data in originals.items()}
    files["notes.txt"] = b"not a picture\n" * 100
    deleted = build_filesystem(
        "ext2", files, root / "deleted.img", deleted=list(files)[:-1]
    )
    live = build_filesystem("ext3", files, root / "live.img")
    wiped = root / "wiped.img"
    shutil.copy(live, wiped)
    with open(wiped, "r+b") as fh:
        fh.seek(1024)  # the primary superblock
        fh.write(bytes(1024))
    return {"deleted": deleted, "wiped": wiped}


def _carved(image: Path) -> tuple[dict[str, FileRecord], list[Skipped]]:
    """Carved items by MD5, and the skips."""
    found: dict[str, FileRecord] = {}
    skips: list[Skipped] = []
    with open_device(image) as handle:
        for item in iter_files(handle):
            if isinstance(item, Skipped):
                skips.append(item)
            elif item.source is Source.CARVED:
                found[_md5(read_record(handle, item))] = item
    return found, skips


def test_deleted_pictures_across_indirect_blocks_are_carved_whole(
    ext2_images: dict[str, Path], originals: dict[str, bytes]
) -> None:
    found, skips = _carved(ext2_images["deleted"])
    assert skips == []
    for name, data in originals.items():
        assert _md5(data) in found, name
        record = found[_md5(data)]
        assert record.size == len(data)
        gaps = len(record.carve_runs) - 1 if record.carve_runs else 0
        # One gap for each run of map blocks the data crosses.
        assert gaps == {"small.jpg": 0, "two_ind.jpg": 2}.get(name, 1), name
    two = found[_md5(originals["two_ind.jpg"])].carve_runs
    assert two[1][0] - two[0][1] == 1024  # one indirect block left out
    assert two[2][0] - two[1][1] == 2048  # the double-indirect and its first


def test_a_wiped_superblock_still_carves_every_picture(
    ext2_images: dict[str, Path], originals: dict[str, bytes]
) -> None:
    found, skips = _carved(ext2_images["wiped"])
    assert [s.stage for s in skips] == [Stage.VOLUME]
    assert "no readable filesystem" in skips[0].reason
    assert {_md5(d) for d in originals.values()} <= set(found)


def test_ls_lists_what_carving_finds_on_an_unreadable_disk(
    ext2_images: dict[str, Path], originals: dict[str, bytes]
) -> None:
    image = ext2_images["wiped"]
    result = CliRunner().invoke(main, ["ls", str(image)])
    assert result.exit_code == 3  # a device's filesystem could not be read
    lines = result.stdout.splitlines()
    assert len(lines) >= len(originals)
    assert all("\tcarved\t" in line and "<carved @ " in line for line in lines)
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and errors[0].startswith("triage: skipped: wiped.img:")
    assert "no readable filesystem" in errors[0]


# --- the map-block test on planted bytes ------------------------------------------


def _ext_layout(
    payload: bytes, block: int, first_block: int
) -> tuple[bytes, list[tuple[int, int]]]:
    """``payload`` laid out as ext2 writes a contiguous file starting at
    filesystem block ``first_block``: map blocks in line. Returns the bytes
    and the (offset, length) of each map-block run."""
    per = block // 4
    blocks = [payload[i : i + block] for i in range(0, len(payload), block)]
    out = bytearray()
    runs = []
    number = first_block
    for index, data in enumerate(blocks):
        extra = 0
        if index == 12:
            extra = 1
        elif index == 12 + per:
            extra = 2
        elif index > 12 + per and (index - 12 - per) % per == 0:
            extra = 1
        if extra:
            runs.append((len(out), extra * block))
            for k in range(extra):
                # A map block: consecutive numbers from the block after it
                # (a double-indirect's first entry is the indirect after it).
                start = number + k + 1
                words = [start + i for i in range(per if k == extra - 1 else 1)]
                out += struct.pack(f"<{len(words)}I", *words).ljust(block, b"\0")
            number += extra
        out += data
        number += 1
    return bytes(out), runs


@pytest.mark.parametrize("block", [1024, 2048, 4096])
def test_map_blocks_of_every_block_size_are_left_out(block: int) -> None:
    payload = random.Random(block).randbytes(block * (12 + block // 4 + 20))
    first = 5000
    laid, runs = _ext_layout(payload, block, first)
    lead = 3 * 512  # the filesystem starts 1.5 KiB into the device
    device = bytes(lead) + bytes(first * block) + laid
    start = lead + first * block
    reader = SkipMapBlocks(lambda o, n: device[o : o + n], start)
    assert reader.read(start, len(payload)) == payload
    assert reader.block == block
    assert [(at - start, n) for _, at, n in reader.gaps] == runs[:2]
    pieces = reader.runs(len(payload))
    assert b"".join(device[lo:hi] for lo, hi in pieces) == payload


def test_look_alike_blocks_are_kept() -> None:
    block = 1024
    payload = bytearray(random.Random(5).randbytes(block * 40))
    # Consecutive numbers, but pointing at a filesystem that would start
    # after the item: data.
    payload[12 * block : 13 * block] = struct.pack("<4I", 7, 8, 9, 10).ljust(
        block, b"\0"
    )
    data = bytes(payload)
    reader = SkipMapBlocks(lambda o, n: data[o : o + n], 0)
    assert reader.read(0, len(data)) == data and reader.gaps == []
    # An item that does not start on a sector is not a file's first block.
    payload[12 * block : 13 * block] = struct.pack("<4I", 5, 6, 7, 8).ljust(
        block, b"\0"
    )
    shifted = bytes(4196) + bytes(payload)
    reader = SkipMapBlocks(lambda o, n: shifted[o : o + n], 4196)
    assert reader.read(4196, len(data)) == bytes(payload)
    assert reader.gaps == []


# --- every format, planted between random bytes -----------------------------------


class _Bytes:
    def __init__(self, data: bytes) -> None:
        self.data = data

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, offset: int, size: int) -> bytes:
        return self.data[offset : offset + size]


def _region(size: int) -> Partition:
    return Partition("dev", "/e/dev.raw", 0, 0, size, "unallocated", allocated=False)


def test_every_format_is_carved_whole_with_its_type_and_no_junk() -> None:
    originals = carve_originals(4)
    rng = random.Random(4)
    data = bytearray()
    planted: dict[int, str] = {}
    for name, content in originals.items():
        data += rng.randbytes(rng.randrange(100, 5000))
        data += rng.randbytes(-len(data) % 512)  # files start on sectors
        planted[len(data)] = name
        data += content
    data += rng.randbytes(4000)
    device = _Bytes(bytes(data))
    found = [
        r
        for r in carve(device, _region(len(data)), 0, len(data))  # type: ignore[arg-type]
        if isinstance(r, FileRecord)
    ]
    assert sorted(r.carve_offset or 0 for r in found) == sorted(planted)
    mimes = {
        "jpg": "image/jpeg", "png": "image/png", "gif": "image/gif",
        "bmp": "image/bmp", "webp": "image/webp", "tif": "image/tiff",
        "heic": "image/heic", "mp4": "video/mp4", "mov": "video/quicktime",
        "3gp": "video/3gpp", "avi": "video/x-msvideo",
    }  # fmt: skip
    for record in found:
        name = planted[record.carve_offset or 0]
        at = record.carve_offset or 0
        assert device.data[at : at + record.size] == originals[name], name
        assert record.media_type == mimes[name.rsplit(".", 1)[1]], name
        assert record.path.endswith("." + name.rsplit(".", 1)[1]), record.path


def test_container_look_alikes_are_not_carved() -> None:
    rng = random.Random(6)
    blobs = [
        b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + rng.randbytes(5000),
        b"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00M4A isom" + rng.randbytes(5000),
        b"II*\x00\x08\x00\x00\x00" + rng.randbytes(5000),
        b"MM\x00*\x00\x00\x00\x08" + rng.randbytes(5000),
        b"RIFF\x00\x10\x00\x00AVI LIST\x10\x00\x00\x00hdrl" + rng.randbytes(5000),
    ]
    for blob in blobs:
        data = rng.randbytes(1024) + blob  # on a sector: every format looks
        found = list(carve(_Bytes(data), _region(len(data)), 0, len(data)))  # type: ignore[arg-type]
        assert found == [], blob[:16]


# --- broken pictures and their thumbnails -----------------------------------------


def _with_thumbnail(seed: int) -> bytes:
    """A JPEG with an EXIF thumbnail (a whole JPEG inside its APP1)."""
    import io

    from PIL import Image

    from triage.sample.pictures import make_picture

    picture = make_picture(seed, 640, 480)
    thumb = io.BytesIO()
    picture.resize((160, 120)).save(thumb, "JPEG")
    exif = Image.Exif()
    out = io.BytesIO()
    picture.save(out, "JPEG", exif=exif.tobytes() + thumb.getvalue(), quality=90)
    return out.getvalue()


def test_a_broken_jpeg_is_kept_partial_with_why_and_its_thumbnail_marked() -> None:
    from triage.hashmatch.decode import DecodeError, decode_luma
    from triage.ingest.carve import decodable

    whole = _with_thumbnail(31)
    thumb_at = whole.index(b"\xff\xd8\xff", 3)
    rng = random.Random(31)
    cut = len(whole) * 2 // 3
    # The picture's last third is overwritten by random data.
    data = rng.randbytes(3000) + whole[:cut] + rng.randbytes(20_000)
    found = [
        r
        for r in carve(_Bytes(data), _region(len(data)), 0, len(data))  # type: ignore[arg-type]
        if isinstance(r, FileRecord)
    ]
    main_item = next(r for r in found if r.carve_offset == 3000)
    assert main_item.carve_note is not None
    assert main_item.carve_note.startswith("partial: ")
    assert "overwritten" in main_item.carve_note or "marker" in main_item.carve_note
    assert cut <= main_item.size < cut + 4096  # runs on into the random bytes
    thumb = next(r for r in found if r.carve_offset == 3000 + thumb_at)
    assert thumb.carve_note == "thumbnail of the broken picture at 3000"
    partial = data[3000 : 3000 + main_item.size]
    with pytest.raises(DecodeError, match="truncated"):
        decode_luma(partial, "image/jpeg", where="x")
    decoded = decode_luma(decodable(main_item, partial), "image/jpeg", where="x")
    assert (decoded.width, decoded.height) == (640, 480)  # hashed from what decodes


def test_a_whole_jpeg_hides_its_thumbnail() -> None:
    whole = _with_thumbnail(32)
    data = bytes(4096) + whole + bytes(4096)
    found = list(carve(_Bytes(data), _region(len(data)), 0, len(data)))  # type: ignore[arg-type]
    assert [(r.carve_offset, r.size, r.carve_note) for r in found] == [  # type: ignore[union-attr]
        (4096, len(whole), None)
    ]


# --- bifragment gap carving ----------------------------------------------------------


def _two_pieces(opts: dict[str, object], gap: bytes) -> tuple[bytes, bytes, int, int]:
    """A JPEG cut at a sector in its scan, the gap put between its pieces:
    (device bytes, the picture, where it starts, where its second piece is)."""
    import io

    from triage.sample.pictures import make_picture

    out = io.BytesIO()
    make_picture(41, 800, 600).save(out, "JPEG", quality=90, **opts)  # type: ignore[arg-type]
    picture = out.getvalue()
    cut = (len(picture) // 2) // 512 * 512
    rng = random.Random(41)
    lead = rng.randbytes(4096)
    data = lead + picture[:cut] + gap + picture[cut:] + rng.randbytes(3000)
    return data, picture, len(lead), len(lead) + cut + len(gap)


@pytest.mark.parametrize("opts", [{}, {"restart_marker_blocks": 2}])
@pytest.mark.parametrize("gap_is_free", [False, True])
def test_a_jpeg_in_two_pieces_is_joined_by_decoding(
    opts: dict[str, object], gap_is_free: bool
) -> None:
    gap = random.Random(7).randbytes(512 * 37)  # another file's sectors
    data, picture, start, second = _two_pieces(opts, gap)
    first_end = second - len(gap)
    # The gap allocated (free space in two runs) or free (one run: decoding
    # finds where the first piece ends).
    if gap_is_free:
        free = [(0, len(data))]
    else:
        free = [(0, first_end), (second, len(data))]
    found = [
        r
        for lo, hi in free
        for r in carve(_Bytes(data), _region(len(data)), lo, hi - lo, free=free)  # type: ignore[arg-type]
        if isinstance(r, FileRecord)
    ]
    (item,) = [r for r in found if r.carve_offset == start]
    assert item.carve_runs == (
        (start, first_end),
        (second, second + len(picture) - (first_end - start)),
    )
    assert b"".join(data[lo:hi] for lo, hi in item.carve_runs) == picture
    assert item.size == len(picture) and item.carve_note is None


def test_no_second_piece_leaves_the_jpeg_partial() -> None:
    gap = random.Random(8).randbytes(512 * 37)
    data, picture, start, second = _two_pieces({}, gap)
    data = data[:second] + random.Random(9).randbytes(len(data) - second)  # rest gone
    found = [
        r
        for r in carve(_Bytes(data), _region(len(data)), 0, len(data))  # type: ignore[arg-type]
        if isinstance(r, FileRecord) and r.carve_offset == start
    ]
    assert found[0].carve_runs == () and (found[0].carve_note or "").startswith(
        "partial"
    )


def test_weak_signatures_are_looked_for_on_sectors_only() -> None:
    """BMP, WebP, TIFF, ISO BMFF and AVI start where a filesystem puts a
    file (a 512-byte sector); JPEG, PNG and GIF are found at any byte (inside
    other files too)."""
    originals = carve_originals(5, videos=False)
    rng = random.Random(5)
    for name in ("one_ind.bmp", "one_ind.tif", "one_ind.heic", "small.jpg"):
        content = originals[name]
        for at, found in ((1024, True), (1024 + 100, name.endswith(".jpg"))):
            data = rng.randbytes(at) + content + rng.randbytes(2000)
            items = carve(_Bytes(data), _region(len(data)), 0, len(data))  # type: ignore[arg-type]
            offsets = [i.carve_offset for i in items if isinstance(i, FileRecord)]
            assert offsets == ([at] if found else []), (name, at)


def test_a_scan_joins_a_deleted_two_piece_jpeg_on_fat32(tmp_path: Path) -> None:
    """The scan's carve chunks carry the free space after them, so a deleted
    JPEG in two pieces (the clusters between belong to a live file) is
    carved whole and hashed like the original."""
    require_tools("mkfs.fat", "mcopy", "mdel", "mdir")
    from triage.sample.fragmented import build_in_order
    from triage.sample.pictures import encode, make_picture
    from triage.scan import process_chunk, tasks
    from triage.scan.walk import Chunk, _walk_device

    picture = encode(make_picture(51, 480, 360), "JPEG", 90)
    half = (len(picture) // 2) // 512 * 512
    rng = random.Random(51)
    steps: list[tuple[str, str] | tuple[str, str, bytes]] = [
        ("write", "a.bin", rng.randbytes(4096)),
        ("write", "hole1.bin", rng.randbytes(half)),
        ("write", "live.bin", rng.randbytes(8 * 512)),
        ("write", "hole2.bin", rng.randbytes(-(-(len(picture) - half) // 512) * 512)),
        ("write", "pic.jpg", b""),
        ("fill", "filler.bin"),
        ("delete", "hole1.bin"),
        ("delete", "hole2.bin"),
        ("delete", "pic.jpg"),
        ("write", "pic.jpg", picture),
        ("delete", "pic.jpg"),
    ]
    image = build_in_order(
        "fat32", steps, tmp_path / "card.img", size_mb=34, cluster=512
    )
    with open_device(image) as handle:
        dev = handle.device.device_id
        chunks = [
            c
            for c in _walk_device(handle, dev, str(image), 64, 64 << 20, True)
            if isinstance(c, Chunk) and c.carve_ranges
        ]
    assert chunks and all(c.carve_free for c in chunks)
    tasks.close_worker_caches()
    try:
        media = [m for c in chunks for m in process_chunk(c, ()).media]
    finally:
        tasks.close_worker_caches()
    whole = [m for m in media if m.hashes.md5 == _md5(picture)]
    assert len(whole) == 1
    assert len(whole[0].record.carve_runs) == 2
    assert whole[0].hashes.perceptual  # decoded and perceptually hashed


@pytest.mark.parametrize("before", [1, 2, 5])
def test_a_magic_across_the_read_block_boundary_is_found(before: int) -> None:
    from triage.ingest.carve import BLOCK

    originals = carve_originals(6, videos=False)
    for name in ("small.jpg", "one_ind.png", "one_ind.gif"):
        data = bytearray(random.Random(before).randbytes(2 * BLOCK))
        at = BLOCK - before  # the magic's first bytes end the first block
        data[at : at + len(originals[name])] = originals[name]
        items = carve(_Bytes(bytes(data)), _region(len(data)), 0, len(data))  # type: ignore[arg-type]
        found = [(i.carve_offset, i.size) for i in items if isinstance(i, FileRecord)]
        assert found == [(at, len(originals[name]))], name


def test_a_png_in_two_pieces_is_joined_by_its_crcs() -> None:
    png = carve_originals(7, videos=False)["one_ind.png"]
    rng = random.Random(7)
    cut = (len(png) // 2) // 512 * 512
    lead, gap = rng.randbytes(4096), rng.randbytes(512 * 9)
    decoy = rng.randbytes(512 * 5)  # a free hole that is not the rest
    data = lead + png[:cut] + gap + decoy + gap + png[cut:] + rng.randbytes(2048)
    first_end = len(lead) + cut
    decoy_at = first_end + len(gap)
    second = decoy_at + len(decoy) + len(gap)
    free = [(0, first_end), (decoy_at, decoy_at + len(decoy)), (second, len(data))]
    found = [
        r
        for lo, hi in free
        for r in carve(_Bytes(data), _region(len(data)), lo, hi - lo, free=free)  # type: ignore[arg-type]
        if isinstance(r, FileRecord) and r.carve_offset == len(lead)
    ]
    (item,) = found
    assert item.carve_runs[0] == (len(lead), first_end)
    assert item.carve_runs[1][0] == second
    assert b"".join(data[lo:hi] for lo, hi in item.carve_runs) == png


@pytest.mark.parametrize("opts", [{}, {"restart_marker_blocks": 2}])
def test_another_pictures_tail_is_not_taken_for_the_rest(
    opts: dict[str, object],
) -> None:
    """Same size, same tables, restart markers in order: still not its rest
    (the MCUs do not come out right), so the picture stays partial."""
    import io

    from triage.sample.pictures import make_picture

    def jpeg(seed: int) -> bytes:
        out = io.BytesIO()
        make_picture(seed, 800, 600).save(out, "JPEG", quality=90, **opts)  # type: ignore[arg-type]
        return out.getvalue()

    mine, other = jpeg(61), jpeg(62)
    cut = (len(mine) // 2) // 512 * 512
    rng = random.Random(61)
    data = rng.randbytes(4096) + mine[:cut] + rng.randbytes(512 * 7)
    data += other[cut:] + rng.randbytes(2048)  # the other's second half
    found = [
        r
        for r in carve(_Bytes(data), _region(len(data)), 0, len(data))  # type: ignore[arg-type]
        if isinstance(r, FileRecord) and r.carve_offset == 4096
    ]
    assert found[0].carve_runs == ()
    assert (found[0].carve_note or "").startswith("partial")


def test_what_lies_between_a_joined_pictures_pieces_is_carved(tmp_path: Path) -> None:
    """A JPEG in two pieces with another file between them (the gap the
    bifragment model assumes): the JPEG is joined, and carving goes on after
    its first piece, so a picture in the gap is carved too."""
    from triage.sample.pictures import encode, make_picture

    jpeg = encode(make_picture(3, 320, 240), "JPEG", 90)
    png = encode(make_picture(4, 64, 48), "PNG")
    cut = len(jpeg) // 2 // 512 * 512

    def sectors(data: bytes) -> bytes:
        return data + bytes(-len(data) % 512)

    image = tmp_path / "gap.raw"
    image.write_bytes(
        bytes(2048) + jpeg[:cut] + sectors(png) + bytes(1024)
        + sectors(jpeg[cut:]) + bytes(4096)
    )  # fmt: skip
    with open_device(image) as handle:
        carved = {
            r.media_type: read_record(handle, r)
            for r in iter_files(handle, carve=True)
            if isinstance(r, FileRecord)
        }
    assert carved == {"image/jpeg": jpeg, "image/png": png}
