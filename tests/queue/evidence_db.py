"""A real (small, benign) device, walked with triage.ingest and written into a
case database through the Store API, with planted known-hash matches."""

from __future__ import annotations

import hashlib
from pathlib import Path

from triage.ingest import iter_files
from triage.records import Case, Device, FileRecord, Match, MediaHash
from triage.sample.disk import build_filesystem
from triage.sample.pictures import encode, make_picture
from triage.store import ChunkWrite, Store

SET_DIGEST = "sha256:" + "e" * 64
EVIL_PATH = 'pics/<img src=x onerror="alert(1)">.jpg'  # injection attempt


def pictures() -> dict[str, bytes]:
    return {
        "pics/a.jpg": encode(make_picture(1, 160, 120)),
        "pics/b.jpg": encode(make_picture(2, 160, 120)),
        "pics/ok.jpg": encode(make_picture(3, 160, 120)),
    }


def build_case(tmp: Path) -> tuple[Path, Path, dict[str, bytes]]:
    """(database, evidence image, files). ``a.jpg`` matches category A
    exactly, ``b.jpg`` (deleted) matches category C by PDQ."""
    files = pictures()
    image = build_filesystem("ext2", {**files, EVIL_PATH: files["pics/ok.jpg"]},
                             tmp / "dev1.raw", deleted=["pics/b.jpg"])  # fmt: skip
    db = tmp / "case.db"
    records = [
        r for r in iter_files(image, "dev1", media_only=True, carve=False)
        if isinstance(r, FileRecord)
    ]  # fmt: skip
    with Store(db) as store:
        store.set_case(Case("K1", "lives-with", "high", "<b>note</b>"))
        store.register_device(
            Device("dev1", (str(image),), "raw", image.stat().st_size), "K1"
        )
        store.register_device(Device("dev2", (str(tmp / "dev2.raw"),), "raw", 0), "K1")
        run = store.start_run(
            "dev1",
            hashsets=[{"name": "caid<script>", "digest": SET_DIGEST,
                       "path": "/sets/caid.ths", "kind": "known-bad"}],
            parameters={}, host="lab", user="analyst",
        )  # fmt: skip
        media, matches = [], []
        for rec in records:
            data = (files | {EVIL_PATH: files["pics/ok.jpg"]})[rec.path]
            md5 = hashlib.md5(data).hexdigest()
            sha1 = hashlib.sha1(data).hexdigest()
            media.append((rec, MediaHash(rec.address, md5, sha1), False))
            if rec.path == "pics/a.jpg":
                matches.append(Match(rec.address, "caid<script>", SET_DIGEST, "7",
                                     "md5", 0, "A", "caid"))  # fmt: skip
            if rec.path == "pics/b.jpg":
                matches.append(Match(rec.address, "caid<script>", SET_DIGEST, "8",
                                     "pdq", 14, "C", "caid"))  # fmt: skip
            if rec.path == EVIL_PATH:
                matches.append(Match(rec.address, "caid<script>", SET_DIGEST,
                                     "<i>9</i>", "md5", 0, "B", "caid"))  # fmt: skip
        store.write_chunk(ChunkWrite("dev1", "p0:files", run, "s", media, matches, []))
        store.set_device_status("dev1", "scanned")
        store.finish_run(run, "scanned")
    return db, image, files
