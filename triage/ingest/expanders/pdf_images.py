"""A PDF's pictures: its image XObjects, one member per object (``object 12``).

The objects are taken from the cross-reference table (pypdf's, rebuilt by
pypdf when damaged), never by walking the page tree, so a looping object
graph cannot loop this walk, and an image no page shows any more is found
too. Before pypdf parses an object, its first ``PEEK`` bytes are read from
the evidence stream: only image dictionaries are parsed, and one declaring a
stream over ``MAX_STREAM`` bytes is a ``Skipped`` without being read.

A JPEG (DCTDecode) or JPEG 2000 (JPXDecode) image is its stream's bytes, the
picture as it was pasted in: its exact hashes are those of the original
file. Any other image (Flate, LZW, run-length pixels) is decoded by pypdf
(decompression capped by pypdf's configuration, 75 MB by default; at most
``MAX_PIXELS``) and re-encoded as PNG, so it is matched perceptually; its
exact hashes are of that PNG.

Bounds: ``MAX_PDF`` bytes (a larger PDF is a ``Skipped``, unread: pypdf
reads a damaged one whole), ``MAX_OBJECTS`` objects looked at, ``DEADLINE``
seconds per PDF; past either of the last two the rest is a ``Skipped``.
"""

from __future__ import annotations

import functools
import io
import logging
import re
import struct
import zlib
from collections.abc import Iterator
from contextlib import ExitStack
from typing import IO, TYPE_CHECKING

from PIL import Image

from triage.errors import ArchiveError
from triage.ingest.expanders.base import (
    EXPANDERS,
    MIB,
    ArchiveLimits,
    Bounded,
    Expander,
    Expansion,
)
from triage.ingest.expanders.embedded import (
    Deadline,
    bytes_reader,
    embedded_item,
    exhausted,
    size_within,
)
from triage.ingest.media import CONTAINER, Signature, register
from triage.records import FileRecord, Skipped

if TYPE_CHECKING:  # pypdf itself is imported when the first PDF is met
    from pypdf import PdfReader
    from pypdf.generic import StreamObject

#: Largest PDF read (pypdf reads a damaged one whole to rebuild its table).
MAX_PDF = 512 * MIB
#: Objects of one PDF looked at (a real document holds a few thousand).
MAX_OBJECTS = 200_000
#: Largest image stream read (declared ``/Length``).
MAX_STREAM = 64 * MIB
#: Largest image decoded to pixels (width x height).
MAX_PIXELS = 64_000_000
#: Seconds spent on one PDF before the rest is skipped.
DEADLINE = 60.0
#: Bytes of an object read to tell whether it is an image.
PEEK = 1024

#: What reading a damaged PDF raises, besides pypdf's own ``PyPdfError``
#: (added by ``pdf_errors``, so that pypdf is imported only when a PDF is met:
#: it costs 70 ms at every start of the scan's driver and workers).
_OTHER_ERRORS: tuple[type[BaseException], ...] = (
    ValueError,  # also pypdf's LimitReachedError
    KeyError,
    TypeError,
    AttributeError,
    IndexError,
    RecursionError,  # a reference chain that loops
    OSError,  # Pillow's "cannot identify image file" too
    EOFError,
    struct.error,
    zlib.error,
    NotImplementedError,
    Image.DecompressionBombError,
)


@functools.cache
def pdf_errors() -> tuple[type[BaseException], ...]:
    """Everything reading a damaged PDF may raise."""
    from pypdf.errors import PyPdfError

    return (PyPdfError, *_OTHER_ERRORS)


_IMAGE = re.compile(rb"/Subtype\s*/Image\b")
_LENGTH = re.compile(rb"/Length\s+(\d+)(?!\s+\d+\s+R)")
_JPEG_FILTERS = ("/DCTDecode", "/JPXDecode")

register(Signature("pdf", "application/pdf", CONTAINER, lambda h: h[:5] == b"%PDF-"))
# pypdf logs every repair it makes; damage that loses a picture is a Skipped.
logging.getLogger("pypdf").setLevel(logging.ERROR)


def _reader(source: IO[bytes]) -> PdfReader:
    """pypdf's reader of the PDF in ``source``.

    Raises:
        ArchiveError: over ``MAX_PDF`` bytes (and pypdf's own errors).
    """
    size_within(source, MAX_PDF, "PDF")
    from pypdf import PdfReader

    return PdfReader(source, strict=False)


