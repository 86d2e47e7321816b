"""A smoke session: the smoke tests run against what a provider deployed, through the [[forwards]] served
meanwhile, and their results said on the console. `ci`, `smoke` and the daemon run the tests through here; the
checks themselves (devstack/smoke/) know nothing of providers, forwards or the console."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import asdict

from devstack import blocking
from devstack.config.model import SmokeSpec
from devstack.errors import SmokeFailed
from devstack.observe.console import Console
from devstack.observe.forwards import Forwards
from devstack.providers.base import Provider
from devstack.smoke.result import Result
from devstack.smoke.runner import run_all


def report(results: Sequence[Result], console: Console) -> None:
    """One line per test; on failure also what was expected and the resource's last log lines. Raises when any
    test failed, so `ci` exits 1."""
    for result in results:
        console.event("smoke", result.line(), ok=result.ok)
        for line in result.logs:
            console.output(f"  {result.name}", line)
    failed = [r.name for r in results if not r.ok]
    if failed:
        raise SmokeFailed(f"{len(failed)} of {len(results)} smoke tests failed: {', '.join(failed)}",
                          [asdict(r) for r in results])


def check(specs: Sequence[SmokeSpec], provider: Provider, console: Console, *, forward: bool = True) -> None:
    """Run and report `specs` against what `provider` deployed, through the [[forwards]] served meanwhile (the
    tests reach Kubernetes through them); `forward=False` when a running daemon serves them already. Raise
    SmokeFailed when any fails."""
    try:
        report(asyncio.run(run(specs, provider, console, forward=forward)), console)
    finally:
        provider.close()


async def run(specs: Sequence[SmokeSpec], provider: Provider, console: Console, *, forward: bool = True
              ) -> list[Result]:
    """The results of `specs`, unreported, through the [[forwards]] served meanwhile (unless `forward` is off)."""
    served = Forwards(provider.connect, console.event, provider.disconnect)
    try:
        if forward:
            await served.ensure(await blocking.call(provider.relayed))
        return await run_all(specs, provider.logs)
    finally:
        await served.close()
