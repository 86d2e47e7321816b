"""`devstack run NAME`: run one of the [[commands]] of devstack.toml (a command on this machine, or an exec in its
resource's container); its output is shown as the resource's log. Exit 0, or 1 when it failed."""

from __future__ import annotations

import asyncio

import click

from devstack.cli.session import Session, pass_session
from devstack.engine import commands
from devstack.errors import DevstackError


@click.command("run")
@click.argument("name")
@pass_session
def command(session: Session, name: str) -> int:
    """Run the command NAME of devstack.toml's [[commands]]."""
    spec = commands.find(session.config, name)
    console = session.console
    console.width = max(console.width, len(spec.resource))
    provider = session.provider()
    try:
        code = asyncio.run(commands.run(spec, provider, lambda line: console.log_line(spec.resource, line)))
    finally:
        provider.close()
    if code != 0:
        written = spec.run.text if spec.run else spec.exec.text if spec.exec else ""
        raise DevstackError(f"{name}: `{written}` exited {code}")
    return 0
