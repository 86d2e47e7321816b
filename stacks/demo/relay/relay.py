"""devstack demo relay: KumoMTA's HTTP injection API in front of an SMTP sink.

    POST /api/inject/v1   inject a message (HTTP basic auth), relayed to the sink over SMTP
    GET  /                a greeting: edit it during a live-reload demo
    GET  /healthz         for the container HEALTHCHECK

Each recipient gets its own SMTP session, so one refused recipient never affects the others; the
response says which failed and why: {success_count, fail_count, failed_recipients, errors}. A sink that
refuses the connection is tried again for a few seconds first, as an MTA retries a temporary failure.

Substitutions: `{{ key }}` placeholders in the subject, bodies and header values of object content,
or anywhere in RFC 822 string content, are replaced by the recipient's own `substitutions`, else the
request's global `substitutions`, else the recipient's `email` and `name`. Unknown placeholders are
left as they are, so a typo shows in the message. This is a small subset of KumoMTA's Jinja templates:
no filters, loops or conditions.

Environment: RELAY_LISTEN (0.0.0.0:8000), SINK_HOST (sink), SINK_PORT (2525), INJECT_USER (devstack),
INJECT_PASSWORD, or INJECT_PASSWORD_FILE (a Docker secret; it wins). Only the standard library is
used: the image is built offline on a plain Debian base.
"""

from __future__ import annotations

import base64
import hmac
import json
import os
import re
import signal
import smtplib
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email import policy
from email.errors import MessageError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, ClassVar

GREETING = "devstack demo relay\n"
INJECT_PATH = "/api/inject/v1"
ROUTES = {"/": "GET", "/healthz": "GET", INJECT_PATH: "POST"}  # path -> the one method it answers
MAX_BODY_BYTES = 10 * 1024 * 1024
SMTP_TIMEOUT_SECONDS = 30
# A sink that refuses the connection is tried again after these pauses, as an MTA retries a temporary failure:
# right after a deploy, the Service in front of the sink may not be routed yet (kube-proxy programs it within a
# second or two of the pod being ready).
REFUSED_RETRY_PAUSES_SECONDS = (0.25, 0.5, 1.0, 2.0)
PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")
LINE_END = re.compile(r"\r\n|\r|\n")
ADDRESS = re.compile(r"[^@\s<>]+@[^@\s<>]+")  # enough to keep spaces and CR/LF out of SMTP commands


@dataclass(frozen=True)
class Config:
    listen: tuple[str, int]
    sink: tuple[str, int]
    user: str
    password: str


def load_config(env: Mapping[str, str] = os.environ) -> Config:
    host, _, port = env.get("RELAY_LISTEN", "0.0.0.0:8000").rpartition(":")
    password = env.get("INJECT_PASSWORD", "")
    if env.get("INJECT_PASSWORD_FILE"):
        with open(env["INJECT_PASSWORD_FILE"], encoding="utf-8") as secret:
            password = secret.read().rstrip("\r\n")
    if not password:
        raise SystemExit("relay: set INJECT_PASSWORD or INJECT_PASSWORD_FILE")
    sink = (env.get("SINK_HOST", "sink"), int(env.get("SINK_PORT", "2525")))
    return Config((host, int(port)), sink, env.get("INJECT_USER", "devstack"), password)


class BadRequest(Exception):
    """The request cannot be relayed; its message goes back to the client in a 400."""


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    values: dict[str, str]  # all substitutions for this recipient, already merged


@dataclass(frozen=True)
class Injection:
    sender: str
    content: str | dict[str, Any]
    recipients: list[Recipient]


