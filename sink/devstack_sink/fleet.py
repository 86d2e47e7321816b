"""The workers as the HTTP side sees them: ask all of them something, change their fault rules.

One worker runs in the HTTP process itself (LocalFleet). Several run as child processes sharing the
SMTP port (processes.ProcessFleet); each answers over its own control socket, so /stats is the exact
sum at the moment of the request, and /reset and /faults reach every worker before the HTTP reply.
"""

from __future__ import annotations

from typing import Any, Protocol

from devstack_sink import faults, processes, sockets, state, workers
from devstack_sink.options import Address, SinkOptions
from devstack_sink.workers import StartError

__all__ = ["Fleet", "LocalFleet", "StartError", "start"]


class Fleet(Protocol):
    smtp: Address  # where SMTP listens, with the real port when 0 was asked for
    size: int
    rules: tuple[faults.Rule, ...]

    async def ask(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        """One answer per worker that answered."""
        ...

    async def set_rules(self, rules: tuple[faults.Rule, ...]) -> None: ...

    def alive(self) -> int: ...

    async def close(self) -> None: ...


class LocalFleet:
    def __init__(self, options: SinkOptions) -> None:
        self.options, self.size, self.rules = options, 1, options.rules
        self.worker = state.WorkerState.new(0, options.rules, options.capture, options.capture_bytes)

    async def start(self) -> None:
        try:
            sock = sockets.listen(self.options.listen)
        except OSError as error:
            raise StartError(f"cannot listen on {self.options.listen}: {error.strerror}") from None
        self.smtp = sockets.address_of(sock)
        config = workers.WorkerConfig.of(self.options, 0, self.smtp, self.rules)
        self.server = await workers.serve_smtp(sock, self.worker, config)

    async def ask(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        return [state.handle(self.worker, request)]

    async def set_rules(self, rules: tuple[faults.Rule, ...]) -> None:
        self.rules = rules
        self.worker.faults.replace(rules)

    def alive(self) -> int:
        return 1

    async def close(self) -> None:
        self.server.close()


async def start(options: SinkOptions) -> Fleet:
    fleet: LocalFleet | processes.ProcessFleet
    fleet = LocalFleet(options) if options.workers == 1 else processes.ProcessFleet(options)
    await fleet.start()
    return fleet
