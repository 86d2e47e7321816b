"""A stand-in for Mailu's admin, offline variant: only what front needs from it, nginx's auth_http endpoint.

Real Mailu's admin keeps users in a database and will not start without a DNSSEC-validating resolver; this
stand-in knows one mailbox, the initial admin account (INITIAL_ADMIN_ACCOUNT@INITIAL_ADMIN_DOMAIN) whose
password is a swarm secret. It answers nginx's mail proxy (http://nginx.org/en/docs/mail/ngx_mail_auth_http_module.html):

    SMTP without login (port 25)  OK → smtp:25 when the recipient's domain is DOMAIN, else relay denied
    SMTP with login (587, 465)    OK → smtp:10025 for the right password: postfix's submission service, which
                                  relays for the logged-in user (to the relayhost, the stack's sink)
    IMAP (143, 993)               OK → imap:143 for the right password

The password is never logged.
"""

from __future__ import annotations

import hmac
import os
import re
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

DOMAIN = os.environ["DOMAIN"]
MAILBOX = f"{os.environ['INITIAL_ADMIN_ACCOUNT']}@{os.environ['INITIAL_ADMIN_DOMAIN']}"
PASSWORD_FILE = os.environ.get("INITIAL_ADMIN_PW_FILE", "/run/secrets/mailu-admin-password")
BACKENDS = {"smtp": ("smtp", 25), "imap": ("imap", 143), "submission": ("smtp", 10025)}
_ADDRESS = re.compile(r"<([^>]*)>")


def password_ok(user: str, password: str) -> bool:
    with open(PASSWORD_FILE, encoding="utf-8") as secret:
        expected = secret.read().strip()
    return user.lower() == MAILBOX.lower() and hmac.compare_digest(password.encode(), expected.encode())


def decide(headers: dict[str, str]) -> tuple[str, dict[str, str]]:
    """(what to log, the response headers) for one auth_http request."""
    protocol, method = headers.get("auth-protocol", ""), headers.get("auth-method", "")
    if protocol not in ("smtp", "imap"):
        return f"{protocol}: not served", {"Auth-Status": "Protocol not served"}
    if protocol == "smtp" and method == "none":
        match = _ADDRESS.search(headers.get("auth-smtp-to", ""))
        recipient = match.group(1) if match else ""
        if recipient.rpartition("@")[2].lower() != DOMAIN.lower():
            return f"smtp to {recipient!r}: relay denied", {"Auth-Status": "Relay access denied",
                                                            "Auth-Error-Code": "554 5.7.1"}
        return f"smtp to {recipient!r}: local", backend("smtp")
    user = unquote(headers.get("auth-user", ""))
    if not password_ok(user, unquote(headers.get("auth-pass", ""))):
        failed = {"Auth-Status": "Authentication credentials invalid", "Auth-Wait": "1"}
        if protocol == "smtp":
            failed["Auth-Error-Code"] = "535 5.7.8"
        return f"{protocol} login {user!r}: refused", failed
    return f"{protocol} login {user!r}: ok", backend("submission" if protocol == "smtp" else protocol)


def backend(protocol: str) -> dict[str, str]:
    # nginx needs an IP address here; with endpoint_mode dnsrr the name gives a task's address.
    host, port = BACKENDS[protocol]
    return {"Auth-Status": "OK", "Auth-Server": socket.gethostbyname(host), "Auth-Port": str(port)}


class Handler(BaseHTTPRequestHandler):
    server_version = "mailu-admin-standin"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.path.startswith("/internal/auth/email"):
            said, answer = decide({k.lower(): v for k, v in self.headers.items()})
            print(f"auth: {said}", flush=True)
            self.reply(200, b"", answer)
        elif self.path in ("/ping", "/health"):
            self.reply(200, b"ok\n")
        else:
            self.reply(200, b"Mailu admin stand-in (offline variant): no web interface.\n")

    def reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet: auth decisions are printed once, without credentials."""


def config_export() -> str:
    """What `flask mailu config-export` prints of real Mailu's admin (YAML: domains, users), for what the stand-in
    knows: its domain and the one mailbox, never its password."""
    local, _, domain = MAILBOX.partition("@")
    return (f"# Mailu admin stand-in (offline variant): the domain and the one mailbox it knows\n"
            f"domain:\n- name: {DOMAIN}\n"
            f"user:\n- email: {MAILBOX}\n  localpart: {local}\n  domain: {domain}\n  global_admin: true\n")


if __name__ == "__main__":
    import sys

    if sys.argv[1:] == ["config-export"]:  # `devstack run config-export`, as `flask mailu config-export` upstream
        print(config_export(), end="")
    else:
        ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
