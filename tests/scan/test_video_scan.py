"""Videos on a device, end to end: generated at test time (benign scenes of the
project's generated pictures), written into a FAT image, scanned against a
set built from a reference video and a reference picture.

An exact copy, a re-encode to another codec and size, a 40% clip, that clip
between unrelated footage, and a slideshow showing the known picture for 3 s
all match; 20 unrelated videos do not; a 2-worker cluster stores what the
in-process scan stores; a rescan with a new set of video hashes only re-matches
from the stored frames without decoding anything.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import av
import pytest
from click.testing import CliRunner

from tests.conftest import require_tools
from tests.scan.helpers import dump, matched_entries
from triage.cli import main
from triage.hashmatch import policy as policy_module
from triage.hashmatch.decode import DecodeError
from triage.hashmatch.hashset import HashSet
from triage.hashmatch.video import hash_video
from triage.sample.disk import build_filesystem
from triage.sample.pictures import encode, make_picture
from triage.sample.videos import encode_video, make_video, slideshow, video_frames
from triage.scan import scan

KNOWN_SEED = 1
PICTURE_SEED = 777
UNRELATED = 20


@dataclass(frozen=True)
class VideoCase:
    evidence: Path
    bad_set: Path
    videos_only: Path  # the known video alone, as vPDQ files (import)
    reference_dir: Path
    files: dict[str, bytes]  # what the device holds


def _known_frames() -> itertools.islice:  # type: ignore[type-arg]
    return itertools.islice(video_frames(KNOWN_SEED, seconds=10), 30, 70)


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> VideoCase:
    require_tools("mkfs.fat", "mcopy")
    root = tmp_path_factory.mktemp("videos")
    known = make_video(KNOWN_SEED, seconds=10)
    picture = make_picture(PICTURE_SEED)
    ref = root / "ref"
    (ref / "A").mkdir(parents=True)
    (ref / "B").mkdir()
    (ref / "A" / "known.mp4").write_bytes(known)
    (ref / "B" / "known.jpg").write_bytes(encode(picture))
    bad_set = root / "bad.ths"
    result = CliRunner().invoke(
        main, ["hashset", "build", str(ref), "-o", str(bad_set), "--name", "ref"]
    )
    assert result.exit_code == 0, result.output
    assert "1 pictures, 1 video (" in result.output
    files = {
        "movies/copy.mp4": known,
        "movies/reencoded.avi": encode_video(
            video_frames(KNOWN_SEED, seconds=10),
            codec="mpeg4",
            container="avi",
            size=(480, 360),
        ),
        "movies/clip.mp4": encode_video(_known_frames()),
        "movies/embedded.mkv": encode_video(
            itertools.chain(
                video_frames(50, seconds=6),
                _known_frames(),
                video_frames(51, seconds=6),
            ),
            container="matroska",
        ),
        "movies/slides.mp4": encode_video(
            slideshow([make_picture(5), picture, make_picture(6)], seconds_each=3)
        ),
        **{
            f"other/unrelated{i:02}.mp4": make_video(100 + i, seconds=4)
            for i in range(UNRELATED)
        },
        "docs/readme.txt": b"nothing to see\n" * 10,
    }
    evidence = build_filesystem("fat16", files, root / "videos.raw")
    vpdq_dir = root / "vpdq"
    vpdq_dir.mkdir()
    hashed = hash_video(io.BytesIO(known), where="known.mp4")
    (vpdq_dir / "known.mp4.txt").write_text(
        "".join(
            f"{f.number},{f.pdq.quality},{f.pdq.value},{f.timestamp:.3f}\n"
            for f in hashed.frames
            if f.pdq is not None
        )
    )
    return VideoCase(evidence, bad_set, vpdq_dir, ref, files)


def _matches(db: Path) -> dict[str, list[tuple[object, ...]]]:
    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            "SELECT media.display_path, m.entry_id, m.algorithm, m.item_share, "
            "m.known_share, m.at_seconds FROM matches m JOIN media "
            "USING (device_id, address) ORDER BY 1, 2"
        ).fetchall()
    finally:
        con.close()
    out: dict[str, list[tuple[object, ...]]] = {}
    for path, *rest in rows:
        out.setdefault(path, []).append(tuple(rest))
    return out


def test_known_videos_and_a_picture_in_a_slideshow_match(
    videos: VideoCase, tmp_path: Path
) -> None:
    db = tmp_path / "case.db"
    scan([videos.evidence], [videos.bad_set], db, scheduler="sync")
    found = matched_entries(db, "videos.raw")
    assert found == {
        "A/known.mp4": {
            "movies/copy.mp4",
            "movies/reencoded.avi",
            "movies/clip.mp4",
            "movies/embedded.mkv",
        },
        "B/known.jpg": {"movies/slides.mp4"},
    }
    got = _matches(db)
    copy = got["movies/copy.mp4"]
    assert [(e, a) for e, a, *_ in copy] == [("A/known.mp4", "sha256")]  # exact first
    _, algorithm, item, known, _ = got["movies/clip.mp4"][0]
    assert algorithm == "vpdq" and item == 100.0 and 30.0 <= known <= 50.0
    _, _, item, known, _ = got["movies/embedded.mkv"][0]
    assert item is not None and item < 50.0 and known is not None and known >= 30.0
    _, algorithm, _, _, at = got["movies/slides.mp4"][0]
    assert algorithm in ("pdq", "phash") and at == 3.0  # shown from 00:00:03
    con = sqlite3.connect(db)
    frames = con.execute(
        "SELECT COUNT(DISTINCT frame_number) FROM video_frames WHERE address LIKE "
        "'%movies/copy.mp4'"
    ).fetchone()[0]
    con.close()
    assert frames == 10  # one a second of a 10 s video


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The videos decoded from now on, by the name each was decoded under."""
    decodes: list[str] = []
    real = policy_module.hash_video

    def counted(*args: object, **kwargs: object) -> object:
        decodes.append(str(kwargs.get("where")))
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(policy_module, "hash_video", counted)
    return decodes


