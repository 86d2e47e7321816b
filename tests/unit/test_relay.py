"""The demo relay (stacks/demo/relay/relay.py), run in-process against a real aiosmtpd server on loopback."""

from __future__ import annotations

import base64
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

RELAY_PY = Path(__file__).resolve().parents[2] / "stacks" / "demo" / "relay" / "relay.py"
USER, PASSWORD = "demo", "s3cret-Pa55"
AUTH = (USER, PASSWORD)
SENDER = "bounces@example.com"


def load_relay() -> ModuleType:
    # The relay is a standalone script copied into its image, not part of a package: import it by path.
    spec = importlib.util.spec_from_file_location("demo_relay", RELAY_PY)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module


relay = load_relay()


@dataclass
class Sink:
    """An aiosmtpd handler that keeps every transaction and refuses recipients starting with 'refuse'."""

    transactions: list[tuple[str, list[str], bytes]] = field(default_factory=list)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address.startswith("refuse"):
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.transactions.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"

    def message(self, index: int = 0) -> EmailMessage:
        parsed = message_from_bytes(self.transactions[index][2], policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


def free_port() -> int:
    # aiosmtpd's Controller checks it is up by connecting to its port, so it cannot take port 0.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def sink() -> Iterator[tuple[Sink, int]]:
    handler, port = Sink(), free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield handler, port
    controller.stop()


def start_relay(sink_port: int) -> tuple[Any, threading.Thread]:
    config = relay.Config(("127.0.0.1", 0), ("127.0.0.1", sink_port), USER, PASSWORD)
    server = relay.RelayServer(config)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def client(sink: tuple[Sink, int]) -> Iterator[httpx.Client]:
    server, thread = start_relay(sink[1])
    with httpx.Client(base_url=f"http://127.0.0.1:{server.server_address[1]}", timeout=10) as http:
        yield http
    server.shutdown()
    server.server_close()
    thread.join(5)


def inject(client: httpx.Client, payload: Any, auth: Any = AUTH) -> httpx.Response:
    return client.post("/api/inject/v1", content=json.dumps(payload), auth=auth)


def request(content: Any, *emails: str, **extra: Any) -> dict[str, Any]:
    return {"envelope_sender": SENDER, "content": content, "recipients": [{"email": e} for e in emails]} | extra


SIMPLE = "Subject: hi\r\n\r\nhello\r\n"


def test_greeting_and_healthz(client: httpx.Client) -> None:
    assert client.get("/").text.startswith("devstack demo relay")
    assert client.get("/healthz").status_code == 200


def test_unknown_path_is_404_and_wrong_method_405(client: httpx.Client) -> None:
    assert client.get("/nope").status_code == 404
    response = client.get("/api/inject/v1")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


@pytest.mark.parametrize("auth", [None, (USER, "wrong"), ("other", PASSWORD)])
def test_inject_needs_the_right_credentials(client: httpx.Client, sink: tuple[Sink, int], auth: Any) -> None:
    response = inject(client, request(SIMPLE, "a@example.com"), auth=auth)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic ")
    assert sink[0].transactions == []


def test_garbage_authorization_header_is_401(client: httpx.Client) -> None:
    headers = {"Authorization": "Basic !!not-base64!!"}
    response = client.post("/api/inject/v1", content=json.dumps(request(SIMPLE, "a@x.org")), headers=headers)
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("{not json", "not valid JSON"),
        ([], "JSON object"),
        ({"content": SIMPLE, "recipients": [{"email": "a@x.org"}]}, "envelope_sender"),
        (request(SIMPLE), "recipients must be a non-empty list"),
        (request(42, "a@x.org"), "content must be"),
        (request(SIMPLE, "not an address"), "recipients[0].email"),
        (request(SIMPLE, "a@x.org", substitutions=["x"]), "substitutions must be an object"),
        (request({"subject": "s", "text_body": "t"}, "a@x.org"), "content.from"),
        (request({"from": {"email": "f@x.org"}, "text_body": 3}, "a@x.org"), "content.text_body"),
        (
            request({"from": {"email": "f@x.org"}, "attachments": [{"data": "@@", "base64": True}]}, "a@x.org"),
            "cannot build the message",
        ),
        (request({"from": {"email": "f@x.org"}, "headers": {"X-Bad": "a\r\nBcc: b@x.org"}}, "a@x.org"), "linefeed"),
    ],
)
def test_bad_requests_are_400_with_a_reason(
    client: httpx.Client, sink: tuple[Sink, int], payload: Any, message: str
) -> None:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    response = client.post("/api/inject/v1", content=body, auth=AUTH)
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert sink[0].transactions == []


