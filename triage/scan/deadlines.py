"""How long the driver waits for one task on a cluster before it gives up.

A worker that dies is noticed by Dask (its tasks are retried elsewhere, or
``KilledWorker``); a worker that hangs (a read blocked on a dead network
share, a decoder spinning) is not: its task would be waited on forever. The
driver starts a clock for each task it submits; a task with no result after
``timeout`` seconds (counted from submission, queueing included) is
cancelled and submitted once more, which Dask gives to another worker (the
hung one's thread is still busy); a second timeout records the chunk's
device as failed, naming the chunk. In-process (``scheduler="sync"``) tasks
run to their end and no clock applies.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

#: Seconds a task may take, from submission, before it is timed out: far
#: above a chunk's usual time (seconds), so only a hung worker reaches it.
DEFAULT_TASK_TIMEOUT = 1800.0


#: The shortest wait the driver is given (seconds).
MIN_WAIT = 0.05


class Deadlines:
    """The submission time of each task out; which are overdue."""

    def __init__(self, timeout: float | None) -> None:
        self.timeout = timeout
        self._started: dict[Any, float] = {}

    def started(self, future: Any) -> None:
        self._started[future] = time.monotonic()

    def forget(self, future: Any) -> None:
        self._started.pop(future, None)

    def wait_timeout(self, base: float | None) -> float | None:
        """``base`` (the driver's own wait), shortened to the first deadline."""
        if self.timeout is None or not self._started:
            return base
        left = min(self._started.values()) + self.timeout - time.monotonic()
        # Never 0: a wait with no time at all can end before it sees the
        # tasks already done, and the driver would spin.
        left = max(left, MIN_WAIT)
        return left if base is None else min(base, left)

    def overdue(self, futures: Iterable[Any]) -> list[Any]:
        """The futures among ``futures`` not done by their deadline."""
        if self.timeout is None:
            return []
        now = time.monotonic()
        return [
            f
            for f in futures
            if not f.done() and now - self._started.get(f, now) > self.timeout
        ]
