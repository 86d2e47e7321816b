"""depends_on in the engine, on the in-memory engine: the deploy in stages (a dependent applied only once its
dependencies were waited for), "waiting on X" on the board and in ci's lines, and one stage without dependencies."""

from __future__ import annotations

import asyncio
import io

from devstack.engine import events as ev
from devstack.engine import order
from devstack.engine.converge import converge, run_once
from devstack.engine.state import Board
from devstack.engine.steps import BeginCycle, Work
from devstack.observe.console import Console
from tests.unit.conftest import MINIMAL, Project
from tests.unit.memory import Engine, MemoryBuilder, MemoryProvider

CHAIN = MINIMAL + """
[resources.app]
depends_on = ["db"]

[resources.web]
depends_on = ["app", "cache"]
"""
RESOURCES = ("web", "app", "db", "cache", "sink")


def test_stages_follow_the_dependencies(project: Project) -> None:
    config = project.load(CHAIN)
    assert order.stages(config, RESOURCES) == [("db", "cache", "sink"), ("app",), ("web",)]
    assert order.stages(project.load(MINIMAL), RESOURCES) == [RESOURCES]
    assert order.waiting(config, ["web", "app"], ready={"db"}) == {"web": ("app", "cache")}


def test_ci_applies_each_stage_after_the_one_before_is_ready(project: Project) -> None:
    engine, out = Engine(), io.StringIO()
    run_once(project.load(CHAIN), MemoryProvider(engine, RESOURCES), Console(out, tty=False), 30,
             builder=MemoryBuilder(engine))
    # Cumulative: a stage's apply holds back the later ones; the last applies the whole deploy.
    assert engine.applied == [("cache", "db", "sink"), ("app", "cache", "db", "sink"), tuple(sorted(RESOURCES))]
    assert engine.waited == [("cache", "db", "sink"), ("app", "cache", "db", "sink"), tuple(sorted(RESOURCES))]
    calls = [c for c in engine.calls if c in ("apply", "ready")]
    assert calls == ["apply", "ready", "apply", "ready", "apply", "ready"]
    text = out.getvalue()
    assert "app      waiting on db" in text and "web      waiting on app, cache" in text


def test_without_dependencies_one_apply(project: Project) -> None:
    engine = Engine()
    run_once(project.load(MINIMAL), MemoryProvider(engine, RESOURCES), Console(io.StringIO(), tty=False), 30,
             builder=MemoryBuilder(engine))
    assert engine.applied == [tuple(sorted(RESOURCES))] and engine.waited == [tuple(sorted(RESOURCES))]


def test_the_board_says_what_a_resource_waits_on(project: Project) -> None:
    config, engine = project.load(CHAIN), Engine()
    board = Board(config.project)
    board.apply(ev.StepStarted(BeginCycle(Work(first=True)), at=0.0))
    seen: list[dict[str, tuple[str, ...]]] = []

    def report(event: ev.Event) -> None:
        board.apply(event)
        if isinstance(event, ev.Deploying):
            seen.append({r["name"]: tuple(r["waiting_on"]) for r in board.snapshot() if r["waiting_on"]})

    asyncio.run(converge(config, MemoryProvider(engine, RESOURCES), Console(io.StringIO(), tty=False), 30,
                         announce=False, builder=MemoryBuilder(engine), report=report))
    assert seen == [{"app": ("db",), "web": ("app", "cache")}, {"web": ("app",)}, {}]