def test_one_smtp_transaction_per_recipient(client: httpx.Client, sink: tuple[Sink, int]) -> None:
    response = inject(client, request(SIMPLE, "a@example.com", "b@example.com", "c@example.org"))
    assert response.status_code == 200
    assert response.json() == {"success_count": 3, "fail_count": 0, "failed_recipients": [], "errors": []}
    assert [(sender, rcpts) for sender, rcpts, _ in sink[0].transactions] == [
        (SENDER, ["a@example.com"]),
        (SENDER, ["b@example.com"]),
        (SENDER, ["c@example.org"]),
    ]


def test_rfc822_string_is_relayed_as_is(client: httpx.Client, sink: tuple[Sink, int]) -> None:
    original = "From: A <a@example.com>\r\nTo: b@example.com\r\nSubject: as is\r\nX-Keep: yes\r\n\r\nbody\r\n"
    assert inject(client, request(original, "b@example.com")).json()["success_count"] == 1
    assert sink[0].transactions[0][2].decode() == original


def test_rfc822_string_gets_crlf_line_ends(client: httpx.Client, sink: tuple[Sink, int]) -> None:
    assert inject(client, request("Subject: unix\n\nline 1\nline 2\n", "b@example.com")).status_code == 200
    assert sink[0].transactions[0][2] == b"Subject: unix\r\n\r\nline 1\r\nline 2\r\n"


def test_object_content_builds_a_mime_message(client: httpx.Client, sink: tuple[Sink, int]) -> None:
    content = {
        "from": {"email": "news@example.com", "name": "News Desk"},
        "reply_to": {"email": "replies@example.com"},
        "subject": "Weekly news",
        "text_body": "plain text",
        "html_body": "<p>html</p>",
        "headers": {"X-Campaign": "w42"},
        "attachments": [
            {
                "data": base64.b64encode(b"\x00\x01binary").decode(),
                "base64": True,
                "content_type": "application/pdf",
                "file_name": "report.pdf",
            },
            {"data": "a,b\n1,2\n", "content_type": "text/csv", "file_name": "data.csv"},
        ],
    }
    payload = request(content) | {"recipients": [{"email": "reader@example.org", "name": "Rea Der"}]}
    assert inject(client, payload).json()["success_count"] == 1
    msg = sink[0].message()
    assert (msg["From"], msg["To"], msg["Reply-To"]) == (
        "News Desk <news@example.com>",
        "Rea Der <reader@example.org>",
        "replies@example.com",
    )
    assert (msg["Subject"], msg["X-Campaign"]) == ("Weekly news", "w42")
    assert msg["Date"] and msg["Message-ID"].endswith("@example.com>")
    assert msg.get_content_type() == "multipart/mixed"
    text, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert text is not None and text.get_content().strip() == "plain text"
    assert html is not None and html.get_content().strip() == "<p>html</p>"
    files = {part.get_filename(): part for part in msg.iter_attachments()}
    assert files["report.pdf"].get_content() == b"\x00\x01binary"
    assert files["report.pdf"].get_content_type() == "application/pdf"
    assert files["data.csv"].get_payload(decode=True) == b"a,b\n1,2\n"


def test_html_only_body(client: httpx.Client, sink: tuple[Sink, int]) -> None:
    content = {"from": {"email": "f@example.com"}, "subject": "s", "html_body": "<b>hi</b>"}
    assert inject(client, request(content, "a@example.com")).json()["success_count"] == 1
    assert sink[0].message().get_content_type() == "text/html"


