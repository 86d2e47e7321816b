"""Blocking work that stops when asked: what lets Ctrl-C end `devstack up` within 2 s at any step."""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest

from devstack import blocking
from devstack.errors import DeployError

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")


async def test_a_call_returns_its_result_or_raises_its_error() -> None:
    assert await blocking.call(sum, [1, 2, 3]) == 6

    def fail() -> None:
        raise DeployError("no")

    with pytest.raises(DeployError, match="no"):
        await blocking.call(fail)


async def _cancel_after(task: asyncio.Task[object], seconds: float) -> float:
    await asyncio.sleep(seconds)
    started = time.monotonic()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    return time.monotonic() - started


async def test_cancelling_a_call_stops_its_polling_thread_at_once() -> None:
    def poll_forever() -> None:
        while True:
            blocking.sleep(0.5)

    took = await _cancel_after(asyncio.create_task(blocking.call(poll_forever)), 0.2)
    assert took < 0.3  # the sleep noticed; the thread has ended (the autouse fixture checks)


async def test_a_cancelled_subprocess_is_killed() -> None:
    task = asyncio.create_task(blocking.call(blocking.run, ["sleep", "30"]))
    assert await _cancel_after(task, 0.3) < 0.5


def test_run_passes_input_and_keeps_a_deadline() -> None:
    done = blocking.run(["cat"], stdin="hello")
    assert (done.returncode, done.stdout) == (0, "hello")
    assert blocking.run(["sh", "-c", "echo oops >&2; exit 3"]).stderr == "oops\n"
    started = time.monotonic()
    with pytest.raises(subprocess.TimeoutExpired):
        blocking.run(["sleep", "30"], timeout_s=0.3)
    assert time.monotonic() - started < 1.0


def test_a_worker_stopped_in_a_wait_ends_and_is_joined() -> None:
    ticks: list[int] = []

    def poll() -> None:
        while True:
            ticks.append(1)
            blocking.sleep(30)

    worker = blocking.Worker("poller", poll).start()
    while not ticks:
        time.sleep(0.01)
    started = time.monotonic()
    worker.stop()
    assert time.monotonic() - started < 0.5 and not worker.running  # stopped, and its thread has ended


def test_stopping_a_worker_wakes_a_read_that_never_checks() -> None:
    import threading

    woken = threading.Event()

    def read() -> None:
        woken.wait()  # a blocked read: only the interrupt can end it

    worker = blocking.Worker("reader", read, interrupt=woken.set).start()
    worker.stop()
    assert not worker.running
