"""One forwarded connection's way to its target, as the daemon's forwards see it: bytes in, bytes out, on the event
loop. A provider opens one per accepted connection (`Provider.connect`); the daemon pipes it to the client.

    channel = await provider.connect(forward)    # raises DevstackError when the target cannot be reached now
    await channel.write(b"EHLO me\\r\\n")
    answer = await channel.read()                # b"" when the target closed
    await channel.close()

Swarm publishes ports on 127.0.0.1, so its channel is a TCP connection (`open_tcp`); Kubernetes speaks the
portforward websocket protocol to the API server (providers/kubernetes/portforward.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Protocol

from devstack.errors import DeployError

CHUNK = 64 * 1024


class Channel(Protocol):
    async def read(self) -> bytes:
        """The next bytes from the target; b"" once it closed. Raises DevstackError when the target's side failed
        in a way worth telling (a Kubernetes error channel)."""
        ...

    async def write(self, data: bytes) -> None: ...

    async def write_eof(self) -> None:
        """The client has nothing more to send; the target's answer may still come."""

    async def close(self) -> None: ...


class TcpChannel:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader, self._writer = reader, writer

    async def read(self) -> bytes:
        try:
            return await self._reader.read(CHUNK)
        except (ConnectionError, OSError):
            return b""  # reset by the target: the same as closed, for the client

    async def write(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def write_eof(self) -> None:
        if self._writer.can_write_eof():
            with contextlib.suppress(OSError):
                self._writer.write_eof()

    async def close(self) -> None:
        self._writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await self._writer.wait_closed()


async def open_tcp(port: int, what: str) -> TcpChannel:
    """A connection to 127.0.0.1:`port`, where the engine publishes `what` ("relay:8000")."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as err:
        reason = os.strerror(err.errno).lower() if err.errno else str(err)
        raise DeployError(f"{what}, published at 127.0.0.1:{port}, does not answer ({reason}): is it (re)starting?"
                          ) from None
    return TcpChannel(reader, writer)
