"""The providers' one readiness loop: the same rules on swarm and Kubernetes, driven here by a scripted probe."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence

import pytest

from devstack.errors import ReadinessError
from devstack.formats import timestamps
from devstack.providers.readiness import Probe, State, wait

READY, STARTING = State(True, "1/1 running", running=1, desired=1), State(False, "0/1 running", desired=1)


def scripted(*rounds: Sequence[tuple[str, State]]) -> tuple[Probe, list[float]]:
    """A probe whose assessments are `rounds`, one per call (the last repeats); the pauses it was asked for."""
    pauses: list[float] = []
    states: Iterator[Sequence[tuple[str, State]]] = iter(rounds)

    def assess() -> Sequence[tuple[str, State]]:
        return next(states, rounds[-1])

    return Probe(assess, pauses.append, lambda resource, state: [f"{resource}: last words"]), pauses


def test_it_waits_through_changes_until_every_resource_is_ready() -> None:
    probe, pauses = scripted([("relay", STARTING), ("sink", READY)], [("relay", READY), ("sink", READY)])
    wait(probe, 60)
    assert len(pauses) == 1 and 0 < pauses[0] <= 60  # paused once, for at most what was left


def test_a_fatal_state_ends_the_wait_at_once_with_its_reason_and_evidence() -> None:
    crashing = State(False, "pod relay-1: container relay: CrashLoopBackOff", fatal=True, pod="relay-1")
    probe, pauses = scripted([("sink", STARTING), ("relay", crashing)])
    with pytest.raises(ReadinessError) as caught:
        wait(probe, 60)
    assert caught.value.resource == "relay" and "CrashLoopBackOff" in str(caught.value)
    assert "relay: last words" in str(caught.value) and pauses == []


def test_time_up_names_the_first_resource_still_not_ready() -> None:
    probe, _ = scripted([("relay", READY), ("sink", STARTING)])
    with pytest.raises(ReadinessError) as caught:
        wait(probe, 0)
    assert caught.value.resource == "sink" and caught.value.reason == "not ready after 0s: 0/1 running"


def sleeping(*rounds: Sequence[tuple[str, State]]) -> tuple[Probe, list[float]]:
    """As `scripted`, each pause really sleeping (0.05 s at most: a change would wake it); the clock time of each
    assessment rather than the pauses."""
    probe, assessed = scripted(*rounds)[0], []

    def assess() -> Sequence[tuple[str, State]]:
        assessed.append(time.monotonic())
        return probe.assess()

    return Probe(assess, lambda seconds: time.sleep(min(seconds, 0.05)), probe.evidence), assessed


def test_a_crash_just_after_ready_fails_a_settling_wait() -> None:
    # ci's case: a container counted ready the instant it ran, then crash-looping.
    crashing = State(False, "pod canary-1: container canary: CrashLoopBackOff", fatal=True, pod="canary-1")
    probe, _ = sleeping([("canary", READY)], [("canary", STARTING)], [("canary", crashing)])
    with pytest.raises(ReadinessError) as caught:
        wait(probe, 60, settle_s=0.2)
    assert caught.value.resource == "canary" and "CrashLoopBackOff" in str(caught.value)


def test_the_settle_starts_again_after_a_break() -> None:
    probe, assessed = sleeping([("relay", READY)], [("relay", STARTING)], [("relay", READY)])
    wait(probe, 60, settle_s=0.3)
    returned = time.monotonic()
    # Ready at the first look, broken at the second: the 0.3 s count from the third, ready for good.
    assert len(assessed) > 3 and returned - assessed[2] >= 0.3 and assessed[2] - assessed[0] < 0.3


def test_without_a_settle_ready_at_once_returns_at_once() -> None:
    probe, pauses = scripted([("relay", READY)], [("relay", STARTING)])
    wait(probe, 60)
    assert pauses == []


def _stamped(seconds_ago: float) -> State:
    return State(True, "1/1 running", running=1, desired=1, ready_since=timestamps.rfc3339(time.time() - seconds_ago))


def test_time_already_spent_ready_by_the_orchestrators_record_counts_toward_the_settle() -> None:
    # A warm `ci`: everything has run for minutes, so there is nothing to sit out.
    probe, pauses = scripted([("relay", _stamped(600)), ("sink", _stamped(60))])
    wait(probe, 60, settle_s=2)
    assert pauses == []


def test_one_resource_just_ready_or_without_a_record_keeps_the_settle() -> None:
    for young in (_stamped(0), READY):  # ready this second; ready with no time of its own
        probe, pauses = scripted([("relay", _stamped(600)), ("sink", young)])
        wait(probe, 60, settle_s=0.2)
        assert pauses and 0 < pauses[0] <= 0.2
