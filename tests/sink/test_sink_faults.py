"""Fault rules: their text and JSON forms, and what a client sees when one applies."""

from __future__ import annotations

import smtplib
import socket
import time

import pytest
from devstack_sink import faults
from sinktools import SinkFactory, ThreadSink

MESSAGE = b"Subject: fault test\r\n\r\nbody\r\n"


def rcpt_reply(sink: ThreadSink, recipient: str) -> tuple[int, bytes]:
    with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as client:
        client.ehlo("client.test")
        client.mail("sender@example.test")
        return client.rcpt(recipient)


def raw_session(sink: ThreadSink, *commands: bytes) -> bytes:
    """Send the commands one by one; return everything the sink said until it closed."""
    with sink.connect() as sock:
        received = b""
        for command in commands:
            sock.sendall(command)
            received += sock.recv(4096)
        sock.settimeout(5)
        while chunk := sock.recv(4096):
            received += chunk
    return received


# -- the text form -------------------------------------------------------------------------------


def test_text_form_covers_every_setting() -> None:
    rule = faults.parse_rule("data:*.Example:451,delay=1.5,p=0.25,text=4.7.1 Slow down, please")
    assert rule == faults.Rule("*@*.example", "data", 451, "4.7.1 Slow down, please", 1.5, 0.25)
    assert faults.parse_rule(rule.to_text()) == rule
    assert faults.parse_rule("bounce.test:550").match == "*@bounce.test"
    assert faults.parse_rule("*:drop").drop
    assert faults.parse_rule("mail:*@x.test:delay=2").stage == "mail"


def test_several_rules_split_on_semicolons_and_newlines() -> None:
    rules = faults.parse_rules("a.test:451; b.test:550\nc.test:drop;")
    assert [r.match for r in rules] == ["*@a.test", "*@b.test", "*@c.test"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tempfail.test", "PATTERN:ACTION"),
        ("a.test:999", "reply code"),
        ("a.test:451,p=2", "probability"),
        ("a.test:451,delay=-1", "delay"),
        ("a.test:drop,text=x", "drop alone"),
        ("a.test:p=0.5", "an action"),
        ("a.test:451,bogus", "got 'bogus'"),
        ("a.test:delay=1,text=hello", "with a reply code"),
        ("a b:451", "address pattern"),
    ],
)
def test_bad_rules_say_what_was_expected(text: str, expected: str) -> None:
    with pytest.raises(faults.RuleError, match=expected):
        faults.parse_rule(text)


def test_json_form_accepts_objects_and_strings_and_rejects_unknown_keys() -> None:
    rules = faults.rules_from_json({"rules": [{"match": "x.test", "code": 421}, "y.test:drop"]})
    assert [(r.match, r.code, r.drop) for r in rules] == [("*@x.test", 421, False), ("*@y.test", None, True)]
    assert faults.rule_from_json(rules[0].to_json()) == rules[0]
    with pytest.raises(faults.RuleError, match="unknown rule keys"):
        faults.rules_from_json([{"match": "x.test", "code": 451, "colour": "red"}])
    with pytest.raises(faults.RuleError, match="reply code"):
        faults.rules_from_json([{"match": "x.test", "code": "451"}])


# -- what clients see ----------------------------------------------------------------------------


def test_tempfail_and_permfail_replies_by_pattern_and_domain(make_sink: SinkFactory) -> None:
    sink = make_sink("*@tempfail.test:451", "bounce.test:550,text=5.1.1 No such user")
    assert rcpt_reply(sink, "anyone@tempfail.test")[0] == 451
    assert rcpt_reply(sink, "anyone@bounce.test") == (550, b"5.1.1 No such user")
    assert rcpt_reply(sink, "anyone@fine.test")[0] == 250
    stats = sink.stats()
    assert (stats["faults"], stats["rejected"], stats["recipients"]) == (2, 2, 1)


def test_refused_recipients_are_not_delivered_but_the_others_are(make_sink: SinkFactory) -> None:
    sink = make_sink("*@bounce.test:550")
    with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as client:
        refused = client.sendmail("a@example.test", ["ok@fine.test", "no@bounce.test"], MESSAGE)
    assert list(refused) == ["no@bounce.test"]
    assert sink.stats()["messages"] == 1


