"""The sink as an MTA sees it: smtplib sends, the sink accepts, discards and counts."""

from __future__ import annotations

import smtplib

from sinktools import SinkFactory, ThreadSink

MESSAGE = b"From: a@example.test\r\nTo: b@example.test\r\nSubject: hello\r\n\r\nbody line\r\n"


def send(sink: ThreadSink, sender: str, recipients: list[str], message: bytes = MESSAGE) -> None:
    with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as client:
        client.sendmail(sender, recipients, message)


def test_accepts_and_counts_messages_recipients_bytes_and_domains(sink: ThreadSink) -> None:
    send(sink, "a@example.test", ["x@one.test", "y@one.test", "z@two.test"])
    send(sink, "a@example.test", ["w@ONE.test"])

    stats = sink.stats()
    assert stats["connections"] == 2
    assert stats["messages"] == 2
    assert stats["recipients"] == 4
    assert stats["bytes"] == 2 * len(MESSAGE)
    assert stats["domains"] == {"one.test": 3, "two.test": 1}
    assert stats["rejected"] == stats["early_disconnects"] == stats["connections_active"] == 0


def test_reply_to_the_final_dot_carries_a_queue_id(sink: ThreadSink) -> None:
    with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as client:
        client.ehlo("client.test")
        client.mail("a@example.test")
        client.rcpt("b@example.test")
        code, text = client.data(MESSAGE)
    assert code == 250
    assert b"queued as" in text


def test_ehlo_advertises_size_pipelining_and_smtputf8(make_sink: SinkFactory) -> None:
    sink = make_sink(max_size=1000)
    with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as client:
        client.ehlo("client.test")
        assert client.has_extn("pipelining")
        assert client.has_extn("smtputf8")
        assert client.esmtp_features["size"] == "1000"


def test_null_sender_and_several_transactions_on_one_connection(sink: ThreadSink) -> None:
    with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as client:
        for _ in range(3):
            client.sendmail("<>", ["bounce@example.test"], MESSAGE)
        assert client.rset() == (250, b"OK")
    stats = sink.stats()
    assert (stats["connections"], stats["messages"], stats["recipients"]) == (1, 3, 3)


def test_any_login_is_accepted(sink: ThreadSink) -> None:
    with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as client:
        client.login("relay-user", "any password")
        client.sendmail("a@example.test", ["b@example.test"], MESSAGE)
    assert sink.stats()["messages"] == 1


def test_message_over_the_size_limit_is_read_refused_and_counted(make_sink: SinkFactory) -> None:
    sink = make_sink(max_size=10_000)
    big = MESSAGE + b"x" * 998 + b"\r\n"
    with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as client:
        client.ehlo("client.test")
        # No SIZE= from the client: the sink finds out while reading, then answers after the dot.
        client.mail("a@example.test")
        client.rcpt("b@example.test")
        code, _ = client.data(big * 20)
        assert code == 552
        assert client.noop()[0] == 250  # the session goes on
    stats = sink.stats()
    assert (stats["oversize_messages"], stats["messages"], stats["rejected"]) == (1, 0, 1)


def test_declared_size_over_the_limit_is_refused_at_mail(make_sink: SinkFactory) -> None:
    sink = make_sink(max_size=1000)
    with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as client:
        client.ehlo("client.test")
        code, _ = client.mail("a@example.test", ["SIZE=5000"])
    assert code == 552


def test_long_message_lines_are_accepted_and_counted(sink: ThreadSink) -> None:
    send(sink, "a@example.test", ["b@example.test"], MESSAGE + b"y" * 5000 + b"\r\n")
    stats = sink.stats()
    assert (stats["messages"], stats["long_lines"]) == (1, 1)


def test_dot_stuffed_lines_do_not_end_the_message(sink: ThreadSink) -> None:
    # smtplib stuffs the leading dots; only the lone "." that it appends ends the message.
    body = MESSAGE + b".\r\n..\r\n.x\r\nend.\r\n"
    send(sink, "a@example.test", ["b@example.test"], body)
    stats = sink.stats()
    assert stats["messages"] == 1
    assert stats["bytes"] == len(body) + 3  # three stuffing dots on the wire


def test_international_addresses_are_accepted(sink: ThreadSink) -> None:
    with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as client:
        client.sendmail("jörg@exämple.test", ["ünï@bücher.test"], MESSAGE, mail_options=["SMTPUTF8"])
    assert sink.stats()["domains"] == {"bücher.test": 1}


def test_help_vrfy_noop_and_auth_login_come_from_aiosmtpd(sink: ThreadSink) -> None:
    with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as client:
        client.ehlo("client.test")
        help_text = client.help().decode()
        for command in ("DATA", "EHLO", "MAIL", "RCPT", "QUIT", "RSET", "VRFY", "NOOP"):
            assert command in help_text
        assert client.help("DATA") == b"Syntax: DATA"
        assert client.verify("someone@example.test")[0] == 252
        assert client.noop()[0] == 250
        assert client.docmd("AUTH", "LOGIN")[0] == 334
        assert client.docmd("dXNlcg==")[0] == 334  # "user"
        assert client.docmd("cGFzcw==")[0] == 235  # "pass": any password will do
