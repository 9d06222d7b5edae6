"""The error hierarchy. Every error names the device, file or line it is about."""

from __future__ import annotations

from typing import Any


class TriageError(Exception):
    """Root of every error ``triage`` raises on purpose.

    Raised either with one whole message, or with ``where`` (the device,
    partition or file) and ``reason`` apart: the message is then
    ``"where: reason"``, and a skip that names the place itself stores
    ``reason`` as it is, without reading it back out of the message.
    """

    exit_code = 1

    def __init__(self, message: str = "", *, where: str = "", reason: str = "") -> None:
        if not message:
            message = f"{where}: {reason}" if where else reason
        super().__init__(message)
        self.where = where
        self.reason = reason or message

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt without calling __init__: subclasses take other arguments
        # (UnknownNameError, DecodeError), and an error raised in a Dask
        # worker must reach the driver whole.
        return (_rebuild, (type(self), self.args, self.__dict__))


def _rebuild(
    cls: type[TriageError], args: tuple[Any, ...], state: dict[str, Any]
) -> Any:
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


class EvidenceError(TriageError):
    """Evidence cannot be opened or read: missing segment, truncated E01, not
    evidence at all, unsupported container."""

    exit_code = 3


class FilesystemError(EvidenceError):
    """A volume or filesystem inside readable evidence cannot be read."""


class MediaError(TriageError):
    """One media item cannot be decoded or hashed (bad JPEG, bomb, ...)."""


class ArchiveError(MediaError):
    """An archive is corrupt, or too large or too deep to expand safely."""


class HashSetError(TriageError):
    """A hash set file is malformed; the message names file and line."""

    exit_code = 4


class StoreError(TriageError):
    """The case database cannot be used (wrong schema version, locked, ...)."""

    exit_code = 5


class DeviceBusy(StoreError):
    """Another live scan on this machine is scanning the device now."""


class ClusterError(TriageError):
    """The Dask cluster a scan runs on was lost (the scheduler died, or its
    connection broke) or refused this client (wrong TLS certificate)."""

    exit_code = 6


class UsageError(TriageError):
    """The command was asked something it cannot do."""

    exit_code = 2


class UnknownNameError(UsageError, LookupError):
    """A name that no registry table holds (a format, algorithm, filesystem...)."""

    def __init__(self, kind: str, name: str, known: tuple[str, ...]) -> None:
        super().__init__(
            f"unknown {kind} {name!r}; known: {', '.join(known) or '(none)'}"
        )
        self.kind = kind
        self.name = name
        self.known = known
