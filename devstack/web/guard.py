"""Who may call: a per-run token on every page, API call and stream, and, on the TCP listener, only requests that
a browser made for this very origin.

- The unix socket (the CLI): `Authorization: Bearer TOKEN`, nothing else. No browser can reach a unix socket.
- 127.0.0.1:PORT (the dashboard):
  - the Host header must name this listener (127.0.0.1:PORT or localhost:PORT): a DNS name rebound to
    127.0.0.1 by a hostile page carries its own name and is refused;
  - an Origin header, when there is one, must be this listener's, and a request the browser marks cross-site
    (Sec-Fetch-Site) is refused: no other site can drive the dashboard from a visitor's browser;
  - the token comes once in the printed URL (`/?token=…`), which answers with an HttpOnly, SameSite=Strict
    cookie and a redirect to the same page without it; later requests carry the cookie. Scripts may send the
    bearer header instead;
  - a request that changes something and rides on the cookie must also say it comes from this origin.

A missing token is 401, a wrong one 403; a foreign Host or Origin is 403. Every answer carries headers that
keep the pages from being framed, sniffed or loading anything from elsewhere.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TOKEN_QUERY = "token"
# Nothing but this origin: no inline script, no other host, no frames. Favicons are drawn as data: URLs.
POLICY = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
          "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


@dataclass(frozen=True)
class Guard:
    token: str
    port: int | None = None  # the TCP listener's; None for the unix socket

    @property
    def cookie(self) -> str:
        # Browsers keep cookies per host, not per port: two daemons on 127.0.0.1 must not overwrite each other's.
        return f"devstack-{self.port}"

    @property
    def hosts(self) -> frozenset[str]:
        return frozenset({f"127.0.0.1:{self.port}", f"localhost:{self.port}"})

    @property
    def origins(self) -> frozenset[str]:
        return frozenset(f"http://{host}" for host in self.hosts)

    def valid(self, token: str) -> bool:
        return secrets.compare_digest(token.encode(), self.token.encode())


def refuse(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The security headers, on every answer (refusals and errors included)."""
    try:
        response = await handler(request)
    except web.HTTPException as err:
        response = refuse(err.status, err.text or err.reason)
    response.headers.update({"Content-Security-Policy": POLICY, "X-Content-Type-Options": "nosniff",
                             "X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer",
                             "Cross-Origin-Opener-Policy": "same-origin",
                             "Cross-Origin-Resource-Policy": "same-origin"})
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def middleware(guard: Guard) -> Middleware:
    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        refusal = inspect(guard, request)
        if refusal is not None:
            return refusal
        if guard.port is not None and TOKEN_QUERY in request.query:
            return _exchange(guard, request)
        return await handler(request)

    return check


def inspect(guard: Guard, request: web.Request) -> web.Response | None:
    """The refusal for this request, or None when it may go on."""
    if guard.port is None:
        if "Authorization" not in request.headers:
            return refuse(401, "missing token: send Authorization: Bearer TOKEN (from .devstack/daemon.json)")
        return _bearer(guard, request)
    host = request.headers.get("Host", "")
    if host not in guard.hosts:
        return refuse(403, f"foreign Host {host!r}: open the dashboard at http://127.0.0.1:{guard.port}/")
    origin = request.headers.get("Origin")
    if origin is not None and origin not in guard.origins:
        return refuse(403, f"cross-origin request from {origin!r} refused")
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        return refuse(403, "cross-site request refused")
    if TOKEN_QUERY in request.query:
        return None if guard.valid(request.query[TOKEN_QUERY]) else refuse(403, "wrong token")
    if "Authorization" in request.headers:
        return _bearer(guard, request)
    return _cookie(guard, request)


def _bearer(guard: Guard, request: web.Request) -> web.Response | None:
    """None when a right bearer token came; a 401 or 403 otherwise (the caller decides what a missing one means)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return refuse(401, "missing token")
    return None if guard.valid(token) else refuse(403, "wrong token")


def _cookie(guard: Guard, request: web.Request) -> web.Response | None:
    token = request.cookies.get(guard.cookie)
    if token is None:
        return refuse(401, "missing token: open the URL that `devstack up` printed (it carries the token), or "
                           "see `devstack status`")
    if not guard.valid(token):
        return refuse(403, "wrong token: this daemon was restarted; open the URL it printed now (`devstack status`)")
    if request.method not in SAFE_METHODS and request.headers.get("Origin") not in guard.origins:
        return refuse(403, "a change needs a same-origin request (with an Origin header)")
    return None


def _exchange(guard: Guard, request: web.Request) -> web.Response:
    """`/?token=…` (already checked): keep it in a cookie, and send the browser to the same page without it, so
    that the token stays out of the address bar, the history and every link."""
    query = {k: v for k, v in request.query.items() if k != TOKEN_QUERY}
    response = web.Response(status=303, headers={"Location": str(request.rel_url.with_query(query))})
    response.set_cookie(guard.cookie, guard.token, httponly=True, samesite="Strict", path="/")
    return response