def test_421_replies_then_closes_the_connection(make_sink: SinkFactory) -> None:
    sink = make_sink("*@gone.test:421")
    said = raw_session(sink, b"HELO c\r\n", b"MAIL FROM:<a@b.test>\r\n", b"RCPT TO:<x@gone.test>\r\n")
    assert said.endswith(b"421 4.3.2 Closing connection: fault injected by devstack-sink\r\n")
    assert sink.stats()["early_disconnects"] == 0  # the sink hung up, not the client


def test_drop_closes_without_a_reply(make_sink: SinkFactory) -> None:
    sink = make_sink("*@cut.test:drop")
    said = raw_session(sink, b"HELO c\r\n", b"MAIL FROM:<a@b.test>\r\n", b"RCPT TO:<x@cut.test>\r\n")
    assert said.splitlines()[-1].startswith(b"250")  # the reply to MAIL, then nothing


def test_delay_answers_late_but_normally(make_sink: SinkFactory) -> None:
    sink = make_sink("*@slow.test:delay=0.4")
    started = time.monotonic()
    assert rcpt_reply(sink, "x@slow.test")[0] == 250
    assert time.monotonic() - started >= 0.4
    assert sink.stats()["recipients"] == 1


def test_probability_zero_never_applies_and_one_always_does(make_sink: SinkFactory) -> None:
    sink = make_sink("*@never.test:451,p=0", "*@always.test:451,p=1")
    assert {rcpt_reply(sink, "x@never.test")[0] for _ in range(20)} == {250}
    assert {rcpt_reply(sink, "x@always.test")[0] for _ in range(20)} == {451}


def test_first_matching_rule_wins(make_sink: SinkFactory) -> None:
    sink = make_sink("vip@shared.test:250", "shared.test:550")
    assert rcpt_reply(sink, "vip@shared.test")[0] == 250
    assert rcpt_reply(sink, "other@shared.test")[0] == 550


def test_mail_stage_matches_the_sender(make_sink: SinkFactory) -> None:
    sink = make_sink("mail:*@blocked.test:554")
    with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as client:
        client.ehlo("client.test")
        assert client.mail("spam@blocked.test")[0] == 554
        assert client.mail("fine@example.test")[0] == 250


def test_data_stage_answers_the_final_dot(make_sink: SinkFactory) -> None:
    sink = make_sink("data:*@queue-full.test:452")
    with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as client:
        client.ehlo("client.test")
        client.mail("a@example.test")
        assert client.rcpt("x@queue-full.test")[0] == 250
        assert client.data(MESSAGE)[0] == 452
    stats = sink.stats()
    assert (stats["messages"], stats["bytes"]) == (0, len(MESSAGE))


def test_data_stage_drop_loses_the_connection_after_the_message(make_sink: SinkFactory) -> None:
    sink = make_sink("data:*:drop")
    client = smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        client.sendmail("a@example.test", ["x@example.test"], MESSAGE)
    assert sink.stats()["faults"] == 1


def test_a_fault_does_not_disturb_other_connections(make_sink: SinkFactory) -> None:
    sink = make_sink("*@slow.test:delay=0.5")
    slow = socket.create_connection(("127.0.0.1", sink.smtp_port))
    slow.sendall(b"HELO c\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<x@slow.test>\r\n")
    with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as client:
        assert client.sendmail("a@example.test", ["b@example.test"], MESSAGE) == {}
    slow.close()


def test_commands_pipelined_behind_a_delayed_one_are_answered_in_order(make_sink: SinkFactory) -> None:
    # The delayed RCPT is the first command that has to wait: the rest of the read goes with it.
    sink = make_sink("*@slow.test:delay=0.3")
    said = raw_session(
        sink,
        b"EHLO c\r\n",
        b"MAIL FROM:<a@b.test>\r\nRCPT TO:<x@slow.test>\r\nRCPT TO:<y@fast.test>\r\nDATA\r\n",
        b"Subject: late\r\n\r\nbody\r\n.\r\nQUIT\r\n",
    )
    codes = [line[:3] for line in said.splitlines() if line[3:4] == b" "]
    assert codes == [b"250", b"250", b"250", b"250", b"354", b"250", b"221"]
    stats = sink.stats()
    assert (stats["recipients"], stats["messages"]) == (2, 1)
    assert stats["pipelined_commands"] >= 3
