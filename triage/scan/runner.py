"""What the driver needs of a runner, and the runner without a cluster.

A runner submits the plain task functions (``triage.scan.tasks``) and hands
back futures; the driver waits on them, and tells the workers when it stops
a device early. ``SyncRunner`` runs each task at once in this process (for
debugging and tests: ``scheduler="sync"``); ``triage.scan.dask_runner`` runs
them on a Dask cluster.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import Any, Protocol

from triage.errors import TriageError
from triage.scan.tasks import WorkerState, install_worker_state, uninstall_worker_state


class Runner(Protocol):
    workers: int
    name: str
    stop_token: str | None  # names this scan's stopped devices to its workers
    lost: tuple[type[BaseException], ...]  # "a worker died running the task"

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any: ...

    def wait_some(
        self, pending: set[Any], timeout: float | None = None
    ) -> tuple[set[Any], set[Any]]: ...

    def stop_chunks(self, device_id: str) -> None: ...

    def shun(self, future: Any) -> None:
        """Send no more tasks to the worker running ``future`` (it hung)."""
        ...

    def close(self) -> None: ...


class SyncRunner:
    """Runs each task at once in this process: no cluster, same functions.

    This process is the one worker: the runner installs a fresh
    ``WorkerState`` for the scan's tasks and tears it down when closed.
    """

    workers = 1
    name = "sync"
    lost: tuple[type[BaseException], ...] = ()
    stop_token: str | None = None

    def __init__(self) -> None:
        self.state = WorkerState()
        self.state.setup()
        install_worker_state(self.state)

    def submit(self, fn: Callable[..., Any], *args: Any) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args))
        except TriageError as exc:
            future.set_exception(exc)
        return future

    def wait_some(
        self, pending: set[Any], timeout: float | None = None
    ) -> tuple[set[Any], set[Any]]:
        return set(pending), set()

    def stop_chunks(self, device_id: str) -> None:
        pass  # each task has run to its end by the time it is submitted

    def shun(self, future: Any) -> None:
        pass  # nothing runs elsewhere

    def close(self) -> None:
        uninstall_worker_state(self.state)
