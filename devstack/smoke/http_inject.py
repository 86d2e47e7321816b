"""`http-inject`: POST a KumoMTA /api/inject/v1 payload, check the counts in the answer, then poll the sink's
/stats until the accepted recipients have arrived: proof of delivery, not only of acceptance."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from devstack.config.smoke import HttpInject
from devstack.errors import CheckFailed as Failed
from devstack.networking import clients
from devstack.smoke import retry

_POLL_S = 0.05


async def run(options: HttpInject, timeout_s: float, timings: dict[str, float]) -> str:
    deadline = time.monotonic() + timeout_s
    async with clients.http(timeout_s) as client:
        before = await _sink_recipients(client, options.sink_stats, deadline) if options.sink_stats else 0
        started = time.monotonic()
        answer = await _inject(client, options, deadline)
        timings["inject"] = time.monotonic() - started
        accepted = _check_counts(answer, options)
        if options.sink_stats is None:
            return f"{accepted} accepted"
        delivered = await _await_delivery(client, options.sink_stats, before + accepted, deadline)
        timings["delivery"] = time.monotonic() - started
    return f"{accepted} accepted, {delivered - before} delivered to the sink"


async def _inject(client: httpx.AsyncClient, options: HttpInject, deadline: float) -> dict[str, Any]:
    auth = httpx.BasicAuth(options.username, options.password or "") if options.username is not None else None
    try:
        response = await retry.until_answered(deadline, lambda: client.post(
            options.url, json=dict(options.payload), auth=auth or httpx.USE_CLIENT_DEFAULT))
    except httpx.HTTPError as err:
        raise Failed(f"an answer from {options.url}", f"no answer ({type(err).__name__}: {err})") from None
    if response.status_code != 200:
        raise Failed(f"HTTP 200 from {options.url}", f"HTTP {response.status_code}: {response.text.strip()[:200]!r}")
    try:
        answer = response.json()
    except ValueError:
        raise Failed("a JSON answer", repr(response.text[:200])) from None
    if not isinstance(answer, dict) or not {"success_count", "fail_count"} <= answer.keys():
        raise Failed("an answer with success_count and fail_count", repr(answer)[:200])
    return answer


def _check_counts(answer: dict[str, Any], options: HttpInject) -> int:
    recipients = len(options.payload.get("recipients", []))
    want_ok = recipients if options.expect_success is None else options.expect_success
    ok, failed = answer["success_count"], answer["fail_count"]
    if (ok, failed) != (want_ok, options.expect_fail):
        detail = f"success_count={ok}, fail_count={failed}"
        if answer.get("errors") or answer.get("failed_recipients"):
            detail += f" (failed: {answer.get('failed_recipients')}; errors: {answer.get('errors')})"
        raise Failed(f"success_count={want_ok}, fail_count={options.expect_fail}", detail)
    return int(ok)


async def _sink_recipients(client: httpx.AsyncClient, url: str, deadline: float) -> int:
    try:
        response = await retry.until_answered(deadline, lambda: client.get(url))
        return int(response.json()["recipients"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
        raise Failed(f"the sink's stats at {url}", f"{type(err).__name__}: {err}") from None


async def _await_delivery(client: httpx.AsyncClient, url: str, target: int, deadline: float) -> int:
    while True:
        seen = await _sink_recipients(client, url, deadline)
        if seen >= target:
            return seen
        if time.monotonic() > deadline:
            raise Failed(f"the sink to count {target} recipients", f"{seen} when the timeout ran out")
        await asyncio.sleep(_POLL_S)
