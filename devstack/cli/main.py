"""`devstack`: the command group. Each command lives in its own module and returns an exit code."""

from __future__ import annotations

import sys

import click

from devstack import __version__
from devstack.cli import base_image, boundary, ci, down, logs, sink, smoke, status, trigger, up
from devstack.cli.session import Session


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-f", "--file", metavar="PATH", help="devstack.toml to use (default: found in . or its parents).")
@click.option("--allow-context", metavar="NAME",
              help="Use Kubernetes context NAME for this run although it is not on the allow-list of dev clusters.")
@click.version_option(__version__, prog_name="devstack")
@click.pass_context
def cli(ctx: click.Context, file: str | None, allow_context: str | None) -> None:
    """A local dev orchestrator for mail infrastructure: build, deploy, watch and smoke-test a stack."""
    ctx.obj = Session(file=file, allow_context=allow_context)


for command in (up.command, ci.command, down.command, status.command, logs.command, trigger.command,
                smoke.command, sink.command, base_image.command):
    cli.add_command(command)


def main() -> None:
    sys.exit(boundary.run(cli))
