"""The worker state's lifecycle: what a worker keeps between tasks is one
object, set up and torn down by whoever runs the tasks (the sync runner, or
the Dask runner's plugin on each worker), never left behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.scan.corpus import Corpus
from triage.scan import tasks
from triage.scan.dask_runner import DaskRunner, WorkerStatePlugin
from triage.scan.runner import SyncRunner


@pytest.fixture
def clean_slot() -> Iterator[None]:
    """No state installed before or after the test."""
    tasks.uninstall_worker_state(tasks.worker_state())
    yield
    tasks.uninstall_worker_state(tasks.worker_state())


def test_teardown_closes_handles_and_forgets_everything(corpus: Corpus) -> None:
    state = tasks.WorkerState()
    state.setup()
    handle = state.handle(str(corpus.dev2), "dev2.001")
    assert state.handle(str(corpus.dev2), "dev2.001") is handle  # cached
    state.stopped.add(("scan-1", "dev2.001"))
    state.remember_perceptual("0" * 32, "not decodable")
    state.teardown()
    assert not state.handles and not state.stopped and not state.perceptual
    assert not state.matchers


def test_stop_signals_reach_the_installed_state(clean_slot: None) -> None:
    state = tasks.WorkerState()
    tasks.install_worker_state(state)
    assert tasks.worker_state() is state
    tasks.stop_chunks("scan-1", "dev")
    tasks.stop_chunks("scan-2", "dev")
    tasks.forget_stopped("scan-1")
    assert state.stopped == {("scan-2", "dev")}
    tasks.uninstall_worker_state(state)
    assert not state.stopped  # torn down
    assert tasks.worker_state() is not state  # a fresh one from now on


def test_uninstalling_another_state_leaves_the_installed_one(
    clean_slot: None,
) -> None:
    first, second = tasks.WorkerState(), tasks.WorkerState()
    tasks.install_worker_state(first)
    tasks.install_worker_state(second)  # two workers in one process
    second.stopped.add(("scan-1", "dev"))
    tasks.uninstall_worker_state(first)
    assert tasks.worker_state() is second and second.stopped


def test_the_sync_runner_installs_its_own_state_and_tears_it_down(
    clean_slot: None,
) -> None:
    runner = SyncRunner()
    assert tasks.worker_state() is runner.state
    runner.state.stopped.add(("scan-1", "dev"))
    runner.close()
    assert tasks.worker_state() is not runner.state
    assert not runner.state.stopped


def test_the_plugin_installs_a_state_per_worker_for_its_lifetime(
    clean_slot: None,
) -> None:
    plugin = WorkerStatePlugin()
    assert plugin.idempotent  # a second scan on a shared cluster keeps it
    plugin.setup(worker=None)
    installed = plugin.state
    assert installed is not None and tasks.worker_state() is installed
    plugin.teardown(worker=None)
    assert plugin.state is None and tasks.worker_state() is not installed


def _installed() -> bool:
    return tasks._installed is not None


def test_local_cluster_workers_have_a_state_before_their_first_task() -> None:
    runner = DaskRunner(None, 1)
    try:
        assert list(runner._client.run(_installed).values()) == [True]
    finally:
        runner.close()