def test_substitutions_per_recipient_over_global(client: httpx.Client, sink: tuple[Sink, int]) -> None:
    content = {
        "from": {"email": "f@example.com"},
        "subject": "Hi {{ name }}, your {{plan}} plan",
        "text_body": "{{ greeting }} {{ email }}: {{ count }} items, {{ unknown }}",
        "html_body": "<p>{{ greeting }} {{ name }}</p>",
        "headers": {"X-Plan": "{{ plan }}"},
    }
    payload = {
        "envelope_sender": SENDER,
        "content": content,
        "substitutions": {"greeting": "Hello", "plan": "free", "count": 3},
        "recipients": [
            {"email": "ann@example.com", "name": "Ann"},
            {"email": "bob@example.com", "name": "Bob", "substitutions": {"plan": "pro", "greeting": "Yo"}},
        ],
    }
    assert inject(client, payload).json()["success_count"] == 2
    ann, bob = sink[0].message(0), sink[0].message(1)
    assert (ann["Subject"], ann["X-Plan"]) == ("Hi Ann, your free plan", "free")
    assert (bob["Subject"], bob["X-Plan"]) == ("Hi Bob, your pro plan", "pro")
    ann_text = ann.get_body(("plain",))
    assert ann_text is not None
    assert ann_text.get_content().strip() == "Hello ann@example.com: 3 items, {{ unknown }}"
    bob_html = bob.get_body(("html",))
    assert bob_html is not None and bob_html.get_content().strip() == "<p>Yo Bob</p>"


def test_substitutions_apply_to_rfc822_strings(client: httpx.Client, sink: tuple[Sink, int]) -> None:
    payload = request("Subject: for {{ who }}\r\n\r\nhi\r\n", "a@example.com", substitutions={"who": "you"})
    assert inject(client, payload).status_code == 200
    assert sink[0].message()["Subject"] == "for you"


def test_refused_recipient_is_reported_and_others_still_sent(client: httpx.Client, sink: tuple[Sink, int]) -> None:
    response = inject(client, request(SIMPLE, "a@example.com", "refuse@example.com", "b@example.com"))
    assert response.status_code == 200
    result = response.json()
    assert (result["success_count"], result["fail_count"]) == (2, 1)
    assert result["failed_recipients"] == ["refuse@example.com"]
    assert result["errors"] == ["refuse@example.com: 550 5.1.1 mailbox unavailable"]
    assert [rcpts for _, rcpts, _ in sink[0].transactions] == [["a@example.com"], ["b@example.com"]]


def test_unreachable_sink_fails_every_recipient() -> None:
    server, thread = start_relay(free_port())  # nothing listens there
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/api/inject/v1"
        response = httpx.post(url, content=json.dumps(request(SIMPLE, "a@x.org", "b@x.org")), auth=AUTH,
                              timeout=60)  # each recipient is tried again for a few seconds
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    result = response.json()
    assert (result["success_count"], result["fail_count"]) == (0, 2)
    assert "sink 127.0.0.1:" in result["errors"][0]


def test_a_sink_that_refuses_at_first_gets_the_message_once_it_listens() -> None:
    """Right after a deploy, the sink's Service may refuse connections for a second: the relay tries again."""
    port = free_port()
    handler = Sink()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    config = relay.Config(("127.0.0.1", 0), ("127.0.0.1", port), USER, PASSWORD)
    starter = threading.Timer(0.3, controller.start)  # within the first pauses, after the first refusal
    starter.start()
    try:
        assert relay.relay(config, SENDER, "a@x.org", SIMPLE.encode()) is None
    finally:
        starter.join()
        controller.stop()
    assert [rcpts for _, rcpts, _ in handler.transactions] == [["a@x.org"]]


def test_one_log_line_per_request_without_the_password(
    client: httpx.Client, capsys: pytest.CaptureFixture[str]
) -> None:
    inject(client, request("Message-ID: <m1@example.com>\r\n" + SIMPLE, "a@example.com", "refuse@example.com"))
    client.get("/healthz")  # health checks are not logged: one comes every 2 s
    client.get("/")
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["<m1@example.com> from=<bounces@example.com> to=<a@example.com> sent",
                     "<m1@example.com> from=<bounces@example.com> to=<refuse@example.com> refused: 550 5.1.1 mailbox "
                     "unavailable",
                     "POST /api/inject/v1 200 ok=1 failed=1", "GET / 200"]


