"""The hash set file: known hashes, their categories and a content digest.

A set comes from, and goes to, other people (a reference library, CAID or
Project VIC exports, NSRL), so the file is explicit and versioned, never
pickle. Layout, all integers little-endian::

    b"TRIAGEHS"  uint32 format version  uint32 0  uint64 header length
    header: UTF-8 JSON (format, version, name, kind, scheme, created,
            sources, counts, categories, digest, arrays[name, dtype, shape,
            offset, nbytes])
    arrays, each starting on a 64-byte boundary

The arrays are columns. Entries (one known media item each) are
``entries.ids`` / ``entries.names`` (UTF-8 blob plus ``uint32`` offsets, or
``uint64`` past 4 GiB; names are omitted when no entry has one) and
``entries.category`` (``uint16`` code; 0 = none, ``i`` = ``categories[i-1]``).
Each hash column (one per registered algorithm: ``md5``, ``sha1``, ``pdq``,
``phash``, ...; empty columns are not written) is ``<col>.hashes`` (``uint8``
rows of 16/20/32/8 bytes) with ``<col>.rows`` (``uint32`` entry index), so an
entry may carry several hashes of one kind or none.

The content is canonical: entries sorted by (id, category, name) with equal
triples merged, hash rows sorted by (hash bytes, entry) without duplicates.
``digest`` is SHA-256 over kind, scheme, category list and every array in that
canonical order, so the same content imported in any order, at any time, under
any set name, gives the same digest; scans record it for the audit trail.
Loading memory-maps the columns read-only (10 M PDQ hashes are 320 MB of
pages the OS may share or drop) and verifies the digest unless asked not to.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import struct
import tempfile
from array import array as typed_array
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from triage.errors import HashSetError
from triage.hashmatch.signals import SIGNALS, get_signal

FORMAT_NAME = "triage-hashset"
FORMAT_VERSION = 1
MAGIC = b"TRIAGEHS"
_PREFIX = struct.Struct("<8sIIQ")
_ALIGN = 64

#: The hash columns a set file can hold (every registered fixed-width signal)
#: and their width in bytes. A column with no hashes is not written, so
#: registering a new signal changes neither old files nor their digests.
COLUMNS: dict[str, int] = {
    s.name: s.width for s in SIGNALS.values() if s.width is not None
}
#: The columns of format version 1 (the signals of its day): ``counts`` always
#: lists them, even empty, so what ``hashset info`` shows of a set does not
#: change when a signal is registered; later columns are listed when held.
V1_COLUMNS: tuple[str, ...] = ("md5", "sha1", "pdq", "phash", "dhash")
_HEX = {c: re.compile(f"[0-9a-f]{{{2 * w}}}") for c, w in COLUMNS.items()}
KINDS = ("known-bad", "known-good")
SCHEMES = ("caid", "vics", "nsrl", "local")

U8Array = npt.NDArray[np.uint8]
U32Array = npt.NDArray[np.uint32]


@dataclass(frozen=True, slots=True)
class HashEntry:
    """One known media item: its id within the set, category and hashes.

    ``hashes`` holds ``(column, lowercase hex)`` pairs, column one of
    :data:`COLUMNS`; ``entry_id`` is e.g. a VICS MediaID or ``file:line``.
    """

    entry_id: str
    category: str | None = None
    name: str | None = None
    hashes: tuple[tuple[str, str], ...] = ()

    def values(self, column: str) -> tuple[str, ...]:
        return tuple(v for c, v in self.hashes if c == column)


def normalise_hex(column: str, value: str) -> str:
    """Lowercase hex of the right width for ``column``.

    Raises:
        ValueError: not hex, or the wrong number of digits.
    """
    text = value.strip().lower()
    if _HEX[column].fullmatch(text) is None:
        return get_signal(column).normalise(value)  # raises, naming the problem
    return text


class _Strings:
    """A column of strings as one UTF-8 blob and ``n + 1`` offsets (``uint32``
    while the blob is under 4 GiB, else ``uint64``)."""

    __slots__ = ("blob", "offsets")

    def __init__(self, blob: U8Array, offsets: npt.NDArray[np.unsignedinteger[Any]]):
        self.blob = blob
        self.offsets = offsets

    @classmethod
    def empty(cls, n: int) -> _Strings:
        """``n`` empty strings (``np.zeros`` pages cost nothing until read)."""
        return cls(np.zeros(0, dtype=np.uint8), np.zeros(n + 1, dtype=np.uint32))

    @classmethod
    def from_fixed(cls, fixed: npt.NDArray[np.bytes_]) -> _Strings:
        n = len(fixed)
        width = fixed.dtype.itemsize
        if n == 0 or width == 0:
            return cls.empty(n)
        lengths = np.char.str_len(fixed).astype(np.uint64)
        total = int(lengths.sum())
        dtype = np.uint32 if total < 1 << 32 else np.uint64
        offsets: npt.NDArray[np.unsignedinteger[Any]] = np.zeros(n + 1, dtype=dtype)
        np.cumsum(lengths, out=offsets[1:], dtype=offsets.dtype)
        matrix = np.ascontiguousarray(fixed).view(np.uint8).reshape(n, width)
        blob = matrix[np.arange(width)[None, :] < lengths[:, None].astype(np.int64)]
        return cls(np.ascontiguousarray(blob), offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def get(self, index: int) -> str:
        start, end = int(self.offsets[index]), int(self.offsets[index + 1])
        return bytes(self.blob[start:end]).decode("utf-8")


def _fixed(
    strings: Sequence[str | bytes | None] | npt.NDArray[Any],
) -> npt.NDArray[np.bytes_]:
    """Strings (None as empty) as a fixed-width bytes array for sorting."""
    if isinstance(strings, np.ndarray) and strings.dtype.kind == "S":
        return strings
    encoded = [
        s if isinstance(s, bytes) else (s or "").encode("utf-8") for s in strings
    ]
    for raw in encoded:
        if b"\x00" in raw:
            raise HashSetError(f"a string holds a NUL character: {raw[:80]!r}")
    width = max((len(e) for e in encoded), default=0)
    return np.array(encoded, dtype=f"S{max(width, 1)}")


def _be_words(hashes: U8Array) -> list[npt.NDArray[np.uint64]]:
    """Hash rows as big-endian uint64 words (zero-padded), most significant first."""
    n, width = hashes.shape
    padded_width = -(-width // 8) * 8
    if padded_width != width:
        padded = np.zeros((n, padded_width), dtype=np.uint8)
        padded[:, :width] = hashes
    else:
        padded = np.ascontiguousarray(hashes)
    words = padded.view(">u8").reshape(n, padded_width // 8)
    return [words[:, i].astype(np.uint64) for i in range(padded_width // 8)]


def _canonical_table(
    hashes: U8Array, rows: npt.NDArray[np.integer[Any]]
) -> tuple[U8Array, U32Array]:
    """Sort (hash, row) pairs by hash bytes then row, dropping duplicates."""
    rows32 = np.asarray(rows, dtype=np.uint32)
    if len(rows32) == 0:
        return np.zeros((0, hashes.shape[1]), dtype=np.uint8), rows32
    words = _be_words(hashes)
    keys: list[npt.NDArray[Any]] = [rows32, *reversed(words)]
    order = np.lexsort(keys)
    hashes, rows32 = hashes[order], rows32[order]
    keep = np.ones(len(rows32), dtype=bool)
    keep[1:] = (rows32[1:] != rows32[:-1]) | np.any(hashes[1:] != hashes[:-1], axis=1)
    return np.ascontiguousarray(hashes[keep]), np.ascontiguousarray(rows32[keep])


class HashSet:
    """A loaded or newly built hash set (see the module docstring for the file).

    Build one with :meth:`from_entries` (importers) or :meth:`from_columns`
    (large generated sets), read one with :meth:`load`, save with :meth:`write`.
    """

    __slots__ = (
        "name",
        "kind",
        "scheme",
        "created",
        "sources",
        "categories",
        "digest",
        "version",
        "path",
        "_ids",
        "_names",
        "_cats",
        "_tables",
    )

    def __init__(
        self,
        *,
        name: str,
        kind: str,
        scheme: str,
        created: str,
        sources: tuple[dict[str, Any], ...],
        categories: tuple[str, ...],
        ids: _Strings,
        names: _Strings,
        cats: npt.NDArray[np.uint16],
        tables: dict[str, tuple[U8Array, U32Array]],
        digest: str | None = None,
        version: int = FORMAT_VERSION,
        path: str | None = None,
    ) -> None:
        if kind not in KINDS:
            raise HashSetError(f"unknown set kind {kind!r}; known: {', '.join(KINDS)}")
        if scheme not in SCHEMES:
            raise HashSetError(
                f"unknown category scheme {scheme!r}; known: {', '.join(SCHEMES)}"
            )
        self.name = name
        self.kind = kind
        self.scheme = scheme
        self.created = created
        self.sources = sources
        self.categories = categories
        self._ids = ids
        self._names = names
        self._cats = cats
        self._tables = tables
        self.version = version
        self.path = path
        self.digest = digest if digest is not None else self._compute_digest()

    # --- building ----------------------------------------------------------
    @classmethod
    def from_entries(
        cls,
        entries: Iterable[HashEntry],
        *,
        name: str,
        kind: str = "known-bad",
        scheme: str = "local",
        sources: Sequence[Mapping[str, Any]] = (),
    ) -> HashSet:
        """Build a set from entries (any order; duplicates merged)."""
        ids: list[bytes] = []
        categories: list[str | None] = []
        names: list[bytes] = []
        values = {c: bytearray() for c in COLUMNS}
        rows = {c: typed_array("I") for c in COLUMNS}
        for index, entry in enumerate(entries):
            ids.append(entry.entry_id.encode("utf-8"))
            categories.append(entry.category)
            names.append((entry.name or "").encode("utf-8"))
            for column, value in entry.hashes:
                if column not in COLUMNS:
                    raise HashSetError(
                        f"entry {entry.entry_id}: unknown hash column {column!r}; "
                        f"known: {', '.join(COLUMNS)}"
                    )
                try:
                    raw = bytes.fromhex(value)
                except ValueError as exc:
                    raise HashSetError(
                        f"entry {entry.entry_id}: {column} is not hex"
                    ) from exc
                if len(raw) != COLUMNS[column]:
                    raise HashSetError(
                        f"entry {entry.entry_id}: {column} is not "
                        f"{COLUMNS[column]} bytes"
                    )
                values[column] += raw
                rows[column].append(index)
        tables: dict[str, tuple[U8Array, npt.NDArray[np.integer[Any]]]] = {}
        for column, width in COLUMNS.items():
            hashes = np.frombuffer(bytes(values[column]), dtype=np.uint8)
            tables[column] = (
                hashes.reshape(-1, width),
                np.frombuffer(rows[column], dtype=np.uint32),
            )
        return cls.from_columns(
            _fixed(ids),
            categories,
            _fixed(names),
            tables,
            name=name,
            kind=kind,
            scheme=scheme,
            sources=sources,
        )

    @classmethod
    def from_columns(
        cls,
        ids: Sequence[str] | npt.NDArray[np.bytes_],
        categories: Sequence[str | None],
        names: Sequence[str | None] | npt.NDArray[np.bytes_] | None,
        tables: Mapping[str, tuple[U8Array, npt.NDArray[np.integer[Any]]]],
        *,
        name: str,
        kind: str = "known-bad",
        scheme: str = "local",
        sources: Sequence[Mapping[str, Any]] = (),
    ) -> HashSet:
        """Build a set from columns: entry i is ``ids[i]``, and each table row
        ``(hash, row)`` gives entry ``row`` that hash. Canonicalised in numpy,
        so millions of entries build in seconds."""
        fixed_ids = _fixed(ids)
        n = len(fixed_ids)
        if len(categories) != n or (names is not None and len(names) != n):
            raise HashSetError("ids, categories and names differ in length")
        vocabulary = tuple(sorted({c for c in categories if c}))
        code_of = {c: i + 1 for i, c in enumerate(vocabulary)}
        cats = np.fromiter(
            (code_of.get(c, 0) if c else 0 for c in categories),
            dtype=np.uint16,
            count=n,
        )
        fixed_names = _fixed(names if names is not None else [""] * n)
        # Canonical entry order; equal (id, category, name) triples merge.
        order = np.lexsort((fixed_names, cats, fixed_ids))
        s_ids, s_cats, s_names = fixed_ids[order], cats[order], fixed_names[order]
        new = np.ones(n, dtype=bool)
        if n > 1:
            new[1:] = (
                (s_ids[1:] != s_ids[:-1])
                | (s_cats[1:] != s_cats[:-1])
                | (s_names[1:] != s_names[:-1])
            )
        remap = np.empty(n, dtype=np.uint32)
        remap[order] = np.cumsum(new, dtype=np.int64) - 1
        out_tables: dict[str, tuple[U8Array, U32Array]] = {}
        for column, width in COLUMNS.items():
            hashes, rows = tables.get(
                column, (np.zeros((0, width), np.uint8), np.zeros(0, np.uint32))
            )
            hashes = np.asarray(hashes, dtype=np.uint8)
            if hashes.ndim != 2 or hashes.shape[1] != width:
                raise HashSetError(f"{column} hashes must be rows of {width} bytes")
            rows_arr = np.asarray(rows)
            if len(rows_arr) != len(hashes):
                raise HashSetError(f"{column}: hashes and rows differ in length")
            if len(rows_arr) and (rows_arr.min() < 0 or rows_arr.max() >= n):
                raise HashSetError(f"{column}: a row points past the entries")
            out_tables[column] = _canonical_table(hashes, remap[rows_arr])
        return cls(
            name=name,
            kind=kind,
            scheme=scheme,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
            sources=tuple(dict(s) for s in sources),
            categories=vocabulary,
            ids=_Strings.from_fixed(s_ids[new]),
            names=_Strings.from_fixed(s_names[new]),
            cats=np.ascontiguousarray(s_cats[new]),
            tables=out_tables,
        )

    # --- reading -----------------------------------------------------------
    @property
    def known_good(self) -> bool:
        return self.kind == "known-good"

    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        return (
            f"HashSet({self.name!r}, {self.kind}, {len(self)} entries, {self.digest})"
        )

    def table(self, column: str) -> tuple[U8Array, U32Array]:
        """``(hashes, rows)`` of one column, sorted by hash bytes."""
        if column not in COLUMNS:
            raise HashSetError(
                f"unknown hash column {column!r}; known: {', '.join(COLUMNS)}"
            )
        return self._tables[column]

    def entry_id(self, row: int) -> str:
        return self._ids.get(row)

    def category(self, row: int) -> str | None:
        code = int(self._cats[row])
        return self.categories[code - 1] if code else None

    def entry_name(self, row: int) -> str | None:
        return self._names.get(row) or None

    def counts(self) -> dict[str, int]:
        """Number of entries and of hashes per column: every column of format
        version 1, and any later column the set holds hashes of."""
        out = {"entries": len(self)}
        for column in COLUMNS:
            held = len(self._tables[column][1])
            if held or column in V1_COLUMNS:
                out[column] = held
        if len(self._tables["vpdq"][1]):
            # Known videos: entries with vPDQ frames ("vpdq" counts frames).
            out["videos"] = int(len(np.unique(self._tables["vpdq"][1])))
        return out

    def category_counts(self) -> dict[str, int]:
        """Entries per category (``"none"`` for uncategorised entries)."""
        counts = np.bincount(self._cats, minlength=len(self.categories) + 1)
        out = {"none": int(counts[0])} if counts[0] else {}
        out.update({c: int(counts[i + 1]) for i, c in enumerate(self.categories)})
        return out

    def iter_entries(self) -> Iterator[HashEntry]:
        """Every entry with all its hashes, in canonical order."""
        per_row: dict[str, tuple[npt.NDArray[np.intp], U8Array, U32Array]] = {}
        for column in COLUMNS:
            hashes, rows = self._tables[column]
            order = np.argsort(rows, kind="stable")
            per_row[column] = (order, hashes, rows[order])
        for row in range(len(self)):
            pairs: list[tuple[str, str]] = []
            for column, (order, hashes, sorted_rows) in per_row.items():
                lo = int(np.searchsorted(sorted_rows, row, "left"))
                hi = int(np.searchsorted(sorted_rows, row, "right"))
                pairs.extend((column, hashes[i].tobytes().hex()) for i in order[lo:hi])
            yield HashEntry(
                self.entry_id(row),
                self.category(row),
                self.entry_name(row),
                tuple(pairs),
            )

    # --- digest and file ---------------------------------------------------
    def _arrays(self) -> list[tuple[str, npt.NDArray[Any]]]:
        arrays: list[tuple[str, npt.NDArray[Any]]] = [
            ("entries.ids.blob", self._ids.blob),
            ("entries.ids.offsets", self._ids.offsets),
            ("entries.category", self._cats),
        ]
        if len(self._names.blob):  # a set without names stores none
            arrays.append(("entries.names.blob", self._names.blob))
            arrays.append(("entries.names.offsets", self._names.offsets))
        for column in COLUMNS:
            hashes, rows = self._tables[column]
            if not len(rows):
                continue
            arrays.append((f"{column}.hashes", hashes))
            arrays.append((f"{column}.rows", rows))
        return arrays

    def _compute_digest(self) -> str:
        digest = hashlib.sha256()
        meta = {
            "format": FORMAT_NAME,
            "kind": self.kind,
            "scheme": self.scheme,
            "categories": list(self.categories),
        }
        digest.update(json.dumps(meta, sort_keys=True).encode("utf-8"))
        for name, array in self._arrays():
            little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
            digest.update(f"\n{name}:{little.shape}\n".encode())
            for start in range(0, little.size, 1 << 24):  # bounded temporaries
                digest.update(little.reshape(-1)[start : start + (1 << 24)].tobytes())
        return "sha256:" + digest.hexdigest()

    def header(self) -> dict[str, Any]:
        """The JSON header, without the array table."""
        return {
            "format": FORMAT_NAME,
            "version": self.version,
            "name": self.name,
            "kind": self.kind,
            "scheme": self.scheme,
            "created": self.created,
            "sources": list(self.sources),
            "counts": self.counts(),
            "categories": list(self.categories),
            "digest": self.digest,
        }

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the set file atomically (a temporary file then rename)."""
        target = Path(path)
        arrays = self._arrays()
        table: list[dict[str, Any]] = []
        header = self.header()
        header["arrays"] = table
        # Offsets depend on the header length: reserve room, grow until it fits.
        reserve = 4096
        while True:
            offset = _align(_PREFIX.size + reserve)
            table.clear()
            for name, array in arrays:
                table.append(
                    {
                        "name": name,
                        "dtype": array.dtype.newbyteorder("<").str,
                        "shape": list(array.shape),
                        "offset": offset,
                        "nbytes": int(array.nbytes),
                    }
                )
                offset = _align(offset + array.nbytes)
            encoded = json.dumps(header, indent=1).encode("utf-8")
            if len(encoded) <= reserve:
                header_bytes = encoded.ljust(reserve)
                break
            reserve = len(encoded) + 4096
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=".hashset-", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(_PREFIX.pack(MAGIC, FORMAT_VERSION, 0, len(header_bytes)))
                out.write(header_bytes)
                for (_, array), entry in zip(arrays, table, strict=True):
                    out.write(b"\0" * (entry["offset"] - out.tell()))
                    little = np.ascontiguousarray(array, dtype=entry["dtype"])
                    out.write(little.data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, target)
        except OSError as exc:
            Path(tmp_name).unlink(missing_ok=True)
            raise HashSetError(f"{target}: cannot write hash set: {exc}") from exc
        self.path = str(target)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, verify: bool = True) -> HashSet:
        """Open a set file; columns are memory-mapped read-only.

        Raises:
            HashSetError: not a set file, a newer version, truncated, or (with
                ``verify``) the content does not match its recorded digest.
        """
        where = str(path)
        size, version, header = _read_header(where)
        arrays = _Arrays(where, size, {a["name"]: a for a in header["arrays"]})
        cats = arrays.get("entries.category")
        try:
            result = cls(
                name=header["name"],
                kind=header["kind"],
                scheme=header["scheme"],
                created=str(header.get("created", "")),
                sources=tuple(header.get("sources", ())),
                categories=tuple(header.get("categories", ())),
                ids=arrays.strings("ids"),
                names=arrays.strings("names", len(cats)),
                cats=cats,
                tables=arrays.hash_tables(),
                digest=header["digest"],
                version=version,
                path=where,
            )
        except HashSetError as exc:
            raise HashSetError(f"{where}: {exc}") from exc
        result._check_loaded(verify)
        return result

    def _check_loaded(self, verify: bool) -> None:
        """Check a loaded set's columns agree (and, with ``verify``, its digest).

        Raises:
            HashSetError: they do not; the message names the file.
        """
        where, n = self.path, len(self)
        if len(self._cats) != n or len(self._names) != n:
            raise HashSetError(f"{where}: entry columns differ in length")
        if n and int(self._cats.max()) > len(self.categories):
            raise HashSetError(f"{where}: a category code has no category name")
        for c in COLUMNS:
            rows = self._tables[c][1]
            if len(rows) and int(rows.max()) >= n:
                raise HashSetError(f"{where}: a {c} row points past the entries")
        if verify and self._compute_digest() != self.digest:
            raise HashSetError(
                f"{where}: content does not match its digest {self.digest}: "
                "the file is corrupt or was altered"
            )


