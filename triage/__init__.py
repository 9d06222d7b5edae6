"""triage: digital triage of seized devices for known images.

Importing triage changes nothing in the host process (no ``TZ``, no
locale). FAT and exFAT record local wall-clock times with no zone; the
filesystem backend reads such a time as the wall time the device stored,
labelled UTC, the same on every examiner's machine whatever its timezone
(see ``triage.ingest.filesystems.tsk``). Filesystems that store UTC (NTFS,
ext, HFS+) are read as they are.
"""

__version__ = "0.1.0"
