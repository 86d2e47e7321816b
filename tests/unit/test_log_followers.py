"""The daemon's log followers across a config reload: the new provider's stream takes over each stream the old
provider's close ends, from the moment of the hand-over; a stream that ends long after it (its service removed)
waits for the next deploy as before. The streams are plain generators here; tests/realkube's long run shows the
same on the cluster."""

from __future__ import annotations

import asyncio
import io
import threading
import time
from collections.abc import Iterator

import pytest

from devstack import blocking
from devstack.observe import logs
from devstack.observe.console import Console
from devstack.providers.base import LogLine


class Provider:
    """A provider's follow_logs: one line, then blocks until the provider closes; records each call's `since`."""

    def __init__(self, name: str) -> None:
        self.name, self.closed, self.since = name, threading.Event(), list[float | None]()

    def follow_logs(self, resource: str, since: float | None) -> Iterator[LogLine]:
        self.since.append(since)
        yield LogLine(text=f"{self.name} {resource}")
        blocking.wait(self.closed, 3600)  # as a provider's stream does: stops when the follower is stopped


async def _lines(count: int, seen: list[str]) -> None:
    while len(seen) < count:
        await asyncio.sleep(0.01)


async def _handed_over(seen: list[str]) -> tuple[logs.Followers, Provider, Provider]:
    """Followers on the old provider's stream of the relay, its first line seen, handed over to a new provider."""
    followers = logs.Followers(Console(io.StringIO()), lambda _resource, line: seen.append(line.display()))
    old, new = Provider("old"), Provider("new")
    followers.follow(old.follow_logs, ["relay"], since=None)
    await asyncio.wait_for(_lines(1, seen), 5)
    followers.hand_over(new.follow_logs)
    return followers, old, new


def test_a_stream_the_old_provider_closes_goes_on_through_the_new_one() -> None:
    async def scenario() -> tuple[list[str], Provider]:
        seen: list[str] = []
        followers, old, new = await _handed_over(seen)
        old.closed.set()
        await asyncio.wait_for(_lines(2, seen), 5)
        await followers.stop()
        return seen, new

    before = time.time()
    seen, new = asyncio.run(scenario())
    assert seen == ["old relay", "new relay"]
    assert len(new.since) == 1 and new.since[0] is not None and before <= new.since[0] <= time.time()


def test_a_stream_that_ends_long_after_the_hand_over_waits_for_the_next_deploy(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "_HANDOVER_S", 0.0)

    async def scenario() -> tuple[list[str], Provider]:
        seen: list[str] = []
        followers, old, new = await _handed_over(seen)
        await asyncio.sleep(0.05)
        old.closed.set()  # the service was removed, long (for this test) after the reload
        await asyncio.wait_for(followers.wait(), 5)
        return seen, new

    seen, new = asyncio.run(scenario())
    assert seen == ["old relay"] and new.since == []
