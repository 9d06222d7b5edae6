"""APFS through libfsapfs: the dfvfs ``apfs.raw`` listed and scanned as its
testdata README lists it (the second reader), in a GPT partition too; an
empty container made by ``mkapfs`` (apfsprogs); a corrupt object map and a
locked volume recorded, never a crash."""

from __future__ import annotations

import shutil
import sqlite3
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import evidence_state, require_tools
from triage.errors import FilesystemError
from triage.ingest import iter_files
from triage.ingest.content import read_record
from triage.ingest.evidence import open_device
from triage.ingest.filesystems import apfs, apfs_snapshots
from triage.ingest.volumes import iter_partitions
from triage.records import FileRecord, Partition, Skipped
from triage.scan import scan

#: The testdata README's listing of apfs.raw (libfsapfs read by its authors):
#: path -> size; ``a_link`` is a symbolic link, so not a regular file.
README_LISTING = {
    "passwords.txt": 116,
    "a_directory/a_resourcefork": 0,
    "a_directory/another_file": 22,
    "a_directory/a_file": 53,
    ".fseventsd/fseventsd-uuid": 36,
    ".fseventsd/000000001714941a": 164,
    ".fseventsd/000000001714941b": 72,
}
VOLUME = "apfs_test"
FORK = "a_directory/a_resourcefork:com.apple.ResourceFork"


def _listing(path: Path, **kw: Any) -> tuple[list[FileRecord], list[Skipped]]:
    items = list(iter_files(path, archives=False, **kw))
    files = [i for i in items if isinstance(i, FileRecord)]
    return files, [i for i in items if isinstance(i, Skipped)]


def _rows(db: Path, sql: str, *args: object) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


def test_apfs_raw_lists_as_the_readme_says(dfvfs_dir: Path) -> None:
    files, skipped = _listing(dfvfs_dir / "apfs.raw", carve=False)
    plain = {f.path: f.size for f in files if ":" not in f.path}
    assert plain == {f"{VOLUME}/{p}": n for p, n in README_LISTING.items()}
    assert not skipped
    # Times and inodes come from the volume; the resource fork is a record.
    first = next(f for f in files if f.path == f"{VOLUME}/passwords.txt")
    assert first.inode == 18 and first.mtime and first.crtime
    assert first.mtime == pytest.approx(1642144781.2133, abs=1e-3)
    fork = next(f for f in files if f.path == f"{VOLUME}/{FORK}")
    assert fork.size == 17
    with open_device(dfvfs_dir / "apfs.raw") as handle:
        assert read_record(handle, fork) == b"My resource fork\n"
        part = next(p for p in iter_partitions(handle) if isinstance(p, Partition))
        assert part.fs_type == "apfs"
        data = read_record(handle, first)
        assert len(data) == 116 and data.count(b"\n") >= 1


