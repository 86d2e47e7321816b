"""Watch the cluster, not only the files: the board follows what the engine reports, and an engine that went
away and came back is noticed without any edit.

The provider blocks for a short window until something of the project changes (`Provider.wait_for_change`:
Docker events on swarm). On a change, and every REFRESH_S anyway, it reports what `Provider.status` says (an
Observed event), so `devstack status` reflects reality within seconds. When the engine cannot be reached the
observer says so once, reports EngineAway and retries with backoff; when it answers again it says so and reports
EngineBack, which makes the loop converge again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from devstack import blocking
from devstack.engine import events
from devstack.errors import DevstackError, TemporaryError
from devstack.observe.console import Console
from devstack.providers.base import Provider

WINDOW_S = 1.0  # one blocking wait for events; short, so a cancelled wait ends quickly
REFRESH_S = 15.0  # re-read the status even when no event came (a missed event must not leave it stale)


class Backoff:
    """1 s, 2 s, 4 s, … up to `cap_s`: retry soon, without hammering an engine that takes its time."""

    def __init__(self, first_s: float = 1.0, cap_s: float = 8.0) -> None:
        self.first_s, self.cap_s = first_s, cap_s
        self.next_s = first_s

    def next(self) -> float:
        delay, self.next_s = self.next_s, min(self.next_s * 2, self.cap_s)
        return delay

    def reset(self) -> None:
        self.next_s = self.first_s


async def observe(provider: Callable[[], Provider], report: Callable[[events.Event], None], console: Console,
                  project: str) -> None:
    """Run until cancelled. `provider` gives the current one: a reloaded config brings a new provider."""
    away = ""  # why the engine cannot be reached, while it cannot
    refused = ""  # the last error of an engine that answered, so that it is said once
    backoff = Backoff(cap_s=4.0)
    refreshed = 0.0
    while True:
        try:
            changed = await blocking.call(provider().wait_for_change, WINDOW_S)
            if changed or away or time.monotonic() - refreshed > REFRESH_S:
                report(events.Observed(tuple(await blocking.call(provider().status))))
                refreshed = time.monotonic()
        except TemporaryError as err:
            if not away:
                away = str(err).splitlines()[0]
                report(events.EngineAway(away))
                console.event(project, f"the engine went away ({away}); devstack retries and re-converges when it "
                              "is back", ok=False)
            await asyncio.sleep(backoff.next())
            continue
        except DevstackError as err:  # the engine answers but refused: say so once, keep the daemon going
            if str(err) != refused:
                refused = str(err)
                console.event(project, f"could not read the cluster's state: {refused.splitlines()[0]}", ok=False)
            await asyncio.sleep(backoff.next())
            continue
        refused = ""
        if away:
            away = ""
            backoff.reset()
            console.event(project, "the engine is back: re-converging", ok=True)
            report(events.EngineBack())
