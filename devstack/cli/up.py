"""`devstack up`: build, deploy and wait until the stack is ready."""

from __future__ import annotations

import time

import click

from devstack.cli import options
from devstack.cli.session import Session, pass_session
from devstack.cli.status import show
from devstack.engine.converge import run_once


@click.command("up")
@options.timeout
@pass_session
def command(session: Session, timeout: float) -> int:
    """Build the images, deploy the stack and wait until every service is ready."""
    started = time.monotonic()
    config, console = session.config, session.console
    console.info(f"devstack up · project {config.project} · provider {config.provider}")
    provider = session.provider()
    run_once(config, provider, console, timeout)
    console.info(f"ready in {time.monotonic() - started:.1f}s")
    show(console, provider.status())
    return 0