def test_an_unreadable_apfs_entry_leaves_the_rest_of_its_folder(
    dfvfs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One entry of a folder that libfsapfs cannot read (injected here: no
    damaged APFS image is at hand) is passed over and named in one skip;
    the folder's other entries are still listed (the listing used to stop
    at it)."""
    real = apfs._entry

    def flaky(index: int, child: Any) -> Any:
        if child.name == "another_file":
            raise OSError("injected: unreadable record")
        return real(index, child)

    monkeypatch.setattr(apfs, "_entry", flaky)
    files, skipped = _listing(dfvfs_dir / "apfs.raw", carve=False)
    plain = {f.path: f.size for f in files if ":" not in f.path}
    expected = dict(README_LISTING)
    del expected["a_directory/another_file"]
    assert plain == {f"{VOLUME}/{p}": n for p, n in expected.items()}
    (skip,) = skipped
    assert str(skip.location.inner) == f"{VOLUME}/a_directory"
    assert "1 of 3 entries of this folder could not be read" in skip.reason
    assert "unreadable record" in skip.reason


def test_apfs_free_space_is_a_recorded_skip(dfvfs_dir: Path) -> None:
    _, skipped = _listing(dfvfs_dir / "apfs.raw")
    assert [s.stage.value for s in skipped] == ["carve"]
    assert "unallocated space of apfs is not carved" in skipped[0].reason


def test_apfs_in_a_gpt_partition(dfvfs_dir: Path, tmp_path: Path) -> None:
    start = 2048
    disk = _in_gpt(dfvfs_dir / "apfs.raw", tmp_path / "mac.img", start)
    files, _ = _listing(disk, carve=False)
    plain = {f.path: f.size for f in files if ":" not in f.path}
    assert plain == {f"{VOLUME}/{p}": n for p, n in README_LISTING.items()}
    assert {f.partition_offset for f in files} == {start * 512}


def test_scan_of_apfs_raw(dfvfs_dir: Path, tmp_path: Path) -> None:
    before = evidence_state([dfvfs_dir / "apfs.raw"])
    db = tmp_path / "case.db"
    summary = scan([dfvfs_dir / "apfs.raw"], [], db, scheduler="sync")
    assert [d.status for d in summary.devices] == ["scanned"]
    rows = _rows(db, "SELECT location, stage, reason FROM skipped")
    assert len(rows) == 1 and rows[0][1] == "carve", rows
    assert evidence_state([dfvfs_dir / "apfs.raw"]) == before


def test_empty_container_made_by_mkapfs(tmp_path: Path) -> None:
    mkapfs = shutil.which("mkapfs") or shutil.which("mkapfs", path="/usr/sbin")
    if mkapfs is None:
        pytest.skip("mkapfs (Debian apfsprogs) is not installed")
    image = tmp_path / "made.apfs"
    with open(image, "wb") as fh:
        fh.truncate(128 << 20)  # mkapfs refuses smaller containers
    subprocess.run([mkapfs, "-L", "Phone", str(image)], check=True)
    files, skipped = _listing(image, carve=False)
    assert files == [] and skipped == []
    with open_device(image) as handle:
        fs = apfs.ApfsFilesystem.open(handle, 0)
        assert [e.name for e in fs.list_folder(fs.root)] == ["Phone"]


def _omap_block(raw: bytes) -> int:
    block_size = struct.unpack_from("<I", raw, 36)[0]
    return struct.unpack_from("<Q", raw, 160)[0] * block_size


def test_corrupt_object_map_is_named(dfvfs_dir: Path, tmp_path: Path) -> None:
    raw = bytearray((dfvfs_dir / "apfs.raw").read_bytes())
    at = _omap_block(bytes(raw))
    raw[at : at + 4096] = bytes(4096)
    bad = tmp_path / "bad-omap.raw"
    bad.write_bytes(bytes(raw))
    with pytest.raises(FilesystemError, match=r"bad-omap\.raw: .*APFS") as err:
        list(iter_files(bad, carve=False))
    assert "object map" in str(err.value) or "omap" in str(err.value).lower()
    assert "Sleuth Kit" not in str(err.value)  # the APFS reader's words only
    db = tmp_path / "case.db"
    summary = scan([bad, dfvfs_dir / "apfs.raw"], [], db, scheduler="sync")
    # The bad device is recorded (its whole bytes carved), the other scanned.
    assert [d.status for d in summary.devices] == ["scanned", "scanned"]
    rows = _rows(
        db,
        "SELECT device_id, stage, reason FROM skipped WHERE device_id = ?",
        "bad-omap.raw",
    )
    assert any(stage == "volume" and "APFS" in reason for _, stage, reason in rows)


class _LockedVolume:
    """A locked libfsapfs volume (no encrypted APFS image is at hand, and no
    tool here makes one): it unlocks only with ``secret``."""

    name = "Data"

    def __init__(self, secret: str) -> None:
        self._secret, self._given = secret, ""

    def is_locked(self) -> bool:
        return True

    def set_password(self, value: str) -> None:
        self._given = value

    def set_recovery_password(self, value: str) -> None:
        self._given = value

    def unlock(self) -> bool:
        return self._given == self._secret


class _Container:
    def __init__(self, real: Any, locked: _LockedVolume) -> None:
        self._real, self._locked = real, locked
        self.number_of_volumes = real.number_of_volumes + 1

    def get_volume(self, index: int) -> Any:
        if index == self._real.number_of_volumes:
            return self._locked
        return self._real.get_volume(index)


def test_locked_volume_is_a_skip_and_the_rest_is_walked(
    dfvfs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(apfs.PASSWORD_ENV, raising=False)
    monkeypatch.delenv(apfs.RECOVERY_ENV, raising=False)
    with open_device(dfvfs_dir / "apfs.raw") as handle:
        real = apfs.ApfsFilesystem.open(handle, 0)
        fs = apfs.ApfsFilesystem(
            handle, 0, _Container(real._container, _LockedVolume("s3cret"))
        )
        part = Partition("apfs.raw", str(dfvfs_dir / "apfs.raw"), 0, 0,
                         handle.size, "whole", fs_type="apfs")  # fmt: skip
        items = list(fs.iter_entries(part))
    skips = [i for i in items if isinstance(i, Skipped)]
    assert len(skips) == 1 and skips[0].reason.startswith("encrypted volume")
    assert "volume Data" in str(skips[0].location)
    assert len([i for i in items if isinstance(i, FileRecord)]) == 8
    # A wrong password is said to be wrong; the right one unlocks.
    monkeypatch.setenv(apfs.PASSWORD_ENV, "nope")
    with pytest.raises(FilesystemError, match="does not unlock"):
        apfs.ApfsFilesystem(handle, 0, _Container(real._container,
                            _LockedVolume("s3cret"))).volume(1)  # fmt: skip
    monkeypatch.setenv(apfs.PASSWORD_ENV, "s3cret")
    fs = apfs.ApfsFilesystem(handle, 0, _Container(real._container,
                             _LockedVolume("s3cret")))  # fmt: skip
    assert fs.volume(1).name == "Data"


# --- snapshots: counted from the container, recorded as not read -------------


def _made_by_mkapfs(tmp_path: Path, name: str = "made.apfs") -> Path:
    mkapfs = shutil.which("mkapfs") or shutil.which("mkapfs", path="/usr/sbin")
    if mkapfs is None:
        pytest.skip("mkapfs (Debian apfsprogs) is not installed")
    image = tmp_path / name
    with open(image, "wb") as fh:
        fh.truncate(128 << 20)  # mkapfs refuses smaller containers
    subprocess.run([mkapfs, "-L", "Phone", str(image)], check=True)
    return image


def _reader(path: Path) -> Any:
    def read(offset: int, size: int) -> bytes:
        with open(path, "rb") as fh:
            fh.seek(offset)
            return fh.read(size)

    return read


def _volume_superblock_at(path: Path) -> int:
    """Byte offset of volume 0's superblock, found by the module's own
    object-map lookup (the test then checks libfsapfs agrees on the name)."""
    container = apfs_snapshots._Container(_reader(path))
    root = container.omap_root()
    oid = struct.unpack_from("<Q", container.superblock, 184)[0]
    return container.lookup(root, oid) * container.block_size


def _patched_copy(image: Path, out: Path, snapshots: int, *, fix: bool) -> Path:
    """A copy of ``image`` whose volume says ``snapshots`` snapshots, with its
    checksum recomputed (``fix``) or left stale."""
    raw = bytearray(image.read_bytes())
    at = _volume_superblock_at(image)
    assert raw[at + 32 : at + 36] == b"APSB"
    struct.pack_into("<Q", raw, at + 216, snapshots)
    if fix:
        block = bytes(raw[at : at + 4096])
        struct.pack_into("<Q", raw, at, apfs_snapshots.fletcher64(block))
    out.write_bytes(bytes(raw))
    return out


def _snapshot_tree_keys(path: Path) -> int:
    """Keys in volume 0's snapshot metadata tree root (``apfs_snap_meta_
    tree_oid``, physical): a second structure that says how many snapshots
    there are, here a root that is a leaf."""
    container = apfs_snapshots._Container(_reader(path))
    volume = container.block(_volume_superblock_at(path) // container.block_size)
    node = container.block(struct.unpack_from("<Q", volume, 152)[0])
    assert struct.unpack_from("<Q", node)[0] == apfs_snapshots.fletcher64(node)
    flags, level, keys = struct.unpack_from("<HHI", node, 32)
    assert flags & 3 == 3 and level == 0  # root and leaf
    return int(keys)


def test_snapshot_count_of_apfs_raw_and_mkapfs(dfvfs_dir: Path, tmp_path: Path) -> None:
    # apfs.raw: one volume "apfs_test", no snapshots (so no skip: see above);
    # its snapshot metadata tree is empty too.
    (vol,) = apfs_snapshots.count_snapshots(_reader(dfvfs_dir / "apfs.raw"))
    assert (vol.name, vol.count, vol.problem) == (VOLUME, 0, "")
    assert _snapshot_tree_keys(dfvfs_dir / "apfs.raw") == 0
    image = _made_by_mkapfs(tmp_path)
    (vol,) = apfs_snapshots.count_snapshots(_reader(image))
    assert (vol.slot, vol.name, vol.count) == (0, "Phone", 0)
    assert _snapshot_tree_keys(image) == 0
    # The checksum is Apple's Fletcher-64: every object read verifies.
    block = (dfvfs_dir / "apfs.raw").read_bytes()[:4096]
    assert apfs_snapshots.fletcher64(block) == struct.unpack_from("<Q", block)[0]


def test_snapshots_are_a_recorded_skip(tmp_path: Path) -> None:
    image = _made_by_mkapfs(tmp_path)
    before = evidence_state([image])
    two = _patched_copy(image, tmp_path / "two.apfs", 2, fix=True)
    assert evidence_state([image]) == before
    # apfsck (apfsprogs), a second reader, agrees the field patched is the
    # snapshot count: it now disagrees with the (empty) snapshot tree.
    apfsck = shutil.which("apfsck") or shutil.which("apfsck", path="/usr/sbin")
    if apfsck is not None:
        checks = [subprocess.run([apfsck, str(p)], capture_output=True, text=True)
                  for p in (image, two)]  # fmt: skip
        assert checks[0].returncode == 0, checks[0].stdout + checks[0].stderr
        assert "bad snapshot count" in checks[1].stdout + checks[1].stderr
        assert evidence_state([image]) == before
    files, skipped = _listing(two, carve=False)
    assert files == []
    assert [(s.stage.value, s.location.inner, s.reason) for s in skipped] == [
        (
            "ingest",
            "volume Phone",
            "2 snapshot(s) of volume Phone not read (pyfsapfs has no snapshot "
            "API); the current state of the volume is walked",
        )
    ]
    db = tmp_path / "case.db"
    two_before = evidence_state([two])
    summary = scan([two], [], db, scheduler="sync")
    assert [d.status for d in summary.devices] == ["scanned"]
    rows = _rows(db, "SELECT stage, reason FROM skipped")
    assert [r for r in rows if "snapshot" in r[1]] == [("ingest", skipped[0].reason)], (
        rows
    )
    assert evidence_state([two]) == two_before  # read-only walk
    # In a GPT partition the count is read at the partition's offset.
    disk = _in_gpt(two, tmp_path / "mac.img")
    _, in_gpt = _listing(disk, carve=False)
    assert [s.reason for s in in_gpt] == [skipped[0].reason]


def _in_gpt(container: Path, disk: Path, start: int = 2048) -> Path:
    require_tools("sfdisk")
    sectors = container.stat().st_size // 512
    with open(disk, "wb") as fh:
        fh.truncate((start + sectors + 2048) * 512)
    script = (
        "label: gpt\nunit: sectors\n\n"
        f"start={start}, size={sectors}, type=7C3457EF-0000-11AA-AA11-00306543ECAC\n"
    )
    subprocess.run(["sfdisk", "-q", str(disk)], input=script, text=True, check=True)
    with open(container, "rb") as src, open(disk, "r+b") as fh:
        fh.seek(start * 512)
        shutil.copyfileobj(src, fh)
    return disk


def test_snapshots_not_counted_on_a_checksum_mismatch(tmp_path: Path) -> None:
    image = _made_by_mkapfs(tmp_path)
    stale = _patched_copy(image, tmp_path / "stale.apfs", 2, fix=False)
    (vol,) = apfs_snapshots.count_snapshots(_reader(stale))
    assert vol.count is None and "checksum mismatch" in vol.problem
    before = evidence_state([stale])
    _, skipped = _listing(stale, carve=False)
    # libfsapfs refuses the volume too (its own skip); its name is unread.
    assert [s.location.inner for s in skipped] == ["volume volume 0"] * 2
    assert skipped[0].reason.startswith("cannot open volume 0")
    assert skipped[1].reason.startswith(
        "snapshot(s) of volume 0 could not be counted (volume superblock: "
        "checksum mismatch) and are not read"
    )
    assert evidence_state([stale]) == before


def test_snapshots_not_counted_when_the_object_map_is_damaged(tmp_path: Path) -> None:
    image = _made_by_mkapfs(tmp_path)
    raw = bytearray(image.read_bytes())
    container = apfs_snapshots._Container(_reader(image))
    root = container.omap_root() * container.block_size
    raw[root + 100] ^= 0xFF  # the B-tree root's checksum no longer holds
    bad_tree = tmp_path / "bad-tree.apfs"
    bad_tree.write_bytes(bytes(raw))
    (vol,) = apfs_snapshots.count_snapshots(_reader(bad_tree))
    assert vol.count is None and vol.problem == "object map node: checksum mismatch"
    raw = bytearray(image.read_bytes())
    raw[200] ^= 0xFF  # the container superblock's checksum no longer holds
    bad_super = tmp_path / "bad-super.apfs"
    bad_super.write_bytes(bytes(raw))
    with pytest.raises(apfs_snapshots.Unreadable, match="checksum mismatch"):
        apfs_snapshots.count_snapshots(_reader(bad_super))
    # libfsapfs refuses both copies, so the volumes come from the sound image
    # and the snapshot counting reads the damaged one.
    with open_device(image) as good:
        volumes = apfs.ApfsFilesystem.open(good, 0)._container
        for bad, why in ((bad_tree, "object map node"), (bad_super, "container")):
            with open_device(bad) as handle:
                skips = apfs.ApfsFilesystem(handle, 0, volumes).snapshot_skips()
            assert [name for name, _ in skips] == ["Phone"]
            assert skips[0][1].startswith(
                f"snapshot(s) of volume Phone could not be counted ({why}"
            ), skips
