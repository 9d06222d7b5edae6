"""Carvers, one module a format, registered in ``CARVERS`` (see ``base``).

Imported in table order (JPEG, PNG, GIF, BMP, WebP, TIFF, ISO BMFF, AVI): at
one offset the earlier format that parses wins. A new format is a module
registering a ``CarveFormat`` plus its import here.
"""

from __future__ import annotations

# isort: off
from triage.ingest.carvers import jpeg, png, gif, bmp, webp  # noqa: F401
from triage.ingest.carvers import tiff, isobmff, avi  # noqa: F401

# isort: on
from triage.ingest.carvers.base import CARVERS, MAX_ITEM, CarveFormat, Found

__all__ = ["CARVERS", "MAX_ITEM", "CarveFormat", "Found"]
