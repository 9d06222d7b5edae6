"""Put on PYTHONPATH by tests that interrupt a scan: with
TRIAGE_TEST_CHUNK_DELAY set, every chunk takes that many seconds longer, in
the scan's process and in every Dask worker (Python imports this file at
start-up in each), so that a signal lands part-way. Nothing in triage knows."""

import os

if os.environ.get("TRIAGE_TEST_CHUNK_DELAY"):
    import time

    import triage.scan.tasks as _tasks

    _one_blas_thread = _tasks.one_blas_thread

    def _slow_start() -> None:
        time.sleep(float(os.environ["TRIAGE_TEST_CHUNK_DELAY"]))
        _one_blas_thread()

    _tasks.one_blas_thread = _slow_start

if os.environ.get("TRIAGE_TEST_HANG_FIRST_CHUNK"):
    # This process's first chunk never ends (a hung worker); later ones run.
    import time

    import triage.scan.tasks as _tasks

    _process_chunk = _tasks.process_chunk
    _calls = []

    def _hanging(*args, **kwargs):  # type: ignore[no-untyped-def]
        _calls.append(1)
        if len(_calls) == 1:
            time.sleep(3600)
        return _process_chunk(*args, **kwargs)

    _tasks.process_chunk = _hanging
