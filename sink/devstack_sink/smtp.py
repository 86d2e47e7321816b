"""One SMTP connection: aiosmtpd's protocol, made to discard, count, and keep up with load.

aiosmtpd (1.4.3 in Debian bookworm, 1.4.x on the host) still implements every command (HELO, EHLO,
MAIL, RCPT, RSET, NOOP, VRFY, HELP, AUTH, QUIT), parses the addresses and calls the hooks of
handler.SinkHandler. What is replaced, and why:
- Who runs the commands. aiosmtpd runs each session in a task that awaits every line from a
  StreamReader: a Task per connection, a Future and a trip through the event loop per command. Here
  data_received() splits the lines and runs aiosmtpd's command coroutines by hand (coroutines.py);
  they nearly always finish without waiting. The first one that has to wait (a fault's delay, AUTH's
  challenge, a client too slow to read its replies), and any line that is not a plain command
  (garbage, too long), hands the connection to the task loop for good: _handle_client, aiosmtpd's
  loop minus its per-line logging and regexes, which answers bad input as aiosmtpd does and counts it.
- smtp_DATA streams the message away instead of buffering all of it (datastream.py).
- push() and the idle timer: aiosmtpd drains after every reply and re-arms a timer per command.
- Per-connection setup: aiosmtpd's constructor runs once per server, not per connection (factory()).
"""

from __future__ import annotations

import asyncio
import collections
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, AnyStr, ClassVar, Final

from aiosmtpd.smtp import BOGUS_LIMIT, SMTP, _AuthMechAttr, syntax

from devstack_sink import coroutines, datastream, handler

# Where aiosmtpd's replies to hostile input are counted (those it sends from smtp_* methods too).
HOSTILE_REPLIES: Final = (
    ("500 Command line too long", "long_lines"),
    ("500 Error: bad syntax", "garbage_lines"),
    ('500 Error: command "', "garbage_lines"),
    ("502 5.5.1 Too many unrecognized commands", "garbage_lines"),
)
# RFC 5321 4.5.3.1.6: 998 octets + CRLF, +1 for a transparency dot (as aiosmtpd counts).
LINE_LIMIT = 1001
ADDRESS_CACHE_SIZE = 4096
IDLE_TIMEOUT = 300.0  # seconds without a command before the sink hangs up (aiosmtpd's default)
WRITE_BUFFER_LIMIT = 64 * 1024  # wait for the client to read replies beyond this (pipelined floods)
# An unfinished line longer than this goes to the task loop, which answers "line too long" (>512).
PENDING_LIMIT = 4096


class _NoTask:
    """Stands in for aiosmtpd's session task while data_received runs the commands.

    aiosmtpd's QUIT, EOF and connection_lost cancel that task; with none running there is nothing to stop.
    """

    def cancel(self, msg: object = None) -> bool:
        return False


_NO_TASK: Final = _NoTask()


