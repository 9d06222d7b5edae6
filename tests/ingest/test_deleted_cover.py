"""A broken carved JPEG that a deleted file's record reads whole is not
searched for its rest (``triage.ingest.deleted_cover``); when the record's
runs no longer hold the picture, the search runs as before."""

from __future__ import annotations

import hashlib
import random
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import require_tools
from triage.ingest import bifragment, iter_files
from triage.ingest.content import read_record, record_extents
from triage.ingest.evidence import open_device
from triage.records import FileRecord, Source

CLUSTER = 4096


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _in_holes(out: Path, pieces: int) -> tuple[Path, bytes]:
    """An NTFS image with a deleted JPEG written into ``pieces`` holes (its
    MFT record keeps the runs), the second hole after the first."""
    require_tools("mkntfs", "ntfs-3g")
    from triage.sample.fragmented import Step, build_in_order
    from triage.sample.pictures import encode, make_picture

    picture = encode(make_picture(61, 640, 480), "JPEG", 90)
    half = len(picture) // 2 // CLUSTER * CLUSTER
    quarter = (len(picture) - half) // 2 // CLUSTER * CLUSTER
    sizes = (half, quarter, len(picture) - half - quarter)
    if pieces == 2:  # the larger hole first: ntfs-3g fills it first
        first = len(picture) * 3 // 5 // CLUSTER * CLUSTER
        sizes = (first, len(picture) - first)
    rng = random.Random(61)
    steps: list[Step] = []
    for n, size in enumerate(sizes):
        steps.append(("write", f"sep{n}.bin", rng.randbytes(3 * CLUSTER)))
        steps.append(
            ("write", f"hole{n}.bin", rng.randbytes(-(-size // CLUSTER) * CLUSTER))
        )
    steps += [("write", "pics/pic.jpg", b""), ("fill", "filler.bin")]
    steps += [("delete", f"hole{n}.bin") for n in range(len(sizes))]
    steps += [("delete", "pics/pic.jpg"), ("write", "pics/pic.jpg", picture)]
    steps.append(("delete", "pics/pic.jpg"))
    image = build_in_order("ntfs", steps, out, size_mb=8, cluster=CLUSTER)
    return image, picture


@pytest.fixture(scope="module")
def three_pieces(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes]:
    return _in_holes(tmp_path_factory.mktemp("cover") / "ntfs3.img", 3)


def _listed(image: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[list[Any], int]:
    """Every record ``iter_files`` gives (with its bytes and runs), and how
    many times the Python join search ran, plus 100 a time the quick way
    (FFmpeg at hole starts) ran."""
    calls = []
    search, quick = bifragment._search, bifragment._at_hole_starts

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return search(*args, **kwargs)

    def quick_counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(0)
        return quick(*args, **kwargs)

    monkeypatch.setattr(bifragment, "_search", counted)
    monkeypatch.setattr(bifragment, "_at_hole_starts", quick_counted)
    out = []
    with open_device(image) as handle:
        for item in iter_files(handle, archives=False):
            if isinstance(item, FileRecord) and item.size and item.is_media:
                out.append(
                    (item, read_record(handle, item), record_extents(handle, item))
                )
    return out, sum(calls) + 100 * calls.count(0)


def _decodes_counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One item a time the rule decodes a deleted file's read (FFmpeg)."""
    from triage.ingest import deleted_cover

    calls: list[int] = []
    decode = deleted_cover.decodes_every_mcu

    def counted(data: bytes) -> bool:
        calls.append(1)
        return decode(data)

    monkeypatch.setattr(deleted_cover, "decodes_every_mcu", counted)
    return calls


def test_a_picture_its_record_reads_whole_is_not_searched_for(
    three_pieces: tuple[Path, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    image, picture = three_pieces
    decodes = _decodes_counted(monkeypatch)
    found, searches = _listed(image, monkeypatch)
    assert len(decodes) == 1  # the rule's check of the file's read, once
    # The hole the picture's start went into is listed too (deleted, its
    # record's one run now holding that start): a record no longer than its
    # first run says nothing of where the rest is, and is not taken.
    by_path = {
        r.path: (r, d, runs) for r, d, runs in found if r.source is Source.FILESYSTEM
    }
    assert sorted(by_path) == ["hole0.bin", "pics/pic.jpg"]
    record, data, runs = by_path["pics/pic.jpg"]
    assert record.deleted and len(runs) == 3  # the record keeps three runs
    assert runs[0][1] < runs[1][0]  # the second piece after the first
    assert data == picture
    assert by_path["hole0.bin"][2][0][0] == runs[0][0]
    carved = [(r, d) for r, d, _ in found if r.source is Source.CARVED]
    assert len(carved) == 1
    item, data = carved[0]
    # Reported as carving finds it: the first piece, partial, naming the file.
    assert item.carve_offset == runs[0][0] and data == picture[: len(data)]
    assert len(data) == runs[0][1] - runs[0][0]
    assert (item.carve_note or "").startswith("partial: ")
    assert "the deleted file pics/pic.jpg reads whole" in (item.carve_note or "")
    assert searches == 0  # neither way: no join of two pieces is the picture


def test_a_two_piece_picture_is_still_joined_by_the_quick_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its record reads it whole too, but a join of two pieces may be the
    picture: the quick way runs as before and carving reports it whole."""
    image, picture = _in_holes(tmp_path / "ntfs2.img", 2)
    decodes = _decodes_counted(monkeypatch)
    found, searches = _listed(image, monkeypatch)
    whole = [(r.source, len(runs)) for r, d, runs in found if d == picture]
    assert sorted(whole) == [(Source.CARVED, 2), (Source.FILESYSTEM, 2)]
    assert searches == 100
    # The quick way joined it: the file's read was not decoded for nothing.
    assert decodes == []


def test_pieces_count_runs_that_follow_on_as_one() -> None:
    from triage.ingest.deleted_cover import _pieces

    assert _pieces([(0, 10), (10, 20), (40, 50)], 30) == 2
    assert _pieces([(0, 10), (30, 40), (10, 20)], 30) == 3
    assert _pieces([(0, 10), (30, 40), (60, 70)], 15) == 2  # past the size: slack


def test_a_record_claiming_more_than_a_carved_jpeg_is_not_read() -> None:
    """The rule reads a record's file whole; its size is the record's word,
    so one larger than the largest JPEG carving follows is not taken."""
    from triage.ingest.carvers.base import MAX_JPEG
    from triage.ingest.deleted_cover import may_cover

    def deleted(size: int) -> FileRecord:
        return FileRecord("d", "d.raw", 0, 0, "x.jpg", size, inode=40,
                          deleted=True, media_type="image/jpeg")  # fmt: skip

    assert may_cover(deleted(MAX_JPEG))
    assert not may_cover(deleted(MAX_JPEG + 1))
    assert not may_cover(deleted(0))


def test_a_record_whose_runs_were_overwritten_leaves_the_search_on(
    three_pieces: tuple[Path, bytes],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The record's second run now holds other bytes (NTFS gave its clusters
    to another file; the third, with the end-of-image marker, is kept, so a
    second piece could start there): its read does not decode, so the
    search runs."""
    image, picture = three_pieces
    copy = tmp_path / "reused.img"
    shutil.copyfile(image, copy)
    found, _ = _listed(image, monkeypatch)
    runs = next(x for r, _, x in found if r.path == "pics/pic.jpg")
    lo, hi = runs[1]
    with open(copy, "r+b") as fh:  # a test image of our own, not evidence
        fh.seek(lo)
        fh.write(random.Random(5).randbytes(hi - lo))
    found, searches = _listed(copy, monkeypatch)
    assert searches == 101  # the quick way, then the search, as before
    carved = [r for r, _, _ in found if r.source is Source.CARVED]
    assert len(carved) == 1 and "not searched" not in (carved[0].carve_note or "")
    assert not any(_md5(d) == _md5(picture) for _, d, _ in found)
