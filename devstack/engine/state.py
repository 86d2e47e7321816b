"""The board: the daemon's state, changed only by `Board.apply(event)` on the event loop, read by everyone (the
loop's `decide()`, `devstack status` through the control API, the live view, the dashboard).

It holds one row per resource, keyed by the resource's name (a swarm service or a Kubernetes workload, as the
deploy and the engine name them; never an image or the project), with typed states that the loop really sets:

    build    pending → building → ok | error, or live (files synced into it, not rebuilt)
    deploy   pending → deploying → ok | error
    ready    what the engine reports now
    smoke    None (no test yet) | ok | failed

Beside the rows: the project-level error (a config that did not reload, a failed pass, the engine away), the
phase (starting, then watching), the work pending for the next cycle and the cycle in progress; and what the
dashboard shows of the past: each row's latest cycle (numbered, with its lines) and the latest smoke runs.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from devstack.engine import events as ev
from devstack.engine.steps import (
    CYCLE_STEPS,
    BeginCycle,
    Converge,
    CycleStep,
    Hold,
    Ignore,
    LiveUpdate,
    RunCommand,
    RunLocal,
    Step,
    Work,
)
from devstack.formats import timestamps
from devstack.providers.base import ResourceStatus
from devstack.smoke.result import Result

BuildState = Literal["pending", "building", "ok", "error", "live"]
DeployState = Literal["pending", "deploying", "ok", "error"]
SmokeState = Literal["ok", "failed"]
Phase = Literal["starting", "watching"]
_AWAY = "the engine went away: "


@dataclass
class Resource:
    name: str
    image: str = ""  # the tag deployed
    build: BuildState = "pending"
    deploy: DeployState = "pending"
    ready: bool = False
    smoke: SmokeState | None = None
    updated_at: str | None = None
    last_error: str = ""
    waiting_on: tuple[str, ...] = ()  # dependencies (depends_on) it is held back for, during a deploy
    since: float = field(default_factory=time.time)  # when its running instance started (Unix time)
    ports: tuple[str, ...] = ()  # as the engine publishes them: "127.0.0.1:8000->8000/tcp"
    message: str = ""  # why it is not ready, as the engine says it

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data.pop("since")
        data["ports"] = list(self.ports)
        data["age_s"] = round(max(time.time() - self.since, 0.0), 1)
        return data


@dataclass
class Pending:
    """Work that arrived since the last cycle began: batched into the next one, none lost, none run twice."""

    paths: frozenset[Path] = frozenset()
    triggers: tuple[str, ...] = ()
    reason: str | None = None  # "the engine is back", "retry": converge though no file changed
    smoke: bool = False  # the smoke tests were asked for (the dashboard)

    def __bool__(self) -> bool:
        return bool(self.paths or self.triggers or self.reason or self.smoke)


@dataclass
class Cycle:
    """The cycle in progress: its work, the steps done, and the line each resource will get."""

    work: Work
    started: float  # time.monotonic() when it began
    done: set[str] = field(default_factory=set)  # "reload", "live relay", "converge", "smoke"
    lines: dict[str, list[str]] = field(default_factory=dict)  # resource → ["2 files changed", "built 1.8s"]
    ok: bool = True
    temporary: bool = False  # it failed for a reason outside the files
    refused: bool = False  # the config did not reload: the cycle ends there, the stack runs as it was
    planned: dict[str, str] = field(default_factory=dict)  # resource → the tag this cycle deploys
    building: set[str] = field(default_factory=set)  # resources whose image is being built
    deploying: set[str] = field(default_factory=set)
    breakdown: list[tuple[str, float]] = field(default_factory=list)  # (step, seconds), as the steps report

    def say(self, resource: str, text: str) -> None:
        self.lines.setdefault(resource, []).append(text)

    def fail(self, temporary: bool) -> None:
        self.ok, self.temporary = False, temporary


@dataclass(frozen=True)
class CycleRecord:
    """A row's (or the project's) latest cycle, as the dashboard shows it."""

    n: int  # the how-manieth cycle of that row
    steps: tuple[str, ...]  # "1 file changed", "synced to 1 container(s) 0.2s", "smoke ✓ 0.1s"
    seconds: float
    ok: bool
    at: float  # Unix time it ended


@dataclass(frozen=True)
class SmokeRun:
    """One run of the smoke tests, for the dashboard's smoke view and its timelines."""

    id: int
    reason: str  # first deploy | asked for | after a cycle
    started: float  # Unix time
    results: tuple[Result, ...]
    about: tuple[str | None, ...]  # each test's resource

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


