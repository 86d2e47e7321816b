"""The HTTP API: stats, metrics, reset, captured messages and their search, fault rules at run time, health."""

from __future__ import annotations

import re
import smtplib
import socket

import pytest
from sinktools import SinkFactory, ThreadSink

MESSAGE = b"From: Alice <a@example.test>\r\nSubject: captured\r\nX-Long: one\r\n two\r\n\r\nbody\r\n"


def send(sink: ThreadSink, recipient: str = "b@example.test") -> int:
    """The reply code to RCPT if it refused, else to the final dot."""
    with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as client:
        client.ehlo("client.test")
        client.mail("a@example.test")
        code, _ = client.rcpt(recipient)
        return code if code >= 400 else client.data(MESSAGE)[0]


def raw_http(sink: ThreadSink, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", sink.http_port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def test_stats_has_the_documented_keys(sink: ThreadSink) -> None:
    send(sink)
    stats = sink.stats()
    for key in ("connections", "messages", "recipients", "bytes", "rejected", "faults", "domains"):
        assert key in stats
    for key in ("garbage_lines", "long_lines", "early_disconnects", "pipelined_commands", "oversize_messages"):
        assert stats[key] == 0
    assert (stats["messages"], stats["workers"], stats["workers_alive"]) == (1, 1, 1)


def test_metrics_are_prometheus_text(sink: ThreadSink) -> None:
    send(sink)
    status, text = sink.http("GET", "/metrics")
    assert status == 200
    samples = dict(re.findall(r"^(devstack_sink_\w+(?:\{[^}]*\})?) (\d+)$", text, re.MULTILINE))
    assert samples["devstack_sink_messages_total"] == "1"
    assert samples["devstack_sink_bytes_total"] == str(len(MESSAGE))
    assert samples['devstack_sink_recipient_domain_total{domain="example.test"}'] == "1"
    assert "# TYPE devstack_sink_connections_active gauge" in text
    for line in text.splitlines():
        assert line.startswith("#") or re.match(r"^devstack_sink_\w+(\{[^}]*\})? \d+$", line), line


def test_reset_zeroes_the_counters(sink: ThreadSink) -> None:
    send(sink)
    assert sink.http("POST", "/reset", b"") == (200, {"reset": True})
    stats = sink.stats()
    assert (stats["messages"], stats["connections"], stats["domains"]) == (0, 0, {})


def test_captured_is_off_by_default(sink: ThreadSink) -> None:
    status, document = sink.http("GET", "/captured")
    assert status == 404
    assert "--capture" in document["error"]


def test_captured_keeps_the_last_messages_with_headers_and_bodies(make_sink: SinkFactory) -> None:
    sink = make_sink(capture=2)
    for recipient in ("one@example.test", "two@example.test", "three@example.test"):
        send(sink, recipient)
    status, document = sink.http("GET", "/captured")
    assert status == 200
    messages = document["messages"]
    assert [m["rcpt_tos"] for m in messages] == [["two@example.test"], ["three@example.test"]]
    last = messages[-1]
    assert last["mail_from"] == "a@example.test"
    assert last["size"] == len(MESSAGE)
    assert last["reply"] == f"250 2.0.0 OK: queued as {last['id']} (discarded)"
    assert last["headers"] == [["From", "Alice <a@example.test>"], ["Subject", "captured"], ["X-Long", "one two"]]
    assert (last["subject"], last["truncated"]) == ("captured", False)
    assert re.fullmatch(r"127\.0\.0\.1:\d+", last["peer"])
    assert "body" not in last  # a listing leaves bodies out; /captured/ID has them
    status, one = sink.http("GET", f"/captured/{last['id']}")
    assert (status, one["body"], one["rcpt_tos"]) == (200, "body\r\n", ["three@example.test"])
    assert sink.http("GET", f"/captured/{last['id']}/raw") == (200, MESSAGE.decode())
    assert sink.http("GET", f"/captured/{messages[0]['id']}")[1]["rcpt_tos"] == ["two@example.test"]


def message(subject: str, message_id: str, body: bytes = b"hello\r\n") -> bytes:
    return f"From: x@example.test\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n\r\n".encode() + body


def deliver(sink: ThreadSink, sender: str, recipients: list[str], data: bytes) -> None:
    with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as client:
        client.sendmail(sender, recipients, data)


@pytest.mark.parametrize(
    ("query", "subjects"),
    [
        ("sender=ALICE@", ["one", "three"]),
        ("recipient=carol%40b.test", ["two", "three"]),
        ("subject=Thr", ["three"]),
        ("message_id=%3Cid-2%40", ["two"]),
        ("q=id-1", ["one"]),
        ("q=b.test", ["two", "three"]),
        ("sender=alice&subject=one", ["one"]),
        ("sender=nobody", []),
        ("limit=1", ["three"]),
        ("q=&limit=2", ["two", "three"]),
    ],
)
def test_captured_messages_are_searchable(make_sink: SinkFactory, query: str, subjects: list[str]) -> None:
    sink = make_sink(capture=10)
    deliver(sink, "alice@a.test", ["bob@a.test"], message("one", "<id-1@a.test>"))
    deliver(sink, "dave@a.test", ["carol@b.test"], message("two", "<id-2@a.test>"))
    deliver(sink, "alice@a.test", ["x@a.test", "carol@b.test"], message("three", "<id-3@a.test>"))
    status, document = sink.http("GET", f"/captured?{query}")
    assert status == 200
    assert [m["subject"] for m in document["messages"]] == subjects


@pytest.mark.parametrize(("query", "named"), [("colour=red", "colour"), ("limit=ten", "limit")])
def test_bad_searches_are_refused_naming_the_parameter(make_sink: SinkFactory, query: str, named: str) -> None:
    status, document = make_sink(capture=10).http("GET", f"/captured?{query}")
    assert status == 400
    assert named in document["error"]


def test_capture_is_bounded_by_bytes_oldest_first_and_cuts_a_message_larger_than_all(make_sink: SinkFactory) -> None:
    sink = make_sink(capture=100, capture_bytes=3000)
    for n in range(5):
        deliver(sink, "a@a.test", ["b@a.test"], message(f"m{n}", f"<m{n}@a.test>", b"x" * 900 + b"\r\n"))
    kept = sink.http("GET", "/captured")[1]["messages"]
    assert [m["subject"] for m in kept] == ["m2", "m3", "m4"]  # about 960 bytes each: three fit in 3000
    deliver(sink, "a@a.test", ["b@a.test"], message("big", "<big@a.test>", b"y" * 5000 + b"\r\n"))
    kept = sink.http("GET", "/captured")[1]["messages"]
    assert [(m["subject"], m["truncated"]) for m in kept] == [("big", True)]
    body = sink.http("GET", f"/captured/{kept[0]['id']}")[1]["body"]
    assert body == "y" * (3000 - len(message("big", "<big@a.test>", b"")))


def test_a_dot_stuffed_body_comes_back_as_it_was_sent(make_sink: SinkFactory) -> None:
    sink = make_sink(capture=1)
    deliver(sink, "a@a.test", ["b@a.test"], message("dots", "<d@a.test>", b".leading dot\r\n..two\r\n"))
    kept = sink.http("GET", "/captured")[1]["messages"][0]
    assert sink.http("GET", f"/captured/{kept['id']}")[1]["body"] == ".leading dot\r\n..two\r\n"


def test_refused_messages_are_captured_with_their_reply(make_sink: SinkFactory) -> None:
    sink = make_sink("data:*@full.test:452", capture=5)
    with smtplib.SMTP("127.0.0.1", sink.smtp_port, timeout=10) as client:
        client.ehlo("client.test")
        client.mail("a@a.test")
        client.rcpt("b@full.test")
        assert client.data(message("refused", "<r@a.test>"))[0] == 452
    kept = sink.http("GET", "/captured")[1]["messages"]
    assert [(m["subject"], m["reply"][:3]) for m in kept] == [("refused", "452")]


def test_an_unknown_captured_id_is_a_404(make_sink: SinkFactory) -> None:
    sink = make_sink(capture=5)
    assert sink.http("GET", "/captured/nope")[0] == 404
    assert sink.http("GET", "/captured/nope/other")[0] == 404


def test_faults_can_be_replaced_listed_and_cleared_at_run_time(sink: ThreadSink) -> None:
    rules = {"rules": [{"match": "*@tempfail.test", "code": 451}, "bounce.test:550"]}
    status, document = sink.http("PUT", "/faults", rules)
    assert status == 200
    assert [r["rule"] for r in document["rules"]] == ["rcpt:*@tempfail.test:451", "rcpt:*@bounce.test:550"]
    assert send(sink, "x@tempfail.test") == 451
    assert sink.http("GET", "/faults")[1]["rules"][0]["hits"] == 1

    assert sink.http("DELETE", "/faults") == (200, {"rules": []})
    assert send(sink, "x@tempfail.test") == 250


@pytest.mark.parametrize(
    "body", [b"not json", b'{"rules": "x"}', b'{"rules": [{"match": "a.test", "code": 999}]}', b'["a.test"]']
)
def test_bad_fault_documents_are_refused_and_change_nothing(sink: ThreadSink, body: bytes) -> None:
    sink.http("PUT", "/faults", ["keep.test:451"])
    status, document = sink.http("PUT", "/faults", body)
    assert status == 400
    assert document["error"]
    assert [r["rule"] for r in sink.http("GET", "/faults")[1]["rules"]] == ["rcpt:*@keep.test:451"]


def test_healthz(sink: ThreadSink) -> None:
    assert sink.http("GET", "/healthz") == (200, {"status": "ok", "workers": 1, "workers_alive": 1})


def test_unknown_paths_and_methods(sink: ThreadSink) -> None:
    assert sink.http("GET", "/nope")[0] == 404
    assert sink.http("DELETE", "/stats")[0] == 405
    assert b"Allow: DELETE, GET, PUT" in raw_http(sink, b"POST /faults HTTP/1.1\r\n\r\n")


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"garbage\r\n\r\n", b"400"),
        (b"GET /stats SMTP/1.0\r\n\r\n", b"400"),
        (b"GET /stats HTTP/1.1\r\nno colon here\r\n\r\n", b"400"),
        (b"GET /stats HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n", b"431"),
        (b"PUT /faults HTTP/1.1\r\nContent-Length: lots\r\n\r\n", b"400"),
        (b"PUT /faults HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", b"413"),
        (b"PUT /faults HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", b"411"),
        (b"\x00\xff\xfe binary\r\n\r\n", b"400"),
    ],
)
def test_malformed_requests_get_a_4xx_and_the_server_keeps_serving(
    sink: ThreadSink, request_bytes: bytes, status: bytes
) -> None:
    assert raw_http(sink, request_bytes).startswith(b"HTTP/1.1 " + status)
    assert sink.http("GET", "/healthz")[0] == 200


def test_clients_that_vanish_mid_request_do_not_hurt(sink: ThreadSink) -> None:
    for partial in (b"", b"GET /sta", b"PUT /faults HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc"):
        with socket.create_connection(("127.0.0.1", sink.http_port)) as sock:
            sock.sendall(partial)
    assert sink.http("GET", "/healthz")[0] == 200
