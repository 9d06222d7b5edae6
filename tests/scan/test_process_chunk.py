"""The worker functions on their own, with no cluster and no database."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.scan.corpus import Corpus
from triage.hashmatch import policy
from triage.ingest.evidence import open_device
from triage.ingest.listing import iter_entries
from triage.ingest.volumes import iter_partitions
from triage.records import FileRecord, Partition
from triage.scan import (
    Chunk,
    ChunkResult,
    load_hashsets,
    process_chunk,
    rematch_chunk,
    tasks,
)


def _dev2_chunk(corpus: Corpus) -> Chunk:
    with open_device(corpus.dev2) as handle:
        (part,) = [p for p in iter_partitions(handle) if isinstance(p, Partition)]
        records = tuple(
            e
            for e in iter_entries(handle, part)
            if isinstance(e, FileRecord) and e.path.startswith("Pictures/")
        )
    return Chunk("dev2.001", str(corpus.dev2), "test", part, records=records)


@pytest.fixture
def result(corpus: Corpus) -> ChunkResult:
    tasks.close_worker_caches()  # a cold worker: no cached hashes
    refs = load_hashsets([corpus.bad_set, corpus.good_set])
    try:
        return process_chunk(_dev2_chunk(corpus), refs)
    finally:
        tasks.close_worker_caches()


def test_every_picture_is_hashed_and_matched(result: ChunkResult) -> None:
    by_path = {m.record.path: m for m in result.media}
    assert set(by_path) == {
        "Pictures/resized.jpg", "Pictures/sideways.jpg", "Pictures/framed.jpg",
        "Pictures/wallpaper.jpg", "Pictures/cat.jpg", "Pictures/dupe1.jpg",
        "Pictures/dupe2.jpg", "Pictures/broken.jpg",
    }  # fmt: skip
    entries = {(m.address.split(":", 2)[2], m.entry_id) for m in result.matches}
    assert {
        ("Pictures/resized.jpg", "e-F"),
        ("Pictures/sideways.jpg", "e-G"),
        ("Pictures/framed.jpg", "e-H"),
        ("Pictures/wallpaper.jpg", "g-1"),
    } == entries
    sideways = next(m for m in result.matches if m.entry_id == "e-G")
    assert sideways.algorithm == "pdq" and sideways.variant != "original"
    framed = next(m for m in result.matches if m.entry_id == "e-H")
    assert framed.variant == "trimmed"


def test_known_good_is_not_decoded_and_identical_content_is_decoded_once(
    result: ChunkResult,
) -> None:
    by_path = {m.record.path: m for m in result.media}
    good = by_path["Pictures/wallpaper.jpg"]
    assert good.known_good and not good.hashes.perceptual
    d1, d2 = by_path["Pictures/dupe1.jpg"], by_path["Pictures/dupe2.jpg"]
    assert d1.hashes.md5 == d2.hashes.md5
    assert d1.hashes.perceptual == d2.hashes.perceptual != ()
    # 8 pictures: one known-good (never decoded), one pair of duplicates
    # (decoded once), one broken (decode attempted, failed).
    assert result.decoded == 5


def test_md5_and_sha1_are_of_the_whole_file(
    corpus: Corpus, result: ChunkResult
) -> None:
    from triage.ingest.content import read_record

    with open_device(corpus.dev2) as handle:
        for item in result.media:
            data = read_record(handle, item.record)
            assert item.hashes.md5 == hashlib.md5(data).hexdigest()
            assert item.hashes.sha1 == hashlib.sha1(data).hexdigest()
            assert item.record.size == len(data)


def test_a_bad_jpeg_is_one_skip_with_its_hashes_kept(result: ChunkResult) -> None:
    (skip,) = [s for s in result.skipped if s.where == "Pictures/broken.jpg"]
    assert skip.stage == "hash" and skip.reason
    broken = next(m for m in result.media if m.record.path == "Pictures/broken.jpg")
    assert broken.hashes.md5 and not broken.hashes.perceptual


def test_rematch_uses_stored_hashes_only(
    corpus: Corpus, result: ChunkResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args: object, **kw: object) -> None:
        raise AssertionError("rematch must not read or decode")

    monkeypatch.setattr(policy, "perceptual_hashes", fail)
    monkeypatch.setattr(tasks.WorkerState, "handle", fail)
    refs = load_hashsets([corpus.bad_set_v2, corpus.good_set])
    stored = [(m.hashes, m.known_good) for m in result.media]
    again = rematch_chunk("dev2.001", "test", stored, refs)
    assert not again.needs_reading
    assert {m.entry_id for m in again.matches} == {"e-F", "e-G", "e-H", "g-1"}
    # Without the known-good set, the never-decoded wallpaper must be re-read.
    only_bad = load_hashsets([corpus.bad_set_v2])
    assert rematch_chunk("dev2.001", "test", stored, only_bad).needs_reading


def test_a_chunk_is_picklable(corpus: Corpus, result: ChunkResult) -> None:
    import pickle

    chunk = _dev2_chunk(corpus)
    assert pickle.loads(pickle.dumps(chunk)) == chunk
    assert pickle.loads(pickle.dumps(result)) == result


def test_carve_chunk_finds_the_gap_picture(corpus: Corpus) -> None:
    refs = load_hashsets([corpus.bad_set])
    gap_at = next(int(k.split()[-1][:-1]) for k in corpus.expected["dev1.raw"]
                  if k.startswith("<carved"))  # fmt: skip
    with open_device(corpus.dev1) as handle:
        region = next(
            p
            for p in iter_partitions(handle)
            if isinstance(p, Partition)
            and not p.allocated
            and p.offset <= gap_at < p.offset + p.length
        )
    chunk = Chunk(
        "dev1.raw",
        str(corpus.dev1),
        "carve-test",
        region,
        carve_ranges=((region.offset, region.length, 0),),
    )
    try:
        got = process_chunk(chunk, refs)
    finally:
        tasks.close_worker_caches()
    assert [m.record.carve_offset for m in got.media] == [gap_at]
    assert [m.entry_id for m in got.matches] == ["e-E"]


def test_missing_evidence_fails_the_chunk(corpus: Corpus, tmp_path: Path) -> None:
    from triage.errors import EvidenceError

    chunk = _dev2_chunk(corpus)
    gone = Chunk(chunk.device_id, str(tmp_path / "gone.001"), "k", chunk.partition,
                 records=chunk.records)  # fmt: skip
    with pytest.raises(EvidenceError, match="gone.001"):
        process_chunk(gone, load_hashsets([corpus.bad_set]))


def test_a_chunk_of_a_stopped_device_gives_up_at_its_next_item(
    corpus: Corpus, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``stop_chunks`` (sent to the workers when ``--stop-after`` stops a
    device) ends a running chunk of that device, and only of that scan."""
    refs = load_hashsets([corpus.bad_set])
    chunk = _dev2_chunk(corpus)
    hashed: list[str] = []
    real = tasks._hash_item

    def hash_then_stop(handle, item, *args, **kwargs):  # type: ignore[no-untyped-def]
        hashed.append(item.path)
        real(handle, item, *args, **kwargs)
        tasks.stop_chunks("scan-1", chunk.device_id)

    monkeypatch.setattr(tasks, "_hash_item", hash_then_stop)
    try:
        result = process_chunk(chunk, refs, stop_token="scan-1")
        assert result.abandoned
        assert len(hashed) == 1  # the item after the stop is not looked at
        assert (result.media, result.matches, result.skipped) == ((), (), ())
        assert result.chunk_key == chunk.chunk_key

        # Another scan (another token), or no token: the stop is not theirs.
        monkeypatch.setattr(tasks, "_hash_item", real)
        for token in ("scan-2", None):
            other = process_chunk(chunk, refs, stop_token=token)
            assert not other.abandoned and len(other.media) == 8
    finally:
        tasks.forget_stopped("scan-1")
        tasks.close_worker_caches()
    assert not tasks.worker_state().stopped