SMOKE_RUNS_KEPT = 20


class Board:
    def __init__(self, project: str, disabled: frozenset[str] = frozenset(),
                 trigger_modes: dict[str, str] | None = None) -> None:
        self.project = project
        self.disabled = disabled  # `devstack disable`: shown on their rows, as the config says
        self.trigger_modes = dict(trigger_modes or {})  # `devstack trigger-mode`: overrides devstack.toml's
        self.resources: dict[str, Resource] = {}
        self.error = ""  # the latest problem of the project as a whole
        self.phase: Phase = "starting"
        self.pending = Pending()
        self.cycle: Cycle | None = None
        self.running: CycleStep | None = None  # the cycle's step in progress (one at a time)
        self.failures = 0  # cycles in a row that failed for a reason outside the files (the retry's backoff)
        self.retry_in: float | None = None  # armed after such a failure, until RetryDue or a new cycle
        self.images: dict[str, str] = {}  # image name → its tag, as last planned
        self.smoke_results: tuple[Result, ...] = ()  # the latest smoke tests' results
        self.held: dict[str, frozenset[Path]] = {}  # manual resources → their saves pending a trigger
        self.commands: dict[str, str] = {}  # [[commands]] run by the daemon: name → running | ok | exit N
        self.cycles: dict[str, CycleRecord] = {}  # row (or the project) → its latest cycle
        self.smoke_runs: collections.deque[SmokeRun] = collections.deque(maxlen=SMOKE_RUNS_KEPT)
        self.smoke_run_count = 0

    # --- reading -----------------------------------------------------------------------------------------------

    def get(self, name: str) -> Resource:
        """The row of `name`, or a blank one (not added) for a resource the board does not know (yet)."""
        return self.resources.get(name) or Resource(name)

    def snapshot(self) -> list[dict[str, object]]:
        rows = {**{name: Resource(name) for name in self.disabled}, **self.resources}
        return [{**r.to_json(), "pending": len(self.held.get(r.name, ())), "disabled": r.name in self.disabled,
                 "trigger_override": self.trigger_modes.get(r.name)}
                for r in sorted(rows.values(), key=lambda r: r.name)]

    def running_image(self, tag: str) -> list[Resource]:
        return [r for r in self.resources.values() if tag and r.image == tag]

    # --- the one writer ----------------------------------------------------------------------------------------

    def apply(self, event: ev.Event) -> None:
        match event:
            case ev.FilesChanged(paths):
                self.pending.paths |= paths
            case ev.Triggered(name):
                if name not in self.pending.triggers:
                    self.pending.triggers += (name,)
            case ev.TriggerModeSet(name, mode):
                if mode is None:
                    self.trigger_modes.pop(name, None)
                else:
                    self.trigger_modes[name] = mode
            case ev.SmokeAsked():
                self.pending.smoke = True
            case ev.EngineBack():
                self.pending.reason = self.pending.reason or "the engine is back"
            case ev.RetryDue(attempt):
                if self.cycle is None and self.retry_in is not None and attempt == self.failures:
                    self.pending.reason, self.retry_in = self.pending.reason or "retry", None
            case ev.Observed(statuses):
                self._observed(statuses)
            case ev.EngineAway(reason):
                for row in self.resources.values():
                    row.ready = False
                self.error = f"{_AWAY}{reason}"
            case ev.StepStarted(step, at):
                self._started(step, at)
            case ev.Planned() | ev.Building() | ev.Deploying() | ev.Waiting():
                self._progress(event)
            case ev.StepDone():
                self._done(event)

    def _observed(self, statuses: Iterable[ResourceStatus]) -> None:
        for status in statuses:
            resource = self._row(status.name)
            resource.ready, resource.ports, resource.message = status.ready, status.ports, status.message
            if status.started_at:
                resource.since = timestamps.unix(status.started_at)
        if self.error.startswith(_AWAY):
            self.error = ""

    def _started(self, step: Step, at: float) -> None:
        if isinstance(step, CYCLE_STEPS) and not isinstance(step, BeginCycle):
            self.running = step
        if isinstance(step, BeginCycle):
            self._begin(step.work, at)
        elif isinstance(step, LiveUpdate) and self.cycle:
            self.cycle.say(step.image, files_changed(len(step.files)))
        elif isinstance(step, RunLocal) and self.cycle:
            if step.files:
                self.cycle.say(step.name, files_changed(step.files))
            self._row(step.name).build = "building"
        elif isinstance(step, Converge) and self.cycle:
            for resource, text in step.opening:
                self.cycle.say(resource, text)
        elif isinstance(step, Ignore):
            self.pending.paths -= step.paths
        elif isinstance(step, Hold):
            self.held = dict(step.held)
        elif isinstance(step, RunCommand):
            self.commands[step.name] = "running"

    def _begin(self, work: Work, at: float) -> None:
        self.cycle = Cycle(work, started=at)
        self.pending.paths -= work.paths
        self.pending.triggers = tuple(t for t in self.pending.triggers if t not in work.triggers)
        if work.reason is not None and self.pending.reason == work.reason:
            self.pending.reason = None
        self.pending.smoke = self.pending.smoke and not work.smoke
        self.retry_in = None
        if work.reason is not None:
            self.cycle.say(self.project, work.reason)
        if work.smoke and not (work.changes or work.triggers or work.reason):
            self.cycle.say(self.project, "smoke tests asked for")

    def _progress(self, event: ev.Planned | ev.Building | ev.Deploying | ev.Waiting) -> None:
        cycle = self.cycle
        if cycle is None:
            return
        if isinstance(event, ev.Waiting):
            for name, deps in event.resources.items():
                self._row(name).waiting_on = deps
            return
        if isinstance(event, ev.Planned):
            self.images.update(event.tags)
            cycle.planned = dict(event.resource_images)
            for name in event.resources:
                self._row(name)
        elif isinstance(event, ev.Building):
            tags = {self.images.get(image) for image in event.images}
            cycle.building = {name for name, tag in cycle.planned.items() if tag in tags}
            for name in cycle.building:
                self._row(name).build = "building"
        else:
            cycle.deploying |= set(event.resources)
            for name in event.resources:
                row = self._row(name)
                row.deploy, row.waiting_on = "deploying", ()

    def _done(self, event: ev.StepDone) -> None:
        if isinstance(event, ev.CommandDone):  # beside the cycle: its step is not the cycle's
            self.commands[event.name] = "ok" if event.ok else f"exit {event.code}"
            return
        self.running = None
        cycle = self.cycle
        if isinstance(event, ev.CycleEnded):
            self._ended(event)
        elif cycle is None:
            return
        elif isinstance(event, ev.Reloaded):
            self._reloaded(cycle, event)
        elif isinstance(event, ev.LocalRan):
            self._local_ran(cycle, event)
        elif isinstance(event, ev.LiveUpdated):
            self._live_updated(cycle, event)
        elif isinstance(event, ev.Converged):
            self._converged(cycle, event)
        elif isinstance(event, ev.Smoked):
            self._smoked(cycle, event)

    def _reloaded(self, cycle: Cycle, event: ev.Reloaded) -> None:
        cycle.done.add("reload")
        if not event.ok:
            self.error, cycle.refused = event.error, True
            return
        self.project, self.error = event.project, ""
        changed = event.disabled ^ self.disabled
        self.disabled = event.disabled
        for name in changed:
            row = self._row(name)
            row.ready, row.deploy = False, "pending"
        said = "; ".join(f"{'disabled' if name in event.disabled else 'enabled'} {name}" for name in sorted(changed))
        cycle.say(self.project, said or "config reloaded")

    def _local_ran(self, cycle: Cycle, event: ev.LocalRan) -> None:
        cycle.done.add(f"local {event.name}")
        row = self._row(event.name)
        row.build, row.deploy, row.ready = ("ok", "ok", True) if event.ok else ("error", "pending", False)
        row.last_error, row.updated_at = first_line(event.error), event.at or row.updated_at
        if event.ok:
            cycle.say(event.name, f"ran {event.seconds:.1f}s")
            cycle.breakdown.append((f"local {event.name}", event.seconds))
            return
        cycle.fail(False)
        cycle.say(event.name, "failed")
        self.error = event.error

    def _live_updated(self, cycle: Cycle, event: ev.LiveUpdated) -> None:
        cycle.done.add(f"live {event.image}")
        touched = self.running_image(self.images.get(event.image, ""))
        if not event.ok:
            cycle.fail(event.temporary)
            cycle.say(event.image, "live update failed")
            self.error = event.error
            for resource in touched:
                resource.build, resource.last_error = "error", first_line(event.error)
            return
        cycle.say(event.image, f"synced to {event.containers} container(s) {event.seconds:.1f}s")
        cycle.breakdown.append((f"sync {event.image}", event.seconds))
        for resource in touched:
            resource.build, resource.last_error = "live", ""

    def _converged(self, cycle: Cycle, event: ev.Converged) -> None:
        cycle.done.add("converge")
        cycle.breakdown.extend(event.steps)
        if event.at:  # the pass got as far as ready: say what it did
            self._deployed(cycle, event)
        if not event.ok:
            cycle.fail(event.temporary)
            cycle.say(self.project, "deploy failed")
            self.error = event.error
            for name in cycle.building:
                self._row(name).build = "error"
            for name in cycle.deploying:
                self._row(name).deploy = "error"
            for name in cycle.building | cycle.deploying:
                self._row(name).last_error = first_line(event.error)
        cycle.building, cycle.deploying = set(), set()
        for row in self.resources.values():
            row.waiting_on = ()

    def _deployed(self, cycle: Cycle, event: ev.Converged) -> None:
        self.images.update(event.tags)
        for image, seconds in event.built.items():
            cycle.say(image, f"built {seconds:.1f}s")
        if event.changed:
            rebuilt = {event.tags[image] for image in event.built}
            touched = [r for r in event.resources if event.resource_images.get(r) in rebuilt]
            for name in touched:
                cycle.say(name, f"updated {event.seconds:.1f}s")
            if not touched:
                cycle.say(self.project, f"deployed {event.seconds:.1f}s")
        for name in event.resources:
            resource = self._row(name)
            image = event.resource_images.get(name, resource.image)
            # A live-updated resource stays "live" until a new image replaces what was synced into it.
            resource.build = "live" if resource.build == "live" and resource.image == image else "ok"
            resource.image, resource.deploy, resource.ready = image, "ok", True
            resource.updated_at, resource.last_error = event.at, ""
        for name in event.restarted:
            cycle.say(name, "restarted")
        if cycle.work.first:  # every resource took part: one that nothing happened to says so
            for name in event.resources:
                if name not in cycle.lines:
                    cycle.say(name, f"deployed {event.seconds:.1f}s" if event.changed else "up to date")

    def _smoked(self, cycle: Cycle, event: ev.Smoked) -> None:
        cycle.done.add("smoke")
        self.smoke_results = event.results
        self.smoke_run_count += 1
        work = cycle.work
        reason = "first deploy" if work.first else ("asked for" if work.smoke else "after a cycle")
        self.smoke_runs.append(SmokeRun(self.smoke_run_count, reason, time.time() - event.seconds, event.results,
                                        event.about))
        for resource in self.resources.values():
            # A test about no resource in particular speaks for all of them.
            mine = [r.ok for r, about in zip(event.results, event.about, strict=True) if about in (None, resource.name)]
            resource.smoke = ("ok" if all(mine) else "failed") if mine else None
        failed = [r.name for r in event.results if not r.ok]
        cycle.breakdown.append(("smoke", event.seconds))
        cycle.breakdown.extend((f"smoke:{r.name}", r.seconds) for r in event.results)
        mark = f"smoke ✓ {event.seconds:.1f}s" if not failed else f"smoke ✗ {', '.join(failed)}"
        for steps in cycle.lines.values():
            steps.append(mark)
        if not event.ok:
            cycle.fail(False)
            self.error = event.error

    def _ended(self, event: ev.CycleEnded) -> None:
        cycle, self.cycle, self.phase = self.cycle, None, "watching"
        if cycle is not None and not cycle.refused:
            self._record(cycle, event.seconds)
        self.retry_in = event.retry_in
        self.failures = self.failures + 1 if event.retry_in is not None else 0
        if cycle is not None and cycle.ok and not cycle.refused and not self.error.startswith(_AWAY):
            self.error = ""  # a failure stays on the board until a later cycle succeeds

    def _record(self, cycle: Cycle, seconds: float) -> None:
        """Each row's share of the cycle's lines: its own, and an image's for the rows that run that image."""
        shares: dict[str, list[str]] = {}
        for key, lines in cycle.lines.items():
            if key == self.project or key in self.resources:
                owners = [key]
            else:  # an image's line (built, synced): the rows running it
                owners = [r.name for r in self.running_image(self.images.get(key, ""))]
            for owner in owners:
                shares.setdefault(owner, []).extend(line for line in lines if line not in shares.get(owner, []))
        for name, lines in shares.items():
            number = self.cycles[name].n + 1 if name in self.cycles else 1
            self.cycles[name] = CycleRecord(number, tuple(lines), round(seconds, 2), cycle.ok, time.time())

    def _row(self, name: str) -> Resource:
        return self.resources.setdefault(name, Resource(name))


def first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


def files_changed(count: int) -> str:
    return f"{count} file{'s' if count != 1 else ''} changed"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
