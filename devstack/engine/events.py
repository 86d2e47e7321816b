"""What happens to the daemon, as typed events. Watchers, the observer, the control API and the steps running off
the loop report them into one queue; the loop applies each to the board (`Board.apply`, its one writer) and then
asks `decide()` what to do next.

    FilesChanged   the watcher: a batch of saved paths
    Triggered      `devstack trigger RESOURCE` (the control API, the dashboard's button)
    TriggerModeSet `devstack trigger-mode NAME auto|manual|reset` (the dashboard's switch): the runtime override
    SmokeAsked     the dashboard's "Run smoke tests": a cycle of the smoke tests alone
    CommandRequested  `POST /api/commands/NAME/run` (the dashboard's button): run one of the [[commands]]
    Observed       the observer: what the engine reports now (ready or not, since when)
    EngineAway     the observer: the engine or cluster cannot be reached
    EngineBack     the observer: it answers again
    RetryDue       the retry timer of a cycle that failed for a reason outside the files
    StepStarted    the loop: a step was handed to a task
    Planned, Building, Deploying, Waiting     a Converge step's progress (Waiting: held for depends_on)
    StepDone       a step's result: Reloaded, LocalRan, LiveUpdated, Converged, Smoked, CommandDone, CycleEnded
    StepCrashed    a step raised an unexpected exception (a bug): the daemon stops with it
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from devstack.engine.steps import Step
from devstack.providers.base import ResourceStatus
from devstack.smoke.result import Result


@dataclass(frozen=True)
class FilesChanged:
    paths: frozenset[Path]


@dataclass(frozen=True)
class Triggered:
    resource: str


@dataclass(frozen=True)
class TriggerModeSet:
    """A resource's trigger mode switched at run time (auto | manual), or None: back to devstack.toml's."""

    resource: str
    mode: str | None


@dataclass(frozen=True)
class CommandRequested:
    """`POST /api/commands/NAME/run` (the dashboard's button): run one of the [[commands]]."""

    name: str


@dataclass(frozen=True)
class SmokeAsked:
    pass


@dataclass(frozen=True)
class Observed:
    statuses: tuple[ResourceStatus, ...]


@dataclass(frozen=True)
class EngineAway:
    reason: str


@dataclass(frozen=True)
class EngineBack:
    pass


@dataclass(frozen=True)
class RetryDue:
    attempt: int  # as armed (steps.ArmRetry): a retry armed before a later cycle is stale and ignored


@dataclass(frozen=True)
class StepStarted:
    step: Step
    at: float  # time.monotonic(), stamped by the loop


@dataclass(frozen=True)
class Planned:
    """The deploy's resources are known (before any build): each gets a row, with the image it runs."""

    resources: tuple[str, ...]
    resource_images: dict[str, str]  # resource → the tag it runs
    tags: dict[str, str]  # image name → tag


@dataclass(frozen=True)
class Building:
    images: tuple[str, ...]  # image names


@dataclass(frozen=True)
class Deploying:
    resources: tuple[str, ...]


@dataclass(frozen=True)
class Waiting:
    """Resources held back until their dependencies are ready (depends_on): resource → what it waits on."""

    resources: dict[str, tuple[str, ...]]


@dataclass(frozen=True)
class StepDone:
    """A step ended; `error` (its message) when it failed, `temporary` when for a reason outside the files."""

    error: str = ""
    temporary: bool = False

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass(frozen=True)
class Reloaded(StepDone):
    project: str = ""  # the reloaded config's project
    disabled: frozenset[str] = frozenset()  # its disabled resources (devstack disable)


@dataclass(frozen=True)
class LiveUpdated(StepDone):
    image: str = ""
    files: int = 0
    containers: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Converged(StepDone):
    project: str = ""
    built: dict[str, float] = field(default_factory=dict)  # image name → its build's seconds
    tags: dict[str, str] = field(default_factory=dict)  # image name → tag
    resources: tuple[str, ...] = ()  # the deploy's resources (empty when it failed before its plan)
    resource_images: dict[str, str] = field(default_factory=dict)  # resource → tag
    changed: bool = False  # the deploy was applied (not unchanged)
    seconds: float = 0.0  # deploy + ready
    restarted: tuple[str, ...] = ()  # triggered resources restarted (nothing else changed them)
    steps: tuple[tuple[str, float], ...] = ()  # where its time went, step by step (`up -v`)
    at: str = ""  # ISO 8601: when it was ready


@dataclass(frozen=True)
class Smoked(StepDone):
    results: tuple[Result, ...] = ()
    about: tuple[str | None, ...] = ()  # each test's resource (None: the stack as a whole)
    seconds: float = 0.0


@dataclass(frozen=True)
class LocalRan(StepDone):
    name: str = ""
    seconds: float = 0.0
    at: str = ""  # ISO 8601: when it ended


@dataclass(frozen=True)
class CommandDone(StepDone):
    name: str = ""
    code: int = 0


@dataclass(frozen=True)
class CycleEnded(StepDone):
    retry_in: float | None = None
    seconds: float = 0.0  # from its beginning


@dataclass(frozen=True)
class StepCrashed:
    """A step raised what no step should (not a DevstackError): a bug. The loop stops with it."""

    error: BaseException


Event = (FilesChanged | Triggered | TriggerModeSet | SmokeAsked | CommandRequested | Observed | EngineAway | EngineBack
         | RetryDue | StepStarted | Planned | Building | Deploying | Waiting | Reloaded | LocalRan | LiveUpdated
         | Converged | Smoked | CommandDone | CycleEnded | StepCrashed)
