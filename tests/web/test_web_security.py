"""Who may call the daemon's HTTP side: every route, on both listeners, refuses a missing token (401), a wrong one
(403), a foreign Host or Origin and a cross-site request (403); the token is exchanged for an HttpOnly, SameSite
cookie once; every answer carries the headers that keep the page from being framed or loading anything else."""

from __future__ import annotations

import os
import re
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from devstack.web import app, guard
from tests.web.conftest import TOKEN, MemoryBackend, Served, ServerThread, board

SAMPLE = {"name": "relay", "id": "00000001", "mode": "manual"}


def routes() -> list[tuple[str, str]]:
    """Every (method, path) the application answers, read from its router: a new route cannot be left out."""
    application = app.application(MemoryBackend(), guard.Guard(TOKEN, 1), str)
    found = set()
    for route in application.router.routes():
        if route.method in ("HEAD", "*"):
            continue
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter", "")
        found.add((route.method, re.sub(r"\{(\w+)\}", lambda m: SAMPLE[m.group(1)], path)))
    return sorted(found)


ROUTES = routes()


def test_the_routes_are_all_found() -> None:
    paths = {path for _, path in ROUTES}
    assert {"/", "/static/{name}".replace("{name}", "relay"), "/api/state", "/api/stream", "/api/logs",
            "/api/resources/relay/trigger", "/api/smoke", "/api/stop", "/api/mail/stats", "/api/mail/messages",
            "/api/mail/messages/00000001", "/api/mail/timeline", "/api/mail/faults"} <= paths
    assert ("PUT", "/api/mail/faults") in ROUTES and ("DELETE", "/api/mail/faults") in ROUTES
    assert {("GET", "/status"), ("GET", "/snapshot"), ("POST", "/trigger/relay"), ("POST", "/stop")} <= set(ROUTES)


@pytest.fixture(scope="module")
def tcp(server: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base, timeout=10, follow_redirects=False) as client:
        yield client


@pytest.fixture(scope="module")
def unix(server: Served) -> Iterator[httpx.Client]:
    transport = httpx.HTTPTransport(uds=str(server.socket))
    with httpx.Client(base_url="http://devstack", transport=transport, timeout=10) as client:
        yield client


def same_origin(served: Served) -> dict[str, str]:
    return {"Origin": served.base}


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_missing_token_is_401_on_both_listeners(tcp: httpx.Client, unix: httpx.Client, served: Served,
                                                    method: str, path: str) -> None:
    assert tcp.request(method, path, headers=same_origin(served)).status_code == 401
    assert unix.request(method, path).status_code == 401
    assert served.backend.asked == []


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_wrong_token_is_403_as_bearer_cookie_or_query(tcp: httpx.Client, unix: httpx.Client, served: Served,
                                                         method: str, path: str) -> None:
    wrong = {"Authorization": "Bearer not-the-token"}
    assert tcp.request(method, path, headers=wrong).status_code == 403
    assert unix.request(method, path, headers=wrong).status_code == 403
    cookie = {"Cookie": f"devstack-{served.port}=not-the-token", **same_origin(served)}
    assert tcp.request(method, path, headers=cookie).status_code == 403
    assert tcp.request(method, path, params={"token": "not-the-token"}).status_code == 403
    assert served.backend.asked == []


@pytest.mark.parametrize("host", ["evil.example", "evil.example:{port}", "127.0.0.1.evil.example:{port}",
                                  "localhost:1", "127.0.0.1", "[::1]:{port}", ""])
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_foreign_host_is_403_even_with_the_token(tcp: httpx.Client, served: Served, host: str, method: str,
                                                     path: str) -> None:
    """A page on a DNS name that a hostile resolver points at 127.0.0.1 sends its own name as Host."""
    headers = {"Host": host.format(port=served.port), "Authorization": f"Bearer {TOKEN}"}
    response = tcp.request(method, path, headers=headers)
    assert response.status_code == 403, response.text
    assert "Host" in response.json()["error"]


@pytest.mark.parametrize("origin", ["http://evil.example", "null", "http://127.0.0.1:1", "https://127.0.0.1:{port}"])
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_foreign_origin_is_403_even_with_the_token(tcp: httpx.Client, served: Served, origin: str, method: str,
                                                       path: str) -> None:
    origin = origin.format(port=served.port)
    for credentials in ({"Authorization": f"Bearer {TOKEN}"}, {"Cookie": f"devstack-{served.port}={TOKEN}"}):
        assert tcp.request(method, path, headers={"Origin": origin, **credentials}).status_code == 403
    assert served.backend.asked == []


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_cross_site_request_is_403(tcp: httpx.Client, served: Served, method: str, path: str) -> None:
    headers = {"Sec-Fetch-Site": "cross-site", "Cookie": f"devstack-{served.port}={TOKEN}"}
    assert tcp.request(method, path, headers=headers).status_code == 403


