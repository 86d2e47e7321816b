"""One SMTP connection: aiosmtpd's protocol, made to discard, count, and keep up with load.

aiosmtpd (1.4.3 in Debian bookworm, 1.4.x on the host) still implements every command (HELO, EHLO,
MAIL, RCPT, RSET, NOOP, VRFY, HELP, AUTH, QUIT), parses the addresses and calls the hooks of
handler.SinkHandler. What is replaced, and why:
- smtp_DATA streams the message away instead of buffering all of it (datastream.py).
- The command loop (_handle_client), push() and the idle timer: aiosmtpd's versions log every line
  through a regex, drain after every reply and re-arm a timer per command, which cost more CPU than
  the commands themselves. Ours keep its replies to bad input, and count them.
- Per-connection setup: see __dir__ and handler._EhloHook.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, AnyStr, ClassVar, Final

from aiosmtpd.smtp import BOGUS_LIMIT, SMTP, _AuthMechAttr, syntax

from devstack_sink import datastream, handler

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
        # See __dir__: the command and AUTH tables are built once per class, not per connection.
        self._smtp_methods = _COMMANDS
        self._auth_methods = _AUTH_MECHANISMS
        self.sink = events
        self.stats = events.stats
        self.finished = False  # QUIT seen, or we closed: not an early disconnect
        self.in_data = False
        self._deadline = 0.0

    def __dir__(self) -> list[str]:
        # aiosmtpd's constructor builds its command and AUTH tables from dir(self) with bound
        # methods, for every connection (~150 attributes, the largest part of accepting one).
        # Given nothing to scan, it builds empty tables; __init__ then installs shared ones.
        return []

    # -- connection events ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.stats.connections += 1
        self.stats.connections_active += 1
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        self.stats.connections_active -= 1
        if not self.finished:
            self.stats.early_disconnects += 1
        super().connection_lost(error)

    def data_received(self, data: bytes) -> None:
        if not self.in_data:
            lines = data.count(b"\n")
            if lines > 1:  # several commands in one read: sent without waiting for our replies
                self.stats.pipelined_commands += lines - 1
        super().data_received(data)

    def close_by_sink(self) -> None:
        self.finished = True
        if self.transport is not None:
            self.transport.close()

    # -- replies and the idle timer -------------------------------------------------------------

    async def push(self, status: AnyStr) -> None:
        if self.transport is None:
            return  # the connection is gone (uvloop raises on writes to a lost transport)
        if isinstance(status, str):
            if status[:1] in ("4", "5"):
                self._count_rejection(status)
            data = status.encode()
        else:
            data = status
        self._writer.write(data + b"\r\n")
        if self._writer.transport.get_write_buffer_size() > WRITE_BUFFER_LIMIT:
            await self._writer.drain()

    def _count_rejection(self, status: str) -> None:
        self.stats.rejected += 1
        for prefix, counter in HOSTILE_REPLIES:
            if status.startswith(prefix):
                setattr(self.stats, counter, getattr(self.stats, counter) + 1)

    def _reset_timeout(self, duration: float | None = None) -> None:
        # Called for every command. Move a deadline instead of re-arming a timer; the one timer
        # checks the deadline when it fires. connection_lost() cancels _timeout_handle as before.
        self._deadline = self.loop.time() + (duration or self._timeout_duration)
        if self._timeout_handle is None or self._timeout_handle.cancelled():
            self._timeout_handle = self.loop.call_at(self._deadline, self._check_deadline)

    def _check_deadline(self) -> None:
        if self.loop.time() < self._deadline:
            self._timeout_handle = self.loop.call_at(self._deadline, self._check_deadline)
        else:
            self.finished = True  # idle too long: we hang up, the client did not run away
            self._timeout_cb()  # type: ignore[no-untyped-call]  # not annotated in aiosmtpd

    # -- commands ------------------------------------------------------------------------------

    async def _handle_client(self) -> None:
        # aiosmtpd's loop without what this server never uses (PROXY protocol, STARTTLS checks,
        # per-command call limits, two log calls per line): same replies to the same input.
        await self.push(f"220 {self.hostname} {self.__ident__}")
        bogus_budget = BOGUS_LIMIT
        while self.transport is not None:
            try:
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
                await self.push(await self.handle_exception(error))

    async def _read_command(self) -> tuple[str, str | None] | None:
        """The next command and its argument, or None when the line was bad and already answered."""
        assert self.session is not None
        try:
            line = (await self._reader.readuntil()).rstrip(b"\r\n")
        except asyncio.LimitOverrunError as overrun:
            await self._skip_line(overrun.consumed)
            await self.push("500 Command line too long")
            return None
        verb, _, arg = line.partition(b" ")
        if not verb.isascii() or not line:
            await self.push("500 Error: bad syntax")
            return None
        command = verb.upper().decode("ascii")
        limit = self.command_size_limits[command] if self.session.extended_smtp else self.command_size_limit
        if len(line) > limit:
            await self.push("500 Command line too long")
            return None
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
        keep = self.sink.worker.capture.header_budget
        message = await datastream.discard_message(self._reader, keep, LINE_LIMIT)
        self.in_data = False
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
