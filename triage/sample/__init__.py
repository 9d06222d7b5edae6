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


def sevenzip_bytes(members: dict[str, bytes], **options: object) -> bytes:
    """A 7z archive of ``members`` (name -> bytes), built in memory by py7zr
    (the ``test`` and ``bench`` extras); ``options`` go to
    ``py7zr.SevenZipFile`` (``password=``, ``header_encryption=``)."""
    import py7zr

    buf = io.BytesIO()
    with py7zr.SevenZipFile(buf, "w", **options) as archive:  # type: ignore[arg-type]
        for name, data in members.items():
            archive.writestr(data, name)
    return buf.getvalue()
