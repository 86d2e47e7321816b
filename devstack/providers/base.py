"""The one interface every cluster provider implements, and the plain data that crosses it.

The engine drives a provider through: prepare → deliver images → plan → apply → wait_ready; and status, logs,
down on their own. Providers wrap blocking SDKs, so these methods are synchronous; the engine runs them off the
event loop. `connect` alone is a coroutine: forwarded connections are piped on the event loop.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from devstack.config.model import Forward
from devstack.networking.channel import Channel


@dataclass(frozen=True)
class DeployPlan:
    """What `apply` would do, computed without changing anything."""

    resources: tuple[str, ...]  # the services or workloads the deploy defines
    digest: str  # identifies the rendered document, including image tags
    changed: bool  # False: the cluster already runs exactly this; apply has nothing to do
    images: Mapping[str, str] = field(default_factory=dict)  # repository → tag injected
    resource_images: Mapping[str, str] = field(default_factory=dict)  # resource → the image it runs
    # The deploy itself as the provider rendered it (a stack file, Kubernetes objects): opaque to the engine,
    # handed back to apply and wait_ready. A plan is data, applied as it was planned, with no lookup in the
    # provider's memory.
    rendered: object = None


@dataclass(frozen=True)
class DeployInputs:
    """The files a deploy is made of, as its provider sees them: an edit of one redeploys without a build."""

    files: frozenset[Path] = frozenset()
    folders: tuple[Path, ...] = ()
    patterns: tuple[str, ...] = ()  # fnmatch patterns of absolute paths
    what: str = "deploy files changed"  # how the dev loop's line says it: "stack file changed"

    def __contains__(self, path: Path) -> bool:
        return (path in self.files or any(path.is_relative_to(folder) for folder in self.folders)
                or any(fnmatch.fnmatchcase(str(path), pattern) for pattern in self.patterns))


@dataclass(frozen=True)
class ResourceStatus:
    name: str
    ready: bool
    running: int
    desired: int
    image: str
    updated_at: str  # ISO 8601, as the engine reports it
    ports: tuple[str, ...] = ()  # "127.0.0.1:8000→8000/tcp"
    message: str = ""  # the latest task error, when not ready
    started_at: str = ""  # ISO 8601: when its running task or pod started ("" when none runs)


@dataclass(frozen=True)
class LogLine:
    """One line of a resource's log, as the engine tells it."""

    text: str
    time: str = ""  # RFC 3339, as the engine stamped it
    source: str = ""  # the task (swarm: service.slot.task) or pod/container (Kubernetes) that wrote it
    stream: str = ""  # stdout | stderr; "" where the engine does not tell (Kubernetes serves both as one)
    part: str = ""  # the container's name when its pod has several: shown before the text
    # devstack's own word about the stream (the cluster could not serve it), not a line of the service: shown as
    # devstack's, never as if the service had printed it.
    devstack: bool = False

    def display(self) -> str:
        return f"{self.part}: {self.text}" if self.part else self.text


@dataclass(frozen=True)
class DownOptions:
    volumes: bool = False
    images: bool = False
    # delete the whole cluster (kind, k3d, minikube clusters devstack manages); on swarm, leave the single-node
    # swarm devstack initialised, when nothing else uses it
    cluster: bool = False


@dataclass
class DownReport:
    removed: dict[str, int] = field(default_factory=dict)  # kind → count
    notes: list[str] = field(default_factory=list)
    refused: str = ""  # what was asked and not done, and why: `down` then exits 1

    def count(self, kind: str, n: int = 1) -> None:
        self.removed[kind] = self.removed.get(kind, 0) + n

    def summary(self) -> str:
        if not any(self.removed.values()):
            return "nothing to remove"
        return "removed " + ", ".join(f"{n} {kind if n > 1 else kind.removesuffix('s')}"
                                      for kind, n in self.removed.items() if n)


def silent(_message: str) -> None:
    """The note of a provider step when nobody is told (the daemon's later passes, tests)."""


class Provider(Protocol):
    name: str

    def prepare(self, note: Callable[[str], None] = silent) -> None:
        """Reach the engine or cluster; create it (a swarm, a kind cluster) when devstack may. `note` tells the
        user of a step that takes a while (creating a cluster, loading images into it), before and after it; the
        provider may keep it for its later steps."""

    def deliver(self, tags: Sequence[str]) -> None:
        """Make locally built images available to the cluster (a no-op where the cluster shares the engine)."""

    def plan(self, images: Mapping[str, str]) -> DeployPlan: ...

    def apply(self, plan: DeployPlan, resources: Collection[str] | None = None) -> list[str]:
        """Apply the plan; what the engine or cluster warned of, one line each (a deprecated field that a manifest
        sets), for the engine to show. With `resources` (a deploy in dependency order), only those resources are
        started or updated: every other object of the deploy is applied (networks, configs, Services), the other
        workloads are held back (not started when new, left as they run when they exist), and nothing is
        pruned."""

    def wait_ready(self, plan: DeployPlan, timeout_s: float, resources: Collection[str] | None = None,
                   settle_s: float = 0.0) -> Mapping[str, float] | None:
        """Return when every resource (or those of `resources`) is ready, and has stayed ready for `settle_s`
        (providers.readiness.wait); raise ReadinessError naming the first one that is not. What it returns,
        when anything: the seconds each phase of the wait took, in order (on Kubernetes the rollout, then the
        Services' endpoints), for `up -v`'s breakdown."""

    def status(self) -> list[ResourceStatus]: ...

    def logs(self, resource: str, tail: int = 20) -> list[str]: ...

    def log_lines(self, resource: str, tail: int | None, since: float | None) -> list[LogLine]:
        """The resource's log lines with their time, source and stream: the last `tail` of each task or container
        (None: all), from `since` (a Unix time; None: from the first)."""
        ...

    def follow_logs(self, resource: str, since: float | None = None) -> Iterator[LogLine]:
        """Lines of `resource`'s logs as they come (from `since`, a Unix time), across restarts and redeploys;
        blocking: the engine runs it in a thread. Ends when the resource is gone."""
        ...

    def sync(self, ref: str, files: Sequence[tuple[Path, str]], restart: Sequence[str]) -> list[str]:
        """Live update: copy (local file, path in container) pairs into every running container of image
        `ref` and run `restart` there; the names of the containers updated."""
        ...

    def exec(self, resource: str, command: Sequence[str]) -> tuple[int, str]:
        """Run `command` in a running container of `resource` ([[commands]] exec): its exit code and output."""
        ...

    def wait_for_change(self, timeout_s: float) -> bool:
        """Block until something of the project changes in the cluster (True) or `timeout_s` passes (False);
        raise EngineUnavailable when the engine or cluster cannot be reached."""
        ...

    def restart(self, resource: str) -> None:
        """Replace the resource's running instances with new ones of the same spec."""

    def relayed(self) -> tuple[Forward, ...]:
        """The [[forwards]] devstack must serve on 127.0.0.1 itself (observe/forwards.py): on swarm those the
        engine does not publish at their `local` port, on Kubernetes every one."""
        ...

    async def connect(self, forward: Forward) -> Channel:
        """A new connection to the forward's target as it is now (after a restart, the new task or pod); the
        one coroutine of the Protocol, as a connection lives on the daemon's event loop. Raises DevstackError
        when the target cannot be reached now."""
        ...

    async def disconnect(self) -> None:
        """Close what `connect` keeps open between connections (on Kubernetes, the tunnel to each pod), on the
        event loop the connections ran on."""

    def close(self) -> None:
        """Stop every background stream the provider started."""

    def down(self, options: DownOptions) -> DownReport: ...
