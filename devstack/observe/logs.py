"""Multiplexed logs: one follower per resource, each line printed with the resource's coloured prefix. The
daemon and `devstack logs -f` both follow through here.

A follower is a guarded asyncio task that runs a blocking stream of lines (a provider's `follow_logs`, handed in
as a function: this module knows no provider) through devstack.blocking, so stopping the daemon cancels it and
its thread with everything else. One that ends (its service was removed or
recreated) is started again after the next deploy, so logs follow across restarts and redeploys.
"""

from __future__ import annotations

import asyncio
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


class Followers:
    def __init__(self, console: Console, on_line: Callable[[str, Any], None] | None = None) -> None:
        """`on_line(resource, line)`: where each line goes (default: the console, behind the resource's name)."""
        self.console = console
        self.on_line = on_line or (lambda resource, line: show(console, resource, line))
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def follow(self, stream: Stream, resources: Iterable[str], since: float | None) -> None:
        """Follow each resource not followed yet, from `since` (a Unix time; None: from its first line)."""
        for resource in resources:
            task = self._tasks.get(resource)
            if task is None or task.done():
                self._tasks[resource] = asyncio.create_task(self._guarded(stream, resource, since),
                                                            name=f"logs {resource}")

    async def wait(self) -> None:
        """Until every stream has ended (its resource was removed)."""
        await asyncio.gather(*self._tasks.values())

    async def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()

    async def _guarded(self, stream: Stream, resource: str, since: float | None) -> None:
        try:
            await blocking.stream(self._pump, stream, resource, since)
        except Exception as err:  # a broken stream must not take the daemon down; say so and let redeploy retry
            self.console.event(resource, f"log stream ended: {err}")

    def _pump(self, stream: Stream, resource: str, since: float | None) -> None:
        for line in stream(resource, since):
            blocking.check()
            self.on_line(resource, line)
