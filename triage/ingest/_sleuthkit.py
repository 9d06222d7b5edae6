"""The Sleuth Kit's view of an open device: private to the TSK backends.

Only the Sleuth Kit filesystem backend (``filesystems/tsk.py``) and volume
systems (``volumes/tsk.py``) use this module; nothing else in ``triage``
imports pytsk3. ``image_of(handle)`` adapts a ``DeviceHandle`` to a
``pytsk3.Img_Info`` (one per handle), so Sleuth Kit reads any container
through the handle, which counts the bytes and keeps the container's own
error messages.
"""

from __future__ import annotations

from typing import Any

import pytsk3

from triage.errors import EvidenceError
from triage.ingest.evidence import DeviceHandle

#: pytsk3 raises both for a failed Sleuth Kit call.
TSK_ERRORS = (OSError, RuntimeError)


class _HandleImg(pytsk3.Img_Info):
    """A ``pytsk3.Img_Info`` reading through a ``DeviceHandle``."""

    def __init__(self, handle: DeviceHandle) -> None:
        self._handle = handle
        super().__init__(url="", type=pytsk3.TSK_IMG_TYPE_EXTERNAL)

    def read(self, offset: int, size: int) -> bytes:
        return self._handle.read_media(offset, size)

    def get_size(self) -> int:
        return self._handle.size

    def close(self) -> None:
        """Sleuth Kit calls this too; the reader is closed by the handle."""


def image_of(handle: DeviceHandle) -> Any:
    """The handle's ``pytsk3.Img_Info`` (made once, kept in ``handle.cache``)."""
    img = handle.cache.get(_HandleImg)
    if img is None:
        img = handle.cache[_HandleImg] = _HandleImg(handle)
    return img


def tsk_message(exc: BaseException) -> str:
    """Sleuth Kit's own words, without the C function names it prefixes."""
    text = " ".join(str(exc).split())
    if "with error: " in text:  # pytsk3's wrapper around Sleuth Kit's message
        text = text.split("with error: ", 1)[1]
    return text.split(": ", 1)[-1] if text.startswith("tsk_") else text


def failure(handle: DeviceHandle, exc: BaseException) -> str:
    """Why a pytsk3 call failed: the container's read error, else Sleuth Kit's."""
    return handle.take_read_error() or tsk_message(exc)


def raise_read_error(handle: DeviceHandle, exc: BaseException) -> None:
    """If Sleuth Kit failed because the container could not be read, say so.

    Raises:
        EvidenceError: the container's read error, naming the device.
    """
    message = handle.take_read_error()
    if message is not None:
        raise EvidenceError(f"{handle.device.device_id}: {message}") from exc
