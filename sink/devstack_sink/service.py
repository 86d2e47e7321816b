"""One sink run: the workers and the HTTP API, started together and stopped together."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
from collections.abc import AsyncIterator, Callable

from devstack_sink import api, fleet, http, loops, sockets
from devstack_sink.options import Address, SinkOptions

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Running:
    smtp: Address  # the real addresses, when port 0 was asked for
    http: Address
    workers: fleet.Fleet

    def banner(self, loop_name: str) -> str:
        # One line on stdout that scripts (and tests) can read the ports from.
        return f"devstack-sink: smtp {self.smtp} http {self.http} workers {self.workers.size} loop {loop_name}"


@contextlib.asynccontextmanager
async def running(options: SinkOptions) -> AsyncIterator[Running]:
    workers = await fleet.start(options)
    try:
        try:
            server = await http.serve(options.http.host, options.http.port, api.Api(workers, options.capture))
        except OSError as error:
            raise fleet.StartError(f"cannot listen on {options.http} for HTTP: {error.strerror}") from None
        try:
            yield Running(workers.smtp, sockets.address_of(server.sockets[0]), workers)
        finally:
            server.close()
    finally:
        await workers.close()


async def serve(options: SinkOptions, announce: Callable[[str], None]) -> int:
    """Run until SIGTERM or SIGINT; both are a normal stop (exit 0), also as PID 1 in a container."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        # An explicit handler: PID 1 gets no default action for SIGTERM from the kernel.
        loop.add_signal_handler(signum, stop.set)
    async with running(options) as sink:
        announce(sink.banner(loops.name(loop)))
        await stop.wait()
        log.info("stopping")
    return 0
