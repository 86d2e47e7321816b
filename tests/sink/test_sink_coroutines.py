"""Commands run by hand until one waits; a task then finishes it with what it waited for."""

from __future__ import annotations

import asyncio

import pytest
from devstack_sink import coroutines


async def answer_now(log: list[str]) -> str:
    log.append("ran")
    return "done"


async def wait_for(future: asyncio.Future[str], log: list[str]) -> str:
    log.append("before")
    value = await future
    log.append(f"after {value}")
    return f"got {value}"


def test_a_coroutine_that_never_waits_is_finished_on_the_spot() -> None:
    log: list[str] = []
    assert coroutines.start(answer_now(log)) is None
    assert log == ["ran"]


async def test_one_that_waits_is_finished_by_a_task_with_its_result() -> None:
    log: list[str] = []
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    waiting = coroutines.start(wait_for(future, log))
    assert waiting is not None and log == ["before"]
    task = asyncio.ensure_future(_await(waiting))
    await asyncio.sleep(0)
    assert not task.done()
    future.set_result("late")
    assert await task == "got late"
    assert log == ["before", "after late"]


async def test_the_error_it_waited_for_reaches_it() -> None:
    future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    waiting = coroutines.start(wait_for(future, []))
    assert waiting is not None
    task = asyncio.ensure_future(_await(waiting))
    future.set_exception(ConnectionResetError("gone"))
    with pytest.raises(ConnectionResetError, match="gone"):
        await task


async def test_cancelling_the_task_cancels_the_command() -> None:
    log: list[str] = []
    waiting = coroutines.start(_sleeper(log))
    assert waiting is not None
    task = asyncio.ensure_future(_await(waiting))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["cancelled"]


async def _sleeper(log: list[str]) -> None:
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        log.append("cancelled")
        raise


async def _await(waiting: coroutines.Suspended) -> object:
    return await waiting
