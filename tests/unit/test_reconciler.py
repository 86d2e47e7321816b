"""The daemon's reconciler against an engine in memory (tests/unit/memory.py): what it does when the engine
restarts, when a first pass fails for an outside reason or for one in the files, and that stopping it at any
stage ends it within the time Ctrl-C allows, leaving no task and no thread behind."""

from __future__ import annotations

import asyncio
import io
import re
import time
from collections.abc import Callable

import httpx
import pytest

from devstack.config.model import Config
from devstack.engine.daemon import Daemon
from devstack.engine.events import FilesChanged
from devstack.observe.console import Console
from devstack.web import control
from tests.unit.conftest import MINIMAL, Project
from tests.unit.memory import Engine, MemoryBuilder, MemoryProvider

pytestmark = pytest.mark.usefixtures("no_leaked_tasks")
STOP_WITHIN_S = 2.0


class Running:
    """A Daemon on the in-memory engine, run as a task; its output in `text()`."""

    def __init__(self, project: Project, engine: Engine, web_port: int | None = None, *, verbose: bool = False) -> None:
        self.config = config = project.load(MINIMAL)
        self.out = io.StringIO()
        self.engine = engine
        self.daemon = Daemon(config, lambda: config, self._provider, Console(self.out, tty=False), 30,
                             builder=MemoryBuilder(engine), web_port=web_port, verbose=verbose)
        self.task = asyncio.create_task(self.daemon.run())

    def _provider(self, _config: Config) -> MemoryProvider:
        return MemoryProvider(self.engine)

    def text(self) -> str:
        return self.out.getvalue()

    async def until(self, what: Callable[[], bool], timeout_s: float = 10) -> None:
        deadline = time.monotonic() + timeout_s
        while not what():
            assert not self.task.done(), self.text()
            assert time.monotonic() < deadline, f"not reached in {timeout_s}s; output:\n{self.text()}"
            await asyncio.sleep(0.02)

    async def stop(self) -> float:
        started = time.monotonic()
        self.daemon.stop.set()
        await asyncio.wait_for(self.task, 10)
        return time.monotonic() - started


async def test_first_pass_deploys_and_the_board_is_ready(project: Project) -> None:
    running = Running(project, Engine())
    await running.until(lambda: running.daemon.phase == "watching")
    assert running.engine.running == {"web": running.engine.running["web"]}
    await running.until(lambda: running.daemon.board.get("web").ready)
    assert await running.stop() < STOP_WITHIN_S
    assert not running.daemon.interrupted


async def test_engine_restart_is_noticed_and_converged_again(project: Project) -> None:
    engine = Engine()
    running = Running(project, engine)
    await running.until(lambda: running.daemon.phase == "watching")
    engine.up = False
    await running.until(lambda: "the engine went away" in running.text())
    await running.until(lambda: not running.daemon.board.get("web").ready)
    engine.restart()  # it comes back empty: what ran is gone
    engine.up = True
    await running.until(lambda: "the engine is back →" in running.text())
    assert "web" in engine.running  # redeployed with no file touched
    await running.until(lambda: running.daemon.board.get("web").ready)
    assert not running.daemon.board.error
    await running.stop()


async def test_a_first_pass_failed_for_an_outside_reason_is_retried(project: Project) -> None:
    engine = Engine(up=False)
    running = Running(project, engine)
    await running.until(lambda: "retrying in 1s (no edit needed)" in running.text())
    assert "fix it and save" not in running.text()
    engine.up = True
    await running.until(lambda: "web" in engine.running, timeout_s=15)
    await running.stop()


async def test_a_first_pass_failed_for_a_reason_in_the_files_waits_for_an_edit(project: Project) -> None:
    engine = Engine(broken_plan="stack.yml: services.web.image: expected a string")
    running = Running(project, engine)
    await running.until(lambda: "fix it and save" in running.text())
    plans = engine.calls.count("plan")
    await asyncio.sleep(1.5)  # longer than the first retry would wait
    assert engine.calls.count("plan") == plans
    assert "retrying" not in running.text()
    await running.stop()


