"""Imported by the forkserver that local Dask workers are forked from (see
``triage.scan.dask_runner.WORKER_PRELOAD``), and nowhere else: workers
ignore SIGINT.

A Ctrl-C at the terminal goes to every process of the foreground group, the
workers too. Left to Python, each worker would die mid-task with its own
traceback. Ignoring it there leaves the scan's own process to stop the
scan: it closes the cluster, which ends the workers cleanly (see
``triage.cli.interrupt``). The forkserver sets this before it forks, so
every worker starts with it.
"""

from __future__ import annotations

import signal

signal.signal(signal.SIGINT, signal.SIG_IGN)
