"""The DATA reader finds the end of every message, however the bytes are split across reads."""

from __future__ import annotations

import asyncio

import pytest
from devstack_sink import datastream

# (what the client sends after "DATA\r\n" up to and including the final dot, the size we count)
MESSAGES = [
    (b".\r\n", 0),  # empty message
    (b"\r\n.\r\n", 2),
    (b"a\r\n.\r\n", 3),
    (b"..\r\n.\r\n", 4),  # a stuffed lone dot is content
    (b"x.\r\n.\r\n", 4),
    (b"a\r\n...\r\n.\r\n", 8),
    (b"line.\r\n.x\r\n.\r\n", 11),
    (b"\r\n\r\n.\r\n", 4),
]
NEXT_COMMAND = b"QUIT\r\n"


async def discard(chunks: list[bytes], *, limit: int, keep: int = 0) -> tuple[datastream.Message, bytes]:
    """Feed the chunks, read one message, return it and what is left in the stream."""
    reader = asyncio.StreamReader(limit=limit)
    for chunk in chunks:
        reader.feed_data(chunk)
    reader.feed_eof()
    message = await datastream.discard_message(reader, keep, line_limit=1001)
    return message, await reader.read()


def feed_all(pieces: list[bytes], *, keep: int = 0) -> tuple[datastream.Message, bytes]:
    """What the fast path does: hand each read to a Discarder until the message ends."""
    discarder = datastream.Discarder(keep, line_limit=1001)
    for index, piece in enumerate(pieces):
        used = discarder.feed(piece)
        if used is not None:
            return discarder.message, piece[used:] + b"".join(pieces[index + 1 :])
    raise AssertionError("the message never ended")


@pytest.mark.parametrize(("wire", "size"), MESSAGES)
def test_pieces_fed_as_they_come_end_where_the_message_does(wire: bytes, size: int) -> None:
    stream = wire + NEXT_COMMAND
    for cut in range(len(stream) + 1):
        for second in range(cut, len(stream) + 1):
            message, rest = feed_all([stream[:cut], stream[cut:second], stream[second:]], keep=64)
            assert (message.size, rest) == (size, NEXT_COMMAND), f"cuts at {cut}, {second}"
            assert message.head == wire[:size], f"cuts at {cut}, {second}: the head holds some of the end"


@pytest.mark.parametrize(("wire", "size"), MESSAGES)
@pytest.mark.parametrize("limit", [4, 64 * 1024])
async def test_every_split_point_finds_the_end_and_leaves_the_next_command(wire: bytes, size: int, limit: int) -> None:
    stream = wire + NEXT_COMMAND
    for cut in range(len(stream) + 1):
        message, rest = await discard([stream[:cut], stream[cut:]], limit=limit)
        assert (message.size, rest) == (size, NEXT_COMMAND), f"cut at {cut}"


async def test_byte_by_byte_delivery() -> None:
    wire = b"Subject: x\r\n\r\n.stuffed\r\nend\r\n.\r\n"
    message, rest = await discard([bytes([b]) for b in wire + NEXT_COMMAND], limit=4)
    assert (message.size, rest) == (len(wire) - 3, NEXT_COMMAND)


async def test_keeps_only_the_first_bytes_asked_for() -> None:
    wire = b"Subject: x\r\n\r\n" + b"body\r\n" * 1000 + b".\r\n"
    message, _ = await discard([wire], limit=64 * 1024, keep=20)
    assert message.head == wire[:20]
    assert message.size == len(wire) - 3


@pytest.mark.parametrize("limit", [16, 64 * 1024])
async def test_notices_lines_over_the_rfc_limit(limit: int) -> None:
    short = b"x" * 998 + b"\r\n"
    long = b"y" * 1000 + b"\r\n"  # 1002 bytes: over the 1001 that aiosmtpd allows
    assert not (await discard([short * 3 + b".\r\n"], limit=limit))[0].long_line
    assert (await discard([short + long + short + b".\r\n"], limit=limit))[0].long_line
    halves = [short + long[:500], long[500:] + b".\r\n"]
    assert (await discard(halves, limit=limit))[0].long_line


async def test_a_huge_single_line_is_consumed_in_pieces() -> None:
    # 8 MiB without a line break: nothing may wait for the end of the line to arrive in one buffer.
    wire = b"z" * (8 * 2**20) + b"\r\n.\r\n"
    message, rest = await discard([wire[i : i + 65536] for i in range(0, len(wire), 65536)], limit=64 * 1024)
    assert (message.size, message.long_line, rest) == (8 * 2**20 + 2, True, b"")


async def test_end_of_stream_inside_a_message_is_a_disconnect() -> None:
    with pytest.raises(ConnectionResetError):
        await discard([b"Subject: cut\r\n"], limit=64 * 1024)
