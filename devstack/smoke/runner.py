"""Run smoke tests one after another, each within its own timeout, and collect one Result per test.

What a run reaches (forwards, a provider's logs) and how its results are said is the engine's smoke session
(devstack/engine/smoke_session.py): the checks know only their config and the addresses in it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from devstack import blocking
from devstack.config.model import SmokeSpec
from devstack.errors import CheckFailed as Failed
from devstack.smoke import http_check, http_inject, imap_roundtrip, mailman_flow, outbound, smtp_probe
from devstack.smoke.result import Result

_GRACE_S = 2.0
Check = Callable[[Any, float, dict[str, float]], Awaitable[str]]
Logs = Callable[[str], list[str]]  # resource → its last log lines

CHECKS: dict[str, Check] = {"http-inject": http_inject.run, "smtp": smtp_probe.run, "imap": imap_roundtrip.run,
                            "http": http_check.run, "mailman-flow": mailman_flow.run, "outbound": outbound.run}


async def run_one(spec: SmokeSpec, logs: Logs) -> Result:
    timings: dict[str, float] = {}
    started = time.monotonic()
    try:
        # The checks keep their own deadline and fail with the last thing they saw (a refused connection, the
        # status of a login); the runner's wait, a little longer, only stops one that does not.
        summary = await asyncio.wait_for(CHECKS[spec.type](spec.options, spec.timeout_s, timings),
                                         spec.timeout_s + _GRACE_S)
    except Failed as failure:
        return await _failed(spec, started, timings, failure, logs)
    except TimeoutError:
        return await _failed(spec, started, timings, Failed(f"a result within {spec.timeout_s:g}s", "a timeout"),
                             logs)
    return Result(spec.name, spec.type, True, time.monotonic() - started, summary, timings=timings)


async def run_all(specs: Sequence[SmokeSpec], logs: Logs) -> list[Result]:
    return [await run_one(spec, logs) for spec in specs]


async def _failed(spec: SmokeSpec, started: float, timings: dict[str, float], failure: Failed,
                  logs: Logs) -> Result:
    resources = failure.resources or ((spec.resource,) if spec.resource else ())
    lines: list[str] = []
    for resource in resources:
        found = await blocking.call(logs, resource)
        # With several components at fault, each line says whose it is.
        lines += [f"{resource} | {line}" for line in found] if len(resources) > 1 else found
    return Result(spec.name, spec.type, False, time.monotonic() - started, "", expected=failure.expected,
                  got=failure.got, timings=timings, logs=lines)
