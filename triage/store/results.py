"""Results: what a scan found, chunk by chunk (``chunks``' media, perceptual
hashes, matches and skips), written atomically and read back.

Every chunk of work is written in ONE transaction with ``INSERT OR REPLACE``
on natural keys, so a scan killed at any point and run again never loses or
duplicates a row.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from triage.errors import StoreError
from triage.hashmatch.signals import exact_signals
from triage.records import (
    FileRecord,
    Location,
    Match,
    MediaHash,
    PerceptualHash,
    Scope,
    Skipped,
    Source,
    Stage,
    VideoFrame,
)
from triage.store.connection import StoreBase, now
from triage.store.schema import LOCATION_COLUMNS, location_columns


def record_from_row(row: sqlite3.Row, device_id: str, evidence: str) -> FileRecord:
    """The ``FileRecord`` a ``media`` row stands for (the address of the item,
    so it can be read back from the evidence)."""
    return FileRecord(
        device_id=device_id,
        evidence=evidence,
        partition_index=row["partition_index"] or 0,
        partition_offset=row["partition_offset"] or 0,
        path=row["path"] or "",
        size=int(row["size"] or 0),
        source=Source(row["source"]),
        inode=row["inode"],
        deleted=bool(row["deleted"]),
        orphan=bool(row["orphan"]),
        mtime=row["mtime"],
        atime=row["atime"],
        ctime=row["ctime"],
        crtime=row["crtime"],
        media_type=row["media_type"],
        archive_path=tuple(json.loads(row["archive_path"] or "[]")),
        carve_offset=row["carve_offset"],
        carve_runs=tuple(
            (int(lo), int(hi)) for lo, hi in json.loads(row["carve_runs"] or "[]")
        ),
        carve_note=row["carve_note"],
    )


def skipped_from_row(r: sqlite3.Row) -> Skipped:
    """The ``Skipped`` a ``skipped`` row stands for, from its columns.

    Raises:
        StoreError: the row names a stage or scope this triage does not know.
    """
    try:
        stage, scope = Stage(r["stage"]), Scope(r["scope"])
    except ValueError as exc:
        raise StoreError(
            f"skipped row of {r['device_id']} at {r['location']!r}: {exc}"
        ) from exc
    location = Location(
        scope,
        r["partition_index"],
        r["path"],
        r["inner_location"],
        r["byte_start"],
        r["byte_end"],
    )
    return Skipped(r["device_id"], location, stage, r["reason"])


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """A media row: where the item is, and its hashes (perceptual may be empty)."""

    record: FileRecord
    hashes: MediaHash
    known_good: bool
    decoded: bool


@dataclass(frozen=True, slots=True)
class ChunkWrite:
    """Everything one finished chunk adds to the database."""

    device_id: str
    chunk_key: str
    run_id: int | None
    sets_key: str
    media: Sequence[tuple[FileRecord, MediaHash, bool]]  # (record, hashes, known_good)
    matches: Sequence[Match]
    skipped: Sequence[Skipped]
    bytes_read: int = 0


#: The media addresses of one chunk (device, chunk key).
_CHUNK_ADDRESSES = "SELECT address FROM media WHERE device_id = ? AND chunk_key = ?"


class ResultsMixin(StoreBase):
    """Write finished chunks (and skips found outside one); read them back."""

    def write_chunk(self, chunk: ChunkWrite) -> None:
        """Write one finished chunk atomically and idempotently; a chunk
        written before (read again by a full scan after the key-frame pass)
        is replaced whole: its earlier matches and item skips go first."""
        dev = chunk.device_id
        with self._transaction():
            self._forget_chunk(dev, chunk.chunk_key)
            self._db.executemany(
                "INSERT OR REPLACE INTO media(device_id, address, path, "
                "partition_index, inode, size, source, deleted, orphan, archive_path,"
                " carve_offset, media_type, mtime, atime, ctime, crtime, md5, "
                "width, height, display_path, chunk_key, known_good, decoded, "
                "partition_offset, carve_runs, carve_note) VALUES (?, ?, ?, ?, ?, ?, "
                "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        dev,
                        rec.address,
                        rec.path,
                        rec.partition_index,
                        rec.inode,
                        rec.size,
                        str(rec.source),
                        int(rec.deleted),
                        int(rec.orphan),
                        json.dumps(list(rec.archive_path)),
                        rec.carve_offset,
                        rec.media_type,
                        rec.mtime,
                        rec.atime,
                        rec.ctime,
                        rec.crtime,
                        mh.md5 or None,
                        mh.width,
                        mh.height,
                        rec.display_path,
                        chunk.chunk_key,
                        int(known_good),
                        int(bool(mh.perceptual or mh.frames)),
                        rec.partition_offset,
                        json.dumps(rec.carve_runs) if rec.carve_runs else None,
                        rec.carve_note,
                    )
                    for rec, mh, known_good in chunk.media
                ],
            )
            self._write_hashes(dev, [mh for _, mh, _ in chunk.media])
            self._write_matches(dev, chunk.matches)
            self._insert_skipped(dev, chunk.skipped)
            self._db.execute(
                "INSERT OR REPLACE INTO chunks(device_id, chunk_key, run_id, items, "
                "done_at, sets_key) VALUES (?, ?, ?, ?, ?, ?)",
                (
                    dev,
                    chunk.chunk_key,
                    chunk.run_id,
                    len(chunk.media),
                    now(),
                    chunk.sets_key,
                ),
            )
            self._db.execute(
                "UPDATE devices SET bytes_scanned = bytes_scanned + ? "
                "WHERE device_id = ?",
                (chunk.bytes_read, dev),
            )
            self._refresh_counts(dev)

    def _forget_chunk(self, dev: str, chunk_key: str) -> None:
        """The matches and item skips (hash, unreadable) of a chunk already
        stored, dropped before it is written again."""
        known = self._db.execute(
            "SELECT 1 FROM chunks WHERE device_id = ? AND chunk_key = ?",
            (dev, chunk_key),
        ).fetchone()
        if known is None:
            return
        self._db.execute(
            f"DELETE FROM matches WHERE device_id = ? AND address IN "
            f"({_CHUNK_ADDRESSES})",
            (dev, dev, chunk_key),
        )
        self._db.execute(
            "DELETE FROM skipped WHERE device_id = ? AND scope = 'file' AND stage IN "
            "('hash', 'unreadable') AND (partition_index, path) IN (SELECT "
            "partition_index, path FROM media WHERE device_id = ? AND chunk_key = ?)",
            (dev, dev, chunk_key),
        )

    def _write_hashes(self, dev: str, hashes: Sequence[MediaHash]) -> None:
        """The exact digests and perceptual hashes of media rows just written:
        replaced, never merged (a re-run of the chunk is the whole truth)."""
        addresses = [(dev, mh.address) for mh in hashes]
        self._db.executemany(
            "DELETE FROM perceptual WHERE device_id = ? AND address = ?", addresses
        )
        self._db.executemany(
            "DELETE FROM digests WHERE device_id = ? AND address = ?", addresses
        )
        self._db.executemany(
            "DELETE FROM video_frames WHERE device_id = ? AND address = ?", addresses
        )
        self._db.executemany(
            "INSERT OR REPLACE INTO video_frames(device_id, address, frame_number, "
            "timestamp, algorithm, variant, value, quality) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (dev, mh.address, f.number, f.timestamp)
                + (p.algorithm, p.variant, p.value, p.quality)
                for mh in hashes
                for f in mh.frames
                for p in f.hashes
            ],
        )
        self._db.executemany(
            "INSERT INTO digests(device_id, address, algorithm, value) "
            "VALUES (?, ?, ?, ?)",
            [
                (dev, mh.address, name, value)
                for mh in hashes
                for name, value in mh.digests
            ],
        )
        self._db.executemany(
            "INSERT OR REPLACE INTO perceptual(device_id, address, algorithm, "
            "variant, value, quality) VALUES (?, ?, ?, ?, ?, ?)",
            [
                (dev, mh.address, p.algorithm, p.variant, p.value, p.quality)
                for mh in hashes
                for p in mh.perceptual
            ],
        )

    def write_skipped(self, device_id: str, skipped: Iterable[Skipped]) -> None:
        """Record skips found outside a chunk (e.g. an unreadable partition)."""
        skipped = list(skipped)
        if not skipped:
            return
        with self._transaction():
            self._insert_skipped(device_id, skipped)
            self._refresh_counts(device_id)

    def rematch_chunk(
        self,
        device_id: str,
        chunk_key: str,
        run_id: int | None,
        sets_key: str,
        set_names: Iterable[str],
        matches: Sequence[Match],
    ) -> None:
        """Replace a stored chunk's matches after matching its stored hashes
        against other hash sets (no re-reading, no re-decoding).

        Matches from sets of the same name but another digest (an older
        version) are dropped; matches from other sets are kept. An item an
        exact known-good match now covers is marked ``known_good``.
        """
        names = sorted(set(set_names))
        exact = [signal.name for signal in exact_signals()]
        with self._transaction():
            placeholders = ",".join("?" * len(names))
            if names:
                self._db.execute(
                    "DELETE FROM matches WHERE device_id = ? AND address IN "
                    f"({_CHUNK_ADDRESSES}) AND set_name IN ({placeholders})",
                    (device_id, device_id, chunk_key, *names),
                )
            self._write_matches(device_id, matches)
            # An item a newer known-good set now covers is excluded, as a
            # fresh scan would exclude it (its stored hashes stay).
            self._db.execute(
                "UPDATE media SET known_good = EXISTS (SELECT 1 FROM matches m "
                "  WHERE m.device_id = media.device_id AND m.address = media.address"
                "  AND m.known_good = 1 AND m.algorithm IN "
                f"  ({','.join('?' * len(exact))})) "
                "WHERE device_id = ? AND chunk_key = ?",
                (*exact, device_id, chunk_key),
            )
            self._db.execute(
                "UPDATE chunks SET run_id = ?, sets_key = ?, done_at = ? "
                "WHERE device_id = ? AND chunk_key = ?",
                (run_id, sets_key, now(), device_id, chunk_key),
            )
            self._refresh_counts(device_id)

    def _insert_skipped(self, device_id: str, skipped: Iterable[Skipped]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO skipped(device_id, location, stage, reason, "
            + ", ".join(LOCATION_COLUMNS)
            + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (device_id, s.where, str(s.stage), s.reason)
                + location_columns(s.location)
                for s in skipped
            ],
        )

    def _write_matches(self, device_id: str, matches: Iterable[Match]) -> None:
        self._db.executemany(
            "INSERT OR REPLACE INTO matches(device_id, address, set_name, set_digest,"
            " entry_id, algorithm, variant, distance, category, scheme, known_good, "
            "item_share, known_share, at_seconds) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    device_id,
                    m.address,
                    m.set_name,
                    m.set_digest,
                    m.entry_id,
                    m.algorithm,
                    m.variant,
                    m.distance,
                    m.category,
                    m.scheme,
                    int(m.known_good),
                    m.item_share,
                    m.known_share,
                    m.at_seconds,
                )
                for m in matches
            ],
        )

    def _refresh_counts(self, device_id: str) -> None:
        self._db.execute(
            "UPDATE devices SET "
            "media_count = (SELECT COUNT(*) FROM media WHERE device_id = ?1), "
            "match_count = (SELECT COUNT(DISTINCT address) FROM matches "
            "  WHERE device_id = ?1 AND known_good = 0), "
            "skipped_count = (SELECT COUNT(*) FROM skipped WHERE device_id = ?1), "
            "updated_at = ?2 WHERE device_id = ?1",
            (device_id, now()),
        )

    def chunk_media(self, device_id: str, chunk_key: str) -> list[StoredMedia]:
        """The stored media (with hashes) of one finished chunk."""
        rows = self._db.execute(
            "SELECT * FROM media WHERE device_id = ? AND chunk_key = ? "
            "ORDER BY address",
            (device_id, chunk_key),
        ).fetchall()
        return self._stored_media(device_id, rows)

    def media(self, device_id: str) -> Iterator[StoredMedia]:
        """Every media row of a device, in address order, with its hashes."""
        cur = self._db.execute(
            "SELECT * FROM media WHERE device_id = ? ORDER BY address", (device_id,)
        )
        while True:
            rows = cur.fetchmany(500)
            if not rows:
                return
            yield from self._stored_media(device_id, rows)

    def _stored_media(
        self, device_id: str, rows: Sequence[sqlite3.Row]
    ) -> list[StoredMedia]:
        if not rows:
            return []
        by_address: dict[str, list[PerceptualHash]] = {r["address"]: [] for r in rows}
        for p in self._rows_at(
            "address, algorithm, variant, value, quality",
            "perceptual",
            device_id,
            list(by_address),
            "address, algorithm, variant",
        ):
            by_address[p["address"]].append(
                PerceptualHash(p["algorithm"], p["value"], p["variant"], p["quality"])
            )
        digests = self.digests(device_id, by_address)
        frames = self.video_frames(device_id, by_address)
        device = self._db.execute(
            "SELECT evidence FROM devices WHERE device_id = ?", (device_id,)
        ).fetchone()
        out = []
        for r in rows:
            record = record_from_row(r, device_id, device["evidence"])
            hashes = MediaHash(
                r["address"],
                r["md5"],
                perceptual=tuple(by_address[r["address"]]),
                width=r["width"],
                height=r["height"],
                digests=digests[r["address"]],
                frames=frames.get(r["address"], ()),
            )
            out.append(
                StoredMedia(record, hashes, bool(r["known_good"]), bool(r["decoded"]))
            )
        return out

    def matches(self, device_id: str) -> list[Match]:
        return [
            Match(
                address=r["address"],
                set_name=r["set_name"],
                set_digest=r["set_digest"],
                entry_id=r["entry_id"],
                algorithm=r["algorithm"],
                distance=r["distance"],
                category=r["category"],
                scheme=r["scheme"],
                known_good=bool(r["known_good"]),
                variant=r["variant"],
                item_share=r["item_share"],
                known_share=r["known_share"],
                at_seconds=r["at_seconds"],
            )
            for r in self._db.execute(
                "SELECT * FROM matches WHERE device_id = ? ORDER BY address, "
                "set_digest, entry_id, algorithm, variant",
                (device_id,),
            )
        ]

    def skipped(self, device_id: str) -> list[Skipped]:
        """A device's skipped rows, in location order."""
        return [
            skipped_from_row(r)
            for r in self._db.execute(
                "SELECT * FROM skipped WHERE device_id = ? ORDER BY location, stage",
                (device_id,),
            )
        ]

    def digests(
        self, device_id: str, addresses: Iterable[str]
    ) -> dict[str, list[tuple[str, str]]]:
        """Exact digests ``(algorithm, hex)`` of the media at ``addresses``."""
        wanted = list(addresses)
        out: dict[str, list[tuple[str, str]]] = {a: [] for a in wanted}
        for d in self._rows_at(
            "address, algorithm, value", "digests", device_id, wanted,
            "address, algorithm",
        ):  # fmt: skip
            out[d["address"]].append((d["algorithm"], d["value"]))
        return out

    def _rows_at(
        self,
        columns: str,
        table: str,
        device_id: str,
        addresses: Sequence[str],
        order: str,
    ) -> Iterator[sqlite3.Row]:
        """``columns`` of the rows of ``table`` at ``addresses`` of a device,
        in ``order``, asked 500 addresses at a time (SQLite's limit on
        variables)."""
        for start in range(0, len(addresses), 500):
            batch = addresses[start : start + 500]
            yield from self._db.execute(
                f"SELECT {columns} FROM {table} WHERE device_id = ? "
                f"AND address IN ({','.join('?' * len(batch))}) ORDER BY {order}",
                (device_id, *batch),
            )

    def video_frames(
        self, device_id: str, addresses: Iterable[str]
    ) -> dict[str, tuple[VideoFrame, ...]]:
        """The stored sampled frames of the videos among ``addresses``."""
        rows: dict[str, dict[int, tuple[float, list[PerceptualHash]]]] = {}
        for f in self._rows_at(
            "*", "video_frames", device_id, list(addresses),
            "address, frame_number, algorithm, variant",
        ):  # fmt: skip
            per_frame = rows.setdefault(f["address"], {})
            _, hashes = per_frame.setdefault(f["frame_number"], (f["timestamp"], []))
            hashes.append(
                PerceptualHash(f["algorithm"], f["value"], f["variant"], f["quality"])
            )
        return {
            address: tuple(
                VideoFrame(n, ts, tuple(h)) for n, (ts, h) in sorted(per_frame.items())
            )
            for address, per_frame in rows.items()
        }

    def perceptual_for_digest(self, md5: str) -> tuple[PerceptualHash, ...] | None:
        """Perceptual hashes already computed for content with this MD5 (any
        device), so identical content is decoded once per database."""
        row = self._db.execute(
            "SELECT device_id, address FROM media WHERE md5 = ? AND decoded = 1 "
            "LIMIT 1",
            (md5,),
        ).fetchone()
        if row is None:
            return None
        return tuple(
            PerceptualHash(p["algorithm"], p["value"], p["variant"], p["quality"])
            for p in self._db.execute(
                "SELECT algorithm, variant, value, quality FROM perceptual WHERE "
                "device_id = ? AND address = ? ORDER BY algorithm, variant",
                (row["device_id"], row["address"]),
            )
        )
