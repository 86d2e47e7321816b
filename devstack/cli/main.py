"""`devstack`: the command group. Each command lives in its own module and returns an exit code."""

from __future__ import annotations

import importlib
import signal
import sys

import click

from devstack import __version__
from devstack.cli import boundary, global_options
from devstack.cli.session import Session

# name → (module of devstack.cli, its attribute, whether the global options apply). A command's module is imported
# when the command runs (or when --help lists them): `ci` does not pay for the daemon and its web server, which
# would add a third of a second to every run.
COMMANDS = {
    "up": ("up", "command", True), "ci": ("ci", "command", True), "down": ("down", "command", True),
    "status": ("status", "command", True), "logs": ("logs", "command", True),
    "trigger": ("trigger", "command", True),
    "trigger-mode": ("trigger_mode", "command", True), "smoke": ("smoke", "command", True),
    "snapshot": ("snapshot", "command", True), "wait": ("wait", "command", True), "run": ("run", "command", True),
    "disable": ("disable", "disable", True), "enable": ("disable", "enable", True),
    "base-image": ("base_image", "command", True),
    "sink": ("sink", "command", False),  # the sink parses its own flags
    "init": ("init", "command", False),  # it writes the config: no config to name
}


class Commands(global_options.Group):
    """The command group, each command imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            module, attribute, with_globals = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(f"devstack.cli.{module}"), attribute)
            self.add_command(command, cmd_name, with_globals=with_globals)
        return super().get_command(ctx, cmd_name)


@click.group(cls=Commands, params=global_options.options(),
             context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="devstack")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """A local dev orchestrator for mail infrastructure: build, deploy, watch and smoke-test a stack."""
    ctx.ensure_object(Session)


def main() -> None:
    # Ctrl-C is KeyboardInterrupt (exit 130) even when devstack was started with SIGINT ignored, as a
    # non-interactive shell starts its background jobs: Python then installs no handler of its own.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.exit(boundary.run(cli))
