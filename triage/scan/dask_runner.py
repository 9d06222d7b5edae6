"""The scan on a Dask cluster: the only module in triage that imports Dask.

It runs the plain task functions of ``triage.scan.tasks`` and adds nothing
to them: a local cluster (workers forked from a forkserver that has the task
code loaded, with the environment decoding needs), or a client of a running
``dask scheduler`` (``--scheduler tcp://HOST:PORT``); a ``WorkerPlugin`` that
installs a ``WorkerState`` on each worker (set up when the worker joins, torn
down when it leaves); and ``Client.run`` to tell every worker that the driver
stopped a device. Workers must see the evidence and hash-set files at the
same paths as the driver.
"""

from __future__ import annotations

import logging
import multiprocessing.forkserver
import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import dask
from distributed import Client, KilledWorker, LocalCluster, WorkerPlugin, wait
from distributed.client import FutureCancelledError, FuturesCancelledError
from distributed.utils import get_mp_context

from triage.errors import ClusterError, UsageError
from triage.ingest.filesystems.passwords import password_environ
from triage.scan import tasks

log = logging.getLogger(__name__)

#: Dask settings for the workers of a LocalCluster this module starts.
#: The nanny's default MALLOC_TRIM_THRESHOLD_=65536 makes glibc hand memory
#: back after every large free: the decode/PDQ loop then spends 2.6x the CPU
#: (measured, see benchmarks/HISTORY.md). The statistical profiler samples
#: every worker thread each 10 ms, only for the dashboard. Both are off; the
#: thread limits (one BLAS/OpenMP thread per single-threaded worker) stay.
#: Workers are forked from a forkserver (a fresh, single-threaded process that
#: has imported Dask and numpy once), not spawned each from scratch: less
#: start-up CPU per worker (0.3 against 0.7 s here) and a quicker close. The
#: forkserver starts with the environment above, so workers keep it (checked:
#: one OpenBLAS thread, no MALLOC_TRIM_THRESHOLD_).
WORKER_CONFIG: dict[str, Any] = {
    "distributed.worker.multiprocessing-method": "forkserver",
    "distributed.nanny.pre-spawn-environ": {
        "OMP_NUM_THREADS": 1,
        "MKL_NUM_THREADS": 1,
        "OPENBLAS_NUM_THREADS": 1,
    },
    "distributed.worker.profile.enabled": False,
    "distributed.admin.system-monitor.gil.enabled": False,
}
#: What the forkserver imports before it forks any worker: Dask, and the task
#: code with all it needs (numpy, Pillow, pytsk3...), which each worker
#: otherwise imports when its first task arrives (0.28 s here), with PyAV
#: (FFmpeg) and SciPy's DCT and sparse matrices, which triage's modules load
#: on first use so that the CLI starts quickly; and this module, where the
#: worker plugin's class lives; and ``worker_signals``, so that a Ctrl-C
#: reaches only the scan's own process (which stops the workers).
WORKER_PRELOAD = (
    "distributed",
    "triage.scan.tasks",
    "av",
    "scipy.fft",
    "scipy.sparse",
    "triage.scan.dask_runner",
    "triage.scan.worker_signals",
)


class WorkerStatePlugin(WorkerPlugin):
    """Installs a ``WorkerState`` on a worker: its caches live as long as the
    worker does. Idempotent: a second scan on a shared cluster keeps the
    state (and the caches) the workers have, never tears it down under the
    first scan's running tasks."""

    name = "triage-worker-state"
    idempotent = True

    def __init__(self) -> None:
        self.state: tasks.WorkerState | None = None

    def setup(self, worker: Any) -> None:
        self.state = tasks.WorkerState()
        self.state.setup()
        tasks.install_worker_state(self.state)

    def teardown(self, worker: Any) -> None:
        if self.state is not None:
            tasks.uninstall_worker_state(self.state)
            self.state = None


def start_forkserver() -> None:
    """Start the forkserver a local cluster forks its workers from, now.

    Called before the scan's own set-up (hash sets, index, the walk), so the
    forkserver imports ``WORKER_PRELOAD`` meanwhile, on the other core, and
    the workers start with the task code loaded. It starts with the
    environment the nanny would give it (``WORKER_CONFIG``'s pre-spawn
    variables, which the nanny also sets in this process; a variable already
    set wins, as in Dask), since the forked workers keep it. Nothing happens
    if it is running already: the rest of this process's clusters reuse it.
    """
    with dask.config.set(WORKER_CONFIG):
        context = get_mp_context()
    context.set_forkserver_preload(list(WORKER_PRELOAD))
    environ = WORKER_CONFIG["distributed.nanny.pre-spawn-environ"]
    os.environ.update({k: os.environ.get(k, str(v)) for k, v in environ.items()})
    multiprocessing.forkserver.ensure_running()


#: The Dask settings a ``tls://`` scheduler needs on the client (also as
#: DASK_DISTRIBUTED__COMM__TLS__CA_FILE, ..._CLIENT__CERT, ..._CLIENT__KEY).
TLS_SETTINGS = (
    "distributed.comm.tls.ca-file",
    "distributed.comm.tls.client.cert",
    "distributed.comm.tls.client.key",
)


