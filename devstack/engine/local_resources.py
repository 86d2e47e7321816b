"""[[local]] resources: commands on this machine, beside the cluster. Which run in a cycle and in what order, and
running one: its output is its log (lines behind its name), a non-zero exit fails the cycle as a build does.

A local resource that depends on resources of the deploy runs after the deploy is ready; the others run before
it, in their own `depends_on` order, so a failing check stops the cycle before anything is built. Its `serve` is
started once its command succeeded; with a `readiness` check, the resource (and so whatever depends on it) is ready
only once the check passes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Sequence
from typing import Any

import httpx

from devstack.config.model import Config, LocalResource, Readiness
from devstack.engine import processes
from devstack.errors import DevstackError
from devstack.networking import clients

_PROBE_EVERY_S = 0.2
_PROBE_TIMEOUT_S = 2.0


def names(config: Config) -> set[str]:
    return {local.name for local in config.local}


def ordered(config: Config, chosen: Collection[str]) -> tuple[list[str], list[str]]:
    """(before the deploy, after it): the chosen local resources, each after the local ones it depends on."""
    local = names(config)
    before: list[str] = []
    after: list[str] = []
    done: set[str] = set()
    pending = [spec.name for spec in config.local if spec.name in chosen]
    while pending:
        name = next((n for n in pending if all(d in done or d not in pending for d in _local_deps(config, n))),
                    pending[0])
        pending.remove(name)
        done.add(name)
        needs_deploy = any(d not in local for d in config.resource(name).depends_on)
        (after if needs_deploy else before).append(name)
    return before, after


def _local_deps(config: Config, name: str) -> list[str]:
    return [d for d in config.resource(name).depends_on if d in names(config)]


def spec(config: Config, name: str) -> LocalResource:
    return next(local for local in config.local if local.name == name)


async def run(local: LocalResource, on_line: Callable[[str], None]) -> int:
    """Its `command` to completion (0 when it has none, only a `serve`)."""
    if local.command is None:
        return 0
    return await processes.run(local.command.argv, local.workdir, local.env, on_line)


def _prefixed(on_line: Callable[[str, str], None], name: str) -> Callable[[str], None]:
    return lambda line: on_line(name, line)


async def wait_ready(local: LocalResource, serving: asyncio.Future[Any]) -> str:
    """Until the serve's readiness check passes ("" then, at once without one), the serve ends, or the check's
    timeout runs out: then why it is not ready."""
    probe = local.readiness
    if probe is None:
        return ""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + probe.timeout_s
    while problem := await check(probe):
        if serving.done():
            return f"local resource {local.name}: its serve ended before {probe.target} was ready ({problem})"
        if loop.time() >= deadline:
            return f"local resource {local.name}: {probe.target} not ready after {probe.timeout_s:.0f}s ({problem})"
        await asyncio.sleep(_PROBE_EVERY_S)
    return ""


async def check(probe: Readiness) -> str:
    """One try of the readiness check: "" when it passed, else what came instead."""
    try:
        if probe.http is not None:
            async with clients.http(_PROBE_TIMEOUT_S) as client:
                response = await client.get(probe.http)
            return "" if response.status_code < 400 else f"HTTP {response.status_code}"
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", probe.tcp), _PROBE_TIMEOUT_S)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return ""
    except (OSError, TimeoutError, httpx.HTTPError) as err:
        return str(err) or type(err).__name__


@contextlib.asynccontextmanager
async def serving(on_line: Callable[[str, str], None]) -> AsyncIterator[Callable[[LocalResource], Awaitable[str]]]:
    """`ci`: start a local resource's serve (waiting for its readiness check) with the function this gives; every
    serve started is ended when the block ends, passed or failed."""
    tasks: list[asyncio.Task[int]] = []

    async def start(local: LocalResource) -> str:
        assert local.serve is not None
        task = asyncio.create_task(processes.run(local.serve.argv, local.workdir, local.env,
                                                 _prefixed(on_line, local.name)), name=f"serve {local.name}")
        tasks.append(task)
        return await wait_ready(local, task)

    try:
        yield start
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_in_order(config: Config, chosen: Sequence[str], on_line: Callable[[str, str], None],
                       said: Callable[[str, str, bool], None], serve: Callable[[LocalResource], Awaitable[str]],
                       ) -> None:
    """`ci`: run them one after the other, each serve started (and ready) before the next; the first failure stops
    it (DevstackError naming it)."""
    for name in chosen:
        local = spec(config, name)
        code = await run(local, _prefixed(on_line, name))
        if code != 0:
            written = local.command.text if local.command else ""
            raise DevstackError(f"local resource {name}: `{written}` exited {code}")
        problem = await serve(local) if local.serve is not None else ""
        if problem:
            raise DevstackError(problem)
        said(name, "ran ✓" if local.serve is None else f"ran ✓, serving `{local.serve.text}`", True)
