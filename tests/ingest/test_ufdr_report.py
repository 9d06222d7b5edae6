"""UFDR report.xml read in bounded memory and only as far as needed, and
members whose names clean to the same path all listed. Inputs are made here."""

from __future__ import annotations

import io
import tracemalloc
import warnings
import zipfile
from pathlib import Path

from triage.ingest import iter_files
from triage.ingest.content import read_record
from triage.ingest.evidence import open_device
from triage.ingest.filesystems.phone import ufdr_details, ufdr_files
from triage.records import FileRecord, Skipped
from triage.sample import phone

_MESSAGE = (
    '<model type="InstantMessage" id="%d"><field name="Body"><value '
    'type="String">hello there, how are you doing today</value></field>'
    '<field name="From"><value type="String">+15550100</value></field></model>'
)


def _report(messages: int, *, os_version: bool = True) -> bytes:
    """A report.xml naming one file, with ``messages`` chat messages in its
    ``decodedData`` (before ``taggedFiles``, as the review's t3.py had it)."""
    base = phone.ufdr_report({"private/var/a.jpg": "files/0_a.jpg"})
    if not os_version:
        base = base.replace(b'<item name="DeviceInfoOSVersion">17.1</item>', b"")
    head, tail = base.split(b"<taggedFiles>")
    chats = "".join(_MESSAGE % n for n in range(messages)).encode()
    return (
        head + b'<decodedData><modelType type="InstantMessage">' + chats
        + b"</modelType></decodedData><taggedFiles>" + tail
    )  # fmt: skip


class _Counted(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.got = 0

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self.got += len(data)
        return data


def test_report_elements_are_not_kept_as_the_parse_goes() -> None:
    report = _report(8000)  # 1.5 MB of chats: 40 000 elements
    tracemalloc.start()
    try:
        files = list(ufdr_files(io.BytesIO(report)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert files == [("private/var/a.jpg", "files/0_a.jpg")]
    # Every element kept would be ~8 MB here; cleared, the parser's buffers.
    assert peak < 1 << 20, peak


def test_details_stop_once_found_or_at_the_decoded_data() -> None:
    report = _report(8000)
    fh = _Counted(report)
    assert ufdr_details(fh) == "extraction=FullFileSystem; model=iPhone 12; os=17.1"
    assert fh.got < len(report) // 4
    fh = _Counted(_report(8000, os_version=False))
    assert ufdr_details(fh) == "extraction=FullFileSystem; model=iPhone 12"
    assert fh.got < len(report) // 4


def test_members_with_the_same_clean_name_are_all_listed(tmp_path: Path) -> None:
    path = tmp_path / "dup.ufdr"
    members = [
        ("files/0_a.jpg", b"\xff\xd8\xff first"),
        ("files/0_a.jpg", b"\xff\xd8\xff second copy, different"),
        ("files/Image/IMG_9.jpg", b"\xff\xd8\xff unlisted 1"),
        ("/files/Image/IMG_9.jpg", b"\xff\xd8\xff unlisted 2!"),
    ]
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as zf:
        warnings.simplefilter("ignore")  # "Duplicate name": meant here
        zf.writestr("report.xml", _report(0))
        for name, data in members:
            zf.writestr(name, data)
    items = list(iter_files(path, carve=False, archives=False))
    assert [i for i in items if isinstance(i, Skipped)] == []
    records = [i for i in items if isinstance(i, FileRecord)]
    assert [r.path for r in records] == [
        "private/var/a.jpg",
        "files/0_a.jpg",
        "files/Image/IMG_9.jpg",
        "files/Image/IMG_9.jpg",
    ]
    with open_device(path) as handle:
        got = [read_record(handle, r) for r in records]
    assert got == [data for _, data in members]
