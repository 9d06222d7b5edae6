"""Large reads of FAT files straight from the device by their runs
(``filesystems/fat_direct``) give exactly Sleuth Kit's bytes: live and
deleted files, one run and two, files reusing a deleted file's clusters;
and where the runs cannot stand for Sleuth Kit's read, it reads."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from triage.errors import FilesystemError
from triage.ingest import iter_files
from triage.ingest.evidence import open_device
from triage.ingest.filesystems import fat_direct, open_filesystem
from triage.records import FileRecord, Source
from triage.sample.disk import build_filesystem
from triage.sample.fragmented import Step, build_in_order

KIB = 1 << 10


def _fragmented(out: Path) -> Path:
    """FAT32 with 512-byte clusters: files in two pieces around live ones,
    some deleted, a later file written over a deleted one's clusters."""
    rng = random.Random(7)
    steps: list[Step] = []
    for n in range(3):
        steps.append(("write", f"d/sep{n}.bin", rng.randbytes(3 * KIB)))
        steps.append(("write", f"d/hole{n}.bin", rng.randbytes((70 + 40 * n) * KIB)))
    steps.append(("fill", "filler.bin"))
    steps += [("delete", f"d/hole{n}.bin") for n in range(3)]
    steps.append(("write", "pics/two.bin", rng.randbytes(150 * KIB)))  # 2 pieces
    steps.append(("write", "pics/gone.bin", rng.randbytes(90 * KIB)))
    steps.append(("delete", "pics/gone.bin"))
    steps.append(("write", "pics/over.bin", rng.randbytes(66 * KIB)))  # reuses
    steps.append(("delete", "pics/two.bin"))
    return build_in_order("fat32", steps, out, size_mb=36, cluster=512)


def _plain(fs: str, out: Path) -> Path:
    rng = random.Random(fs)
    files = {f"f{n}.bin": rng.randbytes((60 + 50 * n) * KIB) for n in range(4)}
    files["small.txt"] = b"hello\n" * 10
    return build_filesystem(fs, files, out, deleted=["f1.bin", "f3.bin"])


def _records(image: Path) -> list[FileRecord]:
    with open_device(image) as handle:
        return [
            r
            for r in iter_files(handle, carve=False, archives=False)
            if isinstance(r, FileRecord)
            and r.source is Source.FILESYSTEM
            and r.inode is not None
            and r.size > 0
        ]


@pytest.mark.parametrize("kind", ["fragmented", "fat12", "fat16", "fat32"])
def test_direct_reads_give_sleuth_kits_bytes(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / f"{kind}.img"
    if kind == "fragmented":
        _fragmented(image)
    else:
        _plain(kind, image)
    direct: list[int] = []
    read = fat_direct.FatRuns.read

    def counted(self: Any, offset: int, size: int) -> bytes | None:
        data = read(self, offset, size)
        direct.append(data is not None)
        return data

    monkeypatch.setattr(fat_direct.FatRuns, "read", counted)
    records = _records(image)
    assert sum(r.deleted for r in records) >= 2
    with open_device(image) as handle:
        for record in records:
            fs = open_filesystem(handle, record.partition_offset)
            stream = fs.open_file(record)
            tsk_file = fs._fs.open_meta(inode=record.inode)  # type: ignore[attr-defined]
            for offset, size in ((0, record.size), (record.size // 3, 70 * KIB)):
                size = min(size, record.size - offset)
                try:
                    want = bytes(tsk_file.read_random(offset, size))
                except OSError:  # Sleuth Kit cannot: nor can the backend
                    with pytest.raises(FilesystemError):
                        stream.read_at(offset, size)
                    continue
                assert stream.read_at(offset, size) == want, (record.path, offset)
    assert sum(direct) >= 4  # the large files were read straight


def test_runs_that_do_not_cover_the_file_leave_it_to_sleuth_kit() -> None:
    class Run:
        def __init__(self, offset: int, addr: int, length: int, flags: int = 0):
            self.offset, self.addr, self.len, self.flags = offset, addr, length, flags

    def reader(runs: list[Run], size: int = 4 * 512 * 64) -> fat_direct.FatRuns:
        return fat_direct.FatRuns(None, [runs], size, 0, (512, 1000))  # type: ignore[arg-type]

    big = fat_direct.DIRECT_MIN
    assert reader([Run(0, 10, 128), Run(128, 200, 128)])._load()
    assert reader([Run(0, 10, 128), Run(128, 200, 128)]).read(0, big - 1) is None
    assert not reader([Run(0, 10, 128)])._load()  # short of the size
    assert not reader([Run(0, 10, 128), Run(129, 200, 128)])._load()  # a gap
    assert not reader([Run(0, 10, 128), Run(128, 200, 128, 2)])._load()  # sparse
    assert not reader([Run(0, 10, 128), Run(128, 900, 128)])._load()  # past the end