class SinkSMTP(SMTP):
    # The StreamReader limit, not the line length check: aiosmtpd still refuses command lines over
    # 512 bytes (and so do we, in _read_command). A larger buffer lets datastream find the end of a
    # message in one pass instead of one LimitOverrunError per kilobyte.
    line_length_limit = 64 * 1024
    _addresses: ClassVar[dict[str, tuple[str | None, str | None]]] = {}  # shared by all connections

    def __init__(
        self,
        events: handler.SinkHandler,
        *,
        hostname: str,
        max_size: int,
        loop: asyncio.AbstractEventLoop,
        idle_timeout: float = IDLE_TIMEOUT,
    ):
        super().__init__(
            events,
            hostname=hostname,
            timeout=idle_timeout,
            ident="devstack-sink",
            data_size_limit=max_size or None,
            enable_SMTPUTF8=True,
            auth_require_tls=False,
            authenticator=handler.accept_any_login,
            loop=loop,
        )
        # Tables of unbound functions, shared by every connection (see factory); aiosmtpd's are bound.
        self._smtp_methods = _COMMANDS
        self._auth_methods = _AUTH_MECHANISMS
        self.sink = events
        self.stats = events.stats
        self.finished = False  # QUIT seen, or we closed: not an early disconnect
        self.in_data = False
        self._deadline = 0.0
        self._by_hand = True  # data_received runs the commands, until one has to wait
        self._pending = b""  # the start of a command line not yet complete (by hand)
        self._discarder: datastream.Discarder | None = None  # between DATA's 354 and the dot (by hand)

    @classmethod
    def factory(
        cls,
        events: handler.SinkHandler,
        *,
        hostname: str,
        max_size: int,
        loop: asyncio.AbstractEventLoop,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> Callable[[], SinkSMTP]:
        """The protocol factory for loop.create_server.

        aiosmtpd's constructor derives the same settings and tables from the same arguments for
        every connection (AUTH mechanisms and hooks by introspection, the EHLO hook's signature):
        a fifth of the Python work of a one-message session. It runs once here; each connection
        starts from a copy of its attributes, which are immutable or shared read-only tables, and
        gets its own streams (StreamReaderProtocol.__init__ sets every stream attribute anew).
        """
        template = vars(cls(events, hostname=hostname, max_size=max_size, loop=loop, idle_timeout=idle_timeout))

        def connection() -> SinkSMTP:
            protocol = cls.__new__(cls)
            vars(protocol).update(template)

            def connected(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                # What aiosmtpd's own callback does; its name differs between 1.4.3 (Debian) and 1.4.6.
                protocol._reader, protocol._writer = reader, writer

            reader = asyncio.StreamReader(limit=cls.line_length_limit, loop=loop)
            asyncio.StreamReaderProtocol.__init__(protocol, reader, client_connected_cb=connected, loop=loop)
            return protocol

        return connection

    # -- connection events ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.stats.connections += 1
        self.stats.connections_active += 1
        # aiosmtpd's connection_made without its STARTTLS branch (the sink offers no TLS) and without
        # starting the session task: commands run from data_received until one has to wait.
        self._set_rset_state()  # type: ignore[no-untyped-call]  # not annotated in aiosmtpd
        # aiosmtpd keeps the line limits that EHLO raises (MAIL +10 for 8BITMIME, +26 for SIZE) in one dict
        # of the class, cleared by each constructor; ours runs once per server (factory), so each connection
        # gets its own. (Shared, the limits would grow with every EHLO of every connection.)
        self.command_size_limits = collections.defaultdict(lambda: self.command_size_limit)
        self.session = self._create_session()
        self.session.peer = transport.get_extra_info("peername")
        self._reset_timeout()
        asyncio.StreamReaderProtocol.connection_made(self, transport)
        self.transport = transport
        self._handler_coroutine = _NO_TASK  # type: ignore[assignment]
        self._write_reply(f"220 {self.hostname} {self.__ident__}")

    def connection_lost(self, error: Exception | None) -> None:
        self.stats.connections_active -= 1
        if not self.finished:
            self.stats.early_disconnects += 1
        super().connection_lost(error)

    def eof_received(self) -> bool | None:
        if self._by_hand:
            return False  # the client sends no more: close (aiosmtpd's version ends its task)
        return super().eof_received()

    def data_received(self, data: bytes) -> None:
        if not self.in_data:
            lines = data.count(b"\n")
            if lines > 1:  # several commands in one read: sent without waiting for our replies
                self.stats.pipelined_commands += lines - 1
        if self._by_hand:
            self._serve(data)
        else:
            super().data_received(data)  # into the StreamReader, for _handle_client

    def close_by_sink(self) -> None:
        self.finished = True
        if self.transport is not None:
            self.transport.close()

    # -- replies and the idle timer -------------------------------------------------------------

    async def push(self, status: AnyStr) -> None:
        if self._write_reply(status):
            await self._writer.drain()

    def _write_reply(self, status: AnyStr) -> bool:
        """Send one reply line; True when the client lags in reading them (time to wait for it)."""
        transport = self.transport
        if transport is None:
            return False  # the connection is gone (uvloop raises on writes to a lost transport)
        if isinstance(status, str):
            if status[:1] in ("4", "5"):
                self._count_rejection(status)
            data = status.encode()
        else:
            data = status
        transport.write(data + b"\r\n")  # type: ignore[attr-defined]  # a BaseTransport to aiosmtpd
        return bool(transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT)  # type: ignore[attr-defined]

    def _count_rejection(self, status: str) -> None:
        self.stats.rejected += 1
        for prefix, counter in HOSTILE_REPLIES:
            if status.startswith(prefix):
                setattr(self.stats, counter, getattr(self.stats, counter) + 1)

    def _reset_timeout(self, duration: float | None = None) -> None:
        # Called for every command. Move a deadline instead of re-arming a timer; the one timer, made
        # in connection_made, checks the deadline when it fires. connection_lost() cancels it as before.
        self._deadline = self.loop.time() + (duration or self._timeout_duration)
        if self._timeout_handle is None:
            self._timeout_handle = self.loop.call_at(self._deadline, self._check_deadline)

    def _check_deadline(self) -> None:
        if self.loop.time() < self._deadline:
            self._timeout_handle = self.loop.call_at(self._deadline, self._check_deadline)
        else:
            self.finished = True  # idle too long: we hang up, the client did not run away
            self._timeout_cb()  # type: ignore[no-untyped-call]  # not annotated in aiosmtpd

    # -- commands, by hand ---------------------------------------------------------------------

    def _serve(self, data: bytes) -> None:
        """Run the complete command lines in `data` (and the DATA they start) as they arrive."""
        buffer = self._pending + data if self._pending else data
        self._pending, start = b"", 0
        while self.transport is not None and not self.transport.is_closing():
            if self._discarder is not None:
                used = self._discarder.feed(buffer[start:] if start else buffer)
                if used is None:
                    return
                start += used
                waiting = self._run(self._finish_data(self._discarder.message))
                rest = start
            else:
                end = buffer.find(b"\n", start)
                if end < 0:
                    break
                line, rest = buffer[start:end], end + 1
                command = self._parse(line)
                if isinstance(command, str) or command[0] not in _COMMANDS:  # the task loop answers and counts
                    self._to_task(buffer[start:], None)
                    return
                self._reset_timeout()
                waiting = self._run(_COMMANDS[command[0]](self, command[1]))
            if waiting is not None:
                self._to_task(buffer[rest:], waiting)
                return
            start = rest
        if self.transport is None or self.transport.is_closing():
            return  # after QUIT, or a fault rule that hung up: what the client sent next goes unanswered
        self._pending = buffer[start:]
        if len(self._pending) > PENDING_LIMIT:
            self._to_task(self._pending, None)

    def _run(self, command: Coroutine[Any, Any, None]) -> coroutines.Suspended | None:
        """Run a command until it ends or has to wait, with _handle_client's error handling."""
        try:
            return coroutines.start(command)
        except (asyncio.CancelledError, ConnectionError):  # a fault rule hung up, or the client did
            self._writer.close()
        except Exception as error:
            return coroutines.start(self._answer_bug(error))
        return None

    def _to_task(self, unread: bytes, waiting: coroutines.Suspended | None) -> None:
        """From here on this connection runs in a task, as in aiosmtpd, which reads `unread` first."""
        self._by_hand, self._pending = False, b""
        if unread:
            super().data_received(unread)
        self._handler_coroutine = self.loop.create_task(self._handle_client(waiting))

    # -- commands, in a task ---------------------------------------------------------------------

    async def _handle_client(self, waiting: coroutines.Suspended | None = None) -> None:
        # aiosmtpd's loop without what this server never uses (PROXY protocol, STARTTLS checks,
        # per-command call limits, two log calls per line): same replies to the same input. It
        # starts with the command that data_received began and that had to wait, if any.
        bogus_budget = BOGUS_LIMIT
        while self.transport is not None:
            try:
                if waiting is not None:
                    command_left, waiting = waiting, None
                    await command_left
                    continue
                command = await self._read_command()
                if command is None:
                    continue
                method = _COMMANDS.get(command[0])
                if method is None:
                    bogus_budget -= 1
                    await self._refuse_unknown(command[0], closing=bogus_budget < 1)
                    continue
                self._reset_timeout()
                await method(self, command[1])
            except asyncio.CancelledError:
                self._writer.close()
                raise
            except (ConnectionError, asyncio.IncompleteReadError):
                self._writer.close()
                return
            except Exception as error:  # a bug in a command: aiosmtpd logs it, replies 500, goes on
                await self._answer_bug(error)

    async def _answer_bug(self, error: Exception) -> None:
        await self.push(await self.handle_exception(error))

    async def _read_command(self) -> tuple[str, str | None] | None:
        """The next command and its argument, or None when the line was bad and already answered."""
        try:
            line = await self._reader.readuntil()
        except asyncio.LimitOverrunError as overrun:
            await self._skip_line(overrun.consumed)
            await self.push("500 Command line too long")
            return None
        command = self._parse(line[:-1])
        if isinstance(command, str):
            await self.push(command)
            return None
        return command

    def _parse(self, line: bytes) -> tuple[str, str | None] | str:
        """(VERB, argument) of a command line without its LF, or the reply to a line that is not one.

        A verb this server does not know is returned as such: _handle_client answers and counts those.
        """
        assert self.session is not None
        line = line.rstrip(b"\r")
        verb, _, arg = line.partition(b" ")
        if not verb.isascii() or not line:
            return "500 Error: bad syntax"
        command = verb.upper().decode("ascii")
        limits = self.command_size_limits if self.session.extended_smtp else {}
        if len(line) > limits.get(command, self.command_size_limit):  # .get: no garbage verb becomes a key
            return "500 Command line too long"
        return command, (str(arg.strip(), "utf-8", "surrogateescape") if arg else None)

    async def _skip_line(self, consumed: int) -> None:
        """Throw away the rest of a line that does not fit the buffer."""
        while True:
            await self._reader.read(consumed)
            try:
                await self._reader.readuntil()
                return
            except asyncio.LimitOverrunError as overrun:
                consumed = overrun.consumed

    async def _refuse_unknown(self, command: str, *, closing: bool) -> None:
        if closing:
            await self.push("502 5.5.1 Too many unrecognized commands, goodbye.")
            self.close_by_sink()
        else:
            await self.push(f'500 Error: command "{command}" not recognized')

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        # aiosmtpd parses MAIL/RCPT addresses with the email package (tens of µs each); load tests
        # repeat the same few addresses, so remember the answers (bounded, and a pure function).
        cache = SinkSMTP._addresses
        found = cache.get(arg)
        if found is None:
            found = super()._getaddr(arg)
            if len(cache) >= ADDRESS_CACHE_SIZE:
                cache.clear()
            cache[arg] = found
        return found

    @syntax("DATA")
    async def smtp_DATA(self, arg: str) -> None:
        if await self.check_helo_needed() or await self.check_auth_needed("DATA"):
            return
        assert self.envelope is not None
        if not self.envelope.rcpt_tos:
            await self.push("503 Error: need RCPT command")
            return
        if arg:
            await self.push("501 Syntax: DATA")
            return
        self.in_data = True
        await self.push("354 End data with <CR><LF>.<CR><LF>")
        keep = self.sink.worker.capture.keep_bytes
        if self._by_hand:  # data_received feeds the body to the discarder, then calls _finish_data
            self._discarder = datastream.Discarder(keep, LINE_LIMIT)
            return
        await self._finish_data(await datastream.discard_message(self._reader, keep, LINE_LIMIT))

    async def _finish_data(self, message: datastream.Message) -> None:
        self.in_data, self._discarder = False, None
        reply = await self.sink.finish_message(self, message)
        self._set_post_data_state()  # type: ignore[no-untyped-call]  # not annotated in aiosmtpd
        await self.push(reply)


def _builtin_mechanism(function: Callable[[SMTP, SMTP, list[str]], Awaitable[Any]]) -> _AuthMechAttr:
    """The table entry aiosmtpd's smtp_AUTH expects: it calls entry.method(server, args)."""

    async def mechanism(server: SMTP, args: list[str]) -> Any:
        return await function(server, server, args)  # a builtin is a method: (self, server, args)

    return _AuthMechAttr(mechanism, True)


# Unbound smtp_* functions by command (HELP reads their @syntax), and the builtin AUTH mechanisms,
# named the way aiosmtpd names them.
_COMMANDS: Final[dict[str, Any]] = {
    name.removeprefix("smtp_"): function for name, function in inspect.getmembers(SinkSMTP) if name.startswith("smtp_")
}
_AUTH_MECHANISMS: Final = {
    getattr(function, "__auth_mechanism_name__", name.removeprefix("auth_").replace("__", "-")): _builtin_mechanism(
        function
    )
    for name, function in inspect.getmembers(SinkSMTP)
    if name.startswith("auth_")
}
