"""Multiplexed logs: one follower per resource, each line printed with the resource's coloured prefix.

Followers run the provider's blocking stream in a thread. One that ends (its service was removed or
recreated) is started again after the next deploy, so logs follow across restarts and redeploys.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from devstack.observe.console import Console
from devstack.providers.base import Provider


class Followers:
    def __init__(self, console: Console) -> None:
        self.console = console
        self._threads: dict[str, threading.Thread] = {}
        self._stopped = threading.Event()

    def follow(self, provider: Provider, resources: Iterable[str]) -> None:
        since = time.time()
        for resource in resources:
            thread = self._threads.get(resource)
            if thread is not None and thread.is_alive():
                continue
            thread = threading.Thread(target=self._pump, args=(provider, resource, since), daemon=True,
                                      name=f"logs:{resource}")
            self._threads[resource] = thread
            thread.start()

    def stop(self) -> None:
        """Stop printing. The threads block in the engine's stream and end with the process."""
        self._stopped.set()

    def _pump(self, provider: Provider, resource: str, since: float) -> None:
        try:
            for line in provider.follow_logs(resource, since):
                if self._stopped.is_set():
                    return
                self.console.log_line(resource, line)
        except Exception as err:  # a broken stream must not take the daemon down; say so and let redeploy retry
            if not self._stopped.is_set():
                self.console.event(resource, f"log stream ended: {err}")
