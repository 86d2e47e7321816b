"""SinkSMTP on its own server in the test's event loop: the idle timer and the error boundary."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from devstack_sink import faults, handler, smtp, state
from devstack_sink.stats import Stats


class BuggyHandler(handler.SinkHandler):
    async def handle_RCPT(self, *args: object) -> str:
        raise ValueError("a bug in a hook")


Serve = Callable[..., Awaitable[tuple[int, Stats]]]


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """serve(handler_class, idle_timeout=...) -> (port, stats) of a sink on a free port."""
    servers: list[asyncio.Server] = []

    async def start(
        events_class: type[handler.SinkHandler] = handler.SinkHandler, idle_timeout: float = smtp.IDLE_TIMEOUT
    ) -> tuple[int, Stats]:
        loop = asyncio.get_running_loop()
        events = events_class(state.WorkerState.new(0, (), 0))
        protocol = smtp.SinkSMTP.factory(events, hostname="sink.test", max_size=0, loop=loop, idle_timeout=idle_timeout)
        servers.append(await loop.create_server(protocol, "127.0.0.1", 0))
        port: int = servers[-1].sockets[0].getsockname()[1]
        return port, events.stats

    yield start
    for server in servers:
        server.close()


async def command(writer: asyncio.StreamWriter, reader: asyncio.StreamReader, line: bytes) -> bytes:
    writer.write(line)
    return await reader.readline()


async def test_an_idle_client_is_hung_up_on_and_a_busy_one_is_not(serve: Serve) -> None:
    port, stats = await serve(idle_timeout=0.3)
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", port)
    busy_reader, busy_writer = await asyncio.open_connection("127.0.0.1", port)
    await idle_reader.readline(), await busy_reader.readline()
    for _ in range(8):  # 0.8 s of commands, each well within the 0.3 s limit
        assert (await command(busy_writer, busy_reader, b"NOOP\r\n")).startswith(b"250")
        await asyncio.sleep(0.1)
    assert await asyncio.wait_for(idle_reader.read(), 5) == b""  # closed by the sink
    assert stats.early_disconnects == 0
    assert stats.connections_active == 1
    busy_writer.close()
    idle_writer.close()


async def test_a_bug_in_a_hook_gets_500_and_the_session_goes_on(serve: Serve) -> None:
    port, _ = await serve(BuggyHandler)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readline()
    await command(writer, reader, b"HELO client\r\n")
    await command(writer, reader, b"MAIL FROM:<a@example.test>\r\n")
    assert (await command(writer, reader, b"RCPT TO:<b@example.test>\r\n")).startswith(b"500 Error: (ValueError)")
    assert (await command(writer, reader, b"NOOP\r\n")).startswith(b"250")
    writer.close()


async def test_connections_from_the_factory_share_nothing_a_session_changes() -> None:
    # The factory copies one constructed protocol's attributes: only the loop, the handler and
    # read-only tables may be shared, or one session would leak into the next (say, after an
    # aiosmtpd upgrade adds per-connection state to its constructor).
    loop = asyncio.get_running_loop()
    events = handler.SinkHandler(state.WorkerState.new(0, (), 0))
    make = smtp.SinkSMTP.factory(events, hostname="sink.test", max_size=0, loop=loop)
    first, second = make(), make()
    constructed = smtp.SinkSMTP(events, hostname="sink.test", max_size=0, loop=loop)
    assert vars(first).keys() == vars(constructed).keys()
    immutable = (str, bytes, int, float, bool, type(None), tuple, frozenset)
    shared = {
        name for name, value in vars(first).items() if not isinstance(value, immutable) and value is vars(second)[name]
    }
    read_only = {"_auth_methods", "_handle_hooks", "_smtp_methods", "_authenticator"}
    assert shared == {"loop", "_loop", "event_handler", "sink", "stats"} | read_only


class UnreadRepliesTransport(asyncio.Transport):
    """A client that has not read its last replies: close() waits for them to be sent, so
    connection_lost comes later (after this test)."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[bytes] = []
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written.append(bytes(data))

    def get_write_buffer_size(self) -> int:
        return 1000  # some, not enough to stop and wait for the client

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: object = None) -> object:
        return ("127.0.0.1", 40000) if name == "peername" else default


@pytest.mark.parametrize(("last", "code"), [(b"QUIT\r\n", b"221"), (b"RCPT TO:<x@gone.test>\r\n", b"421")])
async def test_nothing_sent_behind_the_end_of_a_session_is_run(last: bytes, code: bytes) -> None:
    # QUIT, or a fault rule that answers 421 and hangs up, pipelined with more commands than the sink
    # keeps of an unfinished line: the rest must not be handed to the task loop and answered.
    loop = asyncio.get_running_loop()
    events = handler.SinkHandler(state.WorkerState.new(0, faults.parse_rules("*@gone.test:421"), 0))
    protocol = smtp.SinkSMTP.factory(events, hostname="sink.test", max_size=0, loop=loop)()
    transport = UnreadRepliesTransport()
    protocol.connection_made(transport)
    protocol.data_received(b"HELO c\r\nMAIL FROM:<a@b.test>\r\n" + last + b"NOOP\r\n" * 1000)
    await asyncio.sleep(0.05)  # a task, had one been started, would have answered by now
    codes = [reply[:3] for reply in transport.written]
    assert codes == [b"220", b"250", b"250", code]
    protocol.connection_lost(None)