def test_rescan_with_a_video_only_set_rematches_without_decoding(
    videos: VideoCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "case.db"
    scan([videos.evidence], [videos.bad_set], db, scheduler="sync")
    only = tmp_path / "videos.ths"
    result = CliRunner().invoke(
        main,
        ["hashset", "import", str(videos.videos_only), "-o", str(only),
         "--scheme", "caid"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    decodes = _count_decodes(monkeypatch)
    scan([videos.evidence], [only], db, scheduler="sync")
    assert decodes == []
    found = matched_entries(db, "videos.raw")
    assert found["known.mp4.txt"] == {
        "movies/copy.mp4",
        "movies/reencoded.avi",
        "movies/clip.mp4",
        "movies/embedded.mkv",
    }


def test_local_cluster_stores_what_the_sync_scan_stores(
    videos: VideoCase, tmp_path: Path
) -> None:
    sync_db, cluster_db = tmp_path / "sync.db", tmp_path / "cluster.db"
    scan([videos.evidence], [videos.bad_set], sync_db, scheduler="sync")
    scan([videos.evidence], [videos.bad_set], cluster_db, workers=2)
    assert dump(cluster_db) == dump(sync_db)
    assert _matches(cluster_db) == _matches(sync_db)


def test_bad_videos_are_recorded_and_the_scan_goes_on(
    videos: VideoCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.hashmatch.test_video import _audio_only, _avi_with, _corrupted

    known = (videos.reference_dir / "A" / "known.mp4").read_bytes()
    files = {
        "v/truncated.mp4": known[: len(known) // 2],
        "v/audio.mp4": _audio_only(),
        "v/midway.mp4": _corrupted(make_video(8, seconds=10)),
        "v/unknown.avi": _avi_with(fourcc=b"ZZZZ"),
        "v/long.mp4": make_video(9, seconds=8),
        "v/known.mp4": known,
    }
    evidence = build_filesystem("fat16", files, tmp_path / "bad.raw")
    real = policy_module.hash_video

    def capped(*args: object, **kwargs: object) -> object:  # a 3-frame cap
        if str(kwargs["where"]).endswith("long.mp4"):
            kwargs["max_frames"] = 3
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(policy_module, "hash_video", capped)
    db = tmp_path / "case.db"
    scan([evidence], [videos.bad_set], db, scheduler="sync")
    con = sqlite3.connect(db)
    skipped = dict(
        con.execute("SELECT path, reason FROM skipped WHERE device_id = 'bad.raw'")
    )
    status = con.execute("SELECT status FROM devices").fetchone()[0]
    con.close()
    assert status == "scanned"
    assert "not a decodable video" in skipped["v/truncated.mp4"]
    assert "no video stream" in skipped["v/audio.mp4"]
    assert "failed to decode" in skipped["v/midway.mp4"]
    assert "codec not known" in skipped["v/unknown.avi"]
    assert "capped at 3 frames" in skipped["v/long.mp4"]
    assert matched_entries(db, "bad.raw") == {"A/known.mp4": {"v/known.mp4"}}


def test_exports_and_report_carry_shares_and_timestamps(
    videos: VideoCase, tmp_path: Path
) -> None:
    import csv
    import json

    db = tmp_path / "case.db"
    scan([videos.evidence], [videos.bad_set], db, scheduler="sync")
    runner = CliRunner()
    out = {}
    for fmt in ("json", "csv", "vics"):
        path = tmp_path / f"export.{fmt}"
        result = runner.invoke(
            main, ["export", "--db", str(db), "--format", fmt, "-o", str(path)]
        )
        assert result.exit_code == 0, result.output
        out[fmt] = path.read_text()
    doc = json.loads(out["json"])
    by_path = {m["path"]: m["matches"] for d in doc["devices"] for m in d["media"]}
    (clip,) = by_path["movies/clip.mp4"]
    assert clip["algorithm"] == "vpdq"
    assert (clip["item_share"], clip["known_share"]) == (100.0, 40.0)
    (shown,) = by_path["movies/slides.mp4"]
    assert shown["at_seconds"] == 3.0 and shown["item_share"] is None
    rows = {r["path"]: r for r in csv.DictReader(io.StringIO(out["csv"]))}
    assert rows["movies/clip.mp4"]["known_share"] == "40.0"
    assert rows["movies/slides.mp4"]["at_seconds"] == "3.0"
    vics = json.loads(out["vics"])["value"]
    comments = {v.get("Comments") for v in vics}
    assert any(c and "40% of the known video's frames" in c for c in comments)
    assert "known image shown in this video at 00:00:03" in comments
    assert all(v["MimeType"].startswith("video/") for v in vics)
    # Read back as a hash set, the video entries keep their MD5 and SHA-1.
    back = tmp_path / "back.ths"
    result = runner.invoke(
        main, ["hashset", "import", str(tmp_path / "export.vics"), "-o", str(back)]
    )
    assert result.exit_code == 0, result.output
    entries = list(HashSet.load(back).iter_entries())
    clip_md5 = hashlib.md5(videos.files["movies/clip.mp4"]).hexdigest()
    assert any(clip_md5 in e.values("md5") and e.values("sha1") for e in entries)
    report = tmp_path / "report.html"
    result = runner.invoke(main, ["report", "--db", str(db), "-o", str(report)])
    assert result.exit_code == 0, result.output
    html = report.read_text()
    assert "known image shown in this video at 00:00:03" in html
    assert "1 known video (category A) exact copy" in html


def test_stop_after_hashes_key_frames_only(videos: VideoCase, tmp_path: Path) -> None:
    db = tmp_path / "case.db"
    scan([videos.evidence], [videos.bad_set], db, scheduler="sync", stop_after=100)
    con = sqlite3.connect(db)
    frames = con.execute(
        "SELECT DISTINCT frame_number FROM video_frames WHERE address LIKE "
        "'%movies/reencoded.avi'"
    ).fetchall()
    parameters = con.execute("SELECT parameters FROM runs").fetchone()[0]
    con.close()
    with av.open(io.BytesIO(videos.files["movies/reencoded.avi"])) as container:
        keys = [
            n for n, frame in enumerate(container.decode(video=0)) if frame.key_frame
        ]
    assert 1 < len(keys) < 20  # of 100 frames (a GOP of 12, and scene cuts)
    assert [n for (n,) in frames] == keys
    assert '"video_keyframes": true' in parameters
    assert "movies/reencoded.avi" in matched_entries(db, "videos.raw")["A/known.mp4"]


def _frames(db: Path) -> list[tuple[object, ...]]:
    con = sqlite3.connect(db)
    try:
        return con.execute(
            "SELECT address, frame_number, timestamp, algorithm, variant, value "
            "FROM video_frames ORDER BY 1, 2, 4, 5"
        ).fetchall()
    finally:
        con.close()


def test_a_full_scan_after_the_key_frame_pass_hashes_every_second(
    videos: VideoCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks the ``--stop-after`` pass stored (videos from key frames only)
    are read and decoded again by a full scan, which then stores what a
    fresh full scan stores; a key-frame pass after that resumes them."""
    db, fresh = tmp_path / "case.db", tmp_path / "fresh.db"
    scan([videos.evidence], [videos.bad_set], db, scheduler="sync", stop_after=100)
    scan([videos.evidence], [videos.bad_set], fresh, scheduler="sync")
    assert _frames(db) != _frames(fresh)
    summary = scan([videos.evidence], [videos.bad_set], db, scheduler="sync")
    assert _frames(db) == _frames(fresh)
    assert _matches(db) == _matches(fresh)
    assert summary.devices[0].chunks_resumed == 0
    decodes = _count_decodes(monkeypatch)
    again = scan([videos.evidence], [videos.bad_set], db, scheduler="sync",
                 stop_after=100)  # fmt: skip
    assert decodes == [] and again.devices[0].chunks_done == 0
    assert _frames(db) == _frames(fresh)


def test_a_video_the_key_frame_pass_could_not_hash_is_hashed_by_a_full_scan(
    videos: VideoCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A video the ``--stop-after`` pass recorded as a skip (key frames only
    failed: simulated, as for a stream whose packets carry no key-frame
    flag) is read again by a full scan, which stores its frames and drops
    the key-frame pass's skip, as a fresh full scan would have them."""
    files = {"m/odd.mp4": make_video(3, seconds=4), "p/x.jpg": encode(make_picture(4))}
    evidence = build_filesystem("fat16", files, tmp_path / "d.raw")
    real = policy_module.hash_video

    def flaky(fileobj: object, *, where: str, keyframes: bool = False,
              **kw: object) -> object:  # fmt: skip
        if keyframes and where.endswith("odd.mp4"):
            raise DecodeError(where, "no video frame decoded: no key frame")
        return real(fileobj, where=where, keyframes=keyframes, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(policy_module, "hash_video", flaky)
    db, fresh = tmp_path / "case.db", tmp_path / "fresh.db"
    scan([evidence], [videos.bad_set], db, scheduler="sync", stop_after=100)
    assert _frames(db) == []
    scan([evidence], [videos.bad_set], db, scheduler="sync")
    scan([evidence], [videos.bad_set], fresh, scheduler="sync")
    assert _frames(db) == _frames(fresh) != []
    assert dump(db)["skipped"] == dump(fresh)["skipped"]


def test_a_carved_video_is_hashed_from_the_device_and_matched(
    videos: VideoCase, tmp_path: Path
) -> None:
    only = tmp_path / "videos.ths"
    result = CliRunner().invoke(
        main, ["hashset", "import", str(videos.videos_only), "-o", str(only)]
    )
    assert result.exit_code == 0, result.output
    files = {
        "keep/readme.txt": b"x" * 100,
        "gone/clip.mp4": videos.files["movies/clip.mp4"],
    }
    evidence = build_filesystem(
        "fat16", files, tmp_path / "carve.raw", deleted=["gone/clip.mp4"]
    )
    db = tmp_path / "case.db"
    scan([evidence], [only], db, scheduler="sync")
    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT media.source, m.algorithm, m.item_share FROM matches m JOIN media "
        "USING (device_id, address)"
    ).fetchall()
    con.close()
    assert ("carved", "vpdq", 100.0) in rows


def test_the_same_video_twice_is_decoded_once(
    videos: VideoCase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Identical content is decoded once per worker, as for pictures, and
    both copies get the same frames (and both match)."""
    known = (videos.reference_dir / "A" / "known.mp4").read_bytes()
    files = {
        "a/known.mp4": known,
        "b/again.mp4": known,
        "c/other.mp4": make_video(12, seconds=3),
    }
    evidence = build_filesystem("fat16", files, tmp_path / "twice.raw")
    decodes = _count_decodes(monkeypatch)
    db = tmp_path / "case.db"
    scan([evidence], [videos.bad_set], db, scheduler="sync", chunk_files=1)
    assert len(decodes) == 2 and "c/other.mp4" in decodes  # one of the copies
    con = sqlite3.connect(db)
    frames = {
        address: count
        for address, count in con.execute(
            "SELECT address, COUNT(*) FROM video_frames GROUP BY address"
        )
    }
    con.close()
    counts = sorted(frames.values())
    assert len(counts) == 3 and counts[1] == counts[2]  # the two copies alike
    assert matched_entries(db, "twice.raw") == {
        "A/known.mp4": {"a/known.mp4", "b/again.mp4"}
    }
