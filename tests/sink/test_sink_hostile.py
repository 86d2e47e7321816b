"""Hostile input over raw sockets: the sink answers, counts each case, and stays up."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable
from typing import Any

from sinktools import ProcessSink, ThreadSink


def eventually(sink: ThreadSink | ProcessSink, check: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Stats once `check` holds: connection ends are counted when the sink notices them."""
    deadline = time.monotonic() + 5
    while not check(stats := sink.stats()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return stats


def exchange(sock: socket.socket, line: bytes) -> bytes:
    sock.sendall(line)
    return sock.recv(65536)


def still_serves(sink: ThreadSink | ProcessSink) -> bool:
    with sink.connect() as sock:
        return exchange(sock, b"NOOP\r\n").startswith(b"250")


def test_garbage_lines_get_500_and_the_session_goes_on(sink: ThreadSink) -> None:
    with sink.connect() as sock:
        assert exchange(sock, b"FROBNICATE now\r\n").startswith(b"500")
        assert exchange(sock, b"\x00\xff\xfe\r\n").startswith(b"500 Error: bad syntax")
        assert exchange(sock, b"\r\n").startswith(b"500 Error: bad syntax")
        assert exchange(sock, b"HELO client\r\n").startswith(b"250")
        assert exchange(sock, b"MAIL FROM:<a@example.test>\r\n").startswith(b"250")
    stats = sink.stats()
    assert (stats["garbage_lines"], stats["rejected"]) == (3, 3)


def test_too_many_unknown_commands_end_the_session(sink: ThreadSink) -> None:
    with sink.connect() as sock:
        replies = [exchange(sock, b"XYZZY\r\n") for _ in range(5)]
        assert replies[-1].startswith(b"502 5.5.1")
        assert sock.recv(100) == b""  # closed by the sink
    stats = eventually(sink, lambda s: s["connections_active"] == 0)
    assert (stats["garbage_lines"], stats["early_disconnects"]) == (5, 0)


def test_lines_over_the_limit_get_500_and_the_session_goes_on(sink: ThreadSink) -> None:
    with sink.connect() as sock:
        assert exchange(sock, b"HELO " + b"h" * 600 + b"\r\n").startswith(b"500 Command line too long")
        sock.sendall(b"NOOP " + b"n" * 300_000 + b"\r\n")  # more than the sink ever buffers
        reply = b""
        while not reply.endswith(b"\r\n"):
            reply += sock.recv(100)
        assert reply.startswith(b"500 Command line too long")
        assert exchange(sock, b"HELO client\r\n").startswith(b"250")
    assert sink.stats()["long_lines"] == 2


def test_early_disconnects_are_counted(sink: ThreadSink) -> None:
    sink.connect().close()  # right after the greeting
    with sink.connect() as sock:
        exchange(sock, b"HELO client\r\n")
        exchange(sock, b"MAIL FROM:<a@example.test>\r\n")
    with sink.connect() as sock:  # in the middle of a message
        for line in (b"HELO c\r\n", b"MAIL FROM:<a@b.test>\r\n", b"RCPT TO:<c@d.test>\r\n", b"DATA\r\n"):
            exchange(sock, line)
        sock.sendall(b"Subject: cut short\r\n\r\nhalf a bo")
    with sink.connect() as sock:  # a polite client is not counted
        exchange(sock, b"QUIT\r\n")
    stats = eventually(sink, lambda s: s["connections_active"] == 0)
    assert (stats["connections"], stats["early_disconnects"], stats["messages"]) == (4, 3, 0)
    assert still_serves(sink)


def test_pipelined_commands_are_answered_in_order_and_counted(sink: ThreadSink) -> None:
    with sink.connect() as sock:
        sock.sendall(
            b"EHLO client\r\nMAIL FROM:<a@example.test>\r\nRCPT TO:<b@one.test>\r\n"
            b"RCPT TO:<c@two.test>\r\nBOGUS\r\nDATA\r\n"
        )
        replies = b""
        while not replies.endswith(b"354 End data with <CR><LF>.<CR><LF>\r\n"):
            replies += sock.recv(65536)
        sock.sendall(b"Subject: pipelined\r\n\r\nbody\r\n.\r\nRSET\r\nQUIT\r\n")
        while chunk := sock.recv(65536):
            replies += chunk
    codes = [line[:3] for line in replies.splitlines() if line[3:4] == b" "]
    assert codes == [b"250", b"250", b"250", b"250", b"500", b"354", b"250", b"250", b"221"]
    stats = sink.stats()
    assert (stats["messages"], stats["recipients"]) == (1, 2)
    assert stats["pipelined_commands"] == 5


def test_empty_message(sink: ThreadSink) -> None:
    with sink.connect() as sock:
        for line in (b"HELO c\r\n", b"MAIL FROM:<a@b.test>\r\n", b"RCPT TO:<c@d.test>\r\n", b"DATA\r\n"):
            exchange(sock, line)
        assert exchange(sock, b".\r\n").startswith(b"250")
    assert sink.stats()["bytes"] == 0


def peak_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1])


