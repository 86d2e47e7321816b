"""Run smoke tests one after another, each within its own timeout, and collect one Result per test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from devstack import blocking
from devstack.config.model import SmokeSpec
from devstack.errors import CheckFailed as Failed
from devstack.errors import SmokeFailed
from devstack.observe.console import Console
from devstack.observe.forwards import Forwards
from devstack.providers.base import Provider
from devstack.smoke import http_check, http_inject, imap_roundtrip, mailman_flow, smtp_probe
from devstack.smoke.result import Result

Check = Callable[[Any, float, dict[str, float]], Awaitable[str]]
Logs = Callable[[str], list[str]]  # resource → its last log lines

CHECKS: dict[str, Check] = {"http-inject": http_inject.run, "smtp": smtp_probe.run, "imap": imap_roundtrip.run,
                            "http": http_check.run, "mailman-flow": mailman_flow.run}


async def run_one(spec: SmokeSpec, logs: Logs) -> Result:
    timings: dict[str, float] = {}
    started = time.monotonic()
    try:
        summary = await asyncio.wait_for(CHECKS[spec.type](spec.options, spec.timeout_s, timings), spec.timeout_s)
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


def report(results: Sequence[Result], console: Console) -> None:
    """One line per test; on failure also what was expected and the resource's last log lines. Raises when any
    test failed, so `ci` exits 1."""
    for result in results:
        console.event("smoke", result.line(), ok=result.ok)
        for line in result.logs:
            console.output(f"  {result.name}", line)
    failed = [r.name for r in results if not r.ok]
    if failed:
        raise SmokeFailed(f"{len(failed)} of {len(results)} smoke tests failed: {', '.join(failed)}")


def check(specs: Sequence[SmokeSpec], provider: Provider, console: Console, *, forward: bool = True) -> None:
    """Run and report `specs` against what `provider` deployed, through the [[forwards]] served meanwhile (the
    tests reach Kubernetes through them); `forward=False` when a running daemon serves them already. Raise
    SmokeFailed when any fails."""

    async def forwarded() -> list[Result]:
        served = Forwards(provider.connect, console.event)
        try:
            if forward:
                await served.ensure(await blocking.call(provider.relayed))
            return await run_all(specs, provider.logs)
        finally:
            await served.close()

    try:
        report(asyncio.run(forwarded()), console)
    finally:
        provider.close()
