"""``vics``: Project VIC VICS JSON, v1.x (``odata.metadata``) and v2.0
(``@odata.context``).

``value[]`` holds media with ``MediaID``, ``Category`` and exact digests as
fields (the exact signals' VICS names: ``MD5``, ``SHA1``, ...);
``AlternativeHashes`` (on the media or its ``MediaFiles``) are
``HashName``/``HashValue`` pairs: every signal's VICS name is taken, others
(PhotoDNA, ...) are counted as ignored. Streamed: a multi-gigabyte export is
read one media object at a time; one JSON value (a media object, or a case
object with its ``Media[]`` in v2.0 case exports) longer than
:data:`MAX_JSON_VALUE` ends the import with an error naming its line, so
memory stays bounded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from triage.hashmatch.formats.base import HASHSET_FORMATS, HashSetFormat, Lines
from triage.hashmatch.formats.text import open_text, parse_hashes, signal_aliases
from triage.hashmatch.hashset import HashEntry
from triage.hashmatch.signals import SIGNALS

#: The longest single JSON value read whole (characters): far above any real
#: media object, far below a file that would exhaust memory.
MAX_JSON_VALUE = 64 << 20


def _vics_sniff(head: bytes) -> bool:
    text = head.decode("utf-8", "replace").lstrip("\ufeff \t\r\n")
    return text.startswith("{") and (
        '"odata.metadata"' in text
        or '"@odata.context"' in text
        or ('"value"' in text and '"MediaID"' in text)
    )


class _JsonStream:
    """Reads a JSON document incrementally, keeping line numbers."""

    def __init__(self, handle: IO[str], lines: Lines) -> None:
        self.handle = handle
        self.lines = lines
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.line = 1  # line number at self.counted
        self.counted = 0
        self.decoder = json.JSONDecoder()

    def _fill(self) -> bool:
        if self.eof:
            return False
        try:
            chunk = self.handle.read(1 << 20)
        except UnicodeDecodeError as exc:
            raise self.lines.fatal(self.line_at(self.pos), f"not UTF-8: {exc}") from exc
        if not chunk:
            self.eof = True
            return False
        # Drop what has been consumed, keeping the line count.
        self.line_at(self.pos)
        self.buf = self.buf[self.pos :] + chunk
        self.counted -= self.pos
        self.pos = 0
        return True

    def _too_long(self) -> Exception:
        return self.lines.fatal(
            self.line_at(self.pos),
            f"a JSON value longer than {MAX_JSON_VALUE} characters (the limit)",
        )

    def line_at(self, pos: int) -> int:
        if pos > self.counted:
            self.line += self.buf.count("\n", self.counted, pos)
            self.counted = pos
        return self.line

    def peek(self) -> str:
        while True:
            while self.pos < len(self.buf) and self.buf[self.pos] in " \t\r\n":
                self.pos += 1
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self._fill():
                return ""

    def expect(self, chars: str) -> str:
        found = self.peek()
        if not found or found not in chars:
            raise self.lines.fatal(
                self.line_at(self.pos),
                f"malformed JSON: expected {' or '.join(repr(c) for c in chars)}, "
                f"found {found or 'end of file'!r}",
            )
        self.pos += 1
        return found

    def value(self) -> tuple[int, Any]:
        self.peek()
        while True:
            try:
                obj, end = self.decoder.raw_decode(self.buf, self.pos)
            except json.JSONDecodeError as exc:
                if len(self.buf) - self.pos > MAX_JSON_VALUE:
                    raise self._too_long() from exc
                if self._fill():
                    continue
                line = self.line_at(min(exc.pos, len(self.buf)))
                raise self.lines.fatal(line, f"malformed JSON: {exc.msg}") from exc
            # A number at the very end of the buffer may continue in the next chunk.
            if end == len(self.buf) and not self.eof and self._fill():
                if len(self.buf) - self.pos > MAX_JSON_VALUE:
                    raise self._too_long()
                continue
            line = self.line_at(self.pos)
            self.pos = end
            return line, obj


#: ``AlternativeHashes`` names taken (others, such as PhotoDNA, are counted).
_VICS_ALT = signal_aliases(lambda s: (s.name, s.vics_name, *s.vics_aliases))
#: Exact digests VICS carries as fields of a media object (``MD5``, ``SHA1``).
_VICS_FIELDS = tuple(
    (s.vics_name, s.name) for s in SIGNALS.values() if s.is_exact and s.vics_name
)


def _ci(obj: dict[str, Any], key: str) -> Any:
    """Case-insensitive member lookup (exports differ in key case)."""
    if key in obj:
        return obj[key]
    lower = key.lower()
    for k, v in obj.items():
        if k.lower() == lower:
            return v
    return None


def _vics_media(media: Any, number: int, path: Path, lines: Lines) -> HashEntry | None:
    if not isinstance(media, dict):
        lines.bad(number, "a value[] item is not a JSON object")
        return None
    media_id = _ci(media, "MediaID")
    if media_id is None or str(media_id).strip() == "":
        lines.bad(number, "media without MediaID")
        return None
    pairs: list[tuple[str, str]] = []
    names: list[str] = []
    holders = [media]
    files = _ci(media, "MediaFiles")
    if isinstance(files, list):
        holders.extend(f for f in files if isinstance(f, dict))
    for holder in holders:
        for key, column in _VICS_FIELDS:
            value = _ci(holder, key)
            if isinstance(value, str) and value.strip():
                pairs.append((column, value))
        file_name = _ci(holder, "FileName") or _ci(holder, "Name")
        if isinstance(file_name, str) and file_name:
            names.append(file_name)
        alternatives = _ci(holder, "AlternativeHashes")
        if alternatives is None:
            continue
        if not isinstance(alternatives, list):
            lines.bad(number, f"MediaID {media_id}: AlternativeHashes is not a list")
            return None
        for alt in alternatives:
            hash_name = _ci(alt, "HashName") if isinstance(alt, dict) else None
            hash_value = _ci(alt, "HashValue") if isinstance(alt, dict) else None
            if not isinstance(hash_name, str) or not isinstance(hash_value, str):
                lines.bad(
                    number,
                    f"MediaID {media_id}: alternative hash without "
                    "HashName/HashValue strings",
                )
                return None
            alt_column = _VICS_ALT.get(hash_name.strip().lower())
            if alt_column is None:
                lines.report.ignored[hash_name.strip()] += 1  # PhotoDNA etc.
            else:
                pairs.append((alt_column, hash_value))
    hashes = parse_hashes(
        lines, number, pairs, missing=f"MediaID {media_id}: no MD5, SHA1, PDQ or pHash"
    )
    if hashes is None:
        return None
    category = _ci(media, "Category")
    return HashEntry(
        str(media_id).strip(),
        None if category is None else str(category),
        names[0] if names else None,
        tuple(dict.fromkeys(hashes)),  # MediaFiles often repeat the media hashes
    )


def _read_vics(path: Path, lines: Lines) -> Iterator[tuple[int, HashEntry]]:
    with open_text(path) as handle:
        stream = _JsonStream(handle, lines)
        stream.expect("{")
        saw_value = False
        if stream.peek() == "}":
            raise lines.fatal(1, "no value[] array: not a VICS export")
        while True:
            key_line, key = stream.value()
            if not isinstance(key, str):
                raise lines.fatal(
                    key_line, "malformed JSON: object key is not a string"
                )
            stream.expect(":")
            if key == "value":
                saw_value = True
                yield from _vics_array(stream, path, lines)
            else:
                stream.value()  # odata.metadata / @odata.context and the like
            if stream.expect(",}") == "}":
                break
        if not saw_value:
            raise lines.fatal(stream.line_at(stream.pos), "no value[] array")


def _vics_array(
    stream: _JsonStream, path: Path, lines: Lines
) -> Iterator[tuple[int, HashEntry]]:
    stream.expect("[")
    if stream.peek() == "]":
        stream.pos += 1
        return
    while True:
        number, item = stream.value()
        nested = _ci(item, "Media") if isinstance(item, dict) else None
        if isinstance(nested, list) and _ci(item, "MediaID") is None:
            for media in nested:  # v2.0 case exports: value[] of cases with Media[]
                entry = _vics_media(media, number, path, lines)
                if entry is not None:
                    yield number, entry
        else:
            entry = _vics_media(item, number, path, lines)
            if entry is not None:
                yield number, entry
        if stream.expect(",]") == "]":
            return


VICS = HashSetFormat(
    "vics",
    "Project VIC VICS JSON 1.x/2.0",
    _read_vics,
    _vics_sniff,
    "known-bad",
    "vics",
)
HASHSET_FORMATS.register(VICS)
