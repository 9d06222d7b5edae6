"""Match media hashes against one or more loaded hash sets.

Exact matching (every exact signal a set holds: MD5, SHA-1, ...) is a binary
search in each set's sorted column: the sets are already sorted by hash bytes
on disk, so nothing is copied but the first 8 bytes of each hash, as
big-endian ``uint64`` search keys. If an entry carries several exact digests
and a file agrees on one but contradicts another (the file has that digest,
the entry has one of that kind, and they differ), that is a hash collision,
not the known file: it is not a match, and is recorded in
:attr:`Matcher.conflicts` so it can be reported.

Perceptual matching uses one exact :class:`~triage.hashmatch.index.HammingIndex`
per algorithm over the hashes of every set at once, built on first use at the
algorithm's threshold (``default_threshold`` unless overridden). Every query
variant of an item (PDQ original, dihedral and trimmed; pHash original and
trimmed) is searched; PDQ values below the algorithm's quality floor (50) are
never matched. Per item, each set entry is reported once: an exact match if
there is one (named by the widest signal that agrees: SHA-1 before MD5), else
its smallest perceptual distance (PDQ before pHash, then the original variant
first on a tie).

Use :meth:`Matcher.match_many` for batches: the perceptual search is
vectorised over the whole batch. With ``index_cache`` (a folder) the index
tables are saved once, keyed by the sets' digests, algorithm and threshold,
and later memory-mapped read-only: worker processes then share one copy of
the pages and skip the build (about 20 s for 10 M PDQ hashes).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from triage.errors import HashSetError
from triage.hashmatch.hashset import COLUMNS, HashSet
from triage.hashmatch.index import HammingIndex
from triage.hashmatch.signals import (
    SIGNALS,
    exact_signals,
    get_signal,
    perceptual_signals,
)
from triage.hashmatch.video_match import (
    entry_sizes,
    frame_items,
    match_videos,
    merge_frame_matches,
)
from triage.records import Match, MediaHash, PerceptualHash

_VARIANT_ORIGINAL = "original"

#: An item's exact digests: signal name -> hex, or ``(name, hex)`` pairs (as
#: ``MediaHash.digests``); None or "" where a digest is not known.
Digests = Mapping[str, str | None] | Iterable[tuple[str, str | None]]


def _pairs(digests: Digests) -> Iterable[tuple[str, str | None]]:
    return digests.items() if isinstance(digests, Mapping) else digests


class _ExactColumn:
    """Binary search over one set's sorted MD5 or SHA-1 column."""

    __slots__ = ("hashes", "rows", "keys", "present")

    def __init__(
        self, hashes: npt.NDArray[np.uint8], rows: npt.NDArray[np.uint32], entries: int
    ) -> None:
        self.hashes = hashes
        self.rows = rows
        self.keys = (
            np.ascontiguousarray(hashes[:, :8]).view(">u8").ravel().astype(np.uint64)
        )
        self.present = np.zeros(entries, dtype=bool)
        self.present[rows] = True

    def lookup(self, value: bytes) -> set[int]:
        key = np.uint64(int.from_bytes(value[:8], "big"))
        keys = self.keys
        i = int(keys.searchsorted(key))
        found: set[int] = set()
        while i < len(keys) and keys[i] == key:  # equal keys are adjacent, few
            if self.hashes[i].tobytes() == value:
                found.add(int(self.rows[i]))
            i += 1
        return found


@dataclass(frozen=True, slots=True)
class _Perceptual:
    index: HammingIndex
    owner_set: npt.NDArray[np.uint16]
    owner_row: npt.NDArray[np.uint32]


