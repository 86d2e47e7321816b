"""Read one message's DATA and throw it away, counting as we go.

aiosmtpd's own smtp_DATA keeps every line of the message in a list until the final dot (up to
data_size_limit per connection: 32 MiB by default, times the number of connections). A null sink
needs none of it: Discarder takes the bytes in whatever pieces they arrive, keeps only as many as
capture asks for (none when it is off), and never holds more than one piece beyond them.

Two callers feed it. The fast path (smtp.SinkSMTP.data_received) hands it each read as it comes. The
task path reads with StreamReader.readuntil(b".\\r\\n"), which leaves the scanning to C code and
never takes bytes past the message from the stream; on stretches longer than the reader's limit
(64 KiB, see SinkSMTP) readuntil raises LimitOverrunError and we take what it says is safe.
"""

from __future__ import annotations

import asyncio
import dataclasses

DOT_LINE = b".\r\n"
END = b"\r\n.\r\n"  # the CRLF that ends the last line, and the lone dot
CRLF = b"\r\n"


@dataclasses.dataclass
class Message:
    """What we learned about one message while discarding it."""

    size: int = 0  # bytes on the wire, dot-stuffing included, the final ".\r\n" excluded
    long_line: bool = False  # some line was longer than the limit
    head: bytearray = dataclasses.field(default_factory=bytearray)  # the first bytes, if asked for (capture)


class _LineMeter:
    """Notices a line over the limit across pieces; splits a piece only when it might hold one."""

    def __init__(self, limit: int) -> None:
        self.limit = limit  # longest allowed line, its line ending included
        self.current = 0  # length of the unfinished line so far
        self.too_long = False

    def feed(self, piece: bytes) -> None:
        last = piece.rfind(b"\n")
        if last < 0:
            self.current += len(piece)
        else:
            if not self.too_long and self.current + last + 1 > self.limit:
                first = piece.find(b"\n")
                middle = piece[first + 1 : last].split(b"\n") if first < last else [b""]
                longest = max(self.current + first, max(map(len, middle)))
                self.too_long = longest + 1 > self.limit
            self.current = len(piece) - last - 1
        self.too_long = self.too_long or self.current > self.limit


class Discarder:
    """Consumes one message's DATA, piece by piece, up to and including <CRLF>.<CRLF>."""

    def __init__(self, keep: int, line_limit: int) -> None:
        self.message = Message()
        self._keep = keep
        self._meter = _LineMeter(line_limit)
        # The last bytes seen, so that an end split across pieces is found. The DATA command line
        # ended with CRLF: a dot right away ends an empty message.
        self._tail = CRLF

    def feed(self, piece: bytes) -> int | None:
        """How many bytes of `piece` the message took, if it ended in it; None if it took them all."""
        window = self._tail + piece
        found = window.find(END)
        if found < 0:
            self._take(piece)
            self._tail = window[-4:]
            return None
        used = found + len(END) - len(self._tail)  # through the final dot line, counted in `piece`
        # The end may begin in an earlier piece, whose bytes (a CRLF, the dot) were counted as content.
        content = used - len(DOT_LINE)
        self._take(piece[: max(content, 0)])
        self.message.size += min(content, 0)
        # Likewise the head, when the message was shorter than `keep`.
        del self.message.head[max(self.message.size, 0) :]
        self.message.long_line = self._meter.too_long
        return used

    def _take(self, content: bytes) -> None:
        message = self.message
        message.size += len(content)
        self._meter.feed(content)
        if len(message.head) < self._keep:
            message.head += content[: self._keep - len(message.head)]  # a bytearray: appended in place


async def discard_message(reader: asyncio.StreamReader, keep: int, line_limit: int) -> Message:
    """Consume DATA from a stream, up to and including the terminating <CRLF>.<CRLF>."""
    discarder = Discarder(keep, line_limit)
    while True:
        try:
            piece = await reader.readuntil(DOT_LINE)
        except asyncio.LimitOverrunError as overrun:
            piece = await reader.read(overrun.consumed)
        except asyncio.IncompleteReadError as eof:
            # The peer closed mid-message; aiosmtpd cancels us on EOF, this is the belt to its braces.
            raise ConnectionResetError("connection closed during DATA") from eof
        # readuntil stops at the first ".\r\n", so a message never ends before the piece does.
        if discarder.feed(piece) is not None:
            return discarder.message