def parse_injection(body: bytes) -> Injection:
    try:
        request = json.loads(body)
    except ValueError as e:  # covers bad JSON and bad UTF-8
        raise BadRequest(f"body is not valid JSON: {e}") from None
    if not isinstance(request, dict):
        raise BadRequest("body must be a JSON object")
    sender = checked_address(request.get("envelope_sender"), "envelope_sender")
    content = request.get("content")
    if not isinstance(content, str | dict):
        raise BadRequest("content must be an RFC 822 string or an object")
    recipients = request.get("recipients")
    if not isinstance(recipients, list) or not recipients:
        raise BadRequest("recipients must be a non-empty list")
    shared = string_map(request.get("substitutions"), "substitutions")
    return Injection(
        sender, content, [parse_recipient(r, f"recipients[{i}]", shared) for i, r in enumerate(recipients)]
    )


def parse_recipient(item: Any, where: str, shared: dict[str, str]) -> Recipient:
    if not isinstance(item, dict):
        raise BadRequest(f"{where} must be an object")
    email = checked_address(item.get("email"), f"{where}.email")
    name = item.get("name") or ""
    if not isinstance(name, str):
        raise BadRequest(f"{where}.name must be a string")
    own = string_map(item.get("substitutions"), f"{where}.substitutions")
    return Recipient(email, name, {"email": email, "name": name} | shared | own)  # later ones win


def checked_address(value: Any, where: str) -> str:
    if not isinstance(value, str) or not ADDRESS.fullmatch(value):
        raise BadRequest(f"{where} must be an email address like user@example.com")
    return value


def string_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be an object")
    return {key: v if isinstance(v, str) else json.dumps(v) for key, v in value.items()}


def render(template: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def build_messages(injection: Injection) -> list[bytes]:
    """One message per recipient, all built before anything is sent so a bad request sends nothing."""
    try:
        return [build_message(injection.content, rcpt) for rcpt in injection.recipients]
    except (ValueError, MessageError) as e:  # bad headers, addresses or base64 data
        raise BadRequest(f"cannot build the message: {e}") from None


def build_message(content: str | dict[str, Any], rcpt: Recipient) -> bytes:
    # SMTP needs CRLF line ends, and smtplib only converts them in str messages, never in bytes.
    if isinstance(content, str):  # like KumoMTA: the RFC 822 text is used as-is, placeholders aside
        return LINE_END.sub("\r\n", render(content, rcpt.values)).encode("utf-8")
    return compose(content, rcpt).as_bytes(policy=policy.SMTP)


def compose(content: dict[str, Any], rcpt: Recipient) -> EmailMessage:
    msg = EmailMessage()
    sender = mailbox(content.get("from"), "content.from")
    msg["From"] = sender
    msg["To"] = Address(rcpt.name, addr_spec=rcpt.email)
    if content.get("reply_to"):
        msg["Reply-To"] = mailbox(content["reply_to"], "content.reply_to")
    msg["Subject"] = render(text_field(content, "subject") or "", rcpt.values)
    msg["Date"] = formatdate()
    msg["Message-ID"] = make_msgid(domain=sender.domain)  # no domain would mean a DNS lookup
    for name, value in string_map(content.get("headers"), "content.headers").items():
        del msg[name]  # a header given here replaces the one built above
        msg[name] = render(value, rcpt.values)
    add_bodies(msg, content, rcpt.values)
    for i, item in enumerate(content.get("attachments") or []):
        attach(msg, item, f"content.attachments[{i}]")
    return msg


def add_bodies(msg: EmailMessage, content: dict[str, Any], values: dict[str, str]) -> None:
    text, html = text_field(content, "text_body"), text_field(content, "html_body")
    if html is None:
        msg.set_content(render(text or "", values))
    elif text is None:
        msg.set_content(render(html, values), subtype="html")
    else:
        msg.set_content(render(text, values))
        msg.add_alternative(render(html, values), subtype="html")


def attach(msg: EmailMessage, item: Any, where: str) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("data"), str):
        raise BadRequest(f"{where}.data must be a string")
    data = base64.b64decode(item["data"], validate=True) if item.get("base64") else item["data"].encode()
    maintype, _, subtype = str(item.get("content_type") or "application/octet-stream").partition("/")
    msg.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream", filename=item.get("file_name"))


