"""The batch scan: many devices, in parallel, resumable, into a case database.

Read the modules in this order (each imports only those before it):

* ``walk``: the driver's walk, each device in a thread of its own, cut into
  bounded chunks of addresses (file entries, or free space to carve);
* ``tasks``: the work, as plain functions over those addresses
  (``process_chunk``, ``rematch_chunk``) and the ``WorkerState`` a worker
  keeps between them; no Dask;
* ``plan``: what a scan is to do, settled before any work (arguments,
  devices and their ids, hash-set versions);
* ``runner``: what the driver needs of a runner, and ``SyncRunner`` (each
  task at once, in this process: ``scheduler="sync"``, for debugging and
  tests); ``dask_runner``: the same on a Dask cluster, the only module that
  imports Dask (a local cluster, or ``--scheduler tcp://HOST:PORT``);
* ``driver``: ``ScanDriver``, the loop that turns the walk into tasks and
  their results into database rows, and ``scan()``, the entry point.
"""

from triage.scan.driver import (
    DEFAULT_CARVE_BYTES,
    DEFAULT_CHUNK_FILES,
    DeviceSummary,
    Progress,
    ScanDriver,
    ScanSummary,
    scan,
)
from triage.scan.plan import TRIAGE_DEVICES_AT_ONCE, load_hashsets, sets_key
from triage.scan.tasks import (
    DEFAULT_MAX_DECODE_BYTES,
    ChunkResult,
    HashSetRef,
    MediaItem,
    RematchResult,
    ScanParams,
    WorkerState,
    process_chunk,
    rematch_chunk,
)
from triage.scan.walk import Chunk, ScanEvent

__all__ = [
    "DEFAULT_CARVE_BYTES",
    "DEFAULT_CHUNK_FILES",
    "DEFAULT_MAX_DECODE_BYTES",
    "TRIAGE_DEVICES_AT_ONCE",
    "Chunk",
    "ChunkResult",
    "DeviceSummary",
    "HashSetRef",
    "MediaItem",
    "Progress",
    "RematchResult",
    "ScanDriver",
    "ScanEvent",
    "ScanParams",
    "ScanSummary",
    "WorkerState",
    "load_hashsets",
    "process_chunk",
    "rematch_chunk",
    "scan",
    "sets_key",
]
