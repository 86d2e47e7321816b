"""The mailman-flow smoke test's failures name the step, the reason and the components at fault, with their last
log lines, against real sockets on 127.0.0.1 (nothing listening, or an HTTP server that answers wrongly)."""

from __future__ import annotations

import asyncio
import http.server
import socket
import threading
from collections.abc import Iterator

import pytest

from devstack.config.model import SmokeSpec
from devstack.config.smoke import MailmanFlow
from devstack.smoke import runner

COMPONENTS = {"core": "mailman-core", "mta": "exim", "web": "mailman-web", "sink": "sink"}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def rest_refusing() -> Iterator[int]:
    """A REST API that refuses the credentials, as Mailman core does with a wrong password."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b'{"title": "401 Unauthorized"}'
            self.send_response(401)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def flow(rest_port: int, password: str = "the-password", timeout: float = 1.0) -> SmokeSpec:
    options = MailmanFlow(rest_url=f"http://127.0.0.1:{rest_port}/3.1", rest_user="restadmin", rest_password=password,
                          smtp_host="127.0.0.1", smtp_port=closed_port(), sink_url=f"http://127.0.0.1:{closed_port()}",
                          archive_url=None, domain="lists.devstack.test", member="member@example.test",
                          components=COMPONENTS)
    return SmokeSpec(name="mail-flow", type="mailman-flow", resource="mailman-core", timeout_s=timeout,
                     options=options)


def logs_of(resource: str) -> list[str]:
    return [f"last line of {resource}"]


def test_a_refused_rest_login_fails_the_domain_step_with_cores_logs(rest_refusing: int) -> None:
    # A refused login is final: the step fails at once, not when a generous timeout (for a loaded machine) ends.
    result = asyncio.run(runner.run_one(flow(rest_refusing, password="s3cr3t-value", timeout=30), logs_of))
    assert not result.ok and result.seconds < 30
    assert result.expected.startswith("[domain] HTTP 200 or 404 from GET ")
    assert result.got.startswith("HTTP 401")
    assert result.logs == ["last line of mailman-core"]
    assert "s3cr3t-value" not in result.line()


def test_nothing_listening_fails_the_first_step_within_the_timeout() -> None:
    result = asyncio.run(runner.run_one(flow(closed_port(), timeout=0.5), logs_of))
    assert not result.ok and result.seconds < 10  # the timeout ends the retries; the margin is for a loaded machine
    assert result.expected.startswith("[domain] an answer from GET http://127.0.0.1:")
    assert "ConnectError" in result.got
