"""Runs and chunks: who scanned a device when, and which work is done.

A run is one ``triage scan`` of one device; a live scan's process id lets
readers tell a scan in progress from a killed one. Finished chunks make a
scan resumable.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
from collections.abc import Sequence
from typing import Any, TypedDict, Unpack

from triage import __version__
from triage.errors import DeviceBusy
from triage.store.connection import now
from triage.store.devices import DevicesMixin


def _process_exists(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (signal 0 probes)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, owned by someone else
    return True


def _process_started(pid: int) -> float | None:
    """When process ``pid`` started (POSIX seconds), from Linux ``/proc``;
    None where that cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as fh:
            btime = next(
                int(line.split()[1]) for line in fh if line.startswith(b"btime ")
            )
        return btime + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _run_alive(pid: int | None, started_at: str) -> bool:
    """Whether the process that started a run at ``started_at`` still runs.
    A pid the system has since given to a process that started later is not
    it (pid reuse after a kill)."""
    if pid is None or not _process_exists(pid):
        return False
    started = _process_started(pid)
    if started is None:
        return True  # cannot tell: exists, so assume it is the scan
    run_started = _dt.datetime.fromisoformat(started_at).timestamp()
    return started <= run_started + 2.0  # started_at has whole seconds


class RunDetails(TypedDict):
    """What a run row records of the scan that starts it (``start_run``,
    ``begin_scan``)."""

    hashsets: Sequence[dict[str, str]]
    parameters: dict[str, Any]
    host: str
    user: str


class RunsMixin(DevicesMixin):
    """Start, close and list runs; the chunks a device has done."""

    def start_run(
        self,
        device_id: str,
        *,
        tool_version: str = __version__,
        **run: Unpack[RunDetails],
    ) -> int:
        """Record that a scan of ``device_id`` starts; returns the run id."""
        cur = self._db.execute(
            "INSERT INTO runs(device_id, tool_version, hashsets, parameters, host, "
            "user, started_at, pid) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                device_id,
                tool_version,
                json.dumps(list(run["hashsets"]), sort_keys=True),
                json.dumps(run["parameters"], sort_keys=True, default=str),
                run["host"],
                run["user"],
                now(),
                os.getpid(),
            ),
        )
        assert cur.lastrowid is not None
        return int(cur.lastrowid)

    def begin_scan(self, device_id: str, **run: Unpack[RunDetails]) -> int:
        """Start a scan of ``device_id`` in one transaction: mark it
        'scanning', close the runs a killed scan left 'running' (as
        'interrupted') and record the new run; returns its id.

        Raises:
            DeviceBusy: a scan of the device is running now in another live
                process on ``host`` (two scans would do the same work twice
                and each would call the other's run interrupted). A run left
                'running' on another machine cannot be checked from here and
                is taken to be a killed scan.
        """
        host = run["host"]
        with self._transaction():
            for run_id, pid, started in self._db.execute(
                "SELECT run_id, pid, started_at FROM runs WHERE device_id = ? "
                "AND status = 'running' AND host = ?",
                (device_id, host),
            ).fetchall():
                if pid != os.getpid() and _run_alive(pid, started):
                    raise DeviceBusy(  # callers name the device
                        f"already being scanned by process {pid} on {host} "
                        f"(run {run_id}, started {started}) into {self.path}; "
                        "not scanned twice: run this again when that scan has "
                        "finished or been stopped"
                    )
            self.set_device_status(device_id, "scanning")
            self.close_stale_runs(device_id)
            return self.start_run(device_id, **run)

    def interrupted_devices(self, host: str | None = None) -> set[str]:
        """Devices marked 'scanning' whose scan is no longer running: their
        last run is still 'running' but its process on this ``host`` (default:
        this machine) is gone, e.g. killed. A scan on another machine cannot be
        checked from here and is taken to be running."""
        here = host or socket.gethostname()
        gone = set()
        for device_id, run_host, pid, started in self._db.execute(
            "SELECT d.device_id, r.host, r.pid, r.started_at FROM devices d JOIN "
            "runs r ON r.run_id = (SELECT MAX(run_id) FROM runs WHERE device_id = "
            "d.device_id) WHERE d.status = 'scanning' AND r.status = 'running'"
        ):
            if run_host == here and pid is not None and not _run_alive(pid, started):
                gone.add(device_id)
        return gone

    def close_stale_runs(self, device_id: str) -> int:
        """Mark runs of ``device_id`` still 'running' (their scan was killed) as
        'interrupted'; call before starting a new run. Returns how many."""
        cur = self._db.execute(
            "UPDATE runs SET status = 'interrupted' WHERE device_id = ? AND "
            "status = 'running'",
            (device_id,),
        )
        return cur.rowcount

    def finish_run(self, run_id: int, status: str) -> None:
        self._db.execute(
            "UPDATE runs SET finished_at = ?, status = ? WHERE run_id = ?",
            (now(), status, run_id),
        )

    def runs(self, device_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT * FROM runs"
        args: tuple[str, ...] = ()
        if device_id is not None:
            sql += " WHERE device_id = ?"
            args = (device_id,)
        out = []
        for r in self._db.execute(sql + " ORDER BY run_id", args):
            d = dict(r)
            d["hashsets"] = json.loads(d["hashsets"])
            d["parameters"] = json.loads(d["parameters"])
            out.append(d)
        return out

    def done_chunks(self, device_id: str) -> dict[str, str]:
        """Finished chunk keys of a device -> the ``sets_key`` they were matched
        against."""
        return {
            r[0]: r[1]
            for r in self._db.execute(
                "SELECT chunk_key, sets_key FROM chunks WHERE device_id = ?",
                (device_id,),
            )
        }
