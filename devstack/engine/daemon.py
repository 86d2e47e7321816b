"""The dev loop: watch files, and on each batch of changes do the least work that brings the stack up to date.

One place decides what to do next (`_reconcile`); the watcher, the control API and the log followers only
report into the queue or read the board. A cycle prints one line per resource with its steps and timings:

    relay    2 files changed → built 1.8s → updated 2.4s → smoke ✓ 0.3s (4.6s)

A failed step leaves the previous version running and stays on the board until a later cycle succeeds.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import blocking
from devstack.config.model import Config
from devstack.engine import changes as changesets
from devstack.engine import observer, smoke_session, tasks, watch
from devstack.engine.converge import Outcome, converge
from devstack.engine.state import Board
from devstack.errors import DevstackError, is_temporary
from devstack.images.builder import Builder, DockerBuilder
from devstack.observe import control, forwards, logs, view
from devstack.observe.console import Console
from devstack.providers import registry
from devstack.providers.base import Provider
from devstack.smoke import runner


@dataclass(frozen=True)
class Trigger:
    """`devstack trigger RESOURCE`: rebuild and restart it though no file changed."""

    resource: str


@dataclass(frozen=True)
class Reconverge:
    """Converge again though no file changed: the engine is back, or a retry after an outside failure is due."""

    reason: str  # "the engine is back", "retry"


@dataclass
class Cycle:
    """What one cycle did, for its summary lines."""

    steps: dict[str, list[str]] = field(default_factory=dict)  # resource → ["2 files changed", "built 1.8s"]
    ok: bool = True
    temporary: bool = False  # it failed for a reason outside the files: retry with backoff, no edit needed

    def add(self, resource: str, step: str) -> None:
        self.steps.setdefault(resource, []).append(step)


Event = set[Path] | Trigger | Reconverge


class Daemon:
    def __init__(self, config: Config, load: Callable[[], Config], make_provider: Callable[[Config], Provider],
                 console: Console, timeout_s: float, builder: Builder | None = None) -> None:
        self.config, self.load, self.make_provider = config, load, make_provider
        self.builder = builder or DockerBuilder()
        self.provider = make_provider(config)
        self.console, self.timeout_s = console, timeout_s
        self.board = Board()
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.stop = asyncio.Event()
        self.logs = logs.Followers(console)
        self.phase = "starting"  # then "watching", once the first pass is done
        self.working = False  # a pass or a cycle is in progress: stopping now interrupts it
        self.interrupted = False
        self.backoff = observer.Backoff()
        self.retry_in: float | None = None  # seconds until the retry of a pass that failed for an outside reason
        # The provider of the moment opens each connection: a reloaded config may bring a new one.
        self.forwards = forwards.Forwards(lambda forward: self.provider.connect(forward), console.event)

    async def run(self) -> None:
        """Serve the control API and watch from the start; do the first full pass, then reconcile changes until
        `stop` is set (Ctrl-C, SIGTERM, `devstack down`)."""
        server = control.Server(self.config, self.route)
        watched = changesets.roots(self.config)
        roots = {"control": server.serve(), "watch": watch.watch(watched, self.queue.put_nowait, self.stop),
                 "reconcile": self._first_then_reconcile(),
                 "observe": observer.observe(lambda: self.provider, self.board, self.console, self.config.project,
                                             lambda: self.queue.put_nowait(Reconverge("the engine is back")))}
        try:
            with self.console.live(view.renderer(lambda: (self.board.snapshot(), self.board.error))):
                await tasks.run_together(roots, self.stop)
            self.interrupted = self.working
        finally:
            await self.logs.stop()
            await self.forwards.close()
            self._close_provider()

    def route(self, method: str, path: str) -> tuple[int, dict[str, Any]]:
        if (method, path) == ("GET", "/status"):
            return 200, {"project": self.config.project, "pid": os.getpid(), "phase": self.phase,
                         "error": self.board.error, "resources": self.board.snapshot()}
        if method == "POST" and path.startswith("/trigger/"):
            name = path.removeprefix("/trigger/")
            if name not in self.board.resources and name not in self.config.images:
                return 404, {"error": f"no resource named {name!r}"}
            self.queue.put_nowait(Trigger(name))
            return 202, {"queued": name}
        if (method, path) == ("POST", "/stop"):
            self.stop.set()
            return 202, {"stopping": True}
        return 404, {"error": f"no route {method} {path}"}

    async def _first_then_reconcile(self) -> None:
        cycle = Cycle()
        self.working = True
        await self._converge(cycle, announce=True)
        await self._smoke(cycle, announce=True)
        self.working = False
        self._schedule_retry(cycle)
        if not cycle.ok and not cycle.temporary:
            self.console.error("the first pass failed: fix it and save; devstack retries on every change")
        self.phase = "watching"
        self.console.info("watching for changes (Ctrl-C stops watching; the stack keeps running)")
        await self._reconcile()

    async def _reconcile(self) -> None:
        while True:
            changes, trigger, again = self._collect(await self._next_event())
            while not self.queue.empty():  # batch what arrived meanwhile: none lost, none run twice
                more, more_trigger, more_again = self._collect(self.queue.get_nowait())
                changes.merge(more)
                trigger, again = trigger or more_trigger, again or more_again
            if changes or trigger or again:
                self.working = True
                cycle = await self._cycle(changes, trigger, again)
                self.working = False
                self._schedule_retry(cycle)

    async def _next_event(self) -> Event:
        if self.retry_in is None:
            return await self.queue.get()
        try:
            return await asyncio.wait_for(self.queue.get(), self.retry_in)
        except TimeoutError:
            return Reconverge("retry")

    def _schedule_retry(self, cycle: Cycle) -> None:
        """A pass that failed for an outside reason is retried with backoff; one whose cause is in the files
        waits for the next change. The message says which."""
        if cycle.ok or not cycle.temporary:
            self.retry_in = None
            self.backoff.reset()
            return
        self.retry_in = self.backoff.next()
        self.console.event(self.config.project, f"failed for a reason outside the files: retrying in "
                           f"{self.retry_in:.0f}s (no edit needed)", ok=False)

    def _collect(self, event: Event) -> tuple[changesets.Changes, Trigger | None, Reconverge | None]:
        if isinstance(event, Trigger):
            return changesets.Changes(), event, None
        if isinstance(event, Reconverge):
            return changesets.Changes(), None, event
        return changesets.classify(self.config, event), None, None

    async def _cycle(self, changes: changesets.Changes, trigger: Trigger | None, again: Reconverge | None) -> Cycle:
        started, cycle = time.monotonic(), Cycle()
        if again is not None:
            cycle.add(self.config.project, again.reason)
        if changes.config and not self._reload(cycle):
            return cycle
        for image, files in changes.live.items():
            await self._live_update(cycle, image, files)
        if changes.config or changes.deploy or changes.rebuild or trigger or again:
            for image, files in changes.rebuild.items():
                cycle.add(image, _files_changed(files))
            if changes.deploy:
                cycle.add(self.config.project, registry.deploy_inputs(self.config).what)
            await self._converge(cycle, trigger=trigger)
        if cycle.ok:
            await self._smoke(cycle)
        self._print(cycle, time.monotonic() - started)
        return cycle

    def _reload(self, cycle: Cycle) -> bool:
        try:
            config = self.load()
        except DevstackError as err:
            self.board.error = str(err)
            self.console.event(self.config.project, f"config not reloaded: {err} (the stack keeps running)", ok=False)
            return False
        self._close_provider()
        self.config, self.provider = config, self.make_provider(config)
        self.board.error = ""
        cycle.add(config.project, "config reloaded")
        return True

    async def _live_update(self, cycle: Cycle, image: str, files: list[Path]) -> None:
        spec = self.config.images[image]
        pairs = [(path, target) for path in files if (target := changesets.sync_target(spec, path)) is not None]
        restart = spec.live_update.restart if spec.live_update else ()
        started = time.monotonic()
        cycle.add(image, _files_changed(files))
        try:
            updated = await blocking.call(self.provider.sync, spec.ref, pairs, restart)
        except DevstackError as err:
            self._failed(cycle, image, "live update", err)
            return
        cycle.add(image, f"synced to {len(updated)} container(s) {time.monotonic() - started:.1f}s")
        self.board.update(image, build="live", last_error="")

    async def _converge(self, cycle: Cycle, *, announce: bool = False, trigger: Trigger | None = None) -> None:
        try:
            outcome = await converge(self.config, self.provider, self.console, self.timeout_s, announce=announce,
                                     builder=self.builder)
            self._record(cycle, outcome)
            await self.forwards.ensure(await blocking.call(self.provider.relayed))
            if trigger is not None and not outcome.changed_anything and outcome.deploy is not None:
                await blocking.call(self.provider.restart, trigger.resource)
                await blocking.call(self.provider.wait_ready, outcome.deploy, self.timeout_s)
                cycle.add(trigger.resource, "restarted")
        except DevstackError as err:
            self._failed(cycle, self.config.project, "deploy", err)

    def _record(self, cycle: Cycle, outcome: Outcome) -> None:
        for image, seconds in outcome.build_seconds.items():
            cycle.add(image, f"built {seconds:.1f}s")
        plan = outcome.deploy
        if plan is None:
            return
        if plan.changed:
            took = outcome.seconds.get("deploy", 0.0) + outcome.seconds.get("ready", 0.0)
            rebuilt = {outcome.images[image] for image in outcome.built}
            touched = [r for r in plan.resources if plan.resource_images.get(r) in rebuilt]
            for resource in touched:
                cycle.add(resource, f"updated {took:.1f}s")
            if not touched:
                cycle.add(self.config.project, f"deployed {took:.1f}s")
        self.board.deployed(list(plan.resources), dict(plan.resource_images))
        self.logs.follow(self.provider.follow_logs, plan.resources, since=time.time())

    async def _smoke(self, cycle: Cycle, *, announce: bool = False) -> None:
        if not self.config.smoke:
            return
        started = time.monotonic()
        results = await runner.run_all(self.config.smoke, self.provider.logs)
        if announce:  # the first pass shows every test's line, as `ci` does; later cycles sum them up
            for result in (r for r in results if r.ok):
                self.console.event("smoke", result.line(), ok=True)
        failed = [r for r in results if not r.ok]
        for resource in self.board.resources.values():
            # A test about no resource in particular speaks for all of them.
            mine = [r for r, spec in zip(results, self.config.smoke, strict=True)
                    if spec.resource in (None, resource.name)]
            resource.smoke = ("failed" if any(not r.ok for r in mine) else "ok") if mine else None
        took = time.monotonic() - started
        mark = f"smoke ✓ {took:.1f}s" if not failed else f"smoke ✗ {', '.join(r.name for r in failed)}"
        for steps in cycle.steps.values():
            steps.append(mark)
        if failed:
            cycle.ok = False
            try:
                smoke_session.report(failed, self.console)
            except DevstackError as err:
                self.board.error = str(err)

    def _close_provider(self) -> None:
        self.provider.close()

    def _failed(self, cycle: Cycle, resource: str, step: str, err: DevstackError) -> None:
        cycle.ok = False
        cycle.temporary = is_temporary(err)
        cycle.add(resource, f"{step} failed")
        self.board.update(resource, last_error=str(err).splitlines()[0])
        self.board.error = str(err)
        self.console.error(str(err))

    def _print(self, cycle: Cycle, seconds: float) -> None:
        for resource, steps in cycle.steps.items():
            if steps:
                self.console.event(resource, " → ".join(steps) + f" ({seconds:.1f}s)", ok=cycle.ok)


def _files_changed(files: list[Path]) -> str:
    return f"{len(files)} file{'s' if len(files) != 1 else ''} changed"
