"""[[commands]] run by the daemon (`POST /api/commands/NAME/run`, the dashboard's button): a RunCommand step
beside the cycle, its output in the resource's log, its result on the board; unknown names are refused. On the
in-memory engine."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable

import pytest

from devstack.engine import events as ev
from devstack.engine.daemon import Daemon
from devstack.engine.decide import decide
from devstack.engine.state import Board
from devstack.engine.steps import RunCommand
from devstack.observe.console import Console
from tests.unit.conftest import MINIMAL, Project
from tests.unit.memory import Engine, MemoryBuilder, MemoryProvider

COMMANDS = MINIMAL + """
[resources.web]
links = [{ name = "admin UI", url = "http://127.0.0.1:8480/admin/" }]

[[commands]]
name = "hello"
resource = "web"
exec = ["echo", "hello", "from", "web"]  # the in-memory engine echoes the command back

[[commands]]
name = "here"
resource = "web"
run = "echo local; exit 4"
"""


def test_a_request_runs_the_command_once_at_a_time(project: Project) -> None:
    config = project.load(COMMANDS)
    board = Board(config.project)
    board.phase = "watching"
    request = ev.CommandRequested("hello")
    board.apply(request)
    assert decide(board, config, [request]) == [RunCommand("hello")]
    board.apply(ev.StepStarted(RunCommand("hello"), at=0.0))
    assert board.commands == {"hello": "running"}
    assert decide(board, config, [request]) == []  # still running: not twice
    board.apply(ev.CommandDone(name="hello"))
    assert board.commands == {"hello": "ok"} and board.running is None


async def _until(what: Callable[[], bool], out: io.StringIO) -> None:
    deadline = time.monotonic() + 10
    while not what():
        assert time.monotonic() < deadline, out.getvalue()
        await asyncio.sleep(0.02)


async def test_the_daemon_runs_it_and_its_output_goes_to_the_resources_log(project: Project) -> None:
    config, engine, out = project.load(COMMANDS), Engine(), io.StringIO()
    daemon = Daemon(config, lambda: config, lambda _c: MemoryProvider(engine), Console(out, tty=False), 30,
                    builder=MemoryBuilder(engine))
    task = asyncio.create_task(daemon.run())
    try:
        await _until(lambda: daemon.phase == "watching", out)
        daemon.backend.run_command("hello")  # what POST /api/commands/hello/run does (tests/web: the route)
        await _until(lambda: daemon.board.commands.get("hello") == "ok", out)
        assert "web      │ echo hello from web" in out.getvalue() and "command hello done" in out.getvalue()
        daemon.backend.run_command("here")
        await _until(lambda: daemon.board.commands.get("here") == "exit 4", out)
        assert "web      │ local" in out.getvalue() and "command here exited 4" in out.getvalue()
        with pytest.raises(LookupError, match="no command named 'nope'"):
            daemon.backend.run_command("nope")
    finally:
        daemon.stop.set()
        await asyncio.wait_for(task, 10)
