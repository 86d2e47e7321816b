"""The daemon's loopback forwards: bytes go both ways, a restarted target is reached again, and a taken local
port is an error naming the port and the process holding it."""

from __future__ import annotations

import asyncio
import os
import socket

import pytest

from devstack.errors import DevstackError
from devstack.observe.forwards import Forwards


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def echo_server(port: int, prefix: bytes) -> asyncio.Server:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(prefix + await reader.readline())
        await writer.drain()
        writer.close()

    return await asyncio.start_server(echo, "127.0.0.1", port)


async def ask(port: int, line: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(line)
    await writer.drain()
    answer = await reader.read()
    writer.close()
    return answer


async def test_a_forward_pipes_both_ways_and_survives_a_restart_of_its_target() -> None:
    local, target = free_port(), free_port()
    forwards = Forwards()
    server = await echo_server(target, b"v1 ")
    try:
        await forwards.ensure({local: target})
        assert await ask(local, b"hello\n") == b"v1 hello\n"
        server.close()
        await server.wait_closed()
        assert await ask(local, b"gone\n") == b""  # the target is down: this connection closes, the forward stays
        server = await echo_server(target, b"v2 ")  # redeployed on the same published port
        assert await ask(local, b"again\n") == b"v2 again\n"
    finally:
        server.close()
        await forwards.close()
    with pytest.raises(OSError):
        await ask(local, b"closed\n")


async def test_a_moved_target_is_followed() -> None:
    local, first, second = free_port(), free_port(), free_port()
    forwards = Forwards()
    one, two = await echo_server(first, b"one "), await echo_server(second, b"two ")
    try:
        await forwards.ensure({local: first})
        assert await ask(local, b"x\n") == b"one x\n"
        await forwards.ensure({local: second})
        assert await ask(local, b"x\n") == b"two x\n"
    finally:
        one.close()
        two.close()
        await forwards.close()


async def test_a_taken_local_port_names_the_process_holding_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(DevstackError, match=rf"port 127.0.0.1:{port} is already in use by pid {os.getpid()} "):
            await Forwards().ensure({port: free_port()})
