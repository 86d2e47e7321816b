"""No dev secret value leaves the daemon's HTTP side: a canary secret planted in a log line, the board, a smoke
result, a captured message (envelope, subject, body) and a fault rule is searched for in every page, every API
answer and the event stream, as written and as JSON would escape it."""

from __future__ import annotations

import json
import smtplib
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.web.conftest import CANARY, TOKEN, MemoryBackend, Served, ServerThread, board

FORMS = (CANARY, json.dumps(CANARY)[1:-1])  # as written, and inside a JSON string


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    backend = MemoryBackend(board=board("relay", "sink"))
    backend.board["error"] = f"deploy failed: password {CANARY} refused"
    backend.board["resources"][0]["reason"] = f"exit 1: {CANARY}"
    backend.logs.add("relay", f"connecting with password={CANARY}")
    backend.runs.append({"id": 1, "reason": "asked for", "started": time.time() - 5, "finished": time.time(),
                         "ok": False, "results": [{"name": "inject", "type": "http-inject", "ok": False,
                                                   "seconds": 0.1, "summary": "", "expected": "200",
                                                   "got": f"401 for {CANARY}", "timings": {}, "logs": [CANARY],
                                                   "started": time.time() - 5, "finished": time.time(),
                                                   "envelope": None}]})
    thread = ServerThread(backend, tmp_path_factory.mktemp("web") / "daemon.sock", 0, [CANARY], sink=True)
    with thread as listening:
        assert listening.url is not None
        message = (f"From: a@example.test\r\nSubject: the password is {CANARY}\r\nMessage-ID: <canary@example.test>"
                   f"\r\n\r\nyour password: {CANARY}\r\n")
        with smtplib.SMTP("127.0.0.1", thread.smtp_port, timeout=10) as client:
            client.sendmail("a@example.test", ["b@example.test"], message.encode())
        backend.logs.add("relay", f"<canary@example.test> sent with {CANARY}")
        port = int(listening.url.split(":")[2].split("/")[0])
        yield Served(backend, listening.socket, port, listening.url)


def assert_clean(text: str) -> None:
    for form in FORMS:
        assert form not in text
    assert "canary-Zq8" not in text  # not even half of it


def test_no_page_or_answer_carries_the_secret(planted: Served) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=planted.base, headers=headers, timeout=10) as client:
        rule = client.put("/api/mail/faults", json={"rules": [f"*@x.test:451,text={CANARY}"]})
        assert rule.status_code == 200
        listed = client.get("/api/mail/messages").json()["messages"]
        assert len(listed) == 1
        paths = ["/", "/static/app.js", "/static/style.css", "/static/favicon.svg", "/api/state", "/api/logs",
                 "/api/smoke", "/api/mail/stats", "/api/mail/messages", f"/api/mail/messages/{listed[0]['id']}",
                 "/api/mail/timeline?message_id=%3Ccanary%40example.test%3E", "/api/mail/faults",
                 f"/api/mail/messages?q={CANARY[:10]}"]
        bodies = {path: client.get(path) for path in paths}
    for path, response in bodies.items():
        assert response.status_code == 200, (path, response.text)
        assert_clean(response.text)
    said = " ".join(bodies[p].text for p in paths[4:])
    assert said.count("[redacted]") >= 8  # the planted values are there, scrubbed: not merely missing
    message = bodies[f"/api/mail/messages/{listed[0]['id']}"].json()
    assert message["subject"] == "the password is [redacted]" and "your password: [redacted]" in message["body"]
    timeline = bodies["/api/mail/timeline?message_id=%3Ccanary%40example.test%3E"].json()
    assert [e["kind"] for e in timeline["entries"]] == ["sink", "log"]


def test_the_event_stream_carries_no_secret(planted: Served) -> None:
    cookie = {"Cookie": f"devstack-{planted.port}={TOKEN}"}
    seen = ""
    with httpx.Client(base_url=planted.base, headers=cookie, timeout=10) as client, \
            client.stream("GET", "/api/stream") as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        for chunk in stream.iter_text():
            seen += chunk
            if "event: state" in seen and "event: logs" in seen:
                break
    assert_clean(seen)
    assert "password=[redacted]" in seen and "exit 1: [redacted]" in seen


def test_a_secret_is_scrubbed_whatever_answers(planted: Served) -> None:
    """The sink's own refusal, which quotes the rule it refused, passes the same way out."""
    with httpx.Client(base_url=planted.base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10) as client:
        refused = client.put("/api/mail/faults", json={"rules": [f"x.test:{CANARY}"]})
    assert refused.status_code == 400
    assert "got '[redacted]'" in refused.json()["error"]
    assert_clean(refused.text)
