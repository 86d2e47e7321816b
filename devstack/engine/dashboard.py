"""The daemon as its HTTP side sees it (devstack.web.backend.Backend): the board read as JSON, with each row's
latest cycle and endpoints, the log book, the smoke runs; and the requests (trigger, smoke tests, stop), which
go on the daemon's queue as events like any other."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from devstack.config import disabled, trigger_modes
from devstack.config.model import SWARM, Config, SmokeSpec
from devstack.config.smoke import HttpInject
from devstack.engine import events as ev
from devstack.engine import manual
from devstack.engine.state import Board, CycleRecord, Resource, SmokeRun
from devstack.engine.steps import Smoke
from devstack.observe.logbook import LogBook


class DaemonBackend:
    def __init__(self, board: Board, config: Callable[[], Config], book: LogBook, report: Callable[[ev.Event], None],
                 stop: Callable[[], None], snapshot: Callable[[], dict[str, Any]]) -> None:
        self.board, self._config, self.logs = board, config, book
        self._report, self._stop, self._snapshot = report, stop, snapshot

    @property
    def sink(self) -> str | None:
        return self._config().dashboard.sink

    def state(self) -> dict[str, Any]:
        board, config = self.board, self._config()
        project = board.cycles.get(config.project)
        return {"project": config.project, "provider": config.provider, "pid": os.getpid(), "phase": board.phase,
                "working": board.cycle is not None, "error": board.error,
                "cycle": asdict(project) if project else None,
                "smoke": {"runs": board.smoke_run_count, "running": isinstance(board.running, Smoke)},
                "commands": [{"name": c.name, "resource": c.resource, "description": c.description,
                              "state": board.commands.get(c.name)} for c in config.commands],
                "resources": [self._row(config, r) for r in self._rows()]}

    def _rows(self) -> list[Resource]:
        """Every row, the disabled ones too (removed from the cluster, but still the project's)."""
        rows = {**{name: Resource(name) for name in self.board.disabled}, **self.board.resources}
        return [rows[name] for name in sorted(rows)]

    def _row(self, config: Config, resource: Resource) -> dict[str, Any]:
        cycle: CycleRecord | None = self.board.cycles.get(resource.name)
        waiting = f"waiting on {', '.join(resource.waiting_on)}" if resource.waiting_on else ""
        return resource.to_json() | {
            "group": config.project, "kind": "service" if config.provider == SWARM else "workload",
            "since": resource.since, "reason": resource.last_error or waiting or resource.message,
            "trigger": manual.mode(self.board, config, resource.name),
            "trigger_override": self.board.trigger_modes.get(resource.name),
            "pending": len(self.board.held.get(resource.name, ())),
            "disabled": resource.name in self.board.disabled,
            "cycle": asdict(cycle) if cycle else None, "endpoints": endpoints(config, resource)}

    def smoke_runs(self) -> list[dict[str, Any]]:
        specs = {spec.name: spec for spec in self._config().smoke}
        return [run_json(run, specs) for run in self.board.smoke_runs]

    def snapshot(self) -> dict[str, Any]:
        return self._snapshot()

    def trigger(self, resource: str) -> None:
        known = sorted({*self.board.resources, *self._config().images})
        if resource not in known:
            raise LookupError(f"no resource named {resource!r}; the resources: {', '.join(known) or 'none yet'}")
        self._report(ev.Triggered(resource))

    def run_smoke(self) -> None:
        self._report(ev.SmokeAsked())

    def run_command(self, name: str) -> None:
        known = [spec.name for spec in self._config().commands]
        if name not in known:
            raise LookupError(f"no command named {name!r}; the commands: {', '.join(known) or 'none'}")
        self._report(ev.CommandRequested(name))

    def switch(self, resource: str, *, enable: bool) -> None:
        """`devstack enable` / `disable` for one resource: the choice written as the CLI writes it, then applied."""
        config = self._known(resource)
        disabled.write(config.state_dir, config.disabled - {resource} if enable else config.disabled | {resource})
        self.reconfigure()

    def set_trigger_mode(self, resource: str, mode: str) -> None:
        """`devstack trigger-mode`: auto | manual until reset, kept for the project and held on the board."""
        if mode not in trigger_modes.MODES:
            raise ValueError(f"no trigger mode {mode!r}; expected one of {', '.join(trigger_modes.MODES)}")
        config = self._known(resource)
        modes = trigger_modes.updated(trigger_modes.read(config.state_dir), resource, mode)
        trigger_modes.write(config.state_dir, modes)
        self._report(ev.TriggerModeSet(resource, modes.get(resource)))

    def _known(self, resource: str) -> Config:
        """The config of the moment, once `resource` is known to be one of the project's (else LookupError)."""
        config = self._config()
        known = {*self.board.resources, *(local.name for local in config.local), *config.resources, *config.disabled}
        if resource not in known:
            raise LookupError(f"no resource named {resource!r}; the resources: {', '.join(sorted(known)) or 'none'}")
        return config

    def reconfigure(self) -> None:
        """The project's choice of disabled resources changed: read the config again, as an edit of it would."""
        self._report(ev.FilesChanged(frozenset({self._config().file})))

    def stop(self) -> None:
        self._stop()


def run_json(run: SmokeRun, specs: dict[str, SmokeSpec]) -> dict[str, Any]:
    """A smoke run with each test's time span (they run one after the other) and, for an injecting test, whom it
    sent as and to: how the dashboard knows the messages it sent."""
    results, at = [], run.started
    for result in run.results:
        spec = specs.get(result.name)
        results.append(asdict(result) | {"started": at, "finished": at + result.seconds,
                                         "envelope": envelope(spec) if spec else None})
        at += result.seconds
    return {"id": run.id, "reason": run.reason, "started": run.started, "finished": at, "ok": run.ok,
            "results": results}


def envelope(spec: SmokeSpec) -> dict[str, Any] | None:
    if not isinstance(spec.options, HttpInject):
        return None
    payload = spec.options.payload
    recipients = [r["email"] for r in payload.get("recipients", []) if isinstance(r, dict) and "email" in r]
    return {"sender": payload.get("envelope_sender"), "recipients": recipients}


def endpoints(config: Config, resource: Resource) -> list[dict[str, str]]:
    """Its forwarded and published ports as links on 127.0.0.1, then the links devstack.toml gives it."""
    found: dict[str, str] = {}
    for port in resource.ports:  # "127.0.0.1:8000->8000/tcp"
        local = port.split("->", 1)[0].rpartition(":")[2]
        found.setdefault(f"http://127.0.0.1:{local}/", f"127.0.0.1:{local}")
    for forward in config.forwards:
        if forward.resource == resource.name:
            found.setdefault(f"http://127.0.0.1:{forward.local}/", f"127.0.0.1:{forward.local}")
    links = [{"name": name, "url": url} for url, name in found.items()]
    return links + [{"name": link.name, "url": link.url} for link in config.resource(resource.name).links]
