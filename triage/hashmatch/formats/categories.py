"""Category schemes of hash sets: CAID (A, B, C; 1, 2, 3 read as A, B, C),
VICS (0-4), NSRL (none) and local labels."""

from __future__ import annotations

import re
from collections.abc import Iterable

_CAID = re.compile(r"^(?:cat(?:egory)?[\s_-]*)?([abc123])$", re.IGNORECASE)


def normalise_category(scheme: str, raw: object) -> str | None:
    """The category as the scheme names it; None when there is none.

    Raises:
        ValueError: the value is not a category of ``scheme``.
    """
    text = "" if raw is None else str(raw).strip()
    if not text:
        return None
    if scheme == "caid":
        found = _CAID.match(text)
        if not found:
            raise ValueError(f"{text!r} is not a CAID category (A, B, C or 1, 2, 3)")
        return {"1": "A", "2": "B", "3": "C"}.get(found[1], found[1].upper())
    if scheme == "vics":
        if text not in {"0", "1", "2", "3", "4"}:
            raise ValueError(f"{text!r} is not a VICS category (0-4)")
        return text
    if scheme == "nsrl":
        raise ValueError(f"NSRL sets carry no categories, got {text!r}")
    if len(text) > 64:
        raise ValueError(f"category longer than 64 characters: {text[:64]!r}...")
    return text


def infer_scheme(categories: Iterable[str | None]) -> str:
    """``caid`` if every category reads as A/B/C letters, else ``local``."""
    seen = {c.strip() for c in categories if c and c.strip()}
    if seen and all(_CAID.match(c) and not c[-1].isdigit() for c in seen):
        return "caid"
    return "local"
