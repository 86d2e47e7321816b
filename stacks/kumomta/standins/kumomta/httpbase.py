"""HTTP plumbing shared by the kumod and tsa-daemon stand-ins, answering as KumoMTA's listeners (axum) answer,
as recorded in tests/data/kumomta-contract: an unknown path is a bare 404, a known path with another method a
bare 405; every route but check-liveness passes the same authentication step first:

    no Authorization header    the client's address is a trusted host: go on; else 401 "Missing Authorization header"
    not Basic/Bearer base64    400 "Malformed or unsupported Authorization header"
    credentials refused        401 "Invalid Authorization" (a Bearer token too: the policy checks none)

Routes for trusted hosts only (metrics, admin, all of TSA) answer 401 "Trusted IP required" to credentials.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, ClassVar

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
TEXT = "text/plain; charset=utf-8"
JSON = "application/json"
BODY_LIMIT = 2 * 1024 * 1024  # kumod's default request_body_limit


def networks(value: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in value.split(",") if item.strip())


def within(address: str, allowed: tuple[Network, ...]) -> bool:
    client = ipaddress.ip_address(address)
    return any(client in network for network in allowed)


class Refusal(Exception):
    """An answer that ends the request: status, text body (text/plain), as KumoMTA words it."""

    def __init__(self, status: int, text: str, content_type: str | None = TEXT) -> None:
        super().__init__(text)
        self.status, self.text, self.content_type = status, text, content_type


@dataclass(frozen=True)
class Identity:
    """Who the request is from: a trusted address (no credentials) or a checked basic-auth user."""

    trusted: bool
    user: str = ""


@dataclass(frozen=True)
class Route:
    method: str
    handler: Callable[[Any, Identity], None]  # (request handler, identity)
    trusted_only: bool = False
    exempt: bool = False  # no authentication at all (check-liveness)


class Handler(BaseHTTPRequestHandler):
    """Subclasses set `routes` ({path: [Route, ...]}), `trusted` and `check_basic`."""

    protocol_version = "HTTP/1.1"
    routes: ClassVar[dict[str, list[Route]]] = {}
    quiet: ClassVar[set[str]] = set()  # probe paths: not logged when they succeed

    def trusted_hosts(self) -> tuple[Network, ...]:
        raise NotImplementedError

    def check_basic(self, user: str, password: str | None) -> bool:
        return False

    def do_GET(self) -> None:
        self.dispatch()

    def do_POST(self) -> None:
        self.dispatch()

    def do_DELETE(self) -> None:
        self.dispatch()

    def do_PUT(self) -> None:
        self.dispatch()

    def dispatch(self) -> None:
        path = self.path.partition("?")[0]
        routes = self.routes.get(path)
        try:
            if routes is None:
                raise Refusal(404, "", None)
            route = next((r for r in routes if r.method == self.command), None)
            if route is None:
                raise Refusal(405, "", None)
            identity = Identity(True) if route.exempt else self.identify()
            if route.trusted_only and not identity.trusted:
                raise Refusal(401, "Trusted IP required")
            route.handler(self, identity)
        except Refusal as refusal:
            self.drain()
            self.send(refusal.status, refusal.text.encode(), refusal.content_type)

    def identify(self) -> Identity:
        header = self.headers.get("Authorization")
        if header is None:
            if within(self.client_address[0], self.trusted_hosts()):
                return Identity(True)
            raise Refusal(401, "Missing Authorization header")
        kind, _, contents = header.partition(" ")
        if kind == "Bearer" and contents:
            raise Refusal(401, "Invalid Authorization")
        if kind != "Basic" or not contents:
            raise Refusal(400, "Malformed or unsupported Authorization header")
        try:
            decoded = base64.b64decode(contents, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise Refusal(400, "Malformed or unsupported Authorization header") from None
        user, colon, password = decoded.partition(":")
        if not self.check_basic(user, password if colon else None):
            raise Refusal(401, "Invalid Authorization")
        return Identity(False, user)

    def body(self, limit: int = BODY_LIMIT) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > limit:
            raise Refusal(413, "Failed to buffer the request body: length limit exceeded")
        self._read = True
        return self.rfile.read(length)

    def json_body(self) -> Any:
        """The body as JSON, refused as axum's Json extractor refuses it."""
        media = (self.headers.get("Content-Type") or "").partition(";")[0].strip().lower()
        if not (media == JSON or (media.startswith("application/") and media.endswith("+json"))):
            raise Refusal(415, "Expected request with `Content-Type: application/json`")
        raw = self.body()
        try:
            return json.loads(raw)
        except ValueError as err:
            raise Refusal(400, f"Failed to parse the request body as JSON: {err}") from None

    def drain(self) -> None:
        """Read an unread body, so the connection stays usable (or close it when it is too big to bother)."""
        if getattr(self, "_read", False):
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= BODY_LIMIT:
            self.rfile.read(length)
        else:
            self.close_connection = True

    def send(self, status: int, body: bytes, content_type: str | None) -> None:
        self.send_response(status)
        if content_type:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_text(self, status: int, text: str) -> None:
        self.send(status, text.encode(), TEXT)

    def send_json(self, status: int, payload: Any) -> None:
        self.send(status, json.dumps(payload, separators=(",", ":")).encode(), JSON)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.path.partition("?")[0] in self.quiet and code == 200:
            return
        print(f"{self.command} {self.path} {code}", flush=True)

    def log_message(self, format: str, *args: Any) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def stop(signum: int, frame: FrameType | None) -> None:
    """SIGTERM: as PID 1 in a container it does nothing unless handled; unwinds serve_forever."""
    raise SystemExit(0)
