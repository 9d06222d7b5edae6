"""Build case databases for queue tests through the Store API (the same rows a
scan writes): devices, runs, chunks of media with their matches and skips."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from triage.records import Case, Device, FileRecord, Match, MediaHash, Skipped, Source
from triage.store import ChunkWrite, Store

CAID_DIGEST = "sha256:" + "c" * 64
NSRL_DIGEST = "sha256:" + "d" * 64
SCHEMES = {"nsrl": "nsrl", "vics": "vics"}


@dataclass
class Item:
    """One media item to plant, and what it matches."""

    path: str
    content: bytes
    deleted: bool = False
    carved_at: int | None = None
    archive: tuple[str, ...] = ()
    matches: Sequence[tuple[str, str, str, int, str | None]] = ()
    # (set_name, entry_id, algorithm, distance, category)
    known_good: bool = False

    def record(self, device_id: str, evidence: str, inode: int) -> FileRecord:
        if self.carved_at is not None:
            return FileRecord(
                device_id, evidence, 0, 0, "", len(self.content),
                source=Source.CARVED, carve_offset=self.carved_at,
                media_type="image/jpeg",
            )  # fmt: skip
        return FileRecord(
            device_id, evidence, 0, 0, self.path, len(self.content),
            source=Source.ARCHIVE if self.archive else Source.FILESYSTEM,
            inode=inode, deleted=self.deleted, media_type="image/jpeg",
            archive_path=self.archive, mtime=1_700_000_000.0,
        )  # fmt: skip


@dataclass
class Dev:
    device_id: str
    case_id: str | None
    items: list[Item] = field(default_factory=list)
    status: str = "scanned"
    error: str | None = None
    skipped: list[Skipped] = field(default_factory=list)
    evidence: str | None = None


def populate(db: Path, cases: Sequence[Case], devices: Sequence[Dev]) -> Path:
    """Write ``devices`` (and ``cases``) into the database at ``db``."""
    with Store(db) as store:
        for case in cases:
            store.set_case(case)
        for dev in devices:
            evidence = dev.evidence or f"/evidence/{dev.device_id}.E01"
            if dev.status == "failed" and not dev.items:
                store.register_failed(
                    dev.device_id, evidence, dev.case_id, dev.error or "failed"
                )
                continue
            store.register_device(
                Device(dev.device_id, (evidence,), "ewf", 1 << 30, "md5:" + "0" * 32),
                dev.case_id,
            )
            run = store.start_run(
                dev.device_id,
                hashsets=[
                    {"name": "caid", "digest": CAID_DIGEST, "path": "/sets/caid.ths",
                     "kind": "known-bad"},
                    {"name": "nsrl", "digest": NSRL_DIGEST, "path": "/sets/nsrl.ths",
                     "kind": "known-good"},
                ],
                parameters={"carve": True},
                host="lab-1",
                user="analyst",
            )  # fmt: skip
            media, matches = [], []
            for inode, item in enumerate(dev.items, start=10):
                rec = item.record(dev.device_id, evidence, inode)
                md5 = hashlib.md5(item.content).hexdigest()
                sha1 = hashlib.sha1(item.content).hexdigest()
                media.append((rec, MediaHash(rec.address, md5, sha1), item.known_good))
                for set_name, entry, algorithm, distance, category in item.matches:
                    good = set_name == "nsrl"
                    matches.append(
                        Match(
                            rec.address, set_name,
                            NSRL_DIGEST if good else CAID_DIGEST, entry, algorithm,
                            distance, category, SCHEMES.get(set_name, "caid"), good,
                        )
                    )  # fmt: skip
            store.write_chunk(
                ChunkWrite(
                    dev.device_id, "p0:files:0+1:x", run, "sets",
                    media, matches, dev.skipped,
                )
            )  # fmt: skip
            store.set_device_status(
                dev.device_id, dev.status, error=dev.error, scan_seconds=1.5
            )
            store.finish_run(run, dev.status)
    return db


def hit(entry: str, category: str = "A", algorithm: str = "md5", distance: int = 0):  # type: ignore[no-untyped-def]
    return ("caid", entry, algorithm, distance, category)