def _read_header(where: str) -> tuple[int, int, dict[str, Any]]:
    """File size, format version and the JSON header of the set file at
    ``where``.

    Raises:
        HashSetError: not a set file, a newer version, truncated or damaged.
    """
    try:
        size = os.path.getsize(where)
        with open(where, "rb") as handle:
            prefix = handle.read(_PREFIX.size)
            if len(prefix) < _PREFIX.size or not prefix.startswith(MAGIC):
                raise HashSetError(f"{where}: not a triage hash set file")
            _, version, _, header_length = _PREFIX.unpack(prefix)
            if version > FORMAT_VERSION:
                raise HashSetError(
                    f"{where}: hash set format version {version} is newer than "
                    f"this triage supports ({FORMAT_VERSION}); upgrade triage"
                )
            if header_length > size:
                raise HashSetError(f"{where}: truncated (header runs past the end)")
            raw_header = handle.read(header_length)
    except OSError as exc:
        raise HashSetError(f"{where}: cannot read hash set: {exc}") from exc
    try:
        header: dict[str, Any] = json.loads(raw_header.decode("utf-8"))
        missing = [k for k in ("name", "kind", "scheme", "digest") if k not in header]
        if missing:
            raise KeyError(missing[0])
        if not all(isinstance(a["name"], str) for a in header["arrays"]):
            raise TypeError("an array without a name")
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as exc:
        raise HashSetError(f"{where}: the header is damaged: {exc}") from exc
    if header.get("format") != FORMAT_NAME:
        raise HashSetError(f"{where}: not a {FORMAT_NAME} file")
    return size, version, header


