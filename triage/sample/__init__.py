"""Benign sample data built at run time for tests, demos and benchmarks.

Nothing here is evidence: disk images are made from dictionaries of bytes with
the ordinary Debian filesystem tools (see :mod:`triage.sample.disk`).
"""

import io
import zipfile


def zip_bytes(
    members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED
) -> bytes:
    """A zip archive of ``members`` (name -> bytes), built in memory."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()