def mailbox(value: Any, where: str) -> Address:
    if not isinstance(value, dict):
        raise BadRequest(f"{where} must be an object with an email and an optional name")
    return Address(str(value.get("name") or ""), addr_spec=checked_address(value.get("email"), where))


def text_field(content: dict[str, Any], key: str) -> str | None:
    value = content.get(key)
    if value is not None and not isinstance(value, str):
        raise BadRequest(f"content.{key} must be a string")
    return value


def relay(
    config: Config, sender: str, rcpt: str, message: bytes, timeout_s: float = SMTP_TIMEOUT_SECONDS
) -> str | None:
    """Send one message in its own SMTP session: None when accepted, else the reason."""
    refused = ConnectionRefusedError()
    for pause in (*REFUSED_RETRY_PAUSES_SECONDS, None):
        try:
            return session(config, sender, rcpt, message, timeout_s)
        except ConnectionRefusedError as e:
            refused = e
            if pause is not None:
                time.sleep(pause)
    return f"sink {config.sink[0]}:{config.sink[1]}: {refused}"


def session(config: Config, sender: str, rcpt: str, message: bytes, timeout_s: float) -> str | None:
    """One SMTP session; a refused connection is the caller's to retry."""
    try:
        # A fixed EHLO name: the default looks up this host's FQDN, which can stall without DNS.
        with smtplib.SMTP(*config.sink, local_hostname="relay", timeout=timeout_s) as smtp:
            smtp.sendmail(sender, [rcpt], message)
    except ConnectionRefusedError:
        raise
    except smtplib.SMTPRecipientsRefused as e:
        return smtp_reply(*e.recipients[rcpt])
    except smtplib.SMTPResponseException as e:  # sender refused, data refused, a greeting error
        return smtp_reply(e.smtp_code, e.smtp_error)
    except OSError as e:  # a connection dropped, a timeout; SMTPException is an OSError too
        return f"sink {config.sink[0]}:{config.sink[1]}: {e}"
    return None


def smtp_reply(code: int, text: bytes | str) -> str:
    return f"{code} {text.decode(errors='replace') if isinstance(text, bytes) else text}"


def message_id(message: bytes) -> str:
    """The Message-ID header of a built message ("<none>" when the RFC 822 content has none)."""
    head = message.partition(b"\r\n\r\n")[0].decode("utf-8", "replace")
    found = re.search(r"^message-id:[ \t]*(\S+)", head, re.IGNORECASE | re.MULTILINE)
    return found.group(1) if found else "<none>"


def relay_all(config: Config, injection: Injection, messages: list[bytes]) -> dict[str, Any]:
    failed, errors = [], []
    for rcpt, message in zip(injection.recipients, messages, strict=True):
        error = relay(config, injection.sender, rcpt.email, message)
        # One line per message, naming its Message-ID, as an MTA's log does: how a message is traced.
        outcome = f"refused: {error}" if error else "sent"
        print(f"{message_id(message)} from=<{injection.sender}> to=<{rcpt.email}> {outcome}", flush=True)
        if error:
            failed.append(rcpt.email)
            errors.append(f"{rcpt.email}: {error}")
    return {
        "success_count": len(messages) - len(failed),
        "fail_count": len(failed),
        "failed_recipients": failed,
        "errors": errors,
    }


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(user, password) of an `Authorization: Basic ...` header; None when absent or malformed."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except ValueError:
        return None
    return user, password


class RelayServer(ThreadingHTTPServer):
    def __init__(self, config: Config, handler: type[RelayHandler] | None = None) -> None:
        self.config = config
        super().__init__(config.listen, handler or RelayHandler)


