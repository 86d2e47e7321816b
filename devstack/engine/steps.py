"""What the daemon can do, as data: `decide()` returns these steps, the daemon runs each off its loop
(engine/execute.py) and the result comes back as an event (engine/events.py).

A cycle is a sequence of steps run one after the other: BeginCycle takes the pending work, then Reload (when
devstack.toml changed), a LiveUpdate per image whose synced files changed, Converge (build, deploy, wait until
ready), Smoke, and EndCycle, which says the cycle's lines. The other steps run beside a cycle: FollowLogs after
a deploy, ArmRetry after a cycle that failed for a reason outside the files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from devstack.engine.changes import Changes


@dataclass(frozen=True)
class Work:
    """What one cycle was started for: the files it takes (classified), the resources triggered by hand, and the
    reason to converge though no file changed ("the engine is back", "retry")."""

    paths: frozenset[Path] = frozenset()
    changes: Changes | None = None  # `paths`, classified against the config of the moment
    triggers: tuple[str, ...] = ()
    reason: str | None = None
    first: bool = False  # the first pass of `up`: every step announced, no cycle line
    smoke: bool = False  # the smoke tests were asked for (they run in every cycle that gets that far anyway)

    def needs_converge(self, local: frozenset[str] = frozenset()) -> bool:
        """`local`: the [[local]] resources, whose triggers and saves need no converge."""
        changes = self.changes or Changes()
        return (self.first or changes.config or changes.deploy or bool(changes.rebuild)
                or any(t not in local for t in self.triggers) or self.reason is not None)


@dataclass(frozen=True)
class BeginCycle:
    work: Work


@dataclass(frozen=True)
class Reload:
    """Read devstack.toml (and .env) again; a config that does not load leaves the stack as it runs."""


@dataclass(frozen=True)
class LiveUpdate:
    image: str
    files: tuple[Path, ...]


@dataclass(frozen=True)
class RunLocal:
    """A [[local]] resource's command, in the cycle (before the converge, or after it when it depends on a resource
    of the deploy); its `serve` is (re)started once it succeeded."""

    name: str
    files: int = 0  # saved files of its deps that call for it (0: the first pass, or a trigger)


@dataclass(frozen=True)
class Converge:
    triggers: tuple[str, ...] = ()  # restart these when nothing else changed them
    announce: bool = False  # a line per step (the first pass), else the cycle's line says it all
    opening: tuple[tuple[str, str], ...] = ()  # what the cycle's lines say first: ("relay", "2 files changed")


@dataclass(frozen=True)
class Smoke:
    announce: bool = False  # every test's line (the first pass), else a mark on the cycle's line


@dataclass(frozen=True)
class EndCycle:
    """Say what the cycle did, one line per resource, and what happens next."""

    started: float  # time.monotonic() when the cycle began
    lines: tuple[tuple[str, str], ...]  # (resource, "1 file changed → built 1.4s → …")
    ok: bool
    first: bool
    retry_in: float | None  # seconds until a retry: the cycle failed for a reason outside the files
    said: bool  # False: the cycle ended before any step (a refused config reload), nothing to say
    breakdown: tuple[tuple[str, float], ...] = ()  # (step, seconds) in order; a smoke test's as "smoke:NAME"


@dataclass(frozen=True)
class FollowLogs:
    resources: tuple[str, ...]


@dataclass(frozen=True)
class ArmRetry:
    delay_s: float
    attempt: int  # the board's count of failures in a row when armed: a later cycle makes this timer stale


@dataclass(frozen=True)
class Ignore:
    """Saved files that call for no work (a README, a file .dockerignore excludes): dropped from the pending."""

    paths: frozenset[Path]


@dataclass(frozen=True)
class Hold:
    """Saves of resources in manual mode (`trigger = "manual"`): kept pending, shown on their rows, until
    `devstack trigger NAME` takes them into one cycle. Only changes the board."""

    held: tuple[tuple[str, frozenset[Path]], ...]  # (resource, the saved paths it waits to be triggered for)


@dataclass(frozen=True)
class RunCommand:
    """One of the [[commands]], beside any cycle; its output goes to its resource's log."""

    name: str


CycleStep = BeginCycle | Reload | RunLocal | LiveUpdate | Converge | Smoke | EndCycle
Step = CycleStep | FollowLogs | ArmRetry | Ignore | Hold | RunCommand
CYCLE_STEPS = (BeginCycle, Reload, RunLocal, LiveUpdate, Converge, Smoke, EndCycle)
