"""Filesystems behind one interface (``base.Filesystem``), one module a backend.

``FILESYSTEMS`` holds the backends; ``open_filesystem(handle, offset)`` opens
a partition's filesystem with the first that reads it, once per device and
offset. Built in: ``apfs`` (libfsapfs); the phone extractions of
``extraction.py`` and ``phone.py`` (each opens only a device of its own
container); ``tsk`` (The Sleuth Kit through pytsk3). Adding one is a module
that subclasses ``Filesystem`` and calls ``FILESYSTEMS.register(TheClass)``,
plus its import below (backends are tried in registration order, catch-alls
like ``tsk`` last).
"""

from __future__ import annotations

from triage.errors import FilesystemError
from triage.ingest.evidence import DeviceHandle

# isort: off
from triage.ingest.filesystems import apfs  # noqa: F401  (registers "apfs")
from triage.ingest.filesystems import extraction  # noqa: F401  (ffs-zip, ...)
from triage.ingest.filesystems import phone  # noqa: F401  (ufdr, folder, ...)
from triage.ingest.filesystems import tsk  # noqa: F401  (registers "tsk")

# isort: on
from triage.ingest.filesystems.base import (
    FILESYSTEMS,
    Entry,
    Filesystem,
    NotThisFilesystem,
    RecordIO,
)

__all__ = [
    "FILESYSTEMS",
    "Entry",
    "Filesystem",
    "NotThisFilesystem",
    "RecordIO",
    "cached_filesystem",
    "free_space_types",
    "open_filesystem",
    "spaceless_types",
]


def free_space_types() -> frozenset[str]:
    """Filesystem types whose free space some backend can find."""
    return frozenset().union(*(b.free_space_types() for b in FILESYSTEMS.values()))


def spaceless_types() -> frozenset[str]:
    """Filesystem types with no free space at all (extractions, folders)."""
    return frozenset().union(*(b.spaceless_types() for b in FILESYSTEMS.values()))


def cached_filesystem(handle: DeviceHandle, offset: int) -> Filesystem | None:
    """The filesystem at ``offset`` if this handle has opened it, else None."""
    found = handle.cache.get((Filesystem, offset))
    return found if isinstance(found, Filesystem) else None


def open_filesystem(handle: DeviceHandle, offset: int) -> Filesystem:
    """The filesystem at ``offset`` (cached on the handle).

    Raises:
        FilesystemError: no backend reads it; naming the device and offset,
            with the backend's reason (each backend's, when several tried).
        EvidenceError: the container could not be read there.
    """
    cached = cached_filesystem(handle, offset)
    if cached is not None:
        return cached
    failures: list[FilesystemError] = []
    for backend in sorted(FILESYSTEMS.values(), key=lambda b: b.catch_all):
        try:
            fs = backend.open(handle, offset)
        except FilesystemError as exc:
            failures.append(exc)
            continue
        handle.cache[(Filesystem, offset)] = fs
        return fs
    claims = [f for f in failures if not isinstance(f, NotThisFilesystem)]
    failures = claims or failures
    if len(failures) == 1:
        raise failures[0]
    raise FilesystemError(
        where=handle.device.device_id,
        reason="; ".join(exc.reason for exc in failures) or "no filesystem backend",
    ) from (failures[-1] if failures else None)
