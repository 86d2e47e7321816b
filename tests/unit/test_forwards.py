"""The one forwarding mechanism (observe/forwards.py), over real loopback sockets, with TCP channels as swarm opens
them: bytes go both ways, a half-closed request still gets its answer, a restarted target is reached again and
a failure is said once, close ends open connections, and a taken local port is an error naming the process."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable

import pytest

from devstack.config.model import Forward
from devstack.errors import DevstackError
from devstack.networking import ports
from devstack.networking.channel import Channel, open_tcp
from devstack.observe.forwards import Forwards, check_free


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Published:
    """Where each forward's target is published now, as a provider knows it; connect opens a TCP channel there."""

    def __init__(self) -> None:
        self.ports: dict[int, int] = {}  # local → published
        self.events: list[str] = []

    async def connect(self, forward: Forward) -> Channel:
        return await open_tcp(self.ports[forward.local], f"{forward.resource}:{forward.remote}")

    def forwards(self) -> Forwards:
        return Forwards(self.connect, lambda resource, message: self.events.append(f"{resource}: {message}"))


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def forward_to(handler: Handler) -> tuple[asyncio.Server, Forwards, int]:
    """A target served by `handler` and a forward to it; the forward's local port."""
    local, target = free_port(), free_port()
    published = Published()
    published.ports[local] = target
    server = await asyncio.start_server(handler, "127.0.0.1", target)
    forwards = published.forwards()
    await forwards.ensure([Forward("web", local, 80)])
    return server, forwards, local


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
    published = Published()
    published.ports[local] = target
    forwards = published.forwards()
    server = await echo_server(target, b"v1 ")
    try:
        await forwards.ensure([Forward("relay", local, 8000)])
        assert await ask(local, b"hello\n") == b"v1 hello\n"
        server.close()
        await server.wait_closed()
        assert await ask(local, b"gone\n") == b""  # the target is down: this connection closes, the forward stays
        assert await ask(local, b"gone\n") == b""
        server = await echo_server(target, b"v2 ")  # redeployed on the same published port
        assert await ask(local, b"again\n") == b"v2 again\n"
    finally:
        server.close()
        await forwards.close()
    with pytest.raises(OSError):
        await ask(local, b"closed\n")
    # Said once for the two failed connections, naming the forward and the target.
    assert published.events == [f"relay: forward 127.0.0.1:{local}: relay:8000, published at 127.0.0.1:{target}, "
                                 "does not answer (connection refused): is it (re)starting?"]


async def test_a_client_that_half_closes_still_gets_the_answer() -> None:
    async def answer_after_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.read()  # until the client's EOF, as an HTTP/1.0 server may
        writer.write(b"got " + request)
        await writer.drain()
        writer.close()

    server, forwards, local = await forward_to(answer_after_eof)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", local)
        writer.write(b"GET /")
        writer.write_eof()
        assert await asyncio.wait_for(reader.read(), 5) == b"got GET /"
        writer.close()
    finally:
        server.close()
        await forwards.close()


async def test_a_moved_target_is_followed() -> None:
    local, first, second = free_port(), free_port(), free_port()
    published = Published()
    forwards = published.forwards()
    one, two = await echo_server(first, b"one "), await echo_server(second, b"two ")
    try:
        published.ports[local] = first
        await forwards.ensure([Forward("relay", local, 8000)])
        assert await ask(local, b"x\n") == b"one x\n"
        published.ports[local] = second  # a provider that publishes it elsewhere now, for the same forward
        assert await ask(local, b"x\n") == b"two x\n"
        await forwards.ensure([Forward("relay", local, 8001)])  # a changed forward is served anew
        assert await ask(local, b"x\n") == b"two x\n"
        await forwards.ensure([])
        with pytest.raises(OSError):
            await ask(local, b"x\n")
    finally:
        one.close()
        two.close()
        await forwards.close()


async def test_close_ends_the_connections_in_flight() -> None:
    accepted = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()  # says nothing until the client goes
        writer.close()

    server, forwards, local = await forward_to(silent)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", local)
        await asyncio.wait_for(accepted.wait(), 5)
        await asyncio.wait_for(forwards.close(), 2)  # does not wait for the target to speak
        assert await asyncio.wait_for(reader.read(), 2) == b""
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_a_taken_local_port_names_the_process_holding_it() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        forwards = Published().forwards()
        with pytest.raises(DevstackError, match=rf"cannot forward 127.0.0.1:{port} to relay:8000: port {port} is "
                                                rf"already in use by pid {os.getpid()} "):
            await forwards.ensure([Forward("relay", port, 8000)])
        await forwards.close()


async def test_the_ports_the_forwards_serve_are_not_looked_up_before_a_cycle(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before every cycle the daemon checks its forwards' ports; the ones it serves itself are skipped (finding a
    port's holder reads the kernel's socket table: 10 ms a port, on the way from a save to green). Another port
    is still looked up."""
    forwards = Published().forwards()
    served, other = Forward("relay", free_port(), 8000), Forward("sink", free_port(), 2525)
    try:
        await forwards.ensure([served])
        assert forwards.serving == {served.local}
        looked_up: list[int] = []
        monkeypatch.setattr(ports, "held_by_another", lambda port: looked_up.append(port))
        check_free([served, other], forwards.serving)
        assert looked_up == [other.local]
    finally:
        await forwards.close()
    assert forwards.serving == frozenset()