@pytest.mark.parametrize("stage", ["images", "prepare", "plan", "build", "apply", "ready"])
async def test_stopping_at_any_stage_of_the_first_pass_is_prompt(project: Project, stage: str) -> None:
    engine = Engine(hang=stage)
    running = Running(project, engine)
    await running.until(lambda: stage in engine.calls)
    assert await running.stop() < STOP_WITHIN_S
    assert running.daemon.interrupted


async def test_up_v_says_where_each_cycles_time_went(project: Project) -> None:
    running = Running(project, Engine(), verbose=True)
    await running.until(lambda: running.daemon.phase == "watching")
    relay = project.write("relay/relay.py", "print('edited')\n")
    mark = len(running.text())
    running.daemon.report(FilesChanged(frozenset({relay.resolve()})))
    await running.until(lambda: "breakdown" in running.text()[mark:])
    line = next(line for line in running.text()[mark:].splitlines() if "breakdown" in line)
    # Every step of the rebuild, in the order it ran, each with its seconds, and the loop's own time last.
    steps = re.findall(r"(?:: | · )([a-z ]+) \d+\.\d\ds", line)
    assert steps == ["plan", "prepare", "render", "build", "deliver", "apply", "ready", "forwards",
                     "between steps"], line
    assert re.search(r"breakdown \d+\.\d\ds: ", line), line
    await running.stop()


async def test_stopping_during_a_live_update_is_prompt(project: Project) -> None:
    engine = Engine()
    running = Running(project, engine)
    await running.until(lambda: running.daemon.phase == "watching")
    engine.hang = "sync"
    relay = project.root / "relay" / "relay.py"
    config = running.daemon.config
    image = config.images["relay"]
    assert image.live_update is None  # MINIMAL has no sync rules: add one in the loaded config for this test
    running.daemon.config = _with_sync(config, relay)
    running.daemon.report(FilesChanged(frozenset({relay.resolve()})))
    await running.until(lambda: "sync" in engine.calls)
    assert await running.stop() < STOP_WITHIN_S
    assert running.daemon.interrupted


def _with_sync(config: Config, path: object) -> Config:
    from dataclasses import replace
    from pathlib import Path

    from devstack.config.model import LiveUpdate, SyncRule

    assert isinstance(path, Path)
    image = replace(config.images["relay"], live_update=LiveUpdate((SyncRule(path.resolve(), "/app/relay.py"),), ()))
    return replace(config, images={**config.images, "relay": image})


async def test_the_dashboard_shows_each_cycle_and_a_page_left_open_does_not_hold_up_a_stop(project: Project) -> None:
    running = Running(project, Engine(), web_port=0)
    held = control.lock(running.config)  # as `up` holds it: clients believe a daemon runs only then
    await running.until(lambda: running.daemon.phase == "watching")
    endpoint = control.find(running.config)
    assert endpoint is not None and endpoint.dashboard is not None
    assert f"dashboard: {endpoint.dashboard}" in running.text()
    base, bearer = endpoint.dashboard.split("/?")[0], {"Authorization": f"Bearer {endpoint.token}"}
    async with httpx.AsyncClient(base_url=base, headers=bearer, timeout=10) as client:
        web = (await client.get("/api/state")).json()["resources"][0]
        assert (web["name"], web["cycle"]["n"], web["cycle"]["ok"]) == ("web", 1, True)
        assert (await client.post("/api/resources/web/trigger")).status_code == 202
        await running.until(lambda: running.daemon.board.cycles["web"].n == 2)
        assert running.daemon.board.cycles["web"].steps == ("restarted",)
        async with client.stream("GET", "/api/stream") as stream:
            async for chunk in stream.aiter_text():
                assert "event: state" in chunk
                break
            assert await running.stop() < STOP_WITHIN_S
    held.close()
    assert control.find(running.config) is None
