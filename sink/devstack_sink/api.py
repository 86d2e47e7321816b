"""The HTTP API: what each endpoint does, in terms of the workers (fleet.py)."""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

from devstack_sink import capture, faults, fleet, metrics, stats
from devstack_sink.http import HttpError, Request, Response, json_response

Endpoint = Callable[["Api", Request], Awaitable[Response]]


class Api:
    def __init__(self, workers: fleet.Fleet, capture_size: int) -> None:
        self.workers = workers
        self.capture_size = capture_size

    async def __call__(self, request: Request) -> Response:
        if request.path.startswith(MESSAGE_PREFIX) and request.method == "GET":
            return await get_message(self, request)
        methods = ROUTES.get(request.path.rstrip("/") or "/")
        if methods is None:
            raise HttpError(404, f"no such endpoint {request.path!r}; try one of {sorted(ROUTES)}")
        endpoint = methods.get(request.method)
        if endpoint is None:
            allowed = ", ".join(sorted(methods))
            raise HttpError(405, f"{request.path} accepts {allowed}", (("Allow", allowed),))
        return await endpoint(self, request)

    async def totals(self) -> dict[str, Any]:
        snapshots = await self.workers.ask({"op": "stats"})
        per_worker = [{"connections": s["connections"], "messages": s["messages"]} for s in snapshots]
        return stats.merge(snapshots) | {"per_worker": per_worker}

    async def rule_hits(self) -> list[tuple[faults.Rule, int]]:
        """Each rule with how often it applied, summed over the workers."""
        rules = self.workers.rules
        hits = [0] * len(rules)
        for answer in await self.workers.ask({"op": "faults"}):
            for index, count in enumerate(answer.get("hits", [])[: len(hits)]):
                hits[index] += count
        return list(zip(rules, hits, strict=True))

    async def faults_document(self) -> dict[str, Any]:
        return {"rules": [r.to_json() | {"rule": r.to_text(), "hits": n} for r, n in await self.rule_hits()]}


async def get_stats(api: Api, request: Request) -> Response:
    totals = await api.totals()
    return json_response(totals | {"workers": api.workers.size, "workers_alive": api.workers.alive()})


async def get_metrics(api: Api, request: Request) -> Response:
    totals, hits = await api.totals(), await api.rule_hits()
    text = metrics.render(totals, api.workers.alive(), [(rule.to_text(), n) for rule, n in hits])
    return Response(200, text.encode(), metrics.CONTENT_TYPE)


async def post_reset(api: Api, request: Request) -> Response:
    await api.workers.ask({"op": "reset"})
    return json_response({"reset": True})


def _capture_on(api: Api) -> None:
    if not api.capture_size:
        raise HttpError(404, "capture is off; start the sink with --capture N (or SINK_CAPTURE=N)")


async def get_captured(api: Api, request: Request) -> Response:
    """The kept messages that match the query's filters (sender, recipient, subject, message_id, q: each a
    case-insensitive substring), the newest `limit` of them, oldest first; without their bodies."""
    _capture_on(api)
    params = urllib.parse.parse_qs(request.query)
    unknown = sorted(set(params) - {*capture.FILTERS, "limit"})
    if unknown:
        raise HttpError(400, f"unknown parameter {unknown[0]!r}; expected one of {[*capture.FILTERS, 'limit']}")
    limit_text = params.get("limit", [str(api.capture_size)])[-1]
    if not limit_text.isdigit():
        raise HttpError(400, f"limit: expected a whole number, got {limit_text!r}")
    query = {key: values[-1] for key, values in params.items() if key in capture.FILTERS}
    answers = await api.workers.ask({"op": "captured", "query": query})
    messages = capture.merge((a.get("messages", []) for a in answers), min(int(limit_text), api.capture_size))
    return json_response({"capture": api.capture_size, "messages": messages})


async def get_message(api: Api, request: Request) -> Response:
    """/captured/ID: one kept message with its body (JSON); /captured/ID/raw: the message itself."""
    _capture_on(api)
    wanted, _, rest = request.path.removeprefix(MESSAGE_PREFIX).partition("/")
    if rest not in ("", "raw"):
        raise HttpError(404, f"no such endpoint {request.path!r}; try /captured/ID or /captured/ID/raw")
    for answer in await api.workers.ask({"op": "message", "id": wanted}):
        if answer.get("message") is not None:
            if rest == "raw":
                return Response(200, base64.b64decode(answer["raw"]), "message/rfc822")
            return json_response(answer["message"])
    raise HttpError(404, f"no captured message {wanted!r} (the oldest go first, to keep within the capture's bounds)")


async def get_faults(api: Api, request: Request) -> Response:
    return json_response(await api.faults_document())


async def put_faults(api: Api, request: Request) -> Response:
    try:
        rules = tuple(faults.rules_from_json(json.loads(request.body or b"null")))
    except ValueError as error:  # bad JSON or a bad rule
        raise HttpError(400, str(error)) from None
    await api.workers.set_rules(rules)
    return json_response(await api.faults_document())


async def delete_faults(api: Api, request: Request) -> Response:
    await api.workers.set_rules(())
    return json_response({"rules": []})


async def get_healthz(api: Api, request: Request) -> Response:
    alive, size = api.workers.alive(), api.workers.size
    status = "ok" if alive == size else "degraded"
    return json_response({"status": status, "workers": size, "workers_alive": alive}, 200 if alive == size else 503)


MESSAGE_PREFIX = "/captured/"
ROUTES: dict[str, dict[str, Endpoint]] = {
    "/stats": {"GET": get_stats},
    "/metrics": {"GET": get_metrics},
    "/reset": {"POST": post_reset},
    "/captured": {"GET": get_captured},
    "/faults": {"GET": get_faults, "PUT": put_faults, "DELETE": delete_faults},
    "/healthz": {"GET": get_healthz},
}
