"""Port forwards the daemon keeps open: 127.0.0.1:local → 127.0.0.1:target, where the provider publishes the
resource's port. Each connection is piped both ways. A forward outlives redeploys and restarts of its target:
it only needs the target port to answer again, and the next connection gets through.

A local port already in use is an error naming the port and, when /proc tells, the process holding it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno

from devstack.errors import DevstackError, PortInUse
from devstack.observe import ports

_CHUNK = 64 * 1024


class Forwards:
    def __init__(self) -> None:
        self._servers: dict[int, tuple[int, asyncio.Server]] = {}  # local → (target, server)

    async def ensure(self, wanted: dict[int, int]) -> None:
        """Serve exactly these local → target forwards: start new ones, move or close changed ones."""
        for local in [p for p in self._servers if self._servers[p][0] != wanted.get(p)]:
            await self._close(local)
        for local, target in wanted.items():
            if local not in self._servers:
                self._servers[local] = (target, await _serve(local, target))

    async def close(self) -> None:
        for local in list(self._servers):
            await self._close(local)

    async def _close(self, local: int) -> None:
        _, server = self._servers.pop(local)
        server.close()
        await server.wait_closed()


async def _serve(local: int, target: int) -> asyncio.Server:
    async def pipe_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target)
        except OSError:
            writer.close()  # the target is (re)starting: this connection fails, the next one may not
            return
        await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))

    try:
        return await asyncio.start_server(pipe_client, "127.0.0.1", local)
    except OSError as err:
        if err.errno == errno.EADDRINUSE:
            raise PortInUse(f"forward: port 127.0.0.1:{local} is already in use{ports.holder(local)}; free it or "
                                "choose another `local` in [[forwards]]") from None
        raise DevstackError(f"forward: cannot listen on 127.0.0.1:{local}: {err.strerror}") from None


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(_CHUNK):
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass  # either side went away: close both
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()
