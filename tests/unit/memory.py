"""An engine in memory: a real implementation of the Provider protocol and of the image Builder, for testing the
reconciler without Docker or Kubernetes. Its waits go through devstack.blocking as the real providers' do, so
cancellation is exercised for real; `hang` makes one stage block until it is cancelled, `up` takes the engine
away, and `restart()` loses what ran on it, as a dockerd restart without swarm would."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from devstack import blocking
from devstack.config.model import Config, Forward, ImageSpec
from devstack.errors import DeployError, EngineUnavailable
from devstack.images import build, plan
from devstack.networking.channel import Channel
from devstack.providers.base import DeployPlan, DownOptions, DownReport, LogLine, ResourceStatus, silent

_TICK_S = 0.02


@dataclass
class Engine:
    up: bool = True
    hang: str = ""  # a stage that blocks until cancelled: prepare, plan, build, apply, ready, sync
    broken_plan: str = ""  # a DeployError the plan raises: a mistake in the files
    images: set[str] = field(default_factory=set)
    running: dict[str, str] = field(default_factory=dict)  # resource → the digest it runs
    started: dict[str, str] = field(default_factory=dict)  # resource → when its instance started (ISO 8601)
    calls: list[str] = field(default_factory=list)
    applied: list[tuple[str, ...]] = field(default_factory=list)  # the resources of each apply, in order
    waited: list[tuple[str, ...]] = field(default_factory=list)  # the resources of each readiness wait
    changed: threading.Event = field(default_factory=threading.Event)

    def step(self, stage: str) -> None:
        """Every call starts here: the engine must answer, and a hanging stage blocks until cancelled."""
        self.calls.append(stage)
        if not self.up:
            raise EngineUnavailable("the in-memory engine is down")
        while self.hang == stage:
            blocking.sleep(_TICK_S)

    def restart(self) -> None:
        self.running.clear()
        self.changed.set()


class MemoryBuilder:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def plan(self, config: Config) -> plan.ImagePlan:
        self.engine.step("images")
        targets = plan.scan(list(config.images.values()))
        return plan.ImagePlan(targets, tuple(t for t in targets if t.tag not in self.engine.images))

    def build_base(self, spec: ImageSpec, log: Callable[[str], None]) -> None:
        self.engine.step("base")

    def build(self, target: build.Target, project: str, on_line: Callable[[str, str], None]) -> None:
        self.engine.step("build")
        self.engine.images.add(target.tag)


class MemoryProvider:
    name = "memory"

    def __init__(self, engine: Engine, resources: tuple[str, ...] = ("web",)) -> None:
        self.engine, self.resources = engine, resources

    def prepare(self, note: Callable[[str], None] = silent) -> None:
        self.engine.step("prepare")

    def deliver(self, tags: Sequence[str]) -> None:
        self.engine.step("deliver")

    def plan(self, images: Mapping[str, str]) -> DeployPlan:
        self.engine.step("plan")
        if self.engine.broken_plan:
            raise DeployError(self.engine.broken_plan)
        digest = hashlib.sha256(repr(sorted(images.items())).encode()).hexdigest()[:12]
        current = all(self.engine.running.get(r) == digest for r in self.resources)
        return DeployPlan(self.resources, digest, changed=not current, images=images,
                          resource_images={r: next(iter(images.values()), "") for r in self.resources})

    def apply(self, plan: DeployPlan, resources: Collection[str] | None = None) -> list[str]:
        self.engine.step("apply")
        now = datetime.now(UTC).isoformat()
        for resource in plan.resources if resources is None else sorted(resources):
            self.engine.running[resource] = plan.digest
            self.engine.started[resource] = now
        self.engine.applied.append(tuple(sorted(resources or plan.resources)))
        return []

    def wait_ready(self, plan: DeployPlan, timeout_s: float, resources: Collection[str] | None = None,
                   settle_s: float = 0.0) -> None:
        self.engine.step("ready")
        self.engine.waited.append(tuple(sorted(resources or plan.resources)))

    def status(self) -> list[ResourceStatus]:
        self.engine.step("status")
        return [ResourceStatus(r, r in self.engine.running, int(r in self.engine.running), 1, "", "",
                               started_at=self.engine.started.get(r, "")) for r in self.resources]

    def logs(self, resource: str, tail: int = 20) -> list[str]:
        return []

    def log_lines(self, resource: str, tail: int | None, since: float | None) -> list[LogLine]:
        return []

    def follow_logs(self, resource: str, since: float | None = None) -> Iterator[LogLine]:
        while True:  # a log stream that never ends by itself, as a real one
            blocking.sleep(_TICK_S)
            yield from ()

    def sync(self, ref: str, files: Sequence[tuple[Path, str]], restart: Sequence[str]) -> list[str]:
        self.engine.step("sync")
        return list(self.resources)

    def exec(self, resource: str, command: Sequence[str]) -> tuple[int, str]:
        self.engine.step("exec")
        return 0, " ".join(command) + "\n"

    def wait_for_change(self, timeout_s: float) -> bool:
        self.engine.step("events")
        changed = blocking.wait(self.engine.changed, timeout_s)
        self.engine.changed.clear()
        return changed

    def restart(self, resource: str) -> None:
        self.engine.step("restart")

    def relayed(self) -> tuple[Forward, ...]:
        return ()

    async def connect(self, forward: Forward) -> Channel:
        raise DeployError("the in-memory engine publishes no ports")

    async def disconnect(self) -> None:
        pass

    def close(self) -> None:
        pass

    def down(self, options: DownOptions) -> DownReport:
        self.engine.running.clear()
        return DownReport()
