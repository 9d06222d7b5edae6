"""The ingest seams: filesystem and volume-system tables, and who may use
pytsk3. A toy backend over a dict shows a new filesystem needs only the
primitives to get the shared walk (order, deferral, loop guard)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from triage.errors import FilesystemError, UnknownNameError
from triage.ingest.filesystems import FILESYSTEMS, Entry, Filesystem, RecordIO
from triage.ingest.volumes import VOLUME_SYSTEMS
from triage.records import FileRecord, Partition, Skipped

PACKAGE = Path(__file__).resolve().parents[2] / "triage"
#: The only modules that may import pytsk3: the Sleuth Kit backends and the
#: private adapter of a device handle to pytsk3's Img_Info.
PYTSK3_USERS = {
    "ingest/_sleuthkit.py",
    "ingest/filesystems/tsk.py",
    "ingest/volumes/tsk.py",
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_only_the_sleuth_kit_backends_import_pytsk3() -> None:
    users = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "pytsk3" in _imports(path)
    }
    assert users == PYTSK3_USERS


def test_tables_hold_the_built_in_backends() -> None:
    assert "tsk" in FILESYSTEMS
    assert {"gpt", "mbr", "none"} <= set(VOLUME_SYSTEMS.names())
    with pytest.raises(UnknownNameError, match="known: tsk"):
        FILESYSTEMS.get("apfs")


class _DictFs(Filesystem):
    """A toy filesystem: folders are dicts, files are bytes."""

    name = "dict"

    def __init__(self, tree: dict[str, object]) -> None:
        super().__init__(handle=_Handle(), offset=0, fs_type="toy")  # type: ignore[arg-type]
        self.refs: dict[int, object] = {}
        self._root = self._number(tree)

    def _number(self, node: object) -> int:
        ref = len(self.refs) + 2
        self.refs[ref] = node
        if isinstance(node, dict):
            for child in node.values():
                if child is not node and not isinstance(child, int):
                    self._number(child)
        return ref

    @classmethod
    def open(cls, handle: object, offset: int) -> Filesystem:  # type: ignore[override]
        raise FilesystemError("not used")

    @property
    def root(self) -> int:
        return self._root

    def list_folder(self, ref: int) -> Iterator[Entry]:
        node = self.refs[ref]
        if not isinstance(node, dict):
            raise FilesystemError("not a folder")
        for name, child in node.items():
            if isinstance(child, int):  # a link back to a folder by reference
                yield Entry(name, child, is_folder=True)
                continue
            child_ref = next(r for r, n in self.refs.items() if n is child)
            if isinstance(child, dict):
                yield Entry(name, child_ref, is_folder=True)
            else:
                assert isinstance(child, bytes)
                yield Entry(name, child_ref, False, streams=(("", len(child)),))

    def open_file(self, record: FileRecord) -> RecordIO:
        data = self.refs[record.inode or 0]
        assert isinstance(data, bytes)
        return RecordIO(lambda at, size: data[at : at + size], len(data))

    def extents(self, record: FileRecord) -> list[tuple[int, int]] | None:
        return None

    def free_runs(self, partition: Partition) -> Iterator[tuple[int, int]]:
        return iter(())


class _Handle:
    class device:  # noqa: N801 - stands in for a Device record
        device_id = "toy"
        evidence = "/toy.img"


def test_a_new_backend_gets_the_shared_walk() -> None:
    users: dict[str, object] = {"a.jpg": b"1", "deep": {"b.png": b"22"}}
    tree: dict[str, object] = {"Windows": {"w.dll": b"333"}, "Users": users}
    fs = _DictFs(tree)
    users["up"] = fs.root  # a corrupt link back to the root
    part = Partition("toy", "/toy.img", 0, 0, 100, "whole", fs_type="toy")
    items = list(fs.iter_entries(part, defer=frozenset({"windows"})))
    paths = [i.path for i in items if isinstance(i, FileRecord)]
    assert paths == ["Users/a.jpg", "Users/deep/b.png", "Windows/w.dll"]
    [loop] = [i for i in items if isinstance(i, Skipped)]
    assert loop.where == "partition 0:Users/up" and "directory loop" in loop.reason
    [record] = [i for i in items if isinstance(i, FileRecord) and i.size == 2]
    stream = fs.open_file(record)
    assert stream.read_at(0, 10) == b"22" and stream.read() == b"22"


# --- expanders ----------------------------------------------------------------


def test_expanders_table_declares_what_is_not_expanded() -> None:
    from triage.ingest.expanders import EXPANDERS, NotExpanded, expandable

    assert {"zip", "tar", "gzip"} <= set(EXPANDERS.names())
    unexpanded = {
        name: e.reason for name, e in EXPANDERS.items() if isinstance(e, NotExpanded)
    }
    assert set(unexpanded) == {"zstd", "cab", "bzip2", "xz"}  # 7z, rar: expanded
    assert unexpanded["cab"] == "cab archive recognised but not expanded"
    assert expandable("bzip2") and expandable("rar") and not expandable("zstd")


def test_an_expander_can_address_members_that_are_not_paths(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A container whose members are cut out of it ("entry N"), read back by
    that address: the shape Thumbs.db or thumbcache expanders will have."""
    import io
    from contextlib import ExitStack
    from typing import IO

    from triage.ingest import archives
    from triage.ingest.expanders import base
    from triage.ingest.expanders.nesting import one_member
    from triage.registry import Registry

    class Entries(base.Expander):
        """Toy container: "TOYC" then records of 1 length byte + data."""

        name = "toy"
        signatures = ("toy",)

        def recognise(self, sniffed: base.Sniffed) -> bool:
            return sniffed.signature == "toy"

        def _entries(self, source: IO[bytes]) -> list[bytes]:
            data, out, pos = source.read(), [], 4
            while pos < len(data):
                out.append(data[pos + 1 : pos + 1 + data[pos]])
                pos += 1 + data[pos]
            source.seek(0)
            return out

        def members(self, job: base.Expansion):  # type: ignore[no-untyped-def]
            for n, data in enumerate(self._entries(job.source)):
                yield from one_member(
                    job,
                    f"entry {n}",
                    len(data),
                    None,
                    lambda d=data: base.Bounded(io.BytesIO(d), len(d), "x"),
                )

        def open_member(self, source, name, limits, stack: ExitStack):  # type: ignore[no-untyped-def]
            data = self._entries(source)[int(name.split()[1])]
            return base.Bounded(io.BytesIO(data), len(data), name), None

    table: Registry[base.Expander] = Registry("expander")
    table.register(Entries())
    monkeypatch.setattr(base, "EXPANDERS", table)
    monkeypatch.setattr(archives, "EXPANDERS", table)
    from triage.ingest.expanders import nesting

    for module in (nesting, archives):  # a signature "toy" in media's table
        monkeypatch.setattr(
            module, "sniff_source", lambda source: base.Sniffed("toy", archive=True)
        )
    gif = b"GIF89a" + bytes(20)
    blob = b"TOYC" + bytes([3]) + b"abc" + bytes([len(gif)]) + gif
    outer = FileRecord("dev", "/e", 0, 0, "Thumbs.db", len(blob), inode=5)
    members = list(archives.iter_members(io.BytesIO(blob), outer))
    assert [m.archive_path for m in members] == [("entry 0",), ("entry 1",)]
    assert [m.media_type for m in members] == [None, "image/gif"]
    assert archives.read_member(blob, ("entry 1",)) == gif


# --- containers, carvers, media signatures ----------------------------------------


def test_containers_carvers_and_signatures_are_registries() -> None:
    from triage.ingest.carve import CARVERS
    from triage.ingest.evidence import CONTAINERS
    from triage.ingest.media import SIGNATURES
    from triage.registry import Registry

    # Identification order: signatures first, split raw by name, raw last.
    assert CONTAINERS.names() == ("ewf", "vmdk", "vhdx", "vhd", "qcow", "split", "raw")
    assert CARVERS.names() == (
        "jpeg",
        "png",
        "gif",
        "bmp",
        "webp",
        "tiff",
        "tiff-be",
        "isobmff",
        "avi",
    )
    assert SIGNATURES.names()[:2] == ("jpeg", "png")
    for table in (CONTAINERS, CARVERS, SIGNATURES):
        assert isinstance(table, Registry)
    with pytest.raises(
        UnknownNameError, match="known: jpeg, png, gif, bmp, webp, tiff"
    ):
        CARVERS.get("jxl")
