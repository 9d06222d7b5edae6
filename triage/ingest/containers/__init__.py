"""Evidence containers, one module a format, registered in ``CONTAINERS``.

Imported in identification order: formats with a signature first, then
split raw (by file name), then raw (any whole number of sectors) last. A new
format is a module building a ``Container`` and calling
``CONTAINERS.register(...)``, plus its import here, before ``split``.
"""

from __future__ import annotations

# isort: off
from triage.ingest.containers import ewf, vmdk, vhd, qcow  # noqa: F401
from triage.ingest.containers import extraction  # noqa: F401
from triage.ingest.containers import split, raw  # noqa: F401

# isort: on
from triage.ingest.containers.base import (
    CONTAINERS,
    HEAD_BYTES,
    SECTOR,
    Container,
    Reader,
)

__all__ = ["CONTAINERS", "HEAD_BYTES", "SECTOR", "Container", "Reader"]