@pytest.mark.parametrize(("method", "path"), [r for r in ROUTES if r[0] != "GET"])
def test_a_change_riding_on_the_cookie_must_say_it_comes_from_this_origin(tcp: httpx.Client, served: Served,
                                                                          method: str, path: str) -> None:
    cookie = {"Cookie": f"devstack-{served.port}={TOKEN}"}
    assert tcp.request(method, path, headers=cookie).status_code == 403
    assert served.backend.asked == []
    assert tcp.request(method, path, headers={**cookie, **same_origin(served)}).status_code not in (401, 403)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_the_right_token_opens_every_route(tcp: httpx.Client, unix: httpx.Client, served: Served, method: str,
                                           path: str) -> None:
    if path == "/api/stream":
        return  # an endless stream: test_web_stream reads it
    cookie = {"Cookie": f"devstack-{served.port}={TOKEN}", **same_origin(served)}
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    for client, headers in ((tcp, cookie), (tcp, bearer), (tcp, {**bearer, "Host": f"localhost:{served.port}"}),
                            (unix, bearer)):
        response = client.request(method, path, headers=headers)
        assert response.status_code not in (401, 403), (response.status_code, response.text)


def test_the_printed_url_trades_its_token_for_a_strict_httponly_cookie(tcp: httpx.Client, served: Served) -> None:
    assert served.url == f"{served.base}/?token={TOKEN}"
    response = tcp.get("/", params={"token": TOKEN, "view": "logs"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/?view=logs"  # the token leaves the address bar and the history
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith(f"devstack-{served.port}={TOKEN};")
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= {part.strip() for part in cookie.split(";")}
    page = tcp.get("/", headers={"Cookie": f"devstack-{served.port}={TOKEN}"})
    assert page.status_code == 200 and "<title>devstack</title>" in page.text


def test_every_answer_forbids_framing_sniffing_and_other_origins(tcp: httpx.Client, served: Served) -> None:
    for headers in ({}, {"Cookie": f"devstack-{served.port}={TOKEN}"}):
        for path in ("/", "/static/app.js", "/api/state", "/api/nope"):
            response = tcp.get(path, headers=headers)
            policy = response.headers["Content-Security-Policy"]
            assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
            assert "script-src 'self'" in policy and "unsafe-inline" not in policy
            assert response.headers["X-Frame-Options"] == "DENY"
            assert response.headers["X-Content-Type-Options"] == "nosniff"
            assert response.headers["Referrer-Policy"] == "no-referrer"


def test_it_listens_on_loopback_only_and_the_socket_is_the_owners(served: Served) -> None:
    listening = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    mine = [fields[1] for fields in listening if fields[3] == "0A" and int(fields[1].split(":")[1], 16) == served.port]
    assert mine == ["0100007F:" + f"{served.port:04X}"]  # 127.0.0.1, nothing else
    assert not any(int(line.split()[1].split(":")[1], 16) == served.port and line.split()[3] == "0A"
                   for line in Path("/proc/net/tcp6").read_text().splitlines()[1:])
    assert stat.S_IMODE(served.socket.stat().st_mode) == 0o600


def test_the_api_does_what_it_says(tcp: httpx.Client, served: Served) -> None:
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    assert tcp.post("/api/resources/relay/trigger", headers=bearer).status_code == 202
    unknown = tcp.post("/api/resources/nope/trigger", headers=bearer)
    assert unknown.status_code == 404 and "nope" in unknown.json()["error"]
    assert tcp.post("/api/smoke", headers=bearer).status_code == 202
    assert tcp.post("/api/commands/relay/run", headers=bearer).status_code == 202
    assert tcp.post("/api/commands/nope/run", headers=bearer).status_code == 404
    assert tcp.post("/api/resources/relay/disable", headers=bearer).status_code == 202
    assert tcp.post("/api/resources/relay/enable", headers=bearer).status_code == 202
    assert tcp.post("/api/resources/nope/disable", headers=bearer).status_code == 404
    assert tcp.post("/api/resources/relay/trigger-mode/manual", headers=bearer).status_code == 202
    assert tcp.post("/api/resources/relay/trigger-mode/reset", headers=bearer).status_code == 202
    assert tcp.post("/api/resources/nope/trigger-mode/auto", headers=bearer).status_code == 404
    bad = tcp.post("/api/resources/relay/trigger-mode/sometimes", headers=bearer)
    assert bad.status_code == 400 and "sometimes" in bad.json()["error"]
    assert tcp.post("/api/reconfigure", headers=bearer).status_code == 202
    assert tcp.post("/api/stop", headers=bearer).status_code == 202
    assert served.backend.asked == ["trigger relay", "smoke", "command relay", "disable relay", "enable relay",
                                    "manual relay", "reset relay", "reconfigure", "stop"]
    assert tcp.get("/static/nope.js", headers=bearer).status_code == 404
    assert tcp.get("/api/logs", params={"after": "x"}, headers=bearer).status_code == 400
    no_sink = tcp.get("/api/mail/stats", headers=bearer)
    assert no_sink.status_code == 404 and "[dashboard] sink" in no_sink.json()["error"]


def test_a_taken_port_is_said_and_the_control_api_still_serves(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        with ServerThread(MemoryBackend(board=board("relay")), tmp_path / "d.sock", port, []) as listening:
            assert listening.url is None
            assert listening.problem.startswith(f"no dashboard: port {port} on 127.0.0.1 is in use by pid "
                                                f"{os.getpid()} (")
            assert "--web-port" in listening.problem
            transport = httpx.HTTPTransport(uds=str(listening.socket))
            with httpx.Client(transport=transport, timeout=10) as client:
                answer = client.get("http://devstack/api/state", headers={"Authorization": f"Bearer {TOKEN}"})
            assert answer.status_code == 200 and answer.json()["resources"][0]["name"] == "relay"