class RelayHandler(BaseHTTPRequestHandler):
    """The inject API over HTTP. Other servers (KumoMTA's stand-ins) subclass it: they change `routes`,
    `answer` (every route but injection), `authorized` and `deliver`."""

    server_version = "devstack-relay"
    routes: ClassVar[dict[str, str]] = ROUTES
    quiet = "/healthz"  # a probe path: its successful calls are not logged
    outcome = ""  # recipients ok/failed, for the log line

    def do_GET(self) -> None:
        self.route("GET")

    def do_POST(self) -> None:
        self.route("POST")

    def route(self, method: str) -> None:
        path = self.path.partition("?")[0]
        if path not in self.routes:
            self.send_json(404, {"error": f"no such path: {path}"})
        elif self.routes[path] != method:
            self.send_json(405, {"error": f"use {self.routes[path]} {path}"}, {"Allow": self.routes[path]})
        elif path == INJECT_PATH:
            self.inject()
        else:
            self.answer(path)

    def answer(self, path: str) -> None:
        self.send_text(200, "ok\n" if path == "/healthz" else GREETING)

    def inject(self) -> None:
        assert isinstance(self.server, RelayServer)
        try:
            body = self.read_body()  # read even when refusing: unread bytes would reset the connection
            if not self.authorized(self.server.config):
                self.send_json(
                    401, {"error": "authentication required"}, {"WWW-Authenticate": 'Basic realm="devstack relay"'}
                )
                return
            injection = parse_injection(body)
            messages = build_messages(injection)
        except BadRequest as e:
            self.send_json(400, {"error": str(e)})
            return
        result = self.deliver(injection, messages)
        self.outcome = f" ok={result['success_count']} failed={result['fail_count']}"
        self.send_json(200, result)

    def deliver(self, injection: Injection, messages: list[bytes]) -> dict[str, Any]:
        """Hand the messages on; the inject API's answer: {success_count, fail_count, ...}."""
        assert isinstance(self.server, RelayServer)
        return relay_all(self.server.config, injection, messages)

    def read_body(self) -> bytes:
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            raise BadRequest(f"Content-Length must be a number of bytes up to {MAX_BODY_BYTES}")
        return self.rfile.read(int(length))

    def authorized(self, config: Config) -> bool:
        credentials = basic_credentials(self.headers.get("Authorization", ""))
        if credentials is None:
            return False
        user, password = credentials
        # compare_digest takes the same time however much matches: no hints for a guesser.
        return hmac.compare_digest(user.encode(), config.user.encode()) and hmac.compare_digest(
            password.encode(), config.password.encode()
        )

    def send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        self.send(status, json.dumps(payload).encode(), "application/json", headers or {})

    def send_text(self, status: int, text: str) -> None:
        self.send(status, text.encode(), "text/plain; charset=utf-8", {})

    def send(self, status: int, body: bytes, content_type: str, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in {"Content-Type": content_type, "Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        if self.path == self.quiet and code == 200:
            return  # the HEALTHCHECK calls every 2 s: logging each would bury the demo's own lines
        print(f"{self.command} {self.path} {code}{self.outcome}", flush=True)

    def log_message(self, format: str, *args: Any) -> None:  # errors, e.g. a malformed request line
        print(f"{self.address_string()} {format % args}", flush=True)


def stop(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)  # unwinds serve_forever, and `with` closes the socket


class Reload(BaseException):
    """SIGHUP: devstack's live update copied in a new relay.py; run it. A BaseException, as KeyboardInterrupt is:
    the signal may land while the main thread hands a request to a worker, inside socketserver's `except
    Exception`, which would take it for that request's error and serve on with the old code."""


def reload(signum: int, frame: FrameType | None) -> None:
    raise Reload


def main() -> None:
    config = load_config()
    # As PID 1 in a container, SIGTERM does nothing unless a handler is installed.
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)
    try:
        with RelayServer(config) as server:
            print(
                f"relay listening on {config.listen[0]}:{config.listen[1]}, sink {config.sink[0]}:{config.sink[1]}",
                flush=True,
            )
            server.serve_forever()
    except Reload:
        # The same process (PID 1 stays, so the container lives on) starts over with the new code.
        print("relay reloading", flush=True)
        os.execv(sys.executable, [sys.executable, "-u", *sys.argv])


if __name__ == "__main__":
    main()
