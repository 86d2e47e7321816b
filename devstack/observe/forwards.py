"""Port forwards: devstack listens on 127.0.0.1:local for each [[forwards]] entry the provider does not serve itself
and pipes every connection it accepts to a channel the provider opens to the target at that moment
(`Provider.connect`: a published port on swarm, a pod's portforward stream on Kubernetes). The daemon, `ci` and
`smoke` all forward through here.

A forward outlives redeploys and restarts of its target: a connection made while the target is away fails, and
the next one gets through. Each connection is an asyncio task of its own, cancelled on `close`. A local port
already in use is an error naming the port and, when /proc tells, the process holding it.

    forwards = Forwards(provider.connect, console.event, provider.disconnect)
    await forwards.ensure(await blocking.call(provider.relayed))    # after every deploy
    ...
    await forwards.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import functools
from collections.abc import Awaitable, Callable, Collection, Sequence

from devstack.config.model import Forward
from devstack.errors import DevstackError, PortInUse
from devstack.networking import ports
from devstack.networking.channel import CHUNK, Channel

Connect = Callable[[Forward], Awaitable[Channel]]
Disconnect = Callable[[], Awaitable[None]]
OnEvent = Callable[[str, str], None]  # (resource, message), for the console


async def _nothing() -> None:
    return None


class Forwards:
    def __init__(self, connect: Connect, on_event: OnEvent, disconnect: Disconnect = _nothing) -> None:
        """`disconnect`: closes what `connect` keeps open between connections (Provider.disconnect), once the
        forwards are closed."""
        self._connect, self._on_event, self._disconnect = connect, on_event, disconnect
        self._servers: dict[int, tuple[Forward, asyncio.Server]] = {}
        self._connections: set[asyncio.Task[None]] = set()
        self._failing: set[int] = set()  # local ports whose last connection failed: said once until one succeeds

    async def ensure(self, wanted: Sequence[Forward]) -> None:
        """Serve exactly these forwards: start new ones, move or close changed ones. A taken port raises
        PortInUse (an outside reason: the daemon retries); the forwards started before it keep serving, and the
        next call starts the rest."""
        by_local = {forward.local: forward for forward in wanted}
        for local in [p for p, (forward, _) in self._servers.items() if by_local.get(p) != forward]:
            await self._close(local)
        for local, forward in by_local.items():
            if local not in self._servers:
                self._servers[local] = (forward, await self._serve(forward))

    @property
    def serving(self) -> frozenset[int]:
        """The local ports these forwards listen on now."""
        return frozenset(self._servers)

    async def close(self) -> None:
        for local in list(self._servers):
            await self._close(local)
        connections = list(self._connections)
        for task in connections:
            task.cancel()
        await asyncio.gather(*connections, return_exceptions=True)
        await self._disconnect()

    async def _close(self, local: int) -> None:
        _, server = self._servers.pop(local)
        server.close()
        await server.wait_closed()

    async def _serve(self, forward: Forward) -> asyncio.Server:
        try:
            return await asyncio.start_server(functools.partial(self._accepted, forward), "127.0.0.1",
                                              forward.local)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise PortInUse(_taken(forward, ports.holder(forward.local))) from None
            raise DevstackError(f"{_where(forward)}: {err.strerror}") from None

    def _accepted(self, forward: Forward, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # A task of our own rather than the one asyncio makes of a coroutine callback: close() cancels it, and
        # asyncio would report every cancelled one as an error.
        task = asyncio.create_task(self._connection(forward, reader, writer), name=f"forward {forward.local}")
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _connection(self, forward: Forward, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            channel = await self._connect(forward)
            try:
                await pipe(reader, writer, channel)
            finally:
                await channel.close()
            self._failing.discard(forward.local)
        except DevstackError as err:
            if forward.local not in self._failing:  # once, not at every retry of a client waiting for a restart
                self._failing.add(forward.local)
                self._on_event(forward.resource, f"forward 127.0.0.1:{forward.local}: {err}")
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()


def check_free(wanted: Sequence[Forward], serving: Collection[int] = ()) -> None:
    """Before anything is built: a forward whose local port another process holds (another project's forward, a
    program of this machine) is refused, naming the holder. Ports this process serves already are its own:
    `serving`, the ones its forwards listen on, are not looked at (finding a port's holder reads the kernel's
    socket table, 10 ms a port here, on the path from a save to green)."""
    for forward in wanted:
        if forward.local in serving:
            continue
        holder = ports.held_by_another(forward.local)
        if holder is not None:
            raise PortInUse(_taken(forward, holder))


def _where(forward: Forward) -> str:
    return f"cannot forward 127.0.0.1:{forward.local} to {forward.resource}:{forward.remote}"


def _taken(forward: Forward, holder: str) -> str:
    return (f"{_where(forward)}: port {forward.local} is already in use{holder}; stop what listens there or change "
            "the forward's `local` in devstack.toml")


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, channel: Channel) -> None:
    """Copy both ways until the target's side ends. The client's end of sending is passed on, and its answer
    still awaited (an HTTP client may half-close after its request); a client gone away ends both."""

    async def upstream() -> None:
        while data := await reader.read(CHUNK):
            await channel.write(data)
        await channel.write_eof()

    async def downstream() -> None:
        while data := await channel.read():
            writer.write(data)
            await writer.drain()

    sending, answering = asyncio.create_task(upstream()), asyncio.create_task(downstream())
    try:
        await asyncio.wait((sending, answering), return_when=asyncio.FIRST_COMPLETED)
        if not answering.done() and sending.exception() is None:
            await answering
    finally:
        for task in (sending, answering):
            task.cancel()
        outcomes = await asyncio.gather(sending, answering, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, DevstackError):
            raise outcome
        if isinstance(outcome, Exception) and not isinstance(outcome, (ConnectionError, OSError)):
            raise outcome
