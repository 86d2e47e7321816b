"""The one task discipline: every background task is named, guarded and awaited.

A root task that fails or ends on its own stops the others (they stop together, as in kopf), and its error is
the daemon's error; cancelling the group cancels them all. Nothing is fire-and-forget.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger("devstack.tasks")


async def run_together(roots: dict[str, Coroutine[Any, Any, None]], stop: asyncio.Event) -> None:
    """Run the root coroutines until `stop` is set or one of them ends; then cancel the rest and wait for them.
    The first failure is re-raised."""
    tasks = [asyncio.create_task(coro, name=name) for name, coro in roots.items()]
    stopper = asyncio.create_task(stop.wait(), name="stop")
    try:
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in [*tasks, stopper]:
            task.cancel()
        await asyncio.gather(*tasks, stopper, return_exceptions=True)
    for task in done:
        if task is not stopper and not task.cancelled() and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]
    ended = [t.get_name() for t in done if t is not stopper]
    if ended and not stop.is_set():
        log.error("task %s ended unexpectedly", ", ".join(ended))
