"""Ctrl-C (SIGINT) and SIGTERM during a long command.

The first signal raises :class:`Interrupted` in the main thread, wherever it
is: the scan winds up as after any error (the walk's threads and the
workers stopped, unfinished runs marked interrupted; every chunk committed
before stays, the one being written is rolled back), and the command prints
one line saying how to resume and exits 128 + the signal number (130 for
Ctrl-C, 143 for SIGTERM), as shells do. A second signal while it winds up
ends the process at once (``os._exit``), with the same status: SQLite's
journal keeps the database whole, an open transaction is rolled back the
next time the database is opened.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

#: The signals a long command handles (SIGTERM: what ``kill`` and service
#: managers send).
HANDLED = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """A handled signal arrived; ``signum`` says which."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


@contextmanager
def interruptible(second: str) -> Iterator[None]:
    """Within the block, SIGINT/SIGTERM raise :class:`Interrupted` once; a
    second one prints ``second`` and ends the process at once. The previous
    handlers come back after the block. Outside the main thread (signals
    cannot be handled there) the block runs as it is."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    seen: list[int] = []

    def handle(signum: int, frame: FrameType | None) -> None:
        if seen:
            os.write(2, f"triage: {second}\n".encode())
            os._exit(128 + signum)
        seen.append(signum)
        raise Interrupted(signum)

    previous = {s: signal.signal(s, handle) for s in HANDLED}
    try:
        yield
    finally:
        if not seen:  # interrupted: the command is ending, keep "at once"
            for s, handler in previous.items():
                signal.signal(s, handler)
