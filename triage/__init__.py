"""triage: digital triage of seized devices for known images.

Importing triage pins the process's timezone to UTC (``TZ=UTC``, inherited
by the scan's worker processes and the tools it runs). FAT and exFAT record
local wall-clock times with no zone, and Sleuth Kit converts them with the
process's timezone; pinned, a FAT time reads as the wall time the device
stored (labelled UTC), the same on every examiner's machine, instead of
shifting with the timezone of whoever runs the scan. Filesystems that store
UTC (NTFS, ext, HFS+) are unaffected.
"""

import os
import time

__version__ = "0.1.0"

if os.environ.get("TZ") != "UTC":
    os.environ["TZ"] = "UTC"
    time.tzset()
