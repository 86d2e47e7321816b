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
from devstack.formats import timestamps

_STAMP_S = 1.0  # Kubernetes stamps its conditions in whole seconds: a time read may be this much early


@dataclass(frozen=True)
class State:
    """How one resource (a swarm service, a Kubernetes workload) stands."""

    ready: bool
    reason: str  # "1/1 running"; why not, when not ready
    fatal: bool = False  # waiting longer cannot help: an image that cannot be pulled, a crash loop, a failed job
    running: int = 0
    desired: int = 0
    started_at: str = ""  # RFC 3339: when its youngest running task or pod started
    # RFC 3339: since when it has been ready without a break by the orchestrator's own record (its pods' Ready
    # condition and container starts, its tasks' running state); "" when it does not say.
    ready_since: str = ""
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


def ready_for(states: Sequence[State]) -> float:
    """Seconds every one of `states` has been ready by the orchestrator's record; 0 when one does not say."""
    if not states or not all(state.ready_since for state in states):
        return 0.0
    try:
        youngest = max(timestamps.unix(state.ready_since) for state in states)
    except ValueError:
        return 0.0
    return time.time() - youngest - _STAMP_S


def wait(probe: Probe, timeout_s: float, settle_s: float = 0.0) -> None:
    """Return once every resource is ready and has stayed so for `settle_s` without a break; raise ReadinessError
    naming a fatal one at once, or the first one still not ready after `timeout_s`.

    Why settle: a container with no readiness probe counts as ready the moment it runs, so one that exits right
    after it started is ready for an instant, and an orchestrator's own count (a Deployment's available
    replicas) says so too. `ci` gives its verdict once and settles; `up` watches on and needs not. The time
    already spent ready by the orchestrator's record counts: a warm `ci` of a stack that has run for minutes has
    nothing to sit out."""
    deadline = time.monotonic() + timeout_s
    ready_since: float | None = None
    while True:
        states = probe.assess()
        pending = [(resource, state) for resource, state in states if not state.ready]
        now = time.monotonic()
        if not pending:
            ready_since = now if ready_since is None else ready_since
            settled = max(now - ready_since, ready_for([state for _, state in states]))
            if settled >= settle_s or now >= deadline:
                return
            probe.pause(min(settle_s - settled, deadline - now))
            continue
        ready_since = None  # a break: the settle starts again once all are ready
        fatal = next(((resource, state) for resource, state in pending if state.fatal), None)
        remaining = deadline - now
        if fatal is not None or remaining <= 0:
            resource, state = fatal or pending[0]
            reason = state.reason if fatal else f"not ready after {timeout_s:.0f}s: {state.reason}"
            raise ReadinessError(resource, reason, probe.evidence(resource, state))
        probe.pause(remaining)
