"""[[local]] resources: commands on this machine, beside the cluster. Which run in a cycle and in what order, and
running one: its output is its log (lines behind its name), a non-zero exit fails the cycle as a build does.

A local resource that depends on resources of the deploy runs after the deploy is ready; the others run before
it, in their own `depends_on` order, so a failing check stops the cycle before anything is built.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

from devstack.config.model import Config, LocalResource
from devstack.engine import processes
from devstack.errors import DevstackError


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


async def run_in_order(config: Config, chosen: Sequence[str], on_line: Callable[[str, str], None],
                       said: Callable[[str, str, bool], None]) -> None:
    """`ci`: run them one after the other; the first failure stops it (DevstackError naming it)."""
    for name in chosen:
        local = spec(config, name)
        code = await run(local, _prefixed(on_line, name))
        if code != 0:
            written = local.command.text if local.command else ""
            raise DevstackError(f"local resource {name}: `{written}` exited {code}")
        said(name, "ran ✓", True)
