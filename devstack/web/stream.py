"""The dashboard's live feed: server-sent events on one long GET (/api/stream).

    event: state   the board, whenever it differs from what this client saw last
    event: logs    {"lines": [...], "skipped": N}: the log lines that came since the last batch

Each client is one coroutine that looks every TICK_S for a new board and new lines, so a quiet daemon costs a
few comparisons a second, and a chatty service costs each client at most MAX_LINES lines a tick: beyond that the
oldest of the batch are skipped and counted (the page says so), and the daemon is never held up by a slow
browser (a write waits for that client alone). A client that reconnects sends Last-Event-ID, the number of the
last line it had, and gets what came since (as far as the daemon still keeps it).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from aiohttp import web

from devstack.web.backend import BACKEND, REDACT, LogLine

TICK_S = 0.1
MAX_LINES = 2_000  # per tick: 20,000 lines a second to each browser at most
FIRST_LINES = 10_000  # what a new client gets of the kept lines at once
KEEPALIVE_S = 15.0


def line_json(line: LogLine) -> dict[str, Any]:
    seq, at, resource, source, text = line
    return {"n": seq, "t": round(at, 3), "r": resource, "s": source, "x": text}


async def events(request: web.Request) -> web.StreamResponse:
    backend, redact = request.app[BACKEND], request.app[REDACT]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store"})
    await response.prepare(request)
    after = _start(request)
    # A new page gets the kept lines at once; a resumed one is past that, as is every later batch.
    seen, limit, quiet_since = "", MAX_LINES if after else FIRST_LINES, time.monotonic()
    try:
        while True:
            board = json.dumps(backend.state())
            if board != seen:
                await response.write(_event("state", redact(board)))
                seen = board
            lines, skipped = backend.logs.since(after, limit)
            if lines or skipped:
                after = lines[-1][0] if lines else after + skipped
                body = json.dumps({"lines": [line_json(line) for line in lines], "skipped": skipped})
                await response.write(_event("logs", redact(body), after))
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > KEEPALIVE_S:
                await response.write(b": keepalive\n\n")  # proxies and the browser see the connection live
                quiet_since = time.monotonic()
            limit = MAX_LINES
            await asyncio.sleep(TICK_S)
    except ConnectionError:
        pass  # the page was closed or reloaded
    return response


def _start(request: web.Request) -> int:
    """Where this client's lines begin: after the last one it had (a reconnect), else at the kept ones."""
    text = request.headers.get("Last-Event-ID") or request.query.get("after") or "0"
    return int(text) if text.isdigit() else 0


def _event(kind: str, data: str, id: int | None = None) -> bytes:
    head = f"id: {id}\n" if id is not None else ""
    return f"{head}event: {kind}\ndata: {data}\n\n".encode()
