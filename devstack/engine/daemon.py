"""The dev loop, as Tilt runs it: one loop takes the events, applies each to the board, asks `decide()` what to do
next, and hands each step to a task of its own. No step runs on the loop itself; each reports back as an event.

    watcher, observer, control API, steps ──events──▶ queue ──▶ Board.apply ──▶ decide ──steps──▶ tasks

A cycle prints one line per resource with its steps and timings:

    relay    2 files changed → built 1.8s → updated 2.4s → smoke ✓ 0.3s (4.6s)

A failed step leaves the previous version running and stays on the board until a later cycle succeeds.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from devstack.config.model import Config
from devstack.engine import changes as changesets
from devstack.engine import events as ev
from devstack.engine import execute, observer, tasks, watch
from devstack.engine.decide import decide
from devstack.engine.state import Board, Phase
from devstack.engine.steps import BeginCycle, Hold, Ignore, Step
from devstack.images.builder import Builder, DockerBuilder
from devstack.observe import control, forwards, logs, view
from devstack.observe.console import Console
from devstack.providers.base import Provider


class Daemon:
    def __init__(self, config: Config, load: Callable[[], Config], make_provider: Callable[[Config], Provider],
                 console: Console, timeout_s: float, builder: Builder | None = None) -> None:
        self.board = Board(config.project, config.disabled)
        self.queue: asyncio.Queue[ev.Event] = asyncio.Queue()
        self.stop = asyncio.Event()
        self.interrupted = False
        self.context = execute.Context(
            config=config, provider=make_provider(config), load=load, make_provider=make_provider, console=console,
            builder=builder or DockerBuilder(), timeout_s=timeout_s, logs=logs.Followers(console), report=self.report,
            # The provider of the moment opens each connection: a reloaded config may bring a new one.
            forwards=forwards.Forwards(lambda forward: self.context.provider.connect(forward), console.event))

    @property
    def config(self) -> Config:
        return self.context.config

    @config.setter
    def config(self, config: Config) -> None:
        self.context.config = config

    @property
    def phase(self) -> Phase:
        return self.board.phase

    def report(self, event: ev.Event) -> None:
        self.queue.put_nowait(event)

    def _saved(self, paths: set[Path]) -> None:
        self.report(ev.FilesChanged(frozenset(paths)))

    async def run(self) -> None:
        """Serve the control API and watch from the start; run the loop (the first pass, then every change) until
        `stop` is set (Ctrl-C, SIGTERM, `devstack down`)."""
        context = self.context
        server = control.Server(self.config, self.route)
        watched = changesets.roots(self.config)
        roots = {"control": server.serve(), "watch": watch.watch(watched, self._saved, self.stop),
                 "reconcile": self.loop(),
                 "observe": observer.observe(lambda: context.provider, self.report, context.console,
                                             self.config.project)}
        try:
            with context.console.live(view.renderer(lambda: (self.board.snapshot(), self.board.error))):
                await tasks.run_together(roots, self.stop)
            self.interrupted = self.board.cycle is not None
        finally:
            await context.stop_serving()
            await context.logs.stop()
            await context.forwards.close()
            context.provider.close()

    async def loop(self) -> None:
        """Apply, decide, start; then wait for the next events. Cancelling it cancels every step in progress."""
        started: set[asyncio.Task[None]] = set()
        new: list[ev.Event] = []
        try:
            while True:
                steps = decide(self.board, self.config, new)
                while steps:  # a step that only changes the board (a cycle's beginning) is followed at once
                    for step in steps:
                        self._start(step, started)
                    steps = decide(self.board, self.config, ())
                new = await self._next()
                for event in new:
                    if isinstance(event, ev.StepCrashed):
                        raise event.error
                    self.board.apply(event)
        finally:
            for task in started:
                task.cancel()
            await asyncio.gather(*started, return_exceptions=True)

    def _start(self, step: Step, started: set[asyncio.Task[None]]) -> None:
        self.board.apply(ev.StepStarted(step, at=time.monotonic()))
        if isinstance(step, BeginCycle | Ignore | Hold):
            return
        task = asyncio.create_task(self._run(step), name=f"step {type(step).__name__}")
        started.add(task)
        task.add_done_callback(started.discard)

    async def _run(self, step: Step) -> None:
        try:
            event = await execute.run(step, self.context)
        except Exception as err:  # a bug in a step: the loop stops with it, as a failed root task would
            self.report(ev.StepCrashed(err))
            return
        if event is not None:
            self.report(event)

    async def _next(self) -> list[ev.Event]:
        """The next event, and every one queued behind it: a batch is decided on at once."""
        events = [await self.queue.get()]
        while not self.queue.empty():
            events.append(self.queue.get_nowait())
        return events

    def status(self) -> dict[str, Any]:
        return {"project": self.config.project, "pid": os.getpid(), "phase": self.phase, "error": self.board.error,
                "resources": self.board.snapshot()}

    def smoke_results(self) -> list[dict[str, Any]]:
        return [asdict(result) for result in self.board.smoke_results]

    def route(self, method: str, path: str) -> tuple[int, dict[str, Any]]:
        if (method, path) == ("GET", "/status"):
            return 200, self.status()
        if (method, path) == ("GET", "/snapshot"):  # devstack snapshot: the board, what was printed, smoke results
            return 200, {"status": self.status(), "output": list(self.context.console.history),
                         "smoke": self.smoke_results()}
        if method == "POST" and path.startswith("/trigger/"):
            name = path.removeprefix("/trigger/")
            if name not in self.board.resources and name not in self.config.images:
                return 404, {"error": f"no resource named {name!r}"}
            self.report(ev.Triggered(name))
            return 202, {"queued": name}
        if method == "POST" and path.startswith("/run/"):  # one of the [[commands]]; its output in the log
            name = path.removeprefix("/run/")
            if name not in {spec.name for spec in self.config.commands}:
                return 404, {"error": f"no command named {name!r}"}
            self.report(ev.CommandRequested(name))
            return 202, {"running": name}
        if (method, path) == ("POST", "/reconfigure"):  # devstack disable/enable wrote the project's choice
            # The disabled set is read with the config: reload it as an edit of devstack.toml would.
            self.report(ev.FilesChanged(frozenset({self.config.file})))
            return 202, {"reloading": True}
        if (method, path) == ("POST", "/stop"):
            self.stop.set()
            return 202, {"stopping": True}
        return 404, {"error": f"no route {method} {path}"}
