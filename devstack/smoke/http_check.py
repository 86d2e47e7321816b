"""`http`: GET a URL and expect a status and, optionally, a substring of the body."""

from __future__ import annotations

import time

import httpx

from devstack.config.smoke import Http
from devstack.errors import CheckFailed as Failed
from devstack.networking import clients
from devstack.smoke import retry


async def run(options: Http, timeout_s: float, timings: dict[str, float]) -> str:
    deadline = time.monotonic() + timeout_s
    async with clients.http(timeout_s) as client:
        try:
            response = await retry.until_answered(deadline, lambda: client.get(options.url))
        except httpx.HTTPError as err:
            got = f"no response ({type(err).__name__}: {err})"
            raise Failed(f"HTTP {options.status} from {options.url}", got) from None
    timings["response"] = response.elapsed.total_seconds()
    if response.status_code != options.status:
        raise Failed(f"HTTP {options.status} from {options.url}", f"HTTP {response.status_code}: {_excerpt(response)}")
    if options.body_contains is not None and options.body_contains not in response.text:
        raise Failed(f"the body to contain {options.body_contains!r}", _excerpt(response))
    return f"GET {options.url} → {response.status_code}"


def _excerpt(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return repr(text[:200] + ("…" if len(text) > 200 else ""))
