"""[[commands]]: a named one-off command of a resource (`devstack run NAME`, the dashboard's button), run on this
machine (`run`) or in the resource's container (`exec`); its output goes to the resource's log."""

from __future__ import annotations

from collections.abc import Callable

from devstack import blocking
from devstack.config.model import CommandSpec, Config
from devstack.engine import processes
from devstack.errors import UsageError
from devstack.providers.base import Provider


def find(config: Config, name: str) -> CommandSpec:
    for spec in config.commands:
        if spec.name == name:
            return spec
    known = ", ".join(spec.name for spec in config.commands) or f"{config.file.name} declares none"
    raise UsageError(f"no command named {name!r} (the commands: {known})")


async def run(spec: CommandSpec, provider: Provider, on_line: Callable[[str], None]) -> int:
    """Its exit code; every line it printed went to `on_line`."""
    if spec.run is not None:
        assert spec.workdir is not None, "config.resources gives a command to run here its workdir"
        return await processes.run(spec.run.argv, spec.workdir, {}, on_line)
    assert spec.exec is not None
    code, output = await blocking.call(provider.exec, spec.resource, spec.exec.argv)
    for line in output.splitlines():
        on_line(line)
    return code

