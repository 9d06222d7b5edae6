"""Carvers, one module a format, registered in ``CARVERS`` (see ``base``).

Imported in table order (JPEG, PNG, GIF, BMP, WebP): at one offset the
earlier format wins. A new format is a module registering a ``CarveFormat``
plus its import here.
"""

from __future__ import annotations

# isort: off
from triage.ingest.carvers import jpeg, png, gif, bmp, webp  # noqa: F401

# isort: on
from triage.ingest.carvers.base import CARVERS, MAX_ITEM, CarveFormat, Found

__all__ = ["CARVERS", "MAX_ITEM", "CarveFormat", "Found"]