def send_huge(sink: ProcessSink, size: int) -> bytes:
    with sink.connect() as sock:
        for line in (b"HELO c\r\n", b"MAIL FROM:<a@b.test>\r\n", b"RCPT TO:<c@d.test>\r\n", b"DATA\r\n"):
            exchange(sock, line)
        chunk = (b"x" * 1022 + b"\r\n") * 1024  # 1 MiB of legal lines
        for _ in range(size // len(chunk)):
            sock.sendall(chunk)
        return exchange(sock, b".\r\n")


def test_huge_data_is_streamed_away_not_buffered(process_sink: Callable[..., ProcessSink]) -> None:
    sink = process_sink("--workers", "1", "--max-size", str(32 * 2**20))
    unlimited = process_sink("--workers", "1", "--max-size", "0")
    before = peak_rss_kib(sink.process.pid), peak_rss_kib(unlimited.process.pid)
    assert send_huge(sink, 200 * 2**20).startswith(b"552")  # over the limit: read, discarded, refused
    assert send_huge(unlimited, 200 * 2**20).startswith(b"250")
    # Far from the 200 MiB sent (aiosmtpd's own DATA would hold 32 MiB, or all of it without a limit).
    assert peak_rss_kib(sink.process.pid) - before[0] < 16 * 1024
    assert peak_rss_kib(unlimited.process.pid) - before[1] < 16 * 1024
    stats = sink.stats()
    assert (stats["oversize_messages"], stats["bytes"]) == (1, 200 * 2**20)
    assert still_serves(sink)


def test_a_client_that_never_reads_its_replies_is_held_back(sink: ThreadSink) -> None:
    flood = b"NOOP\r\n" * 100_000
    with sink.connect() as sock:
        sock.settimeout(0.3)
        sent = 0
        with contextlib.suppress(TimeoutError):  # the sink stops reading: the flood cannot get through
            while sent < len(flood) * 40:
                sent += sock.send(flood)
        assert sent < len(flood) * 40  # socket buffers (a few MiB) and 64 KiB of replies: no more
        assert still_serves(sink)  # other clients are not affected
    stats = eventually(sink, lambda s: s["connections_active"] == 0)
    assert stats["pipelined_commands"] > 1000


def test_the_line_limit_that_ehlo_raises_is_per_connection(sink: ThreadSink) -> None:
    # EHLO lets MAIL lines grow by the length of its parameters (SIZE, BODY=8BITMIME): for that session only.
    for _ in range(60):
        with sink.connect() as sock:
            exchange(sock, b"EHLO client\r\n")
            exchange(sock, b"QUIT\r\n")
    with sink.connect() as sock:
        exchange(sock, b"EHLO client\r\n")
        too_long = b"MAIL FROM:<" + b"a" * 1000 + b"@example.test>\r\n"
        assert exchange(sock, too_long).startswith(b"500 Command line too long")
        assert exchange(sock, b"MAIL FROM:<a@example.test> SIZE=100 BODY=8BITMIME\r\n").startswith(b"250")

