"""Read one message's DATA from the stream and throw it away, counting as we go.

aiosmtpd's own smtp_DATA keeps every line of the message in a list until the final dot (up to
data_size_limit per connection: 32 MiB by default, times the number of connections). A null sink
needs none of it, so this reader consumes the stream in pieces, keeps only the first few bytes when
capture wants the headers, and never holds more than one piece.

It reads with StreamReader.readuntil(b".\\r\\n") and decides whether the dot starts a line by looking
at the two bytes before it. On stretches longer than the reader's limit (64 KiB, see SinkSMTP),
readuntil raises LimitOverrunError and we consume what it says is safe. That keeps to the public
StreamReader API and leaves the scanning to C code.
"""

from __future__ import annotations

import asyncio
import dataclasses

DOT_LINE = b".\r\n"
CRLF = b"\r\n"


@dataclasses.dataclass
class Message:
    """What we learned about one message while discarding it."""

    size: int = 0  # bytes on the wire, dot-stuffing included, the final ".\r\n" excluded
    long_line: bool = False  # some line was longer than the limit
    head: bytes = b""  # the first bytes, if asked for


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


async def discard_message(reader: asyncio.StreamReader, keep: int, line_limit: int) -> Message:
    """Consume DATA up to and including the terminating <CRLF>.<CRLF>."""
    message = Message()
    meter = _LineMeter(line_limit)
    previous = CRLF  # the DATA command line ended with CRLF, so a dot right away ends an empty message
    while True:
        try:
            piece = await reader.readuntil(DOT_LINE)
            ended = _ends_message(previous, piece)
        except asyncio.LimitOverrunError as overrun:
            piece, ended = await reader.read(overrun.consumed), False
        except asyncio.IncompleteReadError as eof:
            # The peer closed mid-message; aiosmtpd cancels us on EOF, this is the belt to its braces.
            raise ConnectionResetError("connection closed during DATA") from eof
        content = piece[: -len(DOT_LINE)] if ended else piece
        message.size += len(content)
        meter.feed(content)
        if len(message.head) < keep:
            message.head += content[: keep - len(message.head)]
        if ended:
            message.long_line = meter.too_long
            return message
        previous = piece[-2:] if len(piece) >= 2 else (previous + piece)[-2:]


def _ends_message(previous: bytes, piece: bytes) -> bool:
    """True when the ".\\r\\n" that ends `piece` stands on a line of its own."""
    before_dot = piece[-5:-3] if len(piece) >= 5 else (previous + piece)[-5:-3]
    return before_dot == CRLF