def test_each_message_is_logged_with_the_message_id_it_was_built_with(
    client: httpx.Client, sink: tuple[Sink, int], capsys: pytest.CaptureFixture[str]
) -> None:
    inject(client, request({"from": {"email": "a@example.com"}, "subject": "s", "text_body": "b"}, "x@example.com"))
    built = sink[0].message()["Message-ID"]
    assert f"{built} from=<bounces@example.com> to=<x@example.com> sent" in capsys.readouterr().out.splitlines()
    assert relay.message_id(SIMPLE.encode()) == "<none>"


def test_config_from_environment(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("from-file\n")
    env = {
        "RELAY_LISTEN": "127.0.0.1:9000",
        "SINK_HOST": "mx",
        "SINK_PORT": "25",
        "INJECT_USER": "u",
        "INJECT_PASSWORD": "from-env",
        "INJECT_PASSWORD_FILE": str(secret),
    }
    config = relay.load_config(env)
    assert config == relay.Config(("127.0.0.1", 9000), ("mx", 25), "u", "from-file")
    defaults = relay.load_config({"INJECT_PASSWORD": "p"})
    assert (defaults.listen, defaults.sink, defaults.user) == (("0.0.0.0", 8000), ("sink", 2525), "devstack")


def test_config_without_a_password_refuses_to_start() -> None:
    with pytest.raises(SystemExit, match="INJECT_PASSWORD"):
        relay.load_config({})

# The relay's live update on a busy server: devstack copies in a new relay.py and sends SIGHUP, and the relay must
# run the new code every time, also when the signal lands while its main thread hands a request to a worker (a
# reload raised there was once caught as that request's error, and the old code served on). The relay runs as a
# process of its own here, polled without pause by clients while it is reloaded again and again.
RELOADS = 15


@pytest.fixture
def relay_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, str]]:
    script = tmp_path / "relay.py"
    shutil.copy(RELAY_PY, script)
    port = free_port()
    env = {**os.environ, "RELAY_LISTEN": f"127.0.0.1:{port}", "INJECT_PASSWORD": "not-a-secret"}
    process = subprocess.Popen([sys.executable, "-u", str(script)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        yield process, script, url
    finally:
        process.terminate()
        process.wait(timeout=10)


def _greets(url: str, client: httpx.Client) -> str:
    try:
        return client.get(url, timeout=2).text
    except httpx.HTTPError:
        return ""  # between the old code and the new one: the socket is closed for a moment


def test_every_reload_runs_the_new_code_while_requests_keep_coming(
        relay_process: tuple[subprocess.Popen[bytes], Path, str]) -> None:
    process, script, url = relay_process
    stop = threading.Event()

    def poll() -> None:  # what makes the race likely: the main thread is busy accepting all the time
        with httpx.Client() as client:
            while not stop.is_set():
                _greets(url, client)

    with httpx.Client() as client:
        deadline = time.monotonic() + 10
        while _greets(url, client) != "devstack demo relay\n":
            assert time.monotonic() < deadline, "the relay did not start"
            time.sleep(0.05)
        pollers = [threading.Thread(target=poll) for _ in range(3)]
        for poller in pollers:
            poller.start()
        try:
            for n in range(RELOADS):
                greeting = f"reload {n}"
                script.write_text(re.sub(r'GREETING = "[^"]*"', f'GREETING = "{greeting}\\\\n"', script.read_text(),
                                         count=1))
                process.send_signal(signal.SIGHUP)
                deadline = time.monotonic() + 10
                while (said := _greets(url, client)) != f"{greeting}\n":
                    assert time.monotonic() < deadline, f"after reload {n} the relay still greets with {said!r}"
                    time.sleep(0.02)
        finally:
            stop.set()
            for poller in pollers:
                poller.join()
    assert process.poll() is None, "the relay must keep running through its reloads"
