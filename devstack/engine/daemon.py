"""The dev loop, as Tilt runs it: one loop takes the events, applies each to the board, asks `decide()` what to do
next, and hands each step to a task of its own. No step runs on the loop itself; each reports back as an event.

    watcher, observer, API and dashboard, steps ──events──▶ queue ──▶ Board.apply ──▶ decide ──steps──▶ tasks

A cycle prints one line per resource with its steps and timings:

    relay    2 files changed → built 1.8s → updated 2.4s → smoke ✓ 0.3s (4.6s)

and, with `up -v`, where the cycle's time went, step by step (build, deliver, apply, rollout, endpoints, smoke).

A failed step leaves the previous version running and stays on the board until a later cycle succeeds.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from devstack.config import trigger_modes
from devstack.config.model import Config
from devstack.config.secret_store import redact
from devstack.engine import changes as changesets
from devstack.engine import dashboard, execute, observer, tasks, watch
from devstack.engine import events as ev
from devstack.engine.decide import decide
from devstack.engine.state import Board, Phase
from devstack.engine.steps import BeginCycle, Hold, Ignore, Step
from devstack.formats import timestamps
from devstack.images.builder import Builder, DockerBuilder
from devstack.observe import forwards, logbook, logs, view
from devstack.observe.console import Console
from devstack.providers.base import LogLine, Provider
from devstack.web import control, serve


class Daemon:
    def __init__(self, config: Config, load: Callable[[], Config], make_provider: Callable[[Config], Provider],
                 console: Console, timeout_s: float, builder: Builder | None = None, web_port: int | None = None,
                 verbose: bool = False) -> None:
        self.board = Board(config.project, config.disabled, trigger_modes.read(config.state_dir))
        self.book = logbook.LogBook()  # the latest lines of each resource, for the dashboard
        self.web_port = web_port  # the dashboard's (0: any free port); None: no dashboard
        self.queue: asyncio.Queue[ev.Event] = asyncio.Queue()
        self.stop = asyncio.Event()
        self.interrupted = False
        # What the API and the dashboard read and ask: requests become events on the queue.
        self.backend = dashboard.DaemonBackend(self.board, lambda: self.config, self.book, self.report, self.stop.set,
                                               self.snapshot)
        self.context = execute.Context(
            config=config, provider=make_provider(config), load=load, make_provider=make_provider, console=console,
            builder=builder or DockerBuilder(), timeout_s=timeout_s, report=self.report, verbose=verbose,
            logs=logs.Followers(console, lambda resource, line: self._log_line(console, resource, line)),
            # The provider of the moment opens each connection: a reloaded config may bring a new one.
            forwards=forwards.Forwards(lambda forward: self.context.provider.connect(forward), console.event,
                                       lambda: self.context.provider.disconnect()))

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

    def _log_line(self, console: Console, resource: str, line: LogLine) -> None:
        """A service's line: on the console behind the resource's name, and in the book the dashboard reads;
        devstack's word about the stream on the console only, as an event."""
        logs.show(console, resource, line)
        if line.devstack:
            return
        self.book.add(resource, line.display(), line.source, timestamps.unix(line.time) if line.time else None)

    async def run(self) -> None:
        """Serve the API (and the dashboard) and watch from the start; run the loop (the first pass, then every
        change) until `stop` is set (Ctrl-C, SIGTERM, `devstack down`)."""
        token = secrets.token_urlsafe(24)
        async with serve.listening(self.backend, redact, token, control.socket_path(self.config),
                                   self.web_port) as listening:
            if listening.url:
                self.context.console.info(f"dashboard: {listening.url}")
            elif listening.problem:
                self.context.console.error(listening.problem)
            with control.published(self.config, control.Endpoint(os.getpid(), str(listening.socket), token,
                                                                  listening.url)):
                await self._watch()

    async def _watch(self) -> None:
        context = self.context
        watched = changesets.roots(self.config)
        roots = {"watch": watch.watch(watched, self._saved, self.stop),
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

    def snapshot(self) -> dict[str, Any]:
        """`devstack snapshot`: the board, what was printed, the smoke results."""
        return {"status": self.status(), "output": list(self.context.console.history), "smoke": self.smoke_results()}

    def smoke_results(self) -> list[dict[str, Any]]:
        return [asdict(result) for result in self.board.smoke_results]
