"""Waiting for a deploy to be ready, the same way on every provider: one loop, one state type.

A provider plugs in three functions: how each resource stands now (`Probe.assess`), how to wait for the next
chance of a change (`Probe.pause`: a watch's wake-up on Kubernetes, a short poll on swarm), and which log lines
explain a resource that is not ready (`Probe.evidence`). The loop re-assesses until every resource is ready,
ends at once with a resource's reason when waiting longer cannot help (`State.fatal`), and otherwise names the
first resource still not ready when the time is up. Every pause goes through `blocking`, so Ctrl-C ends the wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from devstack.errors import ReadinessError


@dataclass(frozen=True)
class State:
    """How one resource (a swarm service, a Kubernetes workload) stands."""

    ready: bool
    reason: str  # "1/1 running"; why not, when not ready
    fatal: bool = False  # waiting longer cannot help: an image that cannot be pulled, a crash loop, a failed job
    running: int = 0
    desired: int = 0
    started_at: str = ""  # RFC 3339: when its youngest running task or pod started
    # Where the logs that tell the story are: the failed task's container (swarm), a pod and one of its
    # containers, of the crashed instance when `previous` (Kubernetes).
    pod: str = ""
    container: str = ""
    previous: bool = False


@dataclass(frozen=True)
class Probe:
    assess: Callable[[], Sequence[tuple[str, State]]]  # (resource, state) of every resource waited for
    pause: Callable[[float], None]  # wait at most this long for something to change (blocking, cancellable)
    evidence: Callable[[str, State], list[str]]  # the last log lines of a resource that is not ready


def wait(probe: Probe, timeout_s: float, settle_s: float = 0.0) -> None:
    """Return once every resource is ready and has stayed so for `settle_s` without a break; raise ReadinessError
    naming a fatal one at once, or the first one still not ready after `timeout_s`.

    Why settle: a container with no readiness probe counts as ready the moment it runs, so one that exits right
    after it started is ready for an instant, and an orchestrator's own count (a Deployment's available
    replicas) says so too. `ci` gives its verdict once and settles; `up` watches on and needs not."""
    deadline = time.monotonic() + timeout_s
    ready_since: float | None = None
    while True:
        pending = [(resource, state) for resource, state in probe.assess() if not state.ready]
        now = time.monotonic()
        if not pending:
            ready_since = now if ready_since is None else ready_since
            if now - ready_since >= settle_s or now >= deadline:
                return
            probe.pause(min(settle_s - (now - ready_since), deadline - now))
            continue
        ready_since = None  # a break: the settle starts again once all are ready
        fatal = next(((resource, state) for resource, state in pending if state.fatal), None)
        remaining = deadline - now
        if fatal is not None or remaining <= 0:
            resource, state = fatal or pending[0]
            reason = state.reason if fatal else f"not ready after {timeout_s:.0f}s: {state.reason}"
            raise ReadinessError(resource, reason, probe.evidence(resource, state))
        probe.pause(remaining)
