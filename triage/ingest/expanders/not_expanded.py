"""Archive formats recognised but not expanded, each with its reason.

CAB and zstd are reported (a ``Skipped`` saying so), so an examiner knows
they are there; a bzip2 or xz stream that holds no tar is too. An expander
for one of them replaces its entry here (7z and RAR did:
``libarchive_formats``; without the system libarchive they are entries here,
``without_libarchive``, and ``triage`` still runs).
"""

from __future__ import annotations

from triage.ingest.expanders.base import EXPANDERS, NotExpanded

for _name in ("zstd", "cab"):
    EXPANDERS.register(NotExpanded(_name))
for _name in ("bzip2", "xz"):  # a compressed tar is the tar expander's
    EXPANDERS.register(NotExpanded(_name, unless_tar=True))


def without_libarchive(exc: BaseException) -> None:
    """Register 7z and RAR as not expanded: libarchive could not be loaded."""
    for name in ("7z", "rar"):
        reason = (
            f"{name} archive not expanded: libarchive is not available ({exc}); "
            "install Debian's libarchive13"
        )
        EXPANDERS.register(NotExpanded(name, reason))