def _object_offsets(reader: PdfReader) -> dict[int, int]:
    """Object number -> byte offset, for objects stored uncompressed (image
    streams never sit in object streams)."""
    offsets: dict[int, int] = {}
    for table in reader.xref.values():
        offsets.update(table)
    return dict(sorted(offsets.items()))


def _peek(source: IO[bytes], offset: int) -> tuple[bool, int | None]:
    """Whether the object at ``offset`` is an image, and its declared length
    (its dictionary only: what precedes ``stream`` or ``endobj``)."""
    source.seek(offset)
    head = source.read(PEEK).split(b"endobj", 1)[0].split(b"stream", 1)[0]
    if not _IMAGE.search(head):
        return False, None
    length = _LENGTH.search(head)
    return True, int(length.group(1)) if length else None


def picture_of(image: StreamObject) -> bytes:
    """The picture an image XObject holds, as file bytes (see module doc).

    Raises:
        ValueError: too many pixels to decode (and pypdf's own errors).
    """
    filters = image.get("/Filter")
    last = filters[-1] if isinstance(filters, list) and filters else filters
    if last in _JPEG_FILTERS:
        return image.get_data()
    width, height = int(image.get("/Width", 0)), int(image.get("/Height", 0))
    if width * height > MAX_PIXELS:
        raise ValueError(f"{width}x{height} pixels exceeds {MAX_PIXELS}; not decoded")
    out = io.BytesIO()
    image.decode_as_image().save(out, "PNG")
    return out.getvalue()


def _image(reader: PdfReader, number: int) -> StreamObject:
    from pypdf.generic import StreamObject

    found = reader.get_object(number)
    if not isinstance(found, StreamObject) or found.get("/Subtype") != "/Image":
        raise ArchiveError(f"object {number} is not an image")
    return found


class PdfImages(Expander):
    """The image objects of a PDF."""

    inner = True

    name = "pdf_images"
    signatures = ("pdf",)

    def members(self, job: Expansion) -> Iterator[FileRecord | Skipped]:
        deadline = Deadline(DEADLINE)
        try:
            reader = _reader(job.source)
            offsets = _object_offsets(reader)
        except pdf_errors() + (ArchiveError,) as exc:
            yield job.skip(f"PDF unreadable: {exc}")
            return
        for seen, (number, offset) in enumerate(offsets.items()):
            if seen >= MAX_OBJECTS or deadline.passed:
                yield job.skip(
                    f"stopped after {seen} objects ({MAX_OBJECTS} objects or "
                    f"{deadline.seconds:.0f} s per PDF); the rest not read",
                    f"object {number}",
                )
                return
            yield from self._one(job, reader, number, offset)
            if exhausted(job.budget):
                return

    def _one(
        self, job: Expansion, reader: PdfReader, number: int, offset: int
    ) -> Iterator[FileRecord | Skipped]:
        """Object ``number``'s picture, if it is an image."""
        name = f"object {number}"
        try:
            is_image, declared = _peek(job.source, offset)
            if not is_image:
                return
            if declared is not None and declared > MAX_STREAM:
                yield job.skip(
                    f"image stream declares {declared} bytes, over the "
                    f"{MAX_STREAM}-byte limit; not read",
                    name,
                )
                return
            picture = picture_of(_image(reader, number))
        except pdf_errors() + (ArchiveError,) as exc:
            yield job.skip(f"image unreadable: {exc}", name)
            return
        reader_of = functools.partial(bytes_reader, picture, name)
        yield from embedded_item(job, name, reader_of, len(picture))

    def open_member(
        self, source: IO[bytes], name: str, limits: ArchiveLimits, stack: ExitStack
    ) -> tuple[Bounded, object | None]:
        number = int(name.removeprefix("object "))
        try:
            reader = _reader(source)
            offset = _object_offsets(reader).get(number)
            if offset is None:
                raise ArchiveError(f"no {name} in this PDF")
            _, declared = _peek(source, offset)
            if declared is not None and declared > MAX_STREAM:
                raise ArchiveError(f"{name}: stream over {MAX_STREAM} bytes")
            picture = picture_of(_image(reader, number))
        except pdf_errors() as exc:
            raise ArchiveError(f"{name}: image unreadable: {exc}") from exc
        return bytes_reader(picture, name), None


EXPANDERS.register(PdfImages())