def _connect(scheduler: str) -> Client:
    """A client of the running scheduler at ``scheduler``.

    Raises:
        ClusterError: a ``tls://`` scheduler without the certificates set in
            the Dask config, or one that refuses them.
        UsageError: the scheduler cannot be reached.
    """
    tls = scheduler.startswith("tls://")
    if tls:
        missing = [key for key in TLS_SETTINGS if not dask.config.get(key, None)]
        if missing:
            raise ClusterError(
                f"{scheduler}: a tls:// scheduler needs the CA, certificate and "
                f"key in the Dask config; not set: {', '.join(missing)}"
            )
    try:
        return Client(scheduler, timeout=30)
    except (OSError, TimeoutError, TypeError) as exc:
        if tls:
            raise ClusterError(
                f"TLS connection to the Dask scheduler at {scheduler} failed "
                f"({exc}); check the certificates in the Dask config "
                f"({', '.join(TLS_SETTINGS)})"
            ) from exc
        raise UsageError(
            f"cannot reach the Dask scheduler at {scheduler}: {exc}"
        ) from exc


class DaskRunner:
    """Runs tasks on a dask.distributed cluster (local or remote)."""

    def __init__(self, scheduler: str | None, workers: int | None) -> None:
        self.lost: tuple[type[BaseException], ...] = (KilledWorker,)
        self._cluster: Any = None
        self.address = scheduler or "the local cluster"
        self._scheduler_lost = False
        self._shunned: set[str] = set()  # workers that hung in a task
        self.stop_token: str | None = uuid.uuid4().hex
        self._stopped = False
        if scheduler is None:
            n = workers or os.cpu_count() or 1
            with dask.config.set(WORKER_CONFIG):
                self._cluster = LocalCluster(
                    n_workers=n,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # any free port: never collide
                    # Workers' own log lines (a heartbeat that meets the
                    # scheduler already closed after Ctrl-C, with its
                    # traceback) are not for the user: what goes wrong in
                    # a task reaches the driver through its future and is
                    # recorded there.
                    silence_logs=logging.CRITICAL,
                    # The passwords of encrypted evidence, set in each worker
                    # as it starts: a forkserver started before they were
                    # given (an earlier scan in this process) lacks them.
                    env=password_environ(),
                )
            self._client = Client(self._cluster)
            self.name = "local"
        else:
            self._client = _connect(scheduler)
            self.name = scheduler
        self._client.register_plugin(WorkerStatePlugin())
        info = self._client.scheduler_info()
        self.workers = max(1, len(info.get("workers", {})) or (workers or 1))

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._shunned:
            workers = set(self._client.scheduler_info().get("workers", {}))
            healthy = sorted(workers - self._shunned)
            if healthy:  # all shunned: any worker, as before
                return self._client.submit(
                    fn, *args, pure=False, workers=healthy, allow_other_workers=False
                )
        return self._client.submit(fn, *args, pure=False)

    def shun(self, future: Any) -> None:
        """The worker ``future`` is assigned to hung in it: later tasks go to
        the others (its busy thread would hold them too)."""
        try:
            processing = self._client.processing()
        except OSError as exc:
            log.warning("could not ask the scheduler where a task runs: %s", exc)
            return
        for worker, keys in processing.items():
            if future.key in keys:
                log.warning("worker %s hung in a task: no more tasks go to it", worker)
                self._shunned.add(worker)

    def wait_some(
        self, pending: set[Any], timeout: float | None = None
    ) -> tuple[set[Any], set[Any]]:
        """Raises:
        ClusterError: the scheduler was lost (its futures are cancelled)."""
        try:
            done, not_done = wait(
                list(pending), timeout=timeout, return_when="FIRST_COMPLETED"
            )
        except TimeoutError:
            done = {f for f in pending if f.done()}
            return done, set(pending) - done
        except FutureCancelledError as exc:
            raise self._lost(exc.reason) from exc
        except FuturesCancelledError as exc:
            raise self._lost(exc.error_groups[0].reason) from exc
        if any(f.status == "cancelled" for f in done):
            raise self._lost("its tasks were cancelled")
        return set(done), set(not_done)

    def _lost(self, reason: str) -> ClusterError:
        self._scheduler_lost = True
        return ClusterError(
            f"lost the Dask scheduler at {self.address} ({reason}); every chunk "
            "finished before is kept: start the scheduler again and run the same "
            "command to resume"
        )

    def stop_chunks(self, device_id: str) -> None:
        # A round trip to every worker (milliseconds: the function runs on
        # their event loops, not behind their tasks). Waited for, so that it
        # is not lost if the client closes next; a worker that fails to take
        # it runs its chunk to the end, as without it.
        self._stopped = True
        self._tell(tasks.stop_chunks, self.stop_token, device_id)

    def _tell(self, fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on every worker now; a lost connection only
        costs what the call would have saved (logged)."""
        started = time.perf_counter()
        try:
            self._client.run(fn, *args, on_error="ignore")
        except OSError as exc:  # distributed's CommClosedError among them
            log.warning("could not tell the workers %s%s: %s", fn.__name__, args, exc)
            return
        log.debug(
            "%s%s on workers: %.3f s", fn.__name__, args, time.perf_counter() - started
        )

    def close(self) -> None:
        if self._scheduler_lost:
            # The error says so already: not also distributed's own log line.
            logging.getLogger("distributed.client").setLevel(logging.CRITICAL)
        elif self._stopped and self._cluster is None:  # a shared cluster lives on
            self._tell(tasks.forget_stopped, self.stop_token)
        self._client.close()
        if self._cluster is not None:
            self._cluster.close()
