"""`devstack`: the command group. Each command lives in its own module and returns an exit code."""

from __future__ import annotations

import signal
import sys

import click

from devstack import __version__
from devstack.cli import (
    base_image,
    boundary,
    ci,
    disable,
    down,
    global_options,
    init,
    logs,
    run,
    sink,
    smoke,
    snapshot,
    status,
    trigger,
    up,
    wait,
)
from devstack.cli.session import Session


@click.group(cls=global_options.Group, params=global_options.options(),
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="devstack")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """A local dev orchestrator for mail infrastructure: build, deploy, watch and smoke-test a stack."""
    ctx.ensure_object(Session)


for command in (up.command, ci.command, down.command, status.command, logs.command, trigger.command,
                smoke.command, snapshot.command, wait.command, run.command, disable.disable, disable.enable,
                base_image.command):
    cli.add_command(command)
cli.add_command(sink.command, with_globals=False)  # the sink parses its own flags
cli.add_command(init.command, with_globals=False)  # it writes the config: no config to name


def main() -> None:
    # Ctrl-C is KeyboardInterrupt (exit 130) even when devstack was started with SIGINT ignored, as a
    # non-interactive shell starts its background jobs: Python then installs no handler of its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(boundary.run(cli))
