"""List a partition's files through its filesystem backend, as fls does.

``iter_entries`` opens the partition's filesystem from the ``FILESYSTEMS``
table (``triage.ingest.filesystems``) and walks it (``Filesystem.iter_entries``):
every regular file, deleted and orphan ones too, with fls -r -p paths
("dir/sub/name", no leading slash). Both ``triage ls`` (through
``iter_files``) and the scan's walk (``triage.walking``) list through here.

The order is the backend's, depth first, except that top-level folders named
in ``defer`` (``SYSTEM_FOLDERS`` for a scan) are walked after all the rest: a
triage scan reaches users' files before the operating system's thousands of
icons and wallpapers. Every entry is still listed, once.
"""

from __future__ import annotations

from collections.abc import Iterator

from triage.errors import FilesystemError
from triage.ingest.evidence import DeviceHandle
from triage.ingest.filesystems import base, cached_filesystem, open_filesystem
from triage.ingest.filesystems.base import ORPHAN_DIR
from triage.records import FileRecord, Partition, Skipped, Stage

__all__ = ["ORPHAN_DIR", "SYSTEM_FOLDERS", "iter_entries", "listing_damage"]

#: Top-level folders of operating systems and installed programs (lower case):
#: a scan walks them last. Users' folders, the recycle bin, orphan files and
#: everything else come first; iOS and Android user data (``private``,
#: ``data``, ``media``) are not here.
SYSTEM_FOLDERS = frozenset(
    {
        # Windows
        "windows", "program files", "program files (x86)", "programdata",
        "$windows.~bt", "$windows.~ws", "$winreagent", "perflogs", "recovery",
        "msocache", "intel", "amd", "nvidia", "drivers",
        # Linux and other Unix systems
        "usr", "lib", "lib32", "lib64", "libx32", "bin", "sbin", "boot", "etc",
        "opt", "snap", "srv", "var", "proc", "sys", "dev", "run",
        # macOS
        "system", "library", "applications", "cores",
    }
)  # fmt: skip


def iter_entries(
    handle: DeviceHandle, partition: Partition, *, defer: frozenset[str] = frozenset()
) -> Iterator[FileRecord | Skipped]:
    """Every regular file of the partition's filesystem, deleted and orphan too.

    Metadata only: no file content is read. A partition with no readable
    filesystem yields one ``Skipped``; an unreadable folder yields a
    ``Skipped`` for that folder and the walk goes on.
    """
    if not partition.allocated or partition.fs_type is None:
        return
    try:
        fs = open_filesystem(handle, partition.offset)
    except FilesystemError as exc:
        yield Skipped.at_filesystem(partition, Stage.INGEST, str(exc))
        return
    yield from fs.iter_entries(partition, defer=defer)


def listing_damage(handle: DeviceHandle, partition: Partition) -> list[Skipped]:
    """After listing ``partition``: the damaged E01 chunks the listing read
    (as zeros), one ``evidence`` row each, and one row for the partition
    (``partition N:listing``) saying the listing may miss what was stored
    there. Empty when nothing was damaged (or nothing was listed)."""
    fs = cached_filesystem(handle, partition.offset)
    if fs is None:
        return base.listing_damage(handle, partition)
    return fs.listing_damage(partition)
