"""A stand-in for Mailu's webmail (Roundcube or SnappyMail), offline variant: a page behind front's /webmail
that says where the mail can be read. Real webmail needs PHP and Mailu's images; the mail itself is real and
is read over IMAP through front."""

from __future__ import annotations

import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PAGE = (f"Mailu webmail stand-in (offline variant). Read {os.environ.get('DOMAIN', '')} mail over IMAP "
        "through front, port 143.\n").encode()


class Handler(BaseHTTPRequestHandler):
    server_version = "mailu-webmail-standin"

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE)))
        self.end_headers()
        self.wfile.write(PAGE)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        """Quiet."""


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 80), Handler).serve_forever()
