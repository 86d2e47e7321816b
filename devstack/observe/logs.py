"""Multiplexed logs: one follower per resource, each line printed with the resource's coloured prefix. The
daemon and `devstack logs -f` both follow through here.

A follower is a guarded asyncio task that runs a blocking stream of lines (a provider's `follow_logs`, handed in
as a function: this module knows no provider) through devstack.blocking, so stopping the daemon cancels it and
its thread with everything else. One that ends (its service was removed or recreated) is started again after the
next deploy, so logs follow across restarts and redeploys. When a config reload replaces the provider, `hand_over`
names the new provider's stream: each old stream that ends as the old provider closes goes on through the new one
at once, not at the next deploy, which may be hours away.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol

from devstack import blocking
from devstack.observe.console import Console


class Line(Protocol):
    """A line of a log as a provider tells it (providers.base.LogLine): shown as `display()`; `devstack` when it is
    devstack's own word about the stream rather than the service's."""

    @property
    def devstack(self) -> bool: ...

    def display(self) -> str: ...


def show(console: Console, resource: str, line: Line) -> None:
    """A service's line behind its resource's name; devstack's word about the stream as an event of the resource,
    never as if the service had printed it."""
    if line.devstack:
        console.event(resource, line.display(), ok=False)
    else:
        console.log_line(resource, line.display())


# (resource, since: a Unix time or None) → its lines as they come, blocking; ends when the resource is gone.
Stream = Callable[[str, float | None], Iterator[Line]]


# An old stream that ends this soon after a hand-over ended with its provider's close (one that keeps following
# through the old provider, as a swarm one does, and ends much later was removed: the next deploy follows it again).
_HANDOVER_S = 10.0


class Followers:
    def __init__(self, console: Console, on_line: Callable[[str, Any], None] | None = None) -> None:
        """`on_line(resource, line)`: where each line goes (default: the console, behind the resource's name)."""
        self.console = console
        self.on_line = on_line or (lambda resource, line: show(console, resource, line))
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._current: Stream | None = None  # the stream of the provider in use (the last `follow` or `hand_over`)
        self._handed_at = 0.0

    def follow(self, stream: Stream, resources: Iterable[str], since: float | None) -> None:
        """Follow each resource not followed yet, from `since` (a Unix time; None: from its first line)."""
        self._current = stream
        for resource in resources:
            task = self._tasks.get(resource)
            if task is None or task.done():
                self._tasks[resource] = asyncio.create_task(self._guarded(stream, resource, since),
                                                            name=f"logs {resource}")

    def hand_over(self, stream: Stream) -> None:
        """The provider was replaced: a stream of the old one that ends soon after (closed with it) goes on through
        `stream` from the moment of the hand-over, so the lines written while the old provider closed are not
        lost."""
        self._current, self._handed_at = stream, time.time()

    async def wait(self) -> None:
        """Until every stream has ended (its resource was removed)."""
        await asyncio.gather(*self._tasks.values())

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()

    async def _guarded(self, stream: Stream, resource: str, since: float | None) -> None:
        while True:
            try:
                await blocking.stream(self._pump, stream, resource, since)
            except Exception as err:  # a broken stream must not take the daemon down; say so and let redeploy retry
                self.console.event(resource, f"log stream ended: {err}")
                return
            # Bound methods: equal (not identical) when they are one provider's.
            if self._current is None or self._current == stream or time.time() - self._handed_at > _HANDOVER_S:
                return  # its resource is gone (or its service recreated): the next deploy follows it again
            stream, since = self._current, self._handed_at

    def _pump(self, stream: Stream, resource: str, since: float | None) -> None:
        for line in stream(resource, since):
            blocking.check()
            self.on_line(resource, line)