class _Arrays:
    """The arrays of a set file, memory-mapped read-only on request."""

    def __init__(self, where: str, size: int, specs: dict[str, Any]) -> None:
        self.where = where
        self.size = size
        self.specs = specs

    def get(self, key: str) -> npt.NDArray[Any]:
        """The array called ``key``.

        Raises:
            HashSetError: it is missing, damaged or runs past the end.
        """
        where = self.where
        try:
            spec = self.specs[key]
            dtype = np.dtype(spec["dtype"])
            shape = tuple(int(d) for d in spec["shape"])
            offset, nbytes = int(spec["offset"]), int(spec["nbytes"])
        except (KeyError, TypeError, ValueError) as exc:
            raise HashSetError(f"{where}: array {key} is missing or damaged") from exc
        if (
            nbytes != int(np.prod(shape)) * dtype.itemsize
            or offset + nbytes > self.size
        ):
            raise HashSetError(f"{where}: truncated or damaged at array {key}")
        if nbytes == 0:
            return np.zeros(shape, dtype=dtype)
        return np.memmap(where, dtype=dtype, mode="r", offset=offset, shape=shape)

    def hash_tables(self) -> dict[str, tuple[U8Array, U32Array]]:
        """Every hash column (empty where the file has none).

        Raises:
            HashSetError: a column of a signal this triage does not know, or
                one of the wrong type or width.
        """
        where = self.where
        unknown = {k.split(".")[0] for k in self.specs if not k.startswith("entries.")}
        unknown -= set(COLUMNS)
        if unknown:
            raise HashSetError(
                f"{where}: holds {', '.join(sorted(unknown))} hashes, which this "
                f"triage does not know (known: {', '.join(COLUMNS)})"
            )
        tables = {}
        for c, width in COLUMNS.items():
            if f"{c}.rows" not in self.specs:
                tables[c] = np.zeros((0, width), np.uint8), np.zeros(0, np.uint32)
                continue
            hashes, rows = self.get(f"{c}.hashes"), self.get(f"{c}.rows")
            if hashes.dtype != np.uint8 or rows.dtype != np.uint32:
                raise HashSetError(f"{where}: {c} arrays have the wrong type")
            if hashes.ndim != 2 or hashes.shape[1] != width or len(rows) != len(hashes):
                raise HashSetError(f"{where}: {c} hashes are not {width}-byte rows")
            tables[c] = (hashes, rows)
        return tables

    def strings(self, label: str, absent: int | None = None) -> _Strings:
        """The entry ``label`` strings (``ids``, ``names``); ``absent`` empty
        strings when the file has none and may omit them.

        Raises:
            HashSetError: the strings are damaged.
        """
        key = f"entries.{label}"
        if absent is not None and f"{key}.offsets" not in self.specs:
            return _Strings.empty(absent)
        strings = _Strings(self.get(f"{key}.blob"), self.get(f"{key}.offsets"))
        offsets = strings.offsets
        if (
            offsets.dtype not in (np.uint32, np.uint64)
            or len(offsets) == 0
            or int(offsets[-1]) != len(strings.blob)
            or int(offsets[0]) != 0
        ):
            raise HashSetError(f"{self.where}: the entry {label} are damaged")
        return strings


def _align(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN
