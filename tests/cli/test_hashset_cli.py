"""``triage hashset build|import|info``."""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from triage.cli import main
from triage.cli.hashset import INFO_JSON_FIELDS
from triage.hashmatch.hashset import HashSet
from triage.hashmatch.matcher import Matcher
from triage.hashmatch.policy import hash_media
from triage.sample.pictures import encode, make_picture


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def ref_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ref")
    (root / "A").mkdir()
    (root / "C" / "deeper").mkdir(parents=True)
    (root / "A" / "one.jpg").write_bytes(encode(make_picture(1, 160, 120)))
    (root / "A" / "two.png").write_bytes(encode(make_picture(2, 160, 120), "PNG"))
    (root / "C" / "deeper" / "three.jpg").write_bytes(encode(make_picture(3, 160, 120)))
    (root / "top.jpg").write_bytes(encode(make_picture(4, 160, 120)))
    (root / "A" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 40)
    (root / "readme.txt").write_text("not a picture")
    return root


def test_build_from_subfolders_then_info(ref_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ref.hset"
    result = _run("hashset", "build", str(ref_dir), "-o", str(out), "--name", "ref")
    assert result.exit_code == 1, result.output  # written, with 2 items skipped
    assert f"{ref_dir / 'A' / 'broken.jpg'}: cannot decode" in result.stderr
    assert f"{ref_dir / 'readme.txt'}: not a picture" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    hs = HashSet.load(out)
    assert (hs.name, hs.kind, hs.scheme) == ("ref", "known-bad", "caid")
    entries = {e.entry_id: e for e in hs.iter_entries()}
    assert {k: e.category for k, e in entries.items()} == {
        "A/one.jpg": "A",
        "A/two.png": "A",
        "C/deeper/three.jpg": "C",
        "top.jpg": None,
    }
    one = (ref_dir / "A" / "one.jpg").read_bytes()
    assert entries["A/one.jpg"].values("md5") == (hashlib.md5(one).hexdigest(),)
    assert len(entries["A/one.jpg"].values("pdq")) >= 1
    info = _run("hashset", "info", str(out), "--json")
    assert info.exit_code == 0
    data = json.loads(info.output)
    assert tuple(data) == tuple(sorted(INFO_JSON_FIELDS))
    assert data["digest"] == hs.digest and data["counts"]["entries"] == 4
    assert data["categories"] == {"none": 1, "A": 2, "C": 1}
    text = _run("hashset", "info", str(out))
    assert hs.digest in text.output and "categories: none: 1, A: 2, C: 1" in text.output


def test_built_set_matches_a_seized_copy(ref_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ref.hset"
    _run("hashset", "build", str(ref_dir), "-o", str(out))
    matcher = Matcher([HashSet.load(out)])
    copy = encode(make_picture(3, 320, 240), "JPEG", quality=60)  # bigger, recoded
    found = matcher.match(hash_media("p0:i1:x.jpg", copy, "image/jpeg"))
    assert [(m.entry_id, m.category) for m in found] == [("C/deeper/three.jpg", "C")]


def test_build_with_categories_csv(ref_dir: Path, tmp_path: Path) -> None:
    cats = tmp_path / "cats.csv"
    cats.write_text("path,category\nA/one.jpg,2\ntop.jpg,1\nmissing.jpg,3\n")
    out = tmp_path / "ref.hset"
    result = _run(
        "hashset",
        "build",
        str(ref_dir),
        "-o",
        str(out),
        "--categories",
        str(cats),
        "--scheme",
        "vics",
    )
    assert "missing.jpg is not a hashed picture" in result.stderr
    hs = HashSet.load(out)
    assert hs.scheme == "vics" and hs.category_counts() == {"none": 2, "1": 1, "2": 1}


def test_build_refuses_overwrite_and_all_failed(tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.jpg").write_bytes(b"nope")
    out = tmp_path / "x.hset"
    result = _run("hashset", "build", str(bad), "-o", str(out))
    assert result.exit_code == 4 and "no reference picture could be hashed" in (
        result.stderr
    )
    assert not out.exists()
    out.write_text("keep me")
    result = _run("hashset", "build", str(bad), "-o", str(out))
    assert result.exit_code == 2 and "use --force" in result.stderr
    assert out.read_text() == "keep me"


def test_import_csv_skip_bad_lines_and_info(tmp_path: Path) -> None:
    src = tmp_path / "list.csv"
    good = hashlib.md5(b"a").hexdigest()
    src.write_text(f"MD5,Category\n{good},B\nzz,C\n")
    out = tmp_path / "s.hset"
    failed = _run("hashset", "import", str(src), "-o", str(out))
    assert failed.exit_code == 4
    assert f"{src}:3: md5 value must be 32 hex digits" in failed.stderr
    assert not out.exists() and "Traceback" not in failed.stderr
    result = _run(
        "hashset",
        "import",
        str(src),
        "-o",
        str(out),
        "--skip-bad-lines",
        "--name",
        "mine",
    )
    assert result.exit_code == 1
    assert f"skipped {src}:3: md5 value" in result.stderr
    assert "1 entries (1 md5), 1 bad lines skipped" in result.output
    hs = HashSet.load(out)
    assert hs.name == "mine" and hs.scheme == "caid" and len(hs) == 1


def test_import_nsrl_is_known_good_and_format_choice(tmp_path: Path) -> None:
    src = tmp_path / "NSRLFile.txt"
    md5, sha1 = hashlib.md5(b"x").hexdigest(), hashlib.sha1(b"x").hexdigest()
    src.write_text(
        '"SHA-1","MD5","CRC32","FileName","FileSize","ProductCode",'
        f'"OpSystemCode","SpecialCode"\n"{sha1.upper()}","{md5.upper()}",'
        '"00000000","x.dll",1,1,"1",""\n'
    )
    out = tmp_path / "nsrl.hset"
    result = _run("hashset", "import", str(src), "-o", str(out), "--format", "nsrl")
    assert result.exit_code == 0, result.stderr
    hs = HashSet.load(out)
    assert hs.kind == "known-good" and hs.name == "NSRLFile"
    assert Matcher([hs]).is_known_good({"md5": md5, "sha1": sha1})
    wrong = _run(
        "hashset",
        "import",
        str(src),
        "-o",
        str(tmp_path / "w.hset"),
        "--format",
        "vics",
    )
    assert wrong.exit_code == 4 and "malformed JSON" in wrong.stderr


def test_info_on_a_damaged_set(tmp_path: Path) -> None:
    path = tmp_path / "x.hset"
    path.write_bytes(b"garbage")
    result = _run("hashset", "info", str(path))
    assert result.exit_code == 4
    assert f"{path}: not a triage hash set file" in result.stderr


def test_import_vics_reports_ignored_photodna(tmp_path: Path) -> None:
    md5 = hashlib.md5(b"v").hexdigest()
    doc = {
        "odata.metadata": "http://github.com/ICMEC/ProjectVic/DataModels/1.2.xml/"
        "$metadata#Media",
        "value": [
            {
                "MediaID": 7,
                "Category": 1,
                "MD5": md5.upper(),
                "AlternativeHashes": [{"HashName": "PhotoDNA", "HashValue": "AAAA"}],
            }
        ],
    }
    src = tmp_path / "export.json"
    src.write_text(json.dumps(doc))
    out = tmp_path / "v.hset"
    result = _run("hashset", "import", str(src), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert "ignored 1 PhotoDNA hashes" in result.stderr
    data = json.loads(_run("hashset", "info", str(out), "--json").output)
    assert data["scheme"] == "vics" and data["categories"] == {"1": 1}
    assert data["sources"][0]["ignored_hashes"] == {"PhotoDNA": 1}
    assert data["sources"][0]["format"] == "vics"


def test_build_with_worker_processes_gives_the_same_set(
    ref_dir: Path, tmp_path: Path
) -> None:
    one, two = tmp_path / "one.hset", tmp_path / "two.hset"
    first = _run("hashset", "build", str(ref_dir), "-o", str(one))
    second = _run("hashset", "build", str(ref_dir), "-o", str(two), "--jobs", "2")
    assert first.exit_code == second.exit_code == 1  # the same two items skipped
    assert sorted(first.stderr.splitlines()) == sorted(second.stderr.splitlines())
    assert HashSet.load(one).digest == HashSet.load(two).digest


def test_build_streams_a_reference_video_over_the_picture_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reference video is hashed from its file, whatever its size; only a
    picture over ``MAX_REFERENCE_BYTES`` is refused (naming it)."""
    from triage.cli import hashset as hashset_cli
    from triage.hashmatch.video import hash_video
    from triage.sample.videos import make_video

    ref = tmp_path / "ref"
    (ref / "A").mkdir(parents=True)
    video = make_video(5, seconds=4)
    (ref / "A" / "clip.mp4").write_bytes(video)
    (ref / "A" / "big.png").write_bytes(encode(make_picture(6, 640, 480), "PNG"))
    monkeypatch.setattr(hashset_cli, "MAX_REFERENCE_BYTES", 1000)
    out = tmp_path / "ref.hset"
    result = _run("hashset", "build", str(ref), "-o", str(out))
    assert result.exit_code == 1, result.output  # written, 1 item skipped
    assert f"{ref / 'A' / 'big.png'}: picture larger than 0 MiB" in result.stderr
    (entry,) = HashSet.load(out).iter_entries()
    assert entry.entry_id == "A/clip.mp4"
    assert entry.values("md5") == (hashlib.md5(video).hexdigest(),)
    frames = hash_video(io.BytesIO(video), where="clip.mp4", dihedral=False).frames
    assert set(entry.values("vpdq")) == {
        f.pdq.value for f in frames if f.pdq is not None and f.pdq.quality >= 50
    }
