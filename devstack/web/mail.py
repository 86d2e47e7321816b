"""The mail view's API: the sink's HTTP API seen through the daemon (the page talks to its own origin only).

    GET    /api/mail/stats                    the sink's counters
    GET    /api/mail/messages?q=&sender=&recipient=&subject=&message_id=&limit=
                                              the captured messages that match, newest first, without bodies
    GET    /api/mail/messages/ID              one of them with its body
    GET    /api/mail/timeline?message_id=X    where that message was seen (timeline.py)
    GET    /api/mail/faults                   the sink's fault rules with their hits
    PUT    /api/mail/faults                   replace them ({"rules": [...]}); DELETE: none

A sink that refuses (capture off, a bad rule) answers with its own status and reason; one that does not answer
is a 502 naming its address.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
from aiohttp import web

from devstack.web import timeline
from devstack.web.backend import BACKEND, error, reply

TIMEOUT_S = 5.0
SESSION = web.AppKey("sink session", aiohttp.ClientSession)
_FILTERS = ("q", "sender", "recipient", "subject", "message_id", "limit")


class SinkError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def routes(router: web.UrlDispatcher) -> None:
    router.add_get("/api/mail/stats", stats)
    router.add_get("/api/mail/messages", messages)
    router.add_get("/api/mail/messages/{id}", message)
    router.add_get("/api/mail/timeline", where)
    router.add_get("/api/mail/faults", faults)
    router.add_put("/api/mail/faults", faults)
    router.add_delete("/api/mail/faults", faults)


async def session(app: web.Application) -> AsyncIterator[None]:
    """One client for the app's life (aiohttp's cleanup context)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TIMEOUT_S)) as client:
        app[SESSION] = client
        yield


async def ask(request: web.Request, method: str, path: str, body: bytes | None = None) -> Any:
    """The sink's JSON answer to one request; SinkError with its status and reason when it refuses or is away."""
    root = request.app[BACKEND].sink
    if root is None:
        raise SinkError(404, "the mail view needs the sink's HTTP API: set [dashboard] sink = "
                             '"http://127.0.0.1:PORT" in devstack.toml')
    try:
        async with request.app[SESSION].request(method, root + path, data=body) as response:
            document = await response.json(content_type=None)
    except (aiohttp.ClientError, TimeoutError, ValueError) as err:
        raise SinkError(502, f"the sink at {root} did not answer: {type(err).__name__} {err}".rstrip()) from None
    if response.status >= 400:
        reason = document.get("error") if isinstance(document, dict) else None
        raise SinkError(response.status, f"the sink at {root}: {reason or response.status}")
    return document


async def stats(request: web.Request) -> web.Response:
    return await _guarded(request, lambda: ask(request, "GET", "/stats"))


async def messages(request: web.Request) -> web.Response:
    query = urllib.parse.urlencode({k: v for k, v in request.query.items() if k in _FILTERS})

    async def newest_first() -> Any:
        document = await ask(request, "GET", f"/captured?{query}")
        return document | {"messages": document["messages"][::-1]}

    return await _guarded(request, newest_first)


async def message(request: web.Request) -> web.Response:
    wanted = urllib.parse.quote(request.match_info["id"], safe="")
    return await _guarded(request, lambda: ask(request, "GET", f"/captured/{wanted}"))


async def faults(request: web.Request) -> web.Response:
    body = await request.read() if request.method == "PUT" else None
    return await _guarded(request, lambda: ask(request, request.method, "/faults", body))


async def where(request: web.Request) -> web.Response:
    message_id = request.query.get("message_id", "").strip()
    if not timeline.bare(message_id):
        return error(request, 400, "message_id: expected a Message-ID, like <abc@example.test>")
    backend = request.app[BACKEND]
    captured, note = await _captured(request, message_id)
    lines = timeline.related_lines(timeline.needles(message_id, captured), backend.logs.matching)
    entries = timeline.build(message_id, captured, lines, backend.smoke_runs())
    return reply(request, {"message_id": message_id, "entries": entries, "captured": captured, "note": note})


async def _captured(request: web.Request, message_id: str) -> tuple[list[dict[str, Any]], str]:
    """The sink's messages with exactly this Message-ID, and why there are none when the sink could not say."""
    query = urllib.parse.urlencode({"message_id": timeline.bare(message_id)})
    try:
        document = await ask(request, "GET", f"/captured?{query}")
    except SinkError as err:
        return [], err.message
    return [m for m in document["messages"] if timeline.same_id(m["message_id"], message_id)], ""


async def _guarded(request: web.Request, call: Callable[[], Awaitable[Any]]) -> web.Response:
    try:
        return reply(request, await call())
    except SinkError as err:
        return error(request, err.status, err.message)