class Matcher:
    """Match against several hash sets at once (see the module docstring).

    ``thresholds`` overrides an algorithm's ``default_threshold`` (the largest
    Hamming distance still called a match).
    """

    def __init__(
        self,
        sets: Sequence[HashSet],
        *,
        thresholds: Mapping[str, int] | None = None,
        threads: int = 2,
        index_cache: str | os.PathLike[str] | None = None,
    ) -> None:
        self.sets = tuple(sets)
        self.index_cache = Path(index_cache) if index_cache is not None else None
        self.warnings: list[str] = []
        # The same content twice would report every match twice; two sets
        # that only share a name stay apart (each Match carries the digest).
        digests = [s.digest for s in self.sets]
        if len(set(digests)) != len(digests):
            twice = sorted({s.name for s in self.sets if digests.count(s.digest) > 1})
            raise HashSetError(f"the same hash set is given twice: {', '.join(twice)}")
        self.thresholds = {s.name: s.threshold for s in perceptual_signals()}
        for name, value in (thresholds or {}).items():
            algorithm = get_signal(name)
            if not algorithm.is_perceptual or not 0 <= value <= (algorithm.bits or 0):
                raise HashSetError(
                    f"threshold {value} for {name}: must be a perceptual "
                    f"algorithm and 0..{algorithm.bits}"
                )
            self.thresholds[algorithm.name] = value
        self.threads = threads
        self.conflicts: list[str] = []
        self._exact = [
            {e.name: _ExactColumn(*s.table(e.name), len(s)) for e in exact_signals()}
            for s in self.sets
        ]
        self._perceptual: dict[str, _Perceptual | None] = {}
        self._video_sizes: list[npt.NDArray[np.int64]] | None = None
        self._lock = threading.Lock()

    # --- exact ---------------------------------------------------------------
    def _exact_rows(self, set_index: int, digests: Digests) -> dict[int, str]:
        """Entry rows of one set matched exactly, with the signal that matched."""
        columns = self._exact[set_index]
        given = {n: v for n, v in _pairs(digests) if v and n in columns}
        found: dict[str, set[int]] = {}
        for name, value in given.items():
            raw = bytes.fromhex(value)
            if len(raw) != COLUMNS[name]:
                raise ValueError(f"{name} {value!r} has the wrong length")
            found[name] = columns[name].lookup(raw)
        out: dict[int, str] = {}
        for row in set().union(*found.values()):
            agree = [n for n in columns if n in found and row in found[n]]
            if any(columns[n].present[row] for n in given if n not in agree):
                hs = self.sets[set_index]
                shown = " / ".join(f"{n} {given[n]}" for n in SIGNALS if n in given)
                some = "one hash" if len(agree) == 1 else f"{len(agree)} hashes"
                self.conflicts.append(
                    f"{shown}: agrees with only {some} of entry "
                    f"{hs.entry_id(row)} in set {hs.name} (a collision, not a match)"
                )
                continue
            out[row] = agree[0]  # columns run strongest first
        return out

    def _exact_all(self, digests: Digests) -> dict[tuple[int, int], str]:
        return {
            (i, row): algorithm
            for i in range(len(self.sets))
            for row, algorithm in self._exact_rows(i, digests).items()
        }

    def match_exact(self, address: str, digests: Digests) -> list[Match]:
        """Exact matches in every set of an item's ``digests`` (signal name ->
        hex, or such pairs; None or "" for a digest not known)."""
        return [
            self._make(address, i, row, algorithm, 0)
            for (i, row), algorithm in sorted(self._exact_all(digests).items())
        ]

    def is_known_good(self, digests: Digests) -> bool:
        """Whether a known-good set (e.g. NSRL) holds this file exactly."""
        return any(
            hs.known_good and self._exact_rows(i, digests)
            for i, hs in enumerate(self.sets)
        )

    # --- perceptual ----------------------------------------------------------
    def _index(self, algorithm: str) -> _Perceptual | None:
        with self._lock:
            if algorithm in self._perceptual:
                return self._perceptual[algorithm]
            tables = [s.table(algorithm) for s in self.sets]
            total = sum(len(rows) for _, rows in tables)
            built: _Perceptual | None = None
            if total:
                if len([t for t in tables if len(t[1])]) == 1:
                    codes = next(h for h, r in tables if len(r))  # no copy
                else:
                    codes = np.concatenate([h for h, _ in tables])
                built = _Perceptual(
                    self._build_index(algorithm, codes),
                    np.concatenate(
                        [
                            np.full(len(r), i, np.uint16)
                            for i, (_, r) in enumerate(tables)
                        ]
                    ),
                    np.concatenate([r for _, r in tables]).astype(np.uint32),
                )
            self._perceptual[algorithm] = built
            return built

    def _build_index(
        self, algorithm: str, codes: npt.NDArray[np.uint8]
    ) -> HammingIndex:
        """Build, or open from ``index_cache`` (keyed by the sets' digests)."""
        threshold = self.thresholds[algorithm]
        if self.index_cache is None:
            return HammingIndex(codes, threshold, threads=self.threads)
        key = hashlib.sha256(
            "\n".join(
                [algorithm, str(threshold), *(s.digest for s in self.sets)]
            ).encode()
        ).hexdigest()
        folder = self.index_cache / f"{algorithm}-t{threshold}-{key[:32]}"
        cached = HammingIndex.open(
            folder, codes, threshold, key=key, threads=self.threads
        )
        if cached is not None:
            return cached
        index = HammingIndex(codes, threshold, threads=self.threads)
        try:
            index.save(folder, key=key)
        except OSError as exc:
            self.warnings.append(f"{folder}: index not cached: {exc}")
        return index

    def prepare(self) -> None:
        """Build every perceptual index now rather than on first use."""
        for name in self.thresholds:
            self._index(name)

    def match_perceptual(
        self, address: str, hashes: Iterable[PerceptualHash]
    ) -> list[Match]:
        """Perceptual matches of one item's hashes, one per set entry."""
        return self._perceptual_many([(address, tuple(hashes))])[0]

    def _perceptual_many(
        self,
        items: Sequence[tuple[str, Sequence[PerceptualHash]]],
        exclude: Sequence[Iterable[tuple[int, int]]] = (),
    ) -> list[list[Match]]:
        best: list[dict[tuple[int, int], tuple[tuple[int, int, bool], Match]]] = [
            {} for _ in items
        ]
        skip = [set(keys) for keys in exclude] or [set() for _ in items]
        order = {name: i for i, name in enumerate(self.thresholds)}
        for algorithm in self.thresholds:
            spec = get_signal(algorithm)
            owners: list[tuple[int, PerceptualHash]] = []
            raw: list[bytes] = []
            for item_index, (_, hashes) in enumerate(items):
                for h in hashes:
                    if h.algorithm != algorithm or not spec.usable(h.quality):
                        continue
                    raw.append(bytes.fromhex(h.value))
                    owners.append((item_index, h))
            if not raw:
                continue
            built = self._index(algorithm)
            if built is None:
                continue
            width = COLUMNS[algorithm]
            if any(len(r) != width for r in raw):
                raise ValueError(f"a {algorithm} value is not {width} bytes")
            queries = np.frombuffer(b"".join(raw), dtype=np.uint8).reshape(-1, width)
            found = built.index.search(queries)
            for q, code, distance in zip(
                found.query.tolist(),
                found.code.tolist(),
                found.distance.tolist(),
                strict=True,
            ):
                item_index, h = owners[q]
                key = (int(built.owner_set[code]), int(built.owner_row[code]))
                if key in skip[item_index]:
                    continue
                rank = (distance, order[algorithm], h.variant != _VARIANT_ORIGINAL)
                held = best[item_index].get(key)
                if held is None or rank < held[0]:
                    match = self._make(
                        items[item_index][0],
                        key[0],
                        key[1],
                        algorithm,
                        distance,
                        h.variant,
                    )
                    best[item_index][key] = (rank, match)
        return [[m for _, (_, m) in sorted(b.items())] for b in best]

    # --- both ----------------------------------------------------------------
    def match(self, media_hash: MediaHash) -> list[Match]:
        """Every set entry this item matches, once each (exact preferred)."""
        return self.match_many([media_hash])[0]

    def match_many(self, media_hashes: Sequence[MediaHash]) -> list[list[Match]]:
        """:meth:`match` for a batch, with one vectorised perceptual search
        (and, for videos, one over all their frames)."""
        exact = [self._exact_all(m.digests) for m in media_hashes]
        perceptual = self._perceptual_many(
            [(m.address, m.perceptual) for m in media_hashes], exclude=exact
        )
        videos = self._videos_many(media_hashes, exact)
        return [
            [
                self._make(media.address, i, row, algorithm, 0)
                for (i, row), algorithm in sorted(found.items())
            ]
            + fuzzy
            + video
            for media, found, fuzzy, video in zip(
                media_hashes, exact, perceptual, videos, strict=True
            )
        ]

    # --- videos ----------------------------------------------------------------
    def _videos_many(
        self,
        media_hashes: Sequence[MediaHash],
        exact: Sequence[Mapping[tuple[int, int], str]],
    ) -> list[list[Match]]:
        """Known videos and known pictures found in the videos of a batch
        (``triage.hashmatch.video_match``)."""
        out: list[list[Match]] = [[] for _ in media_hashes]
        which = [i for i, m in enumerate(media_hashes) if m.frames]
        if not which:
            return out
        built = self._index("vpdq")
        if built is not None:
            if self._video_sizes is None:
                self._video_sizes = entry_sizes(
                    [s.table("vpdq") for s in self.sets], [len(s) for s in self.sets]
                )
            found = match_videos(
                [media_hashes[i].frames for i in which],
                built.index.search,
                lambda code: (int(built.owner_set[code]), int(built.owner_row[code])),
                self._video_sizes,
                lambda s, r, a, d, v: self._make("", s, r, a, d, v),
                [set(exact[i]) for i in which],
            )
            for i, matches in zip(which, found, strict=True):
                address = media_hashes[i].address
                out[i].extend(replace(m, address=address) for m in matches)
        for i in which:
            media = media_hashes[i]
            per_frame = self._perceptual_many(
                frame_items(media.address, media.frames),
                exclude=[set(exact[i])] * len(media.frames),
            )
            out[i].extend(merge_frame_matches(media.frames, per_frame))
        return out

    def _make(
        self,
        address: str,
        set_index: int,
        row: int,
        algorithm: str,
        distance: int,
        variant: str = _VARIANT_ORIGINAL,
    ) -> Match:
        hs = self.sets[set_index]
        return Match(
            address=address,
            set_name=hs.name,
            set_digest=hs.digest,
            entry_id=hs.entry_id(row),
            algorithm=algorithm,
            distance=distance,
            category=hs.category(row),
            scheme=hs.scheme,
            known_good=hs.known_good,
            variant=variant,
        )
